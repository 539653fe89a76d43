package vending_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

func engineWith(t *testing.T, w *world, p provider.Provider, tune func(*vending.Config)) *vending.Engine {
	t.Helper()
	cfg := vending.Config{
		Connections: []vending.Connection{{Name: "sim", Provider: p, Cap: 5, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 10,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: 20 * time.Second, Logger: quiet,
	}
	if tune != nil {
		tune(&cfg)
	}
	e, err := vending.New(w.db, w.envs, w.orgs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// waitFor polls an environment until ok says so.
func waitFor(t *testing.T, w *world, id string, within time.Duration, ok func(env.Environment) bool) env.Environment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		en, err := w.envs.Get(context.Background(), w.db, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(en) {
			return en
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s %q", id, en.State, en.StateReason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseWaitsForTheClosureQuota: a closure AWS's rolling-30-day quota
// holds back does not fail after a number of attempts; the environment
// stays closing with a reason that says so, and closes once the quota
// frees up.
func TestCloseWaitsForTheClosureQuota(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{ClosureQuota: 1, ClosureLatency: time.Hour})
		e := engineWith(t, w, w.driver(t), func(c *vending.Config) { c.CloseQuotaRetry = 100 * time.Millisecond })
		ids := w.request(t, e, 2, "nat-digital")
		for id, en := range w.waitSettled(t, ids, 30*time.Second) {
			if en.State != env.Ready {
				t.Fatalf("%s: %s %s", id, en.State, en.StateReason)
			}
		}
		ctx := context.Background()
		for _, id := range ids {
			if _, err := e.Close(ctx, id, "operator", "retired"); err != nil {
				t.Fatal(err)
			}
		}
		var closed, blocked string
		deadline := time.Now().Add(20 * time.Second)
		for closed == "" || blocked == "" {
			closed, blocked = "", ""
			for _, id := range ids {
				en, _ := w.envs.Get(ctx, db, id)
				switch {
				case en.State == env.Closed:
					closed = id
				case strings.HasPrefix(en.StateReason, vending.CloseWaitingForQuota):
					blocked = id
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("want one closed and one waiting for the quota; closed %q blocked %q", closed, blocked)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Longer than MaxAttempts retries would take: still waiting.
		time.Sleep(1500 * time.Millisecond)
		if en, _ := w.envs.Get(ctx, db, blocked); en.State != env.Closing || !strings.Contains(en.StateReason, "CLOSE_ACCOUNT_QUOTA_EXCEEDED") {
			t.Fatalf("while the quota is used up: %s %q", en.State, en.StateReason)
		}
		events, err := w.envs.Events(ctx, blocked)
		if err != nil {
			t.Fatal(err)
		}
		waits := 0
		for _, ev := range events {
			if strings.Contains(ev.Message, vending.CloseWaitingForQuota) {
				waits++
			}
		}
		if waits != 1 {
			t.Fatalf("the wait is recorded %d times, want once: %+v", waits, events)
		}
		// 31 days later, as far as the closure quota is concerned. (The
		// simulated cloud's clock cannot jump: requests signed now would
		// be refused as skewed.)
		sdb, err := sql.Open("sqlite", "file:"+w.simDB+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		if _, err := sdb.ExecContext(ctx, `UPDATE closures SET requested_at = requested_at - ?, suspends_at = suspends_at - ?`,
			int64(31*24*time.Hour), int64(31*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, blocked, 20*time.Second, func(en env.Environment) bool { return en.State == env.Closed })
		// The first account is suspended by now; the second, just closed,
		// stays PENDING_CLOSURE for the simulated cloud's hour.
		if st := w.sim.Stats(); st.PendingClosure != 1 {
			t.Fatalf("want the last closed account pending closure: %+v", st)
		}
	})
}

// TestCreationFailuresAreRetried: INTERNAL_FAILURE starts a fresh creation,
// so every environment becomes ready with one account each.
func TestCreationFailuresAreRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{CreateFailureRate: 0.5, Seed: 11})
	e := engineWith(t, w, w.driver(t), nil)
	settled := w.waitSettled(t, w.request(t, e, 6, "nat-digital"), 60*time.Second)
	assertAllReady(t, w, settled)
	if st := w.sim.Stats(); st.CreateFailuresInjected == 0 {
		t.Fatalf("no failure injected: %+v", st)
	}
}

// twiceCreating sends every CreateAccount twice, as a client whose first
// answer was lost and which retried blindly would.
type twiceCreating struct{ provider.Provider }

func (p twiceCreating) CreateAccount(ctx context.Context, spec provider.AccountSpec) (string, error) {
	if _, err := p.Provider.CreateAccount(ctx, spec); err != nil {
		return "", err
	}
	return p.Provider.CreateAccount(ctx, spec)
}

// TestConcurrentCreationIsFollowed: the second request fails with
// CONCURRENT_ACCOUNT_MODIFICATION; the workflow follows the first, in
// flight, instead of failing or creating a third.
func TestConcurrentCreationIsFollowed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{Latency: 200 * time.Millisecond})
	e := engineWith(t, w, twiceCreating{w.driver(t)}, nil)
	settled := w.waitSettled(t, w.request(t, e, 2, "nat-digital"), 60*time.Second)
	assertAllReady(t, w, settled)
	if st := w.sim.Stats(); st.CreateCalls != 4 {
		t.Fatalf("%d creations asked for, want 4 (two per environment, never a third): %+v", st.CreateCalls, st)
	}
}

// TestAccountQuotaFailsWithAdvice: beyond the organisation's account quota
// the environment fails with what the operator must ask AWS for.
func TestAccountQuotaFailsWithAdvice(t *testing.T) {
	t.Parallel()
	w := newWorld(t, storetest.Open(t, store.SQLite), simcloud.Config{MaxAccounts: 2})
	e := engineWith(t, w, w.driver(t), func(c *vending.Config) { c.Connections[0].Cap = 1 })
	settled := w.waitSettled(t, w.request(t, e, 2, "nat-digital"), 60*time.Second)
	var failed []env.Environment
	for _, en := range settled {
		if en.State == env.Failed {
			failed = append(failed, en)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].StateReason, "ACCOUNT_NUMBER_LIMIT_EXCEEDED") || !strings.Contains(failed[0].StateReason, "Service Quotas") {
		t.Fatalf("want one environment failed at the quota with advice: %+v", settled)
	}
}
