// Package assignments decides which controls apply where: central
// operators assign a control to an organisation's subtree (or to every
// organisation) in detect or enforce mode — a preventive control always
// starts in detect, and is promoted to enforce only after its impact was
// shown and an operator confirmed it — and tenants ask for time-boxed
// exceptions for one environment, decided centrally; an exception lapses
// by itself at its expiry. Every change is in the audit log
// (docs/controls.md).
package assignments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Mode is how an assignment acts.
type Mode string

const (
	// Detect evaluates the control and reports findings.
	Detect Mode = "detect"
	// Enforce also renders a preventive control to provider policies.
	Enforce Mode = "enforce"
)

// Everywhere is the OrgID of an assignment to every organisation.
const Everywhere = ""

// Assignment is one control assigned to a subtree.
type Assignment struct {
	ID         string     `json:"id"`
	ControlID  string     `json:"control_id"`
	OrgID      string     `json:"org_id"` // "" for every organisation
	Mode       Mode       `json:"mode"`
	AssignedBy string     `json:"assigned_by"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	PromotedBy string     `json:"promoted_by,omitempty"`
	PromotedAt *time.Time `json:"promoted_at,omitempty"`
}

// ExceptionStatus is where an exception stands.
type ExceptionStatus string

const (
	Requested ExceptionStatus = "requested"
	Approved  ExceptionStatus = "approved"
	Rejected  ExceptionStatus = "rejected"
	Expired   ExceptionStatus = "expired"
)

// Exception excuses one environment from one control until it expires.
type Exception struct {
	ID          string          `json:"id"`
	EnvID       string          `json:"env_id"`
	OrgID       string          `json:"org_id"`
	ControlID   string          `json:"control_id"`
	Reason      string          `json:"reason"`
	Status      ExceptionStatus `json:"status"`
	RequestedBy string          `json:"requested_by"`
	RequestedAt time.Time       `json:"requested_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	Note        string          `json:"note,omitempty"`
}

// MaxExceptionDuration is the longest exception one may ask for: never
// "set and forget".
const MaxExceptionDuration = 365 * 24 * time.Hour

// Service keeps assignments and exceptions.
type Service struct {
	db      *store.DB
	catalog func(id string) (controls.Control, bool)
	now     func() time.Time
}

// New returns a Service; catalog finds a control by id.
func New(db *store.DB, catalog func(id string) (controls.Control, bool), now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, catalog: catalog, now: now}
}

const assignmentColumns = `id, control_id, org_id, mode, assigned_by, created_at, updated_at, promoted_by, promoted_at`

func scanAssignment(row interface{ Scan(...any) error }) (Assignment, error) {
	var a Assignment
	var by sql.NullString
	var at sql.NullTime
	if err := row.Scan(&a.ID, &a.ControlID, &a.OrgID, &a.Mode, &a.AssignedBy, &a.CreatedAt, &a.UpdatedAt, &by, &at); err != nil {
		return Assignment{}, err
	}
	a.CreatedAt, a.UpdatedAt, a.PromotedBy = a.CreatedAt.UTC(), a.UpdatedAt.UTC(), by.String
	if at.Valid {
		t := at.Time.UTC()
		a.PromotedAt = &t
	}
	return a, nil
}

// Assign assigns a control to orgID's subtree (Everywhere for every
// organisation) in detect mode: every control starts there, so its
// findings are seen before anything is refused. The caller has authorized.
func (s *Service) Assign(ctx context.Context, by authz.Principal, controlID, orgID string) (Assignment, error) {
	if _, ok := s.catalog(controlID); !ok {
		return Assignment{}, fault.InvalidField("control_id", "no control %q in the catalog", controlID)
	}
	id := store.NewID("as")
	now := s.now().UTC()
	a := Assignment{ID: id, ControlID: controlID, OrgID: orgID, Mode: Detect, AssignedBy: by.PersonID, CreatedAt: now, UpdatedAt: now}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO control_assignments (id, control_id, org_id, mode, assigned_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, a.ID, controlID, orgID, string(Detect), by.PersonID, now); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("control %s is already assigned to %s", controlID, orgName(orgID))
			}
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "control.assign", OrgID: orgID, Target: controlID,
			Details: map[string]any{"assignment": a.ID, "mode": Detect}})
	})
	if err != nil {
		return Assignment{}, fmt.Errorf("assign %s: %w", controlID, err)
	}
	return a, nil
}

func orgName(orgID string) string {
	if orgID == Everywhere {
		return "every organisation"
	}
	return orgID
}

// Get returns one assignment.
func (s *Service) Get(ctx context.Context, id string) (Assignment, error) {
	a, err := scanAssignment(s.db.QueryRowContext(ctx, `SELECT `+assignmentColumns+` FROM control_assignments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Assignment{}, fault.NotFoundf("no assignment %s", id)
	}
	if err != nil {
		return Assignment{}, fmt.Errorf("assignment %s: %w", id, err)
	}
	return a, nil
}

// List lists the assignments of the given organisations (with
// Everywhere's), or all when orgIDs is nil.
func (s *Service) List(ctx context.Context, orgIDs []string) ([]Assignment, error) {
	q := `SELECT ` + assignmentColumns + ` FROM control_assignments`
	var args []any
	if orgIDs != nil {
		in := "''"
		if len(orgIDs) > 0 {
			in += ", " + store.In(&args, orgIDs)
		}
		q += ` WHERE org_id IN (` + in + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY control_id, org_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	defer rows.Close()
	out := []Assignment{}
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, fmt.Errorf("assignments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Impact is what promoting an assignment to enforce would affect.
type Impact struct {
	Environments int `json:"environments"`
	Resources    int `json:"resources"`
	// Details names each environment and the resources that fail now.
	Details map[string][]string `json:"details"`
}

// Promote switches an assignment of a preventive control to enforce. The
// caller shows impact first; confirm must repeat the assignment's id, and
// the impact shown is recorded with the promotion.
func (s *Service) Promote(ctx context.Context, by authz.Principal, id, confirm string, impact Impact) (Assignment, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Assignment{}, err
	}
	c, ok := s.catalog(a.ControlID)
	switch {
	case !ok:
		return Assignment{}, fault.Conflictf("control %s is no longer in the catalog", a.ControlID)
	case !c.Has(controls.Preventive):
		return Assignment{}, fault.InvalidField("mode", "control %s is not preventive: it can only detect", a.ControlID)
	case a.Mode == Enforce:
		return a, nil
	case confirm != a.ID:
		return Assignment{}, fault.InvalidField("confirm", "enforcing %s refuses actions in %d environments (%d resources fail it now): repeat the assignment's id %s in confirm to go ahead",
			a.ControlID, impact.Environments, impact.Resources, a.ID)
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE control_assignments SET mode = $1, promoted_by = $2, promoted_at = $3, updated_at = $3 WHERE id = $4`,
			string(Enforce), by.PersonID, now, a.ID); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "control.promote", OrgID: a.OrgID, Target: a.ControlID,
			Details: map[string]any{"assignment": a.ID, "environments": impact.Environments, "resources": impact.Resources}})
	})
	if err != nil {
		return Assignment{}, fmt.Errorf("promote %s: %w", a.ID, err)
	}
	a.Mode, a.PromotedBy, a.PromotedAt, a.UpdatedAt = Enforce, by.PersonID, &now, now
	return a, nil
}

// Unassign removes an assignment.
func (s *Service) Unassign(ctx context.Context, by authz.Principal, id string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM control_assignments WHERE id = $1`, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "control.unassign", OrgID: a.OrgID, Target: a.ControlID,
			Details: map[string]any{"assignment": a.ID, "mode": a.Mode}})
	})
}

// Effective is the controls that apply to an environment, by id, with
// their strongest mode: those assigned to its organisation, an ancestor or
// every organisation, less its approved, unexpired exceptions.
func (s *Service) Effective(ctx context.Context, envID string, orgAndAncestors []string) (map[string]Mode, error) {
	as, err := s.List(ctx, orgAndAncestors)
	if err != nil {
		return nil, err
	}
	out := map[string]Mode{}
	for _, a := range as {
		if out[a.ControlID] != Enforce {
			out[a.ControlID] = a.Mode
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT control_id FROM control_exceptions WHERE env_id = $1 AND status = $2 AND expires_at > $3`,
		envID, string(Approved), s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("exceptions of %s: %w", envID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		delete(out, id)
	}
	return out, rows.Err()
}

const exceptionColumns = `id, env_id, org_id, control_id, reason, status, requested_by, requested_at, expires_at, decided_by, decided_at, note`

func scanException(row interface{ Scan(...any) error }) (Exception, error) {
	var e Exception
	var by sql.NullString
	var at sql.NullTime
	if err := row.Scan(&e.ID, &e.EnvID, &e.OrgID, &e.ControlID, &e.Reason, &e.Status, &e.RequestedBy, &e.RequestedAt, &e.ExpiresAt, &by, &at, &e.Note); err != nil {
		return Exception{}, err
	}
	e.RequestedAt, e.ExpiresAt, e.DecidedBy = e.RequestedAt.UTC(), e.ExpiresAt.UTC(), by.String
	if at.Valid {
		t := at.Time.UTC()
		e.DecidedAt = &t
	}
	return e, nil
}

// RequestException asks for envID (of orgID) to be excused from a control
// until expiresAt. The caller has authorized (the environment's tenant).
func (s *Service) RequestException(ctx context.Context, by authz.Principal, envID, orgID, controlID, reason string, expiresAt time.Time) (Exception, error) {
	reason = strings.TrimSpace(reason)
	now := s.now().UTC()
	switch n := utf8.RuneCountInString(reason); {
	case n < 10:
		return Exception{}, fault.InvalidField("reason", "say why in at least 10 characters; the central operators decide on it")
	case n > 2000:
		return Exception{}, fault.InvalidField("reason", "the reason may be at most 2,000 characters")
	case !expiresAt.After(now):
		return Exception{}, fault.InvalidField("expires_at", "an exception must expire in the future")
	case expiresAt.Sub(now) > MaxExceptionDuration:
		return Exception{}, fault.InvalidField("expires_at", "an exception may last at most a year; ask again when it lapses")
	}
	if _, ok := s.catalog(controlID); !ok {
		return Exception{}, fault.InvalidField("control_id", "no control %q in the catalog", controlID)
	}
	id := store.NewID("ex")
	e := Exception{ID: id, EnvID: envID, OrgID: orgID, ControlID: controlID, Reason: reason, Status: Requested, RequestedBy: by.PersonID,
		RequestedAt: now, ExpiresAt: expiresAt.UTC()}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var open string
		err := tx.QueryRowContext(ctx, `SELECT id FROM control_exceptions WHERE env_id = $1 AND control_id = $2 AND status IN ('requested', 'approved') AND expires_at > $3`,
			envID, controlID, now).Scan(&open)
		if err == nil {
			return fault.Conflictf("environment %s already has exception %s for %s", envID, open, controlID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO control_exceptions (id, env_id, org_id, control_id, reason, status, requested_by, requested_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, e.ID, envID, orgID, controlID, reason, string(Requested), by.PersonID, now, e.ExpiresAt); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "control.exception.request", OrgID: orgID, Target: envID,
			Details: map[string]any{"exception": e.ID, "control": controlID, "expires_at": e.ExpiresAt}})
	})
	if err != nil {
		return Exception{}, fmt.Errorf("exception for %s: %w", envID, err)
	}
	return e, nil
}

// GetException returns one exception.
func (s *Service) GetException(ctx context.Context, id string) (Exception, error) {
	e, err := scanException(s.db.QueryRowContext(ctx, `SELECT `+exceptionColumns+` FROM control_exceptions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Exception{}, fault.NotFoundf("no exception %s", id)
	}
	if err != nil {
		return Exception{}, fmt.Errorf("exception %s: %w", id, err)
	}
	return e, nil
}

// Decide approves or rejects a requested exception. The caller has
// authorized (a central operator).
func (s *Service) Decide(ctx context.Context, by authz.Principal, id string, approve bool, note string) (Exception, error) {
	e, err := s.GetException(ctx, id)
	if err != nil {
		return Exception{}, err
	}
	if e.Status != Requested {
		return Exception{}, fault.Conflictf("exception %s is %s; only a requested one is decided", id, e.Status)
	}
	now := s.now().UTC()
	if !e.ExpiresAt.After(now) {
		return Exception{}, fault.Conflictf("exception %s expired before it was decided; the tenant asks again", id)
	}
	st, action := Rejected, "control.exception.reject"
	if approve {
		st, action = Approved, "control.exception.approve"
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE control_exceptions SET status = $1, decided_by = $2, decided_at = $3, note = $4 WHERE id = $5 AND status = $6`,
			string(st), by.PersonID, now, strings.TrimSpace(note), id, string(Requested))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.Conflictf("exception %s was decided meanwhile", id)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: action, OrgID: e.OrgID, Target: e.EnvID,
			Details: map[string]any{"exception": id, "control": e.ControlID}})
	})
	if err != nil {
		return Exception{}, fmt.Errorf("decide exception %s: %w", id, err)
	}
	e.Status, e.DecidedBy, e.DecidedAt, e.Note = st, by.PersonID, &now, strings.TrimSpace(note)
	return e, nil
}

// Exceptions lists the exceptions of the given organisations (nil: all),
// newest first.
func (s *Service) Exceptions(ctx context.Context, orgIDs []string) ([]Exception, error) {
	q := `SELECT ` + exceptionColumns + ` FROM control_exceptions`
	var args []any
	if orgIDs != nil {
		if len(orgIDs) == 0 {
			return []Exception{}, nil
		}
		q += ` WHERE org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY requested_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("exceptions: %w", err)
	}
	defer rows.Close()
	out := []Exception{}
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Expire marks approved and requested exceptions past their expiry as
// expired, each with an audit entry, and returns how many lapsed. Effective
// already ignores them at their expiry; this makes the record say so.
func (s *Service) Expire(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var ids []Exception
	rows, err := s.db.QueryContext(ctx, `SELECT `+exceptionColumns+` FROM control_exceptions WHERE status IN ('requested', 'approved') AND expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("expire exceptions: %w", err)
	}
	for rows.Next() {
		e, err := scanException(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("expire exceptions: %w", err)
	}
	n := 0
	for _, e := range ids {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE control_exceptions SET status = $1 WHERE id = $2 AND status IN ('requested', 'approved')`, string(Expired), e.ID)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			n++
			return audit.Append(ctx, tx, audit.Entry{At: now, Actor: "hatoba", Action: "control.exception.expire", OrgID: e.OrgID, Target: e.EnvID,
				Details: map[string]any{"exception": e.ID, "control": e.ControlID, "was": e.Status}})
		})
		if err != nil {
			return n, fmt.Errorf("expire exception %s: %w", e.ID, err)
		}
	}
	return n, nil
}

// Run expires lapsed exceptions every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Expire(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EnsureBaseline assigns every given control to every organisation in
// detect mode when nothing is assigned at all: a fresh installation
// detects with the whole catalog from the start, and removing assignments
// later is the operators' choice, never undone here.
func (s *Service) EnsureBaseline(ctx context.Context, controlIDs []string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM control_assignments`).Scan(&n); err != nil {
		return 0, fmt.Errorf("baseline: %w", err)
	}
	if n > 0 {
		return 0, nil
	}
	hatoba := authz.Principal{PersonID: "hatoba"}
	for _, id := range controlIDs {
		if _, err := s.Assign(ctx, hatoba, id, Everywhere); err != nil && fault.KindOf(err) != fault.Conflict {
			return n, err
		}
		n++
	}
	return n, nil
}
