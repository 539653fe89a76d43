package pki_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	validCert, validKey := files.Leaf(pkitest.NameValid)
	badCRL := must[[]byte](t)(os.ReadFile(files.IntermediateCRL))
	badCRL[len(badCRL)-1] ^= 0xff
	withKey := append(must[[]byte](t)(os.ReadFile(files.CAs)), must[[]byte](t)(os.ReadFile(validKey))...)
	ca := []string{files.CAs}
	tests := []struct {
		name string
		opts pki.Options
		want string // "" for success, else part of the error
	}{
		{"ok/ca file and crl files", pki.Options{ClientCAFiles: ca, CRLFiles: []string{files.CRLs, files.IntermediateCRL}}, ""},
		{"ok/cas in memory", pki.Options{CACerts: []*x509.Certificate{p.Root.Cert, p.Intermediate.Cert}}, ""},
		{"fail/no trust anchor", pki.Options{ClientCAFiles: []string{write("inter.pem", p.Intermediate.CertPEM())}}, "no trust anchor"},
		{"fail/nothing configured", pki.Options{}, "no trust anchor"},
		{"fail/missing ca file", pki.Options{ClientCAFiles: []string{filepath.Join(dir, "nope.pem")}}, "no such file"},
		{"fail/private key in the ca file", pki.Options{ClientCAFiles: []string{write("withkey.pem", withKey)}}, `"PRIVATE KEY"`},
		{"fail/not a ca", pki.Options{ClientCAFiles: []string{validCert}}, "not a CA certificate"},
		{"fail/empty ca file", pki.Options{ClientCAFiles: []string{write("empty.pem", []byte("# nothing\n"))}}, "no PEM CERTIFICATE block"},
		{"fail/crl not signed by its configured issuer", pki.Options{ClientCAFiles: ca, CRLFiles: []string{write("bad.crl", badCRL)}}, "not signed by the configured CA"},
		{"fail/crl file of garbage", pki.Options{ClientCAFiles: ca, CRLFiles: []string{write("junk.crl", []byte("junk"))}}, "malformed crl"},
		{"fail/crl file of certificates", pki.Options{ClientCAFiles: ca, CRLFiles: ca}, "not an X509 CRL"},
		{"fail/missing crl file", pki.Options{ClientCAFiles: ca, CRLFiles: []string{filepath.Join(dir, "nope.crl")}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := pki.New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestServerTLSLetsHatobaDecide shows why ConfigureServerTLS asks for a
// certificate without having crypto/tls verify it: an expired or foreign
// certificate completes the handshake, and the handler can say what is
// wrong instead of the browser showing a TLS alert.
func TestServerTLSLetsHatobaDecide(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	v := newVerifier(t, p, files, nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := v.Verify(r.Context(), r.TLS.PeerCertificates)
		if err != nil {
			http.Error(w, string(pki.CodeOf(err)), http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "welcome")
	}))
	srv.TLS = &tls.Config{}
	v.ConfigureServerTLS(srv.TLS)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name string
		leaf *pkitest.Leaf // nil: no certificate
		want string
	}{
		{"ok/valid", p.Valid, "welcome"},
		{"fail/expired reaches the handler", p.Expired, string(pki.CodeExpired)},
		{"fail/revoked reaches the handler", p.Revoked, string(pki.CodeRevoked)},
		{"fail/none", nil, string(pki.CodeNoCertificate)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := srv.Client()
			tr := client.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig = tr.TLSClientConfig.Clone()
			if tt.leaf != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{tt.leaf.TLSCertificate()}
			}
			client = &http.Client{Transport: tr}
			t.Cleanup(tr.CloseIdleConnections)
			req := must[*http.Request](t)(http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("the handshake failed, so the person would see a TLS error: %v", err)
			}
			defer func() { _ = resp.Body.Close() }()
			body := must[[]byte](t)(io.ReadAll(resp.Body))
			if got := strings.TrimSpace(string(body)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
