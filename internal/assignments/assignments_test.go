package assignments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var (
	operator = authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
	admin    = authz.Principal{PersonID: "p-admin", Role: authz.TenantAdmin, OrgID: "nat-digital"}
)

func setup(t *testing.T, db *store.DB) (*assignments.Service, *clock) {
	t.Helper()
	ctx := context.Background()
	if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
		t.Fatal(err)
	}
	if err := env.NewStore(db, time.Now).Insert(ctx, db, env.Environment{ID: "env-1", OrgID: "nat-digital", SystemName: "s", Purpose: env.Production,
		Classification: env.Level2, Provider: "sim", State: env.Ready, AccountEmail: "e@example.invalid"}, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	catalog := func(id string) (controls.Control, bool) {
		for _, c := range cs {
			if c.ID == id {
				return c, true
			}
		}
		return controls.Control{}, false
	}
	clk := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	return assignments.New(db, catalog, clk.now), clk
}

// Detect before prevent: an assignment starts in detect; promotion needs
// the confirmation, and only a preventive control can be promoted.
func TestAssignAndPromote(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		a, err := s.Assign(ctx, operator, "aws-iam-no-users", "nat-digital")
		if err != nil || a.Mode != assignments.Detect {
			t.Fatalf("assign: %+v %v", a, err)
		}
		if _, err := s.Assign(ctx, operator, "aws-iam-no-users", "nat-digital"); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("assigned twice: %v", err)
		}
		if _, err := s.Assign(ctx, operator, "no-such-control", ""); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("unknown control: %v", err)
		}
		impact := assignments.Impact{Environments: 1, Resources: 2}
		if _, err := s.Promote(ctx, operator, a.ID, "", impact); fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "1 environments (2 resources") {
			t.Fatalf("promote without confirming: %v", err)
		}
		p, err := s.Promote(ctx, operator, a.ID, a.ID, impact)
		if err != nil || p.Mode != assignments.Enforce || p.PromotedBy != "p-op" {
			t.Fatalf("promote: %+v %v", p, err)
		}
		eff, err := s.Effective(ctx, "env-1", []string{"nat-digital"})
		if err != nil || eff["aws-iam-no-users"] != assignments.Enforce {
			t.Fatalf("effective: %v %v", eff, err)
		}
		if eff, _ := s.Effective(ctx, "env-1", []string{"other-org"}); len(eff) != 0 {
			t.Fatalf("another subtree sees the assignment: %v", eff)
		}
		if err := s.Unassign(ctx, operator, a.ID); err != nil {
			t.Fatal(err)
		}
		acts := auditActions(t, db)
		if !strings.Contains(acts, "control.assign,control.promote,control.unassign") {
			t.Fatalf("audit: %s", acts)
		}
	})
}

// A tenant asks, an operator approves, the exception takes the control
// off the environment until it expires — and then the record says so.
func TestExceptions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		if _, err := s.Assign(ctx, operator, "aws-iam-no-users", assignments.Everywhere); err != nil {
			t.Fatal(err)
		}
		bad := []struct {
			name    string
			reason  string
			expires time.Time
		}{
			{"short reason", "because", clk.t.Add(time.Hour)},
			{"in the past", "the migration tool needs one IAM user", clk.t.Add(-time.Hour)},
			{"too long", "the migration tool needs one IAM user", clk.t.Add(400 * 24 * time.Hour)},
		}
		for _, b := range bad {
			if _, err := s.RequestException(ctx, admin, "env-1", "nat-digital", "aws-iam-no-users", b.reason, b.expires); fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s: %v", b.name, err)
			}
		}
		e, err := s.RequestException(ctx, admin, "env-1", "nat-digital", "aws-iam-no-users", "the migration tool needs one IAM user until March", clk.t.Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RequestException(ctx, admin, "env-1", "nat-digital", "aws-iam-no-users", "the migration tool needs one IAM user", clk.t.Add(time.Hour)); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("a second open exception: %v", err)
		}
		if eff, _ := s.Effective(ctx, "env-1", []string{"nat-digital"}); eff["aws-iam-no-users"] == "" {
			t.Fatal("a requested exception already excuses")
		}
		if _, err := s.Decide(ctx, operator, e.ID, true, "until the migration ends"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, operator, e.ID, false, ""); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("decided twice: %v", err)
		}
		if eff, _ := s.Effective(ctx, "env-1", []string{"nat-digital"}); eff["aws-iam-no-users"] != "" {
			t.Fatalf("an approved exception does not excuse: %v", eff)
		}
		clk.t = clk.t.Add(49 * time.Hour)
		if eff, _ := s.Effective(ctx, "env-1", []string{"nat-digital"}); eff["aws-iam-no-users"] == "" {
			t.Fatal("an expired exception still excuses")
		}
		if n, err := s.Expire(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		got, err := s.GetException(ctx, e.ID)
		if err != nil || got.Status != assignments.Expired {
			t.Fatalf("after expiry: %+v %v", got, err)
		}
		if n, _ := s.Expire(ctx); n != 0 {
			t.Fatal("expired twice")
		}
		if !strings.Contains(auditActions(t, db), "control.exception.request,control.exception.approve,control.exception.expire") {
			t.Fatalf("audit: %s", auditActions(t, db))
		}
	})
}

func auditActions(t *testing.T, db *store.DB) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT action FROM audit_queue WHERE action LIKE 'control.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return strings.Join(out, ",")
}
