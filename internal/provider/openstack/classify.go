package openstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// QuotaExceeded is the Code of an error Keystone gave because a limit was
// reached (413, or 403 naming a quota or limit): the operator raises the
// limit; retrying changes nothing. The workflow sees a permanent error, the
// code tells people why.
const QuotaExceeded = "QuotaExceeded"

// classify wraps a gophercloud error as a *provider.Error; nil stays nil.
//
//   - no answer, 5xx, 409 (another writer got there first: the step looks
//     again) → transient;
//   - 429 → throttling;
//   - 401/403 → permanent, naming the role the driver's user lacks;
//   - 413, or a 403 about a quota → permanent with Code QuotaExceeded;
//   - any other 4xx → permanent: the request is wrong.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return err
	}
	pe = &provider.Error{Op: op, Class: provider.Transient, Err: err}
	var resp gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &resp) {
		// A refused connection, a dropped response, a timeout: the call
		// may or may not have taken effect, and every step is safe to
		// repeat.
		return pe
	}
	pe.Code = http.StatusText(resp.Actual)
	msg := keystoneMessage(resp.Body)
	switch s := resp.Actual; {
	case s == http.StatusTooManyRequests:
		pe.Class = provider.Throttling
	case s == http.StatusConflict:
		pe.Code = "Conflict"
		pe.Class = provider.Transient
	case s == http.StatusRequestEntityTooLarge || (s == http.StatusForbidden && mentionsQuota(msg)):
		pe.Code = QuotaExceeded
		pe.Class = provider.Permanent
	case s == http.StatusForbidden && strings.Contains(strings.ToLower(msg), "hierarchy depth"):
		pe.Code = "UnitTooDeep"
		pe.Class = provider.Permanent
		pe.Err = fmt.Errorf("the unit path is deeper than Keystone allows (raise [resource] max_project_tree_depth, default 5): %s", msg)
	case s == http.StatusUnauthorized:
		pe.Class = provider.Permanent
		pe.Err = fmt.Errorf("the connection's credential was refused by Keystone (check the application credential and that it is not expired): %s", msg)
	case s == http.StatusForbidden:
		pe.Class = provider.Permanent
		pe.Err = fmt.Errorf("%s refused by Keystone: the connection's user needs the admin role on the domain (or system scope) to manage projects, groups and role assignments: %s", op, msg)
	case s >= 500:
		pe.Class = provider.Transient
	default:
		pe.Class = provider.Permanent
		if msg != "" {
			pe.Err = fmt.Errorf("%s: %w", msg, err)
		}
	}
	return pe
}

// keystoneMessage is the message of Keystone's error body
// ({"error": {"code": 403, "message": "…", "title": "Forbidden"}}).
func keystoneMessage(body []byte) string {
	var doc struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Message != "" {
		return doc.Error.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

func mentionsQuota(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "quota") || strings.Contains(msg, "limit exceeded") || strings.Contains(msg, "over limit")
}

// isStatus reports whether err is Keystone's answer with this status.
func isStatus(err error, status int) bool { return gophercloud.ResponseCodeIs(err, status) }
