package identity

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// ActionConfirmation is a card-signed confirmation of one request
// (docs/keys.md), as the API checked it: the statement matches the
// request, is fresh, and its signature verifies with Card's key.
type ActionConfirmation struct {
	PersonID string
	// Card is the certificate that signed, as the certificate verifier
	// named it.
	Card  Certificate
	Nonce []byte
	// StatementSHA256 names the statement (hex).
	StatementSHA256 string
	// ExpiresAt is when the statement stops being fresh; its nonce is
	// kept until then.
	ExpiresAt time.Time
}

// ErrActionReplayed marks a confirmation whose nonce was already used.
var ErrActionReplayed = errors.New("this card-signed confirmation was already used")

// SpendActionConfirmation accepts a confirmation once. The card must be
// the one bound to the person (issuer, serial and public key), and the
// nonce never seen before: a replay is refused (Forbidden, wrapping
// ErrActionReplayed). Nonces whose statements can no longer be fresh are
// deleted on the way, so the table stays a few minutes long.
func (s *Service) SpendActionConfirmation(ctx context.Context, c ActionConfirmation) error {
	now := s.now().UTC()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var owner string
		var spki []byte
		err := tx.QueryRowContext(ctx, `SELECT person_id, spki_sha256 FROM person_certificates WHERE issuer_dn = $1 AND serial = $2`,
			c.Card.IssuerDN, c.Card.Serial).Scan(&owner, &spki)
		if errors.Is(err, sql.ErrNoRows) || err == nil && owner != c.PersonID {
			return fault.Forbiddenf("the card that signed this confirmation is not the signed-in person's card")
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(spki, c.Card.SPKISHA256[:]) != 1 {
			return fault.Forbiddenf("the certificate that signed this confirmation holds another key than the card registered with it")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM action_nonces WHERE expires_at < $1`, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO action_nonces (nonce, person_id, statement_sha256, used_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			c.Nonce, c.PersonID, c.StatementSHA256, now, c.ExpiresAt.UTC()); err != nil {
			if store.IsUniqueViolation(err) {
				return &fault.Error{Kind: fault.Forbidden, Err: ErrActionReplayed,
					Message: "this card-signed confirmation was already used (a replay is refused): each confirmation is good for one request; sign the action again"}
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("card confirmation: %w", err)
	}
	return nil
}
