package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// hatoba export writes the open formats and the tiles, export verify
// checks them, and a subtree's export builds a fresh installation on
// PostgreSQL with hatoba import.
func TestExportOpenFormatsAndSubtreeImportCommands(t *testing.T) {
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
	whole := filepath.Join(dir, "whole")
	var out bytes.Buffer
	if err := run(ctx, append([]string{"export", "--out", whole}, settings...), &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}
	for _, f := range []string{"oscal/catalog.json", "oscal/assessment-results.json", "ocsf/compliance-findings.json", "audit/tiles/checkpoint", "keys/key_stores.json"} {
		if _, err := os.Stat(filepath.Join(whole, filepath.FromSlash(f))); err != nil {
			t.Errorf("the export lacks %s: %v", f, err)
		}
	}
	out.Reset()
	if err := run(ctx, append([]string{"export", "verify", whole}, settings...), &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "export intact") {
		t.Fatalf("export verify = %q, %v", out.String(), err)
	}

	sub := filepath.Join(dir, "sub")
	if err := run(ctx, append([]string{"export", "--org", "lg-131016", "--out", sub}, settings...), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("export --org: %v", err)
	}
	out.Reset()
	err := run(ctx, append([]string{"import", "--from", sub, "--into", storetest.URL(t, store.Postgres)}, settings...), &out, &bytes.Buffer{})
	if err != nil || !strings.Contains(out.String(), "top-level organisation") || !strings.Contains(out.String(), "proven complete") {
		t.Fatalf("import of a subtree: %v\n%s", err, out.String())
	}
}
