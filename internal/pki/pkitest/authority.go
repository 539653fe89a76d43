// Package pkitest builds throwaway PKIs: a root CA, intermediates, an
// untrusted CA and an impostor, and client certificates for every case
// the login verifier must decide (valid, expired, revoked, wrong chain,
// wrong key usage, empty subject, OCSP good and revoked, ...). Tests use
// New, which also serves the CRLs and OCSP answers over httptest;
// scripts/testpki uses Generate and WriteFiles to give people a PKI to try
// hatoba with by hand. It is test tooling: production code must not import
// it.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// KeyType is the kind of key a certificate gets.
type KeyType int

const (
	// ECDSAP256 is quick to generate; the default.
	ECDSAP256 KeyType = iota
	// RSA2048 is the My Number Card's key type.
	RSA2048
)

func newKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("pkitest: unknown key type %d", kt)
}

// Authority is a CA: its certificate and key, and the revocations its CRLs
// and OCSP answers report.
type Authority struct {
	// Name is its short name, used in URLs and file names.
	Name   string
	Cert   *x509.Certificate
	Key    crypto.Signer
	Parent *Authority // nil for a root
	// CRLURL and OCSPURL are where New's server answers for this
	// authority; empty without a server.
	CRLURL  string
	OCSPURL string

	now       time.Time
	leafLife  time.Duration
	responder *x509.Certificate // delegated OCSP signer; nil: the CA signs
	respKey   crypto.Signer

	mu      sync.Mutex
	revoked []x509.RevocationListEntry
	issued  map[string]bool // serial (hex) of every certificate it issued
	crlNum  int64
}

// Revoke adds serial to the authority's CRL and OCSP answers, revoked at
// at for reason (a RFC 5280 reason code; 6 is a suspension).
func (a *Authority) Revoke(serial *big.Int, at time.Time, reason int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked = append(a.revoked, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: at, ReasonCode: reason})
}

// CRL returns a DER CRL of the authority's revocations, signed by it.
func (a *Authority) CRL(thisUpdate, nextUpdate time.Time) ([]byte, error) {
	return a.SignCRL(CRLSpec{ThisUpdate: thisUpdate, NextUpdate: nextUpdate})
}

// CRLSpec describes a CRL to sign.
type CRLSpec struct {
	ThisUpdate, NextUpdate time.Time
	// ExtraExtensions are added as they are (an issuing distribution
	// point, a delta CRL indicator).
	ExtraExtensions []pkix.Extension
}

// SignCRL returns a DER CRL of the authority's revocations, signed by it.
func (a *Authority) SignCRL(s CRLSpec) ([]byte, error) {
	a.mu.Lock()
	a.crlNum++
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(a.crlNum),
		ThisUpdate:                s.ThisUpdate,
		NextUpdate:                s.NextUpdate,
		RevokedCertificateEntries: append([]x509.RevocationListEntry(nil), a.revoked...),
		ExtraExtensions:           s.ExtraExtensions,
	}
	a.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.Cert, a.Key)
	if err != nil {
		return nil, fmt.Errorf("pkitest: CRL of %s: %w", a.Name, err)
	}
	return der, nil
}

// OCSPAnswer describes an OCSP response to sign.
type OCSPAnswer struct {
	Status                 int // ocsp.Good, ocsp.Revoked or ocsp.Unknown
	ThisUpdate, NextUpdate time.Time
	RevokedAt              time.Time
	Reason                 int
	// SignerCert and SignerKey sign instead of the authority's responder
	// (a forgery, for tests); the certificate is embedded.
	SignerCert *x509.Certificate
	SignerKey  crypto.Signer
}

// SignOCSP returns a DER OCSP response about serial.
func (a *Authority) SignOCSP(serial *big.Int, ans OCSPAnswer) ([]byte, error) {
	tmpl := ocsp.Response{
		Status:           ans.Status,
		SerialNumber:     serial,
		ThisUpdate:       ans.ThisUpdate,
		NextUpdate:       ans.NextUpdate,
		RevokedAt:        ans.RevokedAt,
		RevocationReason: ans.Reason,
	}
	cert, key := a.Cert, a.Key
	switch {
	case ans.SignerCert != nil:
		cert, key = ans.SignerCert, ans.SignerKey
		tmpl.Certificate = cert
	case a.responder != nil:
		cert, key = a.responder, a.respKey
		tmpl.Certificate = cert
	}
	der, err := ocsp.CreateResponse(a.Cert, cert, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("pkitest: OCSP response of %s: %w", a.Name, err)
	}
	return der, nil
}

// answer is the authority's own answer about serial, valid for validity.
func (a *Authority) answer(serial *big.Int, validity time.Duration) ([]byte, error) {
	ans := OCSPAnswer{Status: ocsp.Unknown, ThisUpdate: a.now.Add(-time.Minute), NextUpdate: a.now.Add(validity)}
	a.mu.Lock()
	if a.issued[serial.Text(16)] {
		ans.Status = ocsp.Good
	}
	for _, e := range a.revoked {
		if e.SerialNumber.Cmp(serial) == 0 {
			ans.Status, ans.RevokedAt, ans.Reason = ocsp.Revoked, e.RevocationTime, e.ReasonCode
		}
	}
	a.mu.Unlock()
	return a.SignOCSP(serial, ans)
}

// CertPEM is the authority's certificate in PEM.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}

// LeafSpec describes a client certificate to issue. Zero fields take the
// defaults noted.
type LeafSpec struct {
	Name string
	Key  KeyType
	// Subject is the certificate's subject; the zero Name makes an empty
	// subject, like the My Number Card's authentication certificate.
	Subject pkix.Name
	// NotBefore and NotAfter default to an hour ago and the authority's
	// leaf lifetime from now.
	NotBefore, NotAfter time.Time
	// KeyUsage defaults to digitalSignature.
	KeyUsage x509.KeyUsage
	// ExtKeyUsage defaults (nil) to clientAuth; an empty, non-nil slice
	// leaves the extension out.
	ExtKeyUsage []x509.ExtKeyUsage
	// CRLURLs and OCSPURLs go into the CRL distribution points and the
	// Authority Information Access.
	CRLURLs, OCSPURLs []string
	// IsCA makes a CA certificate (to test that one cannot sign in).
	IsCA bool
}

// Leaf is an issued client certificate and its key.
type Leaf struct {
	Name   string
	Cert   *x509.Certificate
	Key    crypto.Signer
	Issuer *Authority
	// Chain is what a TLS client presents: the leaf, then its issuers up
	// to, not including, the root.
	Chain []*x509.Certificate
}

// Issue makes a client certificate signed by a.
func (a *Authority) Issue(spec LeafSpec) (*Leaf, error) {
	key, err := newKey(spec.Key)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               spec.Subject,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		KeyUsage:              spec.KeyUsage,
		ExtKeyUsage:           spec.ExtKeyUsage,
		CRLDistributionPoints: spec.CRLURLs,
		OCSPServer:            spec.OCSPURLs,
		BasicConstraintsValid: true,
		IsCA:                  spec.IsCA,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = a.now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = a.now.Add(a.leafLife)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if spec.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	cert, err := a.sign(tmpl, key.Public())
	if err != nil {
		return nil, fmt.Errorf("pkitest: leaf %s: %w", spec.Name, err)
	}
	l := &Leaf{Name: spec.Name, Cert: cert, Key: key, Issuer: a, Chain: []*x509.Certificate{cert}}
	for p := a; p.Parent != nil; p = p.Parent {
		l.Chain = append(l.Chain, p.Cert)
	}
	return l, nil
}

// TLSCertificate is the leaf as a crypto/tls client certificate.
func (l *Leaf) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	for _, x := range l.Chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// CertPEM is the chain (leaf first) in PEM.
func (l *Leaf) CertPEM() []byte {
	var out []byte
	for _, c := range l.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM is the private key in PKCS#8 PEM (what softhsm2-util --import
// and browsers read).
func (l *Leaf) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		return nil, fmt.Errorf("pkitest: key of %s: %w", l.Name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// authoritySpec describes a CA to create.
type authoritySpec struct {
	name     string
	subject  pkix.Name
	parent   *Authority // nil: self-signed root
	key      KeyType
	life     time.Duration
	leafLife time.Duration
	now      time.Time
	crlURLs  []string // distribution points in the CA's own certificate
	delegate bool     // OCSP answers signed by a delegated responder
}

func newAuthority(s authoritySpec) (*Authority, error) {
	key, err := newKey(s.key)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               s.subject,
		NotBefore:             s.now.Add(-24 * time.Hour),
		NotAfter:              s.now.Add(s.life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		CRLDistributionPoints: s.crlURLs,
	}
	a := &Authority{Name: s.name, Key: key, Parent: s.parent, now: s.now, leafLife: s.leafLife, issued: map[string]bool{}}
	if s.parent == nil {
		a.Cert, err = selfSign(tmpl, key)
	} else {
		tmpl.MaxPathLenZero = true
		a.Cert, err = s.parent.sign(tmpl, key.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("pkitest: authority %s: %w", s.name, err)
	}
	if s.delegate {
		if err := a.makeResponder(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// oidOCSPNoCheck marks a responder certificate as not to be checked for
// revocation itself (RFC 6960 4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

func (a *Authority) makeResponder() error {
	key, err := newKey(ECDSAP256)
	if err != nil {
		return err
	}
	null, _ := asn1.Marshal(asn1.NullRawValue)
	tmpl := &x509.Certificate{
		SerialNumber:    serial(),
		Subject:         pkix.Name{CommonName: a.Cert.Subject.CommonName + " OCSP Responder", Organization: a.Cert.Subject.Organization, Country: a.Cert.Subject.Country},
		NotBefore:       a.now.Add(-time.Hour),
		NotAfter:        a.now.Add(a.leafLife),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: null}},
	}
	a.responder, err = a.sign(tmpl, key.Public())
	if err != nil {
		return fmt.Errorf("pkitest: OCSP responder of %s: %w", a.Name, err)
	}
	a.respKey = key
	return nil
}

func (a *Authority) sign(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.issued[cert.SerialNumber.Text(16)] = true
	a.mu.Unlock()
	return cert, nil
}

func selfSign(tmpl *x509.Certificate, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// serial is a random positive 127-bit serial number, as CAs are required
// to use (at least 64 bits of randomness).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(errors.New("pkitest: no randomness: " + err.Error())) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}
