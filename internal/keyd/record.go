package keyd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// Recorder defaults.
const (
	DefaultBatch   = 500
	DefaultBuffer  = 4096
	DefaultMaxWait = 2 * time.Second
)

// RecorderOptions configure a Recorder; zero values take the defaults.
type RecorderOptions struct {
	Logger *slog.Logger
	// Batch is the most records written in one transaction.
	Batch int
	// Buffer is how many records may wait to be written; a record beyond
	// it is refused with ErrRecordQueueFull (the request is throttled).
	Buffer int
	// MaxWait bounds how long Record waits for its record's transaction,
	// on top of the caller's context.
	MaxWait time.Duration
	// Writers is how many transactions may write records at once: 1 on
	// SQLite (one writer), DefaultPostgresWriters on PostgreSQL, where each
	// record is a round trip and concurrent transactions share the
	// server's group commit.
	Writers int
	// Gather is how long the writer waits for more records when it finds
	// only a few (fewer than gatherBelow) before it commits them: at a few
	// thousand requests a second it makes one commit of several records
	// instead of one commit each, for a fraction of a millisecond of
	// latency. 0 means DefaultGather; negative, no wait.
	Gather time.Duration
}

// DefaultPostgresWriters is RecorderOptions.Writers' default on PostgreSQL.
const DefaultPostgresWriters = 4

// DefaultGather is RecorderOptions.Gather's default.
const DefaultGather = 200 * time.Microsecond

// gatherBelow is the batch size from which the writer commits at once.
const gatherBelow = 16

// Errors of Record. A request whose record meets one of them is not
// served: the XKS proxy answers ThrottlingException for a full queue and
// InternalException for the rest (xks.Config.Record).
var (
	// ErrRecordQueueFull: more records wait than the buffer holds — the
	// database cannot keep up with the request rate.
	ErrRecordQueueFull = fmt.Errorf("keyd: the usage record queue is full: %w", xks.ErrThrottled)
	// ErrRecorderClosed: the recorder was closed (the process is stopping).
	ErrRecorderClosed = errors.New("keyd: the usage recorder is closed")
	// ErrRecordNotWritten: the audit log could not be written; the error
	// wraps the database's own.
	ErrRecordNotWritten = errors.New("keyd: the usage record could not be written to the audit log")
)

// Recorder writes the key service's usage records (xks.Config.Record and
// the plain API's) to the audit log, one entry per request, and makes the
// request wait until its entry has committed: a request is answered only
// once its record is durable, so no request is served without one.
//
// Waiting costs little because writes are group-committed: while one
// transaction commits, the records that arrive meanwhile gather, and the
// next transaction takes them all. Under light load a record is written
// alone, at once; under heavy load a transaction carries many records, so
// the database's per-commit cost (an fsync on PostgreSQL) is shared.
//
// Failure closes: a full queue is ErrRecordQueueFull (throttling), a
// failed write is ErrRecordNotWritten with the database's error, each
// counted (Stats) and reported by Health until a write succeeds again.
type Recorder struct {
	db  *store.DB
	log *slog.Logger
	opt RecorderOptions

	mu     sync.Mutex
	cur    *recordBatch   // the batch new records join
	ready  []*recordBatch // full batches waiting for the writer
	queued int            // records in cur and ready
	closed bool
	health RecordHealth
	wake   chan struct{} // capacity 1: the writer has work
	done   chan struct{} // closed when the writer has stopped

	written, failed, refused atomic.Uint64
}

// recordBatch is the records one transaction writes; done is closed once
// it has committed (err nil) or failed.
type recordBatch struct {
	recs []xks.Usage
	done chan struct{}
	err  error
}

// RecordHealth is the recorder's condition, for the console's alert and
// the metrics: Failing is true from a failed write until the next
// successful one.
type RecordHealth struct {
	Failing bool
	// Since is when the current failure began; LastError says why (the
	// database's error, never a record's content).
	Since     time.Time
	LastError string
	// Failed counts records that could not be written (their requests
	// failed closed); Refused counts records refused because the queue
	// was full (their requests were throttled).
	Failed, Refused uint64
}

// RecorderStats are the recorder's counters since it started.
type RecorderStats struct {
	Written, Failed, Refused uint64
	Queued                   int
}

// NewRecorder starts a recorder writing to db; Close stops it.
func NewRecorder(db *store.DB, opt RecorderOptions) *Recorder {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.MaxWait <= 0 {
		opt.MaxWait = DefaultMaxWait
	}
	if opt.Gather == 0 {
		opt.Gather = DefaultGather
	}
	// How many writers to run is the recorder's own tuning, so it asks the
	// dialect here rather than store deciding for it.
	if opt.Writers <= 0 {
		opt.Writers = 1
		if db.Dialect() == store.Postgres {
			opt.Writers = DefaultPostgresWriters
		}
	}
	if db.Dialect() == store.SQLite {
		opt.Writers = 1 // SQLite has one writer connection
	}
	r := &Recorder{db: db, log: opt.Logger, opt: opt, wake: make(chan struct{}, 1), done: make(chan struct{})}
	var writers sync.WaitGroup
	for range opt.Writers {
		writers.Go(r.run)
	}
	go func() { writers.Wait(); close(r.done) }()
	return r
}

// Record queues u and waits until it is written; it is xks.Config.Record.
// It returns ErrRecordQueueFull at once when the queue is full, and
// otherwise the outcome of u's transaction — or the context's error (or
// context.DeadlineExceeded after MaxWait) if that comes first, in which
// case the record may still be written: a record may exist for a request
// that failed, never a served request without its record.
func (r *Recorder) Record(ctx context.Context, u xks.Usage) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRecorderClosed
	}
	if r.queued >= r.opt.Buffer {
		r.mu.Unlock()
		r.refused.Add(1)
		return ErrRecordQueueFull
	}
	if r.cur == nil {
		r.cur = &recordBatch{recs: make([]xks.Usage, 0, 16), done: make(chan struct{})}
	}
	b := r.cur
	b.recs = append(b.recs, u)
	if len(b.recs) >= r.opt.Batch {
		r.ready = append(r.ready, b)
		r.cur = nil
	}
	r.queued++
	r.mu.Unlock()
	r.signal()

	t := time.NewTimer(r.opt.MaxWait)
	defer t.Stop()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("keyd: waiting for the usage record: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("keyd: the usage record was not written within %s: %w", r.opt.MaxWait, context.DeadlineExceeded)
	}
}

// Health reports whether records are being written; the console shows an
// alert while Failing.
func (r *Recorder) Health() RecordHealth {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	h.Failed, h.Refused = r.failed.Load(), r.refused.Load()
	return h
}

// Stats returns the counters, for the metrics.
func (r *Recorder) Stats() RecorderStats {
	r.mu.Lock()
	q := r.queued
	r.mu.Unlock()
	return RecorderStats{Written: r.written.Load(), Failed: r.failed.Load(), Refused: r.refused.Load(), Queued: q}
}

// Close refuses new records, writes what is queued and stops the
// recorder. ctx bounds the wait.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.signal()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gather waits Gather for more records when only a few are queued.
func (r *Recorder) gather() {
	if r.opt.Gather <= 0 {
		return
	}
	r.mu.Lock()
	few := r.queued > 0 && r.queued < gatherBelow && !r.closed
	r.mu.Unlock()
	if few {
		time.Sleep(r.opt.Gather)
	}
}

// signal wakes an idle writer, if any is waiting.
func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest batch to write, or nil.
func (r *Recorder) next() (b *recordBatch, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case len(r.ready) > 0:
		b = r.ready[0]
		r.ready[0] = nil
		r.ready = r.ready[1:]
	case r.cur != nil:
		b, r.cur = r.cur, nil
	}
	return b, r.closed
}

// run is one writer: it writes batches until the recorder is closed and
// nothing is queued.
func (r *Recorder) run() {
	for {
		r.gather()
		b, closed := r.next()
		if b == nil {
			if closed {
				r.signal() // the other writers stop too
				return
			}
			<-r.wake
			continue
		}
		if r.opt.Writers > 1 {
			r.signal() // more may be queued: an idle writer takes it meanwhile
		}
		b.err = r.write(b.recs)
		r.mu.Lock()
		r.queued -= len(b.recs)
		r.mu.Unlock()
		close(b.done)
	}
}

// writeAttempts is how often a batch is tried; store.InTx already retries
// serialization conflicts and SQLite's busy answers.
const writeAttempts = 2

// write writes one batch in one transaction, and records the outcome in
// the counters and Health.
func (r *Recorder) write(batch []xks.Usage) error {
	var err error
	for attempt := range writeAttempts {
		if attempt > 0 {
			time.Sleep(20 * time.Millisecond) // a moment for a transient failure to pass
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.opt.MaxWait)
		entries := make([]audit.Entry, len(batch))
		for i, u := range batch {
			entries[i] = entryOf(u)
		}
		err = r.db.InTx(ctx, func(tx *store.Tx) error { return audit.AppendAll(ctx, tx, entries) })
		cancel()
		if err == nil {
			r.written.Add(uint64(len(batch)))
			r.mu.Lock()
			failing, since := r.health.Failing, r.health.Since
			r.health.Failing = false
			r.mu.Unlock()
			if failing {
				r.log.Warn("xks usage records are written again", "failing_for", time.Since(since).Round(time.Millisecond))
			}
			return nil
		}
	}
	r.failed.Add(uint64(len(batch)))
	r.mu.Lock()
	if !r.health.Failing {
		r.health.Failing, r.health.Since = true, time.Now()
	}
	r.health.LastError = err.Error()
	r.mu.Unlock()
	// The requests fail closed, so nothing was served without a record;
	// the log still names them, for whoever reconciles KMS's CloudTrail
	// with the usage record.
	first, last := batch[0], batch[len(batch)-1]
	r.log.Error("xks usage records could not be written to the audit log; their requests fail closed", "records", len(batch),
		"first_kmsRequestId", first.KMSRequestID, "last_kmsRequestId", last.KMSRequestID, "tenant", first.Tenant, "err", err)
	return fmt.Errorf("%w: %w", ErrRecordNotWritten, err)
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

// target is the entry's target: the external key id as given. An id the
// audit log would refuse (a refused request's path may hold anything) is
// written quoted, so one bad request cannot fail the batch it shares with
// others.
func target(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		s = strconv.QuoteToASCII(s)
	}
	if len(s) > maxActor {
		return strings.ToValidUTF8(s[:maxActor], "") // not cut inside a character
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
