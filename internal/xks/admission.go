package xks

import (
	"errors"
	"sync/atomic"
)

// DefaultMaxInFlight is how many requests an Admission lets in at once
// when none is configured. At 5,000 requests a second and a millisecond
// each, about five are in flight; 256 leaves room for bursts and for the
// usage record's group commit while bounding memory, goroutines and
// sockets long before the process runs out of file descriptors.
const DefaultMaxInFlight = 256

// ErrThrottled is what a Record function (or a Keys implementation)
// returns, wrapped, when it has no room for the request: the handler
// answers ThrottlingException (429), the specification's answer for a
// proxy that "is unable to keep up".
var ErrThrottled = errors.New("xks: too many requests in progress")

// Admission bounds the requests in progress. A request beyond the bound is
// refused at once with ThrottlingException rather than queued: AWS KMS
// gives each call 250 ms and retries, so a queue only turns an overload
// into timeouts and exhausted sockets. One Admission may be shared by
// several handlers (the XKS proxy and the plain encryption API) so that
// together they stay within it.
type Admission struct {
	max       int64
	inFlight  atomic.Int64
	throttled atomic.Uint64
}

// NewAdmission lets at most max requests in at once; max < 1 means
// DefaultMaxInFlight.
func NewAdmission(max int) *Admission {
	if max < 1 {
		max = DefaultMaxInFlight
	}
	return &Admission{max: int64(max)}
}

// Acquire takes a slot without waiting; false means there is none (and is
// counted in Throttled). A true answer must be followed by Release.
func (a *Admission) Acquire() bool {
	if a.inFlight.Add(1) > a.max {
		a.inFlight.Add(-1)
		a.throttled.Add(1)
		return false
	}
	return true
}

// Release gives back a slot Acquire took.
func (a *Admission) Release() { a.inFlight.Add(-1) }

// InFlight is how many requests hold a slot now.
func (a *Admission) InFlight() int { return int(a.inFlight.Load()) }

// Max is the bound.
func (a *Admission) Max() int { return int(a.max) }

// Throttled counts the requests refused since the Admission was made.
func (a *Admission) Throttled() uint64 { return a.throttled.Load() }
