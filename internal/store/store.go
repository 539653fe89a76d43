// Package store opens hatoba's database — SQLite by default, PostgreSQL when
// the URL says so — applies the embedded migrations, and hides the few
// differences between the two dialects. Capabilities write their own SQL in
// PostgreSQL's placeholder style ($1, $2 …) against the Querier interface.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL dialect of an open database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what capability code runs SQL against: a *DB or a *Tx.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

// DB is an open hatoba database.
type DB struct {
	sql *sql.DB
	// read serves reads outside transactions on SQLite: in WAL mode readers
	// do not wait for the one writer, so a burst of requests holding the
	// writer does not stall every page view and worker lookup behind it.
	// nil for PostgreSQL, whose pool serves both.
	read    *sql.DB
	dialect Dialect
	pool    *pgxpool.Pool // PostgreSQL only: River's pgx driver needs the pool itself.
	target  string        // the URL with any password removed, for messages
	// checkpointer runs SQLite's WAL checkpoints off the writer (nil on
	// PostgreSQL); see checkpointer.
	checkpointer *checkpointer
}

// Options tune Open.
type Options struct {
	// MaxConns bounds the PostgreSQL pool (default 10). SQLite always uses one
	// connection: SQLite has one writer, and River's SQLite driver needs a
	// single connection to avoid SQLITE_BUSY between its own goroutines.
	MaxConns int32
}

// Open opens the database named by rawURL: "postgres://…" or "postgresql://…"
// for PostgreSQL; "sqlite:PATH", "file:PATH" or a plain path for SQLite.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://") {
		return openPostgres(ctx, rawURL, opts)
	}
	return openSQLite(ctx, rawURL)
}

func openSQLite(ctx context.Context, rawURL string) (*DB, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	path = strings.TrimPrefix(path, "//")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil, errors.New("open sqlite: empty database path")
	}
	// wal_autocheckpoint(0): the commit that crosses SQLite's checkpoint
	// threshold would otherwise copy the WAL into the database and fsync it
	// while every other writer waits — tens of milliseconds on a slow disk,
	// in the latency of whichever requests were committing. The checkpointer
	// does that work on its own connection instead.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(sqliteReaders)
	cp, err := startCheckpointer(path, checkpointInterval)
	if err != nil {
		_ = db.Close()
		_ = read.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &DB{sql: db, read: read, dialect: SQLite, target: "sqlite:" + path, checkpointer: cp}, nil
}

// sqliteReaders bounds SQLite's read connections; more than the CPUs gains
// nothing for a pure-Go SQLite.
const sqliteReaders = 4

func openPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: invalid database URL: %w", err)
	}
	cfg.MaxConns = 10
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(rawURL), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(rawURL), err)
	}
	return &DB{sql: stdlib.OpenDBFromPool(pool), dialect: Postgres, pool: pool, target: redact(rawURL)}, nil
}

func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "postgres"
	}
	return u.Redacted()
}

// Close closes the database.
func (db *DB) Close() error {
	var err error
	if db.checkpointer != nil {
		err = db.checkpointer.stop()
	}
	err = errors.Join(err, db.sql.Close())
	if db.read != nil {
		err = errors.Join(err, db.read.Close())
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// Dialect reports the SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// String names the database without credentials.
func (db *DB) String() string { return db.target }

// SQL returns the underlying *sql.DB (River's SQLite driver runs on it).
func (db *DB) SQL() *sql.DB { return db.sql }

// Pool returns the pgx pool, or nil for SQLite.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, rebind(db.dialect, q), args...)
}

// QueryContext runs q on its own, outside any transaction, on either
// dialect: a read goes to SQLite's read-only connections (PostgreSQL's
// pool), a statement that writes — INSERT … RETURNING, a WITH that writes —
// to the writer. The rule is the same on both dialects: any statement may go
// through *DB; statements that must succeed or fail together go through
// InTx.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.conn(q).QueryContext(ctx, rebind(db.dialect, q), args...)
}

// QueryRowContext is QueryContext for one row.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.conn(q).QueryRowContext(ctx, rebind(db.dialect, q), args...)
}

// conn is where q runs outside a transaction: SQLite's readers for a
// statement that only reads, the writer for anything else.
func (db *DB) conn(q string) *sql.DB {
	if db.read != nil && readOnly(q) {
		return db.read
	}
	return db.sql
}

// writeWord finds a keyword that writes, as a whole word.
var writeWord = regexp.MustCompile(`(?i)\b(INSERT|UPDATE|DELETE|REPLACE|UPSERT|CREATE|ALTER|DROP|PRAGMA)\b`)

// sqlString is a string literal, whose words are data, not keywords.
var sqlString = regexp.MustCompile(`'(?:[^']|'')*'`)

// readOnly reports whether q surely only reads: it starts with SELECT or
// WITH and names no keyword that writes outside its string literals (a
// column such as updated_at is not the word UPDATE). A read taken for a
// write only costs the writer's time.
func readOnly(q string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(q), " ")
	switch strings.ToUpper(strings.TrimSpace(first)) {
	case "SELECT", "WITH":
		return !writeWord.MatchString(sqlString.ReplaceAllString(q, "''"))
	}
	return false
}

// Tx is a transaction; it satisfies Querier.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
}

func (tx *Tx) Dialect() Dialect { return tx.dialect }

func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, rebind(tx.dialect, q), args...)
}

func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, rebind(tx.dialect, q), args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, rebind(tx.dialect, q), args...)
}

// InTx runs fn in a transaction and commits when fn returns nil, retrying on
// a serialisation failure or busy database. fn must use tx only: a statement
// through db inside fn does not see what fn has written, and on SQLite one
// that writes waits for the writer connection fn holds (until the busy
// timeout).
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.inTxOnce(ctx, fn)
		// PostgreSQL may abort a serializable conflict; SQLite may report
		// busy under a concurrent writer in another process. Both are safe to
		// retry because the transaction did not commit.
		if err != nil && isRetryable(err) && attempt < 5 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
			}
			continue
		}
		return err
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&Tx{tx: sqlTx, dialect: db.dialect}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ReadSnapshot runs fn in a read-only transaction that sees one state of
// the whole database while writers go on: REPEATABLE READ on PostgreSQL,
// and on SQLite a read transaction on a read-only connection (WAL keeps
// its snapshot from the first read). A backup reads every table through it.
func (db *DB) ReadSnapshot(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	conn := db.sql
	if db.read != nil {
		conn = db.read
	}
	sqlTx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin snapshot: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only: nothing to keep or lose
	return fn(&Tx{tx: sqlTx, dialect: db.dialect})
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	return false
}

// rebind turns $1-style placeholders into SQLite's ?1 form. Placeholders
// inside string literals are left alone.
func rebind(d Dialect, q string) string {
	if d != SQLite || !strings.Contains(q, "$") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inString = !inString
		case c == '$' && !inString && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// In appends values to args and returns the placeholders naming them
// ("$3, $4, $5"), for an IN list in a query that already has len(*args)
// arguments. Values of a string type (a state, a kind) go in as plain
// strings.
func In[S ~string](args *[]any, values []S) string {
	ph := make([]string, len(values))
	for i, v := range values {
		*args = append(*args, string(v))
		ph[i] = "$" + strconv.Itoa(len(*args))
	}
	return strings.Join(ph, ", ")
}
