package vending

import (
	"context"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
)

func (e *Engine) resumeLoop(ctx context.Context) {
	defer e.resumeDone.Done()
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
// work. Jobs already queued or running are not duplicated.
func (e *Engine) Resume(ctx context.Context) error {
	if _, err := releaseStaleSlots(ctx, e.db); err != nil {
		return err
	}
	ids, err := e.envs.IDsInStates(ctx, env.Approved, env.Provisioning, env.Closing)
	if err != nil {
		return err
	}
	for _, id := range ids {
		en, err := e.envs.Get(ctx, e.db, id)
		if err != nil {
			return err
		}
		switch en.State {
		case env.Closing:
			e.nudge(ctx, id, kindClose, en.Provider)
		case env.Approved:
			e.nudge(ctx, id, kindAccount, en.Provider)
		case env.Provisioning:
			if en.AccountID == "" {
				e.nudge(ctx, id, kindAccount, en.Provider)
			} else {
				e.nudge(ctx, id, kindCustomize, en.Provider)
			}
		}
	}
	moves, err := e.envs.IDsWithPendingMove(ctx)
	if err != nil {
		return err
	}
	for _, id := range moves {
		e.nudge(ctx, id, kindMove, "")
	}
	return nil
}
