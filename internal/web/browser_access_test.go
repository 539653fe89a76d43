package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
)

// TestBrowserTenantAdministrator is a tenant administrator's day in a real
// Chromium, with the card in the reader and a security key: a central
// operator's break-glass request waits on the dashboard; the administrator
// opens it, approves with a note, touches the key on the confirmation page
// and lands back on the request with the approval recorded. Then they give
// a colleague access to an environment and watch live.js reload the page
// when the provider has applied it.
func TestBrowserTenantAdministrator(t *testing.T) {
	t.Parallel()
	th := newTLSHarness(t)
	ctx0 := context.Background()
	key, err := th.pki.EmptySubject.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	home := browsertest.NSSHome(t, browsertest.Card{CertPEM: th.pki.EmptySubject.CertPEM(), KeyPEM: key}, certPEM(th.serverCA))
	ctx := browsertest.NewTab(t, 1280, 900, chromedp.Env("HOME="+home), chromedp.UserDataDir(browsertest.AutoSelectProfile(t, th.origin)))
	if _, err := browsertest.AddAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}

	admin, token := th.invite(t, authz.TenantAdmin, "lg-011002", "札幌 花子")
	operator, _ := th.invite(t, authz.CentralOperator, "", "中央 運用者")
	req, err := th.api.BreakGlass.File(ctx0, authz.Principal{PersonID: operator.ID, Role: authz.CentralOperator}, "lg-011002",
		"税務システムの払い出し失敗を調査するため (INC-0042)", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := th.readyEnv(t, "lg-011002", "税務システム")
	colleague := th.named(t, authz.TenantMember, "lg-011002", "札幌 次郎", true).person

	// The first sign-in: the invitation, the card, the key.
	err = chromedp.Do(ctx,
		chromedp.Navigate(th.origin+"/invitations/"+token+"?lang=ja"),
		chromedp.WaitVisible(chromedp.CSS(`form[action^="/invitations/"] button`)),
		chromedp.Click(chromedp.CSS(`form[action^="/invitations/"] button`)),
		chromedp.WaitVisible(chromedp.ID("enrol")),
		chromedp.Click(chromedp.CSS(`#enrol button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("register the card and enrol a key: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the dashboard with the waiting request",
		`location.pathname === "/" && document.querySelector(".callout--alert") !== null && document.querySelector(".callout--alert").textContent.includes("INC-0042")`)

	// The banner leads to the request; approve with a note and the key.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.callout--alert a[href="/access/`+req.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("approve-note")),
		chromedp.SendKeys(chromedp.ID("approve-note"), "調査のみ"),
		chromedp.Click(chromedp.CSS(`form[action="/access/`+req.ID+`/approve"] button`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	if err != nil {
		t.Fatalf("open the request and approve: %v", err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(got, "調査のみ") || !strings.Contains(got, "INC-0042") {
		t.Fatalf("the confirmation page does not show what is approved (%v):\n%s", err, got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#confirm button[type="submit"]`))); err != nil {
		t.Fatalf("confirm with the key: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the request with the approval recorded",
		`location.pathname === "/access/`+req.ID+`" && document.querySelector(".notice") !== null && document.querySelector(".notice").textContent.includes("承認を記録しました")`)
	got := th.accessRequest(t, req.ID)
	if got.TenantApproverID != admin.ID || got.State != breakglass.Pending {
		t.Fatalf("after approving in the browser: %+v", got)
	}

	// Give a colleague access; live.js reloads once the worker applied it.
	err = chromedp.Do(ctx,
		chromedp.Navigate(th.origin+envAccessPath(e.ID)),
		chromedp.WaitVisible(chromedp.ID("person_id")),
		chromedp.SetValue(chromedp.ID("person_id"), colleague.ID),
		chromedp.Click(chromedp.ID("permission_set-administrator")),
		chromedp.Click(chromedp.CSS(`.request-form button[type="submit"]`)),
	)
	if err != nil {
		t.Fatalf("give access: %v", err)
	}
	browsertest.WaitFor(t, ctx, "the pending row and the live note",
		`document.querySelector('tr[data-person="`+colleague.ID+`"] .badge--assign-pending') !== null && !document.querySelector("[data-live-note]").hidden`)
	a, found := th.assignment(t, e.ID, colleague.ID)
	if !found || a.PermissionSet != envaccess.Administrator {
		t.Fatalf("assignment: %+v %v", a, found)
	}
	if ok, err := th.api.EnvAccess.Settle(ctx0, audit.Acting{Actor: "system"}, a); err != nil || !ok {
		t.Fatalf("settle: %v %v", ok, err)
	}
	browsertest.WaitFor(t, ctx, "the applied row after live.js reloaded",
		`document.querySelector('tr[data-person="`+colleague.ID+`"] .badge--assign-applied') !== null && document.querySelector("[data-live-access]") === null`)
}
