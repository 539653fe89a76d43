package api

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// PKICerts verifies certificates with package pki; the login signature's
// audience is hatoba's public URL, so a signature made for another server
// is worthless here.
type PKICerts struct {
	Verifier *pki.Verifier
	Audience string
}

// NewPKICerts returns the CertVerifier for publicURL.
func NewPKICerts(v *pki.Verifier, publicURL string) (*PKICerts, error) {
	aud, err := pki.LoginAudience(publicURL)
	if err != nil {
		return nil, fmt.Errorf("identity.public_url: %w", err)
	}
	return &PKICerts{Verifier: v, Audience: aud}, nil
}

// Verify checks chain and names the certificate. A refusal is Forbidden
// with pki's message for the person and its stable code in the wrapped
// error.
func (c *PKICerts) Verify(ctx context.Context, chain []*x509.Certificate) (identity.Certificate, error) {
	id, err := c.Verifier.Verify(ctx, chain)
	if err != nil {
		return identity.Certificate{}, refusal(err)
	}
	return identity.Certificate{IssuerDN: id.IssuerDN, Serial: id.Serial, SPKISHA256: id.SPKISHA256,
		SubjectDN: id.SubjectDN, NotAfter: id.NotAfter}, nil
}

// VerifyLoginSignature checks the CLI's signature over challenge.
func (c *PKICerts) VerifyLoginSignature(cert *x509.Certificate, challenge, sig []byte) error {
	if err := pki.VerifyLoginSignature(cert, c.Audience, challenge, sig); err != nil {
		return refusal(err)
	}
	return nil
}

// VerifyActionSignature checks a card-signed statement: it names this
// server's origin, and sig verifies with cert's key.
func (c *PKICerts) VerifyActionSignature(cert *x509.Certificate, st pki.ActionStatement, statement, sig []byte) error {
	if st.Origin != c.Audience {
		return &fault.Error{Kind: fault.Forbidden, Field: pki.ActionSignatureHeader,
			Message: fmt.Sprintf("the card confirmed this action for %s, but this server is %s: use that address as --server", st.Origin, c.Audience)}
	}
	if err := pki.VerifyActionSignature(cert, statement, sig); err != nil {
		return refusal(err)
	}
	return nil
}

func refusal(err error) error {
	if pki.CodeOf(err) == pki.CodeInternal {
		return fmt.Errorf("verify certificate: %w", err)
	}
	return &fault.Error{Kind: fault.Forbidden, Message: pki.UserMessage(err) + " (" + string(pki.CodeOf(err)) + ")", Err: err}
}

// NoTrustAnchors is the CertVerifier of a hatoba configured with no client
// CA: it refuses every certificate and says how to fix that.
type NoTrustAnchors struct{}

var errNoAnchors = fault.Forbiddenf("hatoba trusts no certificate authority yet, so nobody can sign in: " +
	"an administrator must set identity.client_ca_files (see docs/identity.md)")

func (NoTrustAnchors) Verify(context.Context, []*x509.Certificate) (identity.Certificate, error) {
	return identity.Certificate{}, errNoAnchors
}

func (NoTrustAnchors) VerifyLoginSignature(*x509.Certificate, []byte, []byte) error {
	return errNoAnchors
}

func (NoTrustAnchors) VerifyActionSignature(*x509.Certificate, pki.ActionStatement, []byte, []byte) error {
	return errNoAnchors
}
