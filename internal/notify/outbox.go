package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The outbox's workers are a claim-with-lease loop over notify_deliveries
// rather than River jobs: the row the tenant reads (pending, sending,
// delivered, dead, its attempts and last error) is the queue itself, so
// there is no second state to keep in step, grouping is an UPDATE on the
// row, and "one delivery in flight per channel" — which keeps one slow
// receiver from taking every worker — is a condition of the claim.

// Run delivers until ctx ends, with Options.Workers workers. A delivery
// a worker was killed in the middle of is claimed again when its lease
// lapses and sent again with the same delivery id: at least once.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Wait()
}

func (s *Service) work(ctx context.Context) {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		did, err := s.DeliverOne(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("notification delivery", "err", err)
		}
		if did {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// claimed is a delivery a worker holds.
type claimed struct {
	id, orgID, channelID, kind, payload string
	attempts                            int
	createdAt                           time.Time
}

// DeliverOne claims the delivery due longest, sends it and records the
// outcome; false when nothing was due.
func (s *Service) DeliverOne(ctx context.Context) (bool, error) {
	c, ok, err := s.claim(ctx)
	if err != nil || !ok {
		return false, err
	}
	sendErr := s.send(ctx, c)
	if ctx.Err() != nil {
		// Stopped mid-flight: the lease lapses and another worker (or
		// this process, restarted) sends it again.
		return true, ctx.Err()
	}
	return true, s.settle(context.WithoutCancel(ctx), c, sendErr)
}

func (s *Service) claim(ctx context.Context) (claimed, bool, error) {
	var c claimed
	now := s.now().UTC()
	lock := s.db.Dialect().SkipLocked()
	found := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// A lapsed lease first (a stopped worker's), then the oldest due;
		// two queries so each reads the (state, due_at) index.
		var err error
		for _, cond := range []string{`d.state = 'sending' AND d.lease_until < $1`, `d.state = 'pending' AND d.due_at <= $1`} {
			err = tx.QueryRowContext(ctx, `SELECT d.id, d.org_id, d.channel_id, d.kind, d.payload, d.attempts, d.created_at FROM notify_deliveries d
				WHERE `+cond+`
				AND NOT EXISTS (SELECT 1 FROM notify_deliveries o WHERE o.channel_id = d.channel_id AND o.state = 'sending' AND o.lease_until >= $1)
				ORDER BY d.due_at LIMIT 1`+lock, now).Scan(&c.id, &c.orgID, &c.channelID, &c.kind, &c.payload, &c.attempts, &c.createdAt)
			if !errors.Is(err, sql.ErrNoRows) {
				break
			}
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim delivery: %w", err)
		}
		c.attempts++
		if _, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'sending', collecting = FALSE, attempts = $1, lease_until = $2
			WHERE id = $3`, c.attempts, now.Add(s.opts.Lease), c.id); err != nil {
			return fmt.Errorf("claim delivery %s: %w", c.id, err)
		}
		found = true
		return nil
	})
	return c, found, err
}

// settle records an attempt's outcome, if the delivery is still this
// attempt's (a lapsed lease may have handed it to another worker).
func (s *Service) settle(ctx context.Context, c claimed, sendErr error) error {
	now := s.now().UTC()
	var res sql.Result
	var err error
	switch {
	case errors.Is(sendErr, keys.ErrSealed):
		// Not the receiver's failure: the attempt is given back, and the
		// delivery waits for the key service to be unsealed.
		res, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'pending', lease_until = NULL, attempts = attempts - 1, last_error = $1,
			due_at = $2 WHERE id = $3 AND state = 'sending' AND attempts = $4`, "the key service is sealed", now.Add(30*time.Second), c.id, c.attempts)
	case sendErr == nil:
		res, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'delivered', delivered_at = $1, lease_until = NULL, last_error = ''
			WHERE id = $2 AND state = 'sending' AND attempts = $3`, now, c.id, c.attempts)
	case c.attempts >= s.opts.MaxAttempts:
		s.log.Warn("notification dead after its last attempt", "delivery", c.id, "org", c.orgID, "attempts", c.attempts, "err", sendErr)
		res, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'dead', lease_until = NULL, last_error = $1
			WHERE id = $2 AND state = 'sending' AND attempts = $3`, clip(sendErr.Error(), 1000), c.id, c.attempts)
	default:
		res, err = s.db.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'pending', lease_until = NULL, last_error = $1, due_at = $2
			WHERE id = $3 AND state = 'sending' AND attempts = $4`, clip(sendErr.Error(), 1000), now.Add(s.backoff(c.attempts)), c.id, c.attempts)
	}
	if err != nil {
		return fmt.Errorf("settle delivery %s: %w", c.id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.log.Info("a delivery's lease lapsed before its attempt ended; another attempt owns it", "delivery", c.id)
	}
	return nil
}

// backoff is the wait after the n-th failed attempt: base·2^(n-1), capped,
// with up to a fifth of jitter so receivers that come back are not hit
// by every sender at once.
func (s *Service) backoff(n int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < n && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	return d + time.Duration(rand.Int64N(int64(d)/5+1)) //nolint:gosec // G404: jitter spreads retries, it guards nothing
}

const deliveryColumns = `id, org_id, channel_id, kind, state, events, attempts, due_at, last_error, created_at, delivered_at`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var at sql.NullTime
	if err := row.Scan(&d.ID, &d.OrgID, &d.ChannelID, &d.Kind, &d.State, &d.Events, &d.Attempts, &d.DueAt, &d.LastError, &d.CreatedAt, &at); err != nil {
		return Delivery{}, err
	}
	d.DueAt, d.CreatedAt = d.DueAt.UTC(), d.CreatedAt.UTC()
	if at.Valid {
		t := at.Time.UTC()
		d.DeliveredAt = &t
	}
	return d, nil
}

// Deliveries lists orgID's deliveries, newest first, in one state or all.
func (s *Service) Deliveries(ctx context.Context, orgID, state string, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT ` + deliveryColumns + ` FROM notify_deliveries WHERE org_id = $1`
	args := []any{orgID}
	switch state {
	case "":
	case Pending, Sending, Delivered, Dead:
		q += ` AND state = $2`
		args = append(args, state)
	default:
		return nil, fault.InvalidField("state", "state is pending, sending, delivered or dead")
	}
	rows, err := s.db.QueryContext(ctx, q+fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", orgID, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries of %s: %w", orgID, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Delivery reads one of orgID's deliveries.
func (s *Service) Delivery(ctx context.Context, orgID, id string) (Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM notify_deliveries WHERE id = $1 AND org_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, fault.NotFoundf("no delivery %s", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

// Redeliver gives a dead delivery a fresh round of attempts, with the
// same delivery id (receivers that saw it drop it again).
func (s *Service) Redeliver(ctx context.Context, actor, grantID, orgID, id string) (Delivery, error) {
	now := s.now().UTC()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'pending', attempts = 0, due_at = $1 WHERE id = $2 AND org_id = $3 AND state = 'dead'`,
			now, id, orgID)
		if err != nil {
			return fmt.Errorf("redeliver %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM notify_deliveries WHERE id = $1 AND org_id = $2`, id, orgID)); errors.Is(err, sql.ErrNoRows) {
				return fault.NotFoundf("no delivery %s", id)
			}
			return fault.Conflictf("delivery %s is not dead; only a dead delivery is sent again", id)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.delivery.retry", OrgID: orgID, Target: id})
	})
	if err != nil {
		return Delivery{}, err
	}
	s.Wake()
	return s.Delivery(ctx, orgID, id)
}

// Stats counts deliveries by state across every organisation (metrics,
// the bench).
func (s *Service) Stats(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM notify_deliveries GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("delivery stats: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("delivery stats: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// DeliveredRetention is how long a delivered message stays in the outbox
// for the tenant to look at; dead ones stay until resent or their channel
// goes.
const DeliveredRetention = 30 * 24 * time.Hour

// Purge deletes delivered messages older than DeliveredRetention (their
// events stay), so the outbox does not grow without bound.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_deliveries WHERE state = 'delivered' AND delivered_at < $1`,
		s.now().UTC().Add(-DeliveredRetention))
	if err != nil {
		return 0, fmt.Errorf("purge deliveries: %w", err)
	}
	return res.RowsAffected()
}
