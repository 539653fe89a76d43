package pki_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// offline is an HTTP client that fails every request, to show an answer
// came from a CRL file and not the network.
var offline = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
})}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newVerifier is a Verifier trusting p's ca.pem, at p's time, with OCSP
// on; change adjusts the options.
func newVerifier(t *testing.T, p *pkitest.PKI, files pkitest.Files, change func(*pki.Options)) *pki.Verifier {
	t.Helper()
	o := pki.Options{ClientCAFiles: []string{files.CAs}, OCSP: true, Now: func() time.Time { return p.Now }}
	if change != nil {
		change(&o)
	}
	v, err := pki.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantRefusal checks err against want (nil: accepted) and that a refusal
// carries a message for the person.
func wantRefusal(t *testing.T, err error, want *pki.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want code %s", err, want.Code)
	}
	if msg := pki.UserMessage(err); msg == "" || strings.Contains(msg, "http") {
		t.Fatalf("user message %q is empty or leaks a URL", msg)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	leafOnly := func(l *pkitest.Leaf) []*x509.Certificate { return l.Chain[:1] }
	tests := []struct {
		name   string
		leaf   func() *pkitest.Leaf
		chain  func(*pkitest.Leaf) []*x509.Certificate // nil: the leaf's full chain
		change func(*pki.Options)
		want   *pki.Error
	}{
		{name: "ok/ecdsa with the CRL from its distribution point", leaf: func() *pkitest.Leaf { return p.Valid }},
		{name: "ok/rsa 2048", leaf: func() *pkitest.Leaf { return p.ValidRSA }},
		{name: "ok/empty subject and no extended key usage", leaf: func() *pkitest.Leaf { return p.EmptySubject }},
		{name: "ok/intermediate not sent but configured", leaf: func() *pkitest.Leaf { return p.Valid }, chain: leafOnly},
		{name: "ok/crl files answer without network", leaf: func() *pkitest.Leaf { return p.Valid },
			change: func(o *pki.Options) { o.CRLFiles = []string{files.CRLs}; o.HTTPClient = offline }},
		{name: "ok/der crl file", leaf: func() *pkitest.Leaf { return p.ValidRSA },
			change: func(o *pki.Options) { o.CRLFiles = []string{files.IntermediateCRL} }},
		{name: "ok/ocsp good", leaf: func() *pkitest.Leaf { return p.OCSPGood }},
		{name: "ok/ocsp unreachable with soft fail", leaf: func() *pkitest.Leaf { return p.OCSPUnreachable },
			change: func(o *pki.Options) { o.SoftFailRevocation = true }},
		{name: "ok/no revocation information with soft fail", leaf: func() *pkitest.Leaf { return p.NoRevocationInfo },
			change: func(o *pki.Options) { o.SoftFailRevocation = true }},
		{name: "ok/no revocation information but a crl file", leaf: func() *pkitest.Leaf { return p.NoRevocationInfo },
			change: func(o *pki.Options) { o.CRLFiles = []string{files.CRLs} }},

		{name: "fail/no certificate", leaf: func() *pkitest.Leaf { return nil }, want: pki.ErrNoCertificate},
		{name: "fail/expired", leaf: func() *pkitest.Leaf { return p.Expired }, want: pki.ErrExpired},
		{name: "fail/not yet valid", leaf: func() *pkitest.Leaf { return p.NotYetValid }, want: pki.ErrNotYetValid},
		{name: "fail/revoked on the crl at its distribution point", leaf: func() *pkitest.Leaf { return p.Revoked }, want: pki.ErrRevoked},
		{name: "fail/revoked on a crl file", leaf: func() *pkitest.Leaf { return p.Revoked },
			change: func(o *pki.Options) { o.CRLFiles = []string{files.CRLs}; o.HTTPClient = offline }, want: pki.ErrRevoked},
		{name: "fail/revoked even with soft fail", leaf: func() *pkitest.Leaf { return p.Revoked },
			change: func(o *pki.Options) { o.SoftFailRevocation = true }, want: pki.ErrRevoked},
		{name: "fail/untrusted ca", leaf: func() *pkitest.Leaf { return p.Untrusted }, want: pki.ErrUnknownIssuer},
		{name: "fail/impostor ca with the intermediate's name", leaf: func() *pkitest.Leaf { return p.Impostor }, want: pki.ErrUnknownIssuer},
		{name: "fail/intermediate neither sent nor configured", leaf: func() *pkitest.Leaf { return p.Valid }, chain: leafOnly,
			change: func(o *pki.Options) { o.ClientCAFiles = []string{files.Root} }, want: pki.ErrUnknownIssuer},
		{name: "fail/key encipherment only", leaf: func() *pkitest.Leaf { return p.KeyEncipherment }, want: pki.ErrWrongKeyUsage},
		{name: "fail/server auth only", leaf: func() *pkitest.Leaf { return p.ServerAuth }, want: pki.ErrWrongKeyUsage},
		{name: "fail/ca certificate", leaf: func() *pkitest.Leaf { return p.CACert }, want: pki.ErrWrongKeyUsage},
		{name: "fail/issuing ca revoked", leaf: func() *pkitest.Leaf { return p.RevokedIssuer }, want: pki.ErrRevoked},
		{name: "fail/ocsp revoked", leaf: func() *pkitest.Leaf { return p.OCSPRevoked }, want: pki.ErrRevoked},
		{name: "fail/ocsp unreachable", leaf: func() *pkitest.Leaf { return p.OCSPUnreachable }, want: pki.ErrRevocationUnavailable},
		{name: "fail/ocsp turned off", leaf: func() *pkitest.Leaf { return p.OCSPGood },
			change: func(o *pki.Options) { o.OCSP = false }, want: pki.ErrRevocationUnavailable},
		{name: "fail/no revocation information", leaf: func() *pkitest.Leaf { return p.NoRevocationInfo }, want: pki.ErrRevocationUnavailable},
		{name: "fail/crl unreachable", leaf: func() *pkitest.Leaf { return p.Valid },
			change: func(o *pki.Options) { o.HTTPClient = offline }, want: pki.ErrRevocationUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, p, files, tt.change)
			var chain []*x509.Certificate
			if l := tt.leaf(); l != nil {
				chain = l.Chain
				if tt.chain != nil {
					chain = tt.chain(l)
				}
			}
			id, err := v.Verify(context.Background(), chain)
			t.Logf("err: %v", err)
			wantRefusal(t, err, tt.want)
			if tt.want == nil && id.Serial != pki.SerialText(chain[0].SerialNumber) {
				t.Fatalf("identity serial %q, want %q", id.Serial, pki.SerialText(chain[0].SerialNumber))
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	v := newVerifier(t, p, files, nil)
	for _, tt := range []struct {
		name    string
		leaf    *pkitest.Leaf
		subject string
	}{
		{"ok/named", p.Valid, "CN=Valid Person,O=Hatoba Test PKI,C=JP"},
		{"ok/empty subject", p.EmptySubject, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.leaf.Chain)
			if err != nil {
				t.Fatal(err)
			}
			want := pki.Identity{
				IssuerDN:   "CN=Hatoba Test Client CA,O=Hatoba Test PKI,C=JP",
				Serial:     tt.leaf.Cert.SerialNumber.Text(16),
				SPKISHA256: sha256.Sum256(tt.leaf.Cert.RawSubjectPublicKeyInfo),
				SubjectDN:  tt.subject,
				NotAfter:   tt.leaf.Cert.NotAfter,
			}
			if id != want {
				t.Fatalf("identity\n got %+v\nwant %+v", id, want)
			}
		})
	}
}

func TestVerifyMessages(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	v := newVerifier(t, p, files, nil)
	for _, tt := range []struct {
		name string
		leaf *pkitest.Leaf
		says string
	}{
		{"fail/expired names the day", p.Expired, "expired on " + p.Expired.Cert.NotAfter.UTC().Format("2 January 2006")},
		{"fail/not yet valid names the day", p.NotYetValid, "valid only from " + p.NotYetValid.Cert.NotBefore.UTC().Format("2 January 2006")},
		{"fail/revoked names the day", p.Revoked, "revoked by its issuer on"},
		{"fail/revoked issuer blames the authority", p.RevokedIssuer, "authority that issued your certificate has been revoked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.leaf.Chain)
			if msg := pki.UserMessage(err); !strings.Contains(msg, tt.says) {
				t.Fatalf("message %q does not say %q", msg, tt.says)
			}
		})
	}
	if got := pki.UserMessage(errors.New("driver exploded at 10.0.0.7")); got != pki.ErrInternal.Message {
		t.Fatalf("a foreign error's message is %q", got)
	}
	if got := pki.CodeOf(errors.New("x")); got != pki.CodeInternal {
		t.Fatalf("CodeOf(foreign) = %s", got)
	}
}
