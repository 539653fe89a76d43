package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Ciphertext is what Encrypt returns and Decrypt takes: AES-256-GCM
// output split the way XKS carries it.
type Ciphertext struct {
	Ciphertext []byte
	IV         []byte // 12 bytes
	Tag        []byte // 16 bytes
	// Metadata names the key version (format byte 1, then the version as
	// a big-endian uint32). It is authenticated with the caller's AAD, so
	// it cannot be changed to point at another version.
	Metadata []byte
	// Version is the key version Metadata names, for convenience.
	Version int
}

const (
	metadataFormat = 1
	metadataLen    = 5
	ivLen          = 12
	tagLen         = 16
	// MaxPlaintext bounds what Encrypt takes: the service wraps data keys
	// and small secrets (XKS allows 4,300 bytes), not bulk data.
	MaxPlaintext = 64 << 10
	// MaxAAD bounds the additional authenticated data.
	MaxAAD = 8 << 10
	// maxFullAAD bounds the GCM additional data EncryptAAD and DecryptAAD
	// take whole: the caller's AAD, the metadata and the caller's framing
	// (XKS adds 3 length bytes, so an 8,192-byte XKS AAD is 8,200 bytes).
	maxFullAAD = MaxAAD + 64
)

func metadataOf(version int) []byte {
	m := make([]byte, metadataLen)
	m[0] = metadataFormat
	binary.BigEndian.PutUint32(m[1:], uint32(version))
	return m
}

// gcmAAD is what GCM authenticates: the metadata, then the caller's AAD.
// The metadata has a fixed length, so the concatenation is unambiguous.
func gcmAAD(meta, aad []byte) []byte {
	out := make([]byte, 0, len(meta)+len(aad))
	return append(append(out, meta...), aad...)
}

// Encrypt encrypts plaintext with the key's current version; the GCM
// additional data is the metadata followed by aad.
func (s *Service) Encrypt(ctx context.Context, org, keyID string, plaintext, aad []byte) (Ciphertext, error) {
	if len(aad) > MaxAAD {
		return Ciphertext{}, fmt.Errorf("%w: the AAD is longer than %d bytes", ErrInvalidInput, MaxAAD)
	}
	return s.EncryptAAD(ctx, org, keyID, plaintext, func(meta []byte) []byte { return gcmAAD(meta, aad) })
}

// EncryptAAD is Encrypt for a caller that builds the GCM additional data
// itself from the metadata (the XKS proxy, whose specification fixes how
// the metadata enters the AAD). aad must include the metadata.
func (s *Service) EncryptAAD(ctx context.Context, org, keyID string, plaintext []byte, aad func(metadata []byte) []byte) (Ciphertext, error) {
	if len(plaintext) > MaxPlaintext {
		return Ciphertext{}, fmt.Errorf("%w: the plaintext is longer than %d bytes", ErrInvalidInput, MaxPlaintext)
	}
	ck, err := s.usable(ctx, org, keyID)
	if err != nil {
		return Ciphertext{}, err
	}
	if !ck.st.usage.encrypts() {
		return Ciphertext{}, fmt.Errorf("%w: key %s is %s", ErrUsage, keyID, ck.st.usage)
	}
	v := ck.st.version
	g, err := s.aeadFor(ctx, org, keyID, ck, v)
	if err != nil {
		return Ciphertext{}, err
	}
	iv := make([]byte, ivLen)
	if _, err := rand.Read(iv); err != nil {
		return Ciphertext{}, fmt.Errorf("keys: iv: %w", err)
	}
	meta := metadataOf(v)
	full := aad(meta)
	if len(full) > maxFullAAD {
		return Ciphertext{}, fmt.Errorf("%w: the AAD is longer than %d bytes", ErrInvalidInput, MaxAAD)
	}
	out := g.Seal(make([]byte, 0, len(plaintext)+tagLen), iv, plaintext, full)
	n := len(out) - tagLen
	return Ciphertext{Ciphertext: out[:n:n], IV: iv, Tag: out[n:], Metadata: meta, Version: v}, nil
}

// Decrypt decrypts c with the key version its metadata names. Any
// mismatch — ciphertext, IV, tag, metadata, AAD or key — is
// ErrInvalidCiphertext.
func (s *Service) Decrypt(ctx context.Context, org, keyID string, c Ciphertext, aad []byte) ([]byte, error) {
	if len(aad) > MaxAAD {
		return nil, ErrInvalidCiphertext
	}
	return s.DecryptAAD(ctx, org, keyID, c, gcmAAD(c.Metadata, aad))
}

// DecryptAAD is Decrypt with the GCM additional data given whole, as
// EncryptAAD's callback built it from c.Metadata.
func (s *Service) DecryptAAD(ctx context.Context, org, keyID string, c Ciphertext, aad []byte) ([]byte, error) {
	ck, err := s.usable(ctx, org, keyID)
	if err != nil {
		return nil, err
	}
	if !ck.st.usage.decrypts() {
		return nil, fmt.Errorf("%w: key %s is %s", ErrUsage, keyID, ck.st.usage)
	}
	if len(c.Metadata) != metadataLen || c.Metadata[0] != metadataFormat || len(c.IV) != ivLen || len(c.Tag) != tagLen ||
		len(c.Ciphertext) > MaxPlaintext || len(aad) > maxFullAAD {
		return nil, ErrInvalidCiphertext
	}
	v := int(binary.BigEndian.Uint32(c.Metadata[1:]))
	if v < 1 || v > ck.st.version {
		return nil, ErrInvalidCiphertext
	}
	g, err := s.aeadFor(ctx, org, keyID, ck, v)
	if err != nil {
		return nil, err
	}
	sealed := make([]byte, 0, len(c.Ciphertext)+tagLen)
	sealed = append(append(sealed, c.Ciphertext...), c.Tag...)
	out, err := g.Open(sealed[:0], c.IV, sealed, aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return out, nil
}

// DataKey is a fresh data key: its plaintext, for the caller to use and
// forget, and the same key encrypted under the tenant key, to store.
type DataKey struct {
	Plaintext []byte
	Encrypted Ciphertext
}

// GenerateDataKey makes a random data key of size bytes (16, 24 or 32)
// and encrypts it with the key, as Encrypt would.
func (s *Service) GenerateDataKey(ctx context.Context, org, keyID string, size int, aad []byte) (DataKey, error) {
	if size != 16 && size != 24 && size != 32 {
		return DataKey{}, fmt.Errorf("%w: a data key is 16, 24 or 32 bytes", ErrInvalidInput)
	}
	dk := make([]byte, size)
	if _, err := rand.Read(dk); err != nil {
		return DataKey{}, fmt.Errorf("keys: data key: %w", err)
	}
	c, err := s.Encrypt(ctx, org, keyID, dk, aad)
	if err != nil {
		clear(dk)
		return DataKey{}, err
	}
	return DataKey{Plaintext: dk, Encrypted: c}, nil
}

// usable returns the key's cached state, refreshing it when older than
// the TTL or dropped by a change, and refuses a sealed service, a killed
// store, a disabled key.
func (s *Service) usable(ctx context.Context, org, keyID string) (*cachedKey, error) {
	ref := keyRef{org, keyID}
	s.mu.RLock()
	sealed, epoch, ck := s.master == nil, s.epoch, s.cache[ref]
	s.mu.RUnlock()
	if sealed {
		return nil, ErrSealed
	}
	mustRead := ck == nil || ck.stale.Load() || s.ttl < 0
	var age time.Duration
	if !mustRead {
		age = s.now().Sub(ck.checked)
		mustRead = age >= s.ttl
	}
	switch {
	case mustRead:
		// Concurrent requests for the key share one read (flight).
		fresh, err := s.refreshState(ctx, ref, epoch, ck)
		if err != nil {
			return nil, err
		}
		ck = fresh
	case age >= s.ttl-s.ttl/4 && ck.refreshing.CompareAndSwap(false, true):
		// Refresh ahead: in the last quarter of the TTL one request starts
		// the read in the background and every request goes on with the
		// state still valid, so no request waits for the database at the
		// moment the TTL runs out.
		go func() { _, _ = s.refreshState(context.Background(), ref, epoch, ck) }() //nolint:gosec // G118: the refresh outlives the request on purpose; the next requests use it
	}
	switch {
	case ck.st.killed:
		return nil, fmt.Errorf("%w: %s", ErrKillSwitch, org)
	case ck.st.state != StateEnabled:
		return nil, fmt.Errorf("%w: %s", ErrKeyDisabled, keyID)
	}
	return ck, nil
}

// refreshState reads a key's state into the cache; concurrent callers at
// the same generation share the read. ck is the entry being replaced (its
// unwrapped versions carry over), or nil.
func (s *Service) refreshState(ctx context.Context, ref keyRef, epoch uint64, ck *cachedKey) (*cachedKey, error) {
	gen := s.gen.Load()
	return s.stateFlight.do(ref, gen, func() (*cachedKey, error) {
		// The read outlives a caller that gives up: others wait for it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		st, err := s.readState(rctx, ref.org, ref.id)
		if err != nil {
			return nil, err
		}
		fresh := &cachedKey{st: st, checked: s.now(), aeads: &sync.Map{}}
		if ck != nil {
			fresh.aeads = ck.aeads
		}
		// A change that commits while the state is being read must not be
		// hidden by it: such a read is used once but stored as stale.
		if s.gen.Load() != gen {
			fresh.stale.Store(true)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.epoch != epoch {
			return nil, ErrSealed
		}
		s.cache[ref] = fresh
		return fresh, nil
	})
}

func (s *Service) readState(ctx context.Context, org, keyID string) (keyState, error) {
	var st keyState
	var usage, state string
	err := s.db.QueryRowContext(ctx, `SELECT k.usage, k.state, k.current_version, s.killed
		FROM tenant_keys k JOIN key_stores s ON s.org_id = k.org_id WHERE k.org_id = $1 AND k.id = $2`, org, keyID).
		Scan(&usage, &state, &st.version, &st.killed)
	if errors.Is(err, sql.ErrNoRows) {
		return keyState{}, fmt.Errorf("%w: %s", ErrKeyNotFound, keyID)
	}
	if err != nil {
		return keyState{}, fmt.Errorf("keys: reading the state of key %s: %w", keyID, err)
	}
	st.usage, st.state = Usage(usage), State(state)
	return st, nil
}

// aeadFor returns the AEAD of a key version, unwrapping it on first use.
func (s *Service) aeadFor(ctx context.Context, org, keyID string, ck *cachedKey, v int) (cipher.AEAD, error) {
	if g, ok := ck.aeads.Load(v); ok {
		return g.(cipher.AEAD), nil
	}
	mk, epoch, err := s.masterOrSealed()
	if err != nil {
		return nil, err
	}
	var wrapped []byte
	err = s.db.QueryRowContext(ctx, `SELECT wrapped FROM tenant_key_versions WHERE org_id = $1 AND key_id = $2 AND version = $3`, org, keyID, v).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		// The metadata named a version this key never had.
		return nil, ErrInvalidCiphertext
	}
	if err != nil {
		return nil, fmt.Errorf("keys: reading key %s version %d: %w", keyID, v, err)
	}
	raw, err := s.unwrapStored(ctx, mk, wrapped, wrapAAD(org, keyID, v), fmt.Sprintf("key %s/%s version %d", org, keyID, v))
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	b, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s version %d: %w", keyID, v, err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s version %d: %w", keyID, v, err)
	}
	s.mu.RLock()
	same := s.epoch == epoch
	s.mu.RUnlock()
	if !same {
		return nil, ErrSealed
	}
	ck.aeads.Store(v, g)
	return g, nil
}

// invalidate drops this replica's cached state of a key (its material
// stays: it never changes).
func (s *Service) invalidate(org, keyID string) {
	s.gen.Add(1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ck := s.cache[keyRef{org, keyID}]; ck != nil {
		ck.stale.Store(true)
	}
}

// invalidateOrg drops the cached state of every key of a tenant.
func (s *Service) invalidateOrg(org string) {
	s.gen.Add(1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for ref, ck := range s.cache {
		if ref.org == org {
			ck.stale.Store(true)
		}
	}
}

// ErrStoredMaterial: stored key material or a stored secret does not
// authenticate under a master key that itself works — the database was
// changed behind the service's back, or a defect wrote it wrong.
var ErrStoredMaterial = &fault.Error{Kind: fault.Internal, Message: "stored key material does not unwrap with the master key"}

// unwrapStored unwraps material read from the database and names the cause
// of a failure truthfully. Only a failed authentication tag can mean the
// storage was changed, and only if the master key still works: an HSM out
// of sessions or memory may fail a decrypt the same way (SoftHSM2 reports a
// failed tag as CKR_GENERAL_ERROR), so the master key's self-test round
// trip decides between "the stored data is wrong" and "the master key's
// side is failing". An I/O or resource error is reported as what it is.
func (s *Service) unwrapStored(ctx context.Context, mk masterKey, blob, aad []byte, what string) ([]byte, error) {
	raw, err := mk.unwrap(blob, aad)
	if err == nil {
		return raw, nil
	}
	if !errors.Is(err, ErrInvalidCiphertext) {
		return nil, fmt.Errorf("keys: unwrapping %s: %w", what, err)
	}
	if terr := s.selfTest(mk); terr != nil {
		return nil, fmt.Errorf("keys: unwrapping %s failed, and so does the master key's self-test, so the master key's side "+
			"(the HSM, its sessions) is failing rather than the stored data: %w", what, terr)
	}
	// Tried once more: a transient token failure that the self-test
	// happened to miss must not be called tampering either.
	if raw, err := mk.unwrap(blob, aad); err == nil {
		s.log.Warn("stored material unwrapped only on the second attempt", "what", what)
		return raw, nil
	}
	s.log.Error("stored material does not unwrap with a working master key", "what", what)
	return nil, fmt.Errorf("%w: %s (the database was changed outside the key service, or written wrongly)", ErrStoredMaterial, what)
}
