package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// apiJSON reads a JSON API document as b.
func apiJSON[T any](t *testing.T, b *browser, path string) T {
	t.Helper()
	res := b.get(t, path)
	if res.status != 200 {
		t.Fatalf("GET %s: %d %s", path, res.status, res.body)
	}
	var v T
	if err := json.Unmarshal([]byte(res.body), &v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return v
}

// TestBrowserPictures draws the dashboard's map and trends and the
// posture pages in Chromium over an estate in several prefectures, and
// holds every number they show to what the JSON API says.
func TestBrowserPictures(t *testing.T) {
	t.Parallel()
	ctx := browsertest.NewTab(t, 1280, 900)
	h := newHarness(t)
	bg := context.Background()
	if _, err := h.api.Orgs.Import(bg, audit.Acting{Actor: "system"}, org.EmbeddedSources()...); err != nil {
		t.Fatal(err)
	}
	ids := h.seedEstate(t)
	me := h.named(t, authz.CentralOperator, "", "中央 運用子", true)
	h.grant(me.person.ID, "lg-010006", "lg-130001", "lg-140007", "lg-270008", "lg-400009", "lg-230006", "lg-260002",
		"lg-040002", "lg-280003", "lg-340006", "lg-470007", "lg-220001")
	withSession(t, ctx, h.srv.URL, me)

	// What the API says, per prefecture: live environments, the subtree's
	// score and open critical findings.
	type want struct {
		envs, critical int
		score          string
	}
	wants := map[string]*want{}
	type envPage struct {
		Items []env.Environment `json:"items"`
	}
	envs := apiJSON[envPage](t, me, "/api/v1/environments?limit=500").Items
	if len(envs) != len(estateEnvs) {
		t.Fatalf("the API lists %d environments, want %d", len(envs), len(estateEnvs))
	}
	prefOrg := map[string]string{}
	for _, e := range envs {
		o := apiJSON[org.Organization](t, me, "/api/v1/organizations/"+e.OrgID)
		pref := o.LGCode[:2]
		for o.Kind != org.KindPrefecture {
			o = apiJSON[org.Organization](t, me, "/api/v1/organizations/"+o.ParentID)
		}
		prefOrg[pref] = o.ID
		if wants[pref] == nil {
			wants[pref] = &want{}
		}
		if e.State.Live() {
			wants[pref].envs++
		}
		type findings struct {
			Items []posture.Finding `json:"items"`
		}
		for _, f := range apiJSON[findings](t, me, "/api/v1/environments/"+e.ID+"/findings").Items {
			if f.Severity == controls.Critical {
				wants[pref].critical++
			}
		}
	}
	for pref, w := range wants {
		sc := apiJSON[posture.Score](t, me, "/api/v1/organizations/"+prefOrg[pref]+"/posture")
		w.score = "—"
		if sc.Checks > 0 {
			w.score = fmt.Sprintf("%.1f%%", sc.Score)
		}
	}

	tiles := func(path string) map[string]string {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+path), chromedp.WaitVisible(chromedp.ID("japan-map")))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
			`Object.fromEntries([...document.querySelectorAll("#japan-map [data-pref]")].map(e => [e.dataset.pref, e.dataset.value]))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 47 {
			t.Fatalf("%s: %d tiles, want 47", path, len(m))
		}
		return m
	}
	for _, lang := range []string{"ja", "en"} {
		for _, m := range []measure{measureEnvs, measureScore, measureCritical} {
			got := tiles(fmt.Sprintf("/?lang=%s&measure=%s", lang, m))
			for _, pref := range slices.Sorted(maps.Keys(got)) {
				w := wants[pref]
				if w == nil {
					w = &want{score: "—"}
				}
				expect := map[measure]string{measureEnvs: fmt.Sprint(w.envs), measureScore: w.score, measureCritical: fmt.Sprint(w.critical)}[m]
				if got[pref] != expect {
					t.Errorf("%s %s: prefecture %s shows %q, the API says %q", lang, m, pref, got[pref], expect)
				}
			}
		}
	}
	// A tile is a link to the prefecture's page.
	err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/?lang=ja"), chromedp.WaitVisible(chromedp.ID("japan-map")),
		chromedp.Click(chromedp.CSS(`#japan-map a[data-pref="13"]`)), chromedp.WaitVisible(chromedp.ID("org-posture")))
	if err != nil {
		t.Fatalf("following Tokyo's tile: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != h.srv.URL+"/orgs/lg-130001" {
		t.Errorf("Tokyo's tile led to %s", loc)
	}

	// The trends: today's row of each table against the API.
	err = chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("chart-states")))
	if err != nil {
		t.Fatal(err)
	}
	today, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("#states-table tbody tr:first-child td, #findings-trend-table tbody tr:first-child td")].map(e => [e.dataset.series, e.textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	byState := map[env.State]int{}
	for _, e := range envs {
		byState[e.State]++
	}
	for _, st := range []env.State{env.Requested, env.Provisioning, env.Ready, env.Failed} {
		if today[string(st)] != fmt.Sprint(byState[st]) {
			t.Errorf("today's %s environments: chart table %q, the API %d", st, today[string(st)], byState[st])
		}
	}
	critical := 0
	for _, w := range wants {
		critical += w.critical
	}
	if today["critical"] != fmt.Sprint(critical) || critical == 0 {
		t.Errorf("today's open critical findings: chart table %q, the API %d", today["critical"], critical)
	}

	// An environment's posture: findings by control and the score's last
	// point against the API.
	for _, id := range []string{ids[6], ids[1]} { // critical findings; improving
		type findings struct {
			Items []posture.Finding `json:"items"`
		}
		perControl := map[string]string{}
		for _, f := range apiJSON[findings](t, me, "/api/v1/environments/"+id+"/findings").Items {
			n, _ := strconv.Atoi(perControl[f.ControlID]) // "" is none yet
			perControl[f.ControlID] = strconv.Itoa(n + 1)
		}
		sc := apiJSON[posture.Score](t, me, "/api/v1/environments/"+id+"/posture")
		err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/envs/"+url.PathEscape(id)+"/posture?lang=ja"), chromedp.WaitVisible(chromedp.ID("by-control")))
		if err != nil {
			t.Fatal(err)
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
			`Object.fromEntries([...document.querySelectorAll("#by-control-table tbody tr")].map(e => [e.dataset.control, e.querySelector("[data-count=findings]").textContent]))`))
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(shown, perControl) {
			t.Errorf("%s: findings by control %v, the API %v", id, shown, perControl)
		}
		label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("env-score-trend").getAttribute("aria-label")`))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%.1f%% へ", sc.Score); !strings.Contains(label, want) {
			t.Errorf("%s: sparkline says %q, the API's score is %s", id, label, want)
		}
	}
}
