package xks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// A request beyond the admission bound is answered ThrottlingException at
// once; it is not queued behind the ones in progress.
func TestAdmissionThrottles(t *testing.T) {
	t.Parallel()
	inRecord, release := make(chan struct{}), make(chan struct{})
	adm := xks.NewAdmission(1)
	hs := newHarness(t, func(c *xks.Config) {
		c.Admission = adm
		c.Record = func(context.Context, xks.Usage) error {
			inRecord <- struct{}{}
			<-release
			return nil
		}
	})
	first := make(chan int, 1)
	go func() {
		code, _ := hs.do("POST", "keys/both/encrypt", js(encBody([]byte("x"), nil, false)), good)
		first <- code
	}()
	<-inRecord // the first request holds the only slot
	if adm.InFlight() != 1 {
		t.Fatalf("in flight %d, want 1", adm.InFlight())
	}
	code, out := hs.do("POST", "keys/both/encrypt", js(encBody([]byte("x"), nil, false)), good)
	if code != 429 || out["errorName"] != xks.Throttling {
		t.Fatalf("second request: %d %v, want 429 %s", code, out, xks.Throttling)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if adm.InFlight() != 0 || adm.Throttled() != 1 {
		t.Fatalf("in flight %d, throttled %d; want 0, 1", adm.InFlight(), adm.Throttled())
	}
}

// A request whose usage record cannot be queued fails closed: no
// ciphertext or plaintext leaves, and the error names the record's
// failure in the specification's terms.
func TestRecordFailureFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"fail/write-error", errors.New("audit log: disk I/O error"), 500, xks.Internal},
		{"fail/queue-full", fmt.Errorf("usage queue full: %w", xks.ErrThrottled), 429, xks.Throttling},
		{"fail/timeout", fmt.Errorf("waiting for the usage record: %w", context.DeadlineExceeded), 503, xks.DependencyTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, func(c *xks.Config) {
				c.Record = func(context.Context, xks.Usage) error { return tt.err }
			})
			for _, req := range []struct {
				path string
				body []byte
			}{
				{"keys/both/encrypt", js(encBody([]byte("x"), nil, true))},
				{"keys/both/metadata", js(map[string]any{"requestMetadata": md("CreateKey")})},
				{"keys/nope/encrypt", js(encBody([]byte("x"), nil, false))}, // a refused request fails closed too
			} {
				code, out := hs.do("POST", req.path, req.body, good)
				if code != tt.status || out["errorName"] != tt.want || out["ciphertext"] != nil || out["keySpec"] != nil {
					t.Errorf("%s: got %d %v, want %d %s", req.path, code, out, tt.status, tt.want)
				}
			}
		})
	}
}
