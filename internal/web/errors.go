package web

import (
	"errors"
	"net/http"

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
}

// fail answers with the page for err's kind. Messages of invalid, not found,
// conflict and forbidden errors are written for people and are shown;
// anything else is logged and answered with a page that says nothing about
// the internals.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var detail string
	if fe, ok := fault.As(err); ok {
		detail = fe.Message
	}
	switch fault.KindOf(err) {
	case fault.NotFound:
		c.log.Debug("console: not found", "path", r.URL.Path, "err", err)
		c.renderError(w, r, errorPage{Status: http.StatusNotFound, Key: "not_found", Detail: detail})
	case fault.Invalid:
		c.renderError(w, r, errorPage{Status: http.StatusBadRequest, Key: "invalid", Detail: detail})
	case fault.Conflict:
		c.renderError(w, r, errorPage{Status: http.StatusConflict, Key: "conflict", Detail: detail})
	case fault.Forbidden:
		c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "forbidden", Detail: detail})
	case fault.Unavailable:
		c.log.Warn("console: capability unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		c.renderError(w, r, errorPage{Status: http.StatusServiceUnavailable, Key: "unavailable"})
	default:
		c.internalError(w, r, err)
	}
}

func (c *Console) internalError(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	c.renderError(w, r, errorPage{Status: http.StatusInternalServerError, Key: "internal"})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, errorPage{Status: http.StatusNotFound, Key: "not_found"})
}

// badCSRF answers a form submitted without this browser's token: a forged
// request, or a form older than the server process.
func (c *Console) badCSRF(w http.ResponseWriter, r *http.Request) {
	c.log.Info("console: form without a valid CSRF token refused", "method", r.Method, "path", r.URL.Path)
	c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "csrf"})
}

// renderError renders the error page, falling back to plain text if even
// that fails, so that an error never loops through render.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, p errorPage) {
	if err := c.renderPage(w, r, p.Status, "error", "", p); err != nil {
		c.log.Error("console: rendering the error page", "path", r.URL.Path, "err", err)
		http.Error(w, http.StatusText(p.Status), p.Status)
	}
}

// maxForm bounds a submitted form; the console's largest is a few hundred bytes.
const maxForm = 64 << 10

// parseForm reads a POST form and checks its CSRF token. On failure it has
// answered and returns false.
func (c *Console) parseForm(w http.ResponseWriter, r *http.Request) bool {
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
	if !c.csrf.valid(r) {
		c.badCSRF(w, r)
		return false
	}
	return true
}
