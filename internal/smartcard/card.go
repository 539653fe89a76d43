//go:build cgo

package smartcard

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// Card is an open token with the login key found. Its methods are safe for
// concurrent use; Close ends them.
type Card struct {
	ctx     *crypto11.Context
	key     crypto11.Signer
	cert    *x509.Certificate
	certErr error
	claim   string

	mu     sync.Mutex
	closed bool
}

// open records the tokens open in this process. PKCS#11 login state
// belongs to the application, not the session: while one Context is
// logged in to a token, a second login with a wrong PIN reports
// CKR_USER_ALREADY_LOGGED_IN, which crypto11 takes as success. Refusing a
// second Open keeps "wrong PIN" meaning wrong PIN.
var open = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// Open loads the module, logs in to the token with the PIN and finds the
// key and, next to it (same CKA_ID, else the key's label), its
// certificate. Close the Card when done: crypto11 shares one module
// instance per process and finalises it with the last Close.
func Open(o Options) (*Card, error) {
	if o.ModulePath == "" {
		return nil, fmt.Errorf("%w: no PKCS#11 module path", ErrInvalidOptions)
	}
	if (o.TokenLabel == "") == (o.SlotNumber == nil) {
		return nil, fmt.Errorf("%w: set exactly one of the token label and the slot number", ErrInvalidOptions)
	}
	if o.PIN == "" {
		// PIN-pad readers (a protected authentication path) would take
		// an empty PIN; hatoba does not support them yet.
		return nil, fmt.Errorf("%w: no PIN given; the card needs its PIN", ErrInvalidOptions)
	}
	if _, err := os.Stat(o.ModulePath); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModuleNotFound, err)
	}
	claim := o.ModulePath + "\x00label:" + o.TokenLabel
	if o.SlotNumber != nil {
		claim = fmt.Sprintf("%s\x00slot:%d", o.ModulePath, *o.SlotNumber)
	}
	open.Lock()
	if open.m[claim] {
		open.Unlock()
		return nil, ErrInUse
	}
	open.m[claim] = true
	open.Unlock()

	c, err := openClaimed(o)
	if err != nil {
		release(claim)
		return nil, err
	}
	c.claim = claim
	return c, nil
}

func release(claim string) {
	open.Lock()
	delete(open.m, claim)
	open.Unlock()
}

func openClaimed(o Options) (*Card, error) {
	cfg := &crypto11.Config{
		Path:       o.ModulePath,
		TokenLabel: o.TokenLabel,
		SlotNumber: o.SlotNumber,
		Pin:        o.PIN,
		// One session for the login, one for signing: a card allows few.
		MaxSessions: 2,
	}
	ctx, err := crypto11.Configure(cfg)
	// crypto11 keeps cfg, but needs the PIN only to log in.
	cfg.Pin = ""
	if err != nil {
		return nil, openError(err)
	}
	c := &Card{ctx: ctx}
	if err := c.findKey(o); err != nil {
		_ = ctx.Close()
		return nil, err
	}
	c.cert, c.certErr = c.findCertificate(o)
	return c, nil
}

// openError explains why crypto11.Configure failed.
func openError(err error) error {
	if e, ok := errors.AsType[pkcs11.Error](err); ok {
		switch e {
		case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
			return fmt.Errorf("%w (%w)", ErrWrongPIN, err)
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("%w (%w)", ErrPINLocked, err)
		case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID:
			return fmt.Errorf("%w (%w)", ErrTokenNotFound, err)
		case pkcs11.CKR_DEVICE_REMOVED:
			return fmt.Errorf("%w (%w)", ErrCardRemoved, err)
		}
	}
	// crypto11 reports a missing token with an unexported error; its
	// text is pinned by TestOpenErrors.
	if strings.Contains(err.Error(), "could not find PKCS#11 token") {
		return fmt.Errorf("%w (%w)", ErrTokenNotFound, err)
	}
	if strings.Contains(err.Error(), "failed to open module") {
		return fmt.Errorf("%w (%w)", ErrModuleNotFound, err)
	}
	return fmt.Errorf("smartcard: opening the token: %w", err)
}

func (c *Card) findKey(o Options) error {
	var keys []crypto11.Signer
	var err error
	if len(o.KeyID) == 0 && o.KeyLabel == "" {
		keys, err = c.ctx.FindAllKeyPairs()
	} else {
		var label []byte
		if o.KeyLabel != "" {
			label = []byte(o.KeyLabel)
		}
		keys, err = c.ctx.FindKeyPairs(o.KeyID, label)
	}
	if err != nil {
		return fmt.Errorf("smartcard: looking for the key: %w", err)
	}
	switch len(keys) {
	case 0:
		return fmt.Errorf("%w (label %q, id %x)", ErrKeyNotFound, o.KeyLabel, o.KeyID)
	case 1:
		c.key = keys[0]
		return nil
	}
	var labels []string
	for _, k := range keys {
		if a, err := c.ctx.GetAttribute(k, crypto11.CkaLabel); err == nil && a != nil {
			labels = append(labels, fmt.Sprintf("%q", a.Value))
		}
	}
	return fmt.Errorf("%w (labels %s)", ErrAmbiguousKey, strings.Join(labels, ", "))
}

// findCertificate finds the certificate stored next to the key: by the
// key's CKA_ID, the PKCS#11 convention, else by the key label given. It
// must hold the key's public key.
func (c *Card) findCertificate(o Options) (*x509.Certificate, error) {
	var cert *x509.Certificate
	if a, err := c.ctx.GetAttribute(c.key, crypto11.CkaId); err == nil && a != nil && len(a.Value) > 0 {
		if cert, err = c.ctx.FindCertificate(a.Value, nil, nil); err != nil {
			return nil, fmt.Errorf("smartcard: looking for the certificate: %w", err)
		}
	}
	if cert == nil && o.KeyLabel != "" {
		var err error
		if cert, err = c.ctx.FindCertificate(nil, []byte(o.KeyLabel), nil); err != nil {
			return nil, fmt.Errorf("smartcard: looking for the certificate: %w", err)
		}
	}
	if cert == nil {
		return nil, ErrNoCertificate
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.key.Public()) {
		return nil, fmt.Errorf("%w (the certificate found holds another public key)", ErrNoCertificate)
	}
	return cert, nil
}

// Certificate is the certificate of the login key, to send to the server
// with the signature.
func (c *Card) Certificate() (*x509.Certificate, error) {
	if c.certErr != nil {
		return nil, c.certErr
	}
	return c.cert, nil
}

// Sign makes the login signature over the server's challenge for
// audience (pki.LoginAudience of the server's URL); see pki.LoginMessage
// for the scheme. When the certificate is known, the signature is checked
// against it before it is returned, so a card whose key and certificate
// do not match fails here, with a clear error, rather than at the server.
func (c *Card) Sign(audience string, challenge []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	sig, err := pki.SignLogin(c.key, audience, challenge)
	if err != nil {
		return nil, signError(err)
	}
	if c.cert != nil {
		if err := pki.VerifyLoginSignature(c.cert, audience, challenge, sig); err != nil {
			return nil, fmt.Errorf("smartcard: the card's signature does not verify with its certificate: %w", err)
		}
	}
	return sig, nil
}

// SignAction signs a card-signed action statement (pki.ActionStatement's
// bytes; see docs/keys.md). Like Sign, it checks the signature against
// the card's certificate before returning it.
func (c *Card) SignAction(statement []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	sig, err := pki.SignAction(c.key, statement)
	if err != nil {
		return nil, signError(err)
	}
	if c.cert != nil {
		if err := pki.VerifyActionSignature(c.cert, statement, sig); err != nil {
			return nil, fmt.Errorf("smartcard: the card's signature does not verify with its certificate: %w", err)
		}
	}
	return sig, nil
}

// signError explains why the card did not sign.
func signError(err error) error {
	if e, ok := errors.AsType[pkcs11.Error](err); ok {
		switch e {
		case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SESSION_HANDLE_INVALID:
			return fmt.Errorf("%w (%w)", ErrCardRemoved, err)
		case pkcs11.CKR_USER_NOT_LOGGED_IN:
			return fmt.Errorf("smartcard: the card asked for the PIN again; open it again: %w", err)
		}
	}
	return fmt.Errorf("smartcard: signing: %w", err)
}

// Close logs out and releases the token. It is safe to call twice.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	defer release(c.claim)
	if err := c.ctx.Close(); err != nil {
		return fmt.Errorf("smartcard: closing: %w", err)
	}
	return nil
}
