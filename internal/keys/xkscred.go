package keys

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// XKS credentials are the SigV4 access keys AWS KMS signs with when it
// calls the XKS proxy for a tenant's external key store (docs/keys.md,
// docs/xks.md). A store holds at most MaxXKSCredentials live ones, so a
// credential can be rotated: create the new one, update the custom key
// store in AWS, revoke the old one.

// MaxXKSCredentials is how many live credentials a key store may hold.
const MaxXKSCredentials = 2

// ErrUnknownXKSCredential: no live credential has this access key id.
var ErrUnknownXKSCredential = &fault.Error{Kind: fault.NotFound, Message: "no such XKS credential"}

const (
	// accessKeyPrefix starts every access key id; with 14 base32
	// characters (70 random bits) it makes AWS's 20-character shape, all
	// in the A-Z 2-7 the XKS specification allows.
	accessKeyPrefix = "HATOBA"
	accessKeyLen    = 20
	secretBytes     = 32
)

// XKSCredentialInfo describes a credential; it never holds the secret.
type XKSCredentialInfo struct {
	AccessKeyID string
	OrgID       string
	CreatedBy   string
	CreatedAt   time.Time
	// RevokedAt is nil for a live credential.
	RevokedAt *time.Time
}

// xksCredentialAAD binds a wrapped secret to its tenant and access key id.
func xksCredentialAAD(org, accessKeyID string) []byte {
	return []byte("hatoba/keys/xks-credential/v1\x00" + org + "\x00" + accessKeyID)
}

func newAccessKeyID() (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("keys: access key id: %w", err)
	}
	id := accessKeyPrefix + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	return id[:accessKeyLen], nil
}

// CreateXKSCredential makes a new credential for the tenant's key store
// (made on first use) and returns its access key id and secret. The
// secret is shown only here: it is stored wrapped by the master key, so
// this needs an unsealed service. A store that already has
// MaxXKSCredentials live credentials is a conflict: revoke one first.
func (s *Service) CreateXKSCredential(ctx context.Context, by authz.Principal, org string) (accessKeyID, secret string, err error) {
	act, err := actorOf(by)
	if err != nil {
		return "", "", err
	}
	mk, _, err := s.masterOrSealed()
	if err != nil {
		return "", "", err
	}
	if accessKeyID, err = newAccessKeyID(); err != nil {
		return "", "", err
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("keys: XKS secret: %w", err)
	}
	secret = base64.StdEncoding.EncodeToString(raw)
	clear(raw)
	wrapped, err := mk.wrap([]byte(secret), xksCredentialAAD(org, accessKeyID))
	if err != nil {
		return "", "", fmt.Errorf("keys: wrapping XKS secret: %w", err)
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.ensureStore(ctx, tx, org, now); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM xks_credentials WHERE org_id = $1 AND revoked_at IS NULL`, org).Scan(&live); err != nil {
			return fmt.Errorf("keys: counting XKS credentials of %s: %w", org, err)
		}
		if live >= MaxXKSCredentials {
			return fault.Conflictf("the key store of %s already has %d XKS credentials; revoke one before creating another", org, live)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO xks_credentials (access_key_id, org_id, wrapped_secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`,
			accessKeyID, org, wrapped, act.Actor, now); err != nil {
			return fmt.Errorf("keys: storing XKS credential: %w", err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: act.Actor, GrantID: act.GrantID, Action: "key.xks_credential.create", OrgID: org, Target: accessKeyID})
	})
	if err != nil {
		return "", "", err
	}
	s.log.Info("XKS credential created", "org", org, "access_key_id", accessKeyID)
	return accessKeyID, secret, nil
}

// RevokeXKSCredential revokes a live credential of the tenant's store at
// once (its wrapped secret is erased). It works while sealed, like Kill:
// a tenant must always be able to cut a leaked credential off.
func (s *Service) RevokeXKSCredential(ctx context.Context, by authz.Principal, org, accessKeyID string) error {
	act, err := actorOf(by)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE xks_credentials SET revoked_at = $1, wrapped_secret = $2
			WHERE access_key_id = $3 AND org_id = $4 AND revoked_at IS NULL`, now, []byte{}, accessKeyID, org)
		if err != nil {
			return fmt.Errorf("keys: revoking XKS credential: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("keys: revoking XKS credential: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: %s", ErrUnknownXKSCredential, accessKeyID)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: act.Actor, GrantID: act.GrantID, Action: "key.xks_credential.revoke", OrgID: org, Target: accessKeyID})
	})
	if err != nil {
		return err
	}
	s.forgetCredentials()
	s.log.Info("XKS credential revoked", "org", org, "access_key_id", accessKeyID)
	return nil
}

// XKSCredentials lists the tenant's credentials, live and revoked, oldest
// first; never a secret.
func (s *Service) XKSCredentials(ctx context.Context, org string) ([]XKSCredentialInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT access_key_id, org_id, created_by, created_at, revoked_at
		FROM xks_credentials WHERE org_id = $1 ORDER BY created_at, access_key_id`, org)
	if err != nil {
		return nil, fmt.Errorf("keys: listing XKS credentials of %s: %w", org, err)
	}
	defer rows.Close()
	var out []XKSCredentialInfo
	for rows.Next() {
		var c XKSCredentialInfo
		var revoked sql.NullTime
		if err := rows.Scan(&c.AccessKeyID, &c.OrgID, &c.CreatedBy, &c.CreatedAt, &revoked); err != nil {
			return nil, fmt.Errorf("keys: listing XKS credentials of %s: %w", org, err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		if revoked.Valid {
			t := revoked.Time.UTC()
			c.RevokedAt = &t
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys: listing XKS credentials of %s: %w", org, err)
	}
	return out, nil
}

// XKSCredential is what the XKS proxy asks on every request: the tenant
// that owns a live access key id, its secret (to verify the signature)
// and whether the tenant's kill switch is pulled. It answers ErrSealed
// while sealed (the secret is wrapped by the master key) and
// ErrUnknownXKSCredential for an unknown or revoked access key id.
func (s *Service) XKSCredential(ctx context.Context, accessKeyID string) (org, secret string, killed bool, err error) {
	mk, epoch, err := s.masterOrSealed()
	if err != nil {
		return "", "", false, err
	}
	// Every XKS request asks this: a cached answer spares a query and, in
	// HSM mode, an unwrap through the token. It lives at most StateTTL,
	// like a key's state, and this replica drops it at once on revoke,
	// kill, revive and seal.
	if v, ok := s.creds.Load(accessKeyID); ok && s.ttl > 0 {
		c := v.(*cachedCredential)
		if age := s.now().Sub(c.checked); c.epoch == epoch && age < s.ttl {
			// Refresh ahead in the last quarter of the TTL (like a key's
			// state): no request waits at the moment it runs out.
			if age >= s.ttl-s.ttl/4 && c.refreshing.CompareAndSwap(false, true) {
				go func() { _, _ = s.refreshCredential(context.Background(), mk, epoch, accessKeyID) }() //nolint:gosec // G118: the refresh outlives the request on purpose; the next requests use it
			}
			return c.org, c.secret, c.killed, nil
		}
	}
	c, err := s.refreshCredential(ctx, mk, epoch, accessKeyID)
	if err != nil {
		return "", "", false, err
	}
	return c.org, c.secret, c.killed, nil
}

// refreshCredential reads a credential into the cache. Concurrent requests
// with the same access key share one read and one unwrap (flight.go):
// under a burst, a cache miss costs the HSM one operation, not one per
// request in flight.
func (s *Service) refreshCredential(ctx context.Context, mk masterKey, epoch uint64, accessKeyID string) (*cachedCredential, error) {
	gen := s.credGen.Load()
	return s.credFlight.do(accessKeyID, gen, func() (*cachedCredential, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		return s.readCredential(rctx, mk, epoch, gen, accessKeyID)
	})
}

// readCredential reads and unwraps a credential and caches the answer.
func (s *Service) readCredential(ctx context.Context, mk masterKey, epoch, gen uint64, accessKeyID string) (*cachedCredential, error) {
	c := &cachedCredential{checked: s.now(), epoch: epoch}
	var wrapped []byte
	err := s.db.QueryRowContext(ctx, `SELECT c.org_id, c.wrapped_secret, s.killed
		FROM xks_credentials c JOIN key_stores s ON s.org_id = c.org_id
		WHERE c.access_key_id = $1 AND c.revoked_at IS NULL`, accessKeyID).Scan(&c.org, &wrapped, &c.killed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownXKSCredential
	}
	if err != nil {
		return nil, fmt.Errorf("keys: reading XKS credential %s: %w", accessKeyID, err)
	}
	raw, err := s.unwrapStored(ctx, mk, wrapped, xksCredentialAAD(c.org, accessKeyID), "XKS credential "+accessKeyID)
	if err != nil {
		return nil, err
	}
	c.secret = string(raw)
	// A change made while this read ran must not be hidden by it.
	if s.credGen.Load() == gen {
		s.creds.Store(accessKeyID, c)
	}
	return c, nil
}

// cachedCredential is XKSCredential's answer as read at checked.
type cachedCredential struct {
	org, secret string
	killed      bool
	checked     time.Time
	epoch       uint64
	// refreshing is set once a refresh ahead of the TTL has started.
	refreshing atomic.Bool
}

// forgetCredentials drops every cached credential answer.
func (s *Service) forgetCredentials() {
	s.credGen.Add(1)
	s.creds.Clear()
}
