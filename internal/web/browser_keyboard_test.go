package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hatoba-cloud/hatoba/internal/browsertest"
)

// tabStop is what the keyboard reached: the element, and whether it
// showed a focus ring.
type tabStop struct {
	Key     string `json:"key"`
	Visible bool   `json:"visible"`
	// Again: the walk came back round to an element it reached before.
	Again bool `json:"again"`
	Date  bool `json:"date"`
}

// focusedNow names the focused element and says whether its focus ring is
// drawn (an outline or the halo).
const focusedNow = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body) return {key: "body", visible: true};
	const st = getComputedStyle(el);
	const ring = (st.outlineStyle !== "none" && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== "none";
	// A date field takes Tab through its parts: the same element again
	// is not a walk come round.
	const same = window.tabLast === el;
	window.tabLast = el;
	const again = !same && el.dataset.tabbed === "1";
	el.dataset.tabbed = "1";
	return {key: el.tagName + "#" + (el.id || el.name || el.getAttribute("href") || el.textContent.trim().slice(0, 30)), visible: ring, again: again, date: /^(date|datetime-local|time)$/.test(el.type)};
})()`

// formControls names every visible, enabled control of the page's forms.
const formControls = `[...document.querySelectorAll("main form input, main form select, main form textarea, main form button")]
	.filter(el => el.type !== "hidden" && !el.disabled && el.getClientRects().length > 0 && !el.closest("details:not([open])"))
	.filter((el, i, all) => el.type !== "radio" || all.findIndex(o => o.type === "radio" && o.name === el.name) === i)
	.map(el => el.tagName + "#" + (el.id || el.name || el.getAttribute("href") || el.textContent.trim().slice(0, 30)))`

// TestBrowserKeyboard walks every form of every page the crawl finds with
// the Tab key alone: each control is reached (a group of radio buttons
// once), each shows its focus ring; and after a refused request the
// error summary has the focus, the title counts the errors, and Enter on
// a summary link lands on its field.
func TestBrowserKeyboard(t *testing.T) {
	t.Parallel()
	h, roles := crawlSite(t)
	for _, role := range roles[:3] { // operator, auditor, tenant administrator
		ctx := browsertest.NewTab(t, 1280, 900)
		withSession(t, ctx, h.srv.URL, role.b)
		forms := 0
		for _, p := range crawl(t, role.b, role.start...) {
			if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+p+"?lang=ja"), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
				t.Fatal(err)
			}
			want, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](formControls))
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				continue
			}
			forms++
			reached := map[string]bool{}
			for range 400 {
				if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
					t.Fatal(err)
				}
				stop, err := chromedp.Run(ctx, chromedp.Evaluate[tabStop](focusedNow))
				if err != nil {
					t.Fatal(err)
				}
				if stop.Key == "body" || stop.Again {
					break // back round to the start
				}
				// A date field's parts hold the focus and headless Chromium
				// matches no :focus on the field itself then; console.css
				// draws its ring on :focus and :focus-within.
				if !stop.Visible && !stop.Date {
					t.Errorf("%s %s: %s has the focus but shows no focus ring", role.name, p, stop.Key)
				}
				reached[stop.Key] = true
			}
			for _, w := range want {
				if !reached[w] {
					t.Errorf("%s %s: Tab never reaches %s", role.name, p, w)
				}
			}
		}
		if forms == 0 {
			t.Errorf("%s: no page with a form", role.name)
		}
	}

	// A refused request, by keyboard: the summary takes the focus, the
	// title counts the errors, Enter on a link lands on the field.
	ctx := browsertest.NewTab(t, 1280, 900)
	browsertest.ExpectConsoleError(ctx, "status of 422")
	withSession(t, ctx, h.srv.URL, roles[0].b)
	err := chromedp.Do(ctx,
		chromedp.Navigate(h.srv.URL+"/envs/new?lang=ja&org_id="+sapporo),
		chromedp.WaitVisible(chromedp.ID("system_name")),
		chromedp.Focus(chromedp.ID("system_name")),
		chromedp.KeyEvent(kb.Enter), // submits the form, empty
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "the error summary to have the focus", `document.activeElement.matches(".error-summary")`)
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || !strings.HasPrefix(title, "エラー 3 件") {
		t.Errorf("title %q (%v), want it to start with エラー 3 件", title, err)
	}
	for _, field := range []string{"system_name", "purpose"} {
		link := `document.querySelector('.error-summary a[href="#` + field + `"]')`
		browsertest.WaitFor(t, ctx, "the focus on the summary's link to "+field, `(`+link+`.focus(), document.activeElement === `+link+`)`)
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
			t.Fatal(err)
		}
		browsertest.WaitFor(t, ctx, "the focus on "+field,
			`document.activeElement.id === "`+field+`" || document.activeElement.name === "`+field+`"`)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/envs") && !strings.Contains(loc, "/envs#") {
		t.Errorf("Enter on a summary link went to %s, not to the field", loc)
	}
}
