package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// openstackDriver builds the driver of an openstack connection. Its secret
// (an application credential's, or a password) is read from hatoba's
// secret store when the driver first authenticates, so a sealed key
// service stops it like everything else; config.Validate has made sure the
// configuration names a stored secret and holds none.
func openstackDriver(p config.Provider, sealed *secrets.Store) (*openstack.Driver, error) {
	name, ok := strings.CutPrefix(p.OpenStack.Secret, secrets.Reference)
	if !ok {
		return nil, fmt.Errorf("provider %s: openstack.secret must name a stored secret (secret:NAME)", p.Name)
	}
	if sealed == nil {
		return nil, fmt.Errorf("provider %s: openstack.secret names a stored secret, which needs the key service (keyd.embedded)", p.Name)
	}
	o := p.OpenStack
	return openstack.New(openstack.Config{Name: p.Name, AuthURL: o.AuthURL, Domain: o.Domain, Region: o.Region,
		ApplicationCredentialID: o.ApplicationCredentialID, Username: o.Username, UserDomain: o.UserDomain,
		Secret: func(ctx context.Context) (string, error) {
			v, err := sealed.Get(ctx, name)
			if err != nil {
				return "", fmt.Errorf("provider credentials: %w", err)
			}
			return string(v), nil
		},
		AdministratorRoles: o.AdministratorRoles, NonAdministratorRoles: o.NonAdministratorRoles,
		DomesticRegions: o.DomesticRegions, Retention: o.Retention})
}

// openstackGuardrails is vending's PolicySet for environments on an
// OpenStack connection: the preventive controls in force on the
// environment (as preventivePolicies selects them for SCPs) rendered to
// OpenStack guardrails. There is no baseline SCP: the connection's
// domestic regions are the driver's own guardrail.
func openstackGuardrails(orgs *org.Registry, as *assignments.Service, lookup func(id string) (controls.Control, bool)) func(context.Context, env.Environment) ([]provider.Policy, error) {
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
		rendered, err := controls.RenderOpenStackGuardrails(enforced, vending.DefaultManagedPolicyPrefix)
		if err != nil {
			return nil, err
		}
		out := make([]provider.Policy, 0, len(rendered))
		for _, r := range rendered {
			out = append(out, provider.Policy{Name: r.Name, Description: r.Description, Document: r.Document})
		}
		return out, nil
	}
}

// policySetByDriver gives each environment the policy set of its
// connection's driver.
func policySetByDriver(providers []config.Provider, aws, openstack func(context.Context, env.Environment) ([]provider.Policy, error)) func(context.Context, env.Environment) ([]provider.Policy, error) {
	onOpenStack := map[string]bool{}
	for _, p := range providers {
		onOpenStack[p.Name] = p.Driver == "openstack"
	}
	return func(ctx context.Context, en env.Environment) ([]provider.Policy, error) {
		if onOpenStack[en.Provider] {
			return openstack(ctx, en)
		}
		return aws(ctx, en)
	}
}

// closedPurger is a driver that keeps closed accounts for a retention and
// deletes them itself (openstack: a closed project is disabled, then
// deleted); AWS deletes closed accounts on its own.
type closedPurger interface {
	PurgeClosed(ctx context.Context) (int, error)
}

// purgeClosed deletes the closed accounts whose retention has passed, on
// every connection that keeps them; hatoba's own records stay.
func purgeClosed(ctx context.Context, conns []vending.Connection, log *slog.Logger) {
	for _, cn := range conns {
		p, ok := cn.Provider.(closedPurger)
		if !ok {
			continue
		}
		n, err := p.PurgeClosed(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("deleting closed accounts after their retention", "provider", cn.Name, "err", err)
		case n > 0:
			log.Info("closed accounts deleted after their retention", "provider", cn.Name, "deleted", n)
		}
	}
}

// providerOfType names the provider of a resource by its Terraform type,
// as the controls' findings show it.
func providerOfType(typ string) string {
	if strings.HasPrefix(typ, "openstack_") {
		return "openstack"
	}
	return "aws"
}
