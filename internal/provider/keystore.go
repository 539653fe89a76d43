package provider

import "context"

// ExternalKeyStoreSpec is a key store in the cloud whose keys live in
// hatoba's key service: the cloud asks hatoba's XKS proxy to encrypt and
// decrypt under them, so switching the tenant's keys off in hatoba makes
// them unusable in the cloud.
type ExternalKeyStoreSpec struct {
	// Name is unique per connection; hatoba derives it ("hatoba-<org id>")
	// so that a repeated call finds the store again.
	Name string
	// ProxyURL is "https://host[:port]" of hatoba's XKS proxy.
	ProxyURL string
	// ProxyPath is where the proxy serves, e.g. "/xks/kms/xks/v1" (the XKS
	// handler's Path(); a trailing slash is ignored).
	ProxyPath string
	// AccessKeyID and Secret are the tenant's XKS credential, with which
	// the cloud signs its requests to the proxy.
	AccessKeyID, Secret string
}

// ExternalKeyStore is a connected external key store.
type ExternalKeyStore struct {
	ID, Name string
	State    string // the provider's connection state, e.g. "CONNECTED"
}

// ExternalKey is a cloud key backed by a key of hatoba's key service.
type ExternalKey struct {
	ID            string // the provider's key id
	ARN           string // its full name, e.g. an AWS key ARN
	ExternalKeyID string // the key service's key id
}

// ExternalKeys is the optional capability of a driver whose cloud can keep
// keys outside itself. Find it with a type assertion.
type ExternalKeys interface {
	// EnsureExternalKeyStore creates the store if no store of that name
	// exists, else updates its proxy address and credential, and connects
	// it; it is idempotent. It returns once the store is connected, or an
	// error whose Code is the provider's connection error code (e.g.
	// INVALID_CREDENTIALS).
	EnsureExternalKeyStore(ctx context.Context, spec ExternalKeyStoreSpec) (ExternalKeyStore, error)
	// CreateExternalKey creates a cloud key in the store backed by the key
	// service's key externalKeyID, tagged with tags (e.g.
	// hatoba:environment). It is NOT idempotent: a second key for the same
	// external key is refused with the provider's code (AWS:
	// XksKeyAlreadyInUseException), so callers record the key they got.
	CreateExternalKey(ctx context.Context, storeID, externalKeyID, description string, tags map[string]string) (ExternalKey, error)
}
