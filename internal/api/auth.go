package api

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// CertVerifier checks a client certificate chain (validity, chain to the
// trust anchors, key usage, revocation) and names the certificate.
type CertVerifier interface {
	Verify(ctx context.Context, chain []*x509.Certificate) (identity.Certificate, error)
	// VerifyLoginSignature checks the CLI's signature over a challenge.
	VerifyLoginSignature(cert *x509.Certificate, challenge, signature []byte) error
	// VerifyActionSignature checks a card-signed action statement's
	// origin and signature (confirm.go).
	VerifyActionSignature(cert *x509.Certificate, st pki.ActionStatement, statement, signature []byte) error
}

// SessionCookie is the console's session cookie. The __Host- prefix makes
// browsers refuse it unless it is Secure, host-only and for path /.
const SessionCookie = "__Host-hatoba_session"

// credential finds the secret a request presents and the kind of session
// it must be: a bearer token (an API token), or the console's session
// cookie for safe methods only — so a cross-site form cannot use the
// cookie to change anything through the API.
func credential(r *http.Request) (string, identity.SessionKind, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", "", false
		}
		return strings.TrimSpace(token), identity.APIToken, true
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if c, err := r.Cookie(SessionCookie); err == nil {
			return c.Value, identity.ConsoleSession, true
		}
	}
	return "", "", false
}

// sameCard reports whether the connection presents the certificate a
// console session was opened with: a copied cookie is useless without the
// card. Over plain HTTP (tests only; serve always uses TLS) there is
// nothing to compare.
func sameCard(r *http.Request, sess identity.Session) bool {
	if r.TLS == nil {
		return true
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	d := pki.Describe(r.TLS.PeerCertificates[0])
	return d.IssuerDN == sess.CertIssuerDN && d.Serial == sess.CertSerial
}

// guard runs h for a principal allowed the route's action; it is the only
// way a route reaches its handler.
func (s *Server) guard(rt Route, h func(*Server, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.Action == authz.Public || rt.Action == authz.IngestToken {
			// Ingestion is not limited per address: EventBridge delivers
			// from addresses many senders share, and its 256-bit token is
			// checked by hash in constant time.
			if rt.Action == authz.Public && s.limited(w, r) {
				return
			}
			h(s, w, r)
			return
		}
		secret, kind, ok := credential(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hatoba"`)
			writeError(w, r, s.Logger, fault.Unauthenticatedf("sign in first: send Authorization: Bearer <token> (hatoba login gives one)"))
			return
		}
		p, sess, err := s.Identity.Authenticate(r.Context(), secret)
		if err == nil && (sess.Kind != kind || kind == identity.ConsoleSession && !sameCard(r, sess)) {
			// A console session's secret is not a bearer token, an API
			// token is not a cookie, and a cookie needs its card.
			err = fault.Unauthenticatedf("not signed in, or the session expired; sign in again")
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hatoba", error="invalid_token"`)
			writeError(w, r, s.Logger, err)
			return
		}
		if p.Role.NeedsSecondFactor() && sess.Kind == identity.ConsoleSession && sess.SecondFactorAt.IsZero() {
			writeError(w, r, s.Logger, fault.Forbiddenf("confirm this session with your security key in the console first"))
			return
		}
		if len(r.Header.Values(pki.ActionSignatureHeader)) > 0 {
			// The card confirms this one request (confirm.go).
			cr, cp, err := s.confirmByCard(w, r, p, sess)
			if err != nil {
				writeError(w, r, s.Logger, err)
				return
			}
			r, p = cr, cp
		}
		if s.Grants != nil && p.Role.TakesGrants() {
			if p.Grants, err = s.Grants(r.Context(), p.PersonID); err != nil {
				writeError(w, r, s.Logger, err)
				return
			}
		}
		if !authz.Allows(p, rt.Action) {
			writeError(w, r, s.Logger, fault.Forbiddenf("a %s may not %s", p.Role, rt.Action))
			return
		}
		h(s, w, r.WithContext(authz.WithPrincipal(r.Context(), p)))
	}
}

// principal is the request's principal; guard put it there.
func principal(r *http.Request) authz.Principal {
	p, _ := authz.PrincipalFrom(r.Context())
	return p
}

// acting is who acts, for capabilities that take an audit.Acting: the
// principal's person, under the break-glass grant d rode on, if any.
func acting(r *http.Request, d authz.Decision) audit.Acting {
	return audit.Acting{Actor: principal(r).PersonID, GrantID: d.GrantID}
}

// actor names the principal in records: the person, and the break-glass
// grant when the action rides on one.
func actor(r *http.Request, d authz.Decision) string {
	p := principal(r)
	if d.GrantID != "" {
		return p.PersonID + " under " + d.GrantID
	}
	return p.PersonID
}

// decide asks the decision point about one resource.
func (s *Server) decide(r *http.Request, action authz.Action, res authz.Resource) (authz.Decision, error) {
	return s.Authz.Decide(r.Context(), principal(r), action, res)
}

// within turns the caller's scope for action into a listing filter: nil
// for everything, else the organisations it may see (maybe none).
func (s *Server) within(ctx context.Context, p authz.Principal, action authz.Action) ([]string, error) {
	sc := s.Authz.ScopeOf(p, action)
	if sc.All {
		return nil, nil
	}
	ids, err := s.Orgs.SubtreeIDs(ctx, sc.Roots)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// The CLI's login: ask for a challenge, sign it with the card through
// PKCS#11, trade chain and signature for a short-lived token.

func (s *Server) newChallenge(w http.ResponseWriter, r *http.Request) {
	c, err := s.Identity.NewChallenge(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// TokenRequest trades a signed challenge for a token.
type TokenRequest struct {
	ChallengeID string `json:"challenge_id"`
	// CertificateChain is the card's certificate first, then any
	// intermediates, each base64 DER.
	CertificateChain []string `json:"certificate_chain"`
	Signature        string   `json:"signature"`
}

// TokenResponse is a short-lived bearer token.
type TokenResponse struct {
	Token     string          `json:"token"`
	ExpiresAt string          `json:"expires_at"`
	Person    identity.Person `json:"person"`
}

// maxChain bounds the certificates a client may send.
const maxChain = 4

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.ChallengeID == "" {
		writeError(w, r, s.Logger, fault.InvalidField("challenge_id", "challenge_id is required; POST /api/v1/auth/challenge gives one"))
		return
	}
	if len(req.CertificateChain) == 0 || len(req.CertificateChain) > maxChain {
		writeError(w, r, s.Logger, fault.InvalidField("certificate_chain", "certificate_chain must hold the card's certificate and at most %d intermediates", maxChain-1))
		return
	}
	var chain []*x509.Certificate
	for i, b64 := range req.CertificateChain {
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			writeError(w, r, s.Logger, fault.InvalidField("certificate_chain", "certificate %d is not base64: %v", i, err))
			return
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			writeError(w, r, s.Logger, fault.InvalidField("certificate_chain", "certificate %d is not an X.509 certificate: %v", i, err))
			return
		}
		chain = append(chain, c)
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil || len(sig) == 0 {
		writeError(w, r, s.Logger, fault.InvalidField("signature", "signature must be base64"))
		return
	}
	// The challenge is spent before anything else is checked, so each one
	// allows a single guess.
	nonce, err := s.Identity.ConsumeChallenge(r.Context(), req.ChallengeID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	// The signature first: it costs no network, so a stranger's garbage
	// never makes hatoba fetch CRLs or ask OCSP responders.
	if err := s.Certs.VerifyLoginSignature(chain[0], nonce, sig); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	cert, err := s.Certs.Verify(r.Context(), chain)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	p, token, sess, err := s.Identity.SignIn(r.Context(), cert, identity.APIToken, "challenge")
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, TokenResponse{Token: token, ExpiresAt: sess.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"), Person: p})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, err := s.Identity.Person(r.Context(), principal(r).PersonID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	secret, _, _ := credential(r)
	if err := s.Identity.SignOut(r.Context(), secret); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// InviteRequest invites a person.
type InviteRequest struct {
	OrgID       string     `json:"org_id,omitempty"`
	Role        authz.Role `json:"role"`
	DisplayName string     `json:"display_name"`
	Email       string     `json:"email,omitempty"`
}

// InviteResponse carries the one-time invitation link; hatoba does not keep
// it, so it is shown once.
type InviteResponse struct {
	Person identity.Person `json:"person"`
	Token  string          `json:"invitation_token"`
	Link   string          `json:"invitation_link"`
}

func (s *Server) invitePerson(w http.ResponseWriter, r *http.Request) {
	var req InviteRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	d, err := s.decide(r, authz.InvitePeople, authz.Resource{Kind: "organisation", OrgID: req.OrgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	p, token, err := s.Identity.Invite(r.Context(), principal(r), d.GrantID,
		identity.Invitation{OrgID: req.OrgID, Role: req.Role, DisplayName: req.DisplayName, Email: req.Email})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/people/"+p.ID)
	writeJSON(w, http.StatusCreated, InviteResponse{Person: p, Token: token, Link: strings.TrimRight(s.PublicURL, "/") + "/invitations/" + token})
}

func (s *Server) listPeople(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	p := principal(r)
	sc := s.Authz.ScopeOf(p, authz.ReadPeople)
	var orgIDs []string
	if !sc.All {
		var err error
		if orgIDs, err = s.Orgs.SubtreeIDs(r.Context(), sc.Roots); err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
	}
	people, err := s.Identity.People(r.Context(), sc.Platform, orgIDs, sc.All)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if people == nil {
		people = []identity.Person{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": people})
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request) {
	p, err := s.Identity.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.ReadPeople, authz.Resource{Kind: "person", ID: p.ID, OrgID: p.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) disablePerson(w http.ResponseWriter, r *http.Request) { s.setDisabled(w, r, true) }
func (s *Server) enablePerson(w http.ResponseWriter, r *http.Request)  { s.setDisabled(w, r, false) }

func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	p, err := s.Identity.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	d, err := s.decide(r, authz.ManagePeople, authz.Resource{Kind: "person", ID: p.ID, OrgID: p.OrgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out, err := s.Identity.SetDisabled(r.Context(), principal(r), d.GrantID, p.ID, disabled)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if disabled {
		// Their cloud access goes too; if this fails the resumer does it.
		if err := s.Vending.RevokeDisabled(r.Context()); err != nil {
			s.Logger.WarnContext(r.Context(), "revoking a disabled person's environment access; the resumer will retry", "person", p.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
