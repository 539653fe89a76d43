package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

var invitationLink = regexp.MustCompile(`https://localhost:\d+/invitations/\S+`)

// TestConsoleVendsAnEnvironment is a tenant administrator's first five
// minutes, in a real Chromium against the real binary: `hatoba serve` over
// HTTPS with a test PKI, the organisation created through the API, the
// administrator invited with `hatoba person invite`; in the browser the
// invitation link with the card in the reader, registering the card,
// enrolling a security key, requesting an environment through the form,
// watching it become ready on the embedded simulated cloud — the AWS
// driver, River and the workers included — and finding the request in the
// audit view, verified against the log's signed checkpoint.
func TestConsoleVendsAnEnvironment(t *testing.T) {
	t.Parallel()
	browsertest.Path(t)
	started := time.Now()
	dir := t.TempDir()
	cardPKI, files := pkitest.New(t, pkitest.Options{})
	server := browsertest.NewServerPKI(t)
	certFile, keyFile := server.WriteFiles(t, dir)

	// WebAuthn needs the name localhost, so the public URL names the port
	// before the server takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	base := "https://localhost:" + port
	dbPath := filepath.Join(dir, "hatoba.db")
	// Everything the server writes stays in the test's directory.
	settings := []string{"--database-url", dbPath, "--set", "identity.public_url=" + base}
	srv := start(t, append([]string{"serve", "--listen", "127.0.0.1:" + port, "--log-level", "warn",
		"--set", "simcloud.db_path=" + filepath.Join(dir, "sim.db"), "--set", "simcloud.latency=300ms",
		"--set", "providers.sim.poll_interval=100ms", "--set", "vending.fetch_poll_interval=100ms",
		"--set", "identity.client_ca_files=" + files.CAs, "--set", "identity.crl_files=" + files.CRLs,
		"--set", "identity.tls_cert_file=" + certFile, "--set", "identity.tls_key_file=" + keyFile,
		"--set", "identity.tls_dir=" + filepath.Join(dir, "tls"), "--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key")},
		settings...)...)
	adminToken := createOrg(t, dbPath, srv.url)

	// The administrator is invited on the server's machine, as the first
	// people of a tenant are.
	invite := exec.Command(hatobaBinary(t), append([]string{"person", "invite", "--role", "tenant-admin", "--org", "nat-digital",
		"--name", "デジタル 太郎", "--email", "taro@digital.example.go.jp"}, settings...)...)
	invite.Env = append(os.Environ(), "HATOBA_CONFIG=")
	out, err := invite.CombinedOutput()
	link := invitationLink.FindString(string(out))
	if err != nil || link == "" {
		t.Fatalf("hatoba person invite: %v\n%s", err, out)
	}

	// The card: a My Number–like certificate in the browser's NSS
	// database, presented without a dialog; the server's CA trusted.
	cardKey, err := cardPKI.EmptySubject.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	home := browsertest.NSSHome(t, browsertest.Card{CertPEM: cardPKI.EmptySubject.CertPEM(), KeyPEM: cardKey}, server.CAPEM())
	ctx := browsertest.NewTab(t, 1280, 800, chromedp.Env("HOME="+home), chromedp.UserDataDir(browsertest.AutoSelectProfile(t, base)))
	if _, err := browsertest.AddAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nserver log:\n%s", append(args, srv.logOutput())...)
	}

	// The invitation link: register the card, enrol the key.
	err = chromedp.Do(ctx,
		chromedp.Navigate(link+"?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`form[action^="/invitations/"] button`)),
		chromedp.Click(chromedp.CSS(`form[action^="/invitations/"] button`)),
		chromedp.WaitVisible(chromedp.ID("enrol")),
		chromedp.SendKeys(chromedp.ID("key-name"), "virtual key"),
		chromedp.Click(chromedp.CSS(`#enrol button[type="submit"]`)),
	)
	if err != nil {
		fail("register the card and enrol a key: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the dashboard in the administrator's name",
		`location.pathname === "/" && document.querySelector(".site-header__user") !== null && document.querySelector(".site-header__user").textContent.includes("デジタル 太郎")`)

	// Request an environment through the form.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/envs/new?lang=en&org_id=nat-digital"),
		chromedp.WaitVisible(chromedp.ID("system_name")),
		chromedp.SendKeys(chromedp.ID("system_name"), "e-procurement"),
		chromedp.Click(chromedp.ID("purpose-staging")),
		chromedp.Click(chromedp.ID("classification-level2")),
		chromedp.Click(chromedp.CSS(`.request-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("[data-live-env]")),
	)
	if err != nil {
		fail("requesting through the form: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(loc, base+"/envs/")
	if !ok || !strings.HasPrefix(id, "env-") {
		fail("landed on %s, want the new environment's page", loc)
	}

	// live.js follows the vending and reloads the page once it settles.
	browsertest.WaitForWithin(t, ctx, 90*time.Second, "the environment to settle",
		`(() => { const e = document.querySelector("[data-live-env]"); return e !== null && (e.dataset.state === "ready" || e.dataset.state === "failed"); })()`)
	badge, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.env__state [data-live="state"]`)))
	if err != nil || badge != "Ready" {
		fail("the page shows %q (%v); want Ready", badge, err)
	}
	done, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".step.step--done").length`))
	if err != nil || done != 8 {
		fail("%d steps shown done (%v), want all 8", done, err)
	}
	var envView envSummary
	if callAs(t, adminToken, "GET", srv.url+"/api/v1/environments/"+id, nil, &envView) != 200 || envView.State != "ready" || envView.AccountID == "" {
		fail("the API says %+v", envView)
	}

	// The audit view shows the request, by name, verified against the
	// signed checkpoint (the integrator sequences entries every second).
	row := `document.querySelector('tr[data-action="env.requested"] a[href="/envs/` + id + `"]')`
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/audit?lang=en"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if err != nil {
		fail("open the audit view: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](row+` !== null`))
		if err == nil && found {
			break
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			fail("the audit view does not show the request of %s:\n%s", id, html)
		}
		time.Sleep(500 * time.Millisecond)
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
			fail("reload the audit view: %v", err)
		}
	}
	actor, err := chromedp.Run(ctx, chromedp.Evaluate[string](row+`.closest("tr").children[2].textContent`))
	if err != nil || !strings.Contains(actor, "デジタル 太郎") {
		fail("the request's entry names %q (%v), want the administrator", actor, err)
	}
	verdict, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".verify")))
	if err != nil || !strings.Contains(verdict, "verified against signed checkpoint") {
		fail("the verify indicator says %q (%v)", verdict, err)
	}
	if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(".verify--ok") !== null`)); !ok {
		fail("the verify indicator does not pass: %q", verdict)
	}
	// Nothing was written outside the test's directory.
	for _, stray := range []string{"hatoba-tls", "hatoba-audit.key"} {
		if _, err := os.Stat(stray); err == nil {
			t.Errorf("the test left %s in the working directory", stray)
		}
	}
	t.Logf("first five minutes in %s", time.Since(started).Round(100*time.Millisecond))
}
