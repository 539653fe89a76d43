package env

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

// StepState is the state of one vending step.
type StepState string

const (
	StepPending StepState = "pending"
	StepRunning StepState = "running"
	StepDone    StepState = "done"
	StepFailed  StepState = "failed"
)

// Step is one recorded step of an environment's workflow.
type Step struct {
	Name       string     `json:"name"`
	Position   int        `json:"position"`
	State      StepState  `json:"state"`
	Attempts   int        `json:"attempts"`
	LastError  string     `json:"last_error,omitempty"`
	ErrorClass string     `json:"error_class,omitempty"`
	Detail     string     `json:"-"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Event is one entry of an environment's history.
type Event struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor,omitempty"`
	Message string    `json:"message,omitempty"`
}

// Store reads and writes environments. Methods that take a store.Querier run
// inside the caller's transaction.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store; now is the clock (time.Now in production).
func NewStore(db *store.DB, now func() time.Time) *Store {
	return &Store{db: db, now: func() time.Time { return now().UTC() }}
}

// DB returns the database, for callers composing transactions.
func (s *Store) DB() *store.DB { return s.db }

// Now returns the store's clock reading.
func (s *Store) Now() time.Time { return s.now() }

const envColumns = `id, org_id, system_name, purpose, classification, provider, state, state_reason,
	approval_notes, account_id, account_email, unit_path, requested_by, decided_by, created_at, updated_at, ready_at`

func scanEnv(row interface{ Scan(...any) error }) (Environment, error) {
	var e Environment
	var ready sql.NullTime
	err := row.Scan(&e.ID, &e.OrgID, &e.SystemName, &e.Purpose, &e.Classification, &e.Provider, &e.State, &e.StateReason,
		&e.ApprovalNotes, &e.AccountID, &e.AccountEmail, &e.UnitPath, &e.RequestedBy, &e.DecidedBy, &e.CreatedAt, &e.UpdatedAt, &ready)
	if ready.Valid {
		t := ready.Time.UTC()
		e.ReadyAt = &t
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, err
}

// Insert stores a new environment with its steps, all pending.
func (s *Store) Insert(ctx context.Context, q store.Querier, e Environment, steps []string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO environments (`+envColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL)`,
		e.ID, e.OrgID, e.SystemName, e.Purpose, e.Classification, e.Provider, e.State, e.StateReason,
		e.ApprovalNotes, e.AccountID, e.AccountEmail, e.UnitPath, e.RequestedBy, e.DecidedBy, e.CreatedAt, e.UpdatedAt)
	if err != nil {
		if store.IsUniqueViolation(err) {
			return fault.Conflictf("organisation %s already has a live %s environment for system %q", e.OrgID, e.Purpose, e.SystemName)
		}
		return fmt.Errorf("insert environment %s: %w", e.ID, err)
	}
	for i, name := range steps {
		if _, err := q.ExecContext(ctx, `INSERT INTO vend_steps (env_id, step, position, state) VALUES ($1, $2, $3, $4)`,
			e.ID, name, i+1, StepPending); err != nil {
			return fmt.Errorf("insert step %s of %s: %w", name, e.ID, err)
		}
	}
	return s.AddEvent(ctx, q, e.ID, "requested", e.RequestedBy,
		fmt.Sprintf("%s %s environment for %q requested on %s (%s)", e.OrgID, e.Purpose, e.SystemName, e.Provider, e.Classification))
}

// Get returns one environment.
func (s *Store) Get(ctx context.Context, q store.Querier, id string) (Environment, error) {
	e, err := scanEnv(q.QueryRowContext(ctx, `SELECT `+envColumns+` FROM environments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Environment{}, fault.NotFoundf("environment %s not found", id)
	}
	if err != nil {
		return Environment{}, fmt.Errorf("get environment %s: %w", id, err)
	}
	return e, nil
}

// EnvironmentOfAccount finds the environment that holds a provider
// account (or project) id: findings from outside name the account
// (internal/notify attributes them with it).
func (s *Store) EnvironmentOfAccount(ctx context.Context, accountID string) (envID, orgID string, err error) {
	if accountID == "" {
		return "", "", fault.NotFoundf("no environment with an empty account id")
	}
	err = s.db.QueryRowContext(ctx, `SELECT id, org_id FROM environments WHERE account_id = $1 ORDER BY created_at DESC LIMIT 1`, accountID).Scan(&envID, &orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fault.NotFoundf("no environment with account %s", accountID)
	}
	if err != nil {
		return "", "", fmt.Errorf("environment of account %s: %w", accountID, err)
	}
	return envID, orgID, nil
}

// ListParams filter and page a listing.
type ListParams struct {
	OrgID string
	// Within, when not nil, limits the listing to these organisations (the
	// caller's scope); an empty, non-nil slice lists nothing.
	Within []string
	State  State
	Limit  int
	Cursor string // the id after which to continue
}

// Page is one page of a listing, newest first.
type Page struct {
	Items      []Environment `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// List returns environments newest first, optionally filtered.
func (s *Store) List(ctx context.Context, p ListParams) (Page, error) {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	if p.Limit > 500 {
		return Page{}, fault.InvalidField("limit", "limit %d is above the maximum of 500", p.Limit)
	}
	if p.State != "" && !oneOf(p.State, States) {
		return Page{}, fault.InvalidField("state", "unknown state %q", p.State)
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if p.OrgID != "" {
		add("org_id = $%d", p.OrgID)
	}
	if p.Within != nil {
		if len(p.Within) == 0 {
			return Page{Items: []Environment{}}, nil
		}
		where = append(where, "org_id IN ("+store.In(&args, p.Within)+")")
	}
	if p.State != "" {
		add("state = $%d", p.State)
	}
	if p.Cursor != "" {
		add("id < $%d", p.Cursor)
	}
	query := `SELECT ` + envColumns + ` FROM environments`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", p.Limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	page := Page{Items: []Environment{}}
	for rows.Next() {
		e, err := scanEnv(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list environments: %w", err)
		}
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list environments: %w", err)
	}
	if len(page.Items) > p.Limit {
		page.Items = page.Items[:p.Limit]
		page.NextCursor = page.Items[p.Limit-1].ID
	}
	return page, nil
}

// CountLive counts an organisation's environments that hold or will hold an
// account, for the quota rule.
func (s *Store) CountLive(ctx context.Context, q store.Querier, orgID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM environments WHERE org_id = $1 AND state <> $2 AND state <> $3`,
		orgID, Rejected, Closed).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count environments of %s: %w", orgID, err)
	}
	return n, nil
}

// LiveOfSystem lists an organisation's live environments of one system
// (every purpose), for the rule that keeps a system on one provider.
func (s *Store) LiveOfSystem(ctx context.Context, q store.Querier, orgID, system string) ([]Environment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+envColumns+` FROM environments
		WHERE org_id = $1 AND system_name = $2 AND state <> $3 AND state <> $4 ORDER BY id`, orgID, system, Rejected, Closed)
	if err != nil {
		return nil, fmt.Errorf("environments of system %q of %s: %w", system, orgID, err)
	}
	defer rows.Close()
	var out []Environment
	for rows.Next() {
		e, err := scanEnv(rows)
		if err != nil {
			return nil, fmt.Errorf("environments of system %q of %s: %w", system, orgID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("environments of system %q of %s: %w", system, orgID, err)
	}
	return out, nil
}

// CountByState counts environments per state, for metrics and the console.
func (s *Store) CountByState(ctx context.Context) (map[State]int, error) {
	return s.countByState(ctx, `SELECT state, COUNT(*) FROM environments GROUP BY state`)
}

// CountByStateWithin counts the environments of the organisations within
// (a caller's scope) per state, in one aggregate query: a dashboard of a
// prefecture's subtree must not read its environments to count them.
func (s *Store) CountByStateWithin(ctx context.Context, within []string) (map[State]int, error) {
	if len(within) == 0 {
		return map[State]int{}, nil
	}
	out := map[State]int{}
	// Chunks keep the parameters under SQLite's limit for a national subtree.
	for start := 0; start < len(within); start += 5000 {
		var args []any
		in := store.In(&args, within[start:min(start+5000, len(within))])
		part, err := s.countByState(ctx, `SELECT state, COUNT(*) FROM environments WHERE org_id IN (`+in+`) GROUP BY state`, args...)
		if err != nil {
			return nil, err
		}
		for st, n := range part {
			out[st] += n
		}
	}
	return out, nil
}

func (s *Store) countByState(ctx context.Context, query string, args ...any) (map[State]int, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count environments: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var st State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// InStates returns the environments in any of states, oldest first, in
// one query: the resumer reads thousands of them at a time.
func (s *Store) InStates(ctx context.Context, states ...State) ([]Environment, error) {
	var args []any
	rows, err := s.db.QueryContext(ctx, `SELECT `+envColumns+` FROM environments WHERE state IN (`+store.In(&args, states)+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("environments in %v: %w", states, err)
	}
	defer rows.Close()
	var out []Environment
	for rows.Next() {
		e, err := scanEnv(rows)
		if err != nil {
			return nil, fmt.Errorf("environments in %v: %w", states, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Transition moves an environment from one of the from states to state to,
// records why, and returns the updated environment. It fails with Conflict
// when the environment is in another state, so two racing callers cannot
// both succeed.
func (s *Store) Transition(ctx context.Context, q store.Querier, id string, from []State, to State, actor, reason string) (Environment, error) {
	now := s.now()
	args := []any{to, reason, now, id}
	fromStates := store.In(&args, from)
	set := "state = $1, state_reason = $2, updated_at = $3"
	if to == Ready {
		set += ", ready_at = $3"
	}
	if to == Approved || to == Rejected {
		args = append(args, actor)
		set += fmt.Sprintf(", decided_by = $%d", len(args))
	}
	res, err := q.ExecContext(ctx, `UPDATE environments SET `+set+` WHERE id = $4 AND state IN (`+fromStates+`)`, args...)
	if err != nil {
		return Environment{}, fmt.Errorf("transition %s to %s: %w", id, to, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur, err := s.Get(ctx, q, id)
		if err != nil {
			return Environment{}, err
		}
		return Environment{}, fault.Conflictf("environment %s is %s; it must be %s to become %s", id, cur.State, joinStates(from), to)
	}
	msg := string(to)
	if reason != "" {
		msg += ": " + reason
	}
	if err := s.AddEvent(ctx, q, id, string(to), actor, msg); err != nil {
		return Environment{}, err
	}
	return s.Get(ctx, q, id)
}

func joinStates(ss []State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " or ")
}

// SetApprovalNotes records why the approval rules did not approve by themselves.
func (s *Store) SetApprovalNotes(ctx context.Context, q store.Querier, id, notes string) error {
	_, err := q.ExecContext(ctx, `UPDATE environments SET approval_notes = $1 WHERE id = $2`, notes, id)
	if err != nil {
		return fmt.Errorf("set approval notes of %s: %w", id, err)
	}
	return nil
}

// SetAccount records the provider account id of an environment.
func (s *Store) SetAccount(ctx context.Context, q store.Querier, id, accountID string) error {
	_, err := q.ExecContext(ctx, `UPDATE environments SET account_id = $1, updated_at = $2 WHERE id = $3`, accountID, s.now(), id)
	if err != nil {
		return fmt.Errorf("set account of %s: %w", id, err)
	}
	return nil
}

// SetOwner moves an environment to another organisation and unit path.
func (s *Store) SetOwner(ctx context.Context, q store.Querier, id, orgID, unitPath string) error {
	_, err := q.ExecContext(ctx, `UPDATE environments SET org_id = $1, unit_path = $2, updated_at = $3 WHERE id = $4`, orgID, unitPath, s.now(), id)
	if err != nil {
		if store.IsUniqueViolation(err) {
			return fault.Conflictf("the target organisation already has a live environment for this system and purpose")
		}
		return fmt.Errorf("set owner of %s: %w", id, err)
	}
	return nil
}

// SetUnitPath records the unit an environment's account was moved to.
func (s *Store) SetUnitPath(ctx context.Context, q store.Querier, id, unitPath string) error {
	_, err := q.ExecContext(ctx, `UPDATE environments SET unit_path = $1, updated_at = $2 WHERE id = $3`, unitPath, s.now(), id)
	if err != nil {
		return fmt.Errorf("set unit of %s: %w", id, err)
	}
	return nil
}

// AddEvent appends to an environment's history, and to the audit log in
// the same transaction.
func (s *Store) AddEvent(ctx context.Context, q store.Querier, id, kind, actor, message string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO env_events (env_id, at, kind, actor, message) VALUES ($1, $2, $3, $4, $5)`,
		id, s.now(), kind, actor, message)
	if err != nil {
		return fmt.Errorf("record event %s of %s: %w", kind, id, err)
	}
	return s.record(ctx, q, id, "env."+kind, actor, map[string]any{"message": message})
}

// record appends an audit entry about environment id in q's transaction,
// about the organisation that owns it, so its tenant sees it. An actor
// "person under grant" (see api) splits into the person and the grant.
func (s *Store) record(ctx context.Context, q store.Querier, id, action, actor string, details map[string]any) error {
	var orgID string
	if err := q.QueryRowContext(ctx, `SELECT org_id FROM environments WHERE id = $1`, id).Scan(&orgID); err != nil {
		return fmt.Errorf("audit %s of %s: %w", action, id, err)
	}
	person, grant, _ := strings.Cut(actor, " under ")
	if person == "" {
		person = "system"
	}
	return audit.Append(ctx, q, audit.Entry{At: s.now(), Actor: person, Action: action, OrgID: orgID, Target: id, GrantID: grant, Details: details})
}

// Events returns an environment's history, oldest first.
func (s *Store) Events(ctx context.Context, id string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, kind, actor, message FROM env_events WHERE env_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.ID, &ev.At, &ev.Kind, &ev.Actor, &ev.Message); err != nil {
			return nil, err
		}
		ev.At = ev.At.UTC()
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Steps returns an environment's workflow steps in order.
func (s *Store) Steps(ctx context.Context, q store.Querier, id string) ([]Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT step, position, state, attempts, last_error, error_class, detail, started_at, finished_at
		FROM vend_steps WHERE env_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, fmt.Errorf("steps of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Step{}
	for rows.Next() {
		var st Step
		var started, finished sql.NullTime
		if err := rows.Scan(&st.Name, &st.Position, &st.State, &st.Attempts, &st.LastError, &st.ErrorClass, &st.Detail, &started, &finished); err != nil {
			return nil, err
		}
		if started.Valid {
			t := started.Time.UTC()
			st.StartedAt = &t
		}
		if finished.Valid {
			t := finished.Time.UTC()
			st.FinishedAt = &t
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// StartStep marks a step running and counts the attempt.
func (s *Store) StartStep(ctx context.Context, q store.Querier, id, step string) error {
	_, err := q.ExecContext(ctx, `UPDATE vend_steps SET state = $1, attempts = attempts + 1, started_at = COALESCE(started_at, $2)
		WHERE env_id = $3 AND step = $4`, StepRunning, s.now(), id, step)
	if err != nil {
		return fmt.Errorf("start step %s of %s: %w", step, id, err)
	}
	return nil
}

// SetStepDetail stores a step's private progress (e.g. a provider request
// id) so that a resumed step continues instead of starting over.
func (s *Store) SetStepDetail(ctx context.Context, q store.Querier, id, step, detail string) error {
	_, err := q.ExecContext(ctx, `UPDATE vend_steps SET detail = $1 WHERE env_id = $2 AND step = $3`, detail, id, step)
	if err != nil {
		return fmt.Errorf("record progress of step %s of %s: %w", step, id, err)
	}
	return nil
}

// FinishStep marks a step done.
func (s *Store) FinishStep(ctx context.Context, q store.Querier, id, step string) error {
	_, err := q.ExecContext(ctx, `UPDATE vend_steps SET state = $1, finished_at = $2, last_error = '', error_class = ''
		WHERE env_id = $3 AND step = $4`, StepDone, s.now(), id, step)
	if err != nil {
		return fmt.Errorf("finish step %s of %s: %w", step, id, err)
	}
	return s.record(ctx, q, id, "env.step.done", "", map[string]any{"step": step})
}

// StepError records a failed attempt; final marks the step failed.
func (s *Store) StepError(ctx context.Context, q store.Querier, id, step, class, msg string, final bool) error {
	state := StepRunning
	if final {
		state = StepFailed
	}
	_, err := q.ExecContext(ctx, `UPDATE vend_steps SET state = $1, last_error = $2, error_class = $3 WHERE env_id = $4 AND step = $5`,
		state, msg, class, id, step)
	if err != nil {
		return fmt.Errorf("record error of step %s of %s: %w", step, id, err)
	}
	if !final {
		return nil // an attempt that will be retried is progress, not a change of outcome
	}
	return s.record(ctx, q, id, "env.step.failed", "", map[string]any{"step": step, "class": class, "error": msg})
}

// ResetFailedSteps makes failed steps pending again for a retry.
func (s *Store) ResetFailedSteps(ctx context.Context, q store.Querier, id string) error {
	_, err := q.ExecContext(ctx, `UPDATE vend_steps SET state = $1, attempts = 0, finished_at = NULL WHERE env_id = $2 AND state <> $3`,
		StepPending, id, StepDone)
	if err != nil {
		return fmt.Errorf("reset steps of %s: %w", id, err)
	}
	return nil
}

// IdempotentResult returns the environment a creating request with this
// Idempotency-Key made earlier, or "" when the key is new. Keys belong to
// the principal that sent them (Request.Principal): another principal's
// use of the same key is a different key. A key the same principal reused
// for a different request is a Conflict: the client has a bug, and
// guessing which request it meant could make a second environment.
func (s *Store) IdempotentResult(ctx context.Context, q store.Querier, principal, key, requestHash string) (string, error) {
	var envID, hash string
	err := q.QueryRowContext(ctx, `SELECT env_id, request_hash FROM idempotency_keys WHERE principal = $1 AND key = $2`,
		principal, key).Scan(&envID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("idempotency key: %w", err)
	}
	if hash != requestHash {
		return "", fault.Conflictf("Idempotency-Key %q was already used for a different request", key)
	}
	return envID, nil
}

// RememberIdempotency records which environment principal's key created.
// Two racing requests of one principal with one key collide here; the
// loser's transaction rolls back.
func (s *Store) RememberIdempotency(ctx context.Context, q store.Querier, principal, key, requestHash, envID string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, env_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
		principal, key, requestHash, envID, s.now())
	if err != nil {
		return fmt.Errorf("remember idempotency key: %w", err)
	}
	return nil
}

// SetUnitMovePending marks that the account must still be moved to the
// environment's unit path (after a transfer), so a crash cannot lose the move.
func (s *Store) SetUnitMovePending(ctx context.Context, q store.Querier, id string, pending bool) error {
	_, err := q.ExecContext(ctx, `UPDATE environments SET unit_move_pending = $1 WHERE id = $2`, pending, id)
	if err != nil {
		return fmt.Errorf("mark unit move of %s: %w", id, err)
	}
	return nil
}

// FinishUnitMove clears the pending move if the environment's unit path is
// still unitPath, the one the account was moved to. It reports false when a
// later transfer changed the path meanwhile: that move is still owed.
func (s *Store) FinishUnitMove(ctx context.Context, q store.Querier, id, unitPath string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE environments SET unit_move_pending = $1 WHERE id = $2 AND unit_path = $3`, false, id, unitPath)
	if err != nil {
		return false, fmt.Errorf("finish unit move of %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// IDsWithPendingMove lists environments whose account still has to move.
func (s *Store) IDsWithPendingMove(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM environments WHERE unit_move_pending = $1 ORDER BY id`, true)
	if err != nil {
		return nil, fmt.Errorf("pending moves: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
