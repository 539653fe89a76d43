package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// objectives are the configured tenant backup objectives over the
// defaults.
func objectives(c config.TenantBackups) (tenantbackup.Objectives, error) {
	o := tenantbackup.Objectives{RPO: c.RPO, RestoreTestAge: c.RestoreTestMaxAge, RetentionDays: c.RetentionDays, LockMode: c.LockMode}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o.WithDefaults(), nil
}

// backupSource describes an environment's backup target for the collector:
// the bucket as its provider (not the environment's) reports it, its
// newest objects and the newest restore test.
type backupSource struct {
	envs       *env.Store
	backups    *tenantbackup.Store
	vending    *vending.Engine
	objectives tenantbackup.Objectives
	log        *slog.Logger
}

func (b *backupSource) resources(ctx context.Context, envID string) ([]controls.Resource, error) {
	t, err := b.backups.Target(ctx, nil, envID)
	if fault.KindOf(err) == fault.NotFound {
		return nil, nil
	}
	if err != nil || t.State != tenantbackup.Ready {
		return nil, err
	}
	en, err := b.envs.Get(ctx, b.envs.DB(), envID)
	if err != nil {
		return nil, err
	}
	var obs tenantbackup.Observation
	cn, ok := b.vending.Connection(t.Provider)
	bb, can := provider.BackupBuckets(nil), false
	if ok {
		bb, can = cn.Provider.(provider.BackupBuckets)
	}
	if !can {
		// The target's provider is gone from the configuration: the
		// bucket cannot be seen, which is what the controls are told.
		obs.Missing = true
	} else {
		obs.Bucket, obs.Objects, err = bb.DescribeBackupBucket(ctx, t.Bucket, tenantbackup.LatestObjects)
		var pe *provider.Error
		switch {
		case errors.As(err, &pe) && pe.Code == "NoSuchBucket":
			obs.Missing = true
		case err != nil:
			// The backup provider failing for a moment must not stop the
			// environment's own inventory: its facts wait for the next round.
			b.log.WarnContext(ctx, "describing a backup target failed", "env", envID, "provider", t.Provider, "err", err)
			return nil, nil
		}
	}
	tests, err := b.backups.RestoreTests(ctx, envID, 1)
	if err != nil {
		return nil, err
	}
	var latest *tenantbackup.RestoreTest
	if len(tests) > 0 {
		latest = &tests[0]
	}
	var out []controls.Resource
	for _, r := range tenantbackup.Resources(t, en, obs, latest, b.objectives, b.backups.Now()) {
		out = append(out, controls.Resource{Provider: "hatoba", Type: r.Type, ID: r.ID, Region: r.Region, Environment: envID, Config: r.Config})
	}
	return out, nil
}
