package vending

import (
	"context"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// backupTarget chooses where the backup target of a new environment on cn
// goes (tenantbackup.ChooseHost), in the order the connections are
// configured. Nothing suitable is a fault of kind Invalid (422) on the
// field "backup", so the request stores nothing.
func (e *Engine) backupTarget(cn *Connection) (*tenantbackup.Target, error) {
	if e.cfg.Backups == nil {
		return nil, fault.InvalidField("backup", "this server keeps no tenant backup targets")
	}
	hosts := make([]tenantbackup.Host, 0, len(e.cfg.Connections))
	for _, c := range e.cfg.Connections {
		_, can := c.Provider.(provider.BackupBuckets)
		hosts = append(hosts, tenantbackup.Host{Name: c.Name, Tier: c.Tier, Jurisdiction: c.Jurisdiction, CanHost: can})
	}
	h, err := tenantbackup.ChooseHost(cn.Name, hosts)
	if err != nil {
		return nil, err
	}
	o := e.cfg.BackupObjectives
	return &tenantbackup.Target{Provider: h.Name, Tier: h.Tier, Jurisdiction: h.Jurisdiction,
		LockMode: o.LockMode, RetentionDays: o.RetentionDays}, nil
}

// ensureBackupTarget is the step backup_target: it makes the bucket on the
// target's connection, or finds the one an earlier attempt made (the name
// is the environment's, the driver's call idempotent), and records it
// ready with its region and an event in one transaction. A crash between
// the two is reconciled by the next attempt's call finding the bucket.
func (e *Engine) ensureBackupTarget(ctx context.Context, en env.Environment) error {
	if e.cfg.Backups == nil {
		return &provider.Error{Class: provider.Permanent, Op: "EnsureBackupBucket", Err: fmt.Errorf("this server keeps no tenant backup targets")}
	}
	t, err := e.cfg.Backups.Target(ctx, e.db, en.ID)
	if err != nil {
		return err
	}
	if t.State == tenantbackup.Ready {
		return nil
	}
	cn, ok := e.conns[t.Provider]
	if !ok {
		return &provider.Error{Class: provider.Permanent, Op: "EnsureBackupBucket",
			Err: fmt.Errorf("the backup target's provider %q is no longer configured", t.Provider)}
	}
	bb, ok := cn.Provider.(provider.BackupBuckets)
	if !ok {
		return &provider.Error{Class: provider.Permanent, Op: "EnsureBackupBucket",
			Err: fmt.Errorf("provider %s cannot host backup buckets (its driver has no bucket capability)", cn.Name)}
	}
	e.cfg.Metrics.providerCalls.WithLabelValues(cn.Name, "EnsureBackupBucket").Inc()
	b, err := bb.EnsureBackupBucket(ctx, provider.BackupBucketSpec{Name: t.Bucket, LockMode: t.LockMode, RetentionDays: t.RetentionDays,
		Tags: map[string]string{
			"hatoba:environment":    en.ID,
			"hatoba:organization":   en.OrgID,
			"hatoba:purpose":        string(en.Purpose),
			"hatoba:classification": string(en.Classification),
			"hatoba:role":           "backup",
		}})
	if err != nil {
		return fmt.Errorf("backup bucket %s on %s: %w", t.Bucket, cn.Name, err)
	}
	if !b.ObjectLock {
		return &provider.Error{Class: provider.Permanent, Op: "EnsureBackupBucket",
			Err: fmt.Errorf("provider %s made bucket %s without object lock; a backup target must be immutable", cn.Name, t.Bucket)}
	}
	return e.db.InTx(ctx, func(tx *store.Tx) error {
		changed, err := e.cfg.Backups.MarkReady(ctx, tx, en.ID, b.Region)
		if err != nil || !changed {
			return err
		}
		return e.envs.AddEvent(ctx, tx, en.ID, "backup_target", "",
			fmt.Sprintf("backup target %s on %s (%s, %s) with object lock %s for %d days", t.Bucket, cn.Name, b.Region, t.Jurisdiction, b.LockMode, b.RetentionDays))
	})
}

// BackupLocations lists where an environment's backups are kept (its
// ready backup target), for the sovereignty assessment; none when this
// server keeps no targets.
func (e *Engine) BackupLocations(ctx context.Context, envID string) ([]tenantbackup.Location, error) {
	if e.cfg.Backups == nil {
		return []tenantbackup.Location{}, nil
	}
	return e.cfg.Backups.Locations(ctx, envID)
}
