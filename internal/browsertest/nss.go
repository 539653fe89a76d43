package browsertest

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Card is a client certificate and its key, as a smart card in a reader
// would present them: PEM, the certificate first (its chain may follow),
// the key in PKCS#8 or PKCS#1.
type Card struct {
	CertPEM, KeyPEM []byte
	// Name is the nickname the NSS database files it under.
	Name string
}

// NSSHome makes a home directory whose NSS database (where Chromium on
// Linux keeps client certificates and locally trusted CAs) holds card,
// with its key, and trusts each of trustedCAs (PEM) to issue server
// certificates. Chromium started with HOME set to it presents the card
// like one in a reader, and opens the test's server without a certificate
// error — which would also keep WebAuthn away: Chromium offers it only to
// pages with a valid certificate.
//
// It needs certutil and pk12util (libnss3-tools) and openssl, which
// scripts/install-test-deps.sh installs with Chromium. Without a browser
// the test is skipped, as Path does; with a browser but without the tools
// it fails.
func NSSHome(t testing.TB, card Card, trustedCAs ...[]byte) string {
	t.Helper()
	for _, tool := range []string{"certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			Path(t) // skips where there is no browser either
			t.Fatalf("%s is not installed (libnss3-tools, openssl: scripts/install-test-deps.sh): %v", tool, err)
		}
	}
	name := card.Name
	if name == "" {
		name = "hatoba test card"
	}
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(file string, b []byte) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	certFile, keyFile := write("card.pem", card.CertPEM), write("card-key.pem", card.KeyPEM)
	p12 := filepath.Join(dir, "card.p12")
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	nss := "sql:" + db
	run("certutil", "-N", "-d", nss, "--empty-password")
	run("openssl", "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:", "-name", name)
	run("pk12util", "-i", p12, "-d", nss, "-W", "")
	for i, ca := range trustedCAs {
		if block, _ := pem.Decode(ca); block == nil || block.Type != "CERTIFICATE" {
			t.Fatalf("trusted CA %d is not a PEM certificate", i)
		}
		// C,,: a CA trusted to issue server certificates, nothing else.
		run("certutil", "-A", "-d", nss, "-n", "hatoba test server CA "+string(rune('A'+i)), "-t", "C,,", "-i", write("server-ca.pem", ca))
	}
	return home
}

// AutoSelectProfile makes a Chromium profile (a user data directory) that
// presents a client certificate to origin without asking, as the
// AutoSelectCertificateForUrls policy would, but for this profile only: the
// policy's content setting ("auto_select_certificate") is written into the
// profile's Preferences. Chromium 156 has no --auto-ssl-client-auth switch
// any more, and the policy itself would need /etc/chromium/policies. The
// empty filter selects any certificate; an NSSHome holds just the one card.
func AutoSelectProfile(t testing.TB, origin string) string {
	t.Helper()
	dir := t.TempDir()
	prefs := map[string]any{"profile": map[string]any{"content_settings": map[string]any{"exceptions": map[string]any{
		"auto_select_certificate": map[string]any{
			origin + ",*": map[string]any{"last_modified": "13370000000000000", "setting": map[string]any{"filters": []any{map[string]any{}}}},
		},
	}}}}
	b, err := json.Marshal(prefs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
