package vending

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// A replica's lease is its row in vend_replicas, renewed every
// LeaseTTL/leaseBeats. The lease covers everything the replica holds: the
// provider slots whose holder it is, and the River jobs it is running.
// When the lease lapses, any surviving replica takes the slots over; when
// the process is known to be gone (the same host's next process, or a
// survivor on that host), it also makes the jobs available again, so a
// crash costs seconds, not River's JobTimeout-based rescue.
//
// Taking over is safe whether or not the old replica comes back: every
// step is idempotent in the provider, and an account creation whose answer
// was never recorded is reconciled by the environment's e-mail before
// anyone creates again (createAccount).
const leaseBeats = 5

// newReplicaID names this process in vend_replicas and as River's client
// id, which River records in each job's attempted_by.
// The second value identifies where process ids mean the same process:
// the host name and, on Linux, the PID namespace, so that two containers
// sharing a host name never judge each other's process ids.
func newReplicaID() (id, where string) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	if len(host) > 60 {
		host = host[:60]
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	id = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	where = host
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		where += "/" + ns
	} else {
		where += "/" + id // no namespace to compare: never judge another process id
	}
	return id, where
}

// ReplicaID is this engine's id in the replica table and in River.
func (e *Engine) ReplicaID() string { return e.replicaID }

func (e *Engine) registerReplica(ctx context.Context) error {
	now := e.envs.Now()
	_, err := e.db.ExecContext(ctx, `INSERT INTO vend_replicas (id, host, pid, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		e.replicaID, e.host, os.Getpid(), now, now.Add(e.cfg.LeaseTTL))
	if err != nil {
		return fmt.Errorf("register replica %s: %w", e.replicaID, err)
	}
	return nil
}

// renewLease extends this replica's lease. A lease that had already been
// taken over (the process stalled longer than LeaseTTL) is registered
// again: what was taken over runs elsewhere now, and what this process
// still runs is idempotent.
func (e *Engine) renewLease(ctx context.Context) error {
	now := e.envs.Now()
	res, err := e.db.ExecContext(ctx, `UPDATE vend_replicas SET expires_at = $1 WHERE id = $2`, now.Add(e.cfg.LeaseTTL), e.replicaID)
	if err != nil {
		return fmt.Errorf("renew lease of %s: %w", e.replicaID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		e.log.WarnContext(ctx, "this replica's lease had lapsed and was taken over; registering again", "replica", e.replicaID)
		return e.registerReplica(ctx)
	}
	return nil
}

// releaseLease ends this replica's lease at a graceful stop, so that the
// next process, or another replica, takes its slots over at once.
func (e *Engine) releaseLease(ctx context.Context) {
	if _, err := e.db.ExecContext(ctx, `UPDATE vend_replicas SET expires_at = $1 WHERE id = $2`, time.Time{}, e.replicaID); err != nil {
		e.log.WarnContext(ctx, "could not release this replica's lease; it lapses by itself", "replica", e.replicaID, "err", err)
	}
}

func (e *Engine) leaseLoop(ctx context.Context) {
	defer e.loops.Done()
	beat := e.cfg.LeaseTTL / leaseBeats
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(beat):
		}
		if err := e.renewLease(ctx); err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "lease renewal failed", "err", err)
		}
		if _, err := e.TakeOverLapsed(ctx); err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "taking over stopped replicas failed", "err", err)
		}
	}
}

// replicaRow is one row of vend_replicas.
type replicaRow struct {
	id, host  string
	pid       int
	expiresAt time.Time
}

// stopped says whether another replica's lease no longer holds: it lapsed,
// or it was a process of this host (and PID namespace) that no longer
// runs, so a restart after kill -9 need not wait out the lease of the
// process it replaces. dead says the process is known not to run any more.
func (e *Engine) stopped(r replicaRow, now time.Time) (stopped, dead bool) {
	if r.id == e.replicaID {
		return false, false
	}
	dead = r.host == e.host && processGone(r.pid)
	return dead || r.expiresAt.Before(now), dead
}

func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH)
}

// Takeover reports what TakeOverLapsed took from one stopped replica.
type Takeover struct {
	Replica     string
	Slots       int
	JobsResumed int
}

// TakeOverLapsed finds replicas whose lease no longer holds, takes their
// provider slots over, and makes the jobs they were running available
// again without counting the interrupted attempt. Each stopped replica is
// taken over by exactly one survivor: the one that deletes its row.
func (e *Engine) TakeOverLapsed(ctx context.Context) ([]Takeover, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT id, host, pid, expires_at FROM vend_replicas WHERE id <> $1`, e.replicaID)
	if err != nil {
		return nil, fmt.Errorf("read replica leases: %w", err)
	}
	var candidates []replicaRow
	for rows.Next() {
		var r replicaRow
		if err := rows.Scan(&r.id, &r.host, &r.pid, &r.expiresAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read replica leases: %w", err)
		}
		candidates = append(candidates, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read replica leases: %w", err)
	}
	now := e.envs.Now()
	var out []Takeover
	for _, r := range candidates {
		stopped, dead := e.stopped(r, now)
		if !stopped {
			continue
		}
		t, won, err := e.takeOver(ctx, r, dead)
		if err != nil {
			return out, err
		}
		if won {
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		e.slotFreed.signal()
	}
	return out, nil
}

// takeOver ends r's lease and takes its provider slots. Its running jobs
// are made available again at once only when its process is known to be
// gone (dead): a replica whose lease merely lapsed may be stalled and come
// back, and its River client would then finalize a job that had been made
// available under it — River panics on that ("job that wasn't
// finalized"). Those jobs are left to River's rescue (JobTimeout + 10 s),
// by which time their own attempt has timed out.
func (e *Engine) takeOver(ctx context.Context, r replicaRow, dead bool) (Takeover, bool, error) {
	t := Takeover{Replica: r.id}
	won := false
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		// Only the survivor whose delete takes the row goes on; a replica
		// that renewed in the meantime keeps its lease.
		res, err := tx.ExecContext(ctx, `DELETE FROM vend_replicas WHERE id = $1 AND expires_at <= $2`, r.id, r.expiresAt)
		if err != nil {
			return fmt.Errorf("end lease of %s: %w", r.id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		won = true
		res, err = tx.ExecContext(ctx, `UPDATE vend_slots SET holder = $1 WHERE holder = $2`, e.replicaID, r.id)
		if err != nil {
			return fmt.Errorf("take over the slots of %s: %w", r.id, err)
		}
		n, _ := res.RowsAffected()
		t.Slots = int(n)
		return nil
	})
	if err != nil || !won {
		return t, won, err
	}
	var resumed int
	if dead {
		resumed, err = e.resumeJobsOf(ctx, r.id)
	}
	t.JobsResumed = resumed
	e.cfg.Metrics.takeovers.Inc()
	e.cfg.Metrics.jobsResumed.Add(float64(resumed))
	e.log.InfoContext(ctx, "took over a stopped replica", "replica", r.id, "slots", t.Slots, "jobs_resumed", resumed)
	if err != nil {
		// River's own rescue (after JobTimeout) still resumes what is left.
		return t, true, fmt.Errorf("resume the jobs of %s: %w", r.id, err)
	}
	return t, true, nil
}

// adoptOrphanSlots gives this replica the slots whose holder has no lease
// at all: slots taken before leases existed. (A takeover ends a lease and
// moves its slots in one transaction, so it leaves none; Start is enough.)
func (e *Engine) adoptOrphanSlots(ctx context.Context) error {
	_, err := e.db.ExecContext(ctx, `UPDATE vend_slots SET holder = $1 WHERE holder NOT IN (SELECT id FROM vend_replicas)`, e.replicaID)
	if err != nil {
		return fmt.Errorf("adopt orphaned slots: %w", err)
	}
	return nil
}

// resumeJobsOf makes the jobs a stopped replica was running available
// now. The interrupted attempt is given back: a crash is not the job's
// failure. Only jobs still running are touched, so a job the replica
// finished after all is left as it is.
func (e *Engine) resumeJobsOf(ctx context.Context, replica string) (int, error) {
	var ids []int64
	var attempts []*int
	params := river.NewJobListParams().States(rivertype.JobStateRunning).First(10000)
	for {
		res, err := e.jobs.JobList(ctx, params)
		if err != nil {
			return 0, fmt.Errorf("list running jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if n := len(j.AttemptedBy); n == 0 || j.AttemptedBy[n-1] != replica {
				continue
			}
			attempt := max(j.Attempt-1, 0)
			ids = append(ids, j.ID)
			attempts = append(attempts, &attempt)
		}
		if len(res.Jobs) < 10000 || res.LastCursor == nil {
			break
		}
		params = params.After(res.LastCursor)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	many := &riverdriver.JobSetStateIfRunningManyParams{
		ID: ids, Attempt: attempts, Now: &now,
		ErrData: make([][]byte, len(ids)), FinalizedAt: make([]*time.Time, len(ids)),
		MetadataDoMerge: make([]bool, len(ids)), MetadataUpdates: make([][]byte, len(ids)),
		ScheduledAt: make([]*time.Time, len(ids)), State: make([]rivertype.JobState, len(ids)),
	}
	for i := range ids {
		many.ScheduledAt[i] = &now
		many.State[i] = rivertype.JobStateAvailable
	}
	set, err := e.jobExec.JobSetStateIfRunningMany(ctx, many)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range set {
		if j != nil && j.State == rivertype.JobStateAvailable {
			n++
		}
	}
	return n, nil
}
