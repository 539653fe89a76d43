package env_test

import (
	"context"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// History replays the state changes: an environment counts in the state
// it was in at each day's end, and in Vended on the day it became ready.
func TestHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		clock := day
		s := env.NewStore(db, func() time.Time { return clock })
		a := insertEnv(t, db, s, "p-aaaaaaaaaaaaaaaa") // requested on day 0 (by the real clock: moved below)
		if _, err := db.ExecContext(ctx, `UPDATE env_events SET at = $1 WHERE env_id = $2`, day, a); err != nil {
			t.Fatal(err)
		}
		clock = day.Add(24 * time.Hour) // day 1: approved and vending
		for _, to := range []env.State{env.Approved, env.Provisioning} {
			if _, err := s.Transition(ctx, db, a, []env.State{env.Requested, env.Approved}, to, "test", ""); err != nil {
				t.Fatal(err)
			}
		}
		clock = day.Add(48 * time.Hour) // day 2: ready
		if _, err := s.Transition(ctx, db, a, []env.State{env.Provisioning}, env.Ready, "test", ""); err != nil {
			t.Fatal(err)
		}
		clock = day.Add(96 * time.Hour)
		b := insertEnv(t, db, s, "p-bbbbbbbbbbbbbbbb") // requested after the window

		ends := []time.Time{day.Add(-24 * time.Hour), day, day.Add(24 * time.Hour), day.Add(48 * time.Hour)}
		for i := range ends {
			ends[i] = ends[i].Add(11*time.Hour + 59*time.Minute) // each day's end, UTC
		}
		hist, err := s.History(ctx, nil, ends)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			state  env.State
			n      int
			vended int
		}{{env.Requested, 0, 0}, {env.Requested, 1, 0}, {env.Provisioning, 1, 0}, {env.Ready, 1, 1}}
		for i, w := range want {
			if hist[i].States[w.state] != w.n || hist[i].Vended != w.vended || len(hist[i].States) > 1 {
				t.Errorf("day %d: %+v, want %d %s and %d vended", i, hist[i], w.n, w.state, w.vended)
			}
		}
		if mine, err := s.History(ctx, []string{"lg-000000"}, ends); err != nil || mine[3].States[env.Ready] != 0 {
			t.Errorf("another organisation's history: %+v %v", mine, err)
		}
		live, err := s.LiveByOrg(ctx)
		if err != nil || live["nat-digital"] != 2 {
			t.Errorf("live by organisation %v %v (b=%s)", live, err, b)
		}
	})
}
