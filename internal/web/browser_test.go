package web

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// newTab starts a headless browser for the test and returns a tab of
// width×height. Everything the page writes to the console as an error (an
// exception, a refused script, a failed request) fails the test at cleanup.
func newTab(t *testing.T, width, height int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browsertest.Path(t)),
		chromedp.WindowSize(width, height),
		// Chromium's sandbox needs kernel features containers and root
		// usually lack; the pages are the test's own.
		chromedp.NoSandbox,
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)

	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.URL+": "+m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		<-done
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	return ctx
}

// withSession gives the tab b's session cookie, as signing in with a card
// would have (the plain-HTTP harness has no card; TestBrowserSignsIn takes
// the real path over TLS).
func withSession(t *testing.T, ctx context.Context, baseURL string, b *browser) {
	t.Helper()
	yes := true
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: api.SessionCookie, Value: b.session,
		URL: baseURL + "/", Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteStrict})
	if err != nil {
		t.Fatalf("set the session cookie: %v", err)
	}
}

// waitFor polls a JavaScript condition on the page until it holds. It
// evaluates again after an error, because live.js may be reloading the page
// just then.
func waitFor(t *testing.T, ctx context.Context, what, condition string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](condition))
		if err == nil && ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	t.Fatalf("waiting for %s: not true after 15s (last error: %v)\npage:\n%s", what, lastErr, html)
}

// TestBrowserRequestsAnEnvironment fills in the request form in a real
// browser, submits it, lands on the new environment's page, and sees
// live.js follow the environment's progress without a reload.
func TestBrowserRequestsAnEnvironment(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, 1280, 800)
	h := newHarness(t)
	withSession(t, ctx, h.srv.URL, h.browser(t))

	// Pick the organisation with the picker, by its reading in hiragana.
	err := chromedp.Do(ctx,
		chromedp.Navigate(h.srv.URL+"/envs/new?lang=ja"),
		chromedp.WaitVisible(chromedp.ID("org_q")),
		chromedp.SetValue(chromedp.ID("org_q"), "さっぽろ"),
		chromedp.Click(chromedp.CSS(`.picker button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/envs/new?org_id=lg-011002"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/envs/new?org_id=lg-011002"]`)),
		chromedp.WaitVisible(chromedp.CSS(".selected-org")),
	)
	if err != nil {
		t.Fatalf("picking the organisation: %v", err)
	}
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("org_id"))); err != nil || v != "lg-011002" {
		t.Fatalf("org_id = %q, %v; want lg-011002", v, err)
	}

	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("system_name"), "juminhyo"),
		chromedp.Click(chromedp.ID("purpose-production")),
		chromedp.Click(chromedp.ID("classification-level2")),
		chromedp.Click(chromedp.CSS(`.request-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("[data-live-env]")),
	)
	if err != nil {
		t.Fatalf("submitting the form: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(loc, h.srv.URL+"/envs/")
	if !ok || !env.ValidID(id) {
		t.Fatalf("landed on %s, want /envs/env-…", loc)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.env__state [data-live="state"]`)))
	if err != nil || state != "承認済み" {
		t.Fatalf("state shown %q, %v; want 承認済み (approved)", state, err)
	}
	if n := h.countEnvs(t); n != 1 {
		t.Fatalf("%d environments, want 1", n)
	}

	// Play the workers' part: live.js must show it without a reload.
	waitFor(t, ctx, "the live note", `!document.querySelector("[data-live-note]").hidden`)
	bg := context.Background()
	h.move(t, id, env.Approved, env.Provisioning, "")
	if err := h.api.Envs.StartStep(bg, h.api.DB, id, vending.StepCreateAccount); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the provisioning badge",
		`document.querySelector('.env__state [data-live="state"]').textContent === "払い出し中"`)
	waitFor(t, ctx, "the running step",
		`document.querySelector('[data-step="create_account"] [data-live="step-state"]').textContent === "実行中"`)

	// Reaching a final state reloads the page, which then stops polling.
	for _, step := range vending.StepNames() {
		if err := h.api.Envs.FinishStep(bg, h.api.DB, id, step); err != nil {
			t.Fatal(err)
		}
	}
	h.move(t, id, env.Provisioning, env.Ready, "")
	waitFor(t, ctx, "the ready page",
		`document.querySelector('.env__state [data-live="state"]').textContent === "利用可能" && !document.querySelector("[data-live-note]")`)
}
