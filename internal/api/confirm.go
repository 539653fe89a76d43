package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// A key owner at the command line has no browser for the WebAuthn
// step-up, but has the card, which is two factors itself (possession and
// PIN). The CLI signs a statement of the one request with the card's key
// and sends it in the Hatoba-Action-Signature header; the guard checks it
// here, and a request that passes carries the statement's hash in its
// principal, which the second-factor rule accepts for this request only
// (docs/keys.md, "Confirming an action with the card").

// ActionWindow is how far a statement's time may be from the server's
// clock, either way.
const ActionWindow = 2 * time.Minute

// confirmByCard checks r's card-signed confirmation, cheapest checks
// first: the header and statement parse; the statement is this request
// (method, request-target, body) and fresh; the signature verifies and
// names this server's origin; the card is the one the session signed in
// with, still valid and not revoked, and bound to the person; and the
// nonce was never used. It returns r with its body restored and the
// confirmation in its context, and p marked confirmed.
func (s *Server) confirmByCard(w http.ResponseWriter, r *http.Request, p authz.Principal, sess identity.Session) (*http.Request, authz.Principal, error) {
	const field = pki.ActionSignatureHeader
	invalid := func(format string, args ...any) error { return fault.InvalidField(field, format, args...) }
	refuse := func(err error) error {
		s.Logger.InfoContext(r.Context(), "card confirmation refused", "person", p.PersonID, "method", r.Method, "path", r.URL.Path, "err", err)
		return err
	}
	vals := r.Header.Values(field)
	if len(vals) != 1 {
		return nil, p, refuse(invalid("send one %s header, not %d", field, len(vals)))
	}
	raw, sig, der, err := pki.ParseActionHeader(vals[0])
	if err != nil {
		return nil, p, refuse(invalid("%v", err))
	}
	st, err := pki.ParseActionStatement(raw)
	if err != nil {
		return nil, p, refuse(invalid("%v (docs/keys.md specifies the statement)", err))
	}
	if st.Method != r.Method || st.Path != r.RequestURI {
		return nil, p, refuse(forbidden("the card confirmed %s %s, not this request (%s %s); sign the action you send", st.Method, st.Path, r.Method, r.RequestURI))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, p, refuse(invalid("the request body cannot be read (at most %d bytes): %v", maxBody, err))
	}
	if sum := sha256.Sum256(body); subtle.ConstantTimeCompare(sum[:], st.BodySHA256[:]) != 1 {
		return nil, p, refuse(forbidden("the card confirmed another request body than this one; sign the body you send"))
	}
	now := time.Now()
	if d := now.Sub(st.Time); d > ActionWindow || d < -ActionWindow {
		return nil, p, refuse(forbidden("the card confirmed this action at %s, more than %s from the server's time %s: sign it again (and check this computer's clock)",
			st.Time.Format(time.RFC3339), ActionWindow, now.UTC().Format(time.RFC3339)))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, p, refuse(invalid("the certificate is not X.509: %v", err))
	}
	if err := s.Certs.VerifyActionSignature(cert, st, raw, sig); err != nil {
		return nil, p, refuse(err)
	}
	if d := pki.Describe(cert); d.IssuerDN != sess.CertIssuerDN || d.Serial != sess.CertSerial {
		return nil, p, refuse(forbidden("the card that confirmed this action is not the card this session signed in with; sign in with it (hatoba login) or use your own card"))
	}
	card, err := s.Certs.Verify(r.Context(), []*x509.Certificate{cert})
	if err != nil {
		return nil, p, refuse(err)
	}
	hash := pki.ActionStatementHash(raw)
	// Kept for twice the window, so a replica whose clock runs ahead
	// cannot forget a nonce that another still finds fresh.
	if err := s.Identity.SpendActionConfirmation(r.Context(), identity.ActionConfirmation{PersonID: p.PersonID, Card: card,
		Nonce: st.Nonce, StatementSHA256: hash, ExpiresAt: st.Time.Add(2 * ActionWindow)}); err != nil {
		if errors.Is(err, identity.ErrActionReplayed) {
			s.Logger.WarnContext(r.Context(), "card confirmation replayed", "person", p.PersonID, "method", r.Method, "path", r.URL.Path, "statement_sha256", hash)
			return nil, p, err
		}
		return nil, p, refuse(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.CardConfirmation = hash
	s.Logger.InfoContext(r.Context(), "action confirmed by card", "person", p.PersonID, "method", r.Method, "path", r.URL.Path, "statement_sha256", hash)
	return r.WithContext(audit.WithCardConfirmation(r.Context(), hash)), p, nil
}

// forbidden is a refusal of the confirmation, naming its header.
func forbidden(format string, args ...any) error {
	return &fault.Error{Kind: fault.Forbidden, Field: pki.ActionSignatureHeader, Message: fmt.Sprintf(format, args...)}
}
