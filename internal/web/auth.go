package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// visitor is a signed-in person on this request, as the guard found them.
type visitor struct {
	principal authz.Principal
	session   identity.Session
	// secret is the session cookie's value: the CSRF token is derived from
	// it, and signing out ends it. It never leaves the server otherwise.
	secret string
	person identity.Person
}

// pending reports whether the session still waits for the security-key
// confirmation its role needs before it may do anything else.
func (v *visitor) pending() bool {
	return v.principal.Role.NeedsSecondFactor() && v.session.SecondFactorAt.IsZero()
}

type visitorKey struct{}

// withVisitor returns ctx carrying the signed-in person, for the console
// and for authz. Audit records take their actor as a parameter, from
// me(r).principal.
func withVisitor(ctx context.Context, v *visitor) context.Context {
	return authz.WithPrincipal(context.WithValue(ctx, visitorKey{}, v), v.principal)
}

// visitorFrom returns the signed-in person of the request, if any.
func visitorFrom(ctx context.Context) (*visitor, bool) {
	v, ok := ctx.Value(visitorKey{}).(*visitor)
	return v, ok
}

// viewer is the signed-in person as the layout shows them: the header's
// name and role, and the navigation their role may use.
type viewer struct {
	Person    identity.Person
	principal authz.Principal
	pending   bool
	authz     *authz.Authorizer
	// keysOnly: the key service's console, which has no other pages.
	keysOnly bool
}

// May reports whether the person may use pages of action at all: the role
// may do it, and somewhere (an operator's right to request environments
// reaches only as far as its break-glass grants). A session waiting for its
// second factor may use none yet.
func (v *viewer) May(action authz.Action) bool {
	if v.keysOnly && action != authz.ReadKeys && action != authz.ManageKeys && action != authz.SealKeys && action != authz.Self && action != authz.ReadSystem {
		return false
	}
	return !v.pending && mayAnywhere(v.authz, v.principal, action)
}

// mayAnywhere reports whether p may do action on anything at all.
func mayAnywhere(a *authz.Authorizer, p authz.Principal, action authz.Action) bool {
	if !authz.Allows(p, action) {
		return false
	}
	sc := a.ScopeOf(p, action)
	return sc.All || sc.Platform || len(sc.Roots) > 0
}

// Central reports whether the person is central staff (the backups page
// is theirs alone).
func (v *viewer) Central() bool { return !v.pending && !v.keysOnly && v.principal.Role.Central() }

// Pending reports whether the session waits for its second factor.
func (v *viewer) Pending() bool { return v.pending }

// guard is the only way a request reaches a console handler. It refuses
// cross-site writes, finds who is signed in, holds a session that still
// needs its second factor at the pages that give it, asks authz whether the
// role may do the route's action at all, and checks the form's CSRF token.
// Handlers then ask about the one resource they touch.
func (c *Console) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.setHeaders(w, r)
		unsafe := !isSafeMethod(r.Method)
		if unsafe {
			// Another site's form or script: refused before anything is read.
			if err := c.crossOrigin.Check(r); err != nil {
				c.crossSite(w, r, rt)
				return
			}
		}
		if rt.action == authz.Public {
			if rt.flags&noSession == 0 {
				// Public pages still show who is signed in, when someone is.
				if v, err := c.visit(r); err == nil {
					r = r.WithContext(withVisitor(r.Context(), v))
				} else if fault.KindOf(err) != fault.Unauthenticated {
					c.log.Warn("console: looking up the session of a public page", "path", RedactPath(r.URL.Path), "err", err)
				}
			}
			if unsafe && rt.flags&jsonReplies == 0 && !c.readForm(w, r) {
				return
			}
			rt.handler(c, w, r)
			return
		}
		v, err := c.visit(r)
		if err != nil {
			if fault.KindOf(err) == fault.Unauthenticated {
				c.signInFirst(w, r, rt, err)
				return
			}
			c.failFor(rt, w, r, err)
			return
		}
		r = r.WithContext(withVisitor(r.Context(), v))
		if v.pending() && rt.flags&beforeSecondFactor == 0 {
			c.secondFactorFirst(w, r, rt)
			return
		}
		if !authz.Allows(v.principal, rt.action) {
			c.failFor(rt, w, r, fault.Forbiddenf("a %s may not %s", v.principal.Role, rt.action))
			return
		}
		if unsafe {
			if rt.flags&jsonReplies == 0 && !c.readForm(w, r) {
				return
			}
			if !validCSRF(r, v.secret, rt.flags&jsonReplies != 0) {
				c.badCSRF(w, r, rt)
				return
			}
		}
		rt.handler(c, w, r)
	}
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// errSignInAgain is what every failed session lookup reads as: which of
// missing, expired, revoked or bound to another card it was is not the
// requester's business.
var errSignInAgain = fault.Unauthenticatedf("not signed in, or the session expired; sign in again")

// visit finds the signed-in person of r: the session cookie's session, of
// the console's kind, opened with the certificate this connection presents.
func (c *Console) visit(r *http.Request) (*visitor, error) {
	ck, err := r.Cookie(api.SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errSignInAgain
	}
	ctx := r.Context()
	p, sess, err := c.api.Identity.Authenticate(ctx, ck.Value)
	if err != nil {
		if k := fault.KindOf(err); k == fault.Unauthenticated || k == fault.Forbidden {
			return nil, errSignInAgain
		}
		return nil, err
	}
	// An API token pasted into the cookie is not a console session: tokens
	// are not bound to a connection's certificate and must not open pages.
	if sess.Kind != identity.ConsoleSession {
		return nil, errSignInAgain
	}
	// Over TLS the card must still be in the reader: a copied cookie is
	// useless on a connection that presents another certificate, or none.
	// (Plain HTTP, on 127.0.0.1 for development and in handler tests, has no
	// certificate to compare.)
	if r.TLS != nil {
		if len(r.TLS.PeerCertificates) == 0 {
			return nil, errSignInAgain
		}
		id := pki.Describe(r.TLS.PeerCertificates[0])
		if id.IssuerDN != sess.CertIssuerDN || id.Serial != sess.CertSerial {
			c.log.Info("console: session presented with another certificate than it was opened with",
				"person", sess.PersonID, "path", RedactPath(r.URL.Path))
			return nil, errSignInAgain
		}
	}
	if c.api.Grants != nil && p.Role.TakesGrants() {
		if p.Grants, err = c.api.Grants(ctx, p.PersonID); err != nil {
			return nil, err
		}
	}
	person, err := c.api.Identity.Person(ctx, p.PersonID)
	if err != nil {
		return nil, err
	}
	return &visitor{principal: p, session: sess, secret: ck.Value, person: person}, nil
}

// signInFirst answers a request that needs a session it lacks: a page
// load goes to the sign-in page and comes back afterwards; anything else
// is told to sign in.
func (c *Console) signInFirst(w http.ResponseWriter, r *http.Request, rt route, err error) {
	if _, err := r.Cookie(api.SessionCookie); err == nil {
		clearSessionCookie(w) // stale: expired, signed out, or not ours
	}
	switch {
	case rt.flags&jsonReplies != 0:
		c.problem(w, r, http.StatusUnauthorized, c.message(r, "error.unauthenticated.text"))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		http.Redirect(w, r, "/login?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
	default:
		c.renderError(w, r, errorPage{Status: http.StatusUnauthorized, Key: "unauthenticated", Detail: messageOf(err)})
	}
}

// secondFactorFirst holds a session that has not yet been confirmed with a
// security key at the page that confirms it.
func (c *Console) secondFactorFirst(w http.ResponseWriter, r *http.Request, rt route) {
	switch {
	case rt.flags&jsonReplies != 0:
		c.problem(w, r, http.StatusForbidden, c.message(r, "error.second_factor.text"))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		http.Redirect(w, r, secondFactorPath(r.URL.RequestURI()), http.StatusSeeOther)
	default:
		c.renderError(w, r, errorPage{Status: http.StatusForbidden, Key: "second_factor"})
	}
}

// secondFactorPath is the second-factor page, returning to next.
func secondFactorPath(next string) string {
	if next, ok := safeNext(next); ok && next != "/" {
		return "/login/second-factor?" + url.Values{"next": {next}}.Encode()
	}
	return "/login/second-factor"
}

// setSessionCookie hands the browser its session. __Host- (api.SessionCookie)
// makes browsers insist on Secure, Path=/ and no Domain; HttpOnly keeps
// scripts away from it; Strict keeps other sites' links and forms from
// carrying it.
func setSessionCookie(w http.ResponseWriter, secret string, sess identity.Session, now time.Time) {
	age := int(sess.ExpiresAt.Sub(now) / time.Second)
	if age < 1 {
		age = 1
	}
	http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: secret, Path: "/", MaxAge: age,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// me is the request's signed-in person; the guard put them there.
func me(r *http.Request) *visitor {
	v, _ := visitorFrom(r.Context())
	if v == nil {
		return &visitor{} // a defect: a guarded handler always has one; decide then denies
	}
	return v
}

// actor names the principal in records: the person, and the break-glass
// grant when the action rides on one (as the API's actor does).
func actor(r *http.Request, d authz.Decision) string {
	id := me(r).principal.PersonID
	if d.GrantID != "" {
		return id + " under " + d.GrantID
	}
	return id
}

// decide asks the decision point about one resource.
func (c *Console) decide(r *http.Request, action authz.Action, res authz.Resource) (authz.Decision, error) {
	return c.api.Authz.Decide(r.Context(), me(r).principal, action, res)
}

// may reports whether the caller may do action on res, for showing a
// button or a form; the action's own handler decides again.
func (c *Console) may(r *http.Request, action authz.Action, res authz.Resource) bool {
	_, err := c.decide(r, action, res)
	return err == nil
}

// within turns the caller's scope for action into a listing filter: nil
// for everything, else the organisations it may see (maybe none).
func (c *Console) within(r *http.Request, action authz.Action) ([]string, error) {
	sc := c.api.Authz.ScopeOf(me(r).principal, action)
	if sc.All {
		return nil, nil
	}
	ids, err := c.api.Orgs.SubtreeIDs(r.Context(), sc.Roots)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// inScope reports whether id is in a listing filter from within.
func inScope(within []string, id string) bool {
	if within == nil {
		return true
	}
	for _, w := range within {
		if w == id {
			return true
		}
	}
	return false
}

// isSecondFactor reports whether err asks for a fresh security-key check.
func isSecondFactor(err error) bool { return errors.Is(err, authz.ErrSecondFactor) }
