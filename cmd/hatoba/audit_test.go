package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestAuditCommands walks the operator's and the auditor's path through
// `hatoba audit`: create the key, integrate, save a checkpoint, verify,
// export, check a tenant's bundle offline, and catch tampering — exit
// status 1 (an error that is not a usage error) naming the first bad entry.
func TestAuditCommands(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			testAuditCommands(t, storetest.URL(t, d))
		})
	}
}

func testAuditCommands(t *testing.T, dbURL string) {
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	settings := []string{"--database-url", dbURL, "--set", "audit.signing_key_file=" + keyFile, "--set", "audit.origin=hatoba.test/audit"}
	hatoba := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		if n := min(2, len(args)); args[n-1] != "check-bundle" { // offline: no configuration, no database
			args = append(append(args[:n:n], settings...), args[n:]...)
		}
		err := run(ctx, args, &out, &errOut)
		var ue usageError
		if errors.As(err, &ue) {
			t.Fatalf("hatoba %s: usage error %v", strings.Join(args, " "), err)
		}
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := hatoba(args...)
		if err != nil {
			t.Fatalf("hatoba %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must("migrate")
	if _, err := hatoba("audit", "key"); err == nil || !strings.Contains(err.Error(), "audit key --create") {
		t.Fatalf("audit key without a key file: %v", err)
	}
	vkey := strings.TrimSpace(must("audit", "key", "--create"))
	if !strings.HasPrefix(vkey, "hatoba.test/audit+") {
		t.Fatalf("audit key printed %q", vkey)
	}

	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 30 {
			org := []string{"lg-131016", "lg-011002"}[i%2]
			if err := audit.Append(ctx, tx, audit.Entry{Actor: "p1", Action: "env.request", OrgID: org, Target: fmt.Sprintf("env-%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := must("audit", "integrate"); !strings.HasPrefix(out, "audit log: 30 entries, root ") {
		t.Fatalf("audit integrate: %q", out)
	}
	cpFile := filepath.Join(dir, "checkpoint")
	must("audit", "checkpoint", "--out", cpFile)
	if out := must("audit", "verify"); !strings.HasPrefix(out, "audit log intact: 30 entries") {
		t.Fatalf("audit verify: %q", out)
	}
	// An auditor with the public key only (the signing key file is not read).
	if out := must("audit", "verify", "--key", vkey, "--checkpoint", cpFile, "--full", "--set", "audit.signing_key_file=/nonexistent"); !strings.Contains(out, "contains the saved checkpoint") {
		t.Fatalf("audit verify --checkpoint --full: %q", out)
	}
	// The log grows; a consistency proof shows it extends the saved checkpoint.
	if err := audit.Append(ctx, db, audit.Entry{Actor: "p1", Action: "env.request", OrgID: "lg-131016", Target: "env-30"}); err != nil {
		t.Fatal(err)
	}
	must("audit", "integrate")
	if out := must("audit", "verify", "--key", vkey, "--checkpoint", cpFile); !strings.Contains(out, "the log of 31 entries") || !strings.Contains(out, "extends the saved checkpoint of 30 entries") {
		t.Fatalf("audit verify --checkpoint: %q", out)
	}

	exportFile := filepath.Join(dir, "export.jsonl")
	must("audit", "export", "--org", "lg-011002", "--since", "2000-01-01", "--out", exportFile)
	exported, err := os.ReadFile(exportFile)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(exported)), "\n"); len(lines) != 15 || !strings.Contains(lines[0], `"seq":1,`) {
		t.Fatalf("export: %d lines:\n%s", len(lines), exported)
	}

	k, err := audit.LoadKey(keyFile, "hatoba.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := audit.New(db, k.Signer, nil).Bundle(ctx, audit.Filter{OrgIDs: []string{"lg-131016"}, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	bundleFile := filepath.Join(dir, "bundle.json")
	data, _ := json.Marshal(bundle)
	if err := os.WriteFile(bundleFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := must("audit", "check-bundle", "--key", vkey, bundleFile); !strings.HasPrefix(out, "bundle verified: 4 entries are in the log hatoba.test/audit of 31 entries") ||
		!strings.Contains(out, "complete: it holds every entry of lg-131016 from entry 0 up to entry 8") {
		t.Fatalf("check-bundle: %q", out)
	}
	// A tenant's entry taken out of its bundle is named.
	var cut audit.Bundle
	if err := json.Unmarshal(data, &cut); err != nil {
		t.Fatal(err)
	}
	cut.Entries = append(cut.Entries[:1], cut.Entries[2:]...)
	cutData, _ := json.Marshal(cut)
	if err := os.WriteFile(bundleFile, cutData, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hatoba("audit", "check-bundle", "--key", vkey, bundleFile); err == nil || !strings.Contains(err.Error(), "entry number 1 is missing between entry 0 and entry 4") {
		t.Fatalf("check-bundle of a bundle with an entry taken out: %v", err)
	}
	if err := os.WriteFile(bundleFile, bytes.Replace(data, []byte(`"env-2"`), []byte(`"env-3"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hatoba("audit", "check-bundle", "--key", vkey, bundleFile); err == nil || !strings.Contains(err.Error(), "bundle entry 2:") {
		t.Fatalf("check-bundle of an altered bundle: %v", err)
	}

	// Truncation shows only against the saved checkpoint; an edit always.
	if _, err := db.ExecContext(ctx, `DELETE FROM audit_entries WHERE seq >= 25`); err != nil {
		t.Fatal(err)
	}
	must("audit", "verify")
	if out, err := hatoba("audit", "verify", "--checkpoint", cpFile); err == nil || !strings.Contains(err.Error(), "truncated or rolled back below 30 entries") || !strings.Contains(out, "AUDIT LOG TAMPERED") {
		t.Fatalf("verify of a truncated log: %v\n%s", err, out)
	}
	if out, err := hatoba("audit", "verify", "--checkpoint", cpFile, "--full"); err == nil || !strings.Contains(err.Error(), "first bad entry is 25 (truncated)") || !strings.Contains(out, "entries 25…29 were removed") {
		t.Fatalf("full verify of a truncated log: %v\n%s", err, out)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_entries SET target = 'env-x' WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	out, err := hatoba("audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "first bad entry is 7 (edited)") || !strings.Contains(out, "AUDIT LOG TAMPERED: entry 7 edited") {
		t.Fatalf("verify of an edited log: %v\n%s", err, out)
	}
}

func TestAuditCommandUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"audit"}, {"audit", "frobnicate"}, {"audit", "check-bundle", "x.json"}} {
		var ue usageError
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.As(err, &ue) {
			t.Errorf("hatoba %s: %v; want a usage error", strings.Join(args, " "), err)
		}
	}
}
