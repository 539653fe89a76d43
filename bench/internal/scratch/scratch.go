// Package scratch gives the benchmark programs a throwaway database: a
// SQLite file in a temporary directory, or a fresh schema in a PostgreSQL
// database, removed again by the returned cleanup.
package scratch

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Open opens a scratch database of dialect d ("sqlite" or "postgres"; pgURL
// names the PostgreSQL database the schema goes in). name prefixes the
// temporary directory or schema, so a run's leftovers are recognisable.
func Open(ctx context.Context, d, pgURL, name string) (*store.DB, func(), error) {
	dbURL, drop, err := URL(ctx, d, pgURL, name)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, dbURL, store.Options{MaxConns: 20})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return db, func() { _ = db.Close(); drop() }, nil
}

// URL makes a scratch database as Open does and returns its URL, for a
// benchmark that hands the database to a hatoba process of its own.
func URL(ctx context.Context, d, pgURL, name string) (string, func(), error) {
	switch d {
	case "sqlite":
		dir, err := os.MkdirTemp("", name)
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "hatoba.db"), func() { _ = os.RemoveAll(dir) }, nil
	case "postgres":
	default:
		return "", nil, fmt.Errorf("unknown database %q (sqlite or postgres)", d)
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("%s_%d", name, time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = conn.Close(ctx)
		return "", nil, err
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		_ = conn.Close(ctx)
		return "", nil, fmt.Errorf("postgres URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	}, nil
}
