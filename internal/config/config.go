// Package config loads hatoba's configuration: built-in defaults, then a
// YAML file, then HATOBA_* environment variables, then command-line flags,
// each overriding the one before.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration. Every field has a default that needs
// no file: SQLite in ./hatoba.db, the embedded simulated cloud, and
// 127.0.0.1:8080.
type Config struct {
	Listen      string `yaml:"listen"`
	DatabaseURL string `yaml:"database_url"`
	LogLevel    string `yaml:"log_level"`
	// Workers runs the vending workers in this process; a replica that only
	// serves the API and console turns it off.
	Workers   bool       `yaml:"workers"`
	SimCloud  SimCloud   `yaml:"simcloud"`
	Providers []Provider `yaml:"providers"`
	// Placement says which tiers of provider each classification may be
	// placed on (docs/providers.md#placement).
	Placement Placement      `yaml:"placement"`
	Vending   Vending        `yaml:"vending"`
	Billing   BillingContact `yaml:"default_billing"`
	Identity  Identity       `yaml:"identity"`
	Audit     Audit          `yaml:"audit"`
	Keyd      Keyd           `yaml:"keyd"`
	Controls  Controls       `yaml:"controls"`
	Metrics   Metrics        `yaml:"metrics"`
	// Sovereignty configures the sovereignty assessment
	// (docs/sovereignty.md).
	Sovereignty Sovereignty `yaml:"sovereignty"`
	Backup      Backup      `yaml:"backup"`
	// TenantBackups are the objectives of tenants' backup targets
	// (docs/backup.md, "Tenants' backups").
	TenantBackups TenantBackups `yaml:"tenant_backups"`
	Notify        Notify        `yaml:"notify"`
	// Baseline configures the baseline catalogue (docs/baselines.md).
	Baseline Baseline `yaml:"baseline"`
}

// Baseline configures the baseline catalogue.
type Baseline struct {
	// RefuseAt is the scan severity from which publishing refuses a
	// release: critical, high (default), medium, low or informational.
	RefuseAt string `yaml:"refuse_at"`
}

// Sovereignty configures providers' sovereignty profiles and the floors.
type Sovereignty struct {
	// Profiles are YAML files of provider sovereignty profiles, imported at
	// start when their version is newer than the stored one. Without any,
	// the shipped examples are imported (marked as examples).
	Profiles []string `yaml:"profiles"`
	// RescoreInterval is how often every environment is assessed again;
	// a profile change rescores its connection's environments at once.
	RescoreInterval time.Duration `yaml:"rescore_interval"`
	// Floors replace the default floor of each classification named. A
	// floor in report mode is reported; in enforce mode it also refuses
	// new environments on a provider that does not reach it, and its
	// drift is a finding (control hatoba-sovereignty-floor).
	Floors []SovereigntyFloor `yaml:"floors"`
}

// SovereigntyFloor is the minimum level per objective (SOV-1 … SOV-8) of
// one classification.
type SovereigntyFloor struct {
	Classification string         `yaml:"classification"`
	Mode           string         `yaml:"mode"`
	Levels         map[string]int `yaml:"levels"`
}

// Backup configures hatoba's own backups and restore drills
// (docs/backup.md): an S3-compatible bucket with Object Lock on the
// domestic tier. Without an endpoint there are no backups.
type Backup struct {
	// Endpoint, Region, Bucket and Prefix name the bucket (path-style
	// addressing); the bucket is created with Object Lock when missing.
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	Bucket   string `yaml:"bucket"`
	Prefix   string `yaml:"prefix"`
	// AccessKeyID and SecretAccessKey are the bucket's credentials; the
	// secret is best a reference to hatoba's secret store
	// ("secret:backup/s3", hatoba secret put), never stored in a backup.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// Retention is how long every object of a backup is locked; LockMode
	// is COMPLIANCE (nobody can shorten it) or GOVERNANCE.
	Retention time.Duration `yaml:"retention"`
	LockMode  string        `yaml:"lock_mode"`
	// Interval is how often serve makes a backup and DrillInterval how
	// often it restores the newest into a scratch database (0 turns
	// either off).
	Interval      time.Duration `yaml:"interval"`
	DrillInterval time.Duration `yaml:"drill_interval"`
	// ScratchDir holds drills' scratch databases and backups while they
	// are uploaded; empty means the system's temporary directory.
	ScratchDir string `yaml:"scratch_dir"`
}

// TenantBackups configures tenants' backup targets: the recovery point
// objective and the restore tests' greatest age per purpose
// (production, staging, development) and per classification (level1–3),
// the stricter of an environment's two applying, and the Object Lock
// retention of every target. What is left out keeps its default
// (internal/tenantbackup.DefaultObjectives).
type TenantBackups struct {
	RPO               map[string]time.Duration `yaml:"rpo"`
	RestoreTestMaxAge map[string]time.Duration `yaml:"restore_test_max_age"`
	RetentionDays     int                      `yaml:"retention_days"`
	LockMode          string                   `yaml:"lock_mode"`
}

// Notify configures the delivery of notifications (docs/notifications.md);
// zero values take internal/notify's defaults.
type Notify struct {
	// Workers deliver concurrently (default 8), one delivery in flight per
	// channel.
	Workers int `yaml:"workers"`
	// Lease is how long a claimed delivery stays a worker's before another
	// may send it again (default 1m).
	Lease time.Duration `yaml:"lease"`
	// RetryBase is the first backoff after a failed attempt (default 10s),
	// doubling to at most an hour.
	RetryBase time.Duration `yaml:"retry_base"`
	// AllowPrivateTargets lets webhooks reach loopback and private
	// addresses: receivers inside a closed network, and tests. Off, a
	// tenant's URL cannot make hatoba call into its own network.
	AllowPrivateTargets bool `yaml:"allow_private_targets"`
}

// Metrics says where Prometheus reads /metrics: the process's and the
// environments' figures are not for anyone who can reach the API.
type Metrics struct {
	// Listen is /metrics' own plain-HTTP listener, on the loopback by
	// default so only a scraper on the same host reaches it. Empty serves
	// /metrics on the main HTTPS listener instead, behind Token.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token a scrape must send, on whichever
	// listener serves /metrics; compared in constant time. Required when
	// Listen is empty or not a loopback address.
	Token string `yaml:"token"`
}

// Controls configures the controls' detective side (docs/controls.md).
type Controls struct {
	// CollectInterval is how often every ready environment's inventory is
	// collected and evaluated; 0 turns the schedule off (collection on
	// demand only).
	CollectInterval time.Duration `yaml:"collect_interval"`
	// ReconcileInterval is how often every ready environment's account is
	// brought to the preventive policies enforced on it now (a promotion
	// to enforce reaches accounts vended before it); 0 turns it off.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// FindingsRetention is how long a resolved finding is kept after its
	// resolution; 0 keeps them forever.
	FindingsRetention time.Duration `yaml:"findings_retention"`
}

// Keyd configures the key service (docs/keys.md): inside serve on a single
// machine, or as hatoba keyd on a host of its own.
type Keyd struct {
	// Embedded runs the key service inside serve: the XKS proxy on serve's
	// HTTPS listener and the key routes in its API.
	Embedded bool `yaml:"embedded"`
	// DatabaseURL is the key service's own database; empty means the
	// control plane's. A key service of its own keeps its own record.
	DatabaseURL string `yaml:"database_url"`
	// Listen, PublicURL and the TLS files are hatoba keyd's own listener.
	Listen      string `yaml:"listen"`
	PublicURL   string `yaml:"public_url"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	TLSDir      string `yaml:"tls_dir"`
	// ClientCAFiles turns on mutual TLS for hatoba keyd: every client must
	// present a certificate chained to one of them (for AWS KMS, the
	// certificate its external key store presents).
	ClientCAFiles []string `yaml:"client_ca_files"`
	// XKSURIPrefix is the path before /kms/xks/v1 ("/xks" serves
	// /xks/kms/xks/v1/…); XKSRegion is the AWS region KMS signs with.
	XKSURIPrefix string `yaml:"xks_uri_prefix"`
	XKSRegion    string `yaml:"xks_region"`
	// XKSPublicURL is where clouds reach the XKS proxy
	// ("https://keys.example.go.jp"), given to the external key stores
	// hatoba creates; empty means identity.public_url when embedded.
	XKSPublicURL string `yaml:"xks_public_url"`
	// XKSTenantPaths serves each tenant's key store under its own path,
	// <prefix>/<org id>/kms/xks/v1: AWS needs a distinct endpoint and path
	// for every external key store of an account and region.
	XKSTenantPaths bool `yaml:"xks_tenant_paths"`
	// NodeID names this node in XKS health answers; empty means the host name.
	NodeID string `yaml:"node_id"`
	// HSM custody: the PKCS#11 module, the token and the master key's
	// label. The PIN is never configured here: custodians give it at unseal
	// (or HATOBA_KEYD_HSM_PIN unseals at start, for an unattended host).
	HSMModule     string `yaml:"hsm_module"`
	HSMTokenLabel string `yaml:"hsm_token_label"`
	HSMKeyLabel   string `yaml:"hsm_key_label"`
	// AuditSigningKeyFile signs the key service's own record when it keeps
	// its own database.
	AuditSigningKeyFile string `yaml:"audit_signing_key_file"`
	// StateTTL bounds how stale a replica's view of a key's state and the
	// kill switch may be.
	StateTTL time.Duration `yaml:"state_ttl"`
}

// Identity configures how people sign in: TLS with client certificates
// chained to the trust anchors (a national PKI's CAs in production),
// invitations, sessions, bearer tokens and the WebAuthn second factor.
type Identity struct {
	// PublicURL is the address people open (https://…); WebAuthn binds
	// credentials to its host, and invitation links start with it.
	PublicURL string `yaml:"public_url"`
	// TLSCertFile and TLSKeyFile are the server's certificate and key (PEM).
	// When both are empty serve makes a self-signed pair in TLSDir.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	TLSDir      string `yaml:"tls_dir"`
	// ClientCAFiles are PEM files of the CA certificates client
	// certificates must chain to.
	ClientCAFiles []string `yaml:"client_ca_files"`
	// CRLFiles are DER or PEM CRLs loaded at start; CRLs named by a
	// certificate's distribution points are fetched and cached as well.
	CRLFiles []string `yaml:"crl_files"`
	// OCSP asks the responder a certificate names, when it names one.
	OCSP            bool          `yaml:"ocsp"`
	RevocationCache time.Duration `yaml:"revocation_cache"`
	SessionTTL      time.Duration `yaml:"session_ttl"`
	TokenTTL        time.Duration `yaml:"token_ttl"`
	InvitationTTL   time.Duration `yaml:"invitation_ttl"`
	// SecondFactorTTL is how recent a WebAuthn assertion must be for a
	// sensitive action (approving break-glass, key actions).
	SecondFactorTTL time.Duration `yaml:"second_factor_ttl"`
	// BreakGlassMax is the longest access grant a central operator may ask for.
	BreakGlassMax time.Duration `yaml:"break_glass_max"`
	// WebAuthnRPID binds security keys to a domain rather than the public
	// URL's host ("example.go.jp"), so one key works at serve and at a
	// hatoba keyd on another host of that domain; empty means the host.
	WebAuthnRPID string `yaml:"webauthn_rp_id"`
}

// Audit configures the tamper-evident audit log.
type Audit struct {
	// SigningKeyFile holds the log's Ed25519 key in the signed-note format
	// (created with mode 0600 at first start when missing). Keep it off the
	// database's machine: whoever holds it can sign a rewritten log.
	SigningKeyFile string `yaml:"signing_key_file"`
	// Origin names the log in its checkpoints and key.
	Origin string `yaml:"origin"`
	// IntegrateInterval is how often new entries are sequenced into the
	// Merkle tree and a checkpoint is signed.
	IntegrateInterval time.Duration `yaml:"integrate_interval"`
}

// SimCloud configures the simulated cloud embedded in serve.
type SimCloud struct {
	Embedded            bool          `yaml:"embedded"`
	Listen              string        `yaml:"listen"`
	DBPath              string        `yaml:"db_path"`
	Latency             time.Duration `yaml:"latency"`
	ConcurrentCreations int           `yaml:"concurrent_creations"`
	RatePerSecond       float64       `yaml:"rate_per_second"`
	TransientRate       float64       `yaml:"transient_rate"`
	LostResponseRate    float64       `yaml:"lost_response_rate"`
	Seed                uint64        `yaml:"seed"`
	// Identity Center's side (docs/simcloud.md): its own rate and limit
	// on assignment operations in progress, how long assignments and
	// provisioning take, and the failures to inject.
	IdentityCenterRatePerSecond float64       `yaml:"identity_center_rate_per_second"`
	MaxOutstandingAssignments   int           `yaml:"max_outstanding_assignments"`
	AssignmentLatency           time.Duration `yaml:"assignment_latency"`
	AssignmentFailureRate       float64       `yaml:"assignment_failure_rate"`
	ConflictRate                float64       `yaml:"conflict_rate"`
	PropagationDelay            time.Duration `yaml:"propagation_delay"`
	// Organizations' quotas and failures as AWS has them
	// (docs/simcloud.md): the account quota (AWS: 10 until raised; 0
	// is unlimited), the closure quota per 30 days (0 is AWS's 10 % of
	// the members, 10 to 1,000), how long a closed account stays
	// PENDING_CLOSURE, creations failed with a reason, "try again"
	// answers, empty pages, the Account API without trusted access, and
	// Identity Center's home region (empty: the simulated cloud's).
	MaxAccounts          int           `yaml:"max_accounts"`
	ClosureQuota         int           `yaml:"closure_quota"`
	ClosureLatency       time.Duration `yaml:"closure_latency"`
	CreateFailureRate    float64       `yaml:"create_failure_rate"`
	CreateFailureReason  string        `yaml:"create_failure_reason"`
	BusyRate             float64       `yaml:"busy_rate"`
	EmptyPageRate        float64       `yaml:"empty_page_rate"`
	AccountAPIDisabled   bool          `yaml:"account_api_disabled"`
	IdentityCenterRegion string        `yaml:"identity_center_region"`
	// XKSCAFile is the PEM certificate the simulated KMS trusts when it
	// calls an XKS proxy; empty means serve's own server certificate
	// (embedded) or the system's roots.
	XKSCAFile string `yaml:"xks_ca_file"`
}

// Provider is one provider connection.
type Provider struct {
	Name   string `yaml:"name"`
	Driver string `yaml:"driver"` // "aws" or "openstack"
	// Endpoint overrides the provider's API address; "embedded" means the
	// simulated cloud inside this process.
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	// IdentityCenterRegion is the Identity Center instance's home region
	// when it differs from region (docs/aws.md); empty means region.
	IdentityCenterRegion string `yaml:"identity_center_region"`
	// InstanceARN and IdentityStoreID select the Identity Center
	// instance; empty means the only one in identity_center_region.
	InstanceARN     string `yaml:"instance_arn"`
	IdentityStoreID string `yaml:"identity_store_id"`
	// ConfigAggregator is the organisation's AWS Config aggregator in the
	// management account; empty means "hatoba-organization".
	ConfigAggregator string        `yaml:"config_aggregator"`
	AccessKeyID      string        `yaml:"access_key_id"`
	SecretAccessKey  string        `yaml:"secret_access_key"`
	Cap              int           `yaml:"cap"`
	PollInterval     time.Duration `yaml:"poll_interval"`
	Classifications  []string      `yaml:"classifications"`
	EmailTemplate    string        `yaml:"email_template"`
	// PermissionSets is what the two permission sets grant on this
	// connection; a set left empty grants the driver's default.
	PermissionSets PermissionSets `yaml:"permission_sets"`
	// Tier is "domestic" or "hyperscaler"; empty means the driver's
	// (openstack: domestic, aws: hyperscaler).
	Tier string `yaml:"tier"`
	// Jurisdiction is the country (ISO 3166-1 alpha-2) whose law the
	// provider answers to; empty means JP on the domestic tier and
	// unknown otherwise. Tenants' backup targets go only to JP.
	Jurisdiction string `yaml:"jurisdiction"`
	// OpenStack configures a connection of driver openstack.
	OpenStack OpenStack `yaml:"openstack"`
}

// JurisdictionOf is the connection's jurisdiction: its own, else JP on
// the domestic tier.
func (p Provider) JurisdictionOf() string {
	if p.Jurisdiction != "" {
		return strings.ToUpper(p.Jurisdiction)
	}
	if p.TierOf() == TierDomestic {
		return "JP"
	}
	return ""
}

// Tiers of provider.
const (
	TierDomestic    = "domestic"
	TierHyperscaler = "hyperscaler"
)

// TierOf is the connection's tier: its own, else its driver's.
func (p Provider) TierOf() string {
	switch {
	case p.Tier != "":
		return p.Tier
	case p.Driver == "openstack":
		return TierDomestic
	}
	return TierHyperscaler
}

// Placement seeds the placement policy (docs/providers.md#placement) on
// the first start; afterwards the database holds it and central operators
// change it through the API or the console. Rules maps a classification
// to the tiers it may be placed on (level3: [domestic]); a classification
// not listed may go anywhere. Without rules the default holds: level3
// only on the domestic tier, level2 on either, level1 anywhere.
type Placement struct {
	Rules map[string][]string `yaml:"rules"`
	// OnBreach is what a request that breaks a rule gets: "approve" (the
	// approval queue, the default) or "refuse".
	OnBreach string `yaml:"on_breach"`
	// OneProviderPerSystem keeps a system's environments on one provider
	// connection.
	OneProviderPerSystem bool `yaml:"one_provider_per_system"`
}

// OpenStack is an OpenStack connection (docs/providers.md): hatoba keeps
// its units, projects, groups and users in one Keystone domain.
type OpenStack struct {
	AuthURL string `yaml:"auth_url"` // Keystone v3, e.g. https://keystone.example.jp:5000/v3
	Domain  string `yaml:"domain"`
	Region  string `yaml:"region"` // Keystone's region in the catalog; empty means any
	// ApplicationCredentialID or Username (in UserDomain) is who hatoba
	// is; Secret is "secret:NAME", the credential's secret or the
	// password stored through the key service (hatoba secret put) — never
	// the secret itself.
	ApplicationCredentialID string `yaml:"application_credential_id"`
	Username                string `yaml:"username"`
	UserDomain              string `yaml:"user_domain"`
	Secret                  string `yaml:"secret"`
	// AdministratorRoles and NonAdministratorRoles are the roles the two
	// permission sets' groups get on a project (default [admin], [member]).
	AdministratorRoles    []string `yaml:"administrator_roles"`
	NonAdministratorRoles []string `yaml:"non_administrator_roles"`
	// DomesticRegions, when set, are the only regions whose endpoints every
	// project sees (OS-EP-FILTER), whatever controls are enforced.
	DomesticRegions []string `yaml:"domestic_regions"`
	// Retention is how long a closed project is kept disabled before it
	// is deleted (default 90 days).
	Retention time.Duration `yaml:"retention"`
}

// PermissionSets configures the Administrator and Non-administrator sets.
type PermissionSets struct {
	Administrator    PermissionSet `yaml:"administrator"`
	NonAdministrator PermissionSet `yaml:"non_administrator"`
}

// PermissionSet is what one permission set grants (AWS: IAM Identity
// Center). Giving any field replaces the whole default.
type PermissionSet struct {
	// ManagedPolicies are AWS managed policy ARNs.
	ManagedPolicies []string `yaml:"managed_policies"`
	// InlinePolicy is an IAM policy document (JSON).
	InlinePolicy string `yaml:"inline_policy"`
	// PermissionsBoundary is an AWS managed policy ARN, or a customer
	// managed policy's name with its path ("/boundaries/name").
	PermissionsBoundary string `yaml:"permissions_boundary"`
}

// Vending tunes the vending workflow.
type Vending struct {
	DefaultQuota int           `yaml:"default_quota"`
	RetryBase    time.Duration `yaml:"retry_base"`
	RetryMax     time.Duration `yaml:"retry_max"`
	MaxAttempts  int           `yaml:"max_attempts"`
	JobTimeout   time.Duration `yaml:"job_timeout"`
	// CloseQuotaRetry is how often a closure held back by the provider's
	// closure quota is tried again.
	CloseQuotaRetry   time.Duration `yaml:"close_quota_retry"`
	Workers           int           `yaml:"workers"`
	ResumeInterval    time.Duration `yaml:"resume_interval"`
	SlotPollInterval  time.Duration `yaml:"slot_poll_interval"`
	FetchPollInterval time.Duration `yaml:"fetch_poll_interval"`
	// LeaseTTL is how long a replica's provider slots and running jobs stay
	// its own without a heartbeat; then a surviving replica takes them over.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// IntakeConcurrency bounds the environment requests using the database
	// at once, so a burst of requests leaves the workers their share.
	IntakeConcurrency int `yaml:"intake_concurrency"`
}

// BillingContact is used for organisations without a billing contact.
type BillingContact struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	Phone string `yaml:"phone"`
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8443",
		DatabaseURL: "./hatoba.db",
		LogLevel:    "info",
		Workers:     true,
		SimCloud: SimCloud{
			Embedded: true, DBPath: "./hatoba-simcloud.db", Latency: 3 * time.Second,
			ConcurrentCreations: 5, RatePerSecond: 200,
			IdentityCenterRatePerSecond: 20, MaxOutstandingAssignments: 10, AssignmentLatency: 500 * time.Millisecond,
		},
		Providers: []Provider{{
			Name: "sim", Driver: "aws", Endpoint: "embedded", Region: "ap-northeast-1", Cap: 5,
			PollInterval: 250 * time.Millisecond, Classifications: []string{"level1", "level2", "level3"},
			EmailTemplate: "cloud+{id}@sim.hatoba.invalid",
		}},
		Vending: Vending{
			DefaultQuota: 20, RetryBase: 2 * time.Second, RetryMax: 5 * time.Minute, MaxAttempts: 10,
			JobTimeout: 2 * time.Minute, Workers: 20, ResumeInterval: 30 * time.Second,
			SlotPollInterval: 500 * time.Millisecond, FetchPollInterval: 250 * time.Millisecond, IntakeConcurrency: 4,
			LeaseTTL: 10 * time.Second, CloseQuotaRetry: time.Hour,
		},
		Billing: BillingContact{Name: "Government Cloud billing desk", Email: "billing@hatoba.invalid", Phone: "+81-3-0000-0000"},
		Identity: Identity{
			PublicURL: "https://localhost:8443", TLSDir: "./hatoba-tls", OCSP: true, RevocationCache: 10 * time.Minute,
			SessionTTL: 8 * time.Hour, TokenTTL: 15 * time.Minute, InvitationTTL: 72 * time.Hour,
			SecondFactorTTL: 10 * time.Minute, BreakGlassMax: 8 * time.Hour,
		},
		Audit:       Audit{SigningKeyFile: "./hatoba-audit.key", Origin: "hatoba.invalid/audit", IntegrateInterval: time.Second},
		Controls:    Controls{CollectInterval: time.Hour, ReconcileInterval: 5 * time.Minute, FindingsRetention: 400 * 24 * time.Hour},
		Metrics:     Metrics{Listen: "127.0.0.1:9464"},
		Sovereignty: Sovereignty{RescoreInterval: time.Hour},
		Backup: Backup{Region: "us-east-1", Bucket: "hatoba-backup", Retention: 30 * 24 * time.Hour, LockMode: "COMPLIANCE",
			Interval: 24 * time.Hour, DrillInterval: 7 * 24 * time.Hour},
		Keyd: Keyd{
			Embedded: true, Listen: "127.0.0.1:9443", PublicURL: "https://localhost:9443", TLSDir: "./hatoba-keyd-tls",
			XKSURIPrefix: "/xks", XKSRegion: "ap-northeast-1", XKSTenantPaths: true, HSMKeyLabel: "hatoba-master",
			AuditSigningKeyFile: "./hatoba-keyd-audit.key", StateTTL: time.Second,
		},
	}
}

// Load builds the configuration from the defaults, the YAML file at path
// (none when empty), the environment (getenv) and the flag overrides
// (dotted keys such as "simcloud.latency" to values).
func Load(path string, getenv func(string) string, flags map[string]string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		if err := Parse(b, &cfg); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	fields := Fields()
	for _, key := range fields {
		if v := getenv(EnvName(key)); v != "" {
			if err := Set(&cfg, key, v); err != nil {
				return Config{}, fmt.Errorf("environment %s: %w", EnvName(key), err)
			}
		}
	}
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := Set(&cfg, k, flags[k]); err != nil {
			return Config{}, fmt.Errorf("flag %s: %w", k, err)
		}
	}
	return cfg, cfg.Validate()
}

// Parse decodes YAML onto cfg; unknown keys are errors, so typos surface.
func Parse(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Validate checks values the types cannot.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("listen: must not be empty")
	}
	switch c.Baseline.RefuseAt {
	case "", "critical", "high", "medium", "low", "informational":
	default:
		return fmt.Errorf("baseline.refuse_at: %q is not critical, high, medium, low or informational", c.Baseline.RefuseAt)
	}
	if c.DatabaseURL == "" {
		return errors.New("database_url: must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if len(c.Providers) == 0 {
		return errors.New("providers: at least one provider connection is needed")
	}
	seen := map[string]bool{}
	for i, p := range c.Providers {
		switch {
		case p.Name == "":
			return fmt.Errorf("providers[%d].name: must not be empty", i)
		case seen[p.Name]:
			return fmt.Errorf("providers[%d].name: %q is used twice", i, p.Name)
		case p.Driver != "aws" && p.Driver != "openstack":
			return fmt.Errorf("providers[%d].driver: %q is not a known driver (known: aws, openstack)", i, p.Driver)
		case p.Driver == "openstack" && (p.OpenStack.AuthURL == "" || p.OpenStack.Domain == ""):
			return fmt.Errorf("providers[%d].openstack: auth_url and domain are required", i)
		case p.Driver == "openstack" && (p.OpenStack.ApplicationCredentialID == "") == (p.OpenStack.Username == ""):
			return fmt.Errorf("providers[%d].openstack: give application_credential_id or username, not both", i)
		case p.Driver == "openstack" && !strings.HasPrefix(p.OpenStack.Secret, "secret:"):
			return fmt.Errorf("providers[%d].openstack.secret: must name a stored secret (secret:NAME, see hatoba secret put), never hold the secret", i)
		case p.Tier != "" && p.Tier != TierDomestic && p.Tier != TierHyperscaler:
			return fmt.Errorf("providers[%d].tier: %q is not one of domestic, hyperscaler", i, p.Tier)
		case p.Cap < 1:
			return fmt.Errorf("providers[%d].cap: must be at least 1", i)
		case !strings.Contains(p.EmailTemplate, "{id}"):
			return fmt.Errorf("providers[%d].email_template: must contain {id}, which keeps account e-mails unique", i)
		case p.Endpoint == "embedded" && !c.SimCloud.Embedded:
			return fmt.Errorf("providers[%d].endpoint: \"embedded\" needs simcloud.embedded: true", i)
		}
		for _, cl := range p.Classifications {
			if cl != "level1" && cl != "level2" && cl != "level3" {
				return fmt.Errorf("providers[%d].classifications: %q is not one of level1, level2, level3", i, cl)
			}
		}
		seen[p.Name] = true
	}
	for cl, tiers := range c.Placement.Rules {
		if cl != "level1" && cl != "level2" && cl != "level3" {
			return fmt.Errorf("placement.rules: %q is not one of level1, level2, level3", cl)
		}
		for _, t := range tiers {
			if t != TierDomestic && t != TierHyperscaler {
				return fmt.Errorf("placement.rules.%s: %q is not one of domestic, hyperscaler", cl, t)
			}
		}
	}
	if o := c.Placement.OnBreach; o != "" && o != "approve" && o != "refuse" {
		return fmt.Errorf("placement.on_breach: %q is not approve or refuse", o)
	}
	sc := c.SimCloud
	for _, r := range []float64{sc.TransientRate, sc.LostResponseRate, sc.AssignmentFailureRate, sc.ConflictRate, sc.CreateFailureRate, sc.BusyRate, sc.EmptyPageRate} {
		if r < 0 || r > 1 {
			return errors.New("simcloud: failure rates (transient_rate, lost_response_rate, assignment_failure_rate, conflict_rate, create_failure_rate, busy_rate, empty_page_rate) must be between 0 and 1")
		}
	}
	if sc.EmptyPageRate == 1 {
		return errors.New("simcloud.empty_page_rate: 1 would answer every page empty and no list would ever end")
	}
	if sc.MaxAccounts < 0 || sc.ClosureQuota < 0 || sc.ClosureLatency < 0 {
		return errors.New("simcloud: max_accounts, closure_quota and closure_latency must not be negative")
	}
	v := c.Vending
	for _, f := range []struct {
		key string
		ok  bool
	}{
		{"default_quota", v.DefaultQuota >= 0},
		{"retry_base", v.RetryBase > 0}, {"retry_max", v.RetryMax >= v.RetryBase},
		{"max_attempts", v.MaxAttempts >= 1}, {"job_timeout", v.JobTimeout > 0}, {"workers", v.Workers >= 1},
		{"resume_interval", v.ResumeInterval > 0}, {"slot_poll_interval", v.SlotPollInterval > 0},
		{"fetch_poll_interval", v.FetchPollInterval > 0}, {"intake_concurrency", v.IntakeConcurrency >= 1},
		{"lease_ttl", v.LeaseTTL >= time.Second}, {"close_quota_retry", v.CloseQuotaRetry > 0},
	} {
		if !f.ok {
			return fmt.Errorf("vending.%s: must be positive (retry_max at least retry_base)", f.key)
		}
	}
	if c.Controls.FindingsRetention < 0 || c.Controls.CollectInterval < 0 || c.Controls.ReconcileInterval < 0 {
		return errors.New("controls: collect_interval, reconcile_interval and findings_retention must not be negative (0 turns each off)")
	}
	if err := c.validateSovereignty(); err != nil {
		return err
	}
	if err := c.validateKeyd(); err != nil {
		return err
	}
	if err := c.validateMetrics(); err != nil {
		return err
	}
	if err := c.validateBackup(); err != nil {
		return err
	}
	return c.validateIdentity()
}

// minMetricsToken is the shortest metrics.token accepted: a guessable
// token would answer anyone again.
const minMetricsToken = 24

// validateMetrics refuses a /metrics anyone could read: on the main
// listener or a non-loopback address, a token is required.
func (c Config) validateMetrics() error {
	m := c.Metrics
	if m.Token != "" && len(m.Token) < minMetricsToken {
		return fmt.Errorf("metrics.token: at least %d characters (openssl rand -hex 32 makes one)", minMetricsToken)
	}
	if m.Listen == "" {
		if m.Token == "" {
			return errors.New("metrics: with listen empty /metrics is served on the main listener, which needs metrics.token; or give metrics.listen its own address (default 127.0.0.1:9464)")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen: %q is not host:port: %w", m.Listen, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || ip != nil && ip.IsLoopback()
	if !loopback && m.Token == "" {
		return fmt.Errorf("metrics.listen: %s is not a loopback address, so anyone who reaches it could read /metrics: set metrics.token too", m.Listen)
	}
	return nil
}

func (c Config) validateBackup() error {
	b := c.Backup
	if b.Endpoint == "" {
		return nil
	}
	if u, err := url.Parse(b.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("backup.endpoint: %q must be the bucket service's http(s):// address", b.Endpoint)
	}
	if b.Bucket == "" {
		return errors.New("backup.bucket: must not be empty")
	}
	if b.LockMode != "COMPLIANCE" && b.LockMode != "GOVERNANCE" {
		return fmt.Errorf("backup.lock_mode: %q is not COMPLIANCE or GOVERNANCE", b.LockMode)
	}
	if b.Retention < 24*time.Hour {
		return errors.New("backup.retention: at least 24h (every backup is locked that long)")
	}
	if b.Interval < 0 || b.DrillInterval < 0 || (b.Interval > 0 && b.Interval < time.Hour) || (b.DrillInterval > 0 && b.DrillInterval < time.Hour) {
		return errors.New("backup.interval, backup.drill_interval: at least 1h, or 0 to turn the schedule off")
	}
	return nil
}

func (c Config) validateKeyd() error {
	k := c.Keyd
	if k.XKSURIPrefix != "" && (!strings.HasPrefix(k.XKSURIPrefix, "/") || strings.HasSuffix(k.XKSURIPrefix, "/") ||
		strings.ContainsAny(k.XKSURIPrefix, "?#{} ")) {
		return fmt.Errorf("keyd.xks_uri_prefix: %q must start with / and not end with one, like /xks", k.XKSURIPrefix)
	}
	if k.XKSRegion == "" {
		return errors.New("keyd.xks_region: must not be empty (the AWS region KMS signs with)")
	}
	if k.Listen == "" {
		return errors.New("keyd.listen: must not be empty")
	}
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		return errors.New("keyd: set both tls_cert_file and tls_key_file, or neither")
	}
	if k.StateTTL < 0 {
		return errors.New("keyd.state_ttl: must not be negative")
	}
	return nil
}

func (c Config) validateIdentity() error {
	id := c.Identity
	u, err := url.Parse(id.PublicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return fmt.Errorf("identity.public_url: %q must be the https:// address people open, without a path", id.PublicURL)
	}
	if (id.TLSCertFile == "") != (id.TLSKeyFile == "") {
		return errors.New("identity: set both tls_cert_file and tls_key_file, or neither (a self-signed pair is made in tls_dir)")
	}
	for _, f := range []struct {
		key string
		ok  bool
	}{
		{"session_ttl", id.SessionTTL > 0}, {"token_ttl", id.TokenTTL > 0 && id.TokenTTL <= time.Hour},
		{"invitation_ttl", id.InvitationTTL > 0}, {"second_factor_ttl", id.SecondFactorTTL > 0},
		{"revocation_cache", id.RevocationCache >= 0}, {"break_glass_max", id.BreakGlassMax >= 5*time.Minute},
	} {
		if !f.ok {
			return fmt.Errorf("identity.%s: out of range (token_ttl at most 1h: no long-lived user secrets; break_glass_max at least 5m)", f.key)
		}
	}
	if c.Audit.SigningKeyFile == "" || c.Audit.Origin == "" || strings.ContainsAny(c.Audit.Origin, "+ \t\n") {
		return errors.New("audit: signing_key_file and origin are required; origin may not contain '+' or spaces (it names the signing key)")
	}
	if c.Audit.IntegrateInterval <= 0 {
		return errors.New("audit.integrate_interval: must be positive")
	}
	return nil
}

// EnvName is the environment variable for a dotted key.
func EnvName(key string) string {
	return "HATOBA_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Fields lists the dotted keys of every scalar setting (lists excluded).
func Fields() []string {
	var out []string
	walk(reflect.TypeOf(Config{}), "", func(key string) { out = append(out, key) })
	return out
}

func walk(t reflect.Type, prefix string, fn func(string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		switch f.Type.Kind() {
		case reflect.Struct:
			walk(f.Type, key+".", fn)
		case reflect.Slice:
			// Lists of strings are one comma-separated value; lists of
			// structs (providers) are addressed by name through Set.
			if f.Type.Elem().Kind() == reflect.String {
				fn(key)
			}
		default:
			fn(key)
		}
	}
}

// Set assigns value to the scalar setting at key ("vending.job_timeout").
// "providers.NAME.FIELD" addresses a field of a provider connection.
func Set(cfg *Config, key, value string) error {
	parts := strings.Split(key, ".")
	v := reflect.ValueOf(cfg).Elem()
	if parts[0] == "providers" && len(parts) == 3 {
		for i := range cfg.Providers {
			if cfg.Providers[i].Name == parts[1] {
				return setField(reflect.ValueOf(&cfg.Providers[i]).Elem(), parts[2:], key, value)
			}
		}
		return fmt.Errorf("no provider connection named %q", parts[1])
	}
	return setField(v, parts, key, value)
}

func setField(v reflect.Value, parts []string, key, value string) error {
	for _, p := range parts {
		if v.Kind() != reflect.Struct {
			return fmt.Errorf("unknown setting %q", key)
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == p {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return fmt.Errorf("unknown setting %q", key)
		}
	}
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 250ms or 2m", value)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(value)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", value)
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", value)
		}
		v.SetUint(n)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", value)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(strings.Split(value, ",")))
	default:
		return fmt.Errorf("setting %q cannot be set from a string", key)
	}
	return nil
}

func (c Config) validateSovereignty() error {
	if c.Sovereignty.RescoreInterval < 0 {
		return errors.New("sovereignty.rescore_interval must not be negative (0 turns the periodic rescore off)")
	}
	seen := map[string]bool{}
	for i, f := range c.Sovereignty.Floors {
		switch f.Classification {
		case "level1", "level2", "level3":
		default:
			return fmt.Errorf("sovereignty.floors[%d].classification: level1, level2 or level3, not %q", i, f.Classification)
		}
		if seen[f.Classification] {
			return fmt.Errorf("sovereignty.floors: %s appears twice", f.Classification)
		}
		seen[f.Classification] = true
		switch f.Mode {
		case "", "report", "enforce":
		default:
			return fmt.Errorf("sovereignty.floors[%d].mode: report or enforce, not %q", i, f.Mode)
		}
		for obj, lvl := range f.Levels {
			n, err := strconv.Atoi(strings.TrimPrefix(obj, "SOV-"))
			if !strings.HasPrefix(obj, "SOV-") || err != nil || n < 1 || n > 8 {
				return fmt.Errorf("sovereignty.floors[%d].levels: %q is not an objective (SOV-1 … SOV-8)", i, obj)
			}
			if lvl < 0 || lvl > 4 {
				return fmt.Errorf("sovereignty.floors[%d].levels.%s: a level from 0 to 4, not %d", i, obj, lvl)
			}
		}
	}
	return nil
}
