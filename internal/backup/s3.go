package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config names an S3-compatible bucket on the domestic tier.
type S3Config struct {
	Endpoint        string // https://s3.example.go.jp; path-style addressing
	Region          string
	Bucket          string
	Prefix          string // "hatoba/" keeps the backups under one prefix
	AccessKeyID     string
	SecretAccessKey string
	// Retention is how long each object is locked (Object Lock, WORM);
	// LockMode is COMPLIANCE (nobody, not even the bucket's owner, can
	// shorten it) or GOVERNANCE.
	Retention time.Duration
	LockMode  string
}

// S3 is a backup target in an S3 bucket with Object Lock.
type S3 struct {
	client *s3.Client
	cfg    S3Config
}

// NewS3 returns the target; EnsureBucket creates the bucket when missing.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("backup target: endpoint and bucket are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.LockMode == "" {
		cfg.LockMode = string(s3types.ObjectLockModeCompliance)
	}
	if cfg.LockMode != string(s3types.ObjectLockModeCompliance) && cfg.LockMode != string(s3types.ObjectLockModeGovernance) {
		return nil, fmt.Errorf("backup target: lock mode %q is not COMPLIANCE or GOVERNANCE", cfg.LockMode)
	}
	client := s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		// Object Lock puts need an integrity header; the SDK sends a
		// CRC32 when asked for one only, so ask always.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	return &S3{client: client, cfg: cfg}, nil
}

// Config returns the target's configuration.
func (t *S3) Config() S3Config { return t.cfg }

// String names the target for messages (no credentials).
func (t *S3) String() string { return "s3:" + t.cfg.Endpoint + "/" + t.cfg.Bucket + "/" + t.cfg.Prefix }

// EnsureBucket creates the bucket with Object Lock when it does not exist,
// and refuses one that exists without Object Lock: a backup that anyone
// holding the credentials can delete is not the backup the issue asks for.
func (t *S3) EnsureBucket(ctx context.Context) error {
	_, err := t.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &t.cfg.Bucket})
	if err != nil {
		var nf *s3types.NotFound
		var nsb *s3types.NoSuchBucket
		if !errors.As(err, &nf) && !errors.As(err, &nsb) && !isCode(err, "NotFound", "NoSuchBucket") {
			return fmt.Errorf("backup target %s: %w", t, err)
		}
		if _, err := t.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &t.cfg.Bucket,
			ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
			return fmt.Errorf("backup target %s: create bucket: %w", t, err)
		}
	}
	lock, err := t.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &t.cfg.Bucket})
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
		return fmt.Errorf("backup target %s: the bucket has no Object Lock; create it with Object Lock enabled (%v)", t, err)
	}
	return nil
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// Put stores body under key, locked until now + retention, and returns the
// object's version id.
func (t *S3) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, now time.Time) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: &t.cfg.Bucket, Key: aws.String(t.cfg.Prefix + key), Body: body, ContentLength: aws.Int64(size),
	}
	if t.cfg.Retention > 0 {
		in.ObjectLockMode = s3types.ObjectLockMode(t.cfg.LockMode)
		in.ObjectLockRetainUntilDate = aws.Time(now.Add(t.cfg.Retention).UTC())
	}
	out, err := t.client.PutObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("backup target %s: put %s: %w", t, key, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Get opens key at version (the newest when empty).
func (t *S3) Get(ctx context.Context, key, version string) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &t.cfg.Bucket, Key: aws.String(t.cfg.Prefix + key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := t.client.GetObject(ctx, in)
	if err != nil {
		if isCode(err, "NoSuchKey", "NoSuchVersion", "NotFound") {
			return nil, fmt.Errorf("backup target %s: %s: %w", t, key, ErrNotFound)
		}
		return nil, fmt.Errorf("backup target %s: get %s: %w", t, key, err)
	}
	return out.Body, nil
}

// Retention reports the lock on key at version.
func (t *S3) Retention(ctx context.Context, key, version string) (mode string, until time.Time, err error) {
	in := &s3.GetObjectRetentionInput{Bucket: &t.cfg.Bucket, Key: aws.String(t.cfg.Prefix + key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := t.client.GetObjectRetention(ctx, in)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("backup target %s: retention of %s: %w", t, key, err)
	}
	if out.Retention == nil {
		return "", time.Time{}, nil
	}
	return string(out.Retention.Mode), aws.ToTime(out.Retention.RetainUntilDate), nil
}

// Delete removes key at version: inside its retention the server refuses.
func (t *S3) Delete(ctx context.Context, key, version string) error {
	in := &s3.DeleteObjectInput{Bucket: &t.cfg.Bucket, Key: aws.String(t.cfg.Prefix + key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	_, err := t.client.DeleteObject(ctx, in)
	if err != nil {
		return fmt.Errorf("backup target %s: delete %s: %w", t, key, err)
	}
	return nil
}

// Backups lists the backup ids on the target, oldest first (ids sort by
// time).
func (t *S3) Backups(ctx context.Context) ([]string, error) {
	var ids []string
	p := s3.NewListObjectsV2Paginator(t.client, &s3.ListObjectsV2Input{Bucket: &t.cfg.Bucket, Prefix: aws.String(t.cfg.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("backup target %s: list: %w", t, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), t.cfg.Prefix)
			if id, ok := strings.CutSuffix(k, "/"+signatureObject); ok {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, nil
}
