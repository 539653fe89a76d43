package vending

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

type jobKind string

const (
	kindAccount   jobKind = "vend_account"
	kindCustomize jobKind = "vend_customize"
	kindMove      jobKind = "env_move"
	kindClose     jobKind = "env_close"
)

type accountArgs struct {
	EnvID string `json:"env_id"`
}

func (accountArgs) Kind() string { return string(kindAccount) }

type customizeArgs struct {
	EnvID string `json:"env_id"`
}

func (customizeArgs) Kind() string { return string(kindCustomize) }

type moveArgs struct {
	EnvID string `json:"env_id"`
}

func (moveArgs) Kind() string { return string(kindMove) }

type closeArgs struct {
	EnvID string `json:"env_id"`
}

func (closeArgs) Kind() string { return string(kindClose) }

// queuedOrRunning are the job states in which a job for an environment
// makes another one redundant. River's default also counts completed jobs,
// which would make a retry after a failure, or a second transfer, a no-op.
var queuedOrRunning = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}

// nudgeItem names the job one environment needs.
type nudgeItem struct {
	envID    string
	kind     jobKind
	provider string
}

func (n nudgeItem) params() river.InsertManyParams {
	var args river.JobArgs
	queue := queueVending
	switch n.kind {
	case kindAccount:
		args, queue = accountArgs{EnvID: n.envID}, providerQueue(n.provider)
	case kindCustomize:
		args = customizeArgs{EnvID: n.envID}
	case kindMove:
		args = moveArgs{EnvID: n.envID}
	case kindClose:
		args = closeArgs{EnvID: n.envID}
	}
	return river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{Queue: queue,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}}
}

// nudge inserts the job that acts on an environment's committed state. A
// job for the same environment and kind that is still queued or running
// makes this a no-op. A failure is only logged: the resumer inserts it later.
func (e *Engine) nudge(ctx context.Context, envID string, kind jobKind, providerName string) {
	p := nudgeItem{envID, kind, providerName}.params()
	if _, err := e.jobs.Insert(ctx, p.Args, p.InsertOpts); err != nil {
		e.log.WarnContext(ctx, "could not queue vending job; the resumer will", "env", envID, "kind", kind, "err", err)
	}
}

// nudgeBatch bounds one insert transaction of the resumer, which may
// nudge thousands of environments: one transaction per batch instead of
// one per environment keeps it from starving the workers of the database.
const nudgeBatch = 500

func (e *Engine) nudgeMany(ctx context.Context, items []nudgeItem) error {
	for len(items) > 0 {
		n := min(len(items), nudgeBatch)
		params := make([]river.InsertManyParams, n)
		for i, it := range items[:n] {
			params[i] = it.params()
		}
		if _, err := e.jobs.InsertMany(ctx, params); err != nil {
			return fmt.Errorf("queue %d vending jobs: %w", n, err)
		}
		items = items[n:]
	}
	return nil
}

type accountWorker struct {
	river.WorkerDefaults[accountArgs]
	e *Engine
}

func (w *accountWorker) Work(ctx context.Context, job *river.Job[accountArgs]) error {
	return w.e.runAccountStage(ctx, job)
}

type customizeWorker struct {
	river.WorkerDefaults[customizeArgs]
	e *Engine
}

func (w *customizeWorker) Work(ctx context.Context, job *river.Job[customizeArgs]) error {
	return w.e.runCustomizeStage(ctx, job)
}

type moveWorker struct {
	river.WorkerDefaults[moveArgs]
	e *Engine
}

// Work moves a transferred environment's account to its new unit.
func (w *moveWorker) Work(ctx context.Context, job *river.Job[moveArgs]) error {
	e := w.e
	en, err := e.envs.Get(ctx, e.db, job.Args.EnvID)
	if err != nil {
		return cancelIfGone(err)
	}
	cn, ok := e.conns[en.Provider]
	if !ok || en.AccountID == "" {
		return river.JobCancel(fmt.Errorf("environment %s has no account on a configured provider", en.ID))
	}
	if err := e.moveToUnit(ctx, cn, en); err != nil {
		return err
	}
	return e.db.InTx(ctx, func(tx *store.Tx) error {
		done, err := e.envs.FinishUnitMove(ctx, tx, en.ID, en.UnitPath)
		if err != nil {
			return err
		}
		if !done {
			// Transferred again while this job moved it; the new transfer's
			// nudge found this job running, so the retry makes that move.
			return fmt.Errorf("environment %s was transferred again during its move to %s; moving again", en.ID, en.UnitPath)
		}
		return e.envs.AddEvent(ctx, tx, en.ID, "moved", "", "account "+en.AccountID+" moved to unit "+en.UnitPath)
	})
}
