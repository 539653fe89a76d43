package xks

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// The error names of the specification's Error Codes table.
const (
	Validation           = "ValidationException"
	InvalidState         = "InvalidStateException"
	InvalidCiphertext    = "InvalidCiphertextException"
	InvalidKeyUsage      = "InvalidKeyUsageException"
	AuthenticationFailed = "AuthenticationFailedException"
	AccessDenied         = "AccessDeniedException"
	KeyNotFound          = "KeyNotFoundException"
	InvalidURIPath       = "InvalidUriPathException"
	Throttling           = "ThrottlingException"
	UnsupportedOperation = "UnsupportedOperationException"
	DependencyTimeout    = "DependencyTimeoutException"
	Internal             = "InternalException"
)

// statusOf is the table's HTTP status for each error name.
var statusOf = map[string]int{
	Validation:           http.StatusBadRequest,
	InvalidState:         http.StatusBadRequest,
	InvalidCiphertext:    http.StatusBadRequest,
	InvalidKeyUsage:      http.StatusBadRequest,
	AuthenticationFailed: http.StatusUnauthorized,
	AccessDenied:         http.StatusForbidden,
	KeyNotFound:          http.StatusNotFound,
	InvalidURIPath:       http.StatusNotFound,
	Throttling:           http.StatusTooManyRequests,
	UnsupportedOperation: http.StatusNotImplemented,
	DependencyTimeout:    http.StatusServiceUnavailable,
	Internal:             http.StatusInternalServerError,
}

// Error is an answer from the specification's table. Message goes to AWS
// KMS (which logs it to the customer's CloudWatch) and so never holds a
// secret or request data.
type Error struct {
	Name    string
	Message string
	// cause is what went wrong inside, for our log only.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Name + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// Status is the HTTP status the specification gives the error.
func (e *Error) Status() int {
	if s, ok := statusOf[e.Name]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func invalid(msg string) *Error     { return &Error{Name: Validation, Message: msg} }
func unsupported(msg string) *Error { return &Error{Name: UnsupportedOperation, Message: msg} }

// classify turns a Keys error into the specification's answer. decrypt says
// whether a failed authentication is the caller's ciphertext (decrypt) or
// our own fault (encrypt's self-check).
func classify(err error, decrypt bool) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrKeyNotFound):
		return &Error{Name: KeyNotFound, Message: "the external key was not found", cause: err}
	case errors.Is(err, ErrKeyDisabled):
		return &Error{Name: InvalidState, Message: "the external key is disabled", cause: err}
	case errors.Is(err, ErrStoreBlocked):
		return &Error{Name: InvalidState, Message: "the key store is blocked", cause: err}
	case errors.Is(err, ErrThrottled):
		return &Error{Name: Throttling, Message: "the proxy cannot keep up with the request rate; retry later", cause: err}
	case errors.Is(err, ErrKeyUsage):
		return &Error{Name: InvalidKeyUsage, Message: "the external key does not allow this operation", cause: err}
	case decrypt && errors.Is(err, ErrInvalidCiphertext):
		return &Error{Name: InvalidCiphertext, Message: "the ciphertext, initialization vector, additional authenticated data or authentication tag is invalid", cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Name: DependencyTimeout, Message: "the key service did not answer in time", cause: err}
	case errors.Is(err, ErrUnavailable):
		return &Error{Name: Internal, Message: "the key service is unavailable", cause: err}
	}
	return &Error{Name: Internal, Message: "internal error", cause: err}
}

// printable makes an errorMessage the specification accepts: printable
// ASCII, fewer than 512 characters.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(s) > 511 {
		s = s[:511]
	}
	return s
}
