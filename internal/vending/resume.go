package vending

import (
	"context"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
)

func (e *Engine) resumeLoop(ctx context.Context) {
	defer e.loops.Done()
	for {
		if err := e.Resume(ctx); err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "resume pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.cfg.ResumeInterval):
		}
	}
}

// Resume queues a job for every environment whose committed state asks for
// work — except those waiting for a provider slot, which the dispatcher
// starts — and for every access assignment still to be applied or removed.
// Jobs already queued or running are not duplicated.
func (e *Engine) Resume(ctx context.Context) error {
	if _, err := releaseStaleSlots(ctx, e.db); err != nil {
		return err
	}
	pending, err := e.envs.InStates(ctx, env.Approved, env.Provisioning, env.Closing)
	if err != nil {
		return err
	}
	holders, err := slotHolders(ctx, e.db)
	if err != nil {
		return err
	}
	// A slot taken within a lease's time has its job: the dispatcher
	// queued it, or it just ran. Queueing another could race the one that
	// just finished and run it twice (harmless, but work); an older slot
	// without a job is what a failed queueing leaves.
	settled := e.envs.Now().Add(-e.cfg.LeaseTTL)
	var work []nudgeItem
	for _, en := range pending {
		since, holds := holders[en.ID]
		switch {
		case en.State == env.Closing:
			work = append(work, nudgeItem{en.ID, kindClose, en.Provider})
		case en.AccountID == "" && (!holds || since.After(settled)):
			// Waits in the dispatcher's line for a provider slot, or was
			// just given one.
		case en.State == env.Approved || en.AccountID == "":
			work = append(work, nudgeItem{en.ID, kindAccount, en.Provider})
		default:
			work = append(work, nudgeItem{en.ID, kindCustomize, en.Provider})
		}
	}
	moves, err := e.envs.IDsWithPendingMove(ctx)
	if err != nil {
		return err
	}
	for _, id := range moves {
		work = append(work, nudgeItem{id, kindMove, ""})
	}
	if err := e.nudgeMany(ctx, work); err != nil {
		return err
	}
	e.wakeDispatcher()
	return e.resumeAccess(ctx)
}
