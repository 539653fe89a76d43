package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// s3Endpoint is the test S3 server (scripts/s3server.sh), or a skip — a
// failure under HATOBA_REQUIRE_S3=1.
func s3Endpoint(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("HATOBA_TEST_S3_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:7070"
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "http://"), 2*time.Second)
	if err != nil {
		msg := "the backup tests need an S3 server with Object Lock at " + endpoint + " (run scripts/s3server.sh): " + err.Error()
		if os.Getenv("HATOBA_REQUIRE_S3") == "1" {
			t.Fatal(msg)
		}
		t.Skip("skipped: " + msg)
	}
	_ = conn.Close()
	return endpoint
}

// The operator's path: initialise the key service, back up with the
// custodians' shares on standard input, drill, list, restore into a new
// database — and a restore that refuses exits 3, one into a used
// database too, each with a message that says why.
func TestBackupCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	endpoint := s3Endpoint(t)
	dir := t.TempDir()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	settings := []string{"--database-url", storetest.URL(t, store.SQLite),
		"--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key"), "--set", "audit.origin=hatoba.test/audit",
		"--set", "backup.endpoint=" + endpoint, "--set", "backup.bucket=hatoba-cmd-" + hex.EncodeToString(b),
		"--set", "backup.access_key_id=hatoba-test", "--set", "backup.secret_access_key=hatoba-test-secret-key-0123456789",
		"--set", "backup.retention=24h", "--set", "backup.scratch_dir=" + dir}
	hatoba := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, settings...)
		err := runIO(ctx, args, strings.NewReader(stdin), &out, &errOut)
		return out.String(), err
	}
	if _, err := hatoba("", "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, err := hatoba("", "audit", "key", "--create"); err != nil {
		t.Fatal(err)
	}
	if _, err := hatoba("", "org", "import"); err != nil {
		t.Fatal(err)
	}
	out, err := hatoba("", "keyd", "init", "--shares", "3", "--threshold", "2")
	if err != nil {
		t.Fatal(err)
	}
	shares := regexp.MustCompile(`hatoba-share-1-[0-9a-f]+`).FindAllString(out, -1)
	if len(shares) != 3 {
		t.Fatalf("keyd init printed %d shares:\n%s", len(shares), out)
	}
	two := shares[0] + "\n" + shares[2] + "\n"

	if _, err := hatoba("", "backup", "run"); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("a backup without shares: %v", err)
	}
	if out, err = hatoba(two, "backup", "run"); err != nil || !strings.Contains(out, "written to s3:") {
		t.Fatalf("backup run = %q, %v", out, err)
	}
	if out, err = hatoba(two, "backup", "drill"); err != nil || !strings.Contains(out, "restore drill passed") {
		t.Fatalf("backup drill = %q, %v", out, err)
	}
	if out, err = hatoba("", "backup", "list"); err != nil || !strings.Contains(out, "1 backups on") || !strings.Contains(out, "drill-") {
		t.Fatalf("backup list = %q, %v", out, err)
	}
	into := filepath.Join(dir, "restored.db")
	if out, err = hatoba(two, "restore", "--into", into, "--config-out", filepath.Join(dir, "restored.yaml")); err != nil ||
		!strings.Contains(out, "every table matches") || !strings.Contains(out, "audit log intact") {
		t.Fatalf("restore = %q, %v", out, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "restored.yaml"))
	if bytes.Contains(cfg, []byte("hatoba-test-secret-key")) || !bytes.Contains(cfg, []byte("bucket: hatoba-cmd-")) {
		t.Fatalf("the restored configuration:\n%s", cfg)
	}
	// A used database is refused: exit 3.
	_, err = hatoba(two, "restore", "--into", into)
	if code := exitCode(err); code != exitRefused || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a used database: exit %d, %v", code, err)
	}
	// Another audit key did not sign this backup: exit 3.
	other := filepath.Join(dir, "other.key")
	if err := run(ctx, []string{"audit", "key", "--create", "--set", "audit.signing_key_file=" + other, "--set", "audit.origin=hatoba.test/audit"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var keyOut bytes.Buffer
	if err := run(ctx, []string{"audit", "key", "--set", "audit.signing_key_file=" + other, "--set", "audit.origin=hatoba.test/audit"}, &keyOut, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(keyOut.String())
	_, err = hatoba(two, "restore", "--into", filepath.Join(dir, "other.db"), "--key", vkey)
	if code := exitCode(err); code != exitRefused || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("restore with another key: exit %d, %v", code, err)
	}
}

// hatoba exit-drill: the instance on SQLite into a new PostgreSQL schema.
func TestExitDrillCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	settings := []string{"--database-url", storetest.URL(t, store.SQLite),
		"--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key"), "--set", "audit.origin=hatoba.test/audit"}
	for _, args := range [][]string{{"migrate"}, {"audit", "key", "--create"}, {"org", "import"}, {"audit", "integrate"}} {
		if err := run(ctx, append(args, settings...), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(args, err)
		}
	}
	var out bytes.Buffer
	exportDir := filepath.Join(dir, "export")
	err := run(ctx, append([]string{"exit-drill", "--into", storetest.URL(t, store.Postgres), "--out", exportDir}, settings...), &out, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("exit-drill: %v\n%s", err, out.String())
	}
	for _, want := range []string{"organizations        ", "every table: ", "verifies and contains the original's checkpoint", "not carried over:", "river_*"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(ctx, append([]string{"export", "verify", exportDir}, settings...), &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "export intact") {
		t.Fatalf("export verify = %q, %v", out.String(), err)
	}
	if err := os.WriteFile(filepath.Join(exportDir, "organizations.csv"), []byte("id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, append([]string{"export", "verify", exportDir}, settings...), &out, &bytes.Buffer{})
	if exitCode(err) != exitRefused {
		t.Fatalf("export verify of an altered export: %v", err)
	}
}

// serve's wiring: once the key service is unsealed, the schedule makes a
// backup and a drill; the service handed to the console reads them.
func TestServeBackupSchedule(t *testing.T) {
	t.Parallel()
	endpoint := s3Endpoint(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg, err := config.Load("", func(string) string { return "" }, map[string]string{
		"database_url": storetest.URL(t, store.SQLite), "audit.signing_key_file": filepath.Join(dir, "audit.key"),
		"backup.endpoint": endpoint, "backup.bucket": "hatoba-serve-" + hex.EncodeToString(b), "backup.access_key_id": "hatoba-test",
		"backup.secret_access_key": "hatoba-test-secret-key-0123456789", "backup.retention": "24h", "backup.scratch_dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.LoadOrCreateKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin); err != nil {
		t.Fatal(err)
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := newLogger("error", io.Discard)
	ks, err := openKeyService(ctx, cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.close(ctx)
	shares, err := ks.keys.InitSplit(ctx, authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := ks.keys.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	runs := startBackups(ctx, &wg, cfg, db, ks, secrets.New(db, ks.keys, time.Now), log)
	deadline := time.Now().Add(60 * time.Second)
	for {
		rs, err := runs.Runs(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 2 && rs[0].State == "ok" && rs[1].State == "ok" {
			break
		}
		for _, r := range rs {
			if r.State == "failed" {
				t.Fatalf("a scheduled run failed: %+v", r)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs after a minute: %+v", rs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
}
