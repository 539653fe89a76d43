package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/hatoba-cloud/hatoba/internal/pki"
)

// TestRun writes a PKI and checks hatoba's verifier, configured as the
// printed instructions say and with no network, decides each written
// certificate as its name promises.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	if err := run([]string{"-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "ca.pem")) || !strings.Contains(out.String(), filepath.Join(dir, "client.p12")) {
		t.Fatalf("instructions:\n%s", out.String())
	}
	// client.p12 is client.pem and its key, for a browser, password empty.
	p12, err := os.ReadFile(filepath.Join(dir, "client.p12"))
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(p12, "")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf.Raw, pair.Certificate[0]) || len(chain) != 1 || !pair.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.(crypto.Signer).Public()) {
		t.Fatalf("client.p12 does not hold client.pem, its key and its issuer")
	}
	offline := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("offline")
	})}
	v, err := pki.New(pki.Options{
		ClientCAFiles: []string{filepath.Join(dir, "ca.pem")},
		CRLFiles:      []string{filepath.Join(dir, "crl.pem")},
		OCSP:          true,
		HTTPClient:    offline,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stem string
		want *pki.Error
	}{
		{"client", nil},
		{"valid", nil},
		{"empty-subject", nil},
		{"ocsp-good", nil},
		{"expired", pki.ErrExpired},
		{"not-yet-valid", pki.ErrNotYetValid},
		{"revoked", pki.ErrRevoked},
		{"ocsp-revoked", pki.ErrRevoked},
		{"revoked-issuer", pki.ErrRevoked},
		{"untrusted", pki.ErrUnknownIssuer},
		{"impostor", pki.ErrUnknownIssuer},
		{"key-encipherment-only", pki.ErrWrongKeyUsage},
		{"server-auth-only", pki.ErrWrongKeyUsage},
		{"ca-cert", pki.ErrWrongKeyUsage},
	} {
		t.Run(tt.stem, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, tt.stem+".pem"), filepath.Join(dir, tt.stem+"-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			var chain []*x509.Certificate
			for _, der := range pair.Certificate {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, c)
			}
			_, err = v.Verify(context.Background(), chain)
			switch {
			case tt.want == nil && err != nil:
				t.Fatal(err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %s", err, tt.want.Code)
			}
		})
	}
	info, err := os.Stat(filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("client-key.pem has mode %v, want 0600", info.Mode().Perm())
	}
}

func TestRunNeedsOut(t *testing.T) {
	t.Parallel()
	if err := run(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Fatalf("err = %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
