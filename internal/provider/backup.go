package provider

import (
	"context"
	"time"
)

// BackupBucketSpec is a tenant environment's backup bucket (S3) or
// container (Swift) on a provider other than the environment's own
// (docs/backup.md, "Tenants' backups").
type BackupBucketSpec struct {
	// Name is derived from the environment id, so that a repeated call
	// finds the bucket again.
	Name string
	// LockMode (COMPLIANCE or GOVERNANCE) and RetentionDays are the
	// default retention every object gets: S3 Object Lock, or the
	// driver's immutability setting.
	LockMode      string
	RetentionDays int
	// Tags name the environment (hatoba:environment, hatoba:organization …).
	Tags map[string]string
}

// BackupBucket is a backup bucket as the provider describes it.
type BackupBucket struct {
	Name   string
	Region string
	// ObjectLock says objects cannot be deleted or overwritten within
	// their retention; LockMode and RetentionDays are its default.
	ObjectLock    bool
	LockMode      string
	RetentionDays int
	Tags          map[string]string
}

// BackupObject is one object in a backup bucket.
type BackupObject struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// BackupBuckets is the optional capability of a driver that can host
// tenants' backup targets. Find it with a type assertion; a driver
// without it cannot, and vending says so.
type BackupBuckets interface {
	// EnsureBackupBucket creates the bucket with its retention and tags if
	// it does not exist, and otherwise brings its retention and tags to
	// spec; it is idempotent (a bucket of that name that hatoba made
	// earlier is success).
	EnsureBackupBucket(ctx context.Context, spec BackupBucketSpec) (BackupBucket, error)
	// DescribeBackupBucket returns the bucket and its newest objects (at
	// most latest, the newest first). A bucket that does not exist is a
	// permanent *Error with Code "NoSuchBucket".
	DescribeBackupBucket(ctx context.Context, name string, latest int) (BackupBucket, []BackupObject, error)
}
