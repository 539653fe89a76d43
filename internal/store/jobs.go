package store

import (
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// JobQueue builds a River client on db with the driver of db's dialect, and
// that driver's executor for what the client does not offer. C is the
// caller's interface over the client: River's client type carries its
// driver's transaction type, which differs by dialect, so the caller names
// the methods it uses and this package picks the driver.
func JobQueue[C any](db *DB, cfg *river.Config) (C, riverdriver.Executor, error) {
	var (
		zero   C
		client any
		exec   riverdriver.Executor
		err    error
	)
	if db.dialect == Postgres {
		driver := riverpgxv5.New(db.pool)
		client, err = river.NewClient(driver, cfg)
		exec = driver.GetExecutor()
	} else {
		driver := riversqlite.New(db.sql)
		client, err = river.NewClient(driver, cfg)
		exec = driver.GetExecutor()
	}
	if err != nil {
		return zero, nil, err
	}
	c, ok := client.(C)
	if !ok {
		return zero, nil, fmt.Errorf("job queue: River's %T lacks a method of %T", client, &zero)
	}
	return c, exec, nil
}
