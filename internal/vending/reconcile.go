package vending

import (
	"context"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// DefaultManagedPolicyPrefix names the policies hatoba renders from the
// controls (controls.RenderSCPs): the ones reconciliation may detach.
const DefaultManagedPolicyPrefix = "hatoba-preventive"

// ReconcilePolicies brings a ready environment's account to the policy
// set PolicySet gives now: an assignment promoted to enforce (or removed)
// after the account was vended reaches it here. Policies hatoba does not
// manage are never detached. A provider that cannot set policies is
// skipped (false).
func (e *Engine) ReconcilePolicies(ctx context.Context, en env.Environment) (bool, error) {
	if e.cfg.PolicySet == nil || en.State != env.Ready || en.AccountID == "" {
		return false, nil
	}
	cn, ok := e.conns[en.Provider]
	if !ok {
		return false, fault.Conflictf("environment %s is on provider %q, which this server has no connection to", en.ID, en.Provider)
	}
	setter, ok := cn.Provider.(provider.PolicySetter)
	if !ok {
		return false, nil
	}
	policies, err := e.cfg.PolicySet(ctx, en)
	if err != nil {
		return false, fmt.Errorf("preventive policies of %s: %w", en.ID, err)
	}
	if err := setter.SetPolicies(ctx, en.AccountID, e.managedPrefix(), policies); err != nil {
		return false, fmt.Errorf("reconcile the policies of %s: %w", en.ID, err)
	}
	return true, nil
}

func (e *Engine) managedPrefix() string {
	if e.cfg.ManagedPolicyPrefix != "" {
		return e.cfg.ManagedPolicyPrefix
	}
	return DefaultManagedPolicyPrefix
}

// ReconcileAllPolicies reconciles every ready environment and reports how
// many were brought to their set and how many failed (each failure logged).
func (e *Engine) ReconcileAllPolicies(ctx context.Context) (done, failed int, err error) {
	cursor := ""
	for {
		page, err := e.envs.List(ctx, env.ListParams{State: env.Ready, Limit: 500, Cursor: cursor})
		if err != nil {
			return done, failed, err
		}
		for _, en := range page.Items {
			if ctx.Err() != nil {
				return done, failed, ctx.Err()
			}
			ok, err := e.ReconcilePolicies(ctx, en)
			switch {
			case err != nil:
				failed++
				e.log.Warn("reconciling preventive policies", "env", en.ID, "err", err)
			case ok:
				done++
			}
		}
		if page.NextCursor == "" {
			return done, failed, nil
		}
		cursor = page.NextCursor
	}
}
