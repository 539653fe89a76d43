package mfa_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// The console's policy: webauthn.js must work without inline script.
const testCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

var testPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{.CSRF}}">
<title>security keys</title>
<script src="/static/webauthn.js?v={{.Version}}" defer></script>
</head><body>
<form id="register" data-webauthn="register" data-webauthn-begin="/keys/register/begin" data-webauthn-finish="/keys/register/finish">
  <label>Name <input id="key-name" data-webauthn-name value="virtual key"></label>
  <button type="submit">Add a security key</button>
  <p role="alert" id="register-alert" hidden></p>
</form>
<form id="assert" data-webauthn="assert" data-webauthn-begin="/keys/assert/begin" data-webauthn-finish="/keys/assert/finish"
      data-webauthn-alert="assert-alert" data-webauthn-redirect="/done?what=fallback">
  <button type="submit">Use my security key</button>
</form>
<p role="alert" id="assert-alert" hidden></p>
</body></html>`))

// testConsole is the least a console needs around the Service: a page,
// the script, begin and finish routes, a CSRF check and problem replies.
type testConsole struct {
	svc    *mfa.Service
	person mfa.Person
	csrf   string
}

func (c *testConsole) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", testCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = testPage.Execute(w, map[string]string{"CSRF": c.csrf, "Version": mfa.ScriptVersion()})
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", testCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, `<!doctype html><title>done</title><p id="done">%s</p>`, template.HTMLEscapeString(r.URL.Query().Get("what")))
	})
	mux.Handle("GET /static/webauthn.js", mfa.ScriptHandler())
	mux.HandleFunc("POST /keys/register/begin", c.guard(func(w http.ResponseWriter, r *http.Request) error {
		id, opts, err := c.svc.BeginRegistration(r.Context(), c.person)
		if err != nil {
			return err
		}
		return writeJSON(w, mfa.BeginReply{Ceremony: id, Options: opts})
	}))
	mux.HandleFunc("POST /keys/register/finish", c.guard(func(w http.ResponseWriter, r *http.Request) error {
		req, err := mfa.ReadFinishRequest(r.Body)
		if err != nil {
			return err
		}
		if _, err := c.svc.FinishRegistration(r.Context(), c.person, req.Ceremony, req.Credential, req.Name, nil); err != nil {
			return err
		}
		return writeJSON(w, mfa.FinishReply{Redirect: "/done?what=registered"})
	}))
	mux.HandleFunc("POST /keys/assert/begin", c.guard(func(w http.ResponseWriter, r *http.Request) error {
		id, opts, err := c.svc.BeginAssertion(r.Context(), c.person)
		if err != nil {
			return err
		}
		return writeJSON(w, mfa.BeginReply{Ceremony: id, Options: opts})
	}))
	mux.HandleFunc("POST /keys/assert/finish", c.guard(func(w http.ResponseWriter, r *http.Request) error {
		req, err := mfa.ReadFinishRequest(r.Body)
		if err != nil {
			return err
		}
		if _, err := c.svc.FinishAssertion(r.Context(), c.person, req.Ceremony, req.Credential, nil); err != nil {
			return err
		}
		// No redirect named: the form's data-webauthn-redirect applies.
		return writeJSON(w, mfa.FinishReply{})
	}))
	return mux
}

// guard checks the CSRF header and turns errors into problem replies.
func (c *testConsole) guard(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fault.Forbiddenf("the form's CSRF token is missing or wrong; reload the page")
		if r.Header.Get("X-CSRF-Token") == c.csrf {
			err = h(w, r)
		}
		if err == nil {
			return
		}
		status := map[fault.Kind]int{fault.Invalid: 422, fault.NotFound: 404, fault.Conflict: 409, fault.Forbidden: 403}[fault.KindOf(err)]
		detail := "internal error"
		if fe, ok := fault.As(err); ok && status != 0 {
			detail = fe.Message
		} else {
			status = 500
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
	}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// TestBrowserRegistersAndAsserts drives webauthn.js in headless Chromium
// against a DevTools virtual authenticator: the whole path a person takes,
// with the browser's own WebAuthn implementation checking the options and
// the Service checking the browser's answers.
func TestBrowserRegistersAndAsserts(t *testing.T) {
	t.Parallel()
	browser := browsertest.Path(t)
	db := storetest.Open(t, store.SQLite)

	// WebAuthn treats http://localhost as a secure context, and "localhost"
	// is a valid RP ID where 127.0.0.1 is not.
	srv := httptest.NewUnstartedServer(nil)
	origin := fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)
	cfg, err := mfa.ConfigFor(origin, "hatoba browser test")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mfa.New(db, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, svc: svc, clock: &clock{t: time.Now().UTC()}}
	con := &testConsole{svc: svc, person: h.person("browser-person"), csrf: randomToken(t)}
	srv.Config.Handler = con.routes()
	srv.Start()
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		// Chromium's sandbox needs kernel features containers and root
		// usually lack; the page is the test's own.
		chromedp.NoSandbox,
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	// Start the browser before the deadline: a timeout on the first Run's
	// context would bound the browser's whole life, not the steps.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// A ceremony that waits for a touch never comes back: the deadline
	// turns a hang into a failure.
	ctx, cancel := context.WithTimeout(tabCtx, 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			// Failed requests log errors by design (the first click below);
			// exceptions and refused scripts are defects.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	defer func() {
		cancel()
		<-consoleDone
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	}()

	err = chromedp.Do(ctx, chromedp.Navigate(origin+"/"))
	var authenticator cdpwebauthn.AuthenticatorID
	if err == nil {
		authenticator, err = browsertest.AddAuthenticator(ctx)
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("assert")))
	}
	if err != nil {
		t.Fatalf("open the page with a virtual authenticator: %v", err)
	}

	// Before any key is registered, the server's refusal reaches the page's
	// alert as the person-readable detail.
	alert, err := runText(ctx,
		chromedp.Click(chromedp.CSS(`#assert button`)),
		chromedp.WaitVisible(chromedp.ID("assert-alert")),
	)("assert-alert")
	if err != nil {
		t.Fatalf("assert without a key: %v", err)
	}
	if !strings.Contains(alert, "no security key registered") {
		t.Fatalf("alert = %q, want the server's detail", alert)
	}

	// Register.
	done, err := runText(ctx,
		chromedp.Click(chromedp.CSS(`#register button`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	)("done")
	if err != nil {
		t.Fatalf("register: %v (page alert: %s)", err, pageAlert(tabCtx))
	}
	if done != "registered" {
		t.Fatalf("after registering the page says %q", done)
	}
	creds, err := svc.Credentials(context.Background(), con.person.ID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials after registering = %+v, %v", creds, err)
	}
	registered := creds[0]
	if registered.Name != "virtual key" || registered.RPID != "localhost" || registered.LastUsedAt != nil {
		t.Fatalf("registered %+v", registered)
	}

	// Assert.
	done, err = runText(ctx,
		chromedp.Navigate(origin+"/"),
		chromedp.WaitVisible(chromedp.ID("assert")),
		chromedp.Click(chromedp.CSS(`#assert button`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	)("done")
	if err != nil {
		t.Fatalf("assert: %v (page alert: %s)", err, pageAlert(tabCtx))
	}
	if done != "fallback" {
		t.Fatalf("after asserting the page says %q, want the form's fallback redirect", done)
	}
	creds, err = svc.Credentials(context.Background(), con.person.ID)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials after asserting = %+v, %v", creds, err)
	}
	used := creds[0]
	if used.ID != registered.ID || used.SignCount <= registered.SignCount || used.LastUsedAt == nil || used.CloneWarning {
		t.Fatalf("after the assertion stored %+v; registered with sign count %d", used, registered.SignCount)
	}

	t.Logf("sign count %d at registration, %d after the assertion", registered.SignCount, used.SignCount)

	// The virtual authenticator holds the same credential and counter.
	keys, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*cdpwebauthn.Credential, error) {
		res, err := cdp.Call(ctx, tg, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: authenticator})
		return res.Credentials, err
	})
	if err != nil {
		t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	if len(keys) != 1 || base64.RawURLEncoding.EncodeToString(keys[0].CredentialID) != used.ID || uint32(keys[0].SignCount) != used.SignCount {
		t.Fatalf("authenticator holds %+v; the database has %s with count %d", keys, used.ID, used.SignCount)
	}
}

// runText runs the steps, then returns a func reading an element's text.
func runText(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) func(id string) (string, error) {
	return func(id string) (string, error) {
		if err := chromedp.Do(ctx, steps...); err != nil {
			return "", err
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		return strings.TrimSpace(text), err
	}
}

// pageAlert reads the page's alerts, to explain a failure.
func pageAlert(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('[role=alert]')).map(e => e.textContent).join(" | ")`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return text
}

func randomToken(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
