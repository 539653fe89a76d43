package main

import (
	"context"
	"log/slog"
	"slices"

	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// placementSeed is the policy the configuration seeds on the first start:
// its rules, or the default (level3 only on the domestic tier), each with
// the configured on_breach.
func placementSeed(c config.Placement) placement.Policy {
	onBreach := placement.Approve
	if c.OnBreach != "" {
		onBreach = placement.OnBreach(c.OnBreach)
	}
	p := placement.Default()
	if len(c.Rules) > 0 {
		p.Rules = nil
		for _, cl := range placement.Classifications {
			if tiers, ok := c.Rules[cl]; ok {
				p.Rules = append(p.Rules, placement.Rule{Classification: cl, Tiers: slices.Clone(tiers), Providers: []string{}})
			}
		}
	}
	for i := range p.Rules {
		p.Rules[i].OnBreach = onBreach
	}
	p.OneProviderPerSystem = placement.SystemRule{Enabled: c.OneProviderPerSystem, OnBreach: onBreach}
	return p
}

// buildPlacement keeps the placement policy, seeded from the configuration
// the first time (afterwards the database holds it: a changed
// configuration is logged, not applied).
func buildPlacement(ctx context.Context, db *store.DB, c config.Placement, log *slog.Logger) (*placement.Service, error) {
	svc := placement.NewService(db, nil)
	seeded, err := svc.Seed(ctx, placementSeed(c))
	if err != nil {
		return nil, err
	}
	if seeded {
		log.Info("placement policy seeded from the configuration", "version", 1)
	} else if len(c.Rules) > 0 || c.OnBreach != "" || c.OneProviderPerSystem {
		log.Debug("the database holds the placement policy; the configuration's placement seeds only the first start")
	}
	return svc, nil
}
