package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// A commit never copies the WAL into the database file (that would put a
// checkpoint's I/O in the latency of whatever requests were committing);
// the checkpointer does, shortly after.
func TestSQLiteCheckpointsOffTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cp.db")
	db, err := store.Open(ctx, "sqlite:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE filler (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var auto int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the connection's wal_autocheckpoint = %d, %v; want 0 (commits do not checkpoint)", auto, err)
	}
	before := size()
	// 8 MiB in 2,000 commits: past SQLite's own checkpoint threshold (1,000
	// pages) many times over.
	row := strings.Repeat("x", 4096)
	for i := range 2000 {
		if _, err := db.ExecContext(ctx, `INSERT INTO filler (id, v) VALUES (?, ?)`, i, row); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer ticks every second; a commit that had checkpointed
	// would have grown the file already. Allow that the tick may have come
	// during the loop: then the file holds at most what was committed by
	// then, and it must still grow to all of it below.
	deadline := time.Now().Add(10 * time.Second)
	for size() < 8<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 10 s after 8 MiB were committed (was %d): nothing checkpointed the WAL", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM filler`).Scan(&n); err != nil || n != 2000 {
		t.Fatalf("read back %d rows, %v", n, err)
	}
}
