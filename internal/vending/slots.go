package vending

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// acquireSlot waits until the environment holds one of its provider's cap
// slots. Slots are rows in the shared database, so the cap holds across every
// replica; an environment keeps its slot across crashes and retries until
// its account is active or it fails.
func (e *Engine) acquireSlot(ctx context.Context, cn *Connection, envID string) error {
	waited := false
	start := time.Now()
	for {
		freed := e.slotFreed.wait() // before looking, so a release in between is not missed
		ok, err := tryAcquireSlot(ctx, e.db, cn.Name, cn.Cap, envID, e.envs.Now())
		if err != nil {
			return err
		}
		if ok {
			if waited {
				e.cfg.Metrics.slotWait.WithLabelValues(cn.Name).Observe(time.Since(start).Seconds())
			}
			return nil
		}
		waited = true
		// Another replica's release is seen at the next poll; one of ours
		// wakes the waiters at once, which keeps the slots busy.
		jitter := rand.N(e.cfg.SlotPollInterval/2 + 1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-freed:
		case <-time.After(e.cfg.SlotPollInterval + jitter):
		}
	}
}

func tryAcquireSlot(ctx context.Context, db *store.DB, providerName string, capacity int, envID string, now time.Time) (bool, error) {
	held := map[int]bool{}
	rows, err := db.QueryContext(ctx, `SELECT slot, env_id FROM vend_slots WHERE provider = $1`, providerName)
	if err != nil {
		return false, fmt.Errorf("read slots of %s: %w", providerName, err)
	}
	for rows.Next() {
		var slot int
		var holder string
		if err := rows.Scan(&slot, &holder); err != nil {
			rows.Close()
			return false, err
		}
		if holder == envID {
			rows.Close()
			return true, nil
		}
		held[slot] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for slot := 0; slot < capacity; slot++ {
		if held[slot] {
			continue
		}
		// The primary key (provider, slot) makes a slot one replica's at most;
		// the unique env_id makes an environment hold one slot at most.
		res, err := db.ExecContext(ctx, `INSERT INTO vend_slots (provider, slot, env_id, acquired_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			providerName, slot, envID, now)
		if err != nil {
			return false, fmt.Errorf("take slot %d of %s: %w", slot, providerName, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return true, nil
		}
	}
	// Lost every race, or another job of ours took one: check again next time.
	return false, nil
}

// broadcast wakes every goroutine waiting at the time of the call.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) signal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// releaseSlot frees envID's slot as part of tx; the caller signals
// e.slotFreed once tx has committed.
func releaseSlot(ctx context.Context, q store.Querier, envID string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM vend_slots WHERE env_id = $1`, envID); err != nil {
		return fmt.Errorf("release slot of %s: %w", envID, err)
	}
	return nil
}

// releaseStaleSlots frees slots of environments no longer creating an
// account, which a crash between a failure and its bookkeeping could leave.
func releaseStaleSlots(ctx context.Context, db *store.DB) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM vend_slots WHERE env_id NOT IN (SELECT id FROM environments WHERE state IN ($1, $2))`,
		env.Approved, env.Provisioning)
	if err != nil {
		return 0, fmt.Errorf("release stale slots: %w", err)
	}
	return res.RowsAffected()
}

// SlotsInUse counts held slots per provider.
func (e *Engine) SlotsInUse(ctx context.Context) (map[string]int, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT provider, COUNT(*) FROM vend_slots GROUP BY provider`)
	if err != nil {
		return nil, fmt.Errorf("slots in use: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}
