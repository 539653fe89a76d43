package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/browsertest"
)

// TestBrowserKeyOwnerPullsTheKillSwitch: a key owner in a real Chromium
// opens the keys page, types the organisation's id into the kill
// switch's confirmation, pulls it, and sees the store shown as killed with
// the way back offered. (A wrong confirmation answers 422, which the
// harness's tab counts as a console error: TestKillSwitchNeedsTheExact-
// Confirmation covers it.)
//
// HATOBA_SCREENSHOT_DIR=/some/dir saves the page before and after.
func TestBrowserKeyOwnerPullsTheKillSwitch(t *testing.T) {
	t.Parallel()
	ctx := browsertest.NewTab(t, 1280, 900)
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	owner := h.keyOwner(t, sapporo)
	withSession(t, ctx, h.srv.URL, owner)
	shot := func(name string) {
		t.Helper()
		dir := os.Getenv("HATOBA_SCREENSHOT_DIR")
		if dir == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(h.srv.URL+"/keys?lang=ja"),
		chromedp.WaitVisible(chromedp.ID("kill")),
	)
	if err != nil {
		t.Fatalf("open the keys page: %v", err)
	}
	shot("keys-owner.png")
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#kill-state"))); err != nil || !strings.Contains(got, "稼働中") {
		t.Fatalf("kill switch state before: %q %v", got, err)
	}

	// The organisation's id pulls it.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("confirm"), sapporo),
		chromedp.Click(chromedp.CSS(`#kill button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("pull the kill switch: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the store shown as killed",
		`location.pathname === "/keys/`+sapporo+`" && document.querySelector('#kill-state[data-killed="true"]') !== null && document.querySelector("#revive") !== null && document.querySelector(".notice") !== null`)
	shot("keys-killed.png")
	if !h.killed(t, sapporo) {
		t.Fatal("the page shows the store killed, the service does not")
	}
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#kill-state"))); err != nil || !strings.Contains(got, "キルスイッチ作動中") {
		t.Fatalf("kill switch state after: %q %v", got, err)
	}
}
