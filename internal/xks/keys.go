package xks

import (
	"context"
	"errors"
)

// Keys is what the XKS proxy needs from the key service. Key material never
// crosses it: the proxy hands plaintext and the spec's AAD in and gets the
// AES-256-GCM output back, so the key service is the only holder of key
// bytes (and the only place that can be sealed).
//
// Errors are classified with errors.Is against the sentinels below; anything
// else is answered as an InternalException (and a context deadline as a
// DependencyTimeoutException).
type Keys interface {
	// Store returns the logical key store (one per tenant) that owns a SigV4
	// access key id, or ErrUnknownAccessKey. A store may have several access
	// keys at once so that credentials can be rotated without downtime.
	Store(ctx context.Context, accessKeyID string) (StoreInfo, error)

	// Key describes an external key of the tenant's store: ErrKeyNotFound if
	// there is none.
	Key(ctx context.Context, tenant, externalKeyID string) (KeyInfo, error)

	// Encrypt seals plaintext with AES-256-GCM under the key's current
	// material. The key service chooses the ciphertext metadata (at most
	// MaxCiphertextMetadata bytes, e.g. which key version was used) and MUST
	// use aad(metadata) as the GCM additional data, so that the metadata is
	// authenticated the way the specification requires. It answers
	// ErrKeyNotFound, ErrKeyDisabled, ErrKeyUsage (not an encrypt key),
	// ErrStoreBlocked or ErrUnavailable when it cannot.
	Encrypt(ctx context.Context, tenant, externalKeyID string, plaintext []byte, aad func(metadata []byte) []byte) (Sealed, error)

	// Decrypt opens s, whose metadata selects the key material, with aad
	// (already built from the caller's AAD and s.Metadata) as the GCM
	// additional data. A failed authentication is ErrInvalidCiphertext.
	Decrypt(ctx context.Context, tenant, externalKeyID string, s Sealed, aad []byte) ([]byte, error)

	// Health runs (or returns a cached result no older than a minute of) a
	// deep check of the key service for the tenant's store: a test key
	// encrypts and decrypts. It reports one entry per key manager node.
	Health(ctx context.Context, tenant string) ([]NodeHealth, error)
}

// StoreInfo is a tenant's logical key store as the proxy sees it.
type StoreInfo struct {
	TenantID string
	// Secret is the SigV4 secret access key for the access key id asked for.
	Secret string
	// Killed is the tenant's kill switch: every request is refused with
	// InvalidStateException, so AWS KMS can no longer use any of its keys.
	Killed bool
}

// Usage values a key may allow; the wire names of the specification.
const (
	UsageEncrypt = "ENCRYPT"
	UsageDecrypt = "DECRYPT"
)

// KeyInfo describes one external key.
type KeyInfo struct {
	// Usage lists what the key may do: UsageEncrypt, UsageDecrypt, both or
	// neither (at most ten values are reported).
	Usage []string
	// Enabled is false for a key its owner has disabled.
	Enabled bool
}

// Sealed is the output of AES-GCM encryption, split as the wire carries it.
type Sealed struct {
	Ciphertext []byte
	IV         []byte // 12 bytes (16 is accepted on decrypt)
	Tag        []byte // 16 bytes
	Metadata   []byte // at most MaxCiphertextMetadata bytes, may be empty
}

// Health statuses of one key manager node.
const (
	HealthActive      = "ACTIVE"
	HealthDegraded    = "DEGRADED"
	HealthUnavailable = "UNAVAILABLE"
)

// NodeHealth is one entry of ekmFleetDetails.
type NodeHealth struct {
	ID     string
	Model  string
	Status string // HealthActive, HealthDegraded or HealthUnavailable
}

// The classified failures a Keys implementation returns (wrapped with %w).
var (
	ErrUnknownAccessKey  = errors.New("xks: unknown access key id")
	ErrKeyNotFound       = errors.New("xks: external key not found")
	ErrKeyDisabled       = errors.New("xks: external key disabled")
	ErrKeyUsage          = errors.New("xks: key does not allow this operation")
	ErrStoreBlocked      = errors.New("xks: key store blocked by its kill switch")
	ErrUnavailable       = errors.New("xks: key service unavailable (sealed)")
	ErrInvalidCiphertext = errors.New("xks: ciphertext failed authentication")
)
