package keys

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Usage is what a key may be used for.
type Usage string

const (
	UsageEncryptDecrypt Usage = "encrypt_decrypt"
	UsageEncryptOnly    Usage = "encrypt_only"
	UsageDecryptOnly    Usage = "decrypt_only"
	// UsageNone allows neither: every encrypt and decrypt is refused with
	// ErrUsage while the key stays enabled — an owner freezes a key
	// without disabling it, and AWS's test procedures for XKS proxies
	// need such a key.
	UsageNone Usage = "none"
)

// Usages are the known usages, in the order forms list them.
var Usages = []Usage{UsageEncryptDecrypt, UsageEncryptOnly, UsageDecryptOnly, UsageNone}

// Valid reports whether u is a known usage.
func (u Usage) Valid() bool {
	return u == UsageEncryptDecrypt || u == UsageEncryptOnly || u == UsageDecryptOnly || u == UsageNone
}

func (u Usage) encrypts() bool { return u == UsageEncryptDecrypt || u == UsageEncryptOnly }
func (u Usage) decrypts() bool { return u == UsageEncryptDecrypt || u == UsageDecryptOnly }

// State is whether a key may be used at all.
type State string

const (
	StateEnabled  State = "enabled"
	StateDisabled State = "disabled"
)

// Key is a tenant key's metadata; it never holds material.
type Key struct {
	OrgID       string
	ID          string // the external key id
	Description string
	Usage       Usage
	State       State
	// Version is the current version: new ciphertexts use it.
	Version int
	// Killed is the tenant's key store kill switch.
	Killed    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// KeySpec is a key to create.
type KeySpec struct {
	// ID is the external key id; empty means a generated one.
	ID          string
	Description string
	// Usage defaults to UsageEncryptDecrypt.
	Usage Usage
}

// keyIDPattern is what XKS allows in an external key id (1 to 128
// characters of A-Z a-z 0-9 - _ .), kept to what is safe in a URL path.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

const maxDescription = 256

// wrapAAD binds wrapped material to its tenant, key and version, so rows
// swapped in the database do not unwrap.
func wrapAAD(org, keyID string, version int) []byte {
	return []byte("hatoba/keys/v1\x00" + org + "\x00" + keyID + "\x00" + strconv.Itoa(version))
}

// newMaterial makes a fresh AES-256 key and returns it wrapped.
func newMaterial(mk masterKey, org, keyID string, version int) ([]byte, error) {
	raw := make([]byte, 32)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("keys: key material: %w", err)
	}
	w, err := mk.wrap(raw, wrapAAD(org, keyID, version))
	if err != nil {
		return nil, fmt.Errorf("keys: wrapping key %s version %d: %w", keyID, version, err)
	}
	return w, nil
}

func randomKeyID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("keys: key id: %w", err)
	}
	return fmt.Sprintf("hk-%x", b), nil
}

// ensureStore makes the tenant's key store if it has none. Whether the
// organisation exists is the caller's check (the API's decision point asks
// the organisation tree): the key service may keep a database of its own,
// without the organisations.
func (s *Service) ensureStore(ctx context.Context, tx *store.Tx, org string, now time.Time) error {
	if org == "" || len(org) > 128 || strings.ContainsFunc(org, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fault.InvalidField("org", "an organisation id is 1 to 128 printable characters")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO key_stores (org_id, created_at, updated_at) VALUES ($1, $2, $2)
		ON CONFLICT (org_id) DO NOTHING`, org, now); err != nil {
		return fmt.Errorf("keys: creating the key store of %s: %w", org, err)
	}
	return nil
}

// CreateKey creates a key in the tenant's key store (made on first use)
// with fresh material as version 1.
func (s *Service) CreateKey(ctx context.Context, by authz.Principal, org string, spec KeySpec) (Key, error) {
	act, err := actorOf(by)
	if err != nil {
		return Key{}, err
	}
	if org == PlatformOrg {
		return Key{}, fault.Forbiddenf("the platform's key store is hatoba's own")
	}
	return s.createKey(ctx, act, org, spec)
}

// PlatformOrg is the key store of hatoba's own secrets (internal/secrets).
// No organisation can have this id, so no tenant's key owner reaches it.
const PlatformOrg = "_platform"

// EnsurePlatformKey creates the platform's key id on first use: the key
// hatoba's own secrets are encrypted under. Nobody owns it; it is made
// by hatoba, audited as such.
func (s *Service) EnsurePlatformKey(ctx context.Context, id string) error {
	_, err := s.readKey(ctx, s.db, PlatformOrg, id)
	if err == nil || !errors.Is(err, ErrKeyNotFound) {
		return err
	}
	_, err = s.createKey(ctx, audit.Acting{Actor: "hatoba"}, PlatformOrg, KeySpec{ID: id, Description: "hatoba's own secrets"})
	if fault.KindOf(err) == fault.Conflict {
		return nil // made by another replica meanwhile
	}
	return err
}

func (s *Service) createKey(ctx context.Context, act audit.Acting, org string, spec KeySpec) (Key, error) {
	var err error
	if spec.Usage == "" {
		spec.Usage = UsageEncryptDecrypt
	}
	if !spec.Usage.Valid() {
		return Key{}, fault.InvalidField("usage", "unknown key usage %q", spec.Usage)
	}
	if len(spec.Description) > maxDescription {
		return Key{}, fault.InvalidField("description", "the description is longer than %d bytes", maxDescription)
	}
	if spec.ID == "" {
		if spec.ID, err = randomKeyID(); err != nil {
			return Key{}, err
		}
	}
	if !keyIDPattern.MatchString(spec.ID) {
		return Key{}, fault.InvalidField("id", "a key id is 1 to 128 letters, digits, '-', '_' or '.'")
	}
	mk, _, err := s.masterOrSealed()
	if err != nil {
		return Key{}, err
	}
	wrapped, err := newMaterial(mk, org, spec.ID, 1)
	if err != nil {
		return Key{}, err
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.ensureStore(ctx, tx, org, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_keys (org_id, id, description, usage, state, current_version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 1, $6, $6)`, org, spec.ID, spec.Description, string(spec.Usage), string(StateEnabled), now); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("key %s already exists", spec.ID)
			}
			return fmt.Errorf("keys: creating key %s: %w", spec.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_key_versions (org_id, key_id, version, wrapped, created_at) VALUES ($1, $2, 1, $3, $4)`,
			org, spec.ID, wrapped, now); err != nil {
			return fmt.Errorf("keys: storing key %s version 1: %w", spec.ID, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: act.Actor, GrantID: act.GrantID, Action: "key.create", OrgID: org, Target: spec.ID,
			Details: map[string]any{"usage": spec.Usage, "version": 1}})
	})
	if err != nil {
		return Key{}, err
	}
	s.log.Info("key created", "org", org, "key", spec.ID, "usage", spec.Usage)
	return s.readKey(ctx, s.db, org, spec.ID)
}

// Key returns a key's metadata. It answers ErrSealed while sealed, like
// everything a cloud may ask.
func (s *Service) Key(ctx context.Context, org, keyID string) (Key, error) {
	if _, _, err := s.masterOrSealed(); err != nil {
		return Key{}, err
	}
	return s.readKey(ctx, s.db, org, keyID)
}

// Keys lists the tenant's keys by id.
func (s *Service) Keys(ctx context.Context, org string) ([]Key, error) {
	if _, _, err := s.masterOrSealed(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, keySelect+` WHERE k.org_id = $1 ORDER BY k.id`, org)
	if err != nil {
		return nil, fmt.Errorf("keys: listing keys of %s: %w", org, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys: listing keys of %s: %w", org, err)
	}
	return out, nil
}

const keySelect = `SELECT k.org_id, k.id, k.description, k.usage, k.state, k.current_version, s.killed, k.created_at, k.updated_at
	FROM tenant_keys k JOIN key_stores s ON s.org_id = k.org_id`

type scanner interface{ Scan(...any) error }

func scanKey(r scanner) (Key, error) {
	var k Key
	var usage, state string
	if err := r.Scan(&k.OrgID, &k.ID, &k.Description, &usage, &state, &k.Version, &k.Killed, &k.CreatedAt, &k.UpdatedAt); err != nil {
		return Key{}, err
	}
	k.Usage, k.State = Usage(usage), State(state)
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	return k, nil
}

func (s *Service) readKey(ctx context.Context, q store.Querier, org, keyID string) (Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, keySelect+` WHERE k.org_id = $1 AND k.id = $2`, org, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("%w: %s", ErrKeyNotFound, keyID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("keys: reading key %s: %w", keyID, err)
	}
	return k, nil
}

// change runs one owner operation on an existing key in a transaction
// with its audit entry, and drops this replica's cached state of the key.
func (s *Service) change(ctx context.Context, by authz.Principal, org, keyID, action string,
	fn func(tx *store.Tx, k Key, now time.Time) (details map[string]any, err error)) (Key, error) {
	act, err := actorOf(by)
	if err != nil {
		return Key{}, err
	}
	if _, _, err := s.masterOrSealed(); err != nil {
		return Key{}, err
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		k, err := s.readKey(ctx, tx, org, keyID)
		if err != nil {
			return err
		}
		details, err := fn(tx, k, now)
		if err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: act.Actor, GrantID: act.GrantID, Action: action, OrgID: org, Target: keyID, Details: details})
	})
	s.invalidate(org, keyID)
	if err != nil {
		return Key{}, err
	}
	s.log.Info("key changed", "action", action, "org", org, "key", keyID)
	return s.readKey(ctx, s.db, org, keyID)
}

// SetUsage changes what the key may be used for.
func (s *Service) SetUsage(ctx context.Context, by authz.Principal, org, keyID string, u Usage) (Key, error) {
	if !u.Valid() {
		return Key{}, fault.InvalidField("usage", "unknown key usage %q", u)
	}
	return s.change(ctx, by, org, keyID, "key.set_usage", func(tx *store.Tx, k Key, now time.Time) (map[string]any, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_keys SET usage = $1, updated_at = $2 WHERE org_id = $3 AND id = $4`, string(u), now, org, keyID); err != nil {
			return nil, fmt.Errorf("keys: setting usage of %s: %w", keyID, err)
		}
		return map[string]any{"from": k.Usage, "to": u}, nil
	})
}

// Rotate gives the key a new version with fresh material; new ciphertexts
// use it, older versions still decrypt.
func (s *Service) Rotate(ctx context.Context, by authz.Principal, org, keyID string) (Key, error) {
	return s.change(ctx, by, org, keyID, "key.rotate", func(tx *store.Tx, k Key, now time.Time) (map[string]any, error) {
		mk, _, err := s.masterOrSealed()
		if err != nil {
			return nil, err
		}
		v := k.Version + 1
		wrapped, err := newMaterial(mk, org, keyID, v)
		if err != nil {
			return nil, err
		}
		// The version row's primary key makes a concurrent rotation of the
		// same version fail rather than overwrite.
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_key_versions (org_id, key_id, version, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)`,
			org, keyID, v, wrapped, now); err != nil {
			if store.IsUniqueViolation(err) {
				return nil, fault.Conflictf("key %s was rotated at the same time; try again", keyID)
			}
			return nil, fmt.Errorf("keys: storing key %s version %d: %w", keyID, v, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_keys SET current_version = $1, updated_at = $2 WHERE org_id = $3 AND id = $4`, v, now, org, keyID); err != nil {
			return nil, fmt.Errorf("keys: rotating %s: %w", keyID, err)
		}
		return map[string]any{"version": v}, nil
	})
}

// Disable makes every use of the key fail with ErrKeyDisabled.
func (s *Service) Disable(ctx context.Context, by authz.Principal, org, keyID string) (Key, error) {
	return s.setState(ctx, by, org, keyID, StateDisabled, "key.disable")
}

// Enable undoes Disable.
func (s *Service) Enable(ctx context.Context, by authz.Principal, org, keyID string) (Key, error) {
	return s.setState(ctx, by, org, keyID, StateEnabled, "key.enable")
}

func (s *Service) setState(ctx context.Context, by authz.Principal, org, keyID string, st State, action string) (Key, error) {
	return s.change(ctx, by, org, keyID, action, func(tx *store.Tx, k Key, now time.Time) (map[string]any, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE tenant_keys SET state = $1, updated_at = $2 WHERE org_id = $3 AND id = $4`, string(st), now, org, keyID); err != nil {
			return nil, fmt.Errorf("keys: %s: %w", action, err)
		}
		return map[string]any{"from": k.State, "to": st}, nil
	})
}

// Kill pulls the tenant's kill switch: every encrypt and decrypt with any
// of its keys fails with ErrKillSwitch until Revive. It works while
// sealed too — a tenant must always be able to stop its keys.
func (s *Service) Kill(ctx context.Context, by authz.Principal, org string) error {
	return s.setKilled(ctx, by, org, true)
}

// Revive turns the tenant's keys back on after Kill.
func (s *Service) Revive(ctx context.Context, by authz.Principal, org string) error {
	if _, _, err := s.masterOrSealed(); err != nil {
		return err
	}
	return s.setKilled(ctx, by, org, false)
}

func (s *Service) setKilled(ctx context.Context, by authz.Principal, org string, killed bool) error {
	act, err := actorOf(by)
	if err != nil {
		return err
	}
	action := "key.revive"
	var killedAt *time.Time
	now := s.now().UTC()
	if killed {
		action, killedAt = "key.kill", &now
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.ensureStore(ctx, tx, org, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE key_stores SET killed = $1, killed_at = $2, updated_at = $3 WHERE org_id = $4`, killed, killedAt, now, org); err != nil {
			return fmt.Errorf("keys: %s: %w", action, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: act.Actor, GrantID: act.GrantID, Action: action, OrgID: org})
	})
	// Drop the cache even when the change failed: a half-known state is
	// read again rather than trusted.
	s.invalidateOrg(org)
	s.forgetCredentials()
	if err != nil {
		return err
	}
	s.log.Warn("key store kill switch changed", "org", org, "killed", killed)
	return nil
}

// Killed reports whether the tenant's kill switch is pulled.
func (s *Service) Killed(ctx context.Context, org string) (bool, error) {
	var killed bool
	err := s.db.QueryRowContext(ctx, `SELECT killed FROM key_stores WHERE org_id = $1`, org).Scan(&killed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keys: reading the kill switch of %s: %w", org, err)
	}
	return killed, nil
}
