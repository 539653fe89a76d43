// Package breakglass is the only way a central operator reaches into a
// tenant's scope. The operator files an access request (organisation,
// reason, duration up to a configured maximum); it becomes a grant only
// when an administrator of that tenant AND a second central operator — not
// the requester — have approved it, each with a fresh second factor. The
// grant ends by itself at its expiry, the tenant may revoke it at any time,
// and the tenant is notified at every step. Every step is in the audit log,
// in the step's own transaction, and every action under the grant carries
// the grant's id (the request's id).
package breakglass

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
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// State is where a request is.
type State string

const (
	Pending  State = "pending"   // waiting for its two approvals
	Active   State = "active"    // approved twice: a live grant until ExpiresAt
	Denied   State = "denied"    // an approver said no
	Revoked  State = "revoked"   // ended early: by the tenant, an operator or the requester
	Expired  State = "expired"   // ran its time
	Withdrew State = "withdrawn" // the requester took it back before approval
)

// Request is an access request and, once active, the grant.
type Request struct {
	ID                 string        `json:"id"`
	RequesterID        string        `json:"requester_id"`
	OrgID              string        `json:"org_id"`
	Reason             string        `json:"reason"`
	Duration           time.Duration `json:"-"`
	DurationSeconds    int64         `json:"duration_seconds"`
	State              State         `json:"state"`
	TenantApproverID   string        `json:"tenant_approver_id,omitempty"`
	TenantApprovedAt   *time.Time    `json:"tenant_approved_at,omitempty"`
	OperatorApproverID string        `json:"operator_approver_id,omitempty"`
	OperatorApprovedAt *time.Time    `json:"operator_approved_at,omitempty"`
	DecidedBy          string        `json:"decided_by,omitempty"`
	DecisionNote       string        `json:"decision_note,omitempty"`
	StartsAt           *time.Time    `json:"starts_at,omitempty"`
	ExpiresAt          *time.Time    `json:"expires_at,omitempty"`
	CreatedAt          time.Time     `json:"created_at"`
	UpdatedAt          time.Time     `json:"updated_at"`
}

// Live reports whether the request is a grant in force at now.
func (r Request) Live(now time.Time) bool {
	return r.State == Active && r.ExpiresAt != nil && now.Before(*r.ExpiresAt)
}

// Notification tells a tenant what happened to access to its scope.
type Notification struct {
	ID        int64     `json:"id"`
	OrgID     string    `json:"org_id"`
	Kind      string    `json:"kind"`
	SubjectID string    `json:"subject_id"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// Limits on a request.
const (
	MinDuration  = 5 * time.Minute
	minReasonLen = 10
	maxReasonLen = 2000
)

// Service runs break-glass requests.
type Service struct {
	db    *store.DB
	authz *authz.Authorizer
	max   time.Duration
	now   func() time.Time
}

// New returns the service; maxDuration bounds a grant's length.
func New(db *store.DB, az *authz.Authorizer, maxDuration time.Duration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, authz: az, max: maxDuration, now: now}
}

// MaxDuration is the longest grant one may ask for.
func (s *Service) MaxDuration() time.Duration { return s.max }

// File records a central operator's request for access to orgID's subtree.
func (s *Service) File(ctx context.Context, p authz.Principal, orgID, reason string, d time.Duration) (Request, error) {
	if _, err := s.authz.Decide(ctx, p, authz.RequestAccess, authz.Resource{Kind: "organisation", OrgID: orgID}); err != nil {
		return Request{}, err
	}
	reason = strings.TrimSpace(reason)
	switch n := utf8.RuneCountInString(reason); {
	case orgID == "":
		return Request{}, fault.InvalidField("org_id", "org_id names the organisation whose scope you need")
	case n < minReasonLen:
		return Request{}, fault.InvalidField("reason", "say why you need access in at least %d characters; the tenant reads it before approving", minReasonLen)
	case n > maxReasonLen:
		return Request{}, fault.InvalidField("reason", "the reason may be at most %d characters", maxReasonLen)
	}
	if d < MinDuration || d > s.max {
		return Request{}, fault.InvalidField("duration", "duration must be from %s to %s, not %s", MinDuration, s.max, d)
	}
	id := store.NewID("bg")
	now := s.now().UTC()
	req := Request{ID: id, RequesterID: p.PersonID, OrgID: orgID, Reason: reason, Duration: d, DurationSeconds: int64(d / time.Second),
		State: Pending, CreatedAt: now, UpdatedAt: now}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM organizations WHERE id = $1`, orgID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.InvalidField("org_id", "no organisation %s", orgID)
		}
		if err != nil {
			return err
		}
		var open string
		err = tx.QueryRowContext(ctx, `SELECT id FROM access_requests WHERE requester_id = $1 AND org_id = $2 AND state = $3`,
			p.PersonID, orgID, string(Pending)).Scan(&open)
		if err == nil {
			return fault.Conflictf("you already have request %s pending for %s", open, orgID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_requests (id, requester_id, org_id, reason, duration_seconds, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, id, p.PersonID, orgID, reason, req.DurationSeconds, string(Pending), now); err != nil {
			return err
		}
		return s.record(ctx, tx, req, p.PersonID, "access.request", fmt.Sprintf("Central operator %s asks for access to your scope for %s: %s", p.PersonID, d, reason),
			map[string]any{"reason": reason, "duration_seconds": req.DurationSeconds})
	})
	if err != nil {
		return Request{}, fmt.Errorf("file access request: %w", err)
	}
	return req, nil
}

// Approve adds p's approval: a tenant administrator's for the tenant's
// half, a central operator's for the centre's. The requester cannot
// approve its own request, and each half is given once. With both, the
// grant starts.
func (s *Service) Approve(ctx context.Context, p authz.Principal, id, note string) (Request, error) {
	return s.decide(ctx, p, id, note, true)
}

// Deny refuses a pending request; either approver may.
func (s *Service) Deny(ctx context.Context, p authz.Principal, id, note string) (Request, error) {
	return s.decide(ctx, p, id, note, false)
}

func (s *Service) decide(ctx context.Context, p authz.Principal, id, note string, approve bool) (Request, error) {
	var out Request
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		req, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := s.authz.Decide(ctx, p, authz.ApproveAccess, authz.Resource{Kind: "access request", ID: id, OrgID: req.OrgID}); err != nil {
			return err
		}
		if req.State != Pending {
			return fault.Conflictf("access request %s is %s; only a pending request can be approved or denied", id, req.State)
		}
		if p.PersonID == req.RequesterID {
			return fault.Forbiddenf("you filed access request %s; a second central operator and the tenant must decide it", id)
		}
		now := s.now().UTC()
		if !approve {
			if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET state = $1, decided_by = $2, decision_note = $3, updated_at = $4 WHERE id = $5`,
				string(Denied), p.PersonID, note, now, id); err != nil {
				return err
			}
			req.State, req.DecidedBy, req.DecisionNote, req.UpdatedAt = Denied, p.PersonID, note, now
			out = req
			return s.record(ctx, tx, req, p.PersonID, "access.deny", fmt.Sprintf("%s denied access request %s", p.PersonID, id), map[string]any{"note": note})
		}
		var col string
		switch {
		case p.Role == authz.TenantAdmin:
			if req.TenantApproverID != "" {
				return fault.Conflictf("access request %s already has the tenant's approval (by %s)", id, req.TenantApproverID)
			}
			col = "tenant"
			req.TenantApproverID, req.TenantApprovedAt = p.PersonID, &now
		case p.Role == authz.CentralOperator:
			if req.OperatorApproverID != "" {
				return fault.Conflictf("access request %s already has a central operator's approval (by %s)", id, req.OperatorApproverID)
			}
			col = "operator"
			req.OperatorApproverID, req.OperatorApprovedAt = p.PersonID, &now
		default:
			return fault.Forbiddenf("a %s may not approve access requests", p.Role)
		}
		// The condition repeats the checks, so of two approvers racing for
		// the same half exactly one wins.
		res, err := tx.ExecContext(ctx, `UPDATE access_requests SET `+col+`_approver_id = $1, `+col+`_approved_at = $2, updated_at = $2
			WHERE id = $3 AND state = $4 AND `+col+`_approver_id IS NULL`, p.PersonID, now, id, string(Pending))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.Conflictf("access request %s changed meanwhile; reload it", id)
		}
		req.UpdatedAt = now
		if err := s.record(ctx, tx, req, p.PersonID, "access.approve",
			fmt.Sprintf("%s approved access request %s (%s side)", p.PersonID, id, col), map[string]any{"side": col, "note": note}); err != nil {
			return err
		}
		if req.TenantApproverID != "" && req.OperatorApproverID != "" {
			exp := now.Add(req.Duration)
			if _, err := tx.ExecContext(ctx, `UPDATE access_requests SET state = $1, starts_at = $2, expires_at = $3 WHERE id = $4`,
				string(Active), now, exp, id); err != nil {
				return err
			}
			req.State, req.StartsAt, req.ExpiresAt = Active, &now, &exp
			if err := s.record(ctx, tx, req, "system", "access.grant",
				fmt.Sprintf("Access request %s is approved twice: %s has access to your scope until %s", id, req.RequesterID, exp.Format(time.RFC3339)),
				map[string]any{"expires_at": exp}); err != nil {
				return err
			}
		}
		out = req
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("decide access request %s: %w", id, err)
	}
	return out, nil
}

// Revoke ends a pending or active request: the tenant's administrators
// may at any time, and so may central operators (the requester gives it
// back).
func (s *Service) Revoke(ctx context.Context, p authz.Principal, id, note string) (Request, error) {
	var out Request
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		req, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := s.authz.Decide(ctx, p, authz.RevokeAccess, authz.Resource{Kind: "access request", ID: id, OrgID: req.OrgID}); err != nil {
			return err
		}
		now := s.now().UTC()
		next := Revoked
		switch {
		case req.State == Pending && p.PersonID == req.RequesterID:
			next = Withdrew
		case req.State == Pending, req.Live(now):
		default:
			return fault.Conflictf("access request %s is already %s", id, s.effectiveState(req, now))
		}
		res, err := tx.ExecContext(ctx, `UPDATE access_requests SET state = $1, decided_by = $2, decision_note = $3, updated_at = $4
			WHERE id = $5 AND state = $6`, string(next), p.PersonID, note, now, id, string(req.State))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.Conflictf("access request %s changed meanwhile; reload it", id)
		}
		req.State, req.DecidedBy, req.DecisionNote, req.UpdatedAt = next, p.PersonID, note, now
		out = req
		return s.record(ctx, tx, req, p.PersonID, "access.revoke", fmt.Sprintf("%s ended access request %s", p.PersonID, id), map[string]any{"note": note, "state": next})
	})
	if err != nil {
		return Request{}, fmt.Errorf("revoke access request %s: %w", id, err)
	}
	return out, nil
}

func (s *Service) effectiveState(r Request, now time.Time) State {
	if r.State == Active && !r.Live(now) {
		return Expired
	}
	return r.State
}

// ExpireDue marks grants past their expiry as expired, with an audit entry
// and a notification each. Grants stop working at their expiry whether or
// not this has run (ActiveGrants checks the time); this keeps the record
// and the tenant informed.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.now().UTC()
	rows, err := s.db.QueryContext(ctx, `SELECT `+requestColumns+` FROM access_requests WHERE state = $1 AND expires_at <= $2`, string(Active), now)
	if err != nil {
		return 0, fmt.Errorf("expire grants: %w", err)
	}
	due, err := scanAll(rows)
	if err != nil {
		return 0, fmt.Errorf("expire grants: %w", err)
	}
	n := 0
	for _, req := range due {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE access_requests SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4`,
				string(Expired), now, req.ID, string(Active))
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return nil // another replica got there first
			}
			n++
			req.State = Expired
			return s.record(ctx, tx, req, "system", "access.expire", fmt.Sprintf("Access grant %s for %s has expired", req.ID, req.RequesterID), nil)
		})
		if err != nil {
			return n, fmt.Errorf("expire grant %s: %w", req.ID, err)
		}
	}
	return n, nil
}

// Run expires due grants every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}

// ActiveGrants returns personID's grants in force now. Expiry is checked
// here, not left to ExpireDue, so a grant never outlives its time.
func (s *Service) ActiveGrants(ctx context.Context, personID string) ([]authz.Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, org_id, expires_at FROM access_requests
		WHERE requester_id = $1 AND state = $2 AND expires_at > $3`, personID, string(Active), s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("active grants of %s: %w", personID, err)
	}
	defer rows.Close()
	var out []authz.Grant
	for rows.Next() {
		var g authz.Grant
		if err := rows.Scan(&g.ID, &g.OrgID, &g.Expiry); err != nil {
			return nil, fmt.Errorf("active grants of %s: %w", personID, err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// record appends the step to the audit log (about the tenant, so the
// tenant sees it) and notifies the tenant, in the step's transaction.
func (s *Service) record(ctx context.Context, tx *store.Tx, req Request, actor, action, message string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["requester"] = req.RequesterID
	now := s.now().UTC()
	grantID := ""
	if req.State == Active || req.State == Expired || action == "access.revoke" {
		grantID = req.ID
	}
	if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, Action: action, OrgID: req.OrgID, Target: req.ID,
		GrantID: grantID, Details: details}); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (org_id, kind, subject_id, message, created_at) VALUES ($1, $2, $3, $4, $5)`,
		req.OrgID, action, req.ID, message, now)
	return err
}

const requestColumns = `id, requester_id, org_id, reason, duration_seconds, state, tenant_approver_id, tenant_approved_at,
	operator_approver_id, operator_approved_at, decided_by, decision_note, starts_at, expires_at, created_at, updated_at`

func scan(row interface{ Scan(...any) error }) (Request, error) {
	var r Request
	var tenant, operator sql.NullString
	var tenantAt, operatorAt, starts, expires sql.NullTime
	err := row.Scan(&r.ID, &r.RequesterID, &r.OrgID, &r.Reason, &r.DurationSeconds, &r.State, &tenant, &tenantAt,
		&operator, &operatorAt, &r.DecidedBy, &r.DecisionNote, &starts, &expires, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return Request{}, err
	}
	r.Duration = time.Duration(r.DurationSeconds) * time.Second
	r.TenantApproverID, r.OperatorApproverID = tenant.String, operator.String
	ptr := func(t sql.NullTime) *time.Time {
		if !t.Valid {
			return nil
		}
		v := t.Time.UTC()
		return &v
	}
	r.TenantApprovedAt, r.OperatorApprovedAt, r.StartsAt, r.ExpiresAt = ptr(tenantAt), ptr(operatorAt), ptr(starts), ptr(expires)
	return r, nil
}

func scanAll(rows *sql.Rows) ([]Request, error) {
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func get(ctx context.Context, q store.Querier, id string) (Request, error) {
	r, err := scan(q.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM access_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fault.NotFoundf("no access request %s", id)
	}
	return r, err
}

// Get returns one request if p may see it.
func (s *Service) Get(ctx context.Context, p authz.Principal, id string) (Request, error) {
	r, err := get(ctx, s.db, id)
	if err != nil {
		return Request{}, err
	}
	if _, err := s.authz.Decide(ctx, p, authz.ReadAccess, authz.Resource{Kind: "access request", ID: id, OrgID: r.OrgID}); err != nil {
		return Request{}, err
	}
	r.State = s.effectiveState(r, s.now())
	return r, nil
}

// List returns the requests about orgIDs (all when all is set), newest
// first; the caller computed the scope.
func (s *Service) List(ctx context.Context, orgIDs []string, all bool, limit int) ([]Request, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT ` + requestColumns + ` FROM access_requests`
	var args []any
	if !all {
		if len(orgIDs) == 0 {
			return []Request{}, nil
		}
		q += ` WHERE org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	now := s.now()
	for i := range out {
		out[i].State = s.effectiveState(out[i], now)
	}
	if out == nil {
		out = []Request{}
	}
	return out, nil
}

// Notifications returns the newest notifications for orgIDs.
func (s *Service) Notifications(ctx context.Context, orgIDs []string, limit int) ([]Notification, error) {
	if len(orgIDs) == 0 {
		return []Notification{}, nil
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var args []any
	rows, err := s.db.QueryContext(ctx, `SELECT id, org_id, kind, subject_id, message, created_at FROM notifications
		WHERE org_id IN (`+store.In(&args, orgIDs)+fmt.Sprintf(`) ORDER BY id DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.ID, &n.OrgID, &n.Kind, &n.SubjectID, &n.Message, &n.CreatedAt); err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
