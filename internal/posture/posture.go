// Package posture is the detective side of the controls: each
// environment's resource inventory as collected from its provider, the
// findings the detective controls make of it — first seen, last seen,
// resolved — and compliance scores per environment and organisation
// (docs/controls.md). Findings export as OCSF Compliance Findings.
package posture

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Status is a finding's state.
type Status string

const (
	Open     Status = "open"
	Resolved Status = "resolved"
)

// Finding is one control failing on one resource of one environment.
type Finding struct {
	ID           string            `json:"id"`
	EnvID        string            `json:"env_id"`
	OrgID        string            `json:"org_id"`
	ControlID    string            `json:"control_id"`
	ResourceID   string            `json:"resource_id"`
	ResourceType string            `json:"resource_type"`
	Severity     controls.Severity `json:"severity"`
	Message      string            `json:"message"`
	// MessageFormat and MessageParams are Message as the control wrote
	// it, without the resource's id: an English sprintf format, the key
	// of its translation in the control's messages, and its parameters
	// (controls.Violation).
	MessageFormat string          `json:"message_format"`
	MessageParams controls.Params `json:"message_params"`
	Status        Status          `json:"status"`
	FirstSeen     time.Time       `json:"first_seen"`
	LastSeen      time.Time       `json:"last_seen"`
	ResolvedAt    *time.Time      `json:"resolved_at,omitempty"`
}

// Score is a compliance score: the share of (control, resource) checks
// that pass.
type Score struct {
	Environments int       `json:"environments"`
	Resources    int       `json:"resources"`
	Checks       int       `json:"checks"`
	Failed       int       `json:"failed"`
	Score        float64   `json:"score"` // 0…100; 100 when nothing was checked
	EvaluatedAt  time.Time `json:"evaluated_at,omitzero"`
}

func scoreOf(checks, failed int) float64 {
	if checks == 0 {
		return 100
	}
	return float64(checks-failed) * 100 / float64(checks)
}

// Summary is what one evaluation found.
type Summary struct {
	Score
	Opened    int `json:"opened"`
	StillOpen int `json:"still_open"`
	Resolved  int `json:"resolved"`
}

// Service records inventories and findings.
type Service struct {
	db     *store.DB
	engine *controls.Engine
	now    func() time.Time
	scope  Scope
	// current, when set, gives the engine to evaluate with at each
	// Record: the catalog swaps it when custom controls change.
	current func() *controls.Engine
	// notifier hears of opened and resolved findings (SetNotifier).
	notifier Notifier
}

// Notifier hears of the findings Record opens (new, or open again) and
// resolves, in the transaction that records them, so a finding and what
// is owed to its organisation commit together (internal/notify).
type Notifier interface {
	FindingsChanged(ctx context.Context, q store.Querier, opened []Finding, resolved []string) error
}

// SetNotifier sets the Notifier; call it before use.
func (s *Service) SetNotifier(n Notifier) { s.notifier = n }

// Scope says which controls apply to an environment (its assignments,
// less its exceptions); nil applies every detective control.
type Scope func(ctx context.Context, envID, orgID string) (func(controls.Control) bool, error)

// SetEngine makes Record evaluate with the engine current returns at
// each call (controls.Catalog.Engine); call it before use.
func (s *Service) SetEngine(current func() *controls.Engine) { s.current = current }

// SetScope sets the Scope; call it before use.
func (s *Service) SetScope(sc Scope) { s.scope = sc }

// New returns a Service evaluating engine's detective controls.
func New(db *store.DB, engine *controls.Engine, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, engine: engine, now: now}
}

func detective(c controls.Control) bool { return c.Has(controls.Detective) }

// Record replaces an environment's inventory with resources, evaluates
// the detective controls on it and updates its findings: new ones open,
// those seen again get a new last-seen (a resolved one reopens), and open
// ones no longer seen are resolved.
func (s *Service) Record(ctx context.Context, envID, orgID string, resources []controls.Resource) (Summary, error) {
	only := detective
	if s.scope != nil {
		applies, err := s.scope(ctx, envID, orgID)
		if err != nil {
			return Summary{}, fmt.Errorf("posture %s: %w", envID, err)
		}
		only = func(c controls.Control) bool { return c.Has(controls.Detective) && applies(c) }
	}
	engine := s.engine
	if s.current != nil {
		engine = s.current()
	}
	violations, err := engine.Evaluate(ctx, resources, only)
	if err != nil {
		return Summary{}, fmt.Errorf("posture %s: %w", envID, err)
	}
	now := s.now().UTC()
	failed := map[string]controls.Violation{}
	for _, v := range violations {
		failed[findingID(envID, v.ControlID, v.ResourceID)] = v
	}
	sum := Summary{Score: Score{Environments: 1, Resources: len(resources), Checks: engine.Checks(resources, only),
		Failed: len(failed), EvaluatedAt: now}}
	sum.Score.Score = scoreOf(sum.Checks, sum.Failed)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := saveInventory(ctx, tx, envID, resources, now); err != nil {
			return err
		}
		existing := map[string]Status{}
		rows, err := tx.QueryContext(ctx, `SELECT id, status FROM findings WHERE env_id = $1`, envID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var st Status
			if err := rows.Scan(&id, &st); err != nil {
				rows.Close()
				return err
			}
			existing[id] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var opened []Finding
		var resolved []string
		for id, v := range failed {
			st, seen := existing[id]
			if !seen || st == Resolved {
				opened = append(opened, Finding{ID: id, EnvID: envID, OrgID: orgID, ControlID: v.ControlID, ResourceID: v.ResourceID,
					ResourceType: v.Type, Severity: v.Severity, Message: v.Message, MessageFormat: v.Format, MessageParams: v.Params,
					Status: Open, FirstSeen: now, LastSeen: now})
			}
			params, err := json.Marshal(v.Params)
			if err != nil {
				return err
			}
			switch {
			case !seen:
				sum.Opened++
				_, err = tx.ExecContext(ctx, `INSERT INTO findings (id, env_id, org_id, control_id, resource_id, resource_type, severity, message,
					message_format, message_params, status, first_seen, last_seen)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $11)`,
					id, envID, orgID, v.ControlID, v.ResourceID, v.Type, string(v.Severity), v.Message, v.Format, string(params), now)
			default:
				if st == Resolved {
					sum.Opened++
				} else {
					sum.StillOpen++
				}
				_, err = tx.ExecContext(ctx, `UPDATE findings SET status = 'open', last_seen = $1, resolved_at = NULL, message = $2,
					message_format = $3, message_params = $4, severity = $5, org_id = $6 WHERE id = $7`,
					now, v.Message, v.Format, string(params), string(v.Severity), orgID, id)
			}
			if err != nil {
				return err
			}
		}
		for id, st := range existing {
			if _, still := failed[id]; still || st != Open {
				continue
			}
			sum.Resolved++
			resolved = append(resolved, id)
			if _, err := tx.ExecContext(ctx, `UPDATE findings SET status = 'resolved', resolved_at = $1 WHERE id = $2`, now, id); err != nil {
				return err
			}
		}
		if s.notifier != nil && len(opened)+len(resolved) > 0 {
			if err := s.notifier.FindingsChanged(ctx, tx, opened, resolved); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO posture (env_id, org_id, evaluated_at, resources, checks, failed) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (env_id) DO UPDATE SET org_id = excluded.org_id, evaluated_at = excluded.evaluated_at, resources = excluded.resources,
			checks = excluded.checks, failed = excluded.failed`, envID, orgID, now, len(resources), sum.Checks, sum.Failed)
		if err != nil {
			return err
		}
		// Two evaluations in the same instant (a scheduled round meeting a
		// "collect now") keep the later one.
		_, err = tx.ExecContext(ctx, `INSERT INTO posture_history (env_id, org_id, evaluated_at, resources, checks, failed) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (env_id, evaluated_at) DO UPDATE SET org_id = excluded.org_id, resources = excluded.resources,
			checks = excluded.checks, failed = excluded.failed`, envID, orgID, now, len(resources), sum.Checks, sum.Failed)
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("posture %s: %w", envID, err)
	}
	return sum, nil
}

// findingID names a (environment, control, resource) triple.
func findingID(envID, controlID, resourceID string) string {
	h := sha256.Sum256([]byte(envID + "\x00" + controlID + "\x00" + resourceID))
	return "f-" + hex.EncodeToString(h[:12])
}

// Findings lists an environment's findings, open ones first, most severe
// first; resolved ones only when asked.
func (s *Service) Findings(ctx context.Context, envID string, withResolved bool) ([]Finding, error) {
	q := `SELECT ` + findingColumns + ` FROM findings WHERE env_id = $1`
	if !withResolved {
		q += ` AND status = 'open'`
	}
	out, err := s.queryFindings(ctx, q+` ORDER BY status, control_id, resource_id`, envID)
	if err != nil {
		return nil, fmt.Errorf("findings of %s: %w", envID, err)
	}
	sortFindings(out)
	return out, nil
}

func sortFindings(fs []Finding) {
	less := func(a, b Finding) bool {
		if a.Status != b.Status {
			return a.Status == Open
		}
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		if a.ControlID != b.ControlID {
			return a.ControlID < b.ControlID
		}
		return a.ResourceID < b.ResourceID
	}
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && less(fs[j], fs[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// EnvScore is an environment's score at its last evaluation; NotFound
// when it was never evaluated.
func (s *Service) EnvScore(ctx context.Context, envID string) (Score, error) {
	var sc Score
	err := s.db.QueryRowContext(ctx, `SELECT evaluated_at, resources, checks, failed FROM posture WHERE env_id = $1`, envID).
		Scan(&sc.EvaluatedAt, &sc.Resources, &sc.Checks, &sc.Failed)
	if errors.Is(err, sql.ErrNoRows) {
		return Score{}, fault.NotFoundf("environment %s has not been evaluated yet: its inventory is collected on a schedule", envID)
	}
	if err != nil {
		return Score{}, fmt.Errorf("score of %s: %w", envID, err)
	}
	sc.Environments, sc.EvaluatedAt = 1, sc.EvaluatedAt.UTC()
	sc.Score = scoreOf(sc.Checks, sc.Failed)
	return sc, nil
}

// OrgScore sums the environments of the given organisations (a subtree,
// as the caller resolved it).
func (s *Service) OrgScore(ctx context.Context, orgIDs []string) (Score, error) {
	if len(orgIDs) == 0 {
		return Score{Score: 100}, nil
	}
	var args []any
	in := store.In(&args, orgIDs)
	var sc Score
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(resources), 0), COALESCE(SUM(checks), 0), COALESCE(SUM(failed), 0)
		FROM posture WHERE org_id IN (`+in+`)`, args...).Scan(&sc.Environments, &sc.Resources, &sc.Checks, &sc.Failed)
	if err != nil {
		return Score{}, fmt.Errorf("score of organisations: %w", err)
	}
	sc.Score = scoreOf(sc.Checks, sc.Failed)
	return sc, nil
}

// OpenFindingsOf lists the open findings of one control in the given
// organisations' environments (nil: every organisation): what enforcing
// the control would touch.
func (s *Service) OpenFindingsOf(ctx context.Context, controlID string, orgIDs []string) ([]Finding, error) {
	q := `SELECT ` + findingColumns + ` FROM findings WHERE control_id = $1 AND status = 'open'`
	args := []any{controlID}
	if orgIDs != nil {
		if len(orgIDs) == 0 {
			return []Finding{}, nil
		}
		q += ` AND org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	out, err := s.queryFindings(ctx, q+` ORDER BY env_id, resource_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("findings of %s: %w", controlID, err)
	}
	return out, nil
}

// FindingsIn lists every finding, resolved ones included, of the given
// organisations' environments (nil: every organisation), in q — an
// export's snapshot transaction.
func FindingsIn(ctx context.Context, q store.Querier, orgIDs []string) ([]Finding, error) {
	query := `SELECT ` + findingColumns + ` FROM findings`
	var args []any
	if orgIDs != nil {
		if len(orgIDs) == 0 {
			return []Finding{}, nil
		}
		query += ` WHERE org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	out, err := queryFindings(ctx, q, query+` ORDER BY env_id, status, control_id, resource_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	return out, nil
}

// findingColumns are the columns queryFindings reads, in order.
const findingColumns = `id, env_id, org_id, control_id, resource_id, resource_type, severity, message, message_format, message_params,
	status, first_seen, last_seen, resolved_at`

// queryFindings runs a findings query selecting findingColumns.
func (s *Service) queryFindings(ctx context.Context, q string, args ...any) ([]Finding, error) {
	return queryFindings(ctx, s.db, q, args...)
}

func queryFindings(ctx context.Context, db store.Querier, q string, args ...any) ([]Finding, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Finding{}
	for rows.Next() {
		var f Finding
		var resolved sql.NullTime
		var params string
		if err := rows.Scan(&f.ID, &f.EnvID, &f.OrgID, &f.ControlID, &f.ResourceID, &f.ResourceType, &f.Severity, &f.Message,
			&f.MessageFormat, &params, &f.Status, &f.FirstSeen, &f.LastSeen, &resolved); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(params), &f.MessageParams); err != nil {
			return nil, fmt.Errorf("finding %s: %w", f.ID, err)
		}
		f.FirstSeen, f.LastSeen = f.FirstSeen.UTC(), f.LastSeen.UTC()
		if resolved.Valid {
			t := resolved.Time.UTC()
			f.ResolvedAt = &t
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
