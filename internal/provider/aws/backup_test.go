package aws_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

func TestBackupBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, d := newSim(t, simcloud.Config{Seed: 42})
	spec := provider.BackupBucketSpec{Name: "hatoba-backup-env-0123456789abcdef", LockMode: "COMPLIANCE", RetentionDays: 30,
		Tags: map[string]string{"hatoba:environment": "env-0123456789abcdef", "hatoba:role": "backup", "hatoba:system": "住民記録（本番）"}}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ok/created with object lock, retention and tags", func(t *testing.T) {
			b, err := d.EnsureBackupBucket(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if !b.ObjectLock || b.LockMode != "COMPLIANCE" || b.RetentionDays != 30 || b.Region != "ap-northeast-1" {
				t.Fatalf("bucket = %+v", b)
			}
			if b.Tags["hatoba:environment"] != "env-0123456789abcdef" || b.Tags["hatoba:system"] != "住民記録_本番_" {
				t.Fatalf("tags = %v", b.Tags)
			}
		}},
		{"ok/a second call adopts the bucket and brings it to spec", func(t *testing.T) {
			again := spec
			again.RetentionDays = 40
			b, err := d.EnsureBackupBucket(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if b.RetentionDays != 40 {
				t.Fatalf("retention = %d, want 40", b.RetentionDays)
			}
		}},
		{"ok/the simulated tenant's backups are listed newest first", func(t *testing.T) {
			_, objs, err := d.DescribeBackupBucket(ctx, spec.Name, 5)
			if err != nil {
				t.Fatal(err)
			}
			// Made just now: the first simulated backup is a minute away.
			if len(objs) != 0 {
				t.Fatalf("objects of a new bucket = %v", objs)
			}
		}},
		{"fail/a bucket that does not exist is NoSuchBucket, permanent", func(t *testing.T) {
			_, _, err := d.DescribeBackupBucket(ctx, "hatoba-backup-nobody", 5)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Code != "NoSuchBucket" || pe.Class != provider.Permanent {
				t.Fatalf("err = %v", err)
			}
		}},
		{"fail/an invalid name is refused permanently", func(t *testing.T) {
			bad := spec
			bad.Name = "Hatoba_Backup"
			_, err := d.EnsureBackupBucket(ctx, bad)
			if provider.ClassOf(err) != provider.Permanent {
				t.Fatalf("err = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run) // in order: each builds on the one before
	}
}
