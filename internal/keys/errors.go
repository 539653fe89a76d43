package keys

import "github.com/hatoba-cloud/hatoba/internal/fault"

// Sentinel errors the XKS layer and the encryption API map to their own
// answers; each carries a fault kind for the JSON API's one mapping. Match
// them with errors.Is.
var (
	// ErrSealed: the master key is not in memory; nothing is served.
	ErrSealed = &fault.Error{Kind: fault.Unavailable, Message: "the key service is sealed"}
	// ErrNotInitialized: there is no master key yet (Init first).
	ErrNotInitialized = &fault.Error{Kind: fault.Conflict, Message: "the key service is not initialised"}
	// ErrAlreadyInitialized: Init was done before.
	ErrAlreadyInitialized = &fault.Error{Kind: fault.Conflict, Message: "the key service is already initialised"}
	// ErrKeyNotFound: no such key in the tenant's store (or no such tenant).
	ErrKeyNotFound = &fault.Error{Kind: fault.NotFound, Message: "no such key"}
	// ErrKeyDisabled: the key exists but its owner disabled it.
	ErrKeyDisabled = &fault.Error{Kind: fault.Conflict, Message: "the key is disabled"}
	// ErrKillSwitch: the tenant pulled its key store's kill switch.
	ErrKillSwitch = &fault.Error{Kind: fault.Forbidden, Message: "the tenant's key store kill switch is pulled"}
	// ErrInvalidCiphertext: the ciphertext, IV, tag, metadata or AAD do not
	// authenticate under the key.
	ErrInvalidCiphertext = &fault.Error{Kind: fault.Invalid, Message: "invalid ciphertext"}
	// ErrUsage: the key's usage does not allow the operation.
	ErrUsage = &fault.Error{Kind: fault.Invalid, Message: "the key's usage does not allow this operation"}
	// ErrInvalidShare: a share is malformed, of another initialisation, or
	// given twice.
	ErrInvalidShare = &fault.Error{Kind: fault.Invalid, Message: "invalid share"}
	// ErrSharesMismatch: K well-formed shares combined into a key that
	// fails the check value: at least one of them is wrong.
	ErrSharesMismatch = &fault.Error{Kind: fault.Invalid, Message: "the shares do not match: they combine into a key that fails the check value; start again with correct shares"}
	// ErrNoCgo: HSM mode needs cgo (PKCS#11 modules are C libraries).
	ErrNoCgo = &fault.Error{Kind: fault.Unavailable, Message: "HSM mode needs a binary built with cgo"}
)

// ErrInvalidInput: a plaintext, AAD or size outside what the service takes.
var ErrInvalidInput = &fault.Error{Kind: fault.Invalid, Message: "invalid input"}
