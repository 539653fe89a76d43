// Package mfa is hatoba's second factor: WebAuthn security keys a person
// registers once and then touches to finish signing in and to confirm
// sensitive actions (approving break-glass access, key actions), on top of
// the smart-card certificate that identifies them.
//
// A ceremony has two steps. Begin stores the challenge in the database and
// returns options for navigator.credentials.create or .get; Finish checks
// the browser's answer against it. The stored state is what lets any replica
// finish a ceremony another began, and Finish deletes it, so each is used
// once and none outlives Config.Timeout.
//
// Methods that change state take an Also callback that runs inside the same
// transaction, so the caller's audit record and the change commit together
// or not at all.
//
// The browser half is static/webauthn.js, served by ScriptHandler.
package mfa

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Config describes the relying party: the console people open.
type Config struct {
	// RPID is the host name credentials are bound to, such as
	// "console.hatoba.go.jp". Keys registered under one RPID do not work
	// under another, so changing the public URL's host means registering
	// every key again.
	RPID string
	// RPDisplayName is what the browser's prompt calls the site ("hatoba"
	// when empty).
	RPDisplayName string
	// Origins are the exact origins pages run on ("https://host[:port]").
	Origins []string
	// Timeout is how long a person has to touch their key (DefaultTimeout
	// when zero). A stored ceremony expires shortly after it.
	Timeout time.Duration
}

// DefaultTimeout is long enough to find the key and enter its PIN, short
// enough that a challenge left on an unattended screen soon goes stale.
const DefaultTimeout = 2 * time.Minute

// ceremonyGrace covers the round trip after the browser gives up at
// Timeout, so a key touched at the last moment still counts.
const ceremonyGrace = 15 * time.Second

// ConfigFor derives the relying party from the console's public URL
// (config's identity.public_url): the host becomes the RPID and the URL's
// origin the only allowed origin. WebAuthn needs a secure context, so the
// URL must be https, or http on localhost for development.
func ConfigFor(publicURL, displayName string) (Config, error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return Config{}, fault.Invalidf("public URL %q is not a URL: %v", publicURL, err)
	}
	host := u.Hostname()
	switch {
	case host == "":
		return Config{}, fault.Invalidf("public URL %q has no host name; WebAuthn binds keys to it", publicURL)
	case net.ParseIP(host) != nil:
		return Config{}, fault.Invalidf("public URL %q names an IP address; WebAuthn needs a host name", publicURL)
	case u.Scheme == "https", u.Scheme == "http" && host == "localhost":
	default:
		return Config{}, fault.Invalidf("public URL %q must start with https:// (http:// only for localhost): browsers offer WebAuthn only to secure pages", publicURL)
	}
	origin := u.Scheme + "://" + host
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		origin += ":" + p
	}
	return Config{RPID: host, RPDisplayName: displayName, Origins: []string{origin}}, nil
}

// Person is someone who registers or uses a key, identified by hatoba's
// person id. Name and DisplayName only label the key in the person's
// authenticator and browser prompts.
type Person struct {
	ID          string
	Name        string
	DisplayName string
}

// Also runs inside the transaction of a state change, after the change and
// before the commit; c is the credential as it now is (or was, for Remove).
// Returning an error undoes the change: write the audit record here so an
// action whose record cannot be written does not happen.
type Also func(tx *store.Tx, c Credential) error

// Errors a caller may want to tell apart with errors.Is. They come wrapped in
// a *fault.Error whose Message says what to do.
var (
	// ErrNoCredential: the person has no usable security key yet.
	ErrNoCredential = errors.New("no security key registered")
	// ErrNoCeremony: the ceremony is unknown, another person's, or used.
	ErrNoCeremony = errors.New("no such pending ceremony")
	// ErrCeremonyExpired: the ceremony was begun too long ago.
	ErrCeremonyExpired = errors.New("ceremony expired")
	// ErrPossibleClone: the key's signature counter did not go up, so
	// another copy of it may exist; the key is refused from then on.
	ErrPossibleClone = errors.New("possible cloned authenticator")
)

// Service registers and checks security keys.
type Service struct {
	db      *store.DB
	wa      *webauthn.WebAuthn
	rpID    string
	timeout time.Duration
	now     func() time.Time
}

// New returns a Service over db; now is the clock (time.Now when nil).
func New(db *store.DB, cfg Config, now func() time.Time) (*Service, error) {
	if db == nil {
		return nil, errors.New("mfa: no database")
	}
	if cfg.RPID == "" {
		return nil, fault.InvalidField("rp_id", "the WebAuthn relying party ID (the console's host name) is empty")
	}
	if len(cfg.Origins) == 0 {
		return nil, fault.InvalidField("origins", "no WebAuthn origin: give the console's origin, such as https://%s", cfg.RPID)
	}
	for _, o := range cfg.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fault.InvalidField("origins", "WebAuthn origin %q must be scheme://host[:port], such as https://%s", o, cfg.RPID)
		}
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = "hatoba"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	notRequired := false
	timeouts := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     append([]string(nil), cfg.Origins...),
		// Attestation statements prove a key's make only when checked
		// against the FIDO metadata service, which hatoba does not load yet.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			// A second factor beside a known person: no need to spend
			// the key's few discoverable-credential slots.
			RequireResidentKey: &notRequired,
			ResidentKey:        protocol.ResidentKeyRequirementDiscouraged,
			// The card and its PIN are the strong first factor; a key
			// without a PIN still proves possession.
			UserVerification: protocol.VerificationPreferred,
		},
		// Expiry is enforced by the stored ceremony against the injected
		// clock, not by the library against the wall clock.
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fault.Invalidf("WebAuthn configuration (rp_id %q, origins %v): %v", cfg.RPID, cfg.Origins, err)
	}
	return &Service{db: db, wa: wa, rpID: cfg.RPID, timeout: cfg.Timeout,
		now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}, nil
}

// userHandle is the stable user handle authenticators store for a person:
// a hash rather than the id itself, so a key does not carry the person's
// hatoba id to other sites' eyes, and always 32 bytes (the limit is 64).
func userHandle(personID string) []byte {
	h := sha256.Sum256([]byte("hatoba webauthn user handle v1\x00" + personID))
	return h[:]
}

// user is a Person with their stored keys, as go-webauthn wants it.
type user struct {
	p     Person
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte { return userHandle(u.p.ID) }

func (u user) WebAuthnName() string {
	if u.p.Name != "" {
		return u.p.Name
	}
	return u.p.ID
}

func (u user) WebAuthnDisplayName() string {
	if u.p.DisplayName != "" {
		return u.p.DisplayName
	}
	return u.WebAuthnName()
}

func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

var _ webauthn.User = user{}

func checkPerson(p Person) error {
	if strings.TrimSpace(p.ID) == "" {
		return fault.InvalidField("person_id", "the person id is empty")
	}
	return nil
}

// verifyFailure turns go-webauthn's verdict into an error a person can act
// on; the library's developer detail stays in the wrapped error for the log.
func verifyFailure(kind fault.Kind, what string, err error) error {
	detail := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		detail = pe.Details
	}
	return &fault.Error{Kind: kind,
		Message: fmt.Sprintf("the security key's %s could not be verified (%s); start again, and if it keeps failing use another key", what, detail),
		Err:     err}
}
