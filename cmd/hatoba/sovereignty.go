package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/portability"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// sovereigntyFacts gathers an environment's facts for its assessment from
// the capabilities that own them.
type sovereigntyFacts struct {
	db         *store.DB
	envs       *env.Store
	posture    *posture.Service
	access     *envaccess.Service
	ids        *identity.Service
	breakGlass *breakglass.Service
	keys       *keys.Service // nil without a key service in this process
	// backups are the environment's ready backup targets, and tierOf a
	// connection's tier; nil without tenants' backups.
	backups func(ctx context.Context, envID string) ([]tenantbackup.Location, error)
	tierOf  func(connection string) string
}

// breakGlassWindow is how far back a central operator's grant counts as a
// party of an environment's exposure report.
const breakGlassWindow = 90 * 24 * time.Hour

func (s *sovereigntyFacts) facts(ctx context.Context, envID string, inv []controls.Resource) (sovereignty.Facts, error) {
	en, err := s.envs.Get(ctx, s.db, envID)
	if err != nil {
		return sovereignty.Facts{}, err
	}
	f := sovereignty.Facts{Environment: en.ID, Organization: en.OrgID, Classification: string(en.Classification), Connection: en.Provider,
		System: en.SystemName}
	if inv == nil {
		if inv, err = s.posture.Inventory(ctx, envID); err != nil && fault.KindOf(err) != fault.NotFound {
			return sovereignty.Facts{}, fmt.Errorf("inventory: %w", err)
		}
	}
	var keyStores []string
	for _, r := range inv {
		if r.Region != "" {
			f.ResourceRegions = append(f.ResourceRegions, r.Region)
		}
		if z, _ := r.Config["availability_zone"].(string); z != "" {
			f.Zones = append(f.Zones, z)
		}
		if r.Type == "aws_kms_key" {
			ks, _ := r.Config["custom_key_store_id"].(string)
			keyStores = append(keyStores, ks)
		}
	}
	// The services a move would have to rebuild, as exit readiness
	// classifies them (docs/exit.md).
	for _, svc := range portability.Assess(inv).Rework {
		f.ProprietaryServices = append(f.ProprietaryServices, svc.Type)
	}
	f.HYOK.Connected = sovereignty.KeyStoreOf(keyStores)
	if f.HYOK.Connected && s.keys != nil {
		killed, err := s.keys.Killed(ctx, en.OrgID)
		if err != nil {
			return sovereignty.Facts{}, fmt.Errorf("kill switch: %w", err)
		}
		f.HYOK.KillSwitch = map[bool]string{true: "pulled", false: "armed"}[killed]
	}
	if f.Backups, err = backupFacts(ctx, envID, s.backups, s.tierOf); err != nil {
		return sovereignty.Facts{}, err
	}
	holders, err := s.access.List(ctx, envID)
	if err != nil {
		return sovereignty.Facts{}, fmt.Errorf("permission sets: %w", err)
	}
	name := func(id string) string {
		p, err := s.ids.Person(ctx, id)
		if err != nil {
			return id
		}
		return p.DisplayName
	}
	for _, h := range holders {
		if h.State == envaccess.Removing {
			continue
		}
		f.People = append(f.People, sovereignty.Person{ID: h.PersonID, Name: name(h.PersonID), Role: string(h.PermissionSet)})
	}
	grants, err := s.breakGlass.List(ctx, []string{en.OrgID}, true, 500)
	if err != nil {
		return sovereignty.Facts{}, fmt.Errorf("break-glass grants: %w", err)
	}
	since := time.Now().Add(-breakGlassWindow)
	for _, g := range grants {
		if g.StartsAt == nil || g.StartsAt.Before(since) {
			continue
		}
		f.People = append(f.People, sovereignty.Person{ID: g.RequesterID, Name: name(g.RequesterID), Role: "break-glass", Central: true,
			Grant: g.ID, At: *g.StartsAt})
	}
	return f, nil
}

// backupFacts are where an environment's backup targets keep its data, as
// the assessment reads them: the connection, its tier and the country
// whose law it answers to.
func backupFacts(ctx context.Context, envID string, locations func(context.Context, string) ([]tenantbackup.Location, error),
	tierOf func(string) string) ([]sovereignty.Backup, error) {
	if locations == nil {
		return nil, nil
	}
	locs, err := locations(ctx, envID)
	if err != nil {
		return nil, fmt.Errorf("backup locations: %w", err)
	}
	var out []sovereignty.Backup
	for _, l := range locs {
		b := sovereignty.Backup{Connection: l.Provider, Country: l.Jurisdiction}
		if tierOf != nil {
			b.Tier = tierOf(l.Provider)
		}
		out = append(out, b)
	}
	return out, nil
}

// drift hands an assessment made between collections, whose enforced
// floor breaches changed, to the detective controls with the stored
// inventory: the floor finding opens or resolves and reaches notify
// through posture's hook, as a collection's findings do. (A collection of
// the same environment at the same moment may be recorded before it; the
// next collection sets the inventory right.)
func (s *sovereigntyFacts) drift(ctx context.Context, r sovereignty.Report) error {
	_, _, err := s.posture.Reevaluate(ctx, r.Environment, r.Organization, r.Resource())
	return err
}

// environments lists the environments to assess: the ready ones.
func (s *sovereigntyFacts) environments(ctx context.Context, connection string) ([]string, error) {
	var ids []string
	err := eachReady(ctx, s.envs, func(en env.Environment) {
		if connection == "" || en.Provider == connection {
			ids = append(ids, en.ID)
		}
	})
	return ids, err
}

// buildSovereignty builds the service and imports the configured profiles
// (the shipped examples when none is configured).
func buildSovereignty(ctx context.Context, cfg config.Sovereignty, facts *sovereigntyFacts, log *slog.Logger) (*sovereignty.Service, error) {
	eng, err := sovereignty.NewEngine(ctx, nil)
	if err != nil {
		return nil, err
	}
	floors := sovereignty.DefaultFloors()
	for _, f := range cfg.Floors {
		mode := f.Mode
		if mode == "" {
			mode = sovereignty.ModeReport
		}
		floors[f.Classification] = sovereignty.Floor{Mode: mode, Levels: f.Levels}
	}
	svc := sovereignty.NewService(facts.db, sovereignty.Options{Engine: eng, Floors: floors, Facts: facts.facts,
		Environments: facts.environments, Drift: facts.drift, Logger: log.With("component", "sovereignty")})
	var docs [][]byte
	for _, path := range cfg.Profiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("sovereignty profile: %w", err)
		}
		docs = append(docs, b)
	}
	if len(docs) == 0 {
		if docs, err = sovereignty.ExampleDocuments(); err != nil {
			return nil, err
		}
	}
	for i, d := range docs {
		imported, err := svc.Import(ctx, d)
		if err != nil {
			where := "the shipped example"
			if i < len(cfg.Profiles) {
				where = cfg.Profiles[i]
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if imported {
			log.Info("sovereignty profile imported", "index", i)
		}
	}
	return svc, nil
}
