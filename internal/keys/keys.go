// Package keys is hatoba's key service: it holds tenants' keys itself
// (hold-your-own-key) so that clouds ask it to encrypt and decrypt data keys
// and the keys never leave domestic custody.
//
// The hierarchy follows Vault's barrier: a master key, never stored, wraps
// every tenant key version (AES-256-GCM); the database holds only wrapped
// material and is treated as untrusted. The master key is kept in one of
// two ways, chosen once at initialisation (docs/keys.md):
//
//   - split: a random 256-bit key cut into N Shamir shares for custodians;
//     the service starts sealed and serves nothing until K of them are
//     submitted (SubmitShare). A check value in the database refuses a
//     combination of wrong shares.
//   - hsm: a non-extractable AES-256 key inside an HSM, reached through
//     PKCS#11 (crypto11); UnsealHSM logs in to the token.
//
// While unsealed, tenant key versions are unwrapped once and kept in memory
// as cipher.AEAD values, so Encrypt and Decrypt cost microseconds; the
// state that can refuse them (the key's state and usage, the store's kill
// switch) is read from the database at most once per StateTTL per key and
// dropped at once when this process changes it. Seal forgets everything.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// DefaultStateTTL is how long a replica trusts its cached view of a key's
// state and its store's kill switch. The replica that makes a change drops
// its cache at once; other replicas see it within this time. One second
// keeps the hot path free of database round trips (a PostgreSQL query
// costs a few hundred microseconds, more than the encryption itself) while
// a pulled kill switch still stops every replica almost at once.
const DefaultStateTTL = time.Second

// Options configure a Service.
type Options struct {
	// Logger receives operational messages (ids only, never material);
	// nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StateTTL bounds how stale a cached key state may be; 0 means
	// DefaultStateTTL, a negative value reads the state on every call.
	StateTTL time.Duration
}

// Service is the key service. Its methods are safe for concurrent use.
type Service struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time
	ttl time.Duration

	mu sync.RWMutex
	// master is nil while sealed.
	master masterKey
	// epoch changes with every seal and unseal, so a cache fill that began
	// before a seal is not kept after it.
	epoch uint64
	// pending are the shares submitted towards the next unseal.
	pending []shamirShare
	cache   map[keyRef]*cachedKey
	// gen counts changes this replica made to key states (see usable).
	gen atomic.Uint64
	// creds caches XKSCredential's answers by access key id; credGen
	// counts the changes that drop them.
	creds   sync.Map
	credGen atomic.Uint64
	// stateFlight and credFlight share concurrent refreshes (flight.go).
	stateFlight flight[keyRef, *cachedKey]
	credFlight  flight[string, *cachedCredential]
}

// readTimeout bounds a read that concurrent requests share.
const readTimeout = 5 * time.Second

// New returns a sealed service over db.
func New(db *store.DB, opts Options) *Service {
	s := &Service{db: db, log: opts.Logger, now: opts.Now, ttl: opts.StateTTL, cache: map[keyRef]*cachedKey{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = DefaultStateTTL
	}
	return s
}

// masterKey wraps and unwraps tenant key material: in memory (split mode)
// or inside an HSM.
type masterKey interface {
	// wrap seals plaintext with a fresh nonce; the result is
	// nonce || ciphertext || tag.
	wrap(plaintext, aad []byte) ([]byte, error)
	// unwrap opens what wrap made; a failed tag is ErrInvalidCiphertext.
	unwrap(blob, aad []byte) ([]byte, error)
	// close forgets the key (zeroes it, or logs out of the HSM).
	close() error
}

// softKey is a master key held in memory (split mode).
type softKey struct {
	raw  []byte
	aead cipher.AEAD
}

func newSoftKey(raw []byte) (*softKey, error) {
	b, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: master key: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keys: master key: %w", err)
	}
	return &softKey{raw: raw, aead: g}, nil
}

func (k *softKey) wrap(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (k *softKey) unwrap(blob, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(blob) < n+k.aead.Overhead() {
		return nil, ErrInvalidCiphertext
	}
	out, err := k.aead.Open(nil, blob[:n], blob[n:], aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return out, nil
}

// close zeroes the raw key. The AES key schedule inside aead cannot be
// zeroed from outside crypto/aes; dropping every reference to it is the
// most Go allows (docs/keys.md says so).
func (k *softKey) close() error {
	clear(k.raw)
	k.aead = nil
	return nil
}

// checkConstant is what the check value seals: a master key that opens it
// is the one Init made.
var (
	checkConstant = []byte("hatoba key service master key check v1")
	checkAAD      = []byte("hatoba/keys/check")
)

// actorOf checks the acting principal of an owner operation: tenants own
// their keys, so central staff are refused here as a second line behind
// authz (even a break-glass grant does not reach a tenant's keys), and so
// is a tenant administrator who is not a key owner.
func actorOf(by authz.Principal) (audit.Acting, error) {
	if by.PersonID == "" {
		return audit.Acting{}, fault.Unauthenticatedf("keys: no acting person")
	}
	if by.Role.Central() {
		return audit.Acting{}, fault.Forbiddenf("a %s may not change a tenant's keys: keys belong to their tenant", by.Role)
	}
	if !by.KeyOwner {
		return audit.Acting{}, fault.Forbiddenf("only the organisation's key owner may change its keys")
	}
	return audit.Acting{Actor: by.PersonID}, nil
}

// keyRef names a tenant's key.
type keyRef struct{ org, id string }

// keyState is what can refuse an operation, as last read.
type keyState struct {
	usage   Usage
	state   State
	version int
	killed  bool
}

// cachedKey is a key's state as read at checked, and its unwrapped
// versions (shared between refreshes of the state: material never
// changes).
type cachedKey struct {
	st      keyState
	checked time.Time
	stale   atomic.Bool
	// refreshing is set once a refresh ahead of the TTL has started.
	refreshing atomic.Bool
	aeads      *sync.Map // int version → cipher.AEAD
}
