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

// TestOrgImportCommand: --dry-run shows the counts and the changed rows
// and writes nothing; a file with a bad row (an empty billing contact)
// writes nothing and fails naming the row; a good file is imported.
func TestOrgImportCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dbURL := storetest.URL(t, store.SQLite)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hatoba := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"org", "import", "--database-url", dbURL}, args...), &out, &errOut)
		return out.String(), err
	}
	const header = "id,kind,name_ja,name_en,billing_name,billing_email\n"
	first := write("first.csv", header+"nat-a,national,甲庁,A Agency,会計課,billing@a.example.go.jp\n")
	if out, err := hatoba(first); err != nil || !strings.Contains(out, "added 1, changed 0, unchanged 0") {
		t.Fatalf("first import: %v\n%s", err, out)
	}
	next := write("next.csv", header+"nat-a,national,甲庁,Agency A,会計課,kaikei@a.example.go.jp\nnat-b,national,乙庁,B,経理,b@b.example.go.jp\n")
	tests := []struct {
		name string
		args []string
		fail bool
		want []string
	}{
		{"ok/dry run", []string{"--dry-run", next}, false, []string{"dry run: nothing was written", "would add 1, changed 1, unchanged 0",
			"~ nat-a (" + next + ":2)", `name_en: "A Agency" → "Agency A"`, `billing_email: "billing@a.example.go.jp" → "kaikei@a.example.go.jp"`}},
		{"fail/an empty billing contact", []string{write("bad.csv", header+"nat-c,national,丙庁,C,会計課,c@c.example.go.jp\nnat-d,national,丁庁,D,,\n")}, true,
			[]string{"nothing was written", "bad.csv:3: the billing contact is empty"}},
		{"ok/the import", []string{next}, false, []string{"added 1, changed 1, unchanged 0", "~ nat-a"}},
		{"ok/again changes nothing", []string{next}, false, []string{"added 0, changed 0, unchanged 2"}},
	}
	for _, tt := range tests {
		out, err := hatoba(tt.args...)
		if (err != nil) != tt.fail {
			t.Fatalf("%s: err = %v\n%s", tt.name, err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, out)
			}
		}
		if tt.name == "ok/dry run" || strings.HasPrefix(tt.name, "fail/") {
			// Nothing written: the next import still sees the first state.
			check, _ := hatoba("--dry-run", next)
			if !strings.Contains(check, "would add 1, changed 1") {
				t.Fatalf("%s wrote something:\n%s", tt.name, check)
			}
		}
	}
}
