package keyd_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// TestRecorder writes more records than a batch, and logs (never drops
// silently) a record given after Close.
func TestRecorder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := &logBuffer{}
		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)), Batch: 7, Buffer: 4, FlushEvery: time.Hour})
		const n = 30
		for i := range n {
			rec.Record(ctxBg, xks.Usage{At: time.Now(), Tenant: "org-a", ExternalKeyID: "k", Operation: xks.OpEncrypt,
				KMSRequestID: fmt.Sprint("r", i), Result: xks.ResultOK})
		}
		if err := rec.Close(ctxBg); err != nil {
			t.Fatal(err)
		}
		rec.Record(ctxBg, xks.Usage{Tenant: "org-a", ExternalKeyID: "k", Operation: xks.OpDecrypt, KMSRequestID: "late"})
		var got int
		var actor string
		if err := db.QueryRowContext(ctxBg, `SELECT COUNT(*), MIN(actor) FROM audit_queue WHERE action = 'key.xks.encrypt'`).Scan(&got, &actor); err != nil {
			t.Fatal(err)
		}
		if got != n || actor != "kms" {
			t.Fatalf("%d records by %q; want %d by kms", got, actor, n)
		}
		if !strings.Contains(logs.String(), "xks usage not recorded") || !strings.Contains(logs.String(), "kmsRequestId=late") {
			t.Fatalf("the late record was not logged: %s", logs)
		}
	})
}

// TestHealthSealed: a sealed service reports its node UNAVAILABLE.
func TestHealthSealed(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	a := keyd.New(newSealed(t, db), keyd.Options{})
	nodes, err := a.Health(ctxBg, "org-a")
	if err != nil || len(nodes) != 1 || nodes[0].Status != xks.HealthUnavailable {
		t.Fatalf("Health = %+v, %v", nodes, err)
	}
	if _, err := a.Store(ctxBg, "HATOBAAAAAAAAAAAAAAA"); !errors.Is(err, xks.ErrUnavailable) {
		t.Fatalf("Store while sealed: %v", err)
	}
}
