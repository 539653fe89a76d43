package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// CSRF protection has two layers.
//
// Every unsafe request (POST) first passes http.CrossOriginProtection: a
// browser says where a request comes from (Sec-Fetch-Site, or Origin), and
// one made by another site's page is refused. That alone protects the forms
// of signed-out pages (/login, /invitations/{token}), which have no session
// to bind a token to.
//
// Signed-in forms also carry a token bound to the session: the HMAC-SHA256,
// keyed with the session's secret (the value of the HttpOnly session
// cookie), of a fixed label. Another site can make the browser send the
// cookie but can read neither it nor the pages that carry the token; a token
// from another session is worthless in this one. Nothing but the session is
// needed to check it, so it works on every replica and after a restart, and
// it ends with the session. webauthn.js sends the same token in the
// X-CSRF-Token header, from the page's <meta name="csrf-token">.
const (
	csrfField  = "csrf_token"
	csrfHeader = "X-CSRF-Token"
	csrfLabel  = "hatoba csrf v1"
)

// csrfToken is the form token of the session whose secret is given.
func csrfToken(sessionSecret string) string {
	m := hmac.New(sha256.New, []byte(sessionSecret))
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF reports whether r carries the token of the session: in the
// header for JSON requests, in the (already parsed) form otherwise.
func validCSRF(r *http.Request, sessionSecret string, fromHeader bool) bool {
	got := r.Header.Get(csrfHeader)
	if !fromHeader {
		got = r.PostForm.Get(csrfField)
	}
	if got == "" || sessionSecret == "" {
		return false
	}
	want := csrfToken(sessionSecret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
