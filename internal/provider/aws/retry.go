package aws

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// The driver's own short retries. The workflow owns retries across
// attempts (it classifies, backs off and records them); these are the few
// places where starting over would be wrong or wasteful: a throttled page
// in the middle of a scan resumes from its token, a conflict that means
// "not yet propagated" is looked at again, an assignment AWS could not
// make yet is made again.
const (
	retryTries = 6               // calls of one retried operation, the first included
	retryMax   = 5 * time.Second // the longest pause between two
)

// pause waits d with ±25 % jitter, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	d = d*3/4 + rand.N(d/2+1) //nolint:gosec // G404: jitter, not a secret
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryable reports whether call should simply be made again: AWS refused
// it for its rate, or Identity Store for a concurrent modification. Both
// mean the call did nothing.
func retryable(err error) bool {
	if provider.ClassOf(err) == provider.Throttling {
		return true
	}
	var conflict *idstypes.ConflictException
	return errors.As(err, &conflict) && conflict.Reason == idstypes.ConflictExceptionReasonConcurrentModification
}

// inProgress reports sso-admin's ConflictException: another operation on
// the same permission set is still running, or has not propagated.
func inProgress(err error) bool {
	var conflict *ssotypes.ConflictException
	return errors.As(err, &conflict)
}

// retry makes call until it succeeds, fails with an error retryable does
// not accept, or retryTries calls were made; it returns the last error.
// call returns classified errors.
func (d *Driver) retry(ctx context.Context, call func() error) error {
	return d.retryIf(ctx, retryable, call)
}

// retryBusy is retry for writes to a permission set or an assignment,
// which sso-admin refuses with ConflictException while another operation
// on the set runs: those are made again too.
func (d *Driver) retryBusy(ctx context.Context, call func() error) error {
	return d.retryIf(ctx, func(err error) bool { return retryable(err) || inProgress(err) }, call)
}

func (d *Driver) retryIf(ctx context.Context, again func(error) bool, call func() error) error {
	wait := d.retryBase
	for i := 1; ; i++ {
		err := call()
		if err == nil || !again(err) || i == retryTries {
			return err
		}
		if perr := pause(ctx, wait); perr != nil {
			return err
		}
		wait = min(2*wait, retryMax)
	}
}

// retryRead is retry for calls that only read: a transient failure (a
// 5xx, a dropped connection) is retried too, since repeating a read is
// always safe.
func (d *Driver) retryRead(ctx context.Context, call func() error) error {
	wait := d.retryBase
	for i := 1; ; i++ {
		err := call()
		if err == nil || i == retryTries || !(retryable(err) || provider.ClassOf(err) == provider.Transient) || ctx.Err() != nil {
			return err
		}
		if perr := pause(ctx, wait); perr != nil {
			return err
		}
		wait = min(2*wait, retryMax)
	}
}

// findOrCreate returns the id find finds, else the one create makes. Every
// driver method must be safe to repeat, and another worker may create the
// same thing between our look and our create: create then reports dup,
// and find looks again. AWS also reports a conflict for a creation that
// has not propagated yet — its own earlier one, whose answer was lost —
// so a look that still finds nothing is repeated with backoff; if the
// thing never shows up the conflict is returned (transient), never an
// empty id.
func (d *Driver) findOrCreate(ctx context.Context, op string, find func() (string, error), create func() (id string, dup bool, err error)) (string, error) {
	if id, err := find(); err != nil || id != "" {
		return id, err
	}
	id, dup, err := create()
	if !dup {
		if err == nil && id == "" {
			return "", &provider.Error{Class: provider.Transient, Op: op, Err: errors.New("the answer carried no id")}
		}
		return id, err
	}
	wait := d.retryBase
	for i := 0; i < retryTries; i++ {
		id, ferr := find()
		if ferr != nil || id != "" {
			return id, ferr
		}
		d.log.Debug("created elsewhere but not visible yet; looking again", "op", op, "after", wait)
		if perr := pause(ctx, wait); perr != nil {
			break
		}
		wait = min(2*wait, retryMax)
	}
	if err == nil {
		err = errors.New("reported as existing, but not found")
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		err = &provider.Error{Class: provider.Transient, Op: op, Err: err}
	} else if pe.Class == provider.Permanent {
		pe.Class = provider.Transient // it exists, or will: looking later finds it
	}
	return "", err
}

// cached returns cache[key], loading and remembering it on first use: units,
// policies and permission sets never change id once they exist. An empty
// id is never remembered: it would fail every later call until restart.
func (d *Driver) cached(cache map[string]string, key string, load func() (string, error)) (string, error) {
	d.mu.Lock()
	id, ok := cache[key]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := load()
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", &provider.Error{Class: provider.Transient, Op: "lookup", Err: errors.New(key + " not found and not created")}
	}
	d.mu.Lock()
	cache[key] = id
	d.mu.Unlock()
	return id, nil
}
