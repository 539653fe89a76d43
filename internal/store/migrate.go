package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	sql     string
}

// Checksum is the SHA-256 of the migration's file as embedded, recorded
// when it is applied: a file edited after a database applied it no longer
// matches, and Migrate refuses to go on.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.sql))
	return hex.EncodeToString(sum[:])
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: m[2], sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: versions must be 1..n without gaps", m.Version, m.Name)
		}
	}
	return out, nil
}

// Latest is the schema version this binary expects.
func Latest() int {
	ms, err := Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// The migrations are written for PostgreSQL; these few words differ in SQLite.
var sqliteWords = strings.NewReplacer(
	"TIMESTAMPTZ", "TIMESTAMP",
	"BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT",
	"BYTEA", "BLOB",
)

// Statement is migration version's SQL as dialect d runs it, for a test
// that applies one migration to rows in the shape before it (running the
// later ones again would fail: migrations run once).
func Statement(version int, d Dialect) (string, error) {
	ms, err := Migrations()
	if err != nil {
		return "", err
	}
	if version < 1 || version > len(ms) {
		return "", fmt.Errorf("no migration %04d", version)
	}
	return ms[version-1].statement(d), nil
}

func (m Migration) statement(d Dialect) string {
	if d == SQLite {
		return sqliteWords.Replace(m.sql)
	}
	return m.sql
}

// MigrateResult reports what Migrate did.
type MigrateResult struct {
	From, To int
	Applied  []string
}

// advisoryLockID serialises migrations of replicas starting together.
const advisoryLockID = 0x6861746f6261 // "hatoba"

// Migrate applies hatoba's pending migrations and River's, each migration in
// its own transaction. Replicas starting at once on PostgreSQL take turns.
func (db *DB) Migrate(ctx context.Context) (MigrateResult, error) {
	if db.dialect == Postgres {
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			return MigrateResult{}, fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close() //nolint:errcheck // hands the connection back to the pool, after the unlock below
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", advisoryLockID); err != nil {
			return MigrateResult{}, fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryLockID) //nolint:errcheck // the lock also ends with the session
	}
	res, err := db.migrateHatoba(ctx)
	if err != nil {
		return res, err
	}
	if err := db.migrateRiver(ctx); err != nil {
		return res, err
	}
	return res, nil
}

func (db *DB) migrateHatoba(ctx context.Context) (MigrateResult, error) {
	ms, err := Migrations()
	if err != nil {
		return MigrateResult{}, err
	}
	if err := db.createSchemaMigrations(ctx); err != nil {
		return MigrateResult{}, err
	}
	current, err := db.SchemaVersion(ctx)
	if err != nil {
		return MigrateResult{}, err
	}
	res := MigrateResult{From: current, To: current}
	if current > len(ms) {
		return res, fmt.Errorf("migrate: database schema version %d is newer than this binary's %d: upgrade hatoba", current, len(ms))
	}
	if err := db.checkApplied(ctx, ms[:current]); err != nil {
		return res, err
	}
	for _, m := range ms[current:] {
		err := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, m.statement(db.dialect)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES ($1, $2, $3, $4)`,
				m.Version, m.Name, time.Now().UTC(), m.Checksum())
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		res.To = m.Version
		res.Applied = append(res.Applied, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return res, nil
}

// createSchemaMigrations makes the table of applied migrations, or gives
// one made before checksums were recorded its checksum column (empty for
// the rows already there).
func (db *DB) createSchemaMigrations(ctx context.Context) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL,
		checksum TEXT NOT NULL DEFAULT '')`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var has int
	q := `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'checksum'`
	if db.dialect == SQLite {
		q = `SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&has); err != nil {
		return fmt.Errorf("migrate: inspect schema_migrations: %w", err)
	}
	if has == 0 {
		if _, err := db.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN checksum TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("migrate: add schema_migrations.checksum: %w", err)
		}
	}
	return nil
}

// checkApplied compares the applied migrations' recorded checksums with
// the binary's files, and refuses an edited one: the database was built by
// SQL that is no longer in the binary, and a fresh database would differ
// from it. A migration applied before checksums were recorded takes the
// binary's checksum (there is nothing to compare it with).
func (db *DB) checkApplied(ctx context.Context, applied []Migration) error {
	rows, err := db.QueryContext(ctx, `SELECT version, name, checksum FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	type row struct {
		version        int
		name, checksum string
	}
	var recorded []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.version, &r.name, &r.checksum); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		recorded = append(recorded, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	var edited []string
	for _, r := range recorded {
		if r.version < 1 || r.version > len(applied) {
			continue
		}
		m := applied[r.version-1]
		switch {
		case r.checksum == "":
			if _, err := db.ExecContext(ctx, `UPDATE schema_migrations SET checksum = $1 WHERE version = $2 AND checksum = ''`, m.Checksum(), m.Version); err != nil {
				return fmt.Errorf("migrate: record the checksum of %04d_%s: %w", m.Version, m.Name, err)
			}
		case r.checksum != m.Checksum():
			edited = append(edited, fmt.Sprintf("%04d_%s (applied as %04d_%s, sha256 %.12s…; the binary's file is sha256 %.12s…)",
				m.Version, m.Name, r.version, r.name, r.checksum, m.Checksum()))
		}
	}
	if len(edited) > 0 {
		return fmt.Errorf("migrate: %d applied migration(s) changed since this database applied them: %s. "+
			"An applied migration must not be edited: restore the file as it was and put the change in a new migration "+
			"(internal/store/migrations/NNNN_name.sql); hatoba will not start on this database until then",
			len(edited), strings.Join(edited, "; "))
	}
	return nil
}

func (db *DB) migrateRiver(ctx context.Context) error {
	var err error
	if db.dialect == Postgres {
		var m *rivermigrate.Migrator[pgxTx]
		m, err = rivermigrate.New(riverpgxv5.New(db.pool), nil)
		if err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	} else {
		var m *rivermigrate.Migrator[sqlTx]
		m, err = rivermigrate.New(riversqlite.New(db.sql), nil)
		if err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// SchemaVersion returns the highest applied migration, 0 for a new database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		if strings.Contains(err.Error(), "schema_migrations") {
			return 0, nil
		}
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
