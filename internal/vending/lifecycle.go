package vending

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// Actor names the rules engine when no person decided.
const ActorRules = "rules"

// Request records a request for an environment, applies the approval rules
// and, when they approve, starts vending. With a non-empty idempotencyKey a
// repeated request returns the environment the first one made (created is
// then false).
func (e *Engine) Request(ctx context.Context, req env.Request, idempotencyKey string) (out env.Environment, created bool, err error) {
	req.SystemName = strings.TrimSpace(req.SystemName)
	if err := req.Validate(); err != nil {
		return env.Environment{}, false, err
	}
	// Admit a bounded number of requests to the database at once. A burst
	// of thousands of requests would otherwise take every connection (and,
	// on SQLite, the one writer) and stall the workers vending the
	// environments already requested; the burst waits here instead.
	select {
	case e.intake <- struct{}{}:
		defer func() { <-e.intake }()
	case <-ctx.Done():
		return env.Environment{}, false, fmt.Errorf("request: %w", ctx.Err())
	}
	return e.request(ctx, req, idempotencyKey)
}

func (e *Engine) request(ctx context.Context, req env.Request, idempotencyKey string) (out env.Environment, created bool, err error) {
	cn, ok := e.conns[req.Provider]
	if !ok {
		return env.Environment{}, false, fault.InvalidField("provider", "provider %q is not configured (configured: %s)", req.Provider, strings.Join(e.ConnectionNames(), ", "))
	}
	hash := requestHash(req)
	if idempotencyKey != "" {
		if id, err := e.envs.IdempotentResult(ctx, e.db, req.Principal(), idempotencyKey, hash); err != nil || id != "" {
			if err != nil {
				return env.Environment{}, false, err
			}
			out, err := e.envs.Get(ctx, e.db, id)
			return out, false, err
		}
	}
	if e.cfg.Admit != nil {
		if err := e.cfg.Admit(ctx, cn.Name, req.Classification); err != nil {
			return env.Environment{}, false, err
		}
	}
	// Reads outside the transaction: with SQLite's single connection the
	// transaction below must not wait on another query.
	o, err := e.orgs.Get(ctx, req.OrgID)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return env.Environment{}, false, fault.InvalidField("org_id", "organisation %q does not exist", req.OrgID)
		}
		return env.Environment{}, false, err
	}
	quota, err := e.orgs.Quota(ctx, o.ID, e.cfg.DefaultQuota)
	if err != nil {
		return env.Environment{}, false, err
	}
	unitPath, err := e.orgs.UnitPathFor(ctx, o.ID)
	if err != nil {
		return env.Environment{}, false, err
	}
	var target *tenantbackup.Target
	if req.Backup {
		if target, err = e.backupTarget(cn); err != nil {
			return env.Environment{}, false, err
		}
	}
	pol, ancestors, err := e.placementFor(ctx, o.ID)
	if err != nil {
		return env.Environment{}, false, err
	}
	now := e.envs.Now()
	en := env.Environment{
		ID: env.NewID(now), OrgID: o.ID, SystemName: req.SystemName, Purpose: req.Purpose,
		Classification: req.Classification, Provider: cn.Name, State: env.Requested,
		UnitPath: strings.Join(unitPath, "/"), RequestedBy: req.RequestedBy, CreatedAt: now, UpdatedAt: now,
	}
	en.AccountEmail = strings.ReplaceAll(cn.EmailTemplate, "{id}", en.ID)
	approved := false
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockOrg(ctx, tx, o.ID); err != nil {
			return err
		}
		live, err := e.envs.CountLive(ctx, tx, o.ID)
		if err != nil {
			return err
		}
		// Judged under the organisation's lock: two requests for one
		// system on two providers do not both pass the one-provider rule.
		var held []string
		if pol != nil {
			c, err := e.candidate(ctx, tx, *pol, en, ancestors, "")
			if err != nil {
				return err
			}
			if held, err = placement.Decide(c, pol.Judge(c), false, "the request"); err != nil {
				return err
			}
		}
		if err := e.envs.Insert(ctx, tx, en, stepsFor(target != nil)); err != nil {
			return err
		}
		if target != nil {
			target.EnvID, target.Bucket, target.CreatedAt = en.ID, tenantbackup.BucketName(en.ID), now
			if err := e.cfg.Backups.InsertTarget(ctx, tx, *target); err != nil {
				return err
			}
		}
		if idempotencyKey != "" {
			if err := e.envs.RememberIdempotency(ctx, tx, req.Principal(), idempotencyKey, hash, en.ID); err != nil {
				return err
			}
		}
		reasons := append(env.Rules{Quota: quota, Allowed: cn.Allowed}.Check(req, live), held...)
		if len(reasons) > 0 {
			return e.envs.SetApprovalNotes(ctx, tx, en.ID, strings.Join(reasons, "; "))
		}
		approved = true
		_, err = e.envs.Transition(ctx, tx, en.ID, []env.State{env.Requested}, env.Approved, ActorRules, "within quota and classification allowed on "+cn.Name)
		return err
	})
	if err != nil {
		if idempotencyKey != "" && store.IsUniqueViolation(err) {
			// A concurrent request with the same key won; answer as it did.
			return e.request(ctx, req, idempotencyKey)
		}
		return env.Environment{}, false, err
	}
	if approved {
		e.wakeDispatcher()
	}
	out, err = e.envs.Get(ctx, e.db, en.ID)
	return out, true, err
}

func requestHash(req env.Request) string {
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lockOrg serialises quota checks of one organisation.
func lockOrg(ctx context.Context, tx *store.Tx, orgID string) error {
	return tx.LockRow(ctx, "organizations", orgID)
}

// Approve approves a request that waits for a central operator.
func (e *Engine) Approve(ctx context.Context, id, actor, note string) (env.Environment, error) {
	var out env.Environment
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = e.envs.Transition(ctx, tx, id, []env.State{env.Requested}, env.Approved, actor, note)
		return err
	})
	if err != nil {
		return env.Environment{}, err
	}
	e.startWork(ctx, out)
	return out, nil
}

// Reject rejects a waiting request; the reason is required and shown to the tenant.
func (e *Engine) Reject(ctx context.Context, id, actor, reason string) (env.Environment, error) {
	if strings.TrimSpace(reason) == "" {
		return env.Environment{}, fault.InvalidField("reason", "a rejection needs a reason the requester can act on")
	}
	var out env.Environment
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = e.envs.Transition(ctx, tx, id, []env.State{env.Requested}, env.Rejected, actor, reason)
		return err
	})
	return out, err
}

// Retry starts a failed environment's workflow again from its first step
// that is not done.
func (e *Engine) Retry(ctx context.Context, id, actor string) (env.Environment, error) {
	var out env.Environment
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := e.envs.ResetFailedSteps(ctx, tx, id); err != nil {
			return err
		}
		var err error
		out, err = e.envs.Transition(ctx, tx, id, []env.State{env.Failed}, env.Approved, actor, "retry")
		return err
	})
	if err != nil {
		return env.Environment{}, err
	}
	e.startWork(ctx, out)
	return out, nil
}

// startWork starts an approved environment: one still without an account
// waits in the dispatcher's line for a provider slot; one whose account
// exists goes on with the steps after it.
func (e *Engine) startWork(ctx context.Context, en env.Environment) {
	if en.AccountID == "" {
		e.wakeDispatcher()
		return
	}
	e.nudge(ctx, en.ID, kindAccount, en.Provider)
}

// Transfer gives a ready environment to another organisation and moves its
// account to that organisation's unit in the provider.
func (e *Engine) Transfer(ctx context.Context, id, toOrg, actor string) (env.Environment, error) {
	o, err := e.orgs.Get(ctx, toOrg)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return env.Environment{}, fault.InvalidField("org_id", "organisation %q does not exist", toOrg)
		}
		return env.Environment{}, err
	}
	path, err := e.orgs.UnitPathFor(ctx, o.ID)
	if err != nil {
		return env.Environment{}, err
	}
	pol, ancestors, err := e.placementFor(ctx, o.ID)
	if err != nil {
		return env.Environment{}, err
	}
	var fromAncestors []string
	if pol != nil && pol.HasOrgRules() {
		before, err := e.envs.Get(ctx, e.db, id)
		if err != nil {
			return env.Environment{}, err
		}
		if fromAncestors, err = e.subtreesOf(ctx, before.OrgID); err != nil {
			return env.Environment{}, err
		}
	}
	var out env.Environment
	var leaving []envaccess.Key
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := e.envs.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.State != env.Ready {
			return fault.Conflictf("environment %s is %s; only a ready environment can be transferred", id, cur.State)
		}
		if cur.OrgID == o.ID {
			return fault.InvalidField("org_id", "environment %s already belongs to %s", id, o.ID)
		}
		if pol != nil {
			if err := lockOrg(ctx, tx, o.ID); err != nil {
				return err
			}
			if err := e.judgeTransfer(ctx, tx, *pol, cur, o.ID, fromAncestors, ancestors); err != nil {
				return err
			}
		}
		if err := e.envs.SetOwner(ctx, tx, id, o.ID, strings.Join(path, "/")); err != nil {
			return err
		}
		if err := e.envs.SetUnitMovePending(ctx, tx, id, true); err != nil {
			return err
		}
		if err := e.envs.AddEvent(ctx, tx, id, "transferred", actor, fmt.Sprintf("transferred from %s to %s; moving account to unit %s", cur.OrgID, o.ID, strings.Join(path, "/"))); err != nil {
			return err
		}
		// The old organisation's people leave the account with it.
		if e.cfg.Access != nil {
			if leaving, err = e.cfg.Access.RevokeOutside(ctx, tx, id, o.ID); err != nil {
				return err
			}
		}
		out, err = e.envs.Get(ctx, tx, id)
		return err
	})
	if err != nil {
		return env.Environment{}, err
	}
	e.nudge(ctx, id, kindMove, out.Provider)
	for _, k := range leaving {
		e.nudgeAccess(ctx, k)
	}
	return out, nil
}

// Close closes an environment's account; a request never vended closes at once.
func (e *Engine) Close(ctx context.Context, id, actor, reason string) (env.Environment, error) {
	var out env.Environment
	needsProvider := false
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := e.envs.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		switch cur.State {
		case env.Requested:
			out, err = e.envs.Transition(ctx, tx, id, []env.State{env.Requested}, env.Closed, actor, reason)
		case env.Ready, env.Failed:
			needsProvider = true
			out, err = e.envs.Transition(ctx, tx, id, []env.State{env.Ready, env.Failed}, env.Closing, actor, reason)
		default:
			err = fault.Conflictf("environment %s is %s; close it when it is ready, failed or still waiting for approval", id, cur.State)
		}
		return err
	})
	if err != nil {
		return env.Environment{}, err
	}
	if needsProvider {
		e.nudge(ctx, id, kindClose, out.Provider)
	}
	return out, nil
}

// placementFor reads the placement policy in force and, when it has rules
// for organisations' subtrees, where orgID sits; nil without a policy.
// Both are read outside the transaction that uses them (SQLite's one
// writer connection must not wait on another query).
func (e *Engine) placementFor(ctx context.Context, orgID string) (*placement.Policy, []string, error) {
	if e.cfg.Placement == nil {
		return nil, nil, nil
	}
	pol, err := e.cfg.Placement.Current(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ancestors []string
	if pol.HasOrgRules() {
		if ancestors, err = e.subtreesOf(ctx, orgID); err != nil {
			return nil, nil, err
		}
	}
	return &pol, ancestors, nil
}

// subtreesOf are the organisation and those above it: the subtrees it is in.
func (e *Engine) subtreesOf(ctx context.Context, orgID string) ([]string, error) {
	up, err := e.orgs.AncestorIDs(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return append([]string{orgID}, up...), nil
}

// candidate is en as the policy judges it in its organisation (orgID, or
// en's own when empty): with the system's other live environments there
// when the one-provider rule is on.
func (e *Engine) candidate(ctx context.Context, tx *store.Tx, pol placement.Policy, en env.Environment, ancestors []string, orgID string) (placement.Candidate, error) {
	if orgID == "" {
		orgID = en.OrgID
	}
	tier := placement.TierHyperscaler
	if cn, ok := e.conns[en.Provider]; ok {
		tier = cn.Tier
	}
	c := placement.Candidate{OrgID: orgID, System: en.SystemName, Classification: string(en.Classification),
		Provider: en.Provider, Tier: tier, Ancestors: ancestors}
	if pol.OneProviderPerSystem.Enabled {
		others, err := e.envs.LiveOfSystem(ctx, tx, orgID, en.SystemName)
		if err != nil {
			return placement.Candidate{}, err
		}
		for _, o := range others {
			if o.ID != en.ID {
				c.Others = append(c.Others, placement.Placed{EnvID: o.ID, Provider: o.Provider})
			}
		}
	}
	return c, nil
}

// judgeTransfer refuses a transfer that would break placement in the
// organisation it goes to: a rule it breaks there and did not break where
// it is (one it broke already, an operator approved). A transfer has no
// approval queue: every such breach refuses it.
func (e *Engine) judgeTransfer(ctx context.Context, tx *store.Tx, pol placement.Policy, cur env.Environment, toOrg string, fromAncestors, toAncestors []string) error {
	here, err := e.candidate(ctx, tx, pol, cur, fromAncestors, "")
	if err != nil {
		return err
	}
	already := map[string]bool{}
	for _, b := range pol.Judge(here) {
		already[b.Rule] = true
	}
	there, err := e.candidate(ctx, tx, pol, cur, toAncestors, toOrg)
	if err != nil {
		return err
	}
	var fresh []placement.Breach
	for _, b := range pol.Judge(there) {
		if !already[b.Rule] {
			fresh = append(fresh, b)
		}
	}
	_, err = placement.Decide(there, fresh, true, fmt.Sprintf("the transfer of %s to %s", cur.ID, toOrg))
	return err
}
