package web

import (
	"crypto/x509"
	"net/http"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// People sign in with the authentication certificate of their My Number
// Card (or another smart card the configured CAs issued): the browser
// presents it in the TLS handshake, which proves the card holds its key;
// Certs.Verify judges it (chain, validity, usage, revocation); identity
// finds the person it is bound to and opens a session, bound in turn to
// that certificate (see visit). Administrators and auditors then confirm
// the session with a security key (secondfactor.go).

// certView is a presented certificate as the sign-in pages show it.
type certView struct {
	// Subject is empty for the My Number Card's authentication
	// certificate, which names no one by design.
	Subject  string
	Issuer   string
	Serial   string
	NotAfter time.Time
}

// presentedCert is what the connection presents and what Verify made of it.
type presentedCert struct {
	// TLS is false on a plain-HTTP connection, where no card can be read.
	TLS  bool
	Cert *certView
	OK   bool
	// Refusal is Verify's message for the person (English) and Code its
	// stable reason, which selects the catalogue's explanation.
	Refusal string
	Code    string
	cert    identity.Certificate
}

// refusalCodes are the refusals the catalogue explains (cert.refused.*).
var refusalCodes = []pki.Code{pki.CodeNoCertificate, pki.CodeExpired, pki.CodeNotYetValid, pki.CodeUnknownIssuer,
	pki.CodeInvalidChain, pki.CodeWrongKeyUsage, pki.CodeRevoked, pki.CodeRevocationUnavailable, pki.CodeUnsupportedKey}

// presented verifies the connection's client certificate. Only a failure
// to judge it at all is an error; a refusal is part of the answer.
func (c *Console) presented(r *http.Request) (presentedCert, error) {
	var chain []*x509.Certificate
	if r.TLS != nil {
		chain = r.TLS.PeerCertificates
	}
	p := presentedCert{TLS: r.TLS != nil}
	if len(chain) > 0 {
		id := pki.Describe(chain[0])
		p.Cert = &certView{Subject: id.SubjectDN, Issuer: id.IssuerDN, Serial: id.Serial, NotAfter: id.NotAfter}
	}
	cert, err := c.api.Certs.Verify(r.Context(), chain)
	if err != nil {
		if fault.KindOf(err) != fault.Forbidden {
			return p, err
		}
		p.Refusal = messageOf(err)
		if code := pki.CodeOf(err); slices.Contains(refusalCodes, code) {
			p.Code = string(code)
		}
		return p, nil
	}
	p.OK, p.cert = true, cert
	return p, nil
}

// loginPage is the data of /login.
type loginPage struct {
	Next      string
	Presented presentedCert
	// Problem is why a sign-in with a valid certificate was refused (a card
	// not registered, a disabled person), in English from identity.
	Problem string
}

// nextOf is where a sign-in returns to: a page of this site, or the dashboard.
func nextOf(raw string) string {
	if next, ok := safeNext(raw); ok {
		return next
	}
	return "/"
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := nextOf(r.URL.Query().Get("next"))
	if v, ok := visitorFrom(r.Context()); ok {
		// Already signed in with this card: carry on.
		if v.pending() {
			next = secondFactorPath(next)
		}
		http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: next passed safeNext (a local path only)
		return
	}
	pc, err := c.presented(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "login", "", loginPage{Next: next, Presented: pc})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := nextOf(r.PostForm.Get("next"))
	pc, err := c.presented(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if !pc.OK {
		c.render(w, r, http.StatusForbidden, "login", "", loginPage{Next: next, Presented: pc})
		return
	}
	person, secret, sess, err := c.api.Identity.SignIn(r.Context(), pc.cert, identity.ConsoleSession, "console")
	if err != nil {
		if fault.KindOf(err) == fault.Forbidden {
			c.render(w, r, http.StatusForbidden, "login", "", loginPage{Next: next, Presented: pc, Problem: messageOf(err)})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.startSession(w, r, secret, sess)
	if person.Role.NeedsSecondFactor() {
		next = secondFactorPath(next)
	}
	http.Redirect(w, r, next, http.StatusSeeOther) //nolint:gosec // G710: next passed safeNext (a local path only)
}

// startSession hands the browser a new session, ending the one it had.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, secret string, sess identity.Session) {
	if old, err := r.Cookie(api.SessionCookie); err == nil && old.Value != "" && old.Value != secret {
		if err := c.api.Identity.SignOut(r.Context(), old.Value); err != nil {
			// The old session still ends at its expiry; the new one works.
			c.log.Warn("console: ending the previous session", "err", err)
		}
	}
	setSessionCookie(w, secret, sess, c.now())
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.api.Identity.SignOut(r.Context(), me(r).secret); err != nil {
		c.fail(w, r, err)
		return
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/login?notice=signed_out", http.StatusSeeOther)
}
