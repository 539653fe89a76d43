package vending

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Access to environments: package envaccess records who holds which of an
// environment's two permission sets; this file applies those records to
// the provider as memberships of the environment's two groups, with the
// same durability as vending. An assignment commits as pending with its
// audit entry, then a job is queued; the job puts the person into the
// set's group (and out of the other), then marks the row applied — or, for
// a removal, takes them out of both and deletes the row. A crash anywhere
// leaves a pending or removing row, which the resumer queues again; every
// provider call is safe to repeat.

// StepAccess labels access changes in the step metrics.
const StepAccess = "env_access"

const kindAccess jobKind = "env_access"

type accessArgs struct {
	EnvID    string `json:"env_id"`
	PersonID string `json:"person_id"`
}

func (accessArgs) Kind() string { return string(kindAccess) }

// AccessGroups names the two groups of environment envID that hold its
// permission sets: vending assigns the groups to the account
// (assign_permission_sets); people join them.
func AccessGroups(envID string) provider.Access {
	return provider.Access{
		AdminGroup:  "hatoba-" + envID + "-administrators",
		MemberGroup: "hatoba-" + envID + "-members",
	}
}

// errNoAccess answers access calls of an engine built without the access
// capability.
var errNoAccess = &fault.Error{Kind: fault.Unavailable, Message: "assigning people to environments is not configured on this server"}

// worker is who the access job records its outcomes as: the person's
// assignment is audited as theirs when they make it; applying it to the
// provider is the system's.
var worker = audit.Acting{Actor: "system"}

// AssignAccess gives a person one of an environment's permission sets (see
// envaccess.Service.Assign) and queues the job that applies it.
func (e *Engine) AssignAccess(ctx context.Context, by authz.Principal, grantID, envID, personID string, set envaccess.Set) (envaccess.Assignment, error) {
	if e.cfg.Access == nil {
		return envaccess.Assignment{}, errNoAccess
	}
	a, err := e.cfg.Access.Assign(ctx, by, grantID, envID, personID, set)
	if err != nil {
		return envaccess.Assignment{}, err
	}
	if a.Unsettled() {
		e.nudgeAccess(ctx, envaccess.Key{EnvID: envID, PersonID: personID})
	}
	return a, nil
}

// UnassignAccess takes a person's permission set of an environment away
// (see envaccess.Service.Unassign) and queues the job that removes it; found
// is false when the person held none.
func (e *Engine) UnassignAccess(ctx context.Context, by authz.Principal, grantID, envID, personID string) (a envaccess.Assignment, found bool, err error) {
	if e.cfg.Access == nil {
		return envaccess.Assignment{}, false, errNoAccess
	}
	a, found, err = e.cfg.Access.Unassign(ctx, by, grantID, envID, personID)
	if err != nil || !found {
		return a, found, err
	}
	e.nudgeAccess(ctx, envaccess.Key{EnvID: envID, PersonID: personID})
	return a, true, nil
}

// accessParams queues an assignment's job on the vending queue, not the
// provider's: group memberships do not count against the provider's cap
// on account creations, and must not wait behind them. One job per person
// and environment while queued or running, like the vending jobs.
func accessParams(k envaccess.Key) river.InsertManyParams {
	return river.InsertManyParams{Args: accessArgs{EnvID: k.EnvID, PersonID: k.PersonID},
		InsertOpts: &river.InsertOpts{Queue: queueVending, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}}
}

// nudgeAccess queues the job for a committed assignment. As for vending,
// the row is the truth and the job a nudge: a failure is only logged, and
// the resumer queues the job later.
func (e *Engine) nudgeAccess(ctx context.Context, k envaccess.Key) {
	p := accessParams(k)
	if _, err := e.jobs.Insert(ctx, p.Args, p.InsertOpts); err != nil {
		e.log.WarnContext(ctx, "could not queue access job; the resumer will", "env", k.EnvID, "person", k.PersonID, "err", err)
	}
}

// RevokeDisabled takes disabled people out of every environment's groups
// (envaccess.Service.RevokeDisabled) and queues the jobs that do it.
func (e *Engine) RevokeDisabled(ctx context.Context) error {
	if e.cfg.Access == nil {
		return nil
	}
	keys, err := e.cfg.Access.RevokeDisabled(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		e.nudgeAccess(ctx, k)
	}
	return nil
}

// resumeAccess queues a job for every assignment still pending or
// removing, in batches like the vending jobs; first it catches up on
// people disabled since (see RevokeDisabled).
func (e *Engine) resumeAccess(ctx context.Context) error {
	if e.cfg.Access == nil {
		return nil
	}
	if _, err := e.cfg.Access.RevokeDisabled(ctx); err != nil {
		return err
	}
	keys, err := e.cfg.Access.Unsettled(ctx)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), nudgeBatch)
		params := make([]river.InsertManyParams, n)
		for i, k := range keys[:n] {
			params[i] = accessParams(k)
		}
		if _, err := e.jobs.InsertMany(ctx, params); err != nil {
			return fmt.Errorf("queue %d access jobs: %w", n, err)
		}
		keys = keys[n:]
	}
	return nil
}

type accessWorker struct {
	river.WorkerDefaults[accessArgs]
	e *Engine
}

func (w *accessWorker) Work(ctx context.Context, job *river.Job[accessArgs]) error {
	return w.e.runAccess(ctx, job)
}

// accessRounds bounds how often one job applies an assignment that people
// keep changing while it works; after that River retries it later.
const accessRounds = 5

func (e *Engine) runAccess(ctx context.Context, job *river.Job[accessArgs]) error {
	acc := e.cfg.Access
	if acc == nil {
		return river.JobCancel(errNoAccess)
	}
	// A change made while this job runs finds the job running and queues
	// nothing (unique jobs), so the job applies revisions until one settles.
	for range accessRounds {
		a, err := acc.Get(ctx, job.Args.EnvID, job.Args.PersonID)
		if fault.KindOf(err) == fault.NotFound {
			return nil // removed, and the row already deleted
		}
		if err != nil {
			return err
		}
		if !a.Unsettled() {
			return nil
		}
		en, err := e.envs.Get(ctx, e.db, a.EnvID)
		if err != nil {
			return cancelIfGone(err)
		}
		cn, ok := e.conns[en.Provider]
		if !ok {
			return e.failAccess(ctx, a, fmt.Errorf("provider %q of environment %s is not configured", en.Provider, en.ID))
		}
		if err := e.tryAccessInline(ctx, cn, a); err != nil {
			return e.handleAccessError(ctx, job.JobRow.Attempt, job.JobRow.MaxAttempts, a, err)
		}
		settled, err := acc.Settle(ctx, worker, a)
		if err != nil {
			return err
		}
		if settled {
			return nil
		}
	}
	return fmt.Errorf("the access of %s to %s changed %d times while it was being applied; trying again later",
		job.Args.PersonID, job.Args.EnvID, accessRounds)
}

// applyAccess makes the provider agree with one revision of an assignment.
func (e *Engine) applyAccess(ctx context.Context, cn *Connection, a envaccess.Assignment) error {
	groups := AccessGroups(a.EnvID)
	e.cfg.Metrics.providerCalls.WithLabelValues(cn.Name, StepAccess).Inc()
	if a.State == envaccess.Removing {
		for _, g := range []string{groups.AdminGroup, groups.MemberGroup} {
			if err := cn.Provider.RemoveGroupMember(ctx, g, a.PersonID); err != nil {
				return err
			}
		}
		return nil
	}
	target, other := groups.MemberGroup, groups.AdminGroup
	if a.PermissionSet == envaccess.Administrator {
		target, other = other, target
	}
	// Out of the other group first: someone moved from Administrator to
	// Non-administrator must not hold both sets, even for a moment.
	if err := cn.Provider.RemoveGroupMember(ctx, other, a.PersonID); err != nil {
		return err
	}
	p, err := e.cfg.Access.Person(ctx, a.PersonID)
	if err != nil {
		return err
	}
	return cn.Provider.AddGroupMember(ctx, target, provider.Person{ID: p.ID, DisplayName: p.DisplayName, Email: p.Email})
}

// tryAccessInline applies a up to inlineTries times while it fails
// transiently, as tryInline does for the vending steps.
func (e *Engine) tryAccessInline(ctx context.Context, cn *Connection, a envaccess.Assignment) error {
	var err error
	for i := range inlineTries {
		if err = e.applyAccess(ctx, cn, a); err == nil {
			return nil
		}
		class := provider.ClassOf(err)
		e.cfg.Metrics.stepErrors.WithLabelValues(cn.Name, StepAccess, class.String()).Inc()
		if class != provider.Transient || ctx.Err() != nil {
			return err
		}
		if nerr := e.cfg.Access.NoteError(ctx, a, err.Error()); nerr != nil {
			return nerr
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff(e.cfg.RetryBase/4, e.cfg.RetryBase, i)):
		}
	}
	return err
}

// handleAccessError tells River what to do after a failed attempt, by the
// error's class, as handleStepError does for the vending steps.
func (e *Engine) handleAccessError(ctx context.Context, attempt, maxAttempts int, a envaccess.Assignment, err error) error {
	if ctx.Err() != nil {
		return err // shutting down or timed out: not the provider's fault
	}
	class := provider.ClassOf(err)
	if fe, ok := fault.As(err); ok && fe.Kind != fault.Internal {
		class = provider.Permanent
	}
	switch {
	case class == provider.Permanent:
		return e.failAccess(ctx, a, err)
	case attempt >= maxAttempts && class != provider.Throttling:
		return e.failAccess(ctx, a, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
	}
	if nerr := e.cfg.Access.NoteError(ctx, a, err.Error()); nerr != nil {
		return nerr
	}
	if class == provider.Throttling {
		return river.JobSnooze(backoff(e.cfg.RetryBase, e.cfg.RetryMax, attempt))
	}
	return err
}

// failAccess records a permanent refusal and cancels the job: the row
// shows the reason until someone assigns or unassigns again. A row that
// changed meanwhile is the job's work still, so the job is retried.
func (e *Engine) failAccess(ctx context.Context, a envaccess.Assignment, cause error) error {
	failed, err := e.cfg.Access.Fail(ctx, worker, a, cause.Error())
	if err != nil {
		return err
	}
	if !failed {
		return fmt.Errorf("the access of %s to %s changed while it failed (%w); applying the change", a.PersonID, a.EnvID, cause)
	}
	e.log.WarnContext(ctx, "environment access failed", "env", a.EnvID, "person", a.PersonID, "set", a.PermissionSet, "state", a.State, "err", cause)
	return river.JobCancel(cause)
}
