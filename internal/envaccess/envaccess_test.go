package envaccess_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// world is an organisation tree, an environment in each interesting state
// and people of every kind, on one database.
//
//	nat-top
//	└── nat-digital   (owns the environments)
//	    └── nat-sub
//	qp-other          (a foreign tenant)
type world struct {
	db   *store.DB
	svc  *envaccess.Service
	envs *env.Store
	ids  *identity.Service

	ready, provisioning string    // environment ids
	people              personIDs // by name
}

type personIDs map[string]string

var serial atomic.Int64

func newWorld(t *testing.T, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	orgs := org.New(db, time.Now)
	for _, o := range []org.Organization{
		{ID: "nat-top", Kind: org.KindNational, NameJa: "上位庁"},
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", ParentID: "nat-top"},
		{ID: "nat-sub", Kind: org.KindNational, NameJa: "下位庁", ParentID: "nat-digital"},
		{ID: "qp-other", Kind: org.KindQuasiPublic, NameJa: "他の法人"},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{db: db, envs: env.NewStore(db, time.Now), people: personIDs{}}
	w.ids = identity.New(db, identity.Options{InvitationTTL: time.Hour}, nil)
	w.svc = envaccess.New(db, w.envs, w.ids, orgs, nil)
	for i, st := range []env.State{env.Ready, env.Provisioning} {
		now := time.Now().UTC()
		en := env.Environment{ID: env.NewID(now), OrgID: "nat-digital", SystemName: fmt.Sprint("sys", i), Purpose: env.Production,
			Classification: env.Level2, Provider: "sim", State: st, AccountEmail: "x@example.invalid", CreatedAt: now, UpdatedAt: now}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return w.envs.Insert(ctx, tx, en, nil) }); err != nil {
			t.Fatal(err)
		}
		if st == env.Ready {
			w.ready = en.ID
		} else {
			w.provisioning = en.ID
		}
	}
	for _, p := range []struct {
		name   string
		role   authz.Role
		orgID  string
		active bool
	}{
		{"admin", authz.TenantAdmin, "nat-digital", true},
		{"member", authz.TenantMember, "nat-digital", true},
		{"sub", authz.TenantMember, "nat-sub", true},
		{"top", authz.TenantMember, "nat-top", true},
		{"foreign", authz.TenantMember, "qp-other", true},
		{"invited", authz.TenantMember, "nat-digital", false},
		{"operator", authz.CentralOperator, "", true},
		{"auditor", authz.CentralAuditor, "", true},
	} {
		person, token, err := w.ids.Bootstrap(ctx, identity.Invitation{Role: p.role, OrgID: p.orgID, DisplayName: "山田 " + p.name})
		if err != nil {
			t.Fatal(err)
		}
		if p.active {
			cert := identity.Certificate{IssuerDN: "CN=Test CA", Serial: fmt.Sprint(serial.Add(1)), NotAfter: time.Now().Add(time.Hour)}
			if _, err := w.ids.Accept(ctx, token, cert); err != nil {
				t.Fatal(err)
			}
		}
		w.people[p.name] = person.ID
	}
	return w
}

func (w *world) principal(name string) authz.Principal {
	switch name {
	case "operator":
		return authz.Principal{PersonID: w.people[name], Role: authz.CentralOperator}
	case "member":
		return authz.Principal{PersonID: w.people[name], Role: authz.TenantMember, OrgID: "nat-digital"}
	}
	return authz.Principal{PersonID: w.people["admin"], Role: authz.TenantAdmin, OrgID: "nat-digital"}
}

type auditRow struct {
	Actor, Action, OrgID, Target, GrantID string
	Details                               map[string]any
}

// audits returns the audit entries queued so far with action, oldest first.
func (w *world) audits(t *testing.T, action string) []auditRow {
	t.Helper()
	rows, err := w.db.QueryContext(context.Background(), `SELECT actor, action, org_id, target, grant_id, details FROM audit_queue WHERE action = $1 ORDER BY id`, action)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var details string
		if err := rows.Scan(&r.Actor, &r.Action, &r.OrgID, &r.Target, &r.GrantID, &details); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAssignRules(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		tests := []struct {
			name    string
			by      string // principal; "admin" when empty
			grant   string
			env     string // "provisioning", "unknown"; the ready one when empty
			person  string // name in w.people, or a literal id
			set     envaccess.Set
			kind    fault.Kind // "" for success
			field   string
			wantRev int64
		}{
			{name: "ok/member of the organisation", person: "member", set: envaccess.NonAdministrator, wantRev: 1},
			{name: "ok/the same again changes nothing", person: "member", set: envaccess.NonAdministrator, wantRev: 1},
			{name: "ok/moving to the other set", person: "member", set: envaccess.Administrator, wantRev: 2},
			{name: "ok/person of an organisation below", person: "sub", set: envaccess.NonAdministrator, wantRev: 1},
			{name: "ok/an administrator assigns themselves", person: "admin", set: envaccess.Administrator, wantRev: 1},
			{name: "ok/operator under a grant", by: "operator", grant: "g-1", person: "sub", set: envaccess.Administrator, wantRev: 2},
			{name: "fail/unknown permission set", person: "member", set: "PowerUser", kind: fault.Invalid, field: "permission_set"},
			{name: "fail/empty permission set", person: "member", set: "", kind: fault.Invalid, field: "permission_set"},
			{name: "fail/central operator as the person", person: "operator", set: envaccess.Administrator, kind: fault.NotFound, field: "person_id"},
			{name: "fail/central auditor as the person", person: "auditor", set: envaccess.NonAdministrator, kind: fault.NotFound, field: "person_id"},
			{name: "fail/person of another tenant", person: "foreign", set: envaccess.NonAdministrator, kind: fault.NotFound, field: "person_id"},
			{name: "fail/person of the organisation above", person: "top", set: envaccess.NonAdministrator, kind: fault.NotFound, field: "person_id"},
			{name: "fail/invited, not yet active", person: "invited", set: envaccess.NonAdministrator, kind: fault.Conflict},
			{name: "fail/unknown person", person: "p-nobody", set: envaccess.NonAdministrator, kind: fault.NotFound, field: "person_id"},
			{name: "fail/unknown environment", env: "unknown", person: "member", set: envaccess.NonAdministrator, kind: fault.NotFound},
			{name: "fail/environment not ready", env: "provisioning", person: "member", set: envaccess.NonAdministrator, kind: fault.Conflict},
			{name: "fail/operator without a grant", by: "operator", person: "member", set: envaccess.NonAdministrator, kind: fault.Forbidden},
			{name: "fail/a member assigns", by: "member", person: "member", set: envaccess.Administrator, kind: fault.Forbidden},
		}
		for _, tt := range tests {
			envID := w.ready
			switch tt.env {
			case "provisioning":
				envID = w.provisioning
			case "unknown":
				envID = "env-00000000000000000"
			}
			personID, ok := w.people[tt.person]
			if !ok {
				personID = tt.person
			}
			a, err := w.svc.Assign(ctx, w.principal(tt.by), tt.grant, envID, personID, tt.set)
			if tt.kind != "" {
				fe, ok := fault.As(err)
				if !ok || fe.Kind != tt.kind || fe.Field != tt.field {
					t.Errorf("%s: err = %v, want %s on field %q", tt.name, err, tt.kind, tt.field)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			if a.State != envaccess.Pending || a.PermissionSet != tt.set || a.Revision != tt.wantRev || a.PersonID != personID || a.EnvID != envID {
				t.Errorf("%s: got %+v, want pending %s revision %d", tt.name, a, tt.set, tt.wantRev)
			}
		}

		assigns := w.audits(t, "env.access.assign")
		if len(assigns) != 5 {
			t.Fatalf("%d assign entries, want 5 (one per change, none for the repeat): %+v", len(assigns), assigns)
		}
		moved := assigns[1]
		if moved.Details["previous_permission_set"] != "non_administrator" || moved.Details["permission_set"] != "administrator" ||
			moved.OrgID != "nat-digital" || moved.Target != w.ready || moved.Actor != w.people["admin"] || moved.GrantID != "" {
			t.Errorf("the move's entry: %+v", moved)
		}
		byOperator := assigns[4]
		if byOperator.Actor != w.people["operator"] || byOperator.GrantID != "g-1" {
			t.Errorf("the operator's entry names %s under %q, want %s under g-1", byOperator.Actor, byOperator.GrantID, w.people["operator"])
		}
		a, err := w.svc.Get(ctx, w.ready, w.people["sub"])
		if err != nil || a.AssignedBy != w.people["operator"]+" under g-1" {
			t.Errorf("assigned_by = %q, %v", a.AssignedBy, err)
		}
	})
}

// TestLifecycle walks an assignment through the states the workflow moves
// it along, including the races the revision guards against.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		admin := w.principal("admin")
		member := w.people["member"]

		first, err := w.svc.Assign(ctx, admin, "", w.ready, member, envaccess.NonAdministrator)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := w.svc.Unsettled(ctx)
		if err != nil || len(keys) != 1 || keys[0] != (envaccess.Key{EnvID: w.ready, PersonID: member}) {
			t.Fatalf("unsettled = %v, %v", keys, err)
		}
		// The set changes while a worker applies the first revision: the
		// worker's settle must not mark the new one applied.
		second, err := w.svc.Assign(ctx, admin, "", w.ready, member, envaccess.Administrator)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := w.svc.Settle(ctx, audit.Acting{Actor: "system"}, first); err != nil || ok {
			t.Fatalf("settling a stale revision: %v, %v; want false", ok, err)
		}
		if err := w.svc.NoteError(ctx, second, "GetUserId: ThrottlingException (throttling)"); err != nil {
			t.Fatal(err)
		}
		if got, _ := w.svc.Get(ctx, w.ready, member); got.LastError == "" || got.State != envaccess.Pending {
			t.Fatalf("after a noted error: %+v", got)
		}
		if ok, err := w.svc.Settle(ctx, audit.Acting{Actor: "system"}, second); err != nil || !ok {
			t.Fatalf("settle: %v, %v", ok, err)
		}
		got, err := w.svc.Get(ctx, w.ready, member)
		if err != nil || got.State != envaccess.Applied || got.PermissionSet != envaccess.Administrator || got.LastError != "" {
			t.Fatalf("after settle: %+v, %v", got, err)
		}
		if keys, _ := w.svc.Unsettled(ctx); len(keys) != 0 {
			t.Fatalf("unsettled after settle: %v", keys)
		}

		// A refusal is kept with its reason; assigning again retries.
		third, err := w.svc.Assign(ctx, admin, "", w.ready, member, envaccess.NonAdministrator)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := w.svc.Fail(ctx, audit.Acting{Actor: "system"}, third, "CreateUser: ValidationException (permanent)"); err != nil || !ok {
			t.Fatalf("fail: %v, %v", ok, err)
		}
		if got, _ := w.svc.Get(ctx, w.ready, member); got.State != envaccess.Failed || got.LastError == "" {
			t.Fatalf("after fail: %+v", got)
		}
		if keys, _ := w.svc.Unsettled(ctx); len(keys) != 0 {
			t.Fatalf("a failed row is not the resumer's work: %v", keys)
		}
		retried, err := w.svc.Assign(ctx, admin, "", w.ready, member, envaccess.NonAdministrator)
		if err != nil || retried.State != envaccess.Pending || retried.LastError != "" {
			t.Fatalf("assigning a failed row again: %+v, %v", retried, err)
		}

		// Unassigning: removing, then deleted once the provider is done.
		removing, found, err := w.svc.Unassign(ctx, admin, "", w.ready, member)
		if err != nil || !found || removing.State != envaccess.Removing {
			t.Fatalf("unassign: %+v, %v, %v", removing, found, err)
		}
		again, found, err := w.svc.Unassign(ctx, admin, "", w.ready, member)
		if err != nil || !found || again.Revision != removing.Revision {
			t.Fatalf("unassigning twice: %+v, %v, %v; want the same removal", again, found, err)
		}
		if ok, err := w.svc.Settle(ctx, audit.Acting{Actor: "system"}, removing); err != nil || !ok {
			t.Fatalf("settle removal: %v, %v", ok, err)
		}
		if _, err := w.svc.Get(ctx, w.ready, member); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("after removal: %v, want not found", err)
		}
		if _, found, err := w.svc.Unassign(ctx, admin, "", w.ready, member); err != nil || found {
			t.Fatalf("unassigning nobody: %v, %v; want nothing to do", found, err)
		}
		if _, _, err := w.svc.Unassign(ctx, w.principal("operator"), "", w.ready, member); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("operator without a grant unassigns: %v", err)
		}
		list, err := w.svc.List(ctx, w.ready)
		if err != nil || len(list) != 0 {
			t.Fatalf("list = %+v, %v", list, err)
		}

		for action, n := range map[string]int{"env.access.assign": 4, "env.access.unassign": 1, "env.access.applied": 1,
			"env.access.failed": 1, "env.access.removed": 1} {
			rows := w.audits(t, action)
			if len(rows) != n {
				t.Errorf("%d %s entries, want %d", len(rows), action, n)
				continue
			}
			for _, r := range rows {
				if r.OrgID != "nat-digital" || r.Target != w.ready || r.Details["person_id"] != member {
					t.Errorf("%s entry %+v", action, r)
				}
			}
		}
		if rows := w.audits(t, "env.access.applied"); len(rows) == 1 && rows[0].Actor != "system" {
			t.Errorf("the workflow's entries are the system's, not %s", rows[0].Actor)
		}
	})
}

// TestWorkflowRefusesNoActor: the worker's Settle and Fail need their
// caller to say who records the outcome ("system" for the worker). The
// zero actor is a defect, refused as an internal error with the row left
// as it was and no audit entry in anyone's name.
func TestWorkflowRefusesNoActor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		a, err := w.svc.Assign(ctx, w.principal("admin"), "", w.ready, w.people["member"], envaccess.NonAdministrator)
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() (bool, error){
			"fail/settle": func() (bool, error) { return w.svc.Settle(ctx, audit.Acting{}, a) },
			"fail/fail": func() (bool, error) {
				return w.svc.Fail(ctx, audit.Acting{}, a, "CreateUser: ValidationException (permanent)")
			},
		} {
			ok, err := call()
			if ok || !errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal {
				t.Fatalf("%s: %v, %v (kind %s); want false, audit.ErrNoActor (internal)", name, ok, err, fault.KindOf(err))
			}
		}
		got, err := w.svc.Get(ctx, w.ready, a.PersonID)
		if err != nil || got.State != envaccess.Pending || got.Revision != a.Revision || got.LastError != "" {
			t.Fatalf("after refused outcomes: %+v, %v; want the pending row untouched", got, err)
		}
		for _, action := range []string{"env.access.applied", "env.access.failed"} {
			if rows := w.audits(t, action); len(rows) != 0 {
				t.Fatalf("%s entries %+v after refused outcomes; want none", action, rows)
			}
		}
	})
}

func TestListIsPerEnvironment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		for _, name := range []string{"member", "sub", "admin"} {
			if _, err := w.svc.Assign(ctx, w.principal("admin"), "", w.ready, w.people[name], envaccess.NonAdministrator); err != nil {
				t.Fatal(err)
			}
		}
		list, err := w.svc.List(ctx, w.ready)
		if err != nil || len(list) != 3 {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if other, err := w.svc.List(ctx, w.provisioning); err != nil || len(other) != 0 {
			t.Fatalf("another environment's list = %+v, %v", other, err)
		}
	})
}
