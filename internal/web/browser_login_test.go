package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// nssHome makes a home directory whose NSS database (where Chromium on
// Linux keeps client certificates and locally trusted CAs) holds leaf, with
// its key, and trusts the test server's CA. Chromium started with HOME set
// to it presents leaf like a card in a reader.
func nssHome(t *testing.T, th *tlsHarness, leaf *pkitest.Leaf) string {
	t.Helper()
	for _, tool := range []string{"certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			// The browser test must run where Chromium does; these come
			// with it from scripts/install-test-deps.sh.
			browsertest.Path(t)
			t.Fatalf("%s is not installed (libnss3-tools, openssl: scripts/install-test-deps.sh): %v", tool, err)
		}
	}
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := write("card.pem", leaf.CertPEM()), write("card-key.pem", key)
	caFile := write("server-ca.pem", certPEM(th.serverCA))
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
	run("openssl", "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:", "-name", "hatoba test card")
	run("pk12util", "-i", p12, "-d", nss, "-W", "")
	// Trusting the server's CA spares the page a certificate error, which
	// would also keep WebAuthn away (Chromium offers it only to pages
	// with a valid certificate).
	run("certutil", "-A", "-d", nss, "-n", "hatoba test server CA", "-t", "C,,", "-i", caFile)
	return home
}

// autoSelectProfile makes a Chromium profile (a user data directory) that
// presents a client certificate to origin without asking, as the
// AutoSelectCertificateForUrls policy would, but for this profile only: the
// policy's content setting ("auto_select_certificate") is written into the
// profile's Preferences. The empty filter selects any certificate; the NSS
// database holds just the one card.
func autoSelectProfile(t *testing.T, origin string) string {
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

// addAuthenticator gives the tab a DevTools virtual security key.
func addAuthenticator(ctx context.Context) (cdpwebauthn.AuthenticatorID, error) {
	return chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdpwebauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return "", fmt.Errorf("WebAuthn.enable: %w", err)
		}
		res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol:            cdpwebauthn.AuthenticatorProtocolCtap2,
				Transport:           cdpwebauthn.AuthenticatorTransportUsb,
				HasResidentKey:      true,
				HasUserVerification: true,
				IsUserVerified:      true,
				// Explicitly: left false, every ceremony waits for a touch
				// that never comes.
				AutomaticPresenceSimulation: true,
			},
		})
		if err != nil {
			return "", fmt.Errorf("WebAuthn.addVirtualAuthenticator: %w", err)
		}
		return res.AuthenticatorID, nil
	})
}

// TestBrowserSignsIn is a person's first day and second sign-in in a real
// Chromium: the invitation link with the card in the reader, registering
// the card, enrolling a security key, the dashboard in their name; signing
// out; signing in with the card again and confirming with the key.
//
// The card is a test PKI's client certificate in an NSS database under a
// temporary HOME, and the profile's auto-select setting makes Chromium
// present it without the certificate dialog a person would answer
// (Chromium has no --auto-ssl-client-auth switch any more). The key is a
// DevTools virtual authenticator.
func TestBrowserSignsIn(t *testing.T) {
	t.Parallel()
	browsertest.Path(t)
	th := newTLSHarness(t)
	// The card's certificate is like the My Number Card's authentication
	// certificate: RSA 2048, no name in it, no extended key usage.
	home := nssHome(t, th, th.pki.EmptySubject)
	ctx := newTab(t, 1280, 900,
		chromedp.Env("HOME="+home),
		chromedp.UserDataDir(autoSelectProfile(t, th.origin)),
	)
	person, token := th.invite(t, authz.TenantAdmin, "lg-011002", "札幌 花子")

	if _, err := addAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	// The invitation link, with the card in the reader.
	err := chromedp.Do(ctx,
		chromedp.Navigate(th.origin+"/invitations/"+token+"?lang=ja"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if err != nil {
		t.Fatalf("open the invitation: %v", err)
	}
	waitFor(t, ctx, "the register button", `!!document.querySelector('form[action^="/invitations/"] button')`)
	if got := text("main"); !strings.Contains(got, "札幌 花子") || !strings.Contains(got, "名前なし") || !strings.Contains(got, "この証明書でログインできます") {
		t.Fatalf("the invitation page does not show the person and the card:\n%s", got)
	}

	// Register the card, then enrol the security key.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action^="/invitations/"] button`)),
		chromedp.WaitVisible(chromedp.ID("enrol")),
		chromedp.SendKeys(chromedp.ID("key-name"), "virtual key"),
		chromedp.Click(chromedp.CSS(`#enrol button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("register the card and enrol a key: %v", err)
	}
	waitFor(t, ctx, "the dashboard in the person's name",
		`location.pathname === "/" && document.querySelector(".site-header__user") !== null && document.querySelector(".site-header__user").textContent.includes("札幌 花子")`)
	creds, err := th.mfa.Credentials(context.Background(), person.ID)
	if err != nil || len(creds) != 1 || creds[0].Name != "virtual key" {
		t.Fatalf("keys after enrolling: %+v, %v", creds, err)
	}

	// Sign out.
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.site-header__signout button`)))
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	waitFor(t, ctx, "the sign-in page", `location.pathname === "/login" && document.querySelector(".notice") !== null`)
	if r := text(".notice"); !strings.Contains(r, "ログアウトしました") {
		t.Fatalf("after signing out the page says %q", r)
	}

	// Sign in again with the card, and confirm with the key.
	waitFor(t, ctx, "the sign-in button", `!!document.querySelector('form[action="/login"] button')`)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.ID("assert")),
		chromedp.Click(chromedp.CSS(`#assert button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("sign in again: %v", err)
	}
	waitFor(t, ctx, "the dashboard again",
		`location.pathname === "/" && document.querySelector(".site-header__user").textContent.includes("札幌 花子")`)
	creds, err = th.mfa.Credentials(context.Background(), person.ID)
	if err != nil || len(creds) != 1 || creds[0].LastUsedAt == nil {
		t.Fatalf("keys after asserting: %+v, %v", creds, err)
	}
}
