//go:build cgo

package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// hsmKey is a master key inside an HSM: a non-extractable AES-256 key used
// through CKM_AES_GCM. The key never enters this process.
type hsmKey struct {
	ctx  *crypto11.Context
	key  *crypto11.SecretKey
	aead interface {
		NonceSize() int
		Seal(dst, nonce, plaintext, aad []byte) []byte
		Open(dst, nonce, ciphertext, aad []byte) ([]byte, error)
	}
}

func openHSM(cfg HSMConfig) (*crypto11.Context, error) {
	if cfg.ModulePath == "" || cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return nil, fault.Invalidf("keys: the HSM needs a module path, a token label and a key label")
	}
	if cfg.PIN == "" {
		return nil, fault.Invalidf("keys: the HSM needs its PIN")
	}
	if _, err := os.Stat(cfg.ModulePath); err != nil {
		return nil, fault.Invalidf("keys: no PKCS#11 module at %s", cfg.ModulePath)
	}
	c11 := &crypto11.Config{Path: cfg.ModulePath, TokenLabel: cfg.TokenLabel, Pin: cfg.PIN,
		// A 96-bit IV is GCM's native size (NIST SP 800-38D); crypto11
		// defaults to 16 bytes.
		GCMIVLength: ivLen}
	c, err := crypto11.Configure(c11)
	// crypto11 keeps its config but needs the PIN only to log in.
	c11.Pin = ""
	if err != nil {
		// The PIN is not in crypto11's errors; the message may still name
		// the module and token, which are not secret.
		return nil, fmt.Errorf("keys: opening the HSM token %s: %w", cfg.TokenLabel, err)
	}
	return c, nil
}

func newHSMKey(c *crypto11.Context, k *crypto11.SecretKey) (*hsmKey, error) {
	g, err := k.NewGCM()
	if err != nil {
		return nil, fmt.Errorf("keys: the HSM key cannot do AES-GCM: %w", err)
	}
	return &hsmKey{ctx: c, key: k, aead: g}, nil
}

func (k *hsmKey) wrap(plaintext, aad []byte) (out []byte, err error) {
	nonce := make([]byte, ivLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	// crypto11's Seal panics when the token fails (cipher.AEAD has no
	// error return); turn that back into an error.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("keys: HSM encrypt failed: %v", r)
		}
	}()
	return k.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (k *hsmKey) unwrap(blob, aad []byte) ([]byte, error) {
	if len(blob) < ivLen+tagLen {
		return nil, ErrInvalidCiphertext
	}
	out, err := k.aead.Open(nil, blob[:ivLen], blob[ivLen:], aad)
	if err != nil {
		if badTag(err) {
			return nil, ErrInvalidCiphertext
		}
		return nil, fmt.Errorf("keys: HSM decrypt failed: %w", err)
	}
	return out, nil
}

// badTag reports whether a C_Decrypt failure means the ciphertext did not
// authenticate. PKCS#11 says CKR_ENCRYPTED_DATA_INVALID, but SoftHSM2
// reports a failed GCM tag as CKR_GENERAL_ERROR; crypto11 formats the
// pkcs11.Error into its message (%v), so only the text is left to match.
// A general error from the decrypt call itself is taken as a bad tag: the
// session and key were usable a moment before, at C_DecryptInit.
func badTag(err error) bool {
	msg := err.Error()
	if !strings.HasPrefix(msg, "C_Decrypt:") {
		return false
	}
	for _, rv := range []pkcs11.Error{pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR} {
		if strings.Contains(msg, rv.Error()) {
			return true
		}
	}
	return false
}

func (k *hsmKey) close() error {
	return k.ctx.Close()
}

// InitHSM initialises the service in HSM mode: it generates a
// non-extractable, sensitive AES-256 key labelled cfg.KeyLabel on the
// token, stores its check value, and leaves the service unsealed. A key
// with that label already on the token is refused, not reused: reusing an
// unknown key would make its other holders part of this custody.
func (s *Service) InitHSM(ctx context.Context, by authz.Principal, cfg HSMConfig) error {
	if by.PersonID == "" {
		return fault.Unauthenticatedf("keys: no acting person")
	}
	if _, err := s.custody(ctx); !errors.Is(err, ErrNotInitialized) {
		if err == nil {
			return ErrAlreadyInitialized
		}
		return err
	}
	c, err := openHSM(cfg)
	if err != nil {
		return err
	}
	fail := func(err error) error { _ = c.Close(); return err }
	// FindKeys, not FindKey: crypto11's FindKey reports a missing key as
	// an error.
	if existing, err := c.FindKeys(nil, []byte(cfg.KeyLabel)); err != nil {
		return fail(fmt.Errorf("keys: looking for key %q on the HSM: %w", cfg.KeyLabel, err))
	} else if len(existing) > 0 {
		return fail(fault.Conflictf("keys: the HSM already holds a key labelled %q; choose another label", cfg.KeyLabel))
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fail(fmt.Errorf("keys: key id: %w", err))
	}
	// GenerateSecretKeyWithLabel makes a token object, CKA_SENSITIVE true
	// and CKA_EXTRACTABLE false: it can never be read out of the HSM.
	sk, err := c.GenerateSecretKeyWithLabel(id, []byte(cfg.KeyLabel), 256, crypto11.CipherAES)
	if err != nil {
		return fail(fmt.Errorf("keys: generating the master key on the HSM: %w", err))
	}
	mk, err := newHSMKey(c, sk)
	if err != nil {
		return fail(err)
	}
	check, err := mk.wrap(checkConstant, checkAAD)
	if err != nil {
		return fail(err)
	}
	keyset := make([]byte, keysetIDLen)
	if _, err := rand.Read(keyset); err != nil {
		return fail(fmt.Errorf("keys: keyset id: %w", err))
	}
	if err := s.insertCustody(ctx, by, custody{mode: ModeHSM, keysetID: keyset, hsmKeyLabel: cfg.KeyLabel, check: check}); err != nil {
		_ = sk.Delete()
		return fail(err)
	}
	s.mu.Lock()
	old := s.master
	s.setMasterLocked(mk)
	s.mu.Unlock()
	if old != nil {
		_ = old.close()
	}
	s.log.Info("key service initialised", "mode", ModeHSM, "token", cfg.TokenLabel, "key_label", cfg.KeyLabel)
	return nil
}

// UnsealHSM logs in to the HSM, finds the master key and checks it against
// the stored check value. The unseal is audited as act (audit.ErrNoActor
// without one, before the HSM is reached).
func (s *Service) UnsealHSM(ctx context.Context, act audit.Acting, cfg HSMConfig) error {
	if err := act.Check(); err != nil {
		return fmt.Errorf("keys: unseal: %w", err)
	}
	cu, err := s.custody(ctx)
	if err != nil {
		return err
	}
	if cu.mode != ModeHSM {
		return fault.Conflictf("keys: the master key is split into shares; submit them instead")
	}
	if cfg.KeyLabel == "" {
		cfg.KeyLabel = cu.hsmKeyLabel
	}
	if cfg.KeyLabel != cu.hsmKeyLabel {
		return fault.Invalidf("keys: the master key is labelled %q on the HSM, not %q", cu.hsmKeyLabel, cfg.KeyLabel)
	}
	s.mu.RLock()
	unsealed := s.master != nil
	s.mu.RUnlock()
	if unsealed {
		return nil
	}
	c, err := openHSM(cfg)
	if err != nil {
		return err
	}
	fail := func(err error) error { _ = c.Close(); return err }
	found, err := c.FindKeys(nil, []byte(cfg.KeyLabel))
	if err != nil {
		return fail(fmt.Errorf("keys: looking for the master key on the HSM: %w", err))
	}
	switch len(found) {
	case 0:
		return fail(fault.NotFoundf("keys: the HSM holds no key labelled %q", cfg.KeyLabel))
	case 1:
	default:
		return fail(fault.Conflictf("keys: the HSM holds %d keys labelled %q; which one is the master key is ambiguous", len(found), cfg.KeyLabel))
	}
	sk := found[0]
	mk, err := newHSMKey(c, sk)
	if err != nil {
		return fail(err)
	}
	if got, err := mk.unwrap(cu.check, checkAAD); err != nil || string(got) != string(checkConstant) {
		if err != nil && !errors.Is(err, ErrInvalidCiphertext) {
			return fail(err)
		}
		return fail(fault.Invalidf("keys: the HSM key labelled %q is not the master key this service was initialised with", cfg.KeyLabel))
	}
	if err := audit.Append(ctx, s.db, audit.Entry{At: s.now(), Actor: act.Actor, GrantID: act.GrantID, Action: "key.unseal",
		Details: map[string]any{"mode": ModeHSM}}); err != nil {
		return fail(fmt.Errorf("keys: unseal not recorded: %w", err))
	}
	s.mu.Lock()
	if s.master != nil {
		s.mu.Unlock()
		return fail(nil)
	}
	s.setMasterLocked(mk)
	s.mu.Unlock()
	s.log.Info("key service unsealed", "mode", ModeHSM, "token", cfg.TokenLabel)
	return nil
}
