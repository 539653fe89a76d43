package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Mode is how the master key is kept.
type Mode string

const (
	ModeSplit Mode = "split" // Shamir shares held by custodians
	ModeHSM   Mode = "hsm"   // a non-extractable key in an HSM
)

// Status is the service's custody state; it holds no secret.
type Status struct {
	Initialized bool
	Mode        Mode
	Sealed      bool
	// Split mode: shares made, shares needed, shares submitted so far.
	Shares, Threshold, Submitted int
}

// Progress is where an unseal stands after a share.
type Progress struct {
	Submitted, Threshold int
	Sealed               bool
}

// custody is the key_custody row.
type custody struct {
	mode              Mode
	shares, threshold int
	keysetID          []byte
	hsmKeyLabel       string
	check             []byte
}

func (s *Service) custody(ctx context.Context) (*custody, error) {
	var c custody
	var mode string
	err := s.db.QueryRowContext(ctx, `SELECT mode, shares, threshold, keyset_id, hsm_key_label, check_value FROM key_custody WHERE id = 1`).
		Scan(&mode, &c.shares, &c.threshold, &c.keysetID, &c.hsmKeyLabel, &c.check)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, fmt.Errorf("keys: reading custody: %w", err)
	}
	c.mode = Mode(mode)
	return &c, nil
}

// Status reports whether the service is initialised and sealed.
func (s *Service) Status(ctx context.Context) (Status, error) {
	c, err := s.custody(ctx)
	if errors.Is(err, ErrNotInitialized) {
		return Status{Sealed: true}, nil
	}
	if err != nil {
		return Status{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Status{Initialized: true, Mode: c.mode, Sealed: s.master == nil,
		Shares: c.shares, Threshold: c.threshold, Submitted: len(s.pending)}, nil
}

// Share formats. A share as given to a custodian is text:
//
//	hatoba-share-1-<hex of: keyset id (8) | x (1) | y (32) | checksum (4)>
//
// The keyset id refuses a share of another initialisation before it is
// combined; the checksum (SHA-256 of what precedes it, truncated) catches a
// mistyped share and names it, instead of a mismatch after K shares. Neither
// says anything about the master key.
const (
	sharePrefix  = "hatoba-share-1-"
	keysetIDLen  = 8
	shareBodyLen = keysetIDLen + 1 + 32
	shareLen     = shareBodyLen + 4
)

func encodeShare(keyset []byte, sh shamirShare) string {
	b := make([]byte, 0, shareLen)
	b = append(b, keyset...)
	b = append(b, sh.x)
	b = append(b, sh.y...)
	sum := sha256.Sum256(b)
	b = append(b, sum[:4]...)
	return sharePrefix + hex.EncodeToString(b)
}

func decodeShare(text string, keyset []byte) (shamirShare, error) {
	text = strings.TrimSpace(text)
	h, ok := strings.CutPrefix(text, sharePrefix)
	if !ok {
		return shamirShare{}, fmt.Errorf("%w: it does not begin %q", ErrInvalidShare, sharePrefix)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != shareLen {
		return shamirShare{}, fmt.Errorf("%w: it is not %d hexadecimal bytes", ErrInvalidShare, shareLen)
	}
	sum := sha256.Sum256(b[:shareBodyLen])
	if subtle.ConstantTimeCompare(sum[:4], b[shareBodyLen:]) != 1 {
		return shamirShare{}, fmt.Errorf("%w: its checksum fails (mistyped?)", ErrInvalidShare)
	}
	if !bytes.Equal(b[:keysetIDLen], keyset) {
		return shamirShare{}, fmt.Errorf("%w: it belongs to another initialisation of the key service", ErrInvalidShare)
	}
	if b[keysetIDLen] == 0 {
		return shamirShare{}, fmt.Errorf("%w: share number 0", ErrInvalidShare)
	}
	return shamirShare{x: b[keysetIDLen], y: bytes.Clone(b[keysetIDLen+1 : shareBodyLen])}, nil
}

// InitSplit initialises the service in split mode: it makes a random
// 256-bit master key, stores only its check value, and returns it cut into
// shares, any threshold of which unseal. The shares are returned once and
// never stored; hand each to its custodian. The service is left sealed.
func (s *Service) InitSplit(ctx context.Context, by authz.Principal, shares, threshold int) ([]string, error) {
	if by.PersonID == "" {
		return nil, fault.Unauthenticatedf("keys: no acting person")
	}
	if threshold < 2 || shares < threshold || shares > 255 {
		return nil, fault.Invalidf("keys: need 2 <= threshold (%d) <= shares (%d) <= 255", threshold, shares)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("keys: master key: %w", err)
	}
	defer clear(raw)
	mk, err := newSoftKey(raw)
	if err != nil {
		return nil, err
	}
	check, err := mk.wrap(checkConstant, checkAAD)
	if err != nil {
		return nil, err
	}
	parts, err := shamirSplit(raw, shares, threshold)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	keyset := make([]byte, keysetIDLen)
	if _, err := rand.Read(keyset); err != nil {
		return nil, fmt.Errorf("keys: keyset id: %w", err)
	}
	if err := s.insertCustody(ctx, by, custody{mode: ModeSplit, shares: shares, threshold: threshold, keysetID: keyset, check: check}); err != nil {
		return nil, err
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = encodeShare(keyset, p)
		clear(p.y)
	}
	s.log.Info("key service initialised", "mode", ModeSplit, "shares", shares, "threshold", threshold)
	return out, nil
}

func (s *Service) insertCustody(ctx context.Context, by authz.Principal, c custody) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_custody`).Scan(&n); err != nil {
			return fmt.Errorf("keys: reading custody: %w", err)
		}
		if n > 0 {
			return ErrAlreadyInitialized
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_custody (id, mode, shares, threshold, keyset_id, hsm_key_label, check_value, created_at)
			VALUES (1, $1, $2, $3, $4, $5, $6, $7)`, string(c.mode), c.shares, c.threshold, c.keysetID, c.hsmKeyLabel, c.check, s.now().UTC()); err != nil {
			if store.IsUniqueViolation(err) {
				return ErrAlreadyInitialized
			}
			return fmt.Errorf("keys: storing custody: %w", err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: by.PersonID, Action: "key.init",
			Details: map[string]any{"mode": c.mode, "shares": c.shares, "threshold": c.threshold, "hsm_key_label": c.hsmKeyLabel}})
	})
}

// SubmitShare adds a custodian's share towards unsealing. When the
// threshold is reached the shares are combined and checked: the service
// unseals, or every submitted share is forgotten and ErrSharesMismatch
// says to start again. A share already given, malformed or of another
// initialisation is refused with ErrInvalidShare and changes nothing. The
// unseal is audited as act, the custodian; without one the share is
// refused (audit.ErrNoActor) before it counts.
func (s *Service) SubmitShare(ctx context.Context, act audit.Acting, share string) (Progress, error) {
	if err := act.Check(); err != nil {
		return Progress{}, fmt.Errorf("keys: unseal: %w", err)
	}
	c, err := s.custody(ctx)
	if err != nil {
		return Progress{}, err
	}
	if c.mode != ModeSplit {
		return Progress{}, fault.Conflictf("keys: the master key is kept in an HSM; there are no shares")
	}
	sh, err := decodeShare(share, c.keysetID)
	if err != nil {
		return Progress{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master != nil {
		return Progress{Threshold: c.threshold}, nil
	}
	for _, p := range s.pending {
		if p.x == sh.x {
			return Progress{Submitted: len(s.pending), Threshold: c.threshold, Sealed: true},
				fmt.Errorf("%w: share %d was already submitted", ErrInvalidShare, sh.x)
		}
	}
	s.pending = append(s.pending, sh)
	if len(s.pending) < c.threshold {
		s.log.Info("key service unseal share accepted", "submitted", len(s.pending), "threshold", c.threshold)
		return Progress{Submitted: len(s.pending), Threshold: c.threshold, Sealed: true}, nil
	}
	raw, err := shamirCombine(s.pending)
	s.forgetPending()
	if err != nil {
		return Progress{Threshold: c.threshold, Sealed: true}, fmt.Errorf("%w: %w", ErrInvalidShare, err)
	}
	mk, err := newSoftKey(raw)
	if err != nil {
		clear(raw)
		return Progress{Threshold: c.threshold, Sealed: true}, err
	}
	if got, err := mk.unwrap(c.check, checkAAD); err != nil || !bytes.Equal(got, checkConstant) {
		_ = mk.close()
		s.log.Warn("key service unseal refused: the shares do not match")
		return Progress{Threshold: c.threshold, Sealed: true}, ErrSharesMismatch
	}
	if err := audit.Append(ctx, s.db, audit.Entry{At: s.now(), Actor: act.Actor, GrantID: act.GrantID, Action: "key.unseal",
		Details: map[string]any{"mode": ModeSplit}}); err != nil {
		// Audit fails closed: an unseal nobody can see does not happen.
		_ = mk.close()
		return Progress{Threshold: c.threshold, Sealed: true}, fmt.Errorf("keys: unseal not recorded: %w", err)
	}
	s.setMasterLocked(mk)
	s.log.Info("key service unsealed", "mode", ModeSplit)
	return Progress{Submitted: c.threshold, Threshold: c.threshold}, nil
}

func (s *Service) forgetPending() {
	for _, p := range s.pending {
		clear(p.y)
	}
	s.pending = nil
}

// setMasterLocked installs mk; s.mu is held.
func (s *Service) setMasterLocked(mk masterKey) {
	s.master = mk
	s.epoch++
	s.cache = map[keyRef]*cachedKey{}
	s.forgetCredentials()
}

// Seal seals the service at once: the master key, every unwrapped tenant
// key and any submitted shares are forgotten, and everything but Status,
// SubmitShare, UnsealHSM and Kill answers ErrSealed until unsealed again.
// Sealing always happens — it is the safe direction, so not even a defect
// stops it; the error reports only a failure to record it (a principal
// without a person id is one: audit.ErrNoActor, never recorded as
// another's) or to log out of the HSM.
func (s *Service) Seal(ctx context.Context, by authz.Principal) error {
	s.mu.Lock()
	mk := s.master
	s.master = nil
	s.epoch++
	s.cache = map[keyRef]*cachedKey{}
	s.forgetCredentials()
	s.forgetPending()
	s.mu.Unlock()
	var errs []error
	if mk != nil {
		if err := mk.close(); err != nil {
			errs = append(errs, fmt.Errorf("keys: closing the master key: %w", err))
		}
	}
	s.log.Info("key service sealed")
	if err := audit.Append(ctx, s.db, audit.Entry{At: s.now(), Actor: by.PersonID, Action: "key.seal"}); err != nil {
		errs = append(errs, fmt.Errorf("keys: sealed, but the seal was not recorded: %w", err))
	}
	return errors.Join(errs...)
}

// masterOrSealed returns the master key and the epoch, or ErrSealed.
func (s *Service) masterOrSealed() (masterKey, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.master == nil {
		return nil, 0, ErrSealed
	}
	return s.master, s.epoch, nil
}

// HSMConfig reaches the HSM that holds the master key.
type HSMConfig struct {
	ModulePath string // the PKCS#11 module
	TokenLabel string
	// PIN is the token's user PIN; it is used to log in and not kept.
	PIN string
	// KeyLabel is the master key's CKA_LABEL.
	KeyLabel string
}

// String leaves the PIN out, so a logged or printed HSMConfig shows none.
func (c HSMConfig) String() string {
	return fmt.Sprintf("HSM{module %s, token %s, key %s}", c.ModulePath, c.TokenLabel, c.KeyLabel)
}

// SelfTest wraps and unwraps a probe with the master key: in HSM mode a
// round trip through the token, so a removed token or a dead session shows
// here before a cloud's request finds it. It answers ErrSealed while sealed.
func (s *Service) SelfTest(context.Context) error {
	mk, _, err := s.masterOrSealed()
	if err != nil {
		return err
	}
	return s.selfTest(mk)
}

func (s *Service) selfTest(mk masterKey) error {
	probe := []byte("hatoba key service self-test")
	blob, err := mk.wrap(probe, checkAAD)
	if err != nil {
		return fmt.Errorf("keys: self-test: %w", err)
	}
	got, err := mk.unwrap(blob, checkAAD)
	if err != nil {
		return fmt.Errorf("keys: self-test: %w", err)
	}
	if string(got) != string(probe) {
		return errors.New("keys: self-test: the master key returned something else")
	}
	return nil
}
