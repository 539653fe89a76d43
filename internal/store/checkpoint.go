package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointInterval is how often the checkpointer copies SQLite's WAL
// into the database file. At thousands of commits a second a second's WAL
// is a few megabytes, which one checkpoint copies in milliseconds.
const checkpointInterval = time.Second

// checkpointer runs SQLite's WAL checkpoints on a connection of its own,
// so that no commit pays for one (the write connection has
// wal_autocheckpoint off). A PASSIVE checkpoint never waits for the writer
// or readers: it copies what it can, and the writer keeps appending to the
// WAL meanwhile; SQLite restarts the WAL from its beginning once a
// checkpoint has copied all of it and no reader still needs it, so the file
// stays bounded.
type checkpointer struct {
	conn *sql.DB
	quit chan struct{}
	done chan struct{}
}

func startCheckpointer(path string, every time.Duration) (*checkpointer, error) {
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	conn.SetMaxOpenConns(1)
	c := &checkpointer{conn: conn, quit: make(chan struct{}), done: make(chan struct{})}
	go c.run(every)
	return c, nil
}

func (c *checkpointer) run(every time.Duration) {
	defer close(c.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-tick.C:
			// An error here (the file busy, the disk full) leaves the frames
			// in the WAL, where readers still find them; the next tick tries
			// again, and the writer's own commits report a full disk.
			ctx, cancel := context.WithTimeout(context.Background(), every*10)
			_, _ = c.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
			cancel()
		}
	}
}

// stop ends the checkpoints; closing the last connection to the database
// then checkpoints what is left and removes the WAL, as SQLite does.
func (c *checkpointer) stop() error {
	close(c.quit)
	<-c.done
	return c.conn.Close()
}
