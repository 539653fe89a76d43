package vending_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// jobTable reads and writes River's jobs the way another process would:
// through River's own client and driver, not the engine under test.
type jobTable struct {
	list func(ctx context.Context, p *river.JobListParams) (*river.JobListResult, error)
	ins  func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	exec riverdriver.Executor
}

func newJobTable(t *testing.T, db *store.DB) jobTable {
	t.Helper()
	if db.Dialect() == store.Postgres {
		d := riverpgxv5.New(db.Pool())
		c, err := river.NewClient(d, &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return jobTable{list: c.JobList, ins: c.Insert, exec: d.GetExecutor()}
	}
	d := riversqlite.New(db.SQL())
	c, err := river.NewClient(d, &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return jobTable{list: c.JobList, ins: c.Insert, exec: d.GetExecutor()}
}

func (j jobTable) jobs(t *testing.T, kind string) []*rivertype.JobRow {
	t.Helper()
	res, err := j.list(context.Background(), river.NewJobListParams().Kinds(kind).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// accountJob is the vend_account job's arguments, as the engine queues them.
type accountJob struct {
	EnvID string `json:"env_id"`
}

func (accountJob) Kind() string { return "vend_account" }

// TestTakeOverStoppedReplica leaves the state a replica killed mid-creation
// leaves — its lease, the slot it held for an environment, and the job it
// was running — and starts another replica: it takes the slot over and
// resumes the job at once, without counting the interrupted attempt, and
// the environment becomes ready with one account. A replica whose lease
// still holds keeps it.
func TestTakeOverStoppedReplica(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{Latency: 100 * time.Millisecond})
		requester := w.engine(t, w.driver(t), 5) // never started: only takes requests
		ids := w.request(t, requester, 1, "nat-digital")
		now := time.Now().UTC()
		// The killed replica ran on this host, in a process that is gone
		// (kill -9): its lease has not even lapsed, and it is taken over
		// at once, jobs and all.
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			id, host string
			pid      int
			expires  time.Time
		}{{"killed-replica", vending.PlaceOf(requester), gone.Process.Pid, now.Add(time.Hour)}, {"live-replica", "elsewhere", 1, now.Add(time.Hour)}} {
			if _, err := db.ExecContext(ctx, `INSERT INTO vend_replicas (id, host, pid, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
				r.id, r.host, r.pid, now.Add(-time.Hour), r.expires); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO vend_slots (provider, slot, env_id, holder, acquired_at) VALUES ('sim', 0, $1, 'killed-replica', $2)`, ids[0], now); err != nil {
			t.Fatal(err)
		}
		jobs := newJobTable(t, db)
		// Unique as the engine queues it, so the survivor's resumer finds it.
		ins, err := jobs.ins(ctx, accountJob{EnvID: ids[0]}, &river.InsertOpts{Queue: "provider_sim", UniqueOpts: river.UniqueOpts{ByArgs: true,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}})
		if err != nil {
			t.Fatal(err)
		}
		attemptedAt := now.Add(-2 * time.Second)
		if _, err := jobs.exec.JobUpdateFull(ctx, &riverdriver.JobUpdateFullParams{ID: ins.Job.ID,
			StateDoUpdate: true, State: rivertype.JobStateRunning, AttemptDoUpdate: true, Attempt: 1,
			AttemptedAtDoUpdate: true, AttemptedAt: &attemptedAt, AttemptedByDoUpdate: true, AttemptedBy: []string{"killed-replica"}}); err != nil {
			t.Fatal(err)
		}

		survivor := w.engine(t, w.driver(t), 5)
		started := time.Now()
		if err := survivor.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = survivor.Stop(context.Background()) })
		assertAllReady(t, w, w.waitSettled(t, ids, 30*time.Second))
		// The job's own run takes under a second here; River's rescue would
		// have waited JobTimeout (20 s) plus 10 s.
		if took := time.Since(started); took > 15*time.Second {
			t.Errorf("the environment became ready %s after the survivor started: the takeover waited", took)
		}

		var leases []string
		rows, err := db.QueryContext(ctx, `SELECT id FROM vend_replicas ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			leases = append(leases, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		want := map[string]bool{"live-replica": true, survivor.ReplicaID(): true}
		if len(leases) != 2 || !want[leases[0]] || !want[leases[1]] {
			t.Errorf("leases after the takeover = %v, want the live replica's and the survivor's", leases)
		}
		// River records a job's completion asynchronously.
		var j *rivertype.JobRow
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			all := jobs.jobs(t, "vend_account")
			if len(all) != 1 {
				t.Fatalf("%d vend_account jobs, want the one resumed", len(all))
			}
			if j = all[0]; j.State == rivertype.JobStateCompleted || time.Now().After(deadline) {
				break
			}
		}
		if j.State != rivertype.JobStateCompleted || j.Attempt != 1 || j.AttemptedBy[len(j.AttemptedBy)-1] != survivor.ReplicaID() {
			t.Errorf("resumed job: state %s, attempt %d, attempted by %v; want completed by the survivor on its first counted attempt",
				j.State, j.Attempt, j.AttemptedBy)
		}
	})
}

// TestLapsedLeaseLeavesJobsToRiver: a replica elsewhere whose lease lapsed
// may only be stalled. Its slots are taken over at once; its running job
// is not made available under it (its River client, coming back, would
// finalize a job that was running elsewhere — River panics on that): River's
// rescue resumes it after its own attempt timed out.
func TestLapsedLeaseLeavesJobsToRiver(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{Latency: 100 * time.Millisecond})
		requester := w.engine(t, w.driver(t), 5) // never started
		ids := w.request(t, requester, 1, "nat-digital")
		now := time.Now().UTC()
		if _, err := db.ExecContext(ctx, `INSERT INTO vend_replicas (id, host, pid, started_at, expires_at) VALUES ('stalled-replica', 'elsewhere', 1, $1, $2)`,
			now.Add(-time.Hour), now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO vend_slots (provider, slot, env_id, holder, acquired_at) VALUES ('sim', 0, $1, 'stalled-replica', $2)`, ids[0], now); err != nil {
			t.Fatal(err)
		}
		jobs := newJobTable(t, db)
		ins, err := jobs.ins(ctx, accountJob{EnvID: ids[0]}, &river.InsertOpts{Queue: "provider_sim"})
		if err != nil {
			t.Fatal(err)
		}
		attemptedAt := now.Add(-2 * time.Second)
		if _, err := jobs.exec.JobUpdateFull(ctx, &riverdriver.JobUpdateFullParams{ID: ins.Job.ID,
			StateDoUpdate: true, State: rivertype.JobStateRunning, AttemptDoUpdate: true, Attempt: 1,
			AttemptedAtDoUpdate: true, AttemptedAt: &attemptedAt, AttemptedByDoUpdate: true, AttemptedBy: []string{"stalled-replica"}}); err != nil {
			t.Fatal(err)
		}
		taken, err := requester.TakeOverLapsed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(taken) != 1 || taken[0].Replica != "stalled-replica" || taken[0].Slots != 1 || taken[0].JobsResumed != 0 {
			t.Fatalf("takeover of a lapsed lease elsewhere: %+v; want its slot and none of its jobs", taken)
		}
		if all := jobs.jobs(t, "vend_account"); len(all) != 1 || all[0].State != rivertype.JobStateRunning {
			t.Fatalf("the stalled replica's job: %+v; want it still running, for River's rescue", all)
		}
		var holder string
		if err := db.QueryRowContext(ctx, `SELECT holder FROM vend_slots WHERE env_id = $1`, ids[0]).Scan(&holder); err != nil || holder != requester.ReplicaID() {
			t.Fatalf("slot holder %q (%v); want the survivor", holder, err)
		}
	})
}

// TestWaitingCostsNothing requests far more environments than the cap:
// each environment gets exactly one account job, which never waits for a
// slot, is never snoozed for one, and spends one attempt.
func TestWaitingCostsNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{Latency: 150 * time.Millisecond, ConcurrentCreations: 2})
		e := w.engine(t, w.driver(t), 2)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		jt := newJobTable(t, db)
		// Sample the unfinished account jobs: none may be for an environment
		// still waiting for a slot.
		var most atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				case <-time.After(15 * time.Millisecond):
				}
				res, err := jt.list(context.Background(), river.NewJobListParams().Kinds("vend_account").
					States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable).First(100))
				if err != nil {
					continue
				}
				var waiting int64
				for _, j := range res.Jobs {
					var args accountJob
					if json.Unmarshal(j.EncodedArgs, &args) != nil {
						continue
					}
					var holds int
					err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM environments e
						WHERE e.id = $1 AND e.account_id = '' AND NOT EXISTS (SELECT 1 FROM vend_slots s WHERE s.env_id = e.id)`, args.EnvID).Scan(&holds)
					if err == nil && holds == 1 {
						waiting++
					}
				}
				if waiting > most.Load() {
					most.Store(waiting)
				}
			}
		}()
		ids := w.request(t, e, 12, "nat-digital")
		settled := w.waitSettled(t, ids, 90*time.Second)
		close(stop)
		<-sampled
		assertAllReady(t, w, settled)
		if n := most.Load(); n > 0 {
			t.Errorf("up to %d account jobs were queued or running for environments without a slot; waiting must be a row, not a job", n)
		}
		if st := w.sim.Stats(); st.MaxConcurrentObserved > 2 {
			t.Errorf("%d creations in flight at once; the cap is 2", st.MaxConcurrentObserved)
		}
		jobs := jt.jobs(t, "vend_account")
		if len(jobs) != len(ids) {
			t.Errorf("%d account jobs for %d environments", len(jobs), len(ids))
		}
		for _, j := range jobs {
			if j.Attempt != 1 || len(j.Errors) != 0 {
				t.Errorf("account job %d: %d attempts, errors %v; waiting for a slot must cost none", j.ID, j.Attempt, j.Errors)
			}
			var meta map[string]any
			if err := json.Unmarshal(j.Metadata, &meta); err != nil {
				t.Fatal(err)
			}
			if n := meta["snoozes"]; n != nil {
				t.Errorf("account job %d was snoozed %v times", j.ID, n)
			}
		}
	})
}

// TestDispatchOrder gives slots to the environments that have waited
// longest.
func TestDispatchOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, simcloud.Config{})
		e := w.engine(t, w.driver(t), 2) // not started: dispatch by hand
		ids := w.request(t, e, 5, "nat-digital")
		n, err := e.Dispatch(context.Background(), "sim")
		if err != nil || n != 2 {
			t.Fatalf("Dispatch = %d, %v; want the 2 free slots given", n, err)
		}
		holders := map[string]bool{}
		rows, err := db.QueryContext(context.Background(), `SELECT env_id FROM vend_slots`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			holders[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(holders) != 2 || !holders[ids[0]] || !holders[ids[1]] {
			t.Errorf("slots went to %v; want the two oldest requests %v", holders, ids[:2])
		}
		if n, err := e.Dispatch(context.Background(), "sim"); err != nil || n != 0 {
			t.Errorf("second Dispatch = %d, %v; want nothing while both slots are held", n, err)
		}
		for _, id := range ids {
			en, err := w.envs.Get(context.Background(), db, id)
			if err != nil || en.State != env.Approved {
				t.Errorf("%s: %v %v; want it approved and waiting", id, en.State, err)
			}
		}
	})
}
