package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

var (
	t0    = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	owner = authz.Principal{PersonID: "p-owner", Role: authz.TenantAdmin, OrgID: "org-a", KeyOwner: true}
	staff = authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
	// custodian is who submits shares and HSM PINs in the tests.
	custodian = audit.Acting{Actor: "custodian@192.0.2.1"}
	ctxBg     = context.Background()
	bigTTL    = time.Hour
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer is a concurrency-safe buffer for a test's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func addOrg(t testing.TB, db *store.DB, id string) {
	t.Helper()
	if _, err := db.ExecContext(ctxBg, `INSERT INTO organizations (id, kind, name_ja, name_en, created_at, updated_at) VALUES ($1, 'ministry', $2, $2, $3, $3)`,
		id, "org "+id, t0); err != nil {
		t.Fatal(err)
	}
}

// newSplit returns an initialised, unsealed split-mode service over db,
// its shares (5, threshold 3), its clock and its log.
func newSplit(t testing.TB, db *store.DB, ttl time.Duration) (*Service, []string, *clock, *logBuffer) {
	t.Helper()
	clk := &clock{t: t0}
	logs := &logBuffer{}
	s := New(db, Options{Now: clk.Now, StateTTL: ttl, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	shares, err := s.InitSplit(ctxBg, staff, 5, 3)
	if err != nil {
		t.Fatalf("InitSplit: %v", err)
	}
	for _, sh := range shares[:3] {
		if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
			t.Fatalf("SubmitShare: %v", err)
		}
	}
	addOrg(t, db, "org-a")
	addOrg(t, db, "org-b")
	return s, shares, clk, logs
}

func mustKey(t testing.TB, s *Service, org string, spec KeySpec) Key {
	t.Helper()
	k, err := s.CreateKey(ctxBg, owner, org, spec)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v; want %v", what, err, want)
	}
}

// auditActors lists the queued audit entries as "actor action".
func auditActors(t testing.TB, db *store.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctxBg, `SELECT actor, action FROM audit_queue ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var actor, action string
		if err := rows.Scan(&actor, &action); err != nil {
			t.Fatal(err)
		}
		out = append(out, actor+" "+action)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditActions lists the actions queued in the audit log, in order.
func auditActions(t testing.TB, db *store.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctxBg, `SELECT action, org_id, details FROM audit_queue ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, org, d string
		if err := rows.Scan(&a, &org, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// leaks reports how secret appears in text (raw, hex or base64), or "".
func leaks(text string, secret []byte) string {
	forms := map[string]string{
		"raw":       string(secret),
		"hex":       hex.EncodeToString(secret),
		"HEX":       strings.ToUpper(hex.EncodeToString(secret)),
		"base64":    base64.StdEncoding.EncodeToString(secret),
		"base64url": base64.RawURLEncoding.EncodeToString(secret),
	}
	for name, f := range forms {
		if strings.Contains(text, f) {
			return name
		}
	}
	return ""
}
