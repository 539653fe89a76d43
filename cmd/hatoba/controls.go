package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// controlParts are the controls as serve runs them: the running catalog
// (built-in and custom controls), assignments and exceptions, the
// detective findings and the collector.
type controlParts struct {
	catalog     *controls.Catalog
	assignments *assignments.Service
	posture     *posture.Service
	collector   *posture.Collector
	source      *inventorySource
}

// buildCatalog opens the running catalog and the assignments, and on a
// fresh installation assigns the built-in detective controls everywhere.
// Vending needs both (for the preventive policies) before the rest of the
// controls, which need vending, are built by buildControls.
func buildCatalog(ctx context.Context, db *store.DB, log *slog.Logger) (*controlParts, error) {
	cat, err := controls.OpenCatalog(ctx, controls.NewStore(db, time.Now))
	if err != nil {
		return nil, err
	}
	p := &controlParts{catalog: cat, assignments: assignments.New(db, cat.Control, time.Now)}
	var ids []string
	for _, c := range cat.Engine().Controls() {
		if c.Builtin && c.Has(controls.Detective) {
			ids = append(ids, c.ID)
		}
	}
	if n, err := p.assignments.EnsureBaseline(ctx, ids); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("assigned the built-in detective controls to every organisation in detect mode", "controls", n)
	}
	return p, nil
}

// buildControls adds the detective side: the findings, evaluated with the
// catalog's current engine over what applies to each environment, and the
// collector that reads inventories through vending's connections.
func (p *controlParts) buildControls(db *store.DB, orgs *org.Registry, envs *env.Store, engine *vending.Engine, log *slog.Logger) {
	p.posture = posture.New(db, p.catalog.Engine(), time.Now)
	p.posture.SetEngine(p.catalog.Engine)
	p.posture.SetScope(func(ctx context.Context, envID, orgID string) (func(controls.Control) bool, error) {
		eff, err := p.effective(ctx, orgs, envID, orgID)
		if err != nil {
			return nil, err
		}
		return func(c controls.Control) bool { _, ok := eff[c.ID]; return ok }, nil
	})
	p.source = &inventorySource{envs: envs, vending: engine}
	p.collector = posture.NewCollector(p.posture, p.source, log.With("component", "posture"), 4)
}

// effective is what applies to an environment of orgID: what is assigned to
// it, an ancestor or every organisation, less its exceptions.
func (p *controlParts) effective(ctx context.Context, orgs *org.Registry, envID, orgID string) (map[string]assignments.Mode, error) {
	ancestors, err := orgs.AncestorIDs(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return p.assignments.Effective(ctx, envID, append(ancestors, orgID))
}

// inventorySource lists ready environments' resources through their
// provider connections' Inventory capability.
type inventorySource struct {
	envs    *env.Store
	vending *vending.Engine
	// assess, when set, assesses the environment's sovereignty from the
	// inventory just listed and returns the assessment as one more
	// resource for the detective controls (hatoba-sovereignty-floor);
	// ok is false when there is nothing to assess it by.
	assess func(ctx context.Context, envID string, rs []controls.Resource) (a controls.Resource, ok bool, err error)
	// backups, when set, describes the environment's backup target and
	// its newest backups (tenantbackup.go).
	backups func(ctx context.Context, envID string) ([]controls.Resource, error)
}

func (s *inventorySource) Targets(ctx context.Context) ([]posture.Target, error) {
	var out []posture.Target
	err := eachReady(ctx, s.envs, func(en env.Environment) {
		cn, ok := s.vending.Connection(en.Provider)
		if !ok || en.AccountID == "" {
			return
		}
		if _, ok := cn.Provider.(provider.Inventory); !ok {
			return
		}
		out = append(out, posture.Target{EnvID: en.ID, OrgID: en.OrgID, Provider: en.Provider, AccountID: en.AccountID})
	})
	return out, err
}

// eachReady calls fn for every ready environment, a page at a time.
func eachReady(ctx context.Context, envs *env.Store, fn func(env.Environment)) error {
	cursor := ""
	for {
		page, err := envs.List(ctx, env.ListParams{State: env.Ready, Limit: 500, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, en := range page.Items {
			fn(en)
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

func (s *inventorySource) List(ctx context.Context, t posture.Target) ([]controls.Resource, error) {
	cn, ok := s.vending.Connection(t.Provider)
	if !ok {
		return nil, fmt.Errorf("no provider connection %q", t.Provider)
	}
	inv, ok := cn.Provider.(provider.Inventory)
	if !ok {
		return nil, fmt.Errorf("provider %s cannot list resources", t.Provider)
	}
	// The provider may throttle or fail for a moment (the collector and
	// the vending workers share its rate): retry those a few times.
	var rs []provider.Resource
	var err error
	for attempt, pause := 1, 200*time.Millisecond; ; attempt, pause = attempt+1, pause*2 {
		rs, err = inv.ListResources(ctx, t.AccountID)
		if err == nil || provider.ClassOf(err) == provider.Permanent || attempt == 5 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]controls.Resource, len(rs), len(rs)+1)
	for i, r := range rs {
		out[i] = controls.Resource{Provider: providerOfType(r.Type), Type: r.Type, ID: r.ID, Region: r.Region, Environment: t.EnvID, Config: r.Config}
	}
	if s.backups != nil {
		bs, err := s.backups(ctx, t.EnvID)
		if err != nil {
			return nil, fmt.Errorf("backup target of %s: %w", t.EnvID, err)
		}
		out = append(out, bs...)
	}
	if s.assess != nil {
		a, ok, err := s.assess(ctx, t.EnvID, out)
		if err != nil {
			return nil, fmt.Errorf("sovereignty of %s: %w", t.EnvID, err)
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// preventivePolicies is vending's PolicySet: base, then the preventive
// controls in force on the environment — assigned to its organisation, an
// ancestor or every organisation, promoted to enforce, without an approved
// exception; built-in or custom, as the running catalog (lookup) knows them
// — rendered to SCPs in the slots left by FullAWSAccess and base.
// Detect-mode assignments render nothing: detect before prevent. Controls
// that do not fit are refused (an controls.SCPFitError, a conflict), which
// fails the step permanently.
func preventivePolicies(orgs *org.Registry, as *assignments.Service, lookup func(id string) (controls.Control, bool),
	base []provider.Policy) func(context.Context, env.Environment) ([]provider.Policy, error) {
	p := &controlParts{assignments: as}
	return func(ctx context.Context, en env.Environment) ([]provider.Policy, error) {
		eff, err := p.effective(ctx, orgs, en.ID, en.OrgID)
		if err != nil {
			return nil, err
		}
		var enforced []controls.Control
		for id, mode := range eff {
			if c, ok := lookup(id); ok && mode == assignments.Enforce && c.Has(controls.Preventive) {
				enforced = append(enforced, c)
			}
		}
		rendered, err := controls.RenderSCPs(enforced, controls.SCPOptions{MaxPolicies: controls.SCPMaxPerTarget - 1 - len(base)})
		if err != nil {
			return nil, err
		}
		out := slices.Clone(base)
		for _, r := range rendered {
			out = append(out, provider.Policy{Name: r.Name, Description: r.Description, Document: r.Document})
		}
		return out, nil
	}
}

// reconcilePolicies brings every ready environment's account to its
// preventive policies, so that enforcing (or no longer enforcing) a
// control reaches accounts vended before.
func reconcilePolicies(ctx context.Context, engine *vending.Engine, log *slog.Logger) {
	done, failed, err := engine.ReconcileAllPolicies(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("reconciling preventive policies", "err", err)
	case done+failed > 0:
		log.Debug("preventive policies reconciled", "environments", done, "failed", failed)
	}
}

// reloadCatalog picks up custom controls other replicas added or deleted.
func reloadCatalog(ctx context.Context, cat *controls.Catalog, log *slog.Logger) {
	if err := cat.Reload(ctx); err != nil && ctx.Err() == nil {
		log.Warn("reloading the control catalog", "err", err)
	}
}

// unavailable marks a provider failure that outlived the retries as the
// provider's, not hatoba's: the API answers 503 with the cause, not a 500.
func unavailable(err error) error {
	if provider.ClassOf(err) == provider.Permanent {
		return err
	}
	return &fault.Error{Kind: fault.Unavailable, Message: "the provider did not answer the inventory request: " + err.Error(), Err: err}
}
