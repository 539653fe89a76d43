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
	switch d {
	case "sqlite":
		dir, err := os.MkdirTemp("", name)
		if err != nil {
			return nil, nil, err
		}
		db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "hatoba.db"), store.Options{})
		return db, func() { _ = db.Close(); _ = os.RemoveAll(dir) }, err
	case "postgres":
	default:
		return nil, nil, fmt.Errorf("unknown database %q (sqlite or postgres)", d)
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, nil, err
	}
	schema := fmt.Sprintf("%s_%d", name, time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = conn.Close(ctx)
		return nil, nil, err
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, nil, fmt.Errorf("postgres URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, u.String(), store.Options{MaxConns: 20})
	return db, func() {
		if db != nil {
			_ = db.Close()
		}
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	}, err
}
