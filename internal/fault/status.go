package fault

import "net/http"

// Status is the HTTP status of a kind: the one mapping the API's problems,
// the console's error pages and the key service's plain API share. Invalid
// is 422 (the request was read and is wrong, RFC 9110 §15.5.21); a body that
// cannot be read at all is each adapter's 400, before any kind exists.
func (k Kind) Status() int {
	switch k {
	case Invalid:
		return http.StatusUnprocessableEntity
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Forbidden:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// StatusOf is the HTTP status of err's kind (500 for an error without one).
func StatusOf(err error) int { return KindOf(err).Status() }
