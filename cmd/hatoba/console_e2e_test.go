package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/browsertest"
)

// TestConsoleVendsAnEnvironment is the user's first five minutes in a real
// browser against the real binary: request an environment in the console
// and watch it become ready on the embedded simulated cloud, every step
// done, without reloading the page by hand.
func TestConsoleVendsAnEnvironment(t *testing.T) {
	t.Parallel()
	browser := browsertest.Path(t)
	dir := t.TempDir()
	srv := start(t, "serve", "--database-url", filepath.Join(dir, "hatoba.db"), "--listen", "127.0.0.1:0", "--log-level", "warn",
		"--set", "simcloud.db_path="+filepath.Join(dir, "sim.db"), "--set", "simcloud.latency=1s",
		"--set", "providers.sim.poll_interval=100ms", "--set", "vending.fetch_poll_interval=100ms")
	admin := createOrg(t, filepath.Join(dir, "hatoba.db"), srv.url)
	_ = admin

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1280, 800),
		chromedp.NoSandbox) // the sandbox needs kernel features containers lack; the pages are our own
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.url+"/envs/new?lang=en&org_id=nat-digital"),
		chromedp.WaitVisible(chromedp.ID("system_name")),
		chromedp.SendKeys(chromedp.ID("system_name"), "e-procurement"),
		chromedp.Click(chromedp.ID("purpose-staging")),
		chromedp.Click(chromedp.ID("classification-level2")),
		chromedp.Click(chromedp.CSS(`.request-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("[data-live-env]")),
	)
	if err != nil {
		t.Fatalf("requesting through the form: %v\nserver log:\n%s", err, srv.logOutput())
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutPrefix(loc, srv.url+"/envs/")
	if !ok || !strings.HasPrefix(id, "env-") {
		t.Fatalf("landed on %s, want the new environment's page", loc)
	}

	// live.js follows the vending and reloads the page once it settles.
	const settled = `(() => { const e = document.querySelector("[data-live-env]"); return e ? e.dataset.state : ""; })()`
	deadline := time.Now().Add(90 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](settled)); err == nil && (s == "ready" || s == "failed") {
			state = s
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	badge, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.env__state [data-live="state"]`)))
	if err != nil || state != "ready" || badge != "Ready" {
		t.Fatalf("after 90s the page shows state %q badge %q (%v); want ready\nserver log:\n%s", state, badge, err, srv.logOutput())
	}
	done, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".step.step--done").length`))
	if err != nil || done != 8 {
		t.Fatalf("%d steps shown done (%v), want all 8", done, err)
	}
	var envView envSummary
	if call(t, "GET", srv.url+"/api/v1/environments/"+id, nil, &envView) != 200 || envView.State != "ready" || envView.AccountID == "" {
		t.Fatalf("the API says %+v", envView)
	}
}
