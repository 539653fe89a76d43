// Package secrets keeps hatoba's own secrets — provider credentials first —
// encrypted through the key service under the platform's key, so the
// database holds none in the clear and a sealed key service stops their use
// as it stops every tenant's (docs/keys.md).
package secrets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// KeyID is the platform key the secrets are encrypted under.
const KeyID = "hatoba-secrets"

// MaxValue bounds a secret.
const MaxValue = 16 << 10

// Reference is how configuration names a stored secret instead of giving
// it: "secret:provider/sim".
const Reference = "secret:"

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]{0,127}$`)

// ErrNotFound: no secret of that name.
var ErrNotFound = &fault.Error{Kind: fault.NotFound, Message: "no such secret"}

// Store reads and writes secrets.
type Store struct {
	db   *store.DB
	keys *keys.Service
	now  func() time.Time
}

// New returns a Store over db, encrypting through ks.
func New(db *store.DB, ks *keys.Service, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, keys: ks, now: now}
}

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fault.InvalidField("name", "a secret's name is 1 to 128 lower-case letters, digits, '.', '_', '/' or '-', starting with a letter or digit")
	}
	return nil
}

// Put stores value under name, replacing what was there. It needs an
// unsealed key service. The audit entry names the secret, never the value.
func (s *Store) Put(ctx context.Context, actor, name string, value []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(value) == 0 || len(value) > MaxValue {
		return fault.InvalidField("value", "a secret is 1 to %d bytes", MaxValue)
	}
	if err := s.keys.EnsurePlatformKey(ctx, KeyID); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	c, err := s.keys.Encrypt(ctx, keys.PlatformOrg, KeyID, value, []byte(name))
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	blob := append(append(append(append([]byte{}, c.Metadata...), c.IV...), c.Ciphertext...), c.Tag...)
	now := s.now().UTC()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sealed_secrets (name, ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $3)
			ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`, name, blob, now); err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, Action: "secret.put", Target: name})
	})
}

// Get decrypts the secret name. A sealed key service answers keys.ErrSealed.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	var blob []byte
	err := s.db.QueryRowContext(ctx, `SELECT ciphertext FROM sealed_secrets WHERE name = $1`, name).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	const meta, iv, tag = 5, 12, 16
	if len(blob) < meta+iv+tag {
		return nil, fmt.Errorf("secret %s: the stored value is damaged", name)
	}
	v, err := s.keys.Decrypt(ctx, keys.PlatformOrg, KeyID, keys.Ciphertext{Metadata: blob[:meta], IV: blob[meta : meta+iv],
		Ciphertext: blob[meta+iv : len(blob)-tag], Tag: blob[len(blob)-tag:]}, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return v, nil
}

// Names lists the stored secrets' names.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sealed_secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
