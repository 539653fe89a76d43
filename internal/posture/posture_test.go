package posture_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, db *store.DB) (*posture.Service, *clock) {
	t.Helper()
	ctx := context.Background()
	if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
		t.Fatal(err)
	}
	envs := env.NewStore(db, time.Now)
	for _, id := range []string{"env-1", "env-2"} {
		if err := envs.Insert(ctx, db, env.Environment{ID: id, OrgID: "nat-digital", SystemName: id, Purpose: env.Production,
			Classification: env.Level2, Provider: "sim", State: env.Ready, AccountEmail: id + "@example.invalid"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := controls.NewEngine(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	return posture.New(db, e, c.now), c
}

// A finding opens when a resource fails, stays one finding while it keeps
// failing, resolves when the resource is fixed or gone, and reopens.
func TestFindingLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		alice := controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Region: "ap-northeast-1", Config: map[string]any{"name": "alice"}}
		role := controls.Resource{Provider: "aws", Type: "aws_iam_role", ID: "arn:aws:iam::1:role/app", Config: map[string]any{}}

		steps := []struct {
			name      string
			resources []controls.Resource
			open      int
			opened    int
			resolved  int
		}{
			{"a user is found", []controls.Resource{alice, role}, 1, 1, 0},
			{"seen again: still one finding", []controls.Resource{alice, role}, 1, 0, 0},
			{"removed: resolved", []controls.Resource{role}, 0, 0, 1},
			{"back: reopened", []controls.Resource{alice}, 1, 1, 0},
		}
		var firstSeen time.Time
		for _, st := range steps {
			clk.t = clk.t.Add(time.Hour)
			sum, err := s.Record(ctx, "env-1", "nat-digital", st.resources)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if sum.Opened != st.opened || sum.Resolved != st.resolved {
				t.Fatalf("%s: summary %+v", st.name, sum)
			}
			open, err := s.Findings(ctx, "env-1", false)
			if err != nil || len(open) != st.open {
				t.Fatalf("%s: open findings %+v %v", st.name, open, err)
			}
			if len(open) == 1 {
				if firstSeen.IsZero() {
					firstSeen = open[0].FirstSeen
				}
				if !open[0].FirstSeen.Equal(firstSeen) || !open[0].LastSeen.Equal(clk.t) {
					t.Fatalf("%s: first/last seen %v/%v, want %v/%v", st.name, open[0].FirstSeen, open[0].LastSeen, firstSeen, clk.t)
				}
			}
		}
		all, err := s.Findings(ctx, "env-1", true)
		if err != nil || len(all) != 1 || all[0].ResolvedAt != nil || all[0].Severity != controls.High {
			t.Fatalf("all findings %+v %v", all, err)
		}
		inv, err := s.Inventory(ctx, "env-1")
		if err != nil || len(inv) != 1 || inv[0].Config["name"] != "alice" {
			t.Fatalf("inventory %+v %v", inv, err)
		}

		// Scores: env-1 has one failing check out of one; env-2 none.
		sc, err := s.EnvScore(ctx, "env-1")
		if err != nil || sc.Checks != 1 || sc.Failed != 1 || sc.Score != 0 {
			t.Fatalf("env score %+v %v", sc, err)
		}
		if _, err := s.Record(ctx, "env-2", "nat-digital", []controls.Resource{role}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnvScore(ctx, "env-nope"); err == nil || !strings.Contains(err.Error(), "not been evaluated") {
			t.Fatalf("never evaluated: %v", err)
		}
		osc, err := s.OrgScore(ctx, []string{"nat-digital"})
		if err != nil || osc.Environments != 2 || osc.Resources != 2 || osc.Failed != 1 {
			t.Fatalf("org score %+v %v", osc, err)
		}
	})
}

func TestOCSF(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var c controls.Control
	for _, x := range cs {
		if x.ID == "aws-iam-no-users" {
			c = x
		}
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	f := posture.Finding{ID: "f-1", EnvID: "env-1", OrgID: "nat-digital", ControlID: c.ID, ResourceID: "arn:aws:iam::1:user/alice",
		ResourceType: "aws_iam_user", Severity: controls.High, Message: "m", Status: posture.Open, FirstSeen: now, LastSeen: now}
	o := f.OCSF(c, "test")
	if o["class_uid"] != 2003 || o["type_uid"] != 200301 || o["severity_id"] != 4 {
		t.Fatalf("OCSF %v", o)
	}
	comp := o["compliance"].(map[string]any)
	if comp["status"] != "Fail" || len(comp["standards"].([]string)) == 0 {
		t.Fatalf("compliance %v", comp)
	}
	resolvedAt := now.Add(time.Hour)
	f.Status, f.ResolvedAt = posture.Resolved, &resolvedAt
	if o := f.OCSF(c, "test"); o["compliance"].(map[string]any)["status"] != "Pass" || o["status_id"] != 4 {
		t.Fatalf("resolved OCSF %v", o)
	}
}
