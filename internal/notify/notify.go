// Package notify routes findings to the organisation that owns them, first:
// each organisation's channels (signed webhooks, Slack- and Teams-compatible
// incoming webhooks, e-mail over SMTP) with severity filters, grouping and
// quiet hours; the events that reach them (hatoba's own detective findings,
// AWS Security Hub's ASFF and OCSF findings, deduplicated with each other);
// an outbox in the database from which workers deliver with retries,
// backoff and a dead-letter state the tenant sees; the tenant's
// suppressions; and central's side: a signed periodic digest of critical
// events only, and notices to a tenant about one of them
// (docs/notifications.md).
package notify

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // quiet hours in the organisation's time zone, whatever the host has

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Options tune a Service; zero values take the defaults.
type Options struct {
	// RetryBase and RetryMax bound the backoff between attempts: base,
	// 2×base, 4×base … up to max.
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is dead.
	MaxAttempts int
	// Lease is how long a claimed delivery stays a worker's: a worker that
	// dies mid-delivery leaves it to another after this.
	Lease time.Duration
	// SendTimeout bounds one attempt.
	SendTimeout time.Duration
	// Workers deliver concurrently; each channel has one delivery in
	// flight at a time, so a slow receiver holds one worker, not all.
	Workers int
	// PollInterval is how often idle workers look for due deliveries.
	PollInterval time.Duration
	// MaxGroup bounds the events one message carries.
	MaxGroup int
	// AllowPrivateTargets lets webhooks reach loopback and private
	// addresses (tests, closed networks); off, a tenant's URL cannot make
	// hatoba call into its own network.
	AllowPrivateTargets bool
	// Signer signs central's digests: the platform's key (the audit log's).
	Signer note.Signer
	// ControlFor maps a finding's compliance references ("cis:AWS-3.5")
	// to hatoba's control id, so Security Hub's report of what hatoba also
	// found is the same event; nil maps nothing.
	ControlFor func(refs []string) string
	// Accounts attributes a cloud account or project id to an
	// environment: its id and organisation.
	Accounts AccountResolver
	Logger   *slog.Logger
}

// AccountResolver finds the environment that holds a provider account.
type AccountResolver interface {
	EnvironmentOfAccount(ctx context.Context, accountID string) (envID, orgID string, err error)
}

func (o *Options) defaults() {
	if o.RetryBase <= 0 {
		o.RetryBase = 10 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Hour
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 15 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service is the notification capability.
type Service struct {
	db     *store.DB
	sealer Sealer
	now    func() time.Time
	opts   Options
	client *http.Client
	log    *slog.Logger
	wake   chan struct{}
	// channels caches opened channel secrets for the workers
	// (sendingChannel).
	channels sync.Map
}

// New returns a Service over db, keeping channel secrets through sealer.
func New(db *store.DB, sealer Sealer, now func() time.Time, opts Options) *Service {
	if now == nil {
		now = time.Now
	}
	opts.defaults()
	return &Service{db: db, sealer: sealer, now: now, opts: opts, log: opts.Logger,
		client: newClient(opts.AllowPrivateTargets), wake: make(chan struct{}, 1)}
}

// Wake tells idle workers there may be something due.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newID returns prefix-<time-ordered random id>, so ids sort by age.
func newID(prefix string, now time.Time) string {
	var b [12]byte
	t := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(t)
		t >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("notify: random id: %v", err)) // crypto/rand does not fail on supported systems
	}
	return prefix + "-" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
