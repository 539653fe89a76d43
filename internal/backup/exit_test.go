package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
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

// An export of one organisation's subtree holds its organisations,
// environments and what belongs to them, nothing of other tenants, and
// its audit entries as bundles that check offline.
func TestExportOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := newInstance(t, store.SQLite)
	// Another tenant beside the seeded tree, with an environment.
	now := time.Now().UTC()
	if err := in.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, kind, name_ja, created_at, updated_at) VALUES ('other-pref', 'prefecture', '他県', $1, $1)`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO environments (id, org_id, system_name, purpose, classification, provider, state, account_email, created_at, updated_at)
			VALUES ('env-other', 'other-pref', 'secret-system', 'prod', 'level2', 'sim', 'ready', 'o@example.invalid', $1, $1)`, now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	m, err := backup.ExportOrg(ctx, in.db, dir, in.key.Signer, testOrigin, "test", nil, time.Now(), "a-city")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tb := range m.Tables {
		rows[tb.Name] = tb.Rows
	}
	if m.Scope != "a-city" || rows["organizations"] != 2 || rows["environments"] != 5 || rows["env_events"] != 5 {
		t.Fatalf("scope %q, rows %v", m.Scope, rows)
	}
	if _, ok := rows["key_custody"]; ok {
		t.Fatal("a platform-wide table is in a subtree export")
	}
	for _, f := range []string{"environments.json", "organizations.csv", "audit/entries.jsonl", "tables/environments.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || strings.Contains(string(b), "other-pref") || strings.Contains(string(b), "secret-system") {
			t.Fatalf("%s: %v, holds another tenant's data: %v", f, err, strings.Contains(string(b), "other"))
		}
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "audit", "bundle-0001.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.CheckBundle(b, in.key.VerifierKey)
	if err != nil || len(b.Entries) != 7 || !rep.Complete { // a-city: org.create and five env.request; m-ward: org.create
		t.Fatalf("the subtree's bundle: %d entries, complete %v, %v", len(b.Entries), rep.Complete, err)
	}
	if _, _, err := backup.VerifyExport(dir, in.key.Verifier); err != nil {
		t.Fatal(err)
	}
}

// A subtree export builds a fresh installation on either database: its
// tables, the root a top-level organisation, and its audit entries —
// proven complete by the bundles against the source's key — in the new
// log, which verifies under the new installation's own key.
func TestImportSubtree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := newInstance(t, store.SQLite)
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := backup.ExportOrg(ctx, in.db, dir, in.key.Signer, testOrigin, "test", nil, time.Now(), "a-city"); err != nil {
		t.Fatal(err)
	}
	for _, d := range storetest.Dialects {
		t.Run("ok/into-"+string(d), func(t *testing.T) {
			into := storetest.Open(t, d)
			rep, err := backup.Import(ctx, dir, into, in.key.Verifier, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Subtree == nil || rep.Subtree.Parent != "z-pref" || rep.Subtree.Entries != 7 || !rep.OK() {
				t.Fatalf("report %+v %+v", rep, rep.Subtree)
			}
			var orgs, envs int
			var parent *string
			if err := into.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&orgs); err != nil {
				t.Fatal(err)
			}
			if err := into.QueryRowContext(ctx, `SELECT COUNT(*) FROM environments`).Scan(&envs); err != nil {
				t.Fatal(err)
			}
			if err := into.QueryRowContext(ctx, `SELECT parent_id FROM organizations WHERE id = 'a-city'`).Scan(&parent); err != nil {
				t.Fatal(err)
			}
			if orgs != 2 || envs != 5 || parent != nil {
				t.Fatalf("%d organisations, %d environments, a-city's parent %v", orgs, envs, parent)
			}
			key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "new.key"), "new.example/audit")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := audit.New(into, key.Signer, nil).Integrate(ctx); err != nil {
				t.Fatal(err)
			}
			ar, err := audit.Verify(ctx, into, key.Verifier, audit.VerifyOptions{})
			if err != nil || !ar.OK() || ar.Size != 8 {
				t.Fatalf("the new log: %+v %v; want 8 entries (7 imported, the import) that verify", ar, err)
			}
			es, err := audit.Entries(ctx, into, audit.Filter{AllOrgs: true, Limit: 100})
			if err != nil || es[0].Action != "org.create" || es[7].Action != "export.import" {
				t.Fatalf("entries %v %v", es, err)
			}
		})
	}
	t.Run("fail/a bundle's entry altered", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "export")
		if _, err := backup.ExportOrg(ctx, in.db, d, in.key.Signer, testOrigin, "test", nil, time.Now(), "a-city"); err != nil {
			t.Fatal(err)
		}
		replaceIn(t, filepath.Join(d, "audit", "bundle-0001.json"), `"env-001"`, `"env-009"`)
		resign(t, d, in.key.Signer)
		if _, err := backup.Import(ctx, d, storetest.Open(t, store.SQLite), in.key.Verifier, time.Now); !isRefused(err, backup.ReasonChecksum) {
			t.Fatalf("import of an altered bundle: %v", err)
		}
	})
	t.Run("fail/not empty", func(t *testing.T) {
		if _, err := backup.Import(ctx, dir, in.db, in.key.Verifier, time.Now); !isRefused(err, backup.ReasonNotEmpty) {
			t.Fatalf("import into a used database: %v", err)
		}
	})
}
