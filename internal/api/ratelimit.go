package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Requests that need no session but write something — a sign-in
// challenge, a token exchange, an unseal share — are limited per client
// address, so that nobody can flood the database or guess at scale.

// DefaultPublicRate and DefaultPublicBurst bound them: a person signing in
// makes two such requests; a script makes thousands.
const (
	DefaultPublicRate  = 5.0 // requests per second, per client address
	DefaultPublicBurst = 20
)

// maxTrackedClients bounds the limiter's memory; past it, buckets that
// have refilled are dropped first.
const maxTrackedClients = 10000

type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	clients map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{rate: rate, burst: float64(burst), clients: map[string]*bucket{}, now: now}
}

// allow takes a token from key's bucket.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxTrackedClients {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.clients[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict drops the buckets that would be full by now: forgetting them
// changes nothing.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.clients {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.clients, k)
		}
	}
}

// clientAddress is the request's remote address without the port: serve
// takes connections directly (no proxy), so it is the client's.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited answers 429 when the client has used its public requests.
func (s *Server) limited(w http.ResponseWriter, r *http.Request) bool {
	if s.public == nil || r.Method == http.MethodGet || s.public.allow(clientAddress(r)) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	writeProblem(w, Problem{Type: "https://hatoba.dev/problems/too-many-requests", Title: "Too Many Requests",
		Status: http.StatusTooManyRequests, Detail: "too many requests without a session from this address; wait a second and try again",
		Instance: r.URL.Path})
	return true
}
