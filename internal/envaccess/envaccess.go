// Package envaccess owns who holds an environment's permission sets.
//
// Every environment has the same two permission sets, shared by all
// accounts (per-person sets would exhaust the provider's limit): the
// Administrator set, which may create roles inside its own account, and
// the Non-administrator set, which may only switch into roles that exist.
// Vending gives each account two groups that hold them. A tenant
// administrator assigns their own people to one of the two, which the
// provider realises as the person's membership of that group.
//
// The database is the truth: an assignment is committed as pending, with
// its audit entry, before anything is asked of the provider; the vending
// workflow (internal/vending/access.go) applies pending and removing rows
// and settles them, so a crash between the two loses nothing. Local
// autonomy rules who may be assigned: active people of the environment's
// organisation or an organisation under it — never central staff, whose
// access to a tenant goes through break-glass only.
package envaccess

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Set is one of an environment's two permission sets.
type Set string

const (
	// Administrator may create roles inside its own environment.
	Administrator Set = "administrator"
	// NonAdministrator may only switch into roles that exist.
	NonAdministrator Set = "non_administrator"
)

// Sets lists the permission sets.
var Sets = []Set{Administrator, NonAdministrator}

// Valid reports whether s is a known permission set.
func (s Set) Valid() bool { return slices.Contains(Sets, s) }

// State is how far the provider agrees with an assignment.
type State string

const (
	// Pending: committed; the person is still to be put into the set's
	// group (and taken out of the other's, when the set changed).
	Pending State = "pending"
	// Applied: the provider holds the person in the set's group.
	Applied State = "applied"
	// Removing: the person is to be taken out of both groups; the row is
	// deleted when that is done.
	Removing State = "removing"
	// Failed: the provider refused permanently (or attempts ran out);
	// LastError says why. Assigning or unassigning again tries again.
	Failed State = "failed"
)

// Assignment is one person's permission set in one environment.
type Assignment struct {
	EnvID         string `json:"env_id"`
	PersonID      string `json:"person_id"`
	PermissionSet Set    `json:"permission_set"`
	State         State  `json:"state"`
	LastError     string `json:"last_error,omitempty"`
	// AssignedBy is who gave the set: a person id, with " under <grant>"
	// when a central operator acted under break-glass.
	AssignedBy string    `json:"assigned_by"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Revision counts the changes people made to this row. A worker
	// settles only the revision it applied, so a change made while it
	// worked is applied in turn rather than marked done.
	Revision int64 `json:"-"`
}

// Unsettled reports whether the provider still has work to do for a.
func (a Assignment) Unsettled() bool { return a.State == Pending || a.State == Removing }

// Key names one assignment.
type Key struct {
	EnvID, PersonID string
}

// Envs is what envaccess needs of the environments (env.Store).
type Envs interface {
	Get(ctx context.Context, q store.Querier, id string) (env.Environment, error)
}

// People is what envaccess needs of identity (identity.Service).
type People interface {
	Person(ctx context.Context, id string) (identity.Person, error)
}

// Service is the environment access capability.
type Service struct {
	db     *store.DB
	envs   Envs
	people People
	tree   authz.Tree
	now    func() time.Time
}

// New returns the service. tree (org.Registry) places organisations; now
// is the clock (time.Now in production).
func New(db *store.DB, envs Envs, people People, tree authz.Tree, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, envs: envs, people: people, tree: tree, now: func() time.Time { return now().UTC() }}
}

// Person returns the person behind an assignment, for the provider.
func (s *Service) Person(ctx context.Context, id string) (identity.Person, error) {
	return s.people.Person(ctx, id)
}

// mayAssign is the capability's own check of who acts, behind the API's
// decision: tenant administrators, and central operators only under a
// break-glass grant.
func mayAssign(by authz.Principal, grantID string) error {
	switch {
	case by.Role == authz.TenantAdmin:
		return nil
	case by.Role == authz.CentralOperator && grantID != "":
		return nil
	case by.Role == authz.CentralOperator:
		return fault.Forbiddenf("a central operator changes an environment's permission sets only under a break-glass grant the tenant approved")
	}
	return fault.Forbiddenf("a %s may not change who holds an environment's permission sets", by.Role)
}

func actorName(by authz.Principal, grantID string) string {
	if grantID != "" {
		return by.PersonID + " under " + grantID
	}
	return by.PersonID
}

// Assign gives personID the permission set set of environment envID, or
// moves them to it from the other set. The environment must be ready: its
// groups exist and hold the sets only once vending has finished, and a
// failed or closing environment takes no new people. Assigning what a
// person already holds changes nothing. The caller has authorized by for
// the environment's organisation; grantID is the break-glass grant that
// decision rode on, if any.
func (s *Service) Assign(ctx context.Context, by authz.Principal, grantID, envID, personID string, set Set) (Assignment, error) {
	if !set.Valid() {
		return Assignment{}, fault.InvalidField("permission_set", "permission_set must be administrator or non_administrator, not %q", set)
	}
	if err := mayAssign(by, grantID); err != nil {
		return Assignment{}, err
	}
	// Reads outside the transaction: with SQLite's one connection the
	// transaction must not wait on another query.
	en, err := s.envs.Get(ctx, s.db, envID)
	if err != nil {
		return Assignment{}, err
	}
	if err := s.eligible(ctx, personID, en.OrgID); err != nil {
		return Assignment{}, err
	}
	now := s.now()
	var out Assignment
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := lockEnv(ctx, tx, s.envs, envID)
		if err != nil {
			return err
		}
		if cur.State != env.Ready {
			return fault.Conflictf("environment %s is %s; people can be given its permission sets once it is ready", envID, cur.State)
		}
		if cur.OrgID != en.OrgID {
			return fault.Conflictf("environment %s moved to organisation %s meanwhile; try again", envID, cur.OrgID)
		}
		old, found, err := get(ctx, tx, envID, personID)
		if err != nil {
			return err
		}
		if found && old.PermissionSet == set && (old.State == Pending || old.State == Applied) {
			out = old
			return nil
		}
		details := map[string]any{"person_id": personID, "permission_set": set}
		if found {
			if old.PermissionSet != set {
				details["previous_permission_set"] = old.PermissionSet
			}
			_, err = tx.ExecContext(ctx, `UPDATE env_access SET permission_set = $1, state = $2, revision = revision + 1, last_error = '',
				assigned_by = $3, updated_at = $4 WHERE env_id = $5 AND person_id = $6`,
				set, Pending, actorName(by, grantID), now, envID, personID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO env_access (env_id, person_id, permission_set, state, revision, last_error, assigned_by, created_at, updated_at)
				VALUES ($1, $2, $3, $4, 1, '', $5, $6, $6)`, envID, personID, set, Pending, actorName(by, grantID), now)
		}
		if err != nil {
			return fmt.Errorf("assign %s to %s of %s: %w", personID, set, envID, err)
		}
		if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "env.access.assign", OrgID: cur.OrgID,
			Target: envID, GrantID: grantID, Details: details}); err != nil {
			return err
		}
		out, _, err = get(ctx, tx, envID, personID)
		return err
	})
	if err != nil {
		return Assignment{}, err
	}
	return out, nil
}

// eligible applies local autonomy: only the environment's own active
// tenant people may hold its permission sets.
//
// Every person outside the environment's organisation and its subtree —
// one who does not exist, central staff, another tenant's people whether
// invited, active or disabled — gets one answer, notOwnPerson, the same
// status and words as for an id that names nobody. The caller may not see
// those people (GET /people/{id} answers them 404 too), so a different
// answer would tell a tenant administrator which ids exist elsewhere and
// what they are. Only the environment's own people, whom the caller can
// list anyway, get a specific reason (invited, disabled).
func (s *Service) eligible(ctx context.Context, personID, envOrg string) error {
	p, err := s.people.Person(ctx, personID)
	if fault.KindOf(err) == fault.NotFound {
		return notOwnPerson(personID, envOrg)
	}
	if err != nil {
		return err
	}
	if p.Role.Central() || p.OrgID == "" {
		return notOwnPerson(personID, envOrg)
	}
	in, err := s.within(ctx, p.OrgID, envOrg)
	if err != nil {
		return err
	}
	if !in {
		return notOwnPerson(personID, envOrg)
	}
	if p.Role != authz.TenantAdmin && p.Role != authz.TenantMember {
		return fault.InvalidField("person_id", "person %s has role %q, which holds no permission sets", p.ID, p.Role)
	}
	if p.State != identity.Active {
		return fault.Conflictf("person %s is %s; only an active person can be given a permission set (an invited person accepts the invitation first)", p.ID, p.State)
	}
	return nil
}

// notOwnPerson is the one answer for every person the environment's
// organisation does not hold. It repeats the id the caller sent and says
// nothing about the person, so its body is the same, less that id, whoever
// was asked for.
func notOwnPerson(personID, envOrg string) error {
	return &fault.Error{Kind: fault.NotFound, Field: "person_id", Message: fmt.Sprintf(
		"person %s is not one of the people of organisation %s or an organisation under it, or does not exist: an environment's permission sets go to its own organisation's people only, and central staff never hold them (they reach a tenant through break-glass)", personID, envOrg)}
}

// within reports whether orgID is root or lies under it.
func (s *Service) within(ctx context.Context, orgID, root string) (bool, error) {
	if orgID == "" {
		return false, nil
	}
	if orgID == root {
		return true, nil
	}
	ancestors, err := s.tree.AncestorIDs(ctx, orgID)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return false, nil
		}
		return false, fmt.Errorf("ancestors of %s: %w", orgID, err)
	}
	return slices.Contains(ancestors, root), nil
}

// Unassign takes personID's permission set of environment envID away. It
// reports false, changing nothing, when the person holds none; a removal
// already under way is returned as it is. It works in every state of the
// environment: taking access away is never blocked.
func (s *Service) Unassign(ctx context.Context, by authz.Principal, grantID, envID, personID string) (Assignment, bool, error) {
	if err := mayAssign(by, grantID); err != nil {
		return Assignment{}, false, err
	}
	now := s.now()
	var out Assignment
	var found bool
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := lockEnv(ctx, tx, s.envs, envID)
		if err != nil {
			return err
		}
		var old Assignment
		old, found, err = get(ctx, tx, envID, personID)
		if err != nil || !found {
			return err
		}
		if old.State == Removing {
			out = old
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE env_access SET state = $1, revision = revision + 1, last_error = '', updated_at = $2
			WHERE env_id = $3 AND person_id = $4`, Removing, now, envID, personID); err != nil {
			return fmt.Errorf("unassign %s from %s: %w", personID, envID, err)
		}
		if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: "env.access.unassign", OrgID: cur.OrgID,
			Target: envID, GrantID: grantID, Details: map[string]any{"person_id": personID, "permission_set": old.PermissionSet}}); err != nil {
			return err
		}
		out, _, err = get(ctx, tx, envID, personID)
		return err
	})
	if err != nil {
		return Assignment{}, false, err
	}
	return out, found, nil
}

// lockEnv reads the environment in tx, holding its row so that changes to
// one environment's access, and its transfer or close, happen one at a time.
func lockEnv(ctx context.Context, tx *store.Tx, envs Envs, envID string) (env.Environment, error) {
	if err := tx.LockRow(ctx, "environments", envID); err != nil {
		return env.Environment{}, err
	}
	return envs.Get(ctx, tx, envID)
}

const columns = `env_id, person_id, permission_set, state, revision, last_error, assigned_by, created_at, updated_at`

func scan(row interface{ Scan(...any) error }) (Assignment, error) {
	var a Assignment
	err := row.Scan(&a.EnvID, &a.PersonID, &a.PermissionSet, &a.State, &a.Revision, &a.LastError, &a.AssignedBy, &a.CreatedAt, &a.UpdatedAt)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, err
}

func get(ctx context.Context, q store.Querier, envID, personID string) (Assignment, bool, error) {
	a, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM env_access WHERE env_id = $1 AND person_id = $2`, envID, personID))
	if errors.Is(err, sql.ErrNoRows) {
		return Assignment{}, false, nil
	}
	if err != nil {
		return Assignment{}, false, fmt.Errorf("access of %s to %s: %w", personID, envID, err)
	}
	return a, true, nil
}

// Get returns one assignment.
func (s *Service) Get(ctx context.Context, envID, personID string) (Assignment, error) {
	a, found, err := get(ctx, s.db, envID, personID)
	if err != nil {
		return Assignment{}, err
	}
	if !found {
		return Assignment{}, fault.NotFoundf("person %s holds no permission set of environment %s", personID, envID)
	}
	return a, nil
}

// List returns an environment's assignments, oldest first, including
// those still being applied or removed.
func (s *Service) List(ctx context.Context, envID string) ([]Assignment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM env_access WHERE env_id = $1 ORDER BY created_at, person_id`, envID)
	if err != nil {
		return nil, fmt.Errorf("access of %s: %w", envID, err)
	}
	defer rows.Close()
	out := []Assignment{}
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("access of %s: %w", envID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Unsettled lists the assignments the provider still has to apply or
// remove, for the resumer.
func (s *Service) Unsettled(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT env_id, person_id FROM env_access WHERE state IN ($1, $2) ORDER BY updated_at`, Pending, Removing)
	if err != nil {
		return nil, fmt.Errorf("unsettled access: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.EnvID, &k.PersonID); err != nil {
			return nil, fmt.Errorf("unsettled access: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Settle records that the provider did what revision a.Revision of the
// assignment asked: a pending row becomes applied, a removing row is
// deleted. It reports false, changing nothing, when the row has changed
// since a was read; the caller applies the new revision. act is who
// records it: "system" for the worker (audit.ErrNoActor without one).
func (s *Service) Settle(ctx context.Context, act audit.Acting, a Assignment) (bool, error) {
	if err := act.Check(); err != nil {
		return false, fmt.Errorf("settle %s of %s: %w", a.PersonID, a.EnvID, err)
	}
	if !a.Unsettled() {
		return false, fmt.Errorf("settle %s of %s: state %s has nothing to settle", a.PersonID, a.EnvID, a.State)
	}
	now := s.now()
	settled := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		settled = false
		var res sql.Result
		var err error
		action := "env.access.applied"
		if a.State == Pending {
			res, err = tx.ExecContext(ctx, `UPDATE env_access SET state = $1, last_error = '', updated_at = $2
				WHERE env_id = $3 AND person_id = $4 AND revision = $5 AND state = $6`, Applied, now, a.EnvID, a.PersonID, a.Revision, Pending)
		} else {
			action = "env.access.removed"
			res, err = tx.ExecContext(ctx, `DELETE FROM env_access WHERE env_id = $1 AND person_id = $2 AND revision = $3 AND state = $4`,
				a.EnvID, a.PersonID, a.Revision, Removing)
		}
		if err != nil {
			return fmt.Errorf("settle %s of %s: %w", a.PersonID, a.EnvID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		settled = true
		return s.record(ctx, tx, act, a, action, map[string]any{"person_id": a.PersonID, "permission_set": a.PermissionSet})
	})
	return settled && err == nil, err
}

// Fail records that the provider refused revision a.Revision for good; the
// row keeps its set and shows the reason until someone assigns or
// unassigns again. It reports false when the row has changed since. act
// is who records it, as for Settle.
func (s *Service) Fail(ctx context.Context, act audit.Acting, a Assignment, reason string) (bool, error) {
	if err := act.Check(); err != nil {
		return false, fmt.Errorf("record failure of %s in %s: %w", a.PersonID, a.EnvID, err)
	}
	now := s.now()
	failed := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		failed = false
		res, err := tx.ExecContext(ctx, `UPDATE env_access SET state = $1, last_error = $2, updated_at = $3
			WHERE env_id = $4 AND person_id = $5 AND revision = $6 AND state IN ($7, $8)`,
			Failed, reason, now, a.EnvID, a.PersonID, a.Revision, Pending, Removing)
		if err != nil {
			return fmt.Errorf("record failure of %s in %s: %w", a.PersonID, a.EnvID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		failed = true
		return s.record(ctx, tx, act, a, "env.access.failed", map[string]any{"person_id": a.PersonID, "permission_set": a.PermissionSet,
			"was": a.State, "error": reason})
	})
	return failed && err == nil, err
}

// NoteError records a failed attempt that will be retried, so the listing
// shows why an assignment is slow. It is progress, not a change of
// outcome, and is not audited.
func (s *Service) NoteError(ctx context.Context, a Assignment, msg string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE env_access SET last_error = $1 WHERE env_id = $2 AND person_id = $3 AND revision = $4`,
		msg, a.EnvID, a.PersonID, a.Revision)
	if err != nil {
		return fmt.Errorf("record error of %s in %s: %w", a.PersonID, a.EnvID, err)
	}
	return nil
}

// record appends the workflow's audit entry about a, acted by act, for the
// environment's organisation, in tx.
func (s *Service) record(ctx context.Context, tx *store.Tx, act audit.Acting, a Assignment, action string, details map[string]any) error {
	en, err := s.envs.Get(ctx, tx, a.EnvID)
	if err != nil {
		return err
	}
	return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: act.Actor, GrantID: act.GrantID, Action: action, OrgID: en.OrgID,
		Target: a.EnvID, Details: details})
}

// RevokeDisabled takes every permission set away from people who are
// disabled: their rows become removing (with an audit entry each, about
// the environment's organisation), and the worker takes them out of the
// provider's groups. A disabled person can no longer sign in to hatoba,
// but a group membership is access to the cloud account itself, so it
// must go too. The API calls this right after disabling someone; the
// resumer calls it as well, so a crash in between loses nothing.
func (s *Service) RevokeDisabled(ctx context.Context) ([]Key, error) {
	now := s.now()
	var keys []Key
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		keys = nil
		rows, err := tx.QueryContext(ctx, `SELECT a.env_id, a.person_id, a.permission_set, e.org_id FROM env_access a
			JOIN people p ON p.id = a.person_id JOIN environments e ON e.id = a.env_id
			WHERE p.state = $1 AND a.state <> $2 ORDER BY a.env_id, a.person_id`, string(identity.Disabled), Removing)
		if err != nil {
			return err
		}
		type row struct{ envID, personID, set, orgID string }
		var due []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.envID, &r.personID, &r.set, &r.orgID); err != nil {
				rows.Close()
				return err
			}
			due = append(due, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, r := range due {
			if _, err := tx.ExecContext(ctx, `UPDATE env_access SET state = $1, revision = revision + 1, last_error = '', updated_at = $2
				WHERE env_id = $3 AND person_id = $4`, Removing, now, r.envID, r.personID); err != nil {
				return err
			}
			if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: "system", Action: "env.access.unassign", OrgID: r.orgID, Target: r.envID,
				Details: map[string]any{"person_id": r.personID, "permission_set": r.set, "reason": "the person was disabled"}}); err != nil {
				return err
			}
			keys = append(keys, Key{EnvID: r.envID, PersonID: r.personID})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revoke the access of disabled people: %w", err)
	}
	return keys, nil
}

// RevokeOutside, in the caller's transaction, takes an environment's
// permission sets from people who are not of orgID or below it: after a
// transfer, the old organisation's people must leave the account.
func (s *Service) RevokeOutside(ctx context.Context, tx *store.Tx, envID, orgID string) ([]Key, error) {
	rows, err := tx.QueryContext(ctx, `SELECT a.person_id, a.permission_set, COALESCE(p.org_id, '') FROM env_access a
		JOIN people p ON p.id = a.person_id WHERE a.env_id = $1 AND a.state <> $2 ORDER BY a.person_id`, envID, Removing)
	if err != nil {
		return nil, fmt.Errorf("access of %s: %w", envID, err)
	}
	type row struct{ personID, set, orgID string }
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.personID, &r.set, &r.orgID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("access of %s: %w", envID, err)
		}
		all = append(all, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("access of %s: %w", envID, err)
	}
	now := s.now()
	var keys []Key
	for _, r := range all {
		inside := r.orgID == orgID
		if !inside && r.orgID != "" {
			ancestors, err := s.tree.AncestorIDs(ctx, r.orgID)
			if err != nil {
				return nil, fmt.Errorf("access of %s: %w", envID, err)
			}
			inside = slices.Contains(ancestors, orgID)
		}
		if inside {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE env_access SET state = $1, revision = revision + 1, last_error = '', updated_at = $2
			WHERE env_id = $3 AND person_id = $4`, Removing, now, envID, r.personID); err != nil {
			return nil, fmt.Errorf("access of %s: %w", envID, err)
		}
		if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: "system", Action: "env.access.unassign", OrgID: orgID, Target: envID,
			Details: map[string]any{"person_id": r.personID, "permission_set": r.set, "reason": "the environment moved to another organisation"}}); err != nil {
			return nil, err
		}
		keys = append(keys, Key{EnvID: envID, PersonID: r.personID})
	}
	return keys, nil
}
