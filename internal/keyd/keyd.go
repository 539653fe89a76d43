// Package keyd connects the XKS proxy (internal/xks) to the key service
// (internal/keys): Adapter implements xks.Keys over *keys.Service, and
// Recorder writes the proxy's usage records to the audit log in batches.
// It holds no key material and no state of its own beyond the batch.
package keyd

import (
	"context"
	"errors"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// Adapter is the key service as the XKS proxy sees it.
type Adapter struct {
	keys  *keys.Service
	node  string
	model string
}

// Options configure an Adapter.
type Options struct {
	// NodeID names this key manager node in GetHealthStatus, e.g. the
	// host name; "" means "hatoba-1".
	NodeID string
	// Model is the node's model in GetHealthStatus; "" means
	// "hatoba key service".
	Model string
}

// New returns the adapter over s.
func New(s *keys.Service, opts Options) *Adapter {
	if opts.NodeID == "" {
		opts.NodeID = "hatoba-1"
	}
	if opts.Model == "" {
		opts.Model = "hatoba key service"
	}
	return &Adapter{keys: s, node: opts.NodeID, model: opts.Model}
}

var _ xks.Keys = (*Adapter)(nil)

// mapErr turns a key service error into the xks sentinel the handler
// classifies, keeping the original for the log (and a context deadline,
// which the handler answers as DependencyTimeoutException).
func mapErr(err error) error {
	var to error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keys.ErrSealed):
		to = xks.ErrUnavailable
	case errors.Is(err, keys.ErrKillSwitch):
		to = xks.ErrStoreBlocked
	case errors.Is(err, keys.ErrKeyDisabled):
		to = xks.ErrKeyDisabled
	case errors.Is(err, keys.ErrUsage):
		to = xks.ErrKeyUsage
	case errors.Is(err, keys.ErrKeyNotFound):
		to = xks.ErrKeyNotFound
	case errors.Is(err, keys.ErrInvalidCiphertext):
		to = xks.ErrInvalidCiphertext
	case errors.Is(err, keys.ErrUnknownXKSCredential):
		to = xks.ErrUnknownAccessKey
	default:
		return err
	}
	return fmt.Errorf("%w: %w", to, err)
}

// Store finds the tenant of a live XKS credential.
func (a *Adapter) Store(ctx context.Context, accessKeyID string) (xks.StoreInfo, error) {
	org, secret, killed, err := a.keys.XKSCredential(ctx, accessKeyID)
	if err != nil {
		return xks.StoreInfo{}, mapErr(err)
	}
	return xks.StoreInfo{TenantID: org, Secret: secret, Killed: killed}, nil
}

// Key describes a tenant key in the specification's terms.
func (a *Adapter) Key(ctx context.Context, tenant, externalKeyID string) (xks.KeyInfo, error) {
	k, err := a.keys.Key(ctx, tenant, externalKeyID)
	if err != nil {
		return xks.KeyInfo{}, mapErr(err)
	}
	info := xks.KeyInfo{Enabled: k.State == keys.StateEnabled}
	switch k.Usage {
	case keys.UsageEncryptDecrypt:
		info.Usage = []string{xks.UsageEncrypt, xks.UsageDecrypt}
	case keys.UsageEncryptOnly:
		info.Usage = []string{xks.UsageEncrypt}
	case keys.UsageDecryptOnly:
		info.Usage = []string{xks.UsageDecrypt}
	default: // keys.UsageNone: neither; GetKeyMetadata lists none
		info.Usage = []string{}
	}
	return info, nil
}

// Encrypt seals with the key's current version; the metadata names it.
func (a *Adapter) Encrypt(ctx context.Context, tenant, externalKeyID string, plaintext []byte, aad func(metadata []byte) []byte) (xks.Sealed, error) {
	c, err := a.keys.EncryptAAD(ctx, tenant, externalKeyID, plaintext, aad)
	if err != nil {
		return xks.Sealed{}, mapErr(err)
	}
	return xks.Sealed{Ciphertext: c.Ciphertext, IV: c.IV, Tag: c.Tag, Metadata: c.Metadata}, nil
}

// Decrypt opens s with the version its metadata names.
func (a *Adapter) Decrypt(ctx context.Context, tenant, externalKeyID string, s xks.Sealed, aad []byte) ([]byte, error) {
	out, err := a.keys.DecryptAAD(ctx, tenant, externalKeyID, keys.Ciphertext{Ciphertext: s.Ciphertext, IV: s.IV, Tag: s.Tag, Metadata: s.Metadata}, aad)
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// Health reports this node: ACTIVE while unsealed, UNAVAILABLE while
// sealed or not initialised (so AWS KMS sees the store as unhealthy
// rather than the proxy as broken). The kill switch is the handler's
// check, made before this is asked.
func (a *Adapter) Health(ctx context.Context, tenant string) ([]xks.NodeHealth, error) {
	st, err := a.keys.Status(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	status := xks.HealthActive
	if st.Sealed || !st.Initialized {
		status = xks.HealthUnavailable
	}
	model := a.model
	if st.Mode != "" {
		model += " (" + string(st.Mode) + ")"
	}
	return []xks.NodeHealth{{ID: a.node, Model: model, Status: status}}, nil
}
