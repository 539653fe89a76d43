package api

import (
	"fmt"
	"testing"
	"time"
)

// A client gets its burst, then a request per 1/rate seconds; another
// client is not held back by the first; memory stays bounded.
func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	l := newLimiter(5, 20, func() time.Time { return now })
	for i := range 20 {
		if !l.allow("192.0.2.1") {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if l.allow("192.0.2.1") {
		t.Fatal("the 21st request at once was allowed")
	}
	if !l.allow("192.0.2.2") {
		t.Fatal("another client was held back")
	}
	now = now.Add(200 * time.Millisecond)
	if !l.allow("192.0.2.1") || l.allow("192.0.2.1") {
		t.Fatal("after 1/rate seconds exactly one more request should pass")
	}
	for i := range maxTrackedClients + 10 {
		l.allow(fmt.Sprintf("198.51.100.%d/%d", i%250, i))
		now = now.Add(time.Second) // every earlier bucket refills
	}
	if len(l.clients) > maxTrackedClients {
		t.Fatalf("%d clients tracked, want at most %d", len(l.clients), maxTrackedClients)
	}
}
