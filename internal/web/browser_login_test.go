package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
)

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
	key, err := th.pki.EmptySubject.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	home := browsertest.NSSHome(t, browsertest.Card{CertPEM: th.pki.EmptySubject.CertPEM(), KeyPEM: key}, certPEM(th.serverCA))
	ctx := browsertest.NewTab(t, 1280, 900,
		chromedp.Env("HOME="+home),
		chromedp.UserDataDir(browsertest.AutoSelectProfile(t, th.origin)),
	)
	person, token := th.invite(t, authz.TenantAdmin, "lg-011002", "札幌 花子")

	if _, err := browsertest.AddAuthenticator(ctx); err != nil {
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
	err = chromedp.Do(ctx,
		chromedp.Navigate(th.origin+"/invitations/"+token+"?lang=ja"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if err != nil {
		t.Fatalf("open the invitation: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the register button", `!!document.querySelector('form[action^="/invitations/"] button')`)
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
	browsertest.WaitFor(t, ctx, "the dashboard in the person's name",
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
	browsertest.WaitFor(t, ctx, "the sign-in page", `location.pathname === "/login" && document.querySelector(".notice") !== null`)
	if r := text(".notice"); !strings.Contains(r, "ログアウトしました") {
		t.Fatalf("after signing out the page says %q", r)
	}

	// Sign in again with the card, and confirm with the key.
	browsertest.WaitFor(t, ctx, "the sign-in button", `!!document.querySelector('form[action="/login"] button')`)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.ID("assert")),
		chromedp.Click(chromedp.CSS(`#assert button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("sign in again: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the dashboard again",
		`location.pathname === "/" && document.querySelector(".site-header__user").textContent.includes("札幌 花子")`)
	creds, err = th.mfa.Credentials(context.Background(), person.ID)
	if err != nil || len(creds) != 1 || creds[0].LastUsedAt == nil {
		t.Fatalf("keys after asserting: %+v, %v", creds, err)
	}
}
