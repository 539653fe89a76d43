// Package fault holds the handful of error kinds every capability returns and
// the API maps to HTTP status codes in one place. Driver and SQL errors are
// wrapped as Internal or Unavailable and never shown to a caller verbatim.
package fault

import (
	"errors"
	"fmt"
)

// Kind is the category of a failure, as a caller should act on it.
type Kind string

const (
	Invalid   Kind = "invalid"   // the request is wrong; fix it
	NotFound  Kind = "not_found" // no such thing (or not visible to the caller)
	Conflict  Kind = "conflict"  // it clashes with the current state
	Forbidden Kind = "forbidden" // the caller may not do this
	// Unauthenticated: the caller is nobody yet — no session, or it expired.
	Unauthenticated Kind = "unauthenticated"
	Unavailable     Kind = "unavailable" // try again later
	Internal        Kind = "internal"    // a defect or an unexpected failure
)

// Error is a failure with a kind and a message a person can act on.
type Error struct {
	Kind    Kind
	Message string
	// Field names the offending input field for Invalid errors, if any.
	Field string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

func Invalidf(format string, args ...any) error   { return newf(Invalid, format, args...) }
func NotFoundf(format string, args ...any) error  { return newf(NotFound, format, args...) }
func Conflictf(format string, args ...any) error  { return newf(Conflict, format, args...) }
func Forbiddenf(format string, args ...any) error { return newf(Forbidden, format, args...) }
func Unauthenticatedf(format string, args ...any) error {
	return newf(Unauthenticated, format, args...)
}

// InvalidField is an Invalid error about one input field.
func InvalidField(field, format string, args ...any) error {
	e := newf(Invalid, format, args...)
	e.Field = field
	return e
}

// KindOf returns the kind of err; errors without one are Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
