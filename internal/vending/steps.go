package vending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The vending workflow's steps, in order.
const (
	StepCreateAccount        = "create_account"
	StepWaitUntilActive      = "wait_until_active"
	StepMoveToUnit           = "move_to_unit"
	StepAttachPolicies       = "attach_preventive_policies"
	StepAssignPermissionSets = "assign_permission_sets"
	StepBillingContact       = "register_billing_contact"
	StepTag                  = "tag"
	// StepBackupTarget makes the environment's backup target (a bucket on
	// another domestic provider); only environments that asked for one
	// (env.Request.Backup) have it, between tag and ready.
	StepBackupTarget = "backup_target"
	StepReady        = "ready"
)

// StepNames lists the steps in order.
func StepNames() []string {
	return []string{StepCreateAccount, StepWaitUntilActive, StepMoveToUnit, StepAttachPolicies,
		StepAssignPermissionSets, StepBillingContact, StepTag, StepReady}
}

// stepsFor lists an environment's steps: a backup target adds its step
// before ready.
func stepsFor(backup bool) []string {
	names := StepNames()
	if !backup {
		return names
	}
	return append(names[:len(names)-1:len(names)-1], StepBackupTarget, StepReady)
}

// customizeSteps run after the account exists, outside the provider cap;
// an environment runs those it has.
var customizeSteps = []string{StepMoveToUnit, StepAttachPolicies, StepAssignPermissionSets, StepBillingContact, StepTag, StepBackupTarget}

// inlineTries is how often a step is tried within one job run before the
// job itself is retried later: quick recovery from a single dropped call,
// durable backoff for a longer outage.
const inlineTries = 3

// createDetail is the create_account step's recorded progress.
type createDetail struct {
	// Calling is set, and committed, before CreateAccount is called: if it is
	// set without a RequestID, hatoba does not know whether the call reached
	// the provider and must look before calling again.
	Calling   bool   `json:"calling,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	AccountID string `json:"account_id,omitempty"`
}

func accountSpec(en env.Environment) provider.AccountSpec {
	// The id leads the name so that it survives truncation to AWS's 50
	// characters and an in-progress creation can be found by name. AWS
	// account names are printable ASCII: a Japanese system name (住民記録)
	// contributes nothing, and the owner's id stands in for it.
	system := strings.Join(strings.FieldsFunc(en.SystemName, func(r rune) bool { return r < 0x21 || r > 0x7e }), " ")
	if system == "" {
		system = en.OrgID
	}
	name := en.ID + " " + system
	if len(name) > maxAccountName {
		name = name[:maxAccountName]
	}
	return provider.AccountSpec{Name: strings.TrimSpace(name), Email: en.AccountEmail}
}

// maxAccountName is AWS's limit on account names.
const maxAccountName = 50

// runAccountStage runs create_account and wait_until_active for one
// environment while it holds one of its provider's slots.
func (e *Engine) runAccountStage(ctx context.Context, job *river.Job[accountArgs]) error {
	en, proceed, err := e.beginProvisioning(ctx, job.Args.EnvID)
	if err != nil || !proceed {
		return err
	}
	cn, ok := e.conns[en.Provider]
	if !ok {
		return e.failPermanently(ctx, en.ID, StepCreateAccount, fmt.Errorf("provider %q is no longer configured", en.Provider))
	}
	steps, err := e.envs.Steps(ctx, e.db, en.ID)
	if err != nil {
		return err
	}
	if stepDone(steps, StepWaitUntilActive) {
		e.nudge(ctx, en.ID, kindCustomize, en.Provider)
		return nil
	}
	held, err := e.claimSlot(ctx, cn, en.ID)
	if err != nil {
		return err
	}
	if !held {
		// Its slot was freed while the job waited (a replica stopped, or an
		// operator's retry): the dispatcher gives it the next free one in
		// the order of requests. Snoozing costs no attempt.
		e.wakeDispatcher()
		return river.JobSnooze(e.cfg.SlotPollInterval + rand.N(e.cfg.SlotPollInterval+1)) //nolint:gosec // G404: jitter, not a secret
	}
	var detail createDetail
	if d := stepDetail(steps, StepCreateAccount); d != "" {
		if err := json.Unmarshal([]byte(d), &detail); err != nil {
			return fmt.Errorf("step detail of %s: %w", en.ID, err)
		}
	}
	// A creation the provider failed leaves the step done without a
	// request: the retry creates again.
	if !stepDone(steps, StepCreateAccount) || (detail.RequestID == "" && detail.AccountID == "") {
		if err := e.envs.StartStep(ctx, e.db, en.ID, StepCreateAccount); err != nil {
			return err
		}
		err := e.tryInline(ctx, en.ID, StepCreateAccount, cn, func(ctx context.Context) error {
			return e.createAccount(ctx, cn, en, &detail)
		})
		if err != nil {
			return e.handleStepError(ctx, job.JobRow.Attempt, job.JobRow.MaxAttempts, en.ID, StepCreateAccount, err)
		}
		// In a transaction: the step and its audit entry land together.
		if err := e.db.InTx(ctx, func(tx *store.Tx) error { return e.envs.FinishStep(ctx, tx, en.ID, StepCreateAccount) }); err != nil {
			return err
		}
	}
	if err := e.envs.StartStep(ctx, e.db, en.ID, StepWaitUntilActive); err != nil {
		return err
	}
	accountID, err := e.waitUntilActive(ctx, cn, en, &detail)
	if err != nil {
		var snooze *river.JobSnoozeError
		if errors.As(err, &snooze) {
			return err
		}
		return e.handleStepError(ctx, job.JobRow.Attempt, job.JobRow.MaxAttempts, en.ID, StepWaitUntilActive, err)
	}
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := e.envs.SetAccount(ctx, tx, en.ID, accountID); err != nil {
			return err
		}
		if err := e.envs.FinishStep(ctx, tx, en.ID, StepWaitUntilActive); err != nil {
			return err
		}
		if err := e.envs.AddEvent(ctx, tx, en.ID, "account_active", "", "provider account "+accountID+" is active"); err != nil {
			return err
		}
		return releaseSlot(ctx, tx, en.ID)
	})
	if err != nil {
		return err
	}
	e.slotFreed.signal()
	e.cfg.Metrics.accountsCreated.WithLabelValues(cn.Name).Inc()
	e.nudge(ctx, en.ID, kindCustomize, en.Provider)
	return nil
}

// createAccount calls the provider's non-idempotent CreateAccount at most
// once per environment, looking for an earlier creation whenever a previous
// call's outcome is unknown.
func (e *Engine) createAccount(ctx context.Context, cn *Connection, en env.Environment, d *createDetail) error {
	if d.RequestID != "" || d.AccountID != "" {
		return nil
	}
	spec := accountSpec(en)
	if d.Calling {
		found, err := cn.Provider.FindAccount(ctx, spec)
		if err != nil {
			return err
		}
		if found.AccountID != "" || found.RequestID != "" {
			d.AccountID, d.RequestID, d.Calling = found.AccountID, found.RequestID, false
			e.log.InfoContext(ctx, "adopted account creation found after an interrupted call", "env", en.ID, "account", found.AccountID, "request", found.RequestID)
			return e.saveDetail(ctx, en.ID, d)
		}
	}
	d.Calling = true
	if err := e.saveDetail(ctx, en.ID, d); err != nil {
		return err
	}
	e.cfg.Metrics.providerCalls.WithLabelValues(cn.Name, "CreateAccount").Inc()
	reqID, err := cn.Provider.CreateAccount(ctx, spec)
	if err != nil {
		return err
	}
	d.RequestID, d.Calling = reqID, false
	return e.saveDetail(ctx, en.ID, d)
}

func (e *Engine) saveDetail(ctx context.Context, envID string, d *createDetail) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return e.envs.SetStepDetail(ctx, e.db, envID, StepCreateAccount, string(b))
}

// waitUntilActive polls the creation until the account is active. It polls
// for at most half the job timeout and then snoozes the job, keeping the
// slot, so a job never outlives the window in which a crashed replica's job
// is rescued.
func (e *Engine) waitUntilActive(ctx context.Context, cn *Connection, en env.Environment, d *createDetail) (string, error) {
	if d.AccountID != "" {
		return d.AccountID, nil
	}
	deadline := time.Now().Add(e.cfg.JobTimeout / 2)
	failures := 0
	for {
		st, err := cn.Provider.CreateAccountStatus(ctx, d.RequestID)
		switch {
		case err != nil:
			if provider.ClassOf(err) == provider.Permanent {
				return "", err
			}
			failures++
			if failures >= inlineTries*2 {
				return "", err
			}
		case st.State == provider.CreateSucceeded:
			return st.AccountID, nil
		case st.State == provider.CreateFailed:
			id, err := e.creationFailed(ctx, cn, en, d, st)
			if id != "" || err != nil {
				return id, err
			}
		default:
			failures = 0
		}
		if time.Now().After(deadline) {
			return "", river.JobSnooze(cn.PollInterval)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(cn.PollInterval):
		}
	}
}

// creationFailed handles a creation the provider gave up on. A duplicate
// — an e-mail already used, or a request with the same details still in
// flight — is hatoba's own earlier or concurrent creation: the account
// that exists is adopted, the creation in flight is followed (an empty id
// and no error: poll on). A failure the provider calls its own (Retry)
// starts a fresh creation on the next attempt; any other stops with what
// the provider says an operator must do.
func (e *Engine) creationFailed(ctx context.Context, cn *Connection, en env.Environment, d *createDetail, st provider.CreateStatus) (string, error) {
	if st.Duplicate || st.FailureReason == "EMAIL_ALREADY_EXISTS" {
		found, err := cn.Provider.FindAccount(ctx, accountSpec(en))
		if err != nil {
			return "", err
		}
		switch {
		case found.AccountID != "":
			d.AccountID = found.AccountID
			return found.AccountID, e.saveDetail(ctx, en.ID, d)
		case found.RequestID != "" && found.RequestID != d.RequestID:
			e.log.InfoContext(ctx, "following the account creation already in flight", "env", en.ID, "failed", d.RequestID, "request", found.RequestID)
			d.RequestID = found.RequestID
			return "", e.saveDetail(ctx, en.ID, d)
		}
	}
	// Let a retry start a fresh creation.
	*d = createDetail{}
	if err := e.saveDetail(ctx, en.ID, d); err != nil {
		return "", err
	}
	msg := "the provider failed the account creation: " + st.FailureReason
	if st.FailureDetail != "" {
		msg += " (" + st.FailureDetail + ")"
	}
	class := provider.Permanent
	if st.Retry {
		class = provider.Transient
	}
	return "", &provider.Error{Class: class, Op: "CreateAccount", Code: st.FailureReason, Err: errors.New(msg)}
}

// runCustomizeStage runs the steps after the account exists and marks the
// environment ready.
func (e *Engine) runCustomizeStage(ctx context.Context, job *river.Job[customizeArgs]) error {
	en, err := e.envs.Get(ctx, e.db, job.Args.EnvID)
	if err != nil {
		return cancelIfGone(err)
	}
	if en.State != env.Provisioning {
		return nil
	}
	cn, ok := e.conns[en.Provider]
	if !ok {
		return e.failPermanently(ctx, en.ID, StepMoveToUnit, fmt.Errorf("provider %q is no longer configured", en.Provider))
	}
	if en.AccountID == "" {
		e.wakeDispatcher()
		return nil
	}
	steps, err := e.envs.Steps(ctx, e.db, en.ID)
	if err != nil {
		return err
	}
	for _, name := range customizeSteps {
		if !hasStep(steps, name) || stepDone(steps, name) {
			continue
		}
		if err := e.envs.StartStep(ctx, e.db, en.ID, name); err != nil {
			return err
		}
		err := e.tryInline(ctx, en.ID, name, cn, func(ctx context.Context) error {
			return e.runStep(ctx, cn, en, name)
		})
		if err != nil {
			return e.handleStepError(ctx, job.JobRow.Attempt, job.JobRow.MaxAttempts, en.ID, name, err)
		}
		if err := e.db.InTx(ctx, func(tx *store.Tx) error { return e.envs.FinishStep(ctx, tx, en.ID, name) }); err != nil {
			return err
		}
	}
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := e.envs.StartStep(ctx, tx, en.ID, StepReady); err != nil {
			return err
		}
		if err := e.envs.FinishStep(ctx, tx, en.ID, StepReady); err != nil {
			return err
		}
		_, err := e.envs.Transition(ctx, tx, en.ID, []env.State{env.Provisioning}, env.Ready, "", "account "+en.AccountID+" is ready")
		return err
	})
	if err == nil {
		e.cfg.Metrics.vended.WithLabelValues(cn.Name).Inc()
		e.cfg.Metrics.vendSeconds.WithLabelValues(cn.Name).Observe(e.envs.Now().Sub(en.CreatedAt).Seconds())
	}
	return err
}

// attachPolicies attaches the environment's preventive policies: those
// PolicySet gives for it, or the static Policies.
func (e *Engine) attachPolicies(ctx context.Context, p provider.Provider, en env.Environment) error {
	policies := e.cfg.Policies
	if e.cfg.PolicySet != nil {
		var err error
		if policies, err = e.cfg.PolicySet(ctx, en); err != nil {
			return fmt.Errorf("preventive policies of %s: %w", en.ID, err)
		}
	}
	return p.AttachPolicies(ctx, en.AccountID, policies)
}

func (e *Engine) runStep(ctx context.Context, cn *Connection, en env.Environment, name string) error {
	p := cn.Provider
	e.cfg.Metrics.providerCalls.WithLabelValues(cn.Name, name).Inc()
	switch name {
	case StepMoveToUnit:
		return e.moveToUnit(ctx, cn, en)
	case StepAttachPolicies:
		return e.attachPolicies(ctx, p, en)
	case StepAssignPermissionSets:
		return p.AssignAccess(ctx, en.AccountID, AccessGroups(en.ID))
	case StepBillingContact:
		contact := e.cfg.DefaultBilling
		o, err := e.orgs.Get(ctx, en.OrgID)
		if err != nil {
			return err
		}
		if o.Billing.Email != "" {
			contact = provider.Contact{Name: o.Billing.Name, Email: o.Billing.Email, Phone: o.Billing.Phone, Title: "Billing"}
		}
		if contact.Email == "" {
			return &provider.Error{Class: provider.Permanent, Op: "SetBillingContact",
				Err: fmt.Errorf("organisation %s has no billing contact and no default is configured", en.OrgID)}
		}
		if contact.Title == "" {
			contact.Title = "Billing"
		}
		return p.SetBillingContact(ctx, en.AccountID, contact)
	case StepTag:
		return p.TagAccount(ctx, en.AccountID, map[string]string{
			"hatoba:environment":    en.ID,
			"hatoba:organization":   en.OrgID,
			"hatoba:system":         en.SystemName,
			"hatoba:purpose":        string(en.Purpose),
			"hatoba:classification": string(en.Classification),
		})
	case StepBackupTarget:
		return e.ensureBackupTarget(ctx, en)
	}
	return fmt.Errorf("unknown step %q", name)
}

func (e *Engine) moveToUnit(ctx context.Context, cn *Connection, en env.Environment) error {
	path := strings.Split(en.UnitPath, "/")
	unitID, err := cn.Provider.EnsureUnit(ctx, path)
	if err != nil {
		return err
	}
	return cn.Provider.MoveAccount(ctx, en.AccountID, unitID)
}

// tryInline runs fn up to inlineTries times while it fails transiently.
func (e *Engine) tryInline(ctx context.Context, envID, step string, cn *Connection, fn func(context.Context) error) error {
	var err error
	for i := 0; i < inlineTries; i++ {
		if err = fn(ctx); err == nil {
			return nil
		}
		class := provider.ClassOf(err)
		e.cfg.Metrics.stepErrors.WithLabelValues(cn.Name, step, class.String()).Inc()
		if class != provider.Transient || ctx.Err() != nil {
			return err
		}
		if rerr := e.envs.StepError(ctx, e.db, envID, step, class.String(), err.Error(), false); rerr != nil {
			return rerr
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff(e.cfg.RetryBase/4, e.cfg.RetryBase, i)):
		}
	}
	return err
}

// handleStepError records a failed attempt and tells River what to do next.
func (e *Engine) handleStepError(ctx context.Context, attempt, maxAttempts int, envID, step string, err error) error {
	if ctx.Err() != nil {
		// Shutting down or timed out: not the provider's fault.
		return err
	}
	class := provider.ClassOf(err)
	if fe, ok := fault.As(err); ok && fe.Kind != fault.Internal {
		class = provider.Permanent
	}
	switch {
	case class == provider.Permanent:
		return e.failPermanently(ctx, envID, step, err)
	case class == provider.Throttling:
		if rerr := e.envs.StepError(ctx, e.db, envID, step, class.String(), err.Error(), false); rerr != nil {
			return rerr
		}
		return river.JobSnooze(backoff(e.cfg.RetryBase, e.cfg.RetryMax, attempt))
	case attempt >= maxAttempts:
		return e.failPermanently(ctx, envID, step, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
	default:
		if rerr := e.envs.StepError(ctx, e.db, envID, step, class.String(), err.Error(), false); rerr != nil {
			return rerr
		}
		return err
	}
}

// failPermanently marks the step and the environment failed, frees the
// provider slot, and cancels the job: only an operator's retry resumes it.
func (e *Engine) failPermanently(ctx context.Context, envID, step string, cause error) error {
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := e.envs.StepError(ctx, tx, envID, step, provider.Permanent.String(), cause.Error(), true); err != nil {
			return err
		}
		if err := releaseSlot(ctx, tx, envID); err != nil {
			return err
		}
		_, err := e.envs.Transition(ctx, tx, envID, []env.State{env.Provisioning, env.Approved}, env.Failed, "", step+": "+cause.Error())
		return err
	})
	e.slotFreed.signal()
	if err != nil && fault.KindOf(err) != fault.Conflict {
		return err
	}
	e.log.WarnContext(ctx, "environment failed", "env", envID, "step", step, "err", cause)
	return river.JobCancel(cause)
}

// beginProvisioning moves an approved environment to provisioning and says
// whether there is account work to do.
func (e *Engine) beginProvisioning(ctx context.Context, id string) (env.Environment, bool, error) {
	en, err := e.envs.Get(ctx, e.db, id)
	if err != nil {
		return env.Environment{}, false, cancelIfGone(err)
	}
	switch en.State {
	case env.Provisioning:
		return en, true, nil
	case env.Approved:
		err := e.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			en, err = e.envs.Transition(ctx, tx, id, []env.State{env.Approved}, env.Provisioning, "", "vending started")
			return err
		})
		if fault.KindOf(err) == fault.Conflict {
			return e.beginProvisioning(ctx, id)
		}
		return en, err == nil, err
	default:
		return en, false, nil
	}
}

func cancelIfGone(err error) error {
	if fault.KindOf(err) == fault.NotFound {
		return river.JobCancel(err)
	}
	return err
}

func stepDone(steps []env.Step, name string) bool {
	for _, s := range steps {
		if s.Name == name {
			return s.State == env.StepDone
		}
	}
	return false
}

func hasStep(steps []env.Step, name string) bool {
	for _, s := range steps {
		if s.Name == name {
			return true
		}
	}
	return false
}

func stepDetail(steps []env.Step, name string) string {
	for _, s := range steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}
