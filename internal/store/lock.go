package store

import (
	"context"
	"fmt"
)

// Locks. A SQLite transaction here is already alone: it begins IMMEDIATE on
// the one writer connection, so the next writer waits for it to end. On
// PostgreSQL transactions run side by side, and a capability that must not
// interleave two of them says so with these; on SQLite they do nothing.

// LockRow holds the row of table whose id is id until tx ends: another
// transaction that locks or changes the same row waits. table is a name
// from the caller's code, never input.
func (tx *Tx) LockRow(ctx context.Context, table, id string) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT id FROM `+table+` WHERE id = $1 FOR UPDATE`, id); err != nil {
		return fmt.Errorf("lock %s %s: %w", table, id, err)
	}
	return nil
}

// LockKey holds a lock named by key until tx ends, for work that has no
// one row to lock (PostgreSQL's transaction-level advisory lock).
func (tx *Tx) LockKey(ctx context.Context, key int64) error {
	if tx.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("lock key %d: %w", key, err)
	}
	return nil
}

// SkipLocked ends a SELECT that claims a row for work: on PostgreSQL
// FOR UPDATE SKIP LOCKED, so concurrent workers claim different rows
// instead of waiting for each other; on SQLite nothing, claims being
// serial there.
func (d Dialect) SkipLocked() string {
	if d != Postgres {
		return ""
	}
	return ` FOR UPDATE SKIP LOCKED`
}
