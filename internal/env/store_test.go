package env_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// clock is a test clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// storeFixture is an env.Store on a fresh database with two organisations
// and a clock the test moves.
func storeFixture(t *testing.T, db *store.DB) (*env.Store, *clock) {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	reg := org.New(db, clk.now)
	for _, id := range []string{"nat-a", "nat-b"} {
		if _, err := reg.Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: id, Kind: org.KindNational, NameJa: "組織 " + id}); err != nil {
			t.Fatal(err)
		}
	}
	return env.NewStore(db, clk.now), clk
}

func newEnv(now time.Time, orgID, system string) env.Environment {
	return env.Environment{ID: env.NewID(now), OrgID: orgID, SystemName: system, Purpose: env.Production,
		Classification: env.Level2, Provider: "sim", State: env.Requested, AccountEmail: system + "@example.invalid",
		UnitPath: "National/" + orgID, RequestedBy: "p-1 under g-1", CreatedAt: now, UpdatedAt: now}
}

func insert(t *testing.T, db *store.DB, s *env.Store, e env.Environment, steps ...string) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *store.Tx) error { return s.Insert(context.Background(), tx, e, steps) }); err != nil {
		t.Fatalf("insert %s: %v", e.ID, err)
	}
}

func wantKind(t *testing.T, err error, kind fault.Kind, contains string) {
	t.Helper()
	if err == nil || fault.KindOf(err) != kind || !strings.Contains(err.Error(), contains) {
		t.Fatalf("got %v (kind %s), want a %s error saying %q", err, fault.KindOf(err), kind, contains)
	}
}

// TestStoreEnvironmentLifecycle: an environment's row, states, decisions,
// history and audit entries, on SQLite and PostgreSQL.
func TestStoreEnvironmentLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := storeFixture(t, db)
		created := clk.now()
		e := newEnv(created, "nat-a", "juminhyo")
		insert(t, db, s, e, "create_account", "ready")

		got, err := s.Get(ctx, db, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrgID != "nat-a" || got.State != env.Requested || got.RequestedBy != "p-1 under g-1" || !got.CreatedAt.Equal(created) || got.ReadyAt != nil {
			t.Fatalf("read back %+v", got)
		}
		if _, err := s.Get(ctx, db, "env-0000000000000000"); err == nil {
			t.Fatal("Get of an unknown id succeeded")
		} else {
			wantKind(t, err, fault.NotFound, "env-0000000000000000")
		}

		// A second live environment for the same system and purpose is a
		// conflict; another purpose is not.
		dup := newEnv(clk.advance(time.Second), "nat-a", "juminhyo")
		err = db.InTx(ctx, func(tx *store.Tx) error { return s.Insert(ctx, tx, dup, nil) })
		wantKind(t, err, fault.Conflict, "already has a live production environment")
		dev := newEnv(clk.now(), "nat-a", "juminhyo")
		dev.Purpose = env.Development
		insert(t, db, s, dev)

		// Transitions: only from the states named; the decision records who.
		decided := clk.advance(time.Minute)
		ap, err := s.Transition(ctx, db, e.ID, []env.State{env.Requested}, env.Approved, "p-9", "looks right")
		if err != nil {
			t.Fatal(err)
		}
		if ap.State != env.Approved || ap.DecidedBy != "p-9" || ap.StateReason != "looks right" || !ap.UpdatedAt.Equal(decided) {
			t.Fatalf("approved: %+v", ap)
		}
		_, err = s.Transition(ctx, db, e.ID, []env.State{env.Requested}, env.Rejected, "p-8", "")
		wantKind(t, err, fault.Conflict, "is approved; it must be requested")
		readyAt := clk.advance(time.Minute)
		for _, to := range []env.State{env.Provisioning, env.Ready} {
			if _, err := s.Transition(ctx, db, e.ID, []env.State{env.Approved, env.Provisioning}, to, "", ""); err != nil {
				t.Fatal(err)
			}
		}
		got, err = s.Get(ctx, db, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != env.Ready || got.ReadyAt == nil || !got.ReadyAt.Equal(readyAt) || got.DecidedBy != "p-9" {
			t.Fatalf("ready: %+v", got)
		}

		evs, err := s.Events(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind)
		}
		if strings.Join(kinds, ",") != "requested,approved,provisioning,ready" || evs[1].Actor != "p-9" || evs[1].Message != "approved: looks right" {
			t.Fatalf("events: %+v", evs)
		}

		// Every event is in the audit queue, in the same transaction, about
		// the owning organisation; "person under grant" is split.
		var actor, grant, orgID string
		if err := db.QueryRowContext(ctx, `SELECT actor, grant_id, org_id FROM audit_queue WHERE action = 'env.requested' AND target = $1`, e.ID).
			Scan(&actor, &grant, &orgID); err != nil {
			t.Fatal(err)
		}
		if actor != "p-1" || grant != "g-1" || orgID != "nat-a" {
			t.Fatalf("audit entry of the request: actor %q grant %q org %q", actor, grant, orgID)
		}

		// Counting and listing by state.
		if n, err := s.CountLive(ctx, db, "nat-a"); err != nil || n != 2 {
			t.Fatalf("CountLive = %d, %v; want 2", n, err)
		}
		if _, err := s.Transition(ctx, db, dev.ID, []env.State{env.Requested}, env.Rejected, "p-9", "not now"); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountLive(ctx, db, "nat-a"); err != nil || n != 1 {
			t.Fatalf("CountLive after a rejection = %d, %v; want 1", n, err)
		}
		counts, err := s.CountByState(ctx)
		if err != nil || counts[env.Ready] != 1 || counts[env.Rejected] != 1 {
			t.Fatalf("CountByState = %v, %v", counts, err)
		}
		within, err := s.CountByStateWithin(ctx, []string{"nat-b"})
		if err != nil || len(within) != 0 {
			t.Fatalf("CountByStateWithin(nat-b) = %v, %v; want nothing", within, err)
		}
		in, err := s.InStates(ctx, env.Ready, env.Rejected)
		if err != nil || len(in) != 2 || in[0].ID > in[1].ID {
			t.Fatalf("InStates = %v, %v; want both, oldest first", in, err)
		}
		// A rejected environment frees its system for a new request.
		again := newEnv(clk.advance(time.Second), "nat-a", "juminhyo")
		again.Purpose = env.Development
		insert(t, db, s, again)
	})
}

// TestStoreSteps: a step's attempts, progress, errors, retry and finish.
func TestStoreSteps(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := storeFixture(t, db)
		e := newEnv(clk.now(), "nat-a", "zeimu")
		insert(t, db, s, e, "create_account", "tag", "ready")
		step := func(name string) env.Step {
			t.Helper()
			steps, err := s.Steps(ctx, db, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				if st.Name == name {
					return st
				}
			}
			t.Fatalf("no step %s in %+v", name, steps)
			return env.Step{}
		}
		steps, err := s.Steps(ctx, db, e.ID)
		if err != nil || len(steps) != 3 || steps[0].Position != 1 || steps[2].Name != "ready" || steps[1].State != env.StepPending {
			t.Fatalf("steps = %+v, %v", steps, err)
		}

		first := clk.now()
		must(t, s.StartStep(ctx, db, e.ID, "create_account"))
		clk.advance(time.Minute)
		must(t, s.StartStep(ctx, db, e.ID, "create_account"))
		must(t, s.SetStepDetail(ctx, db, e.ID, "create_account", "req-42"))
		must(t, s.StepError(ctx, db, e.ID, "create_account", "throttled", "slow down", false))
		st := step("create_account")
		if st.State != env.StepRunning || st.Attempts != 2 || st.Detail != "req-42" || st.LastError != "slow down" || st.ErrorClass != "throttled" ||
			st.StartedAt == nil || !st.StartedAt.Equal(first) {
			t.Fatalf("after two attempts and a retryable error: %+v", st)
		}

		must(t, s.StepError(ctx, db, e.ID, "create_account", "permanent", "no such unit", true))
		if st := step("create_account"); st.State != env.StepFailed {
			t.Fatalf("after a final error: %+v", st)
		}
		must(t, s.StartStep(ctx, db, e.ID, "tag"))
		done := clk.advance(time.Minute)
		must(t, s.FinishStep(ctx, db, e.ID, "tag"))
		if st := step("tag"); st.State != env.StepDone || st.FinishedAt == nil || !st.FinishedAt.Equal(done) || st.LastError != "" {
			t.Fatalf("finished: %+v", st)
		}

		// A retry makes the failed step pending with no attempts; what is
		// done stays done.
		must(t, s.ResetFailedSteps(ctx, db, e.ID))
		if st := step("create_account"); st.State != env.StepPending || st.Attempts != 0 {
			t.Fatalf("reset: %+v", st)
		}
		if st := step("tag"); st.State != env.StepDone {
			t.Fatalf("a done step was reset: %+v", st)
		}

		// A final failure and a finish are audited; a retryable error is not.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_queue WHERE target = $1 AND action IN ('env.step.failed', 'env.step.done')`, e.ID).Scan(&n); err != nil || n != 2 {
			t.Fatalf("step audit entries = %d, %v; want 2", n, err)
		}
	})
}

// TestStoreOwnerAndUnitMove: transfers, the unit an account moved to, and
// the pending move a crash must not lose.
func TestStoreOwnerAndUnitMove(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := storeFixture(t, db)
		e := newEnv(clk.now(), "nat-a", "kokuho")
		insert(t, db, s, e)
		other := newEnv(clk.advance(time.Second), "nat-b", "kokuho")
		insert(t, db, s, other)

		must(t, s.SetAccount(ctx, db, e.ID, "123456789012"))
		err := s.SetOwner(ctx, db, e.ID, "nat-b", "National/nat-b")
		wantKind(t, err, fault.Conflict, "already has a live environment")
		must(t, s.SetApprovalNotes(ctx, db, other.ID, "quota"))
		if _, err := s.Transition(ctx, db, other.ID, []env.State{env.Requested}, env.Rejected, "p-9", ""); err != nil {
			t.Fatal(err)
		}
		must(t, s.SetOwner(ctx, db, e.ID, "nat-b", "National/nat-b"))
		must(t, s.SetUnitMovePending(ctx, db, e.ID, true))
		got, err := s.Get(ctx, db, e.ID)
		if err != nil || got.OrgID != "nat-b" || got.UnitPath != "National/nat-b" || got.AccountID != "123456789012" {
			t.Fatalf("after the transfer: %+v, %v", got, err)
		}
		if ids, err := s.IDsWithPendingMove(ctx); err != nil || len(ids) != 1 || ids[0] != e.ID {
			t.Fatalf("pending moves = %v, %v", ids, err)
		}

		// A later transfer changed the path: the earlier move does not
		// clear the flag.
		must(t, s.SetUnitPath(ctx, db, e.ID, "National/nat-b/sub"))
		if ok, err := s.FinishUnitMove(ctx, db, e.ID, "National/nat-b"); err != nil || ok {
			t.Fatalf("FinishUnitMove with a stale path = %v, %v; want false", ok, err)
		}
		if ok, err := s.FinishUnitMove(ctx, db, e.ID, "National/nat-b/sub"); err != nil || !ok {
			t.Fatalf("FinishUnitMove = %v, %v; want true", ok, err)
		}
		if ids, err := s.IDsWithPendingMove(ctx); err != nil || len(ids) != 0 {
			t.Fatalf("pending moves after the move = %v, %v", ids, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
