package posture_test

import (
	"context"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// A score's history keeps every evaluation; the subtree's history counts
// each environment with its latest evaluation up to each day's end; the
// open findings per severity and per control follow first seen and
// resolved.
func TestHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		jst := time.FixedZone("JST", 9*60*60)
		user := func(name string) controls.Resource {
			return controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/" + name, Region: "ap-northeast-1", Config: map[string]any{"name": name}}
		}
		root := controls.Resource{Provider: "aws", Type: "aws_root_account", ID: "1", Config: map[string]any{"mfa_enabled": false}}
		// Day 1 (Nov 26 JST): env-1 has two users. Day 2: one user and a
		// root account without MFA. Day 3: nothing failing. env-2 is
		// evaluated on day 2 only, clean.
		clk.t = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
		mustRecord(t, s, "env-1", user("a"), user("b"))
		clk.t = clk.t.Add(24 * time.Hour)
		mustRecord(t, s, "env-1", user("a"), root)
		mustRecord(t, s, "env-2")
		clk.t = clk.t.Add(24 * time.Hour)
		mustRecord(t, s, "env-1")

		hist, err := s.EnvScoreHistory(ctx, "env-1", time.Time{})
		if err != nil || len(hist) != 3 {
			t.Fatalf("history %+v %v", hist, err)
		}
		if hist[0].Failed != 2 || hist[1].Failed != 2 || hist[2].Failed != 0 || hist[2].Score != 100 {
			t.Fatalf("history %+v", hist)
		}

		days, err := s.OrgScoreHistory(ctx, []string{"nat-digital"}, 4, clk.t, jst)
		if err != nil || len(days) != 4 {
			t.Fatalf("org history %+v %v", days, err)
		}
		wantFailed := []int{0, 2, 2, 0} // the day before, day 1, day 2, day 3
		for i, d := range days {
			if d.Failed != wantFailed[i] {
				t.Errorf("day %d (%s): failed %d, want %d", i, d.At.In(jst).Format(time.DateOnly), d.Failed, wantFailed[i])
			}
		}
		if days[0].Checks != 0 || days[0].Score != 100 {
			t.Errorf("before any evaluation: %+v", days[0])
		}

		sev, err := s.OpenBySeverityHistory(ctx, nil, 4, clk.t, jst)
		if err != nil {
			t.Fatal(err)
		}
		wantHigh, wantCritical := []int{0, 2, 1, 0}, []int{0, 0, 1, 0}
		for i, d := range sev {
			if d.Open[controls.High] != wantHigh[i] || d.Open[controls.Critical] != wantCritical[i] {
				t.Errorf("day %d: open %v, want high %d critical %d", i, d.Open, wantHigh[i], wantCritical[i])
			}
		}
		if none, err := s.OpenBySeverityHistory(ctx, []string{}, 2, clk.t, jst); err != nil || none[1].Open[controls.High] != 0 {
			t.Errorf("no organisations: %+v %v", none, err)
		}

		// Back to day 2's estate to group by control.
		clk.t = clk.t.Add(time.Hour)
		mustRecord(t, s, "env-1", user("a"), user("b"), root)
		mustRecord(t, s, "env-2", user("c"))
		byEnv, err := s.OpenByControl(ctx, "env-1", nil, false)
		if err != nil || len(byEnv) != 2 || byEnv[0].ControlID != "aws-root-mfa" || byEnv[1].Findings != 2 {
			t.Fatalf("env-1 by control %+v %v", byEnv, err)
		}
		byOrg, err := s.OpenByControl(ctx, "", []string{"nat-digital"}, false)
		if err != nil || len(byOrg) != 2 || byOrg[1].Findings != 3 || byOrg[1].Environments != 2 {
			t.Fatalf("organisation by control %+v %v", byOrg, err)
		}
		critical, err := s.OpenByControl(ctx, "", []string{"nat-digital"}, true)
		if err != nil || len(critical) != 1 || critical[0].Severity != controls.Critical {
			t.Fatalf("critical only %+v %v", critical, err)
		}
		totals, err := s.TotalsByOrg(ctx)
		if err != nil || totals["nat-digital"].Critical != 1 || totals["nat-digital"].Failed != 4 {
			t.Fatalf("totals %+v %v", totals, err)
		}
	})
}

func mustRecord(t *testing.T, s *posture.Service, envID string, rs ...controls.Resource) {
	t.Helper()
	if _, err := s.Record(context.Background(), envID, "nat-digital", rs); err != nil {
		t.Fatal(err)
	}
}
