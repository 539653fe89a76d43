package tenantbackup

import (
	"math"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Resource types the detective controls read (internal/controls/catalog,
// hatoba-backup-*).
const (
	TypeTarget = "hatoba_backup_target"
	TypeObject = "hatoba_backup_object"
)

// LatestObjects is how many of a bucket's newest objects the inventory
// describes.
const LatestObjects = 5

// Observation is what the collector learnt about a target: the bucket as
// its provider describes it and its newest objects, or why it could not.
type Observation struct {
	Bucket  provider.BackupBucket
	Objects []provider.BackupObject
	// Missing says the provider has no such bucket.
	Missing bool
}

// Resources describe an environment's backup target for the detective
// controls: one hatoba_backup_target with the facts the controls judge —
// where it is, whether it is locked, the newest backup's age against the
// RPO, the newest restore test's age and result against its objective —
// and one hatoba_backup_object per newest object. Ages are computed here
// against now so that the Rego stays free of clocks.
func Resources(t Target, en env.Environment, obs Observation, latest *RestoreTest, o Objectives, now time.Time) []provider.Resource {
	rpo, restoreAge := o.For(en.Purpose, en.Classification)
	cfg := map[string]any{
		"environment":               en.ID,
		"environment_provider":      en.Provider,
		"provider":                  t.Provider,
		"tier":                      t.Tier,
		"jurisdiction":              t.Jurisdiction,
		"bucket":                    t.Bucket,
		"exists":                    !obs.Missing,
		"object_lock_enabled":       !obs.Missing && obs.Bucket.ObjectLock,
		"lock_mode":                 obs.Bucket.LockMode,
		"retention_days":            obs.Bucket.RetentionDays,
		"purpose":                   string(en.Purpose),
		"classification":            string(en.Classification),
		"rpo_hours":                 hours(rpo),
		"restore_test_max_age_days": days(restoreAge),
		"backups":                   len(obs.Objects),
	}
	region := t.Region
	if obs.Bucket.Region != "" {
		region = obs.Bucket.Region
	}
	cfg["region"] = region
	if len(obs.Objects) > 0 {
		newest := obs.Objects[0]
		cfg["latest_backup_at"] = newest.LastModified.UTC().Format(time.RFC3339)
		cfg["latest_backup_age_hours"] = hours(now.Sub(newest.LastModified))
	}
	if latest != nil {
		cfg["restore_test"] = map[string]any{
			"id":           latest.ID,
			"performed_at": latest.PerformedAt.UTC().Format(time.RFC3339),
			"age_days":     days(now.Sub(latest.PerformedAt)),
			"result":       string(latest.Result),
			"submitted_by": latest.SubmittedBy,
		}
	}
	out := []provider.Resource{{Type: TypeTarget, ID: "hatoba:backup:" + en.ID, Region: region, Config: cfg}}
	for i, ob := range obs.Objects {
		if i == LatestObjects {
			break
		}
		out = append(out, provider.Resource{Type: TypeObject, ID: t.Bucket + "/" + ob.Key, Region: region, Config: map[string]any{
			"bucket": t.Bucket, "key": ob.Key, "size": ob.Size, "last_modified": ob.LastModified.UTC().Format(time.RFC3339),
			"environment": en.ID, "provider": t.Provider,
		}})
	}
	return out
}

// hours and days round up to one decimal, so an age just over its
// objective is over it in the Rego too.
func hours(d time.Duration) float64 { return math.Ceil(d.Hours()*10) / 10 }
func days(d time.Duration) float64  { return math.Ceil(d.Hours()/24*10) / 10 }
