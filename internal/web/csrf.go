package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
)

// The console guards its forms with a signed double-submit cookie: the
// browser holds a random value in a cookie, and every form carries an HMAC of
// that value. Another site can make the browser send the cookie but can
// neither read it nor compute the HMAC, and a value planted in the cookie
// (say from a sibling subdomain) is useless without the key.
//
// The key is random per process, so a restart invalidates open forms (the
// user reloads and submits again) and replicas behind one address need
// sticky sessions until the key can be configured.
const (
	csrfCookie = "hatoba_csrf"
	csrfField  = "csrf_token"
	csrfBytes  = 32
)

type csrfGuard struct{ key []byte }

func newCSRFGuard() (*csrfGuard, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("web: csrf key: %w", err)
	}
	return &csrfGuard{key: key}, nil
}

// sign is the form token for a cookie value.
func (g *csrfGuard) sign(cookieValue string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte("hatoba csrf v1\x00" + cookieValue))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cookieValue returns the request's CSRF cookie if it has the right shape.
func cookieValue(r *http.Request) (string, bool) {
	ck, err := r.Cookie(csrfCookie)
	if err != nil {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) != csrfBytes {
		return "", false
	}
	return ck.Value, true
}

// token returns the form token for this browser, setting the cookie first
// when it has none.
func (g *csrfGuard) token(w http.ResponseWriter, r *http.Request) (string, error) {
	v, ok := cookieValue(r)
	if !ok {
		b := make([]byte, csrfBytes)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("web: csrf cookie: %w", err)
		}
		v = base64.RawURLEncoding.EncodeToString(b)
		// HttpOnly: no script needs the value, the form carries the HMAC.
		// Secure only over TLS, so the console also works on plain
		// http://127.0.0.1 while nobody serves it over the network yet.
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
	return g.sign(v), nil
}

// valid reports whether a submitted (already parsed) form carries the token
// for the request's cookie.
func (g *csrfGuard) valid(r *http.Request) bool {
	v, ok := cookieValue(r)
	if !ok {
		return false
	}
	got := r.PostForm.Get(csrfField)
	want := g.sign(v)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
