package web

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// TestScreenshot draws the console over an estate of environments in
// several prefectures (estate_test.go) and saves 1280×800 screenshots for
// the docs:
//
//	HATOBA_SCREENSHOT=docs/img/console.png go test -run TestScreenshot ./internal/web/
//
// writes the page of one environment mid-way through vending to that path
// and, beside it with "-map" before the extension, the dashboard's map of
// the prefectures (a taller shot: the map and the trends are below the
// fold). HATOBA_SCREENSHOT_ALL=1 adds every other page, for review.
func TestScreenshot(t *testing.T) {
	out := os.Getenv("HATOBA_SCREENSHOT")
	if out == "" {
		t.Skip("set HATOBA_SCREENSHOT=path/to/console.png to take the console's screenshots")
	}
	if !filepath.IsAbs(out) {
		// go test runs in the package directory; a relative path means the
		// repository root, where the command was typed.
		out = filepath.Join("..", "..", out)
	}
	ctx := browsertest.NewTab(t, 1280, 800)
	h := newHarness(t)
	me := h.named(t, authz.CentralOperator, "", "中央 運用子", true)
	h.grant(me.person.ID, "lg-131016", "lg-271004", "nat-digital", "lg-141003", "lg-011002")
	withSession(t, ctx, h.srv.URL, me)
	bg := context.Background()
	if _, err := h.api.Orgs.Import(bg, audit.Acting{Actor: "system"}, org.EmbeddedSources()...); err != nil {
		t.Fatalf("import the built-in organisations: %v", err)
	}

	estate := h.seedEstate(t)

	accounts := 0
	// progress runs the first done steps of an environment and starts the next.
	progress := func(id string, done int) {
		t.Helper()
		accounts++
		if err := h.api.Envs.SetAccount(bg, h.api.DB, id, fmt.Sprintf("%012d", 482901731100+accounts*7919)); err != nil {
			t.Fatal(err)
		}
		steps := vending.StepNames()
		for i, step := range steps[:min(done+1, len(steps))] {
			if err := h.api.Envs.StartStep(bg, h.api.DB, id, step); err != nil {
				t.Fatal(err)
			}
			if i < done {
				if err := h.api.Envs.FinishStep(bg, h.api.DB, id, step); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ask := func(orgID, system string, p env.Purpose, c env.Classification) env.Environment {
		t.Helper()
		en, _, err := h.api.Vending.Request(bg, env.Request{OrgID: orgID, SystemName: system, Purpose: p,
			Classification: c, Provider: "sim", RequestedBy: "tanaka@city.example.lg.jp"}, "")
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	ready := ask("lg-131016", "住民記録システム", env.Production, env.Level2)
	h.move(t, ready.ID, env.Approved, env.Provisioning, "")
	progress(ready.ID, len(vending.StepNames()))
	h.move(t, ready.ID, env.Provisioning, env.Ready, "")

	failed := ask("lg-271004", "介護保険システム", env.Staging, env.Level2)
	h.move(t, failed.ID, env.Approved, env.Provisioning, "")
	progress(failed.ID, 2)
	if err := h.api.Envs.StepError(bg, h.api.DB, failed.ID, vending.StepMoveToUnit, "permanent",
		"AccessDeniedException: the caller is not allowed to move accounts", true); err != nil {
		t.Fatal(err)
	}
	h.move(t, failed.ID, env.Provisioning, env.Failed, "move_to_unit failed")

	ask("nat-digital", "ガバメントクラウド検証基盤", env.Development, env.Level3)
	ask("lg-141003", "福祉総合システム", env.Development, env.Level1)

	running := ask("lg-011002", "税務システム", env.Production, env.Level2)
	h.move(t, running.ID, env.Approved, env.Provisioning, "")
	progress(running.ID, 4)

	// People in an environment, a break-glass request waiting for the
	// tenant, and the log they leave.
	colleague := h.named(t, authz.TenantMember, "lg-131016", "千代田 花子", true)
	operator := authz.Principal{PersonID: me.person.ID, Role: authz.CentralOperator}
	if _, err := h.api.Vending.AssignAccess(bg, operator, "g-lg-131016", ready.ID, colleague.person.ID, envaccess.Administrator); err != nil {
		t.Fatal(err)
	}
	breakGlass, err := h.api.BreakGlass.File(bg, operator, "lg-271004",
		"介護保険システムの払い出しが move_to_unit で失敗した原因を調べるため (INC-2026-1142)", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.integrate(t)

	beside := func(suffix string) string {
		return strings.TrimSuffix(out, filepath.Ext(out)) + "-" + suffix + filepath.Ext(out)
	}
	type shot struct {
		path, file string
		// height of the page to capture (800 when 0).
		height int
	}
	shots := []shot{
		{"/envs/" + running.ID + "?lang=ja", out, 1000},
		{"/?lang=ja&measure=envs#map", beside("map"), 1500},
	}
	if os.Getenv("HATOBA_SCREENSHOT_ALL") == "1" {
		shots = append(shots, []shot{
			{"/envs?lang=ja", beside("envs"), 0},
			{"/?lang=en&measure=score#map", beside("map-score-en"), 2400},
			{"/?lang=ja&measure=critical#trends", beside("trends"), 2400},
			{"/envs/" + estate[1] + "/posture?lang=ja", beside("posture"), 1200},
			{"/orgs/lg-131016?lang=ja", beside("org-posture"), 1200},
			{"/orgs?lang=ja&q=" + url.QueryEscape("さっぽろ"), beside("orgs"), 0},
			{"/orgs/lg-011002?lang=en", beside("org-en"), 0},
			{"/envs/new?lang=ja&org_q=" + url.QueryEscape("ちよだ"), beside("new"), 0},
			{"/approvals?lang=en", beside("approvals-en"), 0},
			{"/envs/" + failed.ID + "?lang=en", beside("failed-en"), 0},
			{"/people?lang=ja", beside("people"), 0},
			{"/account?lang=en", beside("account-en"), 0},
			{"/login/second-factor?lang=ja", beside("second-factor"), 0},
			{"/envs/" + ready.ID + "/access?lang=ja", beside("env-access"), 0},
			{"/access?lang=ja", beside("access"), 0},
			{"/access/" + breakGlass.ID + "?lang=en", beside("access-request-en"), 0},
			{"/audit?lang=ja", beside("audit"), 0},
		}...)
	}
	for _, s := range shots {
		height := cmp.Or(s.height, 800)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, int64(height)), chromedp.Navigate(h.srv.URL+s.path), chromedp.WaitVisible(chromedp.CSS("main")))
		if err != nil {
			t.Fatalf("%s: %v", s.path, err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot of %s: %v", s.path, err)
		}
		if err := os.MkdirAll(filepath.Dir(s.file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s → %s", s.path, s.file)
	}
}
