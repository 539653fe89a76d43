package store_test

import (
	"context"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestLocks: on PostgreSQL a second transaction cannot take a row or key
// the first holds (it gives up after lock_timeout instead of waiting), nor
// claim the row the first claimed with SkipLocked (it gets the next); on SQLite, whose
// transactions are serial already, the locks do nothing and succeed.
func TestLocks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE lock_test (id TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO lock_test (id) VALUES ('a'), ('b')`); err != nil {
			t.Fatal(err)
		}
		claim := `SELECT id FROM lock_test ORDER BY id LIMIT 1` + db.Dialect().SkipLocked()
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.LockRow(ctx, "lock_test", "a"); err != nil {
				return err
			}
			if err := tx.LockKey(ctx, 42); err != nil {
				return err
			}
			var id string
			if err := tx.QueryRowContext(ctx, claim).Scan(&id); err != nil {
				return err
			}
			if db.Dialect() != store.Postgres {
				return nil // a second writer would wait for this one
			}
			// second runs fn in another transaction that gives up on a
			// lock after 100 ms instead of waiting for this one to end.
			second := func(fn func(tx *store.Tx) error) error {
				return db.InTx(ctx, func(tx *store.Tx) error {
					if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '100ms'`); err != nil {
						return err
					}
					return fn(tx)
				})
			}
			if second(func(tx *store.Tx) error { return tx.LockRow(ctx, "lock_test", "a") }) == nil {
				t.Error("LockRow: a second transaction locked the row the first holds")
			}
			if second(func(tx *store.Tx) error { return tx.LockKey(ctx, 42) }) == nil {
				t.Error("LockKey: a second transaction took the key the first holds")
			}
			var other string
			err := second(func(tx *store.Tx) error { return tx.QueryRowContext(ctx, claim).Scan(&other) })
			if err != nil || other != "b" {
				t.Errorf("SkipLocked: a second claim got %q, %v; want b, the row the first did not claim", other, err)
			}
			// Another row and another key are free.
			return second(func(tx *store.Tx) error {
				if err := tx.LockRow(ctx, "lock_test", "b"); err != nil {
					return err
				}
				return tx.LockKey(ctx, 43)
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
