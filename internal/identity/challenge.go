package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Challenge is a one-time nonce the CLI signs with the card's key.
type Challenge struct {
	ID        string    `json:"id"`
	Nonce     []byte    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewChallenge issues a challenge that lives ChallengeTTL and can be used
// once.
func (s *Service) NewChallenge(ctx context.Context) (Challenge, error) {
	id := store.NewID("c")
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return Challenge{}, fmt.Errorf("challenge nonce: %w", err)
	}
	now := s.now().UTC()
	c := Challenge{ID: id, Nonce: nonce, ExpiresAt: now.Add(s.opts.ChallengeTTL)}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO login_challenges (id, nonce, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Nonce, now, c.ExpiresAt); err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	return c, nil
}

// ConsumeChallenge marks a challenge used and returns its nonce for the
// caller to check the signature over. A challenge is good for one attempt,
// right or wrong, so a captured signature cannot be replayed.
func (s *Service) ConsumeChallenge(ctx context.Context, id string) ([]byte, error) {
	var nonce []byte
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var expires time.Time
		var used sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT nonce, expires_at, used_at FROM login_challenges WHERE id = $1`, id).Scan(&nonce, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.InvalidField("challenge_id", "no challenge %q; ask for a new one", id)
		}
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if used.Valid {
			return fault.InvalidField("challenge_id", "challenge %s was already used; ask for a new one", id)
		}
		if !now.Before(expires) {
			return fault.InvalidField("challenge_id", "challenge %s expired; ask for a new one and sign it within %s", id, s.opts.ChallengeTTL)
		}
		res, err := tx.ExecContext(ctx, `UPDATE login_challenges SET used_at = $1 WHERE id = $2 AND used_at IS NULL`, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.InvalidField("challenge_id", "challenge %s was already used; ask for a new one", id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	return nonce, nil
}
