package tenantbackup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Store keeps backup targets and restore tests.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store; now is the clock (time.Now in production).
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Now is the store's clock reading.
func (s *Store) Now() time.Time { return s.now() }

const targetColumns = `env_id, provider, tier, jurisdiction, region, bucket, lock_mode, retention_days, state, created_at, ready_at`

func scanTarget(row interface{ Scan(...any) error }) (Target, error) {
	var t Target
	var ready sql.NullTime
	err := row.Scan(&t.EnvID, &t.Provider, &t.Tier, &t.Jurisdiction, &t.Region, &t.Bucket, &t.LockMode, &t.RetentionDays, &t.State, &t.CreatedAt, &ready)
	t.CreatedAt = t.CreatedAt.UTC()
	if ready.Valid {
		r := ready.Time.UTC()
		t.ReadyAt = &r
	}
	return t, err
}

// InsertTarget records a pending target in the caller's transaction (the
// environment's request).
func (s *Store) InsertTarget(ctx context.Context, q store.Querier, t Target) error {
	_, err := q.ExecContext(ctx, `INSERT INTO backup_targets (`+targetColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)`,
		t.EnvID, t.Provider, t.Tier, t.Jurisdiction, t.Region, t.Bucket, t.LockMode, t.RetentionDays, Pending, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert backup target of %s: %w", t.EnvID, err)
	}
	return nil
}

// Target is an environment's backup target; NotFound when it has none.
func (s *Store) Target(ctx context.Context, q store.Querier, envID string) (Target, error) {
	if q == nil {
		q = s.db
	}
	t, err := scanTarget(q.QueryRowContext(ctx, `SELECT `+targetColumns+` FROM backup_targets WHERE env_id = $1`, envID))
	if errors.Is(err, sql.ErrNoRows) {
		return Target{}, fault.NotFoundf("environment %s has no backup target", envID)
	}
	if err != nil {
		return Target{}, fmt.Errorf("backup target of %s: %w", envID, err)
	}
	return t, nil
}

// MarkReady records that the bucket exists, where, in the caller's
// transaction; an already ready target is left as it is (false).
func (s *Store) MarkReady(ctx context.Context, q store.Querier, envID, region string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE backup_targets SET state = $1, region = $2, ready_at = $3 WHERE env_id = $4 AND state = $5`,
		Ready, region, s.now(), envID, Pending)
	if err != nil {
		return false, fmt.Errorf("backup target of %s ready: %w", envID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Locations lists where an environment's backups are kept: its ready
// backup targets' providers, regions and jurisdictions (none when it has
// no target, or its bucket is not made yet). The sovereignty assessment
// takes it as an input for the environment's data residency.
func (s *Store) Locations(ctx context.Context, envID string) ([]Location, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT provider, region, jurisdiction FROM backup_targets WHERE env_id = $1 AND state = $2 ORDER BY provider`, envID, Ready)
	if err != nil {
		return nil, fmt.Errorf("backup locations of %s: %w", envID, err)
	}
	defer rows.Close()
	out := []Location{}
	for rows.Next() {
		var l Location
		if err := rows.Scan(&l.Provider, &l.Region, &l.Jurisdiction); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// AddRestoreTest records a restore test and its audit entry (actor the
// person, for the environment's organisation) in one transaction. A
// signature whose statement was recorded before is a Conflict.
func (s *Store) AddRestoreTest(ctx context.Context, actor, envID, orgID string, ev Evidence, sig Signature) (RestoreTest, error) {
	if !sha256Hex.MatchString(sig.StatementSHA256) || len(sig.Statement) == 0 || len(sig.Signature) == 0 || len(sig.Certificate) == 0 {
		return RestoreTest{}, fault.Invalidf("a restore test needs its card-signed confirmation (statement, signature, certificate)")
	}
	person, grant, _ := strings.Cut(actor, " under ")
	rt := RestoreTest{ID: store.NewID("rt"), EnvID: envID, OrgID: orgID, Evidence: ev, SubmittedBy: person,
		SubmittedAt: s.now().UTC().Truncate(time.Microsecond), StatementSHA256: sig.StatementSHA256}
	rt.PerformedAt = rt.PerformedAt.UTC().Truncate(time.Second)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO restore_tests (id, env_id, org_id, performed_at, restored, result, note,
			submitted_by, submitted_at, statement_sha256, statement, signature, certificate)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			rt.ID, envID, orgID, rt.PerformedAt, rt.Restored, rt.Result, rt.Note, person, rt.SubmittedAt,
			sig.StatementSHA256, sig.Statement, sig.Signature, sig.Certificate)
		if err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("this card-signed statement was recorded as evidence already")
			}
			return fmt.Errorf("record restore test of %s: %w", envID, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: rt.SubmittedAt, Actor: person, Action: "env.restore_test.submit", OrgID: orgID,
			Target: envID, GrantID: grant, Details: map[string]any{"restore_test": rt.ID, "performed_at": rt.PerformedAt.Format(time.RFC3339),
				"restored": rt.Restored, "result": string(rt.Result), "statement_sha256": sig.StatementSHA256}})
	})
	if err != nil {
		return RestoreTest{}, err
	}
	return rt, nil
}

// RestoreTests lists an environment's restore tests, the most recently
// performed first, at most limit (0: 100).
func (s *Store) RestoreTests(ctx context.Context, envID string, limit int) ([]RestoreTest, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, env_id, org_id, performed_at, restored, result, note, submitted_by, submitted_at, statement_sha256
		FROM restore_tests WHERE env_id = $1 ORDER BY performed_at DESC, id DESC LIMIT $2`, envID, limit)
	if err != nil {
		return nil, fmt.Errorf("restore tests of %s: %w", envID, err)
	}
	defer rows.Close()
	out := []RestoreTest{}
	for rows.Next() {
		var rt RestoreTest
		if err := rows.Scan(&rt.ID, &rt.EnvID, &rt.OrgID, &rt.PerformedAt, &rt.Restored, &rt.Result, &rt.Note, &rt.SubmittedBy, &rt.SubmittedAt, &rt.StatementSHA256); err != nil {
			return nil, err
		}
		rt.PerformedAt, rt.SubmittedAt = rt.PerformedAt.UTC(), rt.SubmittedAt.UTC()
		out = append(out, rt)
	}
	return out, rows.Err()
}

// SignedEvidence is a restore test's stored confirmation, for checking it
// again outside hatoba.
func (s *Store) SignedEvidence(ctx context.Context, id string) (Signature, error) {
	var sig Signature
	err := s.db.QueryRowContext(ctx, `SELECT statement_sha256, statement, signature, certificate FROM restore_tests WHERE id = $1`, id).
		Scan(&sig.StatementSHA256, &sig.Statement, &sig.Signature, &sig.Certificate)
	if errors.Is(err, sql.ErrNoRows) {
		return Signature{}, fault.NotFoundf("restore test %s not found", id)
	}
	return sig, err
}
