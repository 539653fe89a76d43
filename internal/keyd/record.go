package keyd

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// Recorder defaults.
const (
	DefaultFlushEvery = 100 * time.Millisecond
	DefaultBatch      = 500
	DefaultBuffer     = 4096
	DefaultBlockFor   = time.Second
)

// RecorderOptions configure a Recorder; zero values take the defaults.
type RecorderOptions struct {
	Logger *slog.Logger
	// FlushEvery is how often buffered records are written.
	FlushEvery time.Duration
	// Batch is the most records written in one transaction (a full batch
	// is written at once, without waiting for FlushEvery).
	Batch int
	// Buffer is how many records may wait to be written.
	Buffer int
	// BlockFor is how long Record waits for room in a full buffer before
	// it gives the record up — to the error log, never silently.
	BlockFor time.Duration
}

// Recorder writes the XKS proxy's usage records (xks.Config.Record) to the
// audit log: one entry per key request, in batches of one transaction, so
// the proxy's hot path never waits for the database. Records are not
// secret (ids, operation, result), so a record that cannot be written is
// logged in full at error level instead.
type Recorder struct {
	db  *store.DB
	log *slog.Logger
	opt RecorderOptions

	mu     sync.RWMutex // held for reading while sending, for writing to close
	closed bool
	ch     chan xks.Usage
	done   chan struct{}
}

// NewRecorder starts a recorder writing to db; Close stops it.
func NewRecorder(db *store.DB, opt RecorderOptions) *Recorder {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = DefaultFlushEvery
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.BlockFor <= 0 {
		opt.BlockFor = DefaultBlockFor
	}
	r := &Recorder{db: db, log: opt.Logger, opt: opt, ch: make(chan xks.Usage, opt.Buffer), done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues u; it is xks.Config.Record. A full buffer makes it wait
// up to BlockFor (logged); after that, or after Close, the record is
// logged at error level rather than written.
func (r *Recorder) Record(_ context.Context, u xks.Usage) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.lost(u, "the recorder is closed")
		return
	}
	select {
	case r.ch <- u:
		return
	default:
	}
	r.log.Warn("xks usage buffer full; waiting", "buffer", r.opt.Buffer)
	t := time.NewTimer(r.opt.BlockFor)
	defer t.Stop()
	select {
	case r.ch <- u:
	case <-t.C:
		r.lost(u, "the usage buffer stayed full")
	}
}

// Close writes what is buffered and stops the recorder. ctx bounds the
// wait; records still unwritten when it ends are logged as lost.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.opt.FlushEvery)
	defer tick.Stop()
	batch := make([]xks.Usage, 0, r.opt.Batch)
	for {
		select {
		case u, ok := <-r.ch:
			if !ok {
				r.flush(batch)
				return
			}
			batch = append(batch, u)
			if len(batch) >= r.opt.Batch {
				r.flush(batch)
				batch = batch[:0]
			}
		case <-tick.C:
			if len(batch) > 0 {
				r.flush(batch)
				batch = batch[:0]
			}
		}
	}
}

// flushAttempts is how often a batch is tried before its records are
// logged as lost; store.InTx already retries serialization conflicts.
const flushAttempts = 3

func (r *Recorder) flush(batch []xks.Usage) {
	if len(batch) == 0 {
		return
	}
	var err error
	for attempt := range flushAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond) // back off before retrying a failed write
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.db.InTx(ctx, func(tx *store.Tx) error {
			for _, u := range batch {
				if err := audit.Append(ctx, tx, entryOf(u)); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err == nil {
			return
		}
		r.log.Error("writing xks usage to the audit log failed", "records", len(batch), "attempt", attempt+1, "err", err)
	}
	for _, u := range batch {
		r.lost(u, "the audit log could not be written: "+err.Error())
	}
}

// lost logs a record that will not reach the audit log.
func (r *Recorder) lost(u xks.Usage, why string) {
	r.log.Error("xks usage not recorded in the audit log", "why", why, "at", u.At, "tenant", u.Tenant, "key", u.ExternalKeyID,
		"operation", u.Operation, "kmsOperation", u.KMSOperation, "kmsRequestId", u.KMSRequestID,
		"awsPrincipalArn", u.AWSPrincipalARN, "kmsKeyArn", u.KMSKeyARN, "result", u.Result)
}

// maxActor is the audit log's limit on an actor.
const maxActor = 256

// entryOf is the audit entry of a usage record: the tenant's, acted by the
// KMS principal, e.g. key.xks.encrypt on the external key.
func entryOf(u xks.Usage) audit.Entry {
	actor := u.AWSPrincipalARN
	if actor == "" || len(actor) > maxActor || strings.ContainsFunc(actor, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		actor = "kms"
	}
	action := "key.xks." + actionOf(u.Operation)
	if strings.HasPrefix(u.Operation, "api.") {
		// The plain encryption API: the caller is a credential.
		action, actor = "key."+u.Operation, "credential:"+u.AWSPrincipalARN
	}
	details := map[string]any{"key_id": u.ExternalKeyID, "kmsRequestId": u.KMSRequestID, "result": u.Result}
	if u.KMSOperation != "" {
		details["kmsOperation"] = u.KMSOperation
	}
	if u.KMSKeyARN != "" {
		details["kmsKeyArn"] = u.KMSKeyARN
	}
	if actor != u.AWSPrincipalARN && u.AWSPrincipalARN != "" {
		details["awsPrincipalArn"] = u.AWSPrincipalARN
	}
	return audit.Entry{At: u.At, Actor: actor, Action: action, OrgID: u.Tenant, Target: target(u.ExternalKeyID), Details: details}
}

func target(s string) string {
	if len(s) > maxActor {
		return s[:maxActor]
	}
	return s
}

func actionOf(op string) string {
	switch op {
	case xks.OpEncrypt:
		return "encrypt"
	case xks.OpDecrypt:
		return "decrypt"
	case xks.OpGetKeyMetadata:
		return "metadata"
	case xks.OpGetHealthStatus:
		return "health"
	}
	return "other"
}
