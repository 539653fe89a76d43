package keyd_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

func usage(id string) xks.Usage {
	return xks.Usage{At: time.Now(), Tenant: "org-a", ExternalKeyID: "k", Operation: xks.OpEncrypt, KMSRequestID: id, Result: xks.ResultOK}
}

func countUsage(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctxBg, `SELECT COUNT(*) FROM audit_queue WHERE action LIKE 'key.xks.%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRecorder: every Record that returns nil is in the audit log when it
// returns — concurrent records share transactions, batches are split —
// and a record after Close is refused, not dropped silently.
func TestRecorder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Batch: 7})
		const n = 60
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() { errs <- rec.Record(ctxBg, usage(fmt.Sprint("r", i))) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := countUsage(t, db); got != n { // before Close: written when Record returned
			t.Fatalf("%d records in the audit log, want %d", got, n)
		}
		var actor string
		if err := db.QueryRowContext(ctxBg, `SELECT MIN(actor) FROM audit_queue WHERE action = 'key.xks.encrypt'`).Scan(&actor); err != nil || actor != "kms" {
			t.Fatalf("actor %q, %v", actor, err)
		}
		if st := rec.Stats(); st.Written != n || st.Failed != 0 || st.Queued != 0 {
			t.Fatalf("stats %+v", st)
		}
		if err := rec.Close(ctxBg); err != nil {
			t.Fatal(err)
		}
		if err := rec.Record(ctxBg, usage("late")); !errors.Is(err, keyd.ErrRecorderClosed) {
			t.Fatalf("Record after Close: %v", err)
		}
	})
}

// TestRecorderFailsClosed: while the audit log cannot be written, Record
// says so with the database's cause, the failure is counted and Health
// reports it; once writes work again Health clears.
func TestRecorderFailsClosed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := &logBuffer{}
		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		defer rec.Close(ctxBg)
		if _, err := db.ExecContext(ctxBg, `ALTER TABLE audit_queue RENAME TO audit_queue_away`); err != nil {
			t.Fatal(err)
		}
		err := rec.Record(ctxBg, usage("lost-1"))
		if !errors.Is(err, keyd.ErrRecordNotWritten) || !strings.Contains(err.Error(), "audit_queue") {
			t.Fatalf("Record with no audit log: %v", err)
		}
		if strings.Contains(err.Error(), "tamper") {
			t.Fatalf("an I/O error reported as tampering: %v", err)
		}
		h := rec.Health()
		if !h.Failing || h.Failed != 1 || !strings.Contains(h.LastError, "audit_queue") || h.Since.IsZero() {
			t.Fatalf("health while failing: %+v", h)
		}
		if !strings.Contains(logs.String(), "lost-1") {
			t.Fatalf("the failed record is not named in the log: %s", logs)
		}
		if _, err := db.ExecContext(ctxBg, `ALTER TABLE audit_queue_away RENAME TO audit_queue`); err != nil {
			t.Fatal(err)
		}
		if err := rec.Record(ctxBg, usage("ok-1")); err != nil {
			t.Fatal(err)
		}
		if h := rec.Health(); h.Failing || h.Failed != 1 {
			t.Fatalf("health after recovery: %+v", h)
		}
		if got := countUsage(t, db); got != 1 {
			t.Fatalf("%d records, want 1", got)
		}
	})
}

// TestRecorderQueueFull: while the database is held, records beyond the
// buffer are refused at once as throttled (never queued without bound);
// those queued are written once the database is free.
func TestRecorderQueueFull(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const buffer = 8
		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Buffer: buffer, MaxWait: time.Minute})
		defer rec.Close(ctxBg)
		held, release := make(chan struct{}), make(chan struct{})
		go func() {
			_ = db.InTx(ctxBg, func(tx *store.Tx) error {
				if db.Dialect() == store.Postgres {
					if _, err := tx.ExecContext(ctxBg, `LOCK TABLE audit_queue IN EXCLUSIVE MODE`); err != nil {
						return err
					}
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		var wg sync.WaitGroup
		results := make(chan error, 3*buffer)
		for i := range 3 * buffer {
			wg.Go(func() { results <- rec.Record(ctxBg, usage(fmt.Sprint("b", i))) })
		}
		// The refusals come back at once, while the database is still held.
		deadline := time.Now().Add(10 * time.Second)
		for rec.Stats().Refused < 2*buffer-1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(release)
		wg.Wait()
		close(results)
		var ok, throttled int
		for err := range results {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, xks.ErrThrottled):
				throttled++
			default:
				t.Fatalf("Record: %v", err)
			}
		}
		// One record may have been taken by the writer before the buffer
		// filled, so buffer or buffer+1 get through.
		if ok < buffer || ok > buffer+1 || ok+throttled != 3*buffer {
			t.Fatalf("%d written, %d throttled; want %d (or one more) written and the rest throttled", ok, throttled, buffer)
		}
		if got := countUsage(t, db); got != ok {
			t.Fatalf("%d records in the audit log, %d acknowledged", got, ok)
		}
	})
}
