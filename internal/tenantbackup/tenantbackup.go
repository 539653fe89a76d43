// Package tenantbackup governs tenants' backups (issue 15 §2,
// docs/backup.md "Tenants' backups"): each environment that asks for one
// has a backup target — a bucket or container on the domestic tier at a
// provider other than its own, made by vending's step backup_target — and
// its administrators record restore tests as evidence signed with their
// card. The package owns the targets, the evidence, the recovery-point and
// restore-test objectives per purpose and classification, and the
// resources the detective controls read about them.
package tenantbackup

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// State is where a backup target is: pending until the vending step has
// made the bucket, then ready.
type State string

const (
	Pending State = "pending"
	Ready   State = "ready"
)

// DomesticJurisdiction is the jurisdiction a backup must sit in: Japan's
// (ISO 3166-1 alpha-2).
const DomesticJurisdiction = "JP"

// TierDomestic is the domestic tier's name, as the configuration spells it.
const TierDomestic = "domestic"

// Target is an environment's backup target.
type Target struct {
	EnvID string `json:"env_id"`
	// Provider is the connection that hosts the bucket — never the
	// environment's own.
	Provider     string `json:"provider"`
	Tier         string `json:"tier"`
	Jurisdiction string `json:"jurisdiction"`
	// Region is where the provider put the bucket; empty until ready.
	Region string `json:"region,omitempty"`
	// Bucket is the bucket's (container's) name, derived from the
	// environment id so that a repeated creation finds it again.
	Bucket        string     `json:"bucket"`
	LockMode      string     `json:"lock_mode"`
	RetentionDays int        `json:"retention_days"`
	State         State      `json:"state"`
	CreatedAt     time.Time  `json:"created_at"`
	ReadyAt       *time.Time `json:"ready_at,omitempty"`
}

// Location is one place an environment's backups are kept, for the
// sovereignty assessment's residency (Locations).
type Location struct {
	Provider     string `json:"provider"`
	Region       string `json:"region"`
	Jurisdiction string `json:"jurisdiction"`
}

// BucketName is the backup bucket of an environment: S3's rules (3–63
// characters of lower-case letters, digits and hyphens) hold for it, and
// Swift accepts it too.
func BucketName(envID string) string { return "hatoba-backup-" + strings.ToLower(envID) }

// Host is a provider connection as the choice of a backup target sees it.
type Host struct {
	Name, Tier, Jurisdiction string
	// CanHost says the connection's driver can make backup buckets
	// (provider.BackupBuckets).
	CanHost bool
}

// ChooseHost picks the connection that hosts an environment's backup
// target: the first (in the order given) domestic connection in the
// domestic jurisdiction that is not the environment's own and whose driver
// can make buckets. None is a fault of kind Invalid on the field "backup"
// that says why, so the request is refused (422) before anything is stored.
func ChooseHost(envProvider string, hosts []Host) (Host, error) {
	var notOwn, domestic []string
	for _, h := range hosts {
		if h.Name == envProvider {
			continue
		}
		notOwn = append(notOwn, h.Name)
		if h.Tier != TierDomestic || h.Jurisdiction != DomesticJurisdiction {
			continue
		}
		domestic = append(domestic, h.Name)
		if h.CanHost {
			return h, nil
		}
	}
	switch {
	case len(notOwn) == 0:
		return Host{}, fault.InvalidField("backup", "a backup target must be on another provider than the environment's own (%s), and no other provider connection is configured", envProvider)
	case len(domestic) == 0:
		return Host{}, fault.InvalidField("backup", "a backup target must be on the domestic tier in Japan's jurisdiction, on another provider than %s; none of the other connections (%s) is", envProvider, strings.Join(notOwn, ", "))
	default:
		return Host{}, fault.InvalidField("backup", "the domestic connections other than %s (%s) cannot host backup buckets (their drivers have no bucket capability)", envProvider, strings.Join(domestic, ", "))
	}
}

// Result is a restore test's outcome.
type Result string

const (
	Succeeded Result = "succeeded"
	Failed    Result = "failed"
)

// Evidence is what a person submits about one restore test.
type Evidence struct {
	// PerformedAt is when the restore was done.
	PerformedAt time.Time `json:"performed_at"`
	// Restored says what was restored (a database, a file set …) and
	// from which backup.
	Restored string `json:"restored"`
	Result   Result `json:"result"`
	Note     string `json:"note,omitempty"`
}

// Limits of the evidence's text.
const (
	MaxRestored = 500
	MaxNote     = 2000
)

// Validate checks the evidence against now: a time not in the future
// and not before the environment existed (either beyond a minute's clock
// difference), a description, a result.
func (ev Evidence) Validate(now, envCreated time.Time) error {
	switch {
	case ev.PerformedAt.IsZero():
		return fault.InvalidField("performed_at", "performed_at is required (RFC 3339)")
	case ev.PerformedAt.After(now.Add(time.Minute)):
		return fault.InvalidField("performed_at", "performed_at %s is in the future", ev.PerformedAt.UTC().Format(time.RFC3339))
	case ev.PerformedAt.Before(envCreated.Add(-time.Minute)):
		return fault.InvalidField("performed_at", "performed_at %s is before the environment was requested (%s)",
			ev.PerformedAt.UTC().Format(time.RFC3339), envCreated.UTC().Format(time.RFC3339))
	}
	if err := text("restored", ev.Restored, MaxRestored, true); err != nil {
		return err
	}
	if ev.Result != Succeeded && ev.Result != Failed {
		return fault.InvalidField("result", "result must be succeeded or failed, not %q", ev.Result)
	}
	return text("note", ev.Note, MaxNote, false)
}

func text(field, s string, maxLen int, required bool) error {
	switch n := utf8.RuneCountInString(s); {
	case required && strings.TrimSpace(s) == "":
		return fault.InvalidField(field, "%s is required", field)
	case n > maxLen:
		return fault.InvalidField(field, "%s is %d characters; at most %d are allowed", field, n, maxLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(c rune) bool { return (unicode.IsControl(c) && c != '\n') || unicode.Is(unicode.Cf, c) }):
		return fault.InvalidField(field, "%s must not contain control or invisible format characters", field)
	}
	return nil
}

// Signature is the card-signed confirmation the evidence came with,
// kept as it came (docs/keys.md, "Confirming an action with the card").
type Signature struct {
	StatementSHA256 string `json:"statement_sha256"`
	Statement       []byte `json:"-"`
	Signature       []byte `json:"-"`
	Certificate     []byte `json:"-"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// RestoreTest is one recorded restore test.
type RestoreTest struct {
	ID    string `json:"id"`
	EnvID string `json:"env_id"`
	OrgID string `json:"org_id"`
	Evidence
	SubmittedBy     string    `json:"submitted_by"`
	SubmittedAt     time.Time `json:"submitted_at"`
	StatementSHA256 string    `json:"statement_sha256"`
}

// Objectives are the recovery point (the newest backup's greatest age)
// and the restore tests' greatest age, per purpose and per
// classification; an environment is held to the stricter of its two.
type Objectives struct {
	RPO            map[string]time.Duration `json:"rpo"`
	RestoreTestAge map[string]time.Duration `json:"restore_test_max_age"`
	// RetentionDays is how long Object Lock keeps each backup object.
	RetentionDays int `json:"retention_days"`
	// LockMode is COMPLIANCE (nobody can shorten it) or GOVERNANCE.
	LockMode string `json:"lock_mode"`
}

const day = 24 * time.Hour

// DefaultObjectives are the documented defaults (docs/backup.md).
func DefaultObjectives() Objectives {
	return Objectives{
		RPO: map[string]time.Duration{
			string(env.Production): day, string(env.Staging): 3 * day, string(env.Development): 7 * day,
			string(env.Level3): day, string(env.Level2): 3 * day, string(env.Level1): 7 * day,
		},
		RestoreTestAge: map[string]time.Duration{
			string(env.Production): 90 * day, string(env.Staging): 180 * day, string(env.Development): 365 * day,
			string(env.Level3): 90 * day, string(env.Level2): 180 * day, string(env.Level1): 365 * day,
		},
		RetentionDays: 30,
		LockMode:      "COMPLIANCE",
	}
}

// WithDefaults fills what o leaves out from DefaultObjectives.
func (o Objectives) WithDefaults() Objectives {
	d := DefaultObjectives()
	for k, v := range o.RPO {
		d.RPO[k] = v
	}
	for k, v := range o.RestoreTestAge {
		d.RestoreTestAge[k] = v
	}
	if o.RetentionDays > 0 {
		d.RetentionDays = o.RetentionDays
	}
	if o.LockMode != "" {
		d.LockMode = o.LockMode
	}
	return d
}

// Validate checks the keys and values an operator configured.
func (o Objectives) Validate() error {
	known := map[string]bool{}
	for _, p := range env.Purposes {
		known[string(p)] = true
	}
	for _, c := range env.Classifications {
		known[string(c)] = true
	}
	for name, m := range map[string]map[string]time.Duration{"rpo": o.RPO, "restore_test_max_age": o.RestoreTestAge} {
		for k, v := range m {
			if !known[k] {
				return fmt.Errorf("tenant_backups.%s: %q is not a purpose (production, staging, development) or a classification (level1–level3)", name, k)
			}
			if v <= 0 {
				return fmt.Errorf("tenant_backups.%s.%s: must be positive", name, k)
			}
		}
	}
	if o.LockMode != "" && o.LockMode != "COMPLIANCE" && o.LockMode != "GOVERNANCE" {
		return fmt.Errorf("tenant_backups.lock_mode: %q is not COMPLIANCE or GOVERNANCE", o.LockMode)
	}
	if o.RetentionDays < 0 {
		return fmt.Errorf("tenant_backups.retention_days: must not be negative")
	}
	return nil
}

// For is the stricter (shorter) of the objectives of the environment's
// purpose and classification.
func (o Objectives) For(purpose env.Purpose, cl env.Classification) (rpo, restoreAge time.Duration) {
	pick := func(m map[string]time.Duration) time.Duration {
		a, b := m[string(purpose)], m[string(cl)]
		switch {
		case a == 0:
			return b
		case b == 0:
			return a
		}
		return min(a, b)
	}
	return pick(o.RPO), pick(o.RestoreTestAge)
}
