package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// The exit drill: an installation on SQLite exported, verified offline and
// imported into PostgreSQL (and into SQLite) carries everything over, and
// the imported audit log verifies against the original's checkpoint.
func TestExitDrill(t *testing.T) {
	t.Parallel()
	for _, to := range storetest.Dialects {
		t.Run("ok/sqlite-to-"+string(to), func(t *testing.T) {
			ctx := context.Background()
			in := newInstance(t, store.SQLite)
			dir := filepath.Join(t.TempDir(), "export")
			into := storetest.Open(t, to)
			rep, err := backup.ExitDrill(ctx, in.db, into, dir, in.key.Signer, in.key.Verifier, testOrigin, "test", []byte("listen: x\n"), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("exit drill not OK: %+v", rep)
			}
			if !rep.CheckpointHeld || rep.Import.Audit.Size != rep.Export.Audit.Size || rep.Export.Audit.Size == 0 {
				t.Fatalf("audit: %+v / %+v", rep.Import.Audit, rep.Export.Audit)
			}
			var envs, orgs int64
			for _, d := range rep.Domains {
				switch d.Table {
				case "environments":
					envs = d.Imported
				case "organizations":
					orgs = d.Imported
				}
			}
			if envs != 5 || orgs != 3 || len(rep.EnvStates) != 1 || rep.EnvStates[0].Imported != 5 {
				t.Fatalf("domains %+v states %+v", rep.Domains, rep.EnvStates)
			}
			csv, err := os.ReadFile(filepath.Join(dir, "organizations.csv"))
			if err != nil || !strings.HasPrefix(string(csv), "id,kind,lg_code,name_ja") || !strings.Contains(string(csv), "a-city,municipality,,組織 a-city") {
				t.Fatalf("organizations.csv: %v\n%s", err, csv)
			}
			if len(rep.Omitted) == 0 {
				t.Fatal("the report does not say what did not carry over")
			}
		})
	}
}

// hatoba export verify refuses an export whose files or manifest were
// changed, or that another key signed.
func TestVerifyExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := newInstance(t, store.SQLite)
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := backup.Export(ctx, in.db, dir, in.key.Signer, testOrigin, "test", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, extra, err := backup.VerifyExport(dir, in.key.Verifier); err != nil || len(extra) != 0 {
		t.Fatalf("verify = %v, extra %v", err, extra)
	}
	other := newInstance(t, store.SQLite)
	if _, _, err := backup.VerifyExport(dir, other.key.Verifier); !isRefused(err, backup.ReasonSignature) {
		t.Fatalf("another key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, extra, err := backup.VerifyExport(dir, in.key.Verifier); err != nil || len(extra) != 1 || extra[0] != "stray.txt" {
		t.Fatalf("a file the manifest does not name: %v %v", err, extra)
	}
	path := filepath.Join(dir, "tables", "environments.jsonl")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "level2", "level3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.VerifyExport(dir, in.key.Verifier); !isRefused(err, backup.ReasonChecksum) {
		t.Fatalf("an altered table: %v", err)
	}
	if _, err := backup.Import(ctx, dir, storetest.Open(t, store.SQLite), in.key.Verifier, time.Now); !isRefused(err, backup.ReasonChecksum) {
		t.Fatalf("import of an altered export: %v", err)
	}
}

func isRefused(err error, r backup.Reason) bool {
	var re *backup.RefusedError
	return errors.As(err, &re) && re.Reason == r
}
