package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

var _ provider.BackupBuckets = (*Driver)(nil)

// EnsureBackupBucket implements provider.BackupBuckets: a bucket in the
// connection's own (management) account and region, created with Object
// Lock enabled (which turns versioning on), a default retention of
// spec's mode and days, and spec's tags. A bucket hatoba made earlier
// (BucketAlreadyOwnedByYou) is brought to spec; one someone else owns
// (BucketAlreadyExists) is a permanent error.
func (d *Driver) EnsureBackupBucket(ctx context.Context, spec provider.BackupBucketSpec) (provider.BackupBucket, error) {
	in := &s3.CreateBucketInput{Bucket: awssdk.String(spec.Name), ObjectLockEnabledForBucket: awssdk.Bool(true)}
	if d.region != "us-east-1" {
		// Outside us-east-1 S3 needs the region named, or it answers
		// IllegalLocationConstraintException.
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(d.region)}
	}
	_, err := d.s3.CreateBucket(ctx, in)
	var owned *s3types.BucketAlreadyOwnedByYou
	switch {
	case errors.As(err, &owned):
		// Made by an earlier attempt whose answer was lost, or before a crash.
	case err != nil:
		return provider.BackupBucket{}, classify("CreateBucket", err)
	}
	mode := s3types.ObjectLockRetentionMode(strings.ToUpper(spec.LockMode))
	if mode == "" {
		mode = s3types.ObjectLockRetentionModeCompliance
	}
	_, err = d.s3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: awssdk.String(spec.Name),
		ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
			Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{Mode: mode, Days: awssdk.Int32(int32(spec.RetentionDays))}}}})
	if err != nil {
		return provider.BackupBucket{}, classify("PutObjectLockConfiguration", err)
	}
	tags := make([]s3types.Tag, 0, len(spec.Tags))
	for k, v := range spec.Tags {
		tags = append(tags, s3types.Tag{Key: awssdk.String(k), Value: awssdk.String(TagValue(v))})
	}
	sort.Slice(tags, func(i, j int) bool { return *tags[i].Key < *tags[j].Key })
	if _, err := d.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: awssdk.String(spec.Name), Tagging: &s3types.Tagging{TagSet: tags}}); err != nil {
		return provider.BackupBucket{}, classify("PutBucketTagging", err)
	}
	b, _, err := d.DescribeBackupBucket(ctx, spec.Name, 0)
	return b, err
}

// DescribeBackupBucket implements provider.BackupBuckets: the bucket's
// Object Lock configuration, tags and region, and its newest objects
// (ListObjectsV2, every page: S3 lists by key, not by time).
func (d *Driver) DescribeBackupBucket(ctx context.Context, name string, latest int) (provider.BackupBucket, []provider.BackupObject, error) {
	b := provider.BackupBucket{Name: name, Region: d.region, Tags: map[string]string{}}
	lock, err := d.s3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: awssdk.String(name)})
	if err != nil {
		return b, nil, classifyBucket("GetObjectLockConfiguration", err)
	}
	if c := lock.ObjectLockConfiguration; c != nil && c.ObjectLockEnabled == s3types.ObjectLockEnabledEnabled {
		b.ObjectLock = true
		if c.Rule != nil && c.Rule.DefaultRetention != nil {
			b.LockMode = string(c.Rule.DefaultRetention.Mode)
			b.RetentionDays = int(awssdk.ToInt32(c.Rule.DefaultRetention.Days))
			if y := awssdk.ToInt32(c.Rule.DefaultRetention.Years); y > 0 {
				b.RetentionDays = int(y) * 365
			}
		}
	}
	tags, err := d.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: awssdk.String(name)})
	if err != nil {
		return b, nil, classifyBucket("GetBucketTagging", err)
	}
	for _, t := range tags.TagSet {
		b.Tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	if latest <= 0 {
		return b, nil, nil
	}
	var objs []provider.BackupObject
	p := s3.NewListObjectsV2Paginator(d.s3, &s3.ListObjectsV2Input{Bucket: awssdk.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b, nil, classifyBucket("ListObjectsV2", err)
		}
		for _, o := range page.Contents {
			objs = append(objs, provider.BackupObject{Key: awssdk.ToString(o.Key), Size: awssdk.ToInt64(o.Size), LastModified: awssdk.ToTime(o.LastModified).UTC()})
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].LastModified.After(objs[j].LastModified) })
	if len(objs) > latest {
		objs = objs[:latest]
	}
	return b, objs, nil
}

// classifyBucket is classify with a missing bucket named as such.
func classifyBucket(op string, err error) error {
	var nsb *s3types.NoSuchBucket
	if errors.As(err, &nsb) {
		return &provider.Error{Class: provider.Permanent, Op: op, Code: "NoSuchBucket", Err: fmt.Errorf("the backup bucket does not exist: %w", err)}
	}
	err = classify(op, err)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Code == "NoSuchBucket" {
		pe.Class = provider.Permanent
	}
	return err
}
