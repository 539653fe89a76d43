package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

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

// TestBrowserRequestsAnEnvironment fills in the request form in a real
// browser, submits it, lands on the new environment's page, and sees
// live.js follow the environment's progress without a reload.
func TestBrowserRequestsAnEnvironment(t *testing.T) {
	t.Parallel()
	ctx := browsertest.NewTab(t, 1280, 800)
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
	browsertest.WaitFor(t, ctx, "the live note", `!document.querySelector("[data-live-note]").hidden`)
	bg := context.Background()
	h.move(t, id, env.Approved, env.Provisioning, "")
	if err := h.api.Envs.StartStep(bg, h.api.DB, id, vending.StepCreateAccount); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "the provisioning badge",
		`document.querySelector('.env__state [data-live="state"]').textContent === "払い出し中"`)
	browsertest.WaitFor(t, ctx, "the running step",
		`document.querySelector('[data-step="create_account"] [data-live="step-state"]').textContent === "実行中"`)

	// Reaching a final state reloads the page, which then stops polling.
	for _, step := range vending.StepNames() {
		if err := h.api.Envs.FinishStep(bg, h.api.DB, id, step); err != nil {
			t.Fatal(err)
		}
	}
	h.move(t, id, env.Provisioning, env.Ready, "")
	browsertest.WaitFor(t, ctx, "the ready page",
		`document.querySelector('.env__state [data-live="state"]').textContent === "利用可能" && !document.querySelector("[data-live-note]")`)
}
