// Package vending turns an approved environment into a ready provider
// account through named, ordered, idempotent steps run as durable River jobs.
//
// The database is the truth and jobs are nudges: every state change commits
// first, the job that acts on it is inserted after, and a resumer re-inserts
// (deduplicated by River's unique jobs) whatever a crash between the two left
// without a job. Each step reads the recorded state and continues from there.
package vending

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// Connection is one configured provider connection.
type Connection struct {
	Name     string
	Provider provider.Provider
	// Cap is how many account creations may be in flight at once across
	// every hatoba replica (AWS Control Tower allows 5).
	Cap int
	// Kind is the connection's driver as people know it: aws, openstack,
	// or sim (the aws driver on the simulated cloud).
	Kind string
	// Tier is the connection's placement tier (placement.TierDomestic or
	// TierHyperscaler; hyperscaler when empty).
	Tier string
	// Allowed are the data classifications this provider may hold (the
	// connection's own list; the placement policy is judged on top).
	Allowed []env.Classification
	// PollInterval is how often an account creation's status is polled.
	PollInterval time.Duration
	// CreateTimeout bounds one attempt at creating and waiting for an account.
	CreateTimeout time.Duration
	// EmailTemplate makes an account's unique e-mail; "{id}" becomes the
	// environment id.
	EmailTemplate string
	// Jurisdiction is the country whose law the provider answers to ("JP"
	// on the domestic tier): a tenant's backup target goes to a domestic
	// connection in Japan's jurisdiction other than the environment's own.
	Jurisdiction string
}

// Orgs is what vending needs of the organisation registry.
type Orgs interface {
	Get(ctx context.Context, id string) (org.Organization, error)
	UnitPathFor(ctx context.Context, id string) ([]string, error)
	Quota(ctx context.Context, id string, def int) (int, error)
	// AncestorIDs are the organisations above one, nearest first, for
	// the placement rules of a subtree.
	AncestorIDs(ctx context.Context, id string) ([]string, error)
}

// Config configures an Engine.
type Config struct {
	Connections  []Connection
	DefaultQuota int
	// Admit, when set, may refuse a new environment of a classification
	// on a connection outright (an enforced sovereignty floor the
	// provider does not reach): the request fails with Admit's error and
	// nothing is stored.
	Admit func(ctx context.Context, connection string, classification env.Classification) error
	// Placement, when set, keeps the placement policy judged at every
	// request and transfer (docs/providers.md#placement); nil places
	// anywhere the connection's Allowed permits.
	Placement *placement.Service
	// Policies is the preventive policy set attached to every new account
	// when PolicySet is nil.
	Policies []provider.Policy
	// PolicySet, when set, gives the preventive policies of one
	// environment's account: the step attach_preventive_policies asks it
	// each time it runs, so what is attached follows the controls enforced
	// on the environment's organisation when the account is vended. An
	// error fails the step like a provider's would (a fault.Error other
	// than Internal fails it permanently).
	PolicySet func(ctx context.Context, en env.Environment) ([]provider.Policy, error)
	// ManagedPolicyPrefix names the policies ReconcilePolicies may detach
	// (DefaultManagedPolicyPrefix when empty).
	ManagedPolicyPrefix string
	// DefaultBilling is used when an organisation has no billing contact.
	DefaultBilling provider.Contact
	// RetryBase is the first retry delay; later ones double up to RetryMax.
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how often a step is tried before the environment fails.
	MaxAttempts int
	// CloseQuotaRetry is how often a closure the provider's closure quota
	// holds back (AWS: per rolling 30 days) is tried again; zero means
	// an hour.
	CloseQuotaRetry time.Duration
	// Workers bounds the customisation steps run at once per process.
	Workers int
	// SlotPollInterval is how often the dispatcher looks for provider slots
	// freed by other replicas; slots this replica frees are given out at
	// once.
	SlotPollInterval time.Duration
	// LeaseTTL is how long a replica's hold on its provider slots and
	// running jobs lasts without renewal. A replica renews it every
	// LeaseTTL/5; once it lapses, a surviving replica takes the slots over
	// and resumes the jobs.
	LeaseTTL time.Duration
	// ResumeInterval is how often the resumer looks for environments
	// without a job.
	ResumeInterval time.Duration
	// JobTimeout bounds one run of a job. A replica that dies mid-job has
	// its jobs resumed once its lease lapses (LeaseTTL); River's own rescue
	// after JobTimeout plus a margin is the fallback.
	JobTimeout time.Duration
	// IntakeConcurrency bounds the environment requests that use the
	// database at once, so that a burst of requests leaves the workers
	// their share of it.
	IntakeConcurrency int
	// FetchPollInterval bounds how late a replica notices new jobs when the
	// database cannot notify it (SQLite).
	FetchPollInterval time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
	Metrics           *Metrics
	// Access records who holds environments' permission sets; the engine
	// applies those records to the providers (access.go). Nil turns the
	// feature off.
	Access *envaccess.Service
	// Backups keeps tenants' backup targets (backup.go); nil refuses a
	// request for one. BackupObjectives give the targets' Object Lock
	// retention and mode.
	Backups          *tenantbackup.Store
	BackupObjectives tenantbackup.Objectives
}

func (c *Config) setDefaults() {
	if c.DefaultQuota == 0 {
		c.DefaultQuota = 20
	}
	if c.RetryBase == 0 {
		c.RetryBase = 2 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.CloseQuotaRetry == 0 {
		c.CloseQuotaRetry = time.Hour
	}
	if c.Workers == 0 {
		c.Workers = 20
	}
	if c.SlotPollInterval == 0 {
		c.SlotPollInterval = 500 * time.Millisecond
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.ResumeInterval == 0 {
		c.ResumeInterval = 30 * time.Second
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 2 * time.Minute
	}
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = 250 * time.Millisecond
	}
	if c.IntakeConcurrency == 0 {
		c.IntakeConcurrency = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	c.BackupObjectives = c.BackupObjectives.WithDefaults()
	for i := range c.Connections {
		cn := &c.Connections[i]
		if cn.Cap <= 0 {
			cn.Cap = 5
		}
		if cn.PollInterval == 0 {
			cn.PollInterval = 2 * time.Second
		}
		if cn.CreateTimeout == 0 {
			cn.CreateTimeout = 30 * time.Minute
		}
		if cn.EmailTemplate == "" {
			cn.EmailTemplate = "cloud+{id}@hatoba.invalid"
		}
		if cn.Tier == "" {
			cn.Tier = placement.TierHyperscaler
		}
		if cn.Kind == "" {
			cn.Kind = "aws"
		}
		if len(cn.Allowed) == 0 {
			cn.Allowed = []env.Classification{env.Level1, env.Level2}
		}
	}
}

// Engine runs the vending workflow.
type Engine struct {
	cfg   Config
	envs  *env.Store
	orgs  Orgs
	db    *store.DB
	conns map[string]*Connection
	jobs  jobClient
	// jobExec reaches River's job table directly, for what River's client
	// does not offer: resuming a stopped replica's running jobs (lease.go).
	jobExec riverdriver.Executor
	log     *slog.Logger

	replicaID string // this process in vend_replicas and River's attempted_by
	host      string // where this process's pid means this process (lease.go)

	intake    chan struct{} // admission of requests; see Request
	slotFreed broadcast     // wakes this replica's dispatcher

	stopLoops context.CancelFunc
	loops     sync.WaitGroup
}

// jobClient is the part of River's generic client the engine uses, so one
// Engine serves both database drivers.
type jobClient interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// New builds an Engine. Work starts with Start; an Engine that is never
// started still accepts requests (other replicas do the work).
func New(db *store.DB, envs *env.Store, orgs Orgs, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	e := &Engine{cfg: cfg, envs: envs, orgs: orgs, db: db, conns: map[string]*Connection{}, log: cfg.Logger,
		intake: make(chan struct{}, cfg.IntakeConcurrency)}
	e.replicaID, e.host = newReplicaID()
	queues := map[string]river.QueueConfig{queueVending: {MaxWorkers: cfg.Workers}}
	for i := range cfg.Connections {
		cn := &cfg.Connections[i]
		if cn.Provider == nil {
			return nil, fmt.Errorf("provider connection %q has no driver", cn.Name)
		}
		if _, dup := e.conns[cn.Name]; dup {
			return nil, fmt.Errorf("provider connection %q is configured twice", cn.Name)
		}
		e.conns[cn.Name] = cn
		// Only environments holding a slot get an account job, so the cap
		// workers per replica are never all taken by waiting.
		queues[providerQueue(cn.Name)] = river.QueueConfig{MaxWorkers: cn.Cap}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &accountWorker{e: e})
	river.AddWorker(workers, &customizeWorker{e: e})
	river.AddWorker(workers, &moveWorker{e: e})
	river.AddWorker(workers, &closeWorker{e: e})
	river.AddWorker(workers, &accessWorker{e: e})
	rc := &river.Config{
		ID:                e.replicaID,
		Queues:            queues,
		Workers:           workers,
		Logger:            slog.New(infoAsDebug{cfg.Logger.With("component", "river").Handler()}),
		RetryPolicy:       &retryPolicy{base: cfg.RetryBase, max: cfg.RetryMax},
		MaxAttempts:       cfg.MaxAttempts,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: cfg.FetchPollInterval,
		JobTimeout:        cfg.JobTimeout,
		// River's rescuer makes a dead replica's running jobs available again
		// once they have run longer than this: the fallback for the leases.
		RescueStuckJobsAfter: cfg.JobTimeout + 10*time.Second,
		ErrorHandler:         &errorHandler{log: cfg.Logger},
	}
	var err error
	e.jobs, e.jobExec, err = store.JobQueue[jobClient](db, rc)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return e, nil
}

// Connection returns a configured provider connection.
func (e *Engine) Connection(name string) (*Connection, bool) {
	cn, ok := e.conns[name]
	return cn, ok
}

// Connections lists the configured provider connections, in the
// configuration's order.
func (e *Engine) Connections() []*Connection {
	out := make([]*Connection, 0, len(e.cfg.Connections))
	for i := range e.cfg.Connections {
		out = append(out, &e.cfg.Connections[i])
	}
	return out
}

// Placement is the placement policy's keeper; nil when none is wired.
func (e *Engine) Placement() *placement.Service { return e.cfg.Placement }

// ConnectionNames lists the configured provider connections.
func (e *Engine) ConnectionNames() []string {
	out := make([]string, 0, len(e.cfg.Connections))
	for _, cn := range e.cfg.Connections {
		out = append(out, cn.Name)
	}
	return out
}

// Start registers this replica's lease, takes over replicas that stopped,
// and starts the workers, the dispatcher and the resumer.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.registerReplica(ctx); err != nil {
		return err
	}
	if _, err := e.TakeOverLapsed(ctx); err != nil {
		e.log.WarnContext(ctx, "taking over stopped replicas failed; retrying with the lease", "err", err)
	}
	if err := e.adoptOrphanSlots(ctx); err != nil {
		return err
	}
	if err := e.jobs.Start(ctx); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopLoops = cancel
	e.loops.Add(3)
	go e.leaseLoop(lctx)
	go e.dispatchLoop(lctx)
	go e.resumeLoop(lctx)
	return nil
}

// Stop stops taking new work and waits for running steps to end. Steps
// interrupted by ctx's end resume on the next start, or at once on another
// replica: the lease is given up on the way out.
func (e *Engine) Stop(ctx context.Context) error {
	if e.stopLoops != nil {
		e.stopLoops()
		e.loops.Wait()
	}
	err := e.jobs.Stop(ctx)
	if e.stopLoops != nil {
		e.releaseLease(context.WithoutCancel(ctx))
	}
	return err
}

const queueVending = "vending"

func providerQueue(name string) string { return "provider_" + name }

// retryPolicy doubles the delay from base up to max, with jitter so that
// replicas retrying after a provider outage do not arrive together.
type retryPolicy struct{ base, max time.Duration }

func (p *retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(backoff(p.base, p.max, len(job.Errors)))
}

func backoff(base, maxDelay time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: jitter, not a secret
}

type errorHandler struct{ log *slog.Logger }

func (h *errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.WarnContext(ctx, "vending job attempt failed", "kind", job.Kind, "job", job.ID, "attempt", job.Attempt, "err", err)
	return nil
}

func (h *errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "vending job panicked", "kind", job.Kind, "job", job.ID, "panic", fmt.Sprint(panicVal), "trace", trace)
	return nil
}

// ErrNoConnection is returned for a provider name that is not configured.
var ErrNoConnection = errors.New("no such provider connection")

// infoAsDebug passes River's records on with INFO lowered to DEBUG: River
// reports every start, stop and leadership change at INFO, which floods
// an operator's terminal under `serve &`; its warnings and errors stay.
type infoAsDebug struct{ slog.Handler }

func (h infoAsDebug) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return h.Handler.Enabled(ctx, l)
}

func (h infoAsDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h infoAsDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return infoAsDebug{h.Handler.WithAttrs(attrs)}
}

func (h infoAsDebug) WithGroup(name string) slog.Handler {
	return infoAsDebug{h.Handler.WithGroup(name)}
}
