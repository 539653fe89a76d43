package notify

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

// Suppression keeps matching events from the organisation's channels —
// they are still recorded — until it expires or is lifted.
type Suppression struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"org_id"`
	EnvID      string     `json:"env_id,omitempty"`
	ControlID  string     `json:"control_id,omitempty"`
	ResourceID string     `json:"resource_id,omitempty"`
	Reason     string     `json:"reason"`
	ExpiresAt  time.Time  `json:"expires_at"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LiftedAt   *time.Time `json:"lifted_at,omitempty"`
}

// MaxSuppression is the longest a suppression lasts: it is a decision to
// look again, not to forget.
const MaxSuppression = 366 * 24 * time.Hour

func (sp Suppression) matches(ev Event) bool {
	return (sp.EnvID == "" || sp.EnvID == ev.EnvID) && (sp.ControlID == "" || sp.ControlID == ev.ControlID) &&
		(sp.ResourceID == "" || strings.EqualFold(sp.ResourceID, ev.ResourceID))
}

const suppressionColumns = `id, org_id, env_id, control_id, resource_id, reason, expires_at, created_by, created_at, lifted_at`

func scanSuppression(row interface{ Scan(...any) error }) (Suppression, error) {
	var sp Suppression
	var lifted sql.NullTime
	if err := row.Scan(&sp.ID, &sp.OrgID, &sp.EnvID, &sp.ControlID, &sp.ResourceID, &sp.Reason, &sp.ExpiresAt, &sp.CreatedBy, &sp.CreatedAt, &lifted); err != nil {
		return Suppression{}, err
	}
	sp.ExpiresAt, sp.CreatedAt = sp.ExpiresAt.UTC(), sp.CreatedAt.UTC()
	if lifted.Valid {
		t := lifted.Time.UTC()
		sp.LiftedAt = &t
	}
	return sp, nil
}

func activeSuppressions(ctx context.Context, q store.Querier, orgID string, now time.Time) ([]Suppression, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+suppressionColumns+` FROM notify_suppressions WHERE org_id = $1 AND lifted_at IS NULL AND expires_at > $2`,
		orgID, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("suppressions of %s: %w", orgID, err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		sp, err := scanSuppression(rows)
		if err != nil {
			return nil, fmt.Errorf("suppressions of %s: %w", orgID, err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// Suppress records a tenant's suppression, with its reason and expiry.
func (s *Service) Suppress(ctx context.Context, actor, grantID, orgID string, sp Suppression) (Suppression, error) {
	now := s.now().UTC()
	sp.Reason = strings.TrimSpace(sp.Reason)
	switch {
	case orgID == Central:
		return Suppression{}, fault.Invalidf("suppressions belong to an organisation")
	case sp.EnvID == "" && sp.ControlID == "" && sp.ResourceID == "":
		return Suppression{}, fault.InvalidField("control_id", "name at least one of env_id, control_id and resource_id: a suppression never silences everything")
	case len(sp.Reason) < 10 || len(sp.Reason) > 1000:
		return Suppression{}, fault.InvalidField("reason", "give a reason of 10 to 1000 characters; it is audited")
	case !sp.ExpiresAt.After(now):
		return Suppression{}, fault.InvalidField("expires_at", "expires_at must be in the future")
	case sp.ExpiresAt.Sub(now) > MaxSuppression:
		return Suppression{}, fault.InvalidField("expires_at", "a suppression lasts at most 366 days")
	}
	sp.ID, sp.OrgID, sp.CreatedBy, sp.CreatedAt, sp.ExpiresAt, sp.LiftedAt = newID("sup", now), orgID, actor, now, sp.ExpiresAt.UTC(), nil
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_suppressions (`+suppressionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
			sp.ID, orgID, sp.EnvID, sp.ControlID, sp.ResourceID, sp.Reason, sp.ExpiresAt, actor, now); err != nil {
			return fmt.Errorf("suppress: %w", err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.suppression.create", OrgID: orgID, Target: sp.ID,
			Details: map[string]any{"env_id": sp.EnvID, "control_id": sp.ControlID, "resource_id": sp.ResourceID, "reason": sp.Reason,
				"expires_at": sp.ExpiresAt.Format(time.RFC3339)}})
	})
	return sp, err
}

// Lift ends a suppression before its expiry.
func (s *Service) Lift(ctx context.Context, actor, grantID, orgID, id string) error {
	now := s.now().UTC()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_suppressions SET lifted_at = $1 WHERE id = $2 AND org_id = $3 AND lifted_at IS NULL`, now, id, orgID)
		if err != nil {
			return fmt.Errorf("lift %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("no suppression %s in effect", id)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.suppression.lift", OrgID: orgID, Target: id})
	})
}

// Suppressions lists orgID's suppressions, newest first; lifted and
// expired ones only when asked.
func (s *Service) Suppressions(ctx context.Context, orgID string, all bool) ([]Suppression, error) {
	q := `SELECT ` + suppressionColumns + ` FROM notify_suppressions WHERE org_id = $1`
	args := []any{orgID}
	if !all {
		q += ` AND lifted_at IS NULL AND expires_at > $2`
		args = append(args, s.now().UTC())
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC LIMIT 500`, args...)
	if err != nil {
		return nil, fmt.Errorf("suppressions of %s: %w", orgID, err)
	}
	defer rows.Close()
	out := []Suppression{}
	for rows.Next() {
		sp, err := scanSuppression(rows)
		if err != nil {
			return nil, fmt.Errorf("suppressions of %s: %w", orgID, err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// Events lists orgID's events, newest first (critical only when asked:
// what central reads).
func (s *Service) Events(ctx context.Context, orgID string, criticalOnly bool, limit int) ([]Event, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT id, org_id, env_id, source, source_id, severity, title, control_id, resource_id, status, suppressed_by, first_seen, last_seen
		FROM notify_events WHERE org_id = $1`
	if criticalOnly {
		q += ` AND severity = 'critical'`
	}
	rows, err := s.db.QueryContext(ctx, q+fmt.Sprintf(` ORDER BY first_seen DESC, id DESC LIMIT %d`, limit), orgID)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", orgID, err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("events of %s: %w", orgID, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

const eventColumns = `id, org_id, env_id, source, source_id, severity, title, control_id, resource_id, status, suppressed_by, first_seen, last_seen`

func scanEvent(row interface{ Scan(...any) error }) (Event, error) {
	var ev Event
	err := row.Scan(&ev.ID, &ev.OrgID, &ev.EnvID, &ev.Source, &ev.SourceID, &ev.Severity, &ev.Title, &ev.ControlID, &ev.ResourceID,
		&ev.Status, &ev.SuppressedBy, &ev.FirstSeen, &ev.LastSeen)
	ev.FirstSeen, ev.LastSeen = ev.FirstSeen.UTC(), ev.LastSeen.UTC()
	return ev, err
}

// Event reads one event of orgID.
func (s *Service) Event(ctx context.Context, id string) (Event, error) {
	ev, err := scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM notify_events WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, fault.NotFoundf("no event %s", id)
	}
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	return ev, nil
}
