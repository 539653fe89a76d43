package mfa

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

//go:embed static/webauthn.js
var static embed.FS

// script is webauthn.js; scriptTag is its content hash, for ETag and for
// links that bust caches.
var script, scriptTag = func() ([]byte, string) {
	b, err := static.ReadFile("static/webauthn.js")
	if err != nil {
		panic("mfa: embedded webauthn.js missing: " + err.Error()) // a build defect, not a runtime condition
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:8])
}()

// Script returns webauthn.js, the browser half of the ceremonies, for a
// caller that serves static files its own way.
func Script() []byte { return bytes.Clone(script) }

// ScriptVersion is a short hash of webauthn.js: put it in the script's URL
// (…/webauthn.js?v=…) so a new release is not hidden by a cached copy.
func ScriptVersion() string { return scriptTag }

// ScriptHandler serves webauthn.js, whatever path it is mounted at.
func ScriptHandler() http.Handler {
	etag := `"` + scriptTag + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
		h.Set("ETag", etag)
		// No modification time: the ETag alone answers If-None-Match.
		http.ServeContent(w, r, "webauthn.js", time.Time{}, bytes.NewReader(script))
	})
}

// The JSON webauthn.js exchanges with the begin and finish URLs the caller
// routes. Both are POSTs carrying the page's CSRF token in X-CSRF-Token.
//
//	begin:  request {} → reply BeginReply
//	finish: request FinishRequest → reply FinishReply, or an RFC 9457
//	        problem whose "detail" the script shows in the page's role=alert
//	        element.

// BeginReply is what a begin URL answers.
type BeginReply struct {
	// Ceremony is the id BeginRegistration or BeginAssertion returned.
	Ceremony string `json:"ceremony"`
	// Options are the options they returned, as they are.
	Options json.RawMessage `json:"options"`
}

// FinishRequest is what webauthn.js posts to a finish URL.
type FinishRequest struct {
	Ceremony string `json:"ceremony"`
	// Credential is the PublicKeyCredential in its JSON form: pass it as
	// the body to FinishRegistration or FinishAssertion.
	Credential json.RawMessage `json:"credential"`
	// Name is what the person called a new key (registration only).
	Name string `json:"name,omitempty"`
}

// FinishReply is what a finish URL answers on success: the page the
// browser goes to next (same origin only; the page is reloaded if empty).
type FinishReply struct {
	Redirect string `json:"redirect,omitempty"`
}

// ReadFinishRequest decodes a finish URL's request body, reading at most
// MaxResponseBytes and a little for the envelope.
func ReadFinishRequest(body io.Reader) (FinishRequest, error) {
	const limit = MaxResponseBytes + 4<<10
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return FinishRequest{}, fault.Invalidf("reading the browser's answer failed: %v", err)
	}
	if len(b) > limit {
		return FinishRequest{}, fault.Invalidf("the browser's answer is over %d bytes", limit)
	}
	var req FinishRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return FinishRequest{}, fault.Invalidf("the browser's answer is not the JSON webauthn.js sends: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FinishRequest{}, fault.Invalidf("the browser's answer has data after its JSON object")
	}
	if strings.TrimSpace(req.Ceremony) == "" {
		return FinishRequest{}, fault.InvalidField("ceremony", "the browser's answer names no ceremony; reload the page and start again")
	}
	if len(req.Credential) == 0 || string(req.Credential) == "null" {
		return FinishRequest{}, fault.InvalidField("credential", "the browser's answer carries no credential from the security key")
	}
	if len(req.Name) > 4*maxName {
		return FinishRequest{}, fault.InvalidField("name", "the key's name is too long; at most %d characters are allowed", maxName)
	}
	return req, nil
}

// String is for logs: it leaves the credential out.
func (f FinishRequest) String() string {
	return fmt.Sprintf("FinishRequest{ceremony %s, %d-byte credential, name %q}", f.Ceremony, len(f.Credential), f.Name)
}
