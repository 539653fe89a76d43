package web

import (
	"context"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// TestBrowserSovereigntyNational: the national view with everything it
// can draw — the prefecture map, the concentration's trend and an outage
// on the map — passes axe in both languages at a phone's width, speaks
// only Japanese in Japanese, and every control of its forms is reached by
// Tab with its focus ring shown. (The crawl visits /sovereignty without
// an outage; this visits it with one.)
func TestBrowserSovereigntyNational(t *testing.T) {
	t.Parallel()
	axe := browsertest.AxeScript(t)
	h := newHarness(t)
	ctx := context.Background()
	e := h.request(t, sapporo, "住民記録システム", env.Level3)
	if _, err := h.api.Sovereignty.Assess(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.api.Sovereignty.RecordConcentration(ctx); err != nil {
		t.Fatal(err)
	}
	tab := browsertest.NewTab(t, 320, 720)
	withSession(t, tab, h.srv.URL, h.as(t, authz.CentralOperator, ""))
	for _, addr := range []string{"/sovereignty?provider=sim&lang=ja", "/sovereignty?provider=sim&lang=en", "/sovereignty?measure=below&lang=ja"} {
		if err := chromedp.Do(tab, chromedp.Navigate(h.srv.URL+addr), chromedp.WaitReady(chromedp.ID("sovn-outage-form"))); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		for _, id := range []string{"sovn-map", "sovn-trend"} {
			if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#`+id+`").length`)); err != nil || n != 1 {
				t.Fatalf("%s: #%s %d times (%v)", addr, id, n, err)
			}
		}
		vs, err := browsertest.Axe(tab, axe)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		for _, v := range vs {
			t.Errorf("%s at 320 px: %s", addr, v)
		}
	}

	wide := browsertest.NewTab(t, 1280, 900)
	withSession(t, wide, h.srv.URL, h.as(t, authz.CentralOperator, ""))
	if err := chromedp.Do(wide, chromedp.Navigate(h.srv.URL+"/sovereignty?provider=sim&lang=ja"), chromedp.WaitReady(chromedp.ID("sovn-outage-map"))); err != nil {
		t.Fatal(err)
	}
	found, err := chromedp.Run(wide, chromedp.Evaluate[[]string](englishSentences))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range slices.Compact(found) {
		t.Errorf("/sovereignty?provider=sim: English: %s", f)
	}
	want, err := chromedp.Run(wide, chromedp.Evaluate[[]string](formControls))
	if err != nil || len(want) < 5 {
		t.Fatalf("form controls: %v %v", want, err)
	}
	reached := map[string]bool{}
	for range 400 {
		if err := chromedp.Do(wide, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		stop, err := chromedp.Run(wide, chromedp.Evaluate[tabStop](focusedNow))
		if err != nil {
			t.Fatal(err)
		}
		if stop.Key == "body" || stop.Again {
			break
		}
		if !stop.Visible {
			t.Errorf("%s has the focus but shows no focus ring", stop.Key)
		}
		reached[stop.Key] = true
	}
	for _, w := range want {
		if !reached[w] {
			t.Errorf("Tab never reaches %s", w)
		}
	}
}
