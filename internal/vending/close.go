package vending

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

type closeWorker struct {
	river.WorkerDefaults[closeArgs]
	e *Engine
}

// Work closes an environment's account. A closure never gives up: the
// account must not outlive its environment, so every failure is tried
// again — throttling and transient failures with the usual backoff, a
// closure the provider's quota holds back every CloseQuotaRetry, a
// permanent refusal every RetryMax while an operator fixes its cause —
// and the environment's state reason says which it is, so a closure
// waiting for AWS's 30-day quota is seen as such, not as a stuck job.
func (w *closeWorker) Work(ctx context.Context, job *river.Job[closeArgs]) error {
	e := w.e
	en, err := e.envs.Get(ctx, e.db, job.Args.EnvID)
	if err != nil {
		return cancelIfGone(err)
	}
	if en.State != env.Closing {
		return nil
	}
	if en.AccountID != "" {
		cn, ok := e.conns[en.Provider]
		if !ok {
			return river.JobCancel(fmt.Errorf("provider %q is no longer configured", en.Provider))
		}
		if err := cn.Provider.CloseAccount(ctx, en.AccountID); err != nil {
			return e.handleCloseError(ctx, job.JobRow.Attempt, en, err)
		}
	}
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := releaseSlot(ctx, tx, en.ID); err != nil {
			return err
		}
		_, err := e.envs.Transition(ctx, tx, en.ID, []env.State{env.Closing}, env.Closed, "", strings.TrimSpace("account "+en.AccountID+" closed"))
		return err
	})
	e.slotFreed.signal()
	return err
}

// Closing reasons: the environment stays closing, and its state reason
// starts with one of these.
const (
	CloseWaitingForQuota = "closure waiting for the provider's closure quota"
	CloseRetrying        = "closure failed; retrying"
	CloseRefused         = "closure refused by the provider; retried until an operator fixes the cause"
)

// handleCloseError says why the closure waits — in the environment's state
// reason, recorded when it changes so a long wait is one event — and
// snoozes the job until the next try.
func (e *Engine) handleCloseError(ctx context.Context, attempt int, en env.Environment, err error) error {
	if ctx.Err() != nil {
		return err
	}
	class := provider.ClassOf(err)
	wait := backoff(e.cfg.RetryBase, e.cfg.RetryMax, attempt)
	var reason string
	switch class {
	case provider.Quota:
		reason, wait = CloseWaitingForQuota, e.cfg.CloseQuotaRetry
	case provider.Permanent:
		reason, wait = CloseRefused, e.cfg.RetryMax
	default:
		reason = CloseRetrying
	}
	if what := errorCode(err); what != "" {
		reason += " (" + what + ")"
	}
	if class == provider.Throttling && !strings.HasPrefix(en.StateReason, CloseWaitingForQuota) {
		// Waiting out a rate is routine: not worth an event.
		reason = en.StateReason
	}
	if reason != en.StateReason {
		terr := e.db.InTx(ctx, func(tx *store.Tx) error {
			_, err := e.envs.Transition(ctx, tx, en.ID, []env.State{env.Closing}, env.Closing, "", reason)
			return err
		})
		if terr != nil && fault.KindOf(terr) != fault.Conflict {
			return terr
		}
	}
	e.log.WarnContext(ctx, "account closure not done; trying again", "env", en.ID, "account", en.AccountID, "class", class, "after", wait, "err", err)
	return river.JobSnooze(wait)
}

// errorCode names a provider error for people: the operation and the
// provider's code, without the request's details (ids, messages), which
// change at every attempt.
func errorCode(err error) string {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return ""
	}
	return strings.TrimSpace(pe.Op + " " + pe.Code)
}
