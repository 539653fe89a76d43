package pki

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// Fuzz tests of the parsers of outside input: CRL files and what
// distribution points serve, CA bundles, and OCSP responses.

func fuzzPKI(f *testing.F) *pkitest.PKI {
	f.Helper()
	p, err := pkitest.Generate(pkitest.Options{BaseURL: "http://pki.invalid"})
	if err != nil {
		f.Fatal(err)
	}
	return p
}

func FuzzParseCRLs(f *testing.F) {
	p := fuzzPKI(f)
	in := p.Intermediate
	now := p.Now
	der, err := in.CRL(now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	uri := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(in.CRLURL)}
	m := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	full := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: m(uri)}
	dp := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: m(full)}
	idp := m(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: m(dp)})
	scoped, err := in.SignCRL(pkitest.CRLSpec{ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: oidIssuingDistPoint, Critical: true, Value: idp}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(scoped)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: scoped})...))
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		lists, err := parseCRLs(b)
		if err != nil {
			return
		}
		if len(lists) == 0 {
			t.Fatal("no CRLs and no error")
		}
		for _, l := range lists {
			// Whatever the bytes, checking a certificate against them
			// must not panic, and only a CRL the issuer signed may say
			// revoked.
			for _, c := range []*pkitest.Leaf{p.Valid, p.Revoked} {
				vd, _, _ := l.check(c.Cert, in.Cert, now)
				if vd == revoked && l.list.CheckSignatureFrom(in.Cert) != nil {
					t.Fatal("a CRL the issuer did not sign revoked a certificate")
				}
			}
			_, _, _ = l.check(in.Cert, p.Root.Cert, now)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	p := fuzzPKI(f)
	key, err := p.Valid.KeyPEM()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(p.Root.CertPEM(), p.Intermediate.CertPEM()...))
	f.Add(append([]byte("# the national root\n"), p.Root.CertPEM()...))
	f.Add(append(p.Root.CertPEM(), key...))
	f.Add(p.Valid.CertPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseCertificatesPEM(b)
		if err != nil {
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("nil certificate")
			}
			_ = selfSigned(c)
			_ = dn(c.RawSubject)
		}
	})
}

func FuzzCheckOCSPResponse(f *testing.F) {
	p := fuzzPKI(f)
	in, leaf := p.Intermediate, p.OCSPGood.Cert
	now := p.Now
	for _, status := range []int{ocsp.Good, ocsp.Revoked, ocsp.Unknown} {
		b, err := in.SignOCSP(leaf.SerialNumber, pkitest.OCSPAnswer{Status: status, ThisUpdate: now, NextUpdate: now.Add(time.Hour), RevokedAt: now})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(ocsp.TryLaterErrorResponse)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := checkOCSPResponse(b, leaf, in.Cert, now, 10*time.Minute)
		if err != nil {
			return
		}
		if resp.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("accepted an answer about serial %x for %x", resp.SerialNumber, leaf.SerialNumber)
		}
	})
}
