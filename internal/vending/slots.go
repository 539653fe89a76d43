package vending

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Slots are rows in the shared database, at most cap per provider, so the
// cap holds across every replica. A slot belongs to an environment while
// its account creation is in flight in the provider, and is covered by the
// lease of the replica that last worked on it (lease.go).
//
// Waiting for a slot costs nothing: an environment waits as a row, not as
// a job. The dispatcher (one per replica) gives free slots to the oldest
// waiting environments and only then queues their vend_account jobs, so no
// queue worker ever sits polling for a slot and no attempt is spent
// waiting.

// dispatchLoop runs the dispatcher until ctx ends: at once when this
// replica frees a slot or approves an environment, and every
// SlotPollInterval for what other replicas did.
func (e *Engine) dispatchLoop(ctx context.Context) {
	defer e.loops.Done()
	for {
		woken := e.slotFreed.wait() // before looking, so a release in between is not missed
		for _, cn := range e.cfg.Connections {
			if _, err := e.Dispatch(ctx, cn.Name); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "dispatching provider slots failed", "provider", cn.Name, "err", err)
			}
		}
		jitter := rand.N(e.cfg.SlotPollInterval/4 + 1) //nolint:gosec // G404: jitter, not a secret
		select {
		case <-ctx.Done():
			return
		case <-woken:
		case <-time.After(e.cfg.SlotPollInterval + jitter):
		}
	}
}

// wakeDispatcher makes this replica's dispatcher look at once.
func (e *Engine) wakeDispatcher() { e.slotFreed.signal() }

// Dispatch gives the provider's free slots to the environments that have
// waited longest for one and queues their account jobs. It returns how many
// environments it dispatched.
func (e *Engine) Dispatch(ctx context.Context, providerName string) (int, error) {
	cn, ok := e.conns[providerName]
	if !ok {
		return 0, fmt.Errorf("dispatch %s: %w", providerName, ErrNoConnection)
	}
	held, err := heldSlots(ctx, e.db, cn.Name)
	if err != nil {
		return 0, err
	}
	free := cn.Cap - len(held)
	if free <= 0 {
		return 0, nil
	}
	waiting, err := e.waitingForSlot(ctx, cn.Name, free)
	if err != nil {
		return 0, err
	}
	now := e.envs.Now()
	var items []nudgeItem
	for _, w := range waiting {
		ok, err := tryTakeSlot(ctx, e.db, cn.Name, cn.Cap, w.id, e.replicaID, now, held)
		if err != nil {
			return len(items), err
		}
		if !ok {
			break // another replica took the rest
		}
		e.cfg.Metrics.slotWait.WithLabelValues(cn.Name).Observe(now.Sub(w.since).Seconds())
		items = append(items, nudgeItem{w.id, kindAccount, cn.Name})
	}
	if len(items) == 0 {
		return 0, nil
	}
	// A failure here leaves the slots held without jobs; the resumer queues
	// jobs for every environment that holds a slot.
	if err := e.nudgeMany(ctx, items); err != nil {
		return len(items), err
	}
	return len(items), nil
}

type waiter struct {
	id    string
	since time.Time
}

// waitingForSlot lists, oldest first, the provider's environments whose
// account is still to be created and that hold no slot. Each state is read
// in the order of the index (provider, state, created_at) and the two are
// merged here: one query over both states would sort the whole line on
// every dispatch, which a backlog of thousands makes quadratic.
func (e *Engine) waitingForSlot(ctx context.Context, providerName string, limit int) ([]waiter, error) {
	var out []waiter
	for _, st := range []env.State{env.Approved, env.Provisioning} {
		rows, err := e.db.QueryContext(ctx, `SELECT id, created_at FROM environments e
			WHERE provider = $1 AND state = $2 AND account_id = ''
			AND NOT EXISTS (SELECT 1 FROM vend_slots s WHERE s.env_id = e.id)
			ORDER BY created_at LIMIT $3`, providerName, st, limit)
		if err != nil {
			return nil, fmt.Errorf("environments waiting for a slot of %s: %w", providerName, err)
		}
		for rows.Next() {
			var w waiter
			if err := rows.Scan(&w.id, &w.since); err != nil {
				rows.Close()
				return nil, fmt.Errorf("environments waiting for a slot of %s: %w", providerName, err)
			}
			out = append(out, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("environments waiting for a slot of %s: %w", providerName, err)
		}
	}
	slices.SortStableFunc(out, func(a, b waiter) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out[:min(limit, len(out))], nil
}

// heldSlots reads the provider's taken slot numbers.
func heldSlots(ctx context.Context, db *store.DB, providerName string) (map[int]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT slot FROM vend_slots WHERE provider = $1`, providerName)
	if err != nil {
		return nil, fmt.Errorf("read slots of %s: %w", providerName, err)
	}
	defer rows.Close()
	held := map[int]bool{}
	for rows.Next() {
		var slot int
		if err := rows.Scan(&slot); err != nil {
			return nil, fmt.Errorf("read slots of %s: %w", providerName, err)
		}
		held[slot] = true
	}
	return held, rows.Err()
}

// tryTakeSlot gives envID a free slot, held under replica's lease, and
// marks it in held. It reports false when every slot is taken.
func tryTakeSlot(ctx context.Context, db *store.DB, providerName string, capacity int, envID, replica string, now time.Time, held map[int]bool) (bool, error) {
	for slot := 0; slot < capacity; slot++ {
		if held[slot] {
			continue
		}
		// The primary key (provider, slot) makes a slot one environment's at
		// most; the unique env_id makes an environment hold one slot at most.
		res, err := db.ExecContext(ctx, `INSERT INTO vend_slots (provider, slot, env_id, holder, acquired_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			providerName, slot, envID, replica, now)
		if err != nil {
			return false, fmt.Errorf("take slot %d of %s: %w", slot, providerName, err)
		}
		held[slot] = true
		if n, _ := res.RowsAffected(); n == 1 {
			return true, nil
		}
	}
	return false, nil
}

// claimSlot puts envID's slot under this replica's lease, or takes a free
// one if it has none (its slot was freed while its job waited). It reports
// false when the environment has no slot and none is free.
func (e *Engine) claimSlot(ctx context.Context, cn *Connection, envID string) (bool, error) {
	res, err := e.db.ExecContext(ctx, `UPDATE vend_slots SET holder = $1 WHERE env_id = $2`, e.replicaID, envID)
	if err != nil {
		return false, fmt.Errorf("claim the slot of %s: %w", envID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, nil
	}
	held, err := heldSlots(ctx, e.db, cn.Name)
	if err != nil {
		return false, err
	}
	return tryTakeSlot(ctx, e.db, cn.Name, cn.Cap, envID, e.replicaID, e.envs.Now(), held)
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

// releaseSlot frees envID's slot as part of tx; the caller wakes the
// dispatcher once tx has committed.
func releaseSlot(ctx context.Context, q store.Querier, envID string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM vend_slots WHERE env_id = $1`, envID); err != nil {
		return fmt.Errorf("release slot of %s: %w", envID, err)
	}
	return nil
}

// releaseStaleSlots frees slots of environments no longer creating an
// account, which a crash between a failure and its bookkeeping could leave.
func releaseStaleSlots(ctx context.Context, db *store.DB) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM vend_slots WHERE env_id NOT IN (SELECT id FROM environments WHERE state IN ($1, $2) AND account_id = '')`,
		env.Approved, env.Provisioning)
	if err != nil {
		return 0, fmt.Errorf("release stale slots: %w", err)
	}
	return res.RowsAffected()
}

// slotHolders lists the environments that hold a slot, with when they
// took it.
func slotHolders(ctx context.Context, db *store.DB) (map[string]time.Time, error) {
	rows, err := db.QueryContext(ctx, `SELECT env_id, acquired_at FROM vend_slots`)
	if err != nil {
		return nil, fmt.Errorf("read slot holders: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("read slot holders: %w", err)
		}
		out[id] = at
	}
	return out, rows.Err()
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
