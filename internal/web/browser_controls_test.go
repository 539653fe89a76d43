package web

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
)

// TestBrowserOperatorPromotesAnAssignment: a central operator in a real
// Chromium opens the assignments, reviews the impact of enforcing one
// (the environment and resource failing it now), types the assignment's
// id into the confirmation, enforces it and sees mode "enforce". (A wrong
// confirmation answers 422, which the tab counts as a console error:
// TestOperatorPromotesAfterReviewingImpact covers it.)
func TestBrowserOperatorPromotesAnAssignment(t *testing.T) {
	t.Parallel()
	ctx := browsertest.NewTab(t, 1280, 900)
	h := newHarness(t)
	e := h.postureEnv(t, sapporo, "browser")
	id := h.assignControl(t, "aws-iam-no-users", sapporo)
	withSession(t, ctx, h.srv.URL, h.as(t, authz.CentralOperator, ""))

	err := chromedp.Do(ctx,
		chromedp.Navigate(h.srv.URL+"/controls/assignments?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-assignment="`+id+`"] a[href$="/impact"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-assignment="`+id+`"] a[href$="/impact"]`)),
		chromedp.WaitVisible(chromedp.ID("promote")),
	)
	if err != nil {
		t.Fatalf("open the impact review: %v", err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("impact-table"))); err != nil || !strings.Contains(got, e.ID) || !strings.Contains(got, "user/alice") {
		t.Fatalf("impact table: %q %v", got, err)
	}

	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("confirm"), id),
		chromedp.Click(chromedp.CSS(`#promote button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("enforce: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the assignment shown enforcing",
		`location.pathname === "/controls/assignments" && document.querySelector('tr[data-assignment="`+id+`"] [data-mode="enforce"]') !== null && document.querySelector(".notice") !== null`)
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-assignment="`+id+`"] [data-mode]`))); err != nil || got != "Enforce" {
		t.Fatalf("mode shown: %q %v", got, err)
	}
	a, err := h.api.Assignments.Get(context.Background(), id)
	if err != nil || a.Mode != assignments.Enforce {
		t.Fatalf("the page shows it enforcing, the service says %s (%v)", a.Mode, err)
	}
}
