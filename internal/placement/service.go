package placement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Service keeps the placement policy: every version, the latest in force.
type Service struct {
	db  *store.DB
	now func() time.Time
}

// NewService builds the service; now is the clock (time.Now when nil).
func NewService(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// Seed stores p as version 1 when no policy is stored yet (the first
// start), as the system's change; afterwards the database holds the
// policy and the configuration's is not read again. It reports whether it
// stored p.
func (s *Service) Seed(ctx context.Context, p Policy) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("seed placement policy: %w", err)
	}
	seeded := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := latestVersion(ctx, tx)
		if err != nil || v > 0 {
			return err
		}
		seeded = true
		p.Version = 1
		return s.insert(ctx, tx, p, "system", "placement.policy.seed", nil)
	})
	if err != nil && store.IsUniqueViolation(err) {
		return false, nil // another replica seeded it first
	}
	if err != nil {
		return false, fmt.Errorf("seed placement policy: %w", err)
	}
	return seeded, nil
}

// Current is the policy in force; Default when none was ever stored.
func (s *Service) Current(ctx context.Context) (Policy, error) {
	return s.current(ctx, s.db)
}

func (s *Service) current(ctx context.Context, q store.Querier) (Policy, error) {
	var doc, by string
	var at time.Time
	var v int
	err := q.QueryRowContext(ctx, `SELECT version, document, changed_by, changed_at FROM placement_policies
		ORDER BY version DESC LIMIT 1`).Scan(&v, &doc, &by, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Default(), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("placement policy: %w", err)
	}
	var p Policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return Policy{}, fmt.Errorf("placement policy version %d no longer parses: %w", v, err)
	}
	p.Version, p.ChangedBy, p.ChangedAt = v, by, at.UTC()
	return p, nil
}

// Put replaces the policy with p, changed by a person. p.Version is the
// version the change is based on: if another change came first, Put
// refuses (fault.Conflict) instead of overwriting it. The audit entry
// holds the previous and the new policy.
func (s *Service) Put(ctx context.Context, by string, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	var out Policy
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// Two changes based on one version both insert the next one: the
		// primary key lets one through and the other is a conflict.
		prev, err := s.current(ctx, tx)
		if err != nil {
			return err
		}
		if p.Version != prev.Version {
			return fault.Conflictf("the placement policy is at version %d, and this change is based on version %d: read it again and redo the change", prev.Version, p.Version)
		}
		p.Version = prev.Version + 1
		if err := s.insert(ctx, tx, p, by, "placement.policy.update", &prev); err != nil {
			return err
		}
		out, err = s.current(ctx, tx)
		return err
	})
	if err != nil {
		if store.IsUniqueViolation(err) {
			return Policy{}, fault.Conflictf("the placement policy was changed at the same time; read it again and redo the change")
		}
		return Policy{}, fmt.Errorf("update placement policy: %w", err)
	}
	return out, nil
}

// document is what is stored of a policy: its rules, not its version or
// who changed it (columns of their own).
func document(p Policy) map[string]any {
	return map[string]any{"rules": p.Rules, "one_provider_per_system": p.OneProviderPerSystem}
}

func (s *Service) insert(ctx context.Context, tx *store.Tx, p Policy, by, action string, prev *Policy) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(document(p))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO placement_policies (version, document, changed_by, changed_at) VALUES ($1, $2, $3, $4)`,
		p.Version, string(doc), by, now); err != nil {
		return err
	}
	details := map[string]any{"version": p.Version, "new": document(p)}
	if prev != nil {
		details["previous_version"] = prev.Version
		details["previous"] = document(*prev)
	}
	return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by, Action: action, Target: "placement-policy", Details: details})
}

func latestVersion(ctx context.Context, q store.Querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM placement_policies`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}
