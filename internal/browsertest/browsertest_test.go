package browsertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerPKI(t *testing.T) {
	t.Parallel()
	s := NewServerPKI(t)
	leaf, err := x509.ParseCertificate(s.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	tests := []struct {
		name, host string
		ok         bool
	}{
		{"ok/localhost", "localhost", true},
		{"ok/ipv4 loopback", "127.0.0.1", true},
		{"ok/ipv6 loopback", "::1", true},
		{"fail/another name", "console.hatoba.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (err == nil) != tt.ok {
				t.Fatalf("verify for %s: %v, want ok=%v", tt.host, err, tt.ok)
			}
		})
	}
	dir := t.TempDir()
	certFile, keyFile := s.WriteFiles(t, dir)
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("the written pair does not load: %v", err)
	}
	if block, _ := pem.Decode(s.CAPEM()); block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CAPEM is not a PEM certificate: %s", s.CAPEM())
	}
}

func TestAutoSelectProfile(t *testing.T) {
	t.Parallel()
	dir := AutoSelectProfile(t, "https://localhost:8443")
	b, err := os.ReadFile(filepath.Join(dir, "Default", "Preferences"))
	if err != nil {
		t.Fatal(err)
	}
	var prefs struct {
		Profile struct {
			ContentSettings struct {
				Exceptions struct {
					AutoSelect map[string]struct {
						Setting struct {
							Filters []map[string]any `json:"filters"`
						} `json:"setting"`
					} `json:"auto_select_certificate"`
				} `json:"exceptions"`
			} `json:"content_settings"`
		} `json:"profile"`
	}
	if err := json.Unmarshal(b, &prefs); err != nil {
		t.Fatal(err)
	}
	got, ok := prefs.Profile.ContentSettings.Exceptions.AutoSelect["https://localhost:8443,*"]
	if !ok || len(got.Setting.Filters) != 1 || len(got.Setting.Filters[0]) != 0 {
		t.Fatalf("Preferences do not auto-select a certificate for the origin: %s", b)
	}
}

// TestNSSHome puts a card and a CA into a fresh NSS database and lists it
// back with certutil: the card with its key, the CA trusted for servers.
func TestNSSHome(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("certutil"); err != nil {
		if os.Getenv("HATOBA_REQUIRE_BROWSER") == "1" {
			t.Fatal("certutil is not installed (libnss3-tools; scripts/install-test-deps.sh installs it), and CI must run this test")
		}
		t.Skip("certutil is not installed (libnss3-tools)")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test card"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	card := Card{Name: "my card", CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	home := NSSHome(t, card, NewServerPKI(t).CAPEM())
	out, err := exec.Command("certutil", "-L", "-d", "sql:"+filepath.Join(home, ".pki", "nssdb")).CombinedOutput()
	if err != nil {
		t.Fatalf("certutil -L: %v\n%s", err, out)
	}
	list := string(out)
	for _, want := range []string{"my card", "hatoba test server CA A"} {
		if !strings.Contains(list, want) {
			t.Errorf("the NSS database lacks %q:\n%s", want, list)
		}
	}
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, "hatoba test server CA A") && !strings.HasSuffix(strings.TrimSpace(line), "C,,") {
			t.Errorf("the CA is not trusted for servers: %q", line)
		}
	}
	keys, err := exec.Command("certutil", "-K", "-d", "sql:"+filepath.Join(home, ".pki", "nssdb")).CombinedOutput()
	if err != nil || !strings.Contains(string(keys), "my card") {
		t.Fatalf("certutil -K: the card's key is missing (%v):\n%s", err, keys)
	}
}
