// Package xkstest is an in-memory xks.Keys doing real AES-256-GCM, for the
// XKS proxy's tests and benchmark until the key service plugs in. It is a
// reference for the key service's behaviour, not a place to keep keys.
package xkstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// Keys holds stores, their credentials and their keys.
type Keys struct {
	mu      sync.RWMutex
	access  map[string]access // access key id → store
	killed  map[string]bool   // tenant → kill switch
	keys    map[string]*key   // tenant + "/" + id
	sealed  bool
	nodes   []xks.NodeHealth
	healthy error
}

type access struct{ tenant, secret string }

type key struct {
	usage    []string
	enabled  bool
	versions []cipher.AEAD // version n is versions[n-1]
}

// New returns an empty key service.
func New() *Keys {
	return &Keys{
		access: map[string]access{}, killed: map[string]bool{}, keys: map[string]*key{},
		nodes: []xks.NodeHealth{{ID: "mem-1", Model: "xkstest in-memory AES-256-GCM", Status: xks.HealthActive}},
	}
}

// AddCredential lets accessKeyID sign for tenant's store with secret; a store
// may have several (rotation).
func (k *Keys) AddCredential(tenant, accessKeyID, secret string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.access[accessKeyID] = access{tenant, secret}
}

// AddKey creates an enabled key with fresh random material.
func (k *Keys) AddKey(tenant, id string, usage ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[tenant+"/"+id] = &key{usage: usage, enabled: true, versions: []cipher.AEAD{newAEAD()}}
}

// Rotate adds a new version of a key's material; older ciphertext still
// decrypts because its metadata names its version.
func (k *Keys) Rotate(tenant, id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kk := k.keys[tenant+"/"+id]
	kk.versions = append(kk.versions, newAEAD())
}

// SetEnabled enables or disables a key.
func (k *Keys) SetEnabled(tenant, id string, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[tenant+"/"+id].enabled = on
}

// Kill sets a tenant's kill switch.
func (k *Keys) Kill(tenant string, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed[tenant] = on
}

// Seal makes every key operation answer xks.ErrUnavailable.
func (k *Keys) Seal(on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sealed = on
}

func newAEAD() cipher.AEAD {
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		panic(fmt.Sprintf("xkstest: random: %v", err)) // crypto/rand does not fail on supported systems
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// Store implements xks.Keys.
func (k *Keys) Store(_ context.Context, accessKeyID string) (xks.StoreInfo, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	a, ok := k.access[accessKeyID]
	if !ok {
		return xks.StoreInfo{}, xks.ErrUnknownAccessKey
	}
	return xks.StoreInfo{TenantID: a.tenant, Secret: a.secret, Killed: k.killed[a.tenant]}, nil
}

func (k *Keys) lookup(tenant, id, usage string) (*key, error) {
	if k.sealed {
		return nil, xks.ErrUnavailable
	}
	if k.killed[tenant] {
		return nil, xks.ErrStoreBlocked
	}
	kk, ok := k.keys[tenant+"/"+id]
	if !ok {
		return nil, fmt.Errorf("key %q: %w", id, xks.ErrKeyNotFound)
	}
	if usage == "" {
		return kk, nil
	}
	if !kk.enabled {
		return nil, fmt.Errorf("key %q: %w", id, xks.ErrKeyDisabled)
	}
	for _, u := range kk.usage {
		if u == usage {
			return kk, nil
		}
	}
	return nil, fmt.Errorf("key %q may not %s: %w", id, usage, xks.ErrKeyUsage)
}

// Key implements xks.Keys.
func (k *Keys) Key(_ context.Context, tenant, id string) (xks.KeyInfo, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kk, err := k.lookup(tenant, id, "")
	if err != nil {
		return xks.KeyInfo{}, err
	}
	return xks.KeyInfo{Usage: append([]string(nil), kk.usage...), Enabled: kk.enabled}, nil
}

// metadata names the key version: "v" and 4 bytes big-endian.
func metadata(version int) []byte {
	return binary.BigEndian.AppendUint32([]byte("v"), uint32(version))
}

// Encrypt implements xks.Keys.
func (k *Keys) Encrypt(_ context.Context, tenant, id string, plaintext []byte, aad func([]byte) []byte) (xks.Sealed, error) {
	k.mu.RLock()
	kk, err := k.lookup(tenant, id, xks.UsageEncrypt)
	var aead cipher.AEAD
	var version int
	if err == nil {
		version = len(kk.versions)
		aead = kk.versions[version-1]
	}
	k.mu.RUnlock()
	if err != nil {
		return xks.Sealed{}, err
	}
	md := metadata(version)
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return xks.Sealed{}, fmt.Errorf("nonce: %w", err)
	}
	out := aead.Seal(nil, iv, plaintext, aad(md))
	n := len(plaintext)
	return xks.Sealed{Ciphertext: out[:n], Tag: out[n:], IV: iv, Metadata: md}, nil
}

// Decrypt implements xks.Keys.
func (k *Keys) Decrypt(_ context.Context, tenant, id string, s xks.Sealed, aad []byte) ([]byte, error) {
	k.mu.RLock()
	kk, err := k.lookup(tenant, id, xks.UsageDecrypt)
	var versions []cipher.AEAD
	if err == nil {
		versions = kk.versions
	}
	k.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if len(s.Metadata) != 5 || s.Metadata[0] != 'v' || len(s.IV) != 12 {
		return nil, xks.ErrInvalidCiphertext
	}
	v := binary.BigEndian.Uint32(s.Metadata[1:])
	if v < 1 || int(v) > len(versions) {
		return nil, xks.ErrInvalidCiphertext
	}
	in := append(append(make([]byte, 0, len(s.Ciphertext)+len(s.Tag)), s.Ciphertext...), s.Tag...)
	pt, err := versions[v-1].Open(nil, s.IV, in, aad)
	if err != nil {
		return nil, xks.ErrInvalidCiphertext
	}
	return pt, nil
}

// SetHealth replaces what Health reports; err non-nil makes it fail.
func (k *Keys) SetHealth(nodes []xks.NodeHealth, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nodes, k.healthy = nodes, err
}

// Health implements xks.Keys.
func (k *Keys) Health(_ context.Context, tenant string) ([]xks.NodeHealth, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.healthy != nil {
		return nil, k.healthy
	}
	if k.sealed {
		return nil, xks.ErrUnavailable
	}
	return append([]xks.NodeHealth(nil), k.nodes...), nil
}

var _ xks.Keys = (*Keys)(nil)
