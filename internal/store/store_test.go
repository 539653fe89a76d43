package store_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != store.Latest() || v == 0 {
			t.Fatalf("schema version = %d, want %d", v, store.Latest())
		}
		res, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if len(res.Applied) != 0 || res.From != v || res.To != v {
			t.Fatalf("second migrate applied %v (%d→%d), want nothing", res.Applied, res.From, res.To)
		}
		// River's tables exist.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatalf("river_job: %v", err)
		}
	})
}

func TestTxRollbackAndPlaceholders(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		insert := `INSERT INTO organizations (id, kind, name_ja, name_en, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, insert, "o1", "national", "デジタル庁", "it's $1 literal", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v, want boom", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("after rollback: n=%d err=%v", n, err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, insert, "o1", "national", "デジタル庁", "it's $1 literal", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var en string
		var created time.Time
		if err := db.QueryRowContext(ctx, `SELECT name_en, created_at FROM organizations WHERE id = $1 AND name_en <> '$2'`, "o1").Scan(&en, &created); err != nil {
			t.Fatal(err)
		}
		if en != "it's $1 literal" || !created.Equal(now) {
			t.Fatalf("got %q %v, want literal text and %v", en, created, now)
		}
		_, err = db.ExecContext(ctx, insert, "o1", "national", "x", "y", now)
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate id: IsUniqueViolation(%v) = false", err)
		}
	})
}

func TestIn(t *testing.T) {
	t.Parallel()
	args := []any{"first"}
	if got := store.In(&args, []string{"a", "b"}); got != "$2, $3" || len(args) != 3 || args[2] != "b" {
		t.Fatalf("In = %q, args %v", got, args)
	}
	// A value of a named string type goes in as a plain string, which every
	// driver takes.
	type state string
	args = nil
	if got := store.In(&args, []state{"ready"}); got != "$1" || len(args) != 1 || args[0] != "ready" {
		t.Fatalf("In = %q, args %#v", got, args)
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^as-[a-z2-7]{16}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewID("as")
		if !valid.MatchString(id) {
			t.Fatalf("NewID = %q, want as- and 16 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

// TestDBWritesOutsideTx: the rule for *DB is the same on both dialects —
// a statement that writes and returns rows (INSERT … RETURNING, a WITH in
// front of an INSERT) works through QueryRowContext and QueryContext, as a
// read does; on SQLite the writes go to the writer, not the read-only
// connections.
func TestDBWritesOutsideTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE returning_test (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		var id int
		if err := db.QueryRowContext(ctx, `INSERT INTO returning_test (id, v) VALUES (1, 'a') RETURNING id`).Scan(&id); err != nil || id != 1 {
			t.Fatalf("INSERT … RETURNING through QueryRowContext: %d, %v", id, err)
		}
		rows, err := db.QueryContext(ctx, `WITH n AS (SELECT 2 AS id) INSERT INTO returning_test (id, v) SELECT id, 'delete me' FROM n RETURNING id`)
		if err != nil {
			t.Fatalf("WITH … INSERT … RETURNING through QueryContext: %v", err)
		}
		var got []int
		for rows.Next() {
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil || len(got) != 1 || got[0] != 2 {
			t.Fatalf("WITH … INSERT … RETURNING: %v, %v", got, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM returning_test WHERE v <> 'update'`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("read back: %d rows, %v", n, err)
		}
	})
}
