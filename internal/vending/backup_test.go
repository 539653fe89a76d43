package vending_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// noBuckets is a driver without the bucket capability.
type noBuckets struct{ provider.Provider }

// crashing makes the bucket, then hangs until its job is stopped — a
// process that dies between the provider's answer and the record.
type crashing struct {
	provider.Provider
	made chan struct{}
	once atomic.Bool
}

func (c *crashing) EnsureBackupBucket(ctx context.Context, spec provider.BackupBucketSpec) (provider.BackupBucket, error) {
	b, err := c.Provider.(provider.BackupBuckets).EnsureBackupBucket(ctx, spec)
	if err != nil || !c.once.CompareAndSwap(false, true) {
		return b, err
	}
	close(c.made)
	<-ctx.Done()
	return provider.BackupBucket{}, ctx.Err()
}

func (c *crashing) DescribeBackupBucket(ctx context.Context, name string, latest int) (provider.BackupBucket, []provider.BackupObject, error) {
	return c.Provider.(provider.BackupBuckets).DescribeBackupBucket(ctx, name, latest)
}

func (w *world) backupEngine(t *testing.T, own, dom provider.Provider, backups *tenantbackup.Store) *vending.Engine {
	t.Helper()
	conns := []vending.Connection{{Name: "sim", Provider: own, Cap: 5, PollInterval: 10 * time.Millisecond, Tier: "hyperscaler", Jurisdiction: "US",
		Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}}}
	if dom != nil {
		conns = append(conns, vending.Connection{Name: "dom", Provider: dom, Cap: 5, PollInterval: 10 * time.Millisecond, Tier: "domestic", Jurisdiction: "JP",
			Allowed: []env.Classification{env.Level1, env.Level2, env.Level3}})
	}
	e, err := vending.New(w.db, w.envs, w.orgs, vending.Config{Connections: conns, Backups: backups,
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 25,
		SlotPollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		ResumeInterval: 200 * time.Millisecond, JobTimeout: 20 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func backupRequest(provider string) env.Request {
	return env.Request{OrgID: "nat-digital", SystemName: "住民記録", Purpose: env.Production, Classification: env.Level3, Provider: provider, Backup: true}
}

// TestBackupTargetIsVended: an environment that asks for a backup target
// gets a locked, tagged bucket on the other (domestic) provider, recorded
// ready with its region; one that does not has no such step.
func TestBackupTargetIsVended(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{TransientRate: 0.1, LostResponseRate: 0.2, Seed: 11})
		backups := tenantbackup.NewStore(db, time.Now)
		e := w.backupEngine(t, w.driver(t), w.driver(t), backups)
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Stop(context.Background()) })
		with, _, err := e.Request(ctx, backupRequest("sim"), "")
		if err != nil {
			t.Fatal(err)
		}
		plain := backupRequest("sim")
		plain.Backup, plain.SystemName = false, "税務"
		without, _, err := e.Request(ctx, plain, "")
		if err != nil {
			t.Fatal(err)
		}
		assertAllReady(t, w, w.waitSettled(t, []string{with.ID, without.ID}, 60*time.Second))
		tg, err := backups.Target(ctx, nil, with.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tg.State != tenantbackup.Ready || tg.Provider != "dom" || tg.Region != "ap-northeast-1" || tg.Jurisdiction != "JP" || tg.Bucket != tenantbackup.BucketName(with.ID) {
			t.Fatalf("target = %+v", tg)
		}
		b, _, err := w.driver(t).(provider.BackupBuckets).DescribeBackupBucket(ctx, tg.Bucket, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !b.ObjectLock || b.LockMode != "COMPLIANCE" || b.RetentionDays != 30 || b.Tags["hatoba:environment"] != with.ID {
			t.Fatalf("bucket = %+v", b)
		}
		locs, err := e.BackupLocations(ctx, with.ID)
		if err != nil || len(locs) != 1 || locs[0] != (tenantbackup.Location{Provider: "dom", Region: "ap-northeast-1", Jurisdiction: "JP"}) {
			t.Fatalf("locations = %+v, %v", locs, err)
		}
		if _, err := backups.Target(ctx, nil, without.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("an environment that asked for none has a target: %v", err)
		}
		steps, err := w.envs.Steps(ctx, db, without.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != len(vending.StepNames()) {
			t.Fatalf("steps without a backup target: %+v", steps)
		}
	})
}

// TestBackupTargetAfterACrash: the process dies after the provider made
// the bucket and before hatoba recorded it; the next process finds the
// bucket (its name is the environment's) and records it — one bucket, a
// ready environment.
func TestBackupTargetAfterACrash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{})
		backups := tenantbackup.NewStore(db, time.Now)
		dom := &crashing{Provider: w.driver(t), made: make(chan struct{})}
		first := w.backupEngine(t, w.driver(t), dom, backups)
		if err := first.Start(ctx); err != nil {
			t.Fatal(err)
		}
		en, _, err := first.Request(ctx, backupRequest("sim"), "")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-dom.made:
		case <-time.After(60 * time.Second):
			t.Fatal("the bucket was never made")
		}
		stopCtx, cancel := context.WithCancel(ctx)
		cancel() // stop without waiting: the step is cut off
		_ = first.Stop(stopCtx)
		if tg, err := backups.Target(ctx, nil, en.ID); err != nil || tg.State != tenantbackup.Pending {
			t.Fatalf("after the crash the target is %+v, %v; want pending", tg, err)
		}
		second := w.backupEngine(t, w.driver(t), w.driver(t), backups)
		if err := second.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = second.Stop(context.Background()) })
		assertAllReady(t, w, w.waitSettled(t, []string{en.ID}, 60*time.Second))
		if tg, err := backups.Target(ctx, nil, en.ID); err != nil || tg.State != tenantbackup.Ready {
			t.Fatalf("target = %+v, %v", tg, err)
		}
		events, err := w.envs.Events(ctx, en.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range events {
			if ev.Kind == "backup_target" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d backup_target events, want 1", n)
		}
	})
}

// TestBackupTargetRefused: without another domestic provider that can
// make buckets the request is refused on the field "backup" (422) and
// nothing is stored.
func TestBackupTargetRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, simcloud.Config{})
		backups := tenantbackup.NewStore(db, time.Now)
		tests := []struct {
			name     string
			dom      provider.Provider
			provider string
			backups  *tenantbackup.Store
			want     string
		}{
			{"fail/no other provider", nil, "sim", backups, "no other provider connection"},
			{"fail/the only other one is the environment's own", w.driver(t), "dom", backups, "none of the other connections (sim)"},
			{"fail/the other domestic one cannot host buckets", noBuckets{w.driver(t)}, "sim", backups, "cannot host backup buckets"},
			{"fail/no target store", w.driver(t), "sim", nil, "keeps no tenant backup targets"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := w.backupEngine(t, w.driver(t), tt.dom, tt.backups)
				_, _, err := e.Request(ctx, backupRequest(tt.provider), "")
				var fe *fault.Error
				if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "backup" || !strings.Contains(fe.Message, tt.want) {
					t.Fatalf("err = %v, want Invalid on backup saying %q", err, tt.want)
				}
				page, err := w.envs.List(ctx, env.ListParams{Limit: 10})
				if err != nil || len(page.Items) != 0 {
					t.Fatalf("stored %d environments, %v", len(page.Items), err)
				}
			})
		}
	})
}
