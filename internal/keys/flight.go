package keys

import (
	"errors"
	"sync"
)

// flight lets concurrent callers that need the same refresh (a key's state,
// a credential) share one read instead of each making it: when a cached
// answer expires under load, one request reads the database (and, for a
// credential, unwraps through the HSM) while the others wait for its
// answer. Without it every request in flight at that moment makes the same
// read — a stampede that costs the latency tail and, on an HSM, sessions.
//
// A caller joins a read only if it started at the caller's generation (the
// counter of changes this replica made): a read begun before a change
// committed must not answer a caller that arrived after it.
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*flightCall[V]
}

type flightCall[V any] struct {
	gen  uint64
	done chan struct{}
	v    V
	err  error
}

// do runs fn for key k, or waits for a run of it begun at generation gen.
func (f *flight[K, V]) do(k K, gen uint64, fn func() (V, error)) (V, error) {
	f.mu.Lock()
	if c, ok := f.calls[k]; ok && c.gen == gen {
		f.mu.Unlock()
		<-c.done
		return c.v, c.err
	}
	if f.calls == nil {
		f.calls = map[K]*flightCall[V]{}
	}
	// Should fn panic, the waiters get this rather than a zero value.
	c := &flightCall[V]{gen: gen, done: make(chan struct{}), err: errors.New("keys: a shared read did not finish")}
	f.calls[k] = c
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		if f.calls[k] == c {
			delete(f.calls, k)
		}
		f.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = fn()
	return c.v, c.err
}
