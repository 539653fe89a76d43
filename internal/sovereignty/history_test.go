package sovereignty_test

import (
	"context"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestConcentrationHistory: a day keeps its last figure per dimension,
// days accumulate, a query reaches back the days asked, and a point older
// than the retention is deleted when a new one is written.
func TestConcentrationHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, err := sovereignty.NewEngine(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		// 2026-03-01 09:30 in Japan is 00:30 UTC: the point is Japan's day.
		now := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
		facts := map[string]sovereignty.Facts{
			"env-a": {Environment: "env-a", Organization: "lg-131016", Classification: "level1", Connection: "sim", Zones: []string{"apne1-az1"}},
		}
		s := sovereignty.NewService(db, sovereignty.Options{Engine: eng, Now: func() time.Time { return now },
			Facts: func(_ context.Context, id string, _ []controls.Resource) (sovereignty.Facts, error) {
				f, ok := facts[id]
				if !ok {
					return sovereignty.Facts{}, fault.NotFoundf("no environment %s", id)
				}
				return f, nil
			}})
		for _, n := range []string{"aws-example", "openstack-domestic-example"} {
			if _, err := s.Import(ctx, readExample(t, n)); err != nil {
				t.Fatal(err)
			}
		}
		// Nothing assessed: nothing to measure, nothing kept.
		if err := s.RecordConcentration(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ConcentrationHistory(ctx, "provider", 90); err != nil || len(got) != 0 {
			t.Fatalf("history with nothing assessed: %+v %v", got, err)
		}
		assess := func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				if _, err := s.Assess(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.RecordConcentration(ctx); err != nil {
				t.Fatal(err)
			}
		}
		assess("env-a") // day 1, first figure: one provider, 10,000
		facts["env-b"] = sovereignty.Facts{Environment: "env-b", Organization: "lg-011002", Classification: "level1", Connection: "domestic"}
		assess("env-b") // day 1 again: replaces the first, 5,000
		now = now.Add(24 * time.Hour)
		facts["env-c"] = sovereignty.Facts{Environment: "env-c", Organization: "lg-011002", Classification: "level1", Connection: "domestic"}
		assess("env-c") // day 2: 2 of 3 domestic

		got, err := s.ConcentrationHistory(ctx, "provider", 90)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Day != "2026-03-01" || got[0].HHI != 5000 || got[0].Environments != 2 || got[0].Parties != 2 ||
			got[1].Day != "2026-03-02" || got[1].Top != "domestic" || got[1].Environments != 3 {
			t.Fatalf("provider history: %+v", got)
		}
		if want := (100.0/3)*(100.0/3) + (200.0/3)*(200.0/3); got[1].HHI < want-0.01 || got[1].HHI > want+0.01 {
			t.Fatalf("day 2's HHI %.2f; want %.2f", got[1].HHI, want)
		}
		if zones, err := s.ConcentrationHistory(ctx, "zone", 90); err != nil || len(zones) != 2 || zones[1].HHI != 10000 || zones[1].Top != "sim/apne1-az1" {
			t.Fatalf("zone history: %+v %v", zones, err)
		}
		if last, err := s.ConcentrationHistory(ctx, "provider", 1); err != nil || len(last) != 1 || last[0].Day != "2026-03-02" {
			t.Fatalf("the last day only: %+v %v", last, err)
		}
		for _, bad := range []struct {
			dim  string
			days int
		}{{"country", 30}, {"provider", 0}, {"provider", 401}} {
			if _, err := s.ConcentrationHistory(ctx, bad.dim, bad.days); fault.KindOf(err) != fault.Invalid {
				t.Errorf("ConcentrationHistory(%q, %d): %v; want invalid", bad.dim, bad.days, err)
			}
		}
		// Past the retention, the old days go as a new one is written.
		now = now.Add(sovereignty.ConcentrationRetention)
		assess()
		got, err = s.ConcentrationHistory(ctx, "provider", 400)
		if err != nil || len(got) != 1 || got[0].Day == "2026-03-01" || got[0].Day == "2026-03-02" {
			t.Fatalf("after the retention: %+v %v", got, err)
		}
	})
}
