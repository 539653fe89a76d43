package reports

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// What an export writes of the controls, assessments and findings: the
// catalog and the assessment results valid against NIST's OSCAL 1.1.2
// schema; the OCSF file the findings' Compliance Findings exactly
// (posture's TestOCSFAgainstSchema holds Finding.OCSF to OCSF 1.3.0's
// definitions), resolved ones included; a subtree's files hold its
// findings only.
func TestOpenFormats(t *testing.T) {
	t.Parallel()
	builtin, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := controls.NewEngine(context.Background(), builtin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		det := detective(engine)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for _, o := range []string{"org-a", "org-b"} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, kind, name_ja, created_at, updated_at) VALUES ($1, 'municipality', $1, $2, $2)`, o, now); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO environments (id, org_id, system_name, purpose, classification, provider, state, account_email, created_at, updated_at)
					VALUES ($1, $2, 's', 'prod', 'level2', 'sim', 'ready', 'a@example.invalid', $3, $3)`, "env-"+o, o, now); err != nil {
					return err
				}
			}
			for i, c := range det[:4] {
				o, status := "org-a", "open"
				var resolved any
				if i == 3 {
					o, status, resolved = "org-b", "resolved", now.Add(time.Hour)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO findings (id, env_id, org_id, control_id, resource_id, resource_type, severity, message, status, first_seen, last_seen, resolved_at)
					VALUES ($1, $2, $3, $4, 'r-1', $5, $6, 'fails', $7, $8, $8, $9)`, "f-"+c.ID, "env-"+o, o, c.ID, c.ResourceTypes[0], string(c.Severity), status, now, resolved); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		render := OpenFormats(func(context.Context) (*controls.Engine, error) { return engine, nil }, "test", func() time.Time { return now })
		for _, tt := range []struct {
			name     string
			orgs     []string
			findings int
		}{{"ok/the platform", nil, 4}, {"ok/a subtree", []string{"org-a"}, 3}} {
			t.Run(tt.name, func(t *testing.T) {
				files := map[string][]byte{}
				err := render(ctx, db, tt.orgs, func(name string, v any) error {
					b, err := json.Marshal(v)
					files[name] = b
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(files) != 3 {
					t.Fatalf("files %v", len(files))
				}
				validateOSCALSchema(t, files["oscal/catalog.json"])
				validateOSCALSchema(t, files["oscal/assessment-results.json"])
				validateAssessmentResults(t, files["oscal/assessment-results.json"])
				var cat CatalogDocument
				if err := json.Unmarshal(files["oscal/catalog.json"], &cat); err != nil || len(cat.Catalog.Controls) != len(builtin) {
					t.Fatalf("catalog: %d controls, %v; want %d", len(cat.Catalog.Controls), err, len(builtin))
				}
				fs, err := posture.FindingsIn(ctx, db, tt.orgs)
				if err != nil || len(fs) != tt.findings {
					t.Fatalf("%d findings, %v", len(fs), err)
				}
				var got []map[string]any
				if err := json.Unmarshal(files["ocsf/compliance-findings.json"], &got); err != nil || len(got) != tt.findings {
					t.Fatalf("OCSF: %d items, %v; want %d", len(got), err, tt.findings)
				}
				for i, f := range fs {
					c, _ := engine.Control(f.ControlID)
					b, _ := json.Marshal(f.OCSF(c, "test"))
					var want map[string]any
					_ = json.Unmarshal(b, &want)
					if !reflect.DeepEqual(got[i], want) {
						t.Errorf("OCSF item %d is not the finding's Compliance Finding:\n%v\n%v", i, got[i], want)
					}
				}
			})
		}
	})
}

// Every catalog, the built-in one and an empty one, is valid OSCAL.
func TestCatalogAgainstNISTSchema(t *testing.T) {
	t.Parallel()
	builtin, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for name, cs := range map[string][]controls.Control{"builtin": builtin, "empty": nil, "sample": sample} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(CatalogOf(cs, "1.0.0", t0))
			if err != nil {
				t.Fatal(err)
			}
			validateOSCALSchema(t, raw)
		})
	}
}
