package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestMigrationChecksums: every applied migration's checksum is recorded;
// a database whose applied migration no longer matches the binary's file is
// refused with a message saying which and what to do; a database migrated
// before checksums existed takes the binary's.
func TestMigrationChecksums(t *testing.T) {
	t.Parallel()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	recorded := func(t *testing.T, db *store.DB) map[int]string {
		t.Helper()
		rows, err := db.QueryContext(context.Background(), `SELECT version, checksum FROM schema_migrations`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int]string{}
		for rows.Next() {
			var v int
			var sum string
			if err := rows.Scan(&v, &sum); err != nil {
				t.Fatal(err)
			}
			out[v] = sum
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	wantAll := func(t *testing.T, db *store.DB) {
		t.Helper()
		got := recorded(t, db)
		if len(got) != len(ms) {
			t.Fatalf("%d migrations recorded, want %d", len(got), len(ms))
		}
		for _, m := range ms {
			if got[m.Version] != m.Checksum() {
				t.Errorf("%04d_%s: recorded %q, want %q", m.Version, m.Name, got[m.Version], m.Checksum())
			}
		}
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t.Run("ok/a fresh database records every checksum", func(t *testing.T) {
			wantAll(t, db)
		})
		t.Run("fail/an edited migration is refused", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, `UPDATE schema_migrations SET checksum = 'c0ffee' WHERE version = 3`); err != nil {
				t.Fatal(err)
			}
			_, err := db.Migrate(ctx)
			if err == nil {
				t.Fatal("Migrate accepted a database whose migration 0003 was applied from another file")
			}
			for _, want := range []string{"0003_" + ms[2].Name, "sha256 c0ffee", "must not be edited", "new migration"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not say %q:\n%v", want, err)
				}
			}
			if _, err := db.ExecContext(ctx, `UPDATE schema_migrations SET checksum = $1 WHERE version = 3`, ms[2].Checksum()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatalf("the file restored, Migrate still refuses: %v", err)
			}
		})
		t.Run("ok/a database from before checksums takes the binary's", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, `ALTER TABLE schema_migrations DROP COLUMN checksum`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			wantAll(t, db)
		})
	})
}
