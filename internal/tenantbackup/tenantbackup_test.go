package tenantbackup_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// TestControlsOverTargets evaluates the built-in backup controls over the
// resources Resources makes of fixture observations.
func TestControlsOverTargets(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := controls.NewEngine(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	prod := env.Environment{ID: "env-1", Provider: "aws", Purpose: env.Production, Classification: env.Level2}
	dev := env.Environment{ID: "env-1", Provider: "aws", Purpose: env.Development, Classification: env.Level1}
	target := tenantbackup.Target{EnvID: "env-1", Provider: "dom", Tier: "domestic", Jurisdiction: "JP", Region: "jp-east-1", Bucket: "hatoba-backup-env-1"}
	locked := provider.BackupBucket{Name: "hatoba-backup-env-1", Region: "jp-east-1", ObjectLock: true, LockMode: "COMPLIANCE", RetentionDays: 30}
	backupsAt := func(ages ...time.Duration) []provider.BackupObject {
		var out []provider.BackupObject
		for i, a := range ages {
			out = append(out, provider.BackupObject{Key: "b" + string(rune('0'+i)), Size: 10, LastModified: now.Add(-a)})
		}
		return out
	}
	tested := func(age time.Duration, r tenantbackup.Result) *tenantbackup.RestoreTest {
		return &tenantbackup.RestoreTest{ID: "rt-1", Evidence: tenantbackup.Evidence{PerformedAt: now.Add(-age), Restored: "db", Result: r}}
	}
	tests := []struct {
		name   string
		en     env.Environment
		target tenantbackup.Target
		obs    tenantbackup.Observation
		test   *tenantbackup.RestoreTest
		want   []string
	}{
		{"ok/recent backups and a recent restore test", prod, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(2*time.Hour, 26*time.Hour)}, tested(10*24*time.Hour, tenantbackup.Succeeded), nil},
		{"ok/development tolerates a six-day-old backup", dev, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(6 * 24 * time.Hour)}, tested(300*24*time.Hour, tenantbackup.Succeeded), nil},
		{"fail/no backups", prod, target, tenantbackup.Observation{Bucket: locked}, tested(time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-exists"}},
		{"fail/bucket gone", prod, target, tenantbackup.Observation{Missing: true}, tested(time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-exists"}},
		{"fail/newest backup older than production's RPO", prod, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(25 * time.Hour)}, tested(time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-recent"}},
		{"fail/no restore test", prod, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(time.Hour)}, nil, []string{"hatoba-backup-restore-tested"}},
		{"fail/stale restore test", prod, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(time.Hour)}, tested(91*24*time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-restore-tested"}},
		{"fail/failed restore test", prod, target, tenantbackup.Observation{Bucket: locked, Objects: backupsAt(time.Hour)}, tested(time.Hour, tenantbackup.Failed), []string{"hatoba-backup-restore-tested"}},
		{"fail/on the environment's own provider", env.Environment{ID: "env-1", Provider: "dom", Purpose: env.Production, Classification: env.Level2}, target,
			tenantbackup.Observation{Bucket: locked, Objects: backupsAt(time.Hour)}, tested(time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-separate"}},
		{"fail/not locked", prod, target, tenantbackup.Observation{Bucket: provider.BackupBucket{Name: "b"}, Objects: backupsAt(time.Hour)}, tested(time.Hour, tenantbackup.Succeeded), []string{"hatoba-backup-separate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rs []controls.Resource
			for _, r := range tenantbackup.Resources(tt.target, tt.en, tt.obs, tt.test, tenantbackup.DefaultObjectives(), now) {
				rs = append(rs, controls.Resource{Provider: "hatoba", Type: r.Type, ID: r.ID, Region: r.Region, Environment: tt.en.ID, Config: r.Config})
			}
			vs, err := eng.Evaluate(context.Background(), rs, func(c controls.Control) bool { return len(c.ID) > 14 && c.ID[:14] == "hatoba-backup-" })
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.ControlID)
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v (%+v)", got, tt.want, vs)
			}
		})
	}
}

func TestObjectivesStricterApplies(t *testing.T) {
	t.Parallel()
	o := tenantbackup.Objectives{RPO: map[string]time.Duration{"development": 48 * time.Hour}}.WithDefaults()
	tests := []struct {
		purpose        env.Purpose
		cl             env.Classification
		rpo, restoreAt time.Duration
	}{
		{env.Production, env.Level1, 24 * time.Hour, 90 * 24 * time.Hour},
		{env.Development, env.Level1, 48 * time.Hour, 365 * 24 * time.Hour},
		{env.Development, env.Level3, 24 * time.Hour, 90 * 24 * time.Hour},
		{env.Staging, env.Level2, 72 * time.Hour, 180 * 24 * time.Hour},
	}
	for _, tt := range tests {
		rpo, ra := o.For(tt.purpose, tt.cl)
		if rpo != tt.rpo || ra != tt.restoreAt {
			t.Errorf("%s %s: rpo %s restore %s, want %s %s", tt.purpose, tt.cl, rpo, ra, tt.rpo, tt.restoreAt)
		}
	}
	if err := (tenantbackup.Objectives{RPO: map[string]time.Duration{"prod": time.Hour}}).Validate(); err == nil {
		t.Error("an unknown key was accepted")
	}
}

func TestEvidenceValidate(t *testing.T) {
	t.Parallel()
	created := now.Add(-30 * 24 * time.Hour)
	ok := tenantbackup.Evidence{PerformedAt: now.Add(-time.Hour), Restored: "住民記録 DB (backups/20261206T020000Z)", Result: tenantbackup.Succeeded, Note: "RTO 42 分"}
	tests := []struct {
		name  string
		edit  func(*tenantbackup.Evidence)
		field string
	}{
		{"ok/complete", func(*tenantbackup.Evidence) {}, ""},
		{"fail/no time", func(e *tenantbackup.Evidence) { e.PerformedAt = time.Time{} }, "performed_at"},
		{"fail/in the future", func(e *tenantbackup.Evidence) { e.PerformedAt = now.Add(time.Hour) }, "performed_at"},
		{"fail/before the environment", func(e *tenantbackup.Evidence) { e.PerformedAt = created.Add(-time.Hour) }, "performed_at"},
		{"fail/nothing restored", func(e *tenantbackup.Evidence) { e.Restored = " " }, "restored"},
		{"fail/bad result", func(e *tenantbackup.Evidence) { e.Result = "ok" }, "result"},
		{"fail/invisible characters", func(e *tenantbackup.Evidence) { e.Note = "a\u202eb" }, "note"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ok
			tt.edit(&ev)
			err := ev.Validate(now, created)
			fe, _ := fault.As(err)
			switch {
			case tt.field == "" && err != nil:
				t.Fatal(err)
			case tt.field != "" && (fe == nil || fe.Field != tt.field):
				t.Fatalf("err = %v, want a fault on %s", err, tt.field)
			}
		})
	}
}
