package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// errorPage is the data of the error template.
type errorPage struct {
	Status int
	// Key selects the title and explanation in the catalogue (error.<key>.*).
	Key string
	// Detail is the capability's own message, shown only for kinds a person
	// can act on; the capabilities write those messages in English.
	Detail string
	// Next is where a sign-in or a security-key check returns to, for the
	// pages that offer one.
	Next string
}

// messageOf is the message a capability wrote for people, or "".
func messageOf(err error) string {
	if fe, ok := fault.As(err); ok {
		return fe.Message
	}
	return ""
}

// statusOf gives err's HTTP status (fault's one mapping, as the API's), its
// kind as the catalogue's key, and whether the kind's message may be shown
// to the person.
func statusOf(err error) (int, string, bool) {
	kind := fault.KindOf(err)
	switch kind {
	case fault.NotFound, fault.Invalid, fault.Conflict, fault.Forbidden, fault.Unauthenticated:
		return kind.Status(), string(kind), true
	case fault.Unavailable:
		return kind.Status(), string(kind), false
	}
	return fault.Internal.Status(), string(fault.Internal), false
}

// fail answers with the page for err's kind. Messages of invalid, not found,
// conflict and forbidden errors are written for people and are shown;
// anything else is logged and answered with a page that says nothing about
// the internals.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isSecondFactor(err) {
		// The action needs a fresh touch of the security key: say so and
		// offer the page that takes it, returning here.
		c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "second_factor_again", Next: secondFactorPath(pagePath(r))})
		return
	}
	status, key, show := statusOf(err)
	switch {
	case status == http.StatusNotFound:
		c.log.Debug("console: not found", "path", RedactPath(r.URL.Path), "err", err)
	case status == http.StatusServiceUnavailable:
		c.log.Warn("console: capability unavailable", "method", r.Method, "path", RedactPath(r.URL.Path), "err", err)
	case !show:
		c.internalError(w, r, err)
		return
	}
	p := errorPage{Status: status, Key: key}
	if show {
		p.Detail = messageOf(err)
	}
	c.renderError(w, r, p)
}

// failFor answers a route's refusal in the route's own language: a page,
// or a problem document for webauthn.js.
func (c *Console) failFor(rt route, w http.ResponseWriter, r *http.Request, err error) {
	if rt.flags&jsonReplies != 0 {
		c.failJSON(w, r, err)
		return
	}
	c.fail(w, r, err)
}

// failJSON answers a JSON request with an RFC 9457 problem whose detail
// webauthn.js shows the person.
func (c *Console) failJSON(w http.ResponseWriter, r *http.Request, err error) {
	status, _, show := statusOf(err)
	detail := messageOf(err)
	if !show {
		if status == http.StatusServiceUnavailable {
			c.log.Warn("console: capability unavailable", "method", r.Method, "path", RedactPath(r.URL.Path), "err", err)
			detail = c.message(r, "error.unavailable.text")
		} else {
			c.log.Error("console: internal error", "method", r.Method, "path", RedactPath(r.URL.Path), "err", err)
			detail = c.message(r, "error.internal.text")
		}
	}
	c.problem(w, r, status, detail)
}

// problem writes a problem document.
func (c *Console) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	err := json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail, "instance": r.URL.Path})
	if err != nil {
		c.log.Debug("console: writing a problem", "path", RedactPath(r.URL.Path), "err", err)
	}
}

// message is a catalogue text in the request's language.
func (c *Console) message(r *http.Request, key string) string {
	if s, ok := c.catalogues[langOf(r)][key]; ok {
		return s
	}
	return key
}

func (c *Console) internalError(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console: internal error", "method", r.Method, "path", RedactPath(r.URL.Path), "err", err)
	c.renderError(w, r, errorPage{Status: http.StatusInternalServerError, Key: "internal"})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, errorPage{Status: http.StatusNotFound, Key: "not_found"})
}

// badCSRF answers a signed-in form submitted without its session's token:
// a forged request, or a form from a session that has since ended.
func (c *Console) badCSRF(w http.ResponseWriter, r *http.Request, rt route) {
	c.log.Info("console: form without a valid CSRF token refused", "method", r.Method, "path", RedactPath(r.URL.Path))
	if rt.flags&jsonReplies != 0 {
		c.problem(w, r, http.StatusForbidden, c.message(r, "error.csrf.text"))
		return
	}
	c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "csrf"})
}

// crossSite answers a write another site's page made.
func (c *Console) crossSite(w http.ResponseWriter, r *http.Request, rt route) {
	c.log.Info("console: cross-origin request refused", "method", r.Method, "path", RedactPath(r.URL.Path),
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	if rt.flags&jsonReplies != 0 {
		c.problem(w, r, http.StatusForbidden, c.message(r, "error.csrf.text"))
		return
	}
	c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "csrf"})
}

// renderError renders the error page, falling back to plain text if even
// that fails, so that an error never loops through render.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, p errorPage) {
	if err := c.renderPage(w, r, p.Status, "error", "", p); err != nil {
		c.log.Error("console: rendering the error page", "path", RedactPath(r.URL.Path), "err", err)
		http.Error(w, http.StatusText(p.Status), p.Status)
	}
}

// maxForm bounds a submitted form; the console's largest is a few hundred bytes.
const maxForm = 64 << 10

// readForm reads a POST form. On failure it has answered and returns false.
func (c *Console) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.renderError(w, r, errorPage{Status: http.StatusRequestEntityTooLarge, Key: "too_large"})
			return false
		}
		c.renderError(w, r, errorPage{Status: http.StatusBadRequest, Key: "bad_form"})
		return false
	}
	return true
}

// RedactPath is a request path fit for a log: an invitation link's token
// is a secret until it is used, so it never reaches one. serve's access
// log uses it too.
func RedactPath(path string) string {
	if rest, ok := strings.CutPrefix(path, "/invitations/"); ok && rest != "" {
		return "/invitations/[redacted]"
	}
	return path
}
