package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/reports"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func builtinEngine(ctx context.Context) (*controls.Engine, error) {
	cs, err := controls.Builtin()
	if err != nil {
		return nil, err
	}
	return controls.NewEngine(ctx, cs)
}

// exportAll exports the instance with the open formats.
func exportAll(t *testing.T, in *instance, orgID string) (string, backup.ExportManifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "export")
	m, err := backup.ExportWith(context.Background(), in.db, dir, backup.ExportOptions{Signer: in.key.Signer, Origin: testOrigin, Version: "test",
		Now: time.Now(), OrgID: orgID, OpenFormats: reports.OpenFormats(builtinEngine, "test", time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// resign rewrites the manifest after a file changed, as someone holding
// the audit log's key could: the checks past the checksums must still
// find the change.
func resign(t *testing.T, dir string, signer note.Signer) {
	t.Helper()
	mj, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m backup.ExportManifest
	if err := json.Unmarshal(mj, &m); err != nil {
		t.Fatal(err)
	}
	for i, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		m.Files[i].Size, m.Files[i].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
	}
	mj, _ = json.MarshalIndent(m, "", "  ")
	mj = append(mj, '\n')
	sum := sha256.Sum256(mj)
	sig, err := note.Sign(&note.Note{Text: backup.ExportFormat + "\nsha256 " + hex.EncodeToString(sum[:]) + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mj, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.sig"), sig, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A whole-platform export holds the controls, assessments and findings
// as OSCAL and OCSF and the audit log as C2SP tiles, every file in the
// signed manifest; verify checks that the tiles reproduce the signed
// checkpoint and are the exported entries.
func TestExportOpenFormatsAndTiles(t *testing.T) {
	t.Parallel()
	in := newInstance(t, store.SQLite)
	dir, m := exportAll(t, in, "")
	named := map[string]bool{}
	for _, f := range m.Files {
		named[f.Name] = true
	}
	for _, f := range []string{"oscal/catalog.json", "oscal/assessment-results.json", "ocsf/compliance-findings.json",
		"audit/tiles/checkpoint", "audit/tiles/tile/0/000.p/12", "audit/tiles/tile/entries/000.p/12"} {
		if !named[f] {
			t.Errorf("%s is not in the manifest", f)
		}
	}
	for _, f := range []string{"keys/key_custody.json", "keys/key_stores.json", "keys/tenant_keys.json", "keys/tenant_key_versions.json"} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil || !named[f] || strings.Contains(string(b), "wrapped") || strings.Contains(string(b), "check_value") {
			t.Errorf("%s: %v, in the manifest %v, or it holds key material:\n%s", f, err, named[f], b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keys", "key_custody.json")); !strings.Contains(string(b), `"threshold":2`) {
		t.Errorf("key custody metadata: %s", b)
	}
	if m.Tiles != "audit/tiles" || m.Audit.Size != 12 {
		t.Fatalf("tiles %q, audit of %d", m.Tiles, m.Audit.Size)
	}
	for _, o := range m.Omitted {
		if strings.Contains(o.What, "OSCAL") || strings.Contains(o.What, "tiles") {
			t.Errorf("omitted although exported: %s", o.What)
		}
	}
	if _, extra, err := backup.VerifyExport(dir, in.key.Verifier); err != nil || len(extra) != 0 {
		t.Fatalf("verify: %v, extra %v", err, extra)
	}
	cp, _ := os.ReadFile(filepath.Join(dir, "audit", "checkpoint"))
	tcp, _ := os.ReadFile(filepath.Join(dir, "audit", "tiles", "checkpoint"))
	if string(cp) != string(tcp) || len(cp) == 0 {
		t.Fatal("the tiles' checkpoint is not the export's")
	}

	for _, tt := range []struct {
		name   string
		change func(dir string)
		reason backup.Reason
	}{
		{"fail/a leaf hash flipped", func(dir string) { flip(t, filepath.Join(dir, "audit", "tiles", "tile", "0", "000.p", "12"), 3) }, backup.ReasonChecksum},
		{"fail/an entry of the tiles changed", func(dir string) {
			replaceIn(t, filepath.Join(dir, "audit", "tiles", "tile", "entries", "000.p", "12"), "env-001", "env-009")
		}, backup.ReasonChecksum},
		{"fail/entries.jsonl differs from the tiles", func(dir string) {
			replaceIn(t, filepath.Join(dir, "audit", "entries.jsonl"), `"env-001"`, `"env-009"`)
		}, backup.ReasonChecksum},
		{"fail/a stray tile in the manifest", func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "audit", "tiles", "tile", "0", "001"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			var m backup.ExportManifest
			_ = json.Unmarshal(b, &m)
			m.Files = append(m.Files, backup.File{Name: "audit/tiles/tile/0/001"})
			b, _ = json.Marshal(m)
			_ = os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o600)
		}, backup.ReasonFormat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := exportAll(t, in, "")
			tt.change(d)
			resign(t, d, in.key.Signer)
			if _, _, err := backup.VerifyExport(d, in.key.Verifier); !isRefused(err, tt.reason) {
				t.Fatalf("verify = %v; want refused (%s)", err, tt.reason)
			}
		})
	}
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, repl string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s: %v, or no %q in it", path, err, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, repl, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
