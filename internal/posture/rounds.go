package posture

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// A round collects every ready environment's inventory once. Its progress
// is a row any replica can read; one round runs at a time across replicas
// (a unique index on the running state), and a round whose replica stopped
// moving it on for staleRound is marked interrupted so another can start.

// RoundState is where a round is.
type RoundState string

const (
	RoundRunning     RoundState = "running"
	RoundFinished    RoundState = "finished"
	RoundInterrupted RoundState = "interrupted"
)

// Round is a collection round's progress.
type Round struct {
	ID          string     `json:"id"`
	RequestedBy string     `json:"requested_by"`
	State       RoundState `json:"state"`
	Total       int        `json:"total"`
	Done        int        `json:"done"`
	Failed      int        `json:"failed"`
	StartedAt   time.Time  `json:"started_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// staleRound is how long a running round may go without progress before
// it counts as interrupted: far longer than one environment's collection,
// which retries a provider for seconds.
const staleRound = 2 * time.Minute

// progressEvery bounds how often a round writes its progress.
const progressEvery = time.Second

// ErrRoundRunning is returned when a round is already running.
var ErrRoundRunning = errors.New("a collection round is already running")

const roundColumns = `id, requested_by, state, total, done, failed, started_at, updated_at, finished_at`

func scanRound(row interface{ Scan(...any) error }) (Round, error) {
	var r Round
	var finished sql.NullTime
	err := row.Scan(&r.ID, &r.RequestedBy, &r.State, &r.Total, &r.Done, &r.Failed, &r.StartedAt, &r.UpdatedAt, &finished)
	if finished.Valid {
		t := finished.Time
		r.FinishedAt = &t
	}
	return r, err
}

// beginRound records a new running round of total targets, after marking
// a stale running round interrupted. It returns ErrRoundRunning (wrapped
// in a fault.Conflict) with the running round when there is one.
func (c *Collector) beginRound(ctx context.Context, requestedBy string, total int) (Round, error) {
	now := c.svc.now().UTC()
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	r := Round{ID: "cr-" + hex.EncodeToString(b[:]), RequestedBy: requestedBy, State: RoundRunning, Total: total, StartedAt: now, UpdatedAt: now}
	err := c.svc.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE collect_rounds SET state = $1, finished_at = updated_at WHERE state = $2 AND updated_at < $3`,
			RoundInterrupted, RoundRunning, now.Add(-staleRound)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO collect_rounds (`+roundColumns+`) VALUES ($1, $2, $3, $4, 0, 0, $5, $5, NULL)`,
			r.ID, r.RequestedBy, r.State, r.Total, now); err != nil {
			return err
		}
		if requestedBy == "system" {
			return nil // the schedule's rounds are not a person's action
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: requestedBy, Action: "posture.collect_all", Target: r.ID,
			Details: map[string]any{"environments": total}})
	})
	if store.IsUniqueViolation(err) {
		running, rerr := scanRound(c.svc.db.QueryRowContext(ctx, `SELECT `+roundColumns+` FROM collect_rounds WHERE state = $1`, RoundRunning))
		if rerr != nil {
			return Round{}, fmt.Errorf("collect: %w", rerr)
		}
		return running, &fault.Error{Kind: fault.Conflict, Err: ErrRoundRunning,
			Message: fmt.Sprintf("collection round %s is running (%d of %d environments); follow it instead", running.ID, running.Done+running.Failed, running.Total)}
	}
	if err != nil {
		return Round{}, fmt.Errorf("collect: record the round: %w", err)
	}
	return r, nil
}

func (c *Collector) moveRound(ctx context.Context, r Round) error {
	_, err := c.svc.db.ExecContext(ctx, `UPDATE collect_rounds SET done = $1, failed = $2, updated_at = $3, state = $4, finished_at = $5 WHERE id = $6`,
		r.Done, r.Failed, r.UpdatedAt, r.State, r.FinishedAt, r.ID)
	return err
}

// GetRound reads a round's progress.
func (c *Collector) GetRound(ctx context.Context, id string) (Round, error) {
	r, err := scanRound(c.svc.db.QueryRowContext(ctx, `SELECT `+roundColumns+` FROM collect_rounds WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Round{}, fault.NotFoundf("no collection round %s", id)
	}
	if err != nil {
		return Round{}, fmt.Errorf("collection round %s: %w", id, err)
	}
	return c.judged(r), nil
}

// Rounds lists the latest rounds, newest first.
func (c *Collector) Rounds(ctx context.Context, limit int) ([]Round, error) {
	rows, err := c.svc.db.QueryContext(ctx, `SELECT `+roundColumns+` FROM collect_rounds ORDER BY started_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("collection rounds: %w", err)
	}
	defer rows.Close()
	out := []Round{}
	for rows.Next() {
		r, err := scanRound(rows)
		if err != nil {
			return nil, fmt.Errorf("collection rounds: %w", err)
		}
		out = append(out, c.judged(r))
	}
	return out, rows.Err()
}

// judged shows a running round whose replica stopped as interrupted,
// before anyone marks it so.
func (c *Collector) judged(r Round) Round {
	if r.State == RoundRunning && c.svc.now().Sub(r.UpdatedAt) > staleRound {
		r.State = RoundInterrupted
	}
	return r
}

// Start begins a round in the background and returns it at once; its
// progress is read with GetRound. A round already running is a conflict.
func (c *Collector) Start(ctx context.Context, requestedBy string) (Round, error) {
	targets, err := c.src.Targets(ctx)
	if err != nil {
		return Round{}, fmt.Errorf("collect: targets: %w", err)
	}
	r, err := c.beginRound(ctx, requestedBy, len(targets))
	if err != nil {
		return r, err
	}
	go func() {
		// Detached from the request: the round outlives it.
		if _, _, err := c.collect(context.WithoutCancel(ctx), r, targets); err != nil {
			c.log.Warn("collection round", "round", r.ID, "err", err)
		}
	}()
	return r, nil
}

// collect runs a recorded round over targets, concurrency at a time,
// moving its progress on at most every progressEvery and at the end.
func (c *Collector) collect(ctx context.Context, r Round, targets []Target) (ok, failed int, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.concurrency)
	last := time.Now()
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sum, err := c.Collect(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				c.log.Warn("collecting an inventory", "env", t.EnvID, "round", r.ID, "err", err)
			} else {
				ok++
				c.log.Debug("inventory collected", "env", t.EnvID, "resources", sum.Resources, "failed_checks", sum.Failed,
					"opened", sum.Opened, "resolved", sum.Resolved)
			}
			if time.Since(last) >= progressEvery {
				last = time.Now()
				r.Done, r.Failed, r.UpdatedAt = ok, failed, c.svc.now().UTC()
				if err := c.moveRound(ctx, r); err != nil {
					c.log.Warn("recording a round's progress", "round", r.ID, "err", err)
				}
			}
		})
	}
	wg.Wait()
	now := c.svc.now().UTC()
	r.Done, r.Failed, r.UpdatedAt, r.State, r.FinishedAt = ok, failed, now, RoundFinished, &now
	if ctx.Err() != nil {
		r.State = RoundInterrupted
	}
	if err := c.moveRound(context.WithoutCancel(ctx), r); err != nil {
		return ok, failed, fmt.Errorf("collect: record the end of round %s: %w", r.ID, err)
	}
	var before time.Time
	if c.retention > 0 {
		before = now.Add(-c.retention)
	}
	if inv, fs, err := c.svc.Prune(context.WithoutCancel(ctx), before); err != nil {
		c.log.Warn("pruning inventories and findings", "round", r.ID, "err", err)
	} else if inv+fs > 0 {
		c.log.Info("pruned", "round", r.ID, "inventory_rows", inv, "findings", fs)
	}
	return ok, failed, ctx.Err()
}
