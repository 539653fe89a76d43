package web

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// An environment's sovereignty page draws the eight objectives against
// the floors with the same levels the API gives, names the laws that reach
// the data, and shows who can reach it to the tenant only; central staff
// without a grant see the levels and laws, not the people.
func TestSovereigntyPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e := h.request(t, sapporo, "sov-sys", env.Level2)
	rep, err := h.api.Sovereignty.Assess(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin := h.as(t, authz.TenantAdmin, sapporo)
	page := admin.get(t, "/envs/"+e.ID+"/sovereignty?lang=ja")
	if page.status != 200 {
		t.Fatalf("the tenant's page: %d", page.status)
	}
	want := []string{`id="sovereignty-radar"`, "主権と露出", "CLOUD Act", `id="sov-parties"`, `id="sov-example"`, "事業者に開示を強制できる"}
	for obj, lvl := range rep.Levels {
		want = append(want, `data-objective="`+obj+`" data-level="`+string(rune('0'+lvl))+`"`)
	}
	for _, w := range want {
		if !strings.Contains(page.body, w) {
			t.Errorf("the tenant's page lacks %q", w)
		}
	}
	if en := admin.get(t, "/envs/"+e.ID+"/sovereignty?lang=en"); !strings.Contains(en.body, "Foreign laws that reach the data") {
		t.Error("the English page is not in English")
	}
	if env := admin.get(t, "/envs/"+e.ID+"?lang=ja"); !strings.Contains(env.body, `id="sovereignty-link"`) {
		t.Error("the environment's page does not lead to its sovereignty")
	}
	op := h.as(t, authz.CentralOperator, "")
	central := op.get(t, "/envs/"+e.ID+"/sovereignty?lang=ja")
	if central.status != 200 || !strings.Contains(central.body, `id="sov-score-only"`) || strings.Contains(central.body, `id="sov-parties"`) ||
		!strings.Contains(central.body, `id="sovereignty-radar"`) {
		t.Errorf("central staff without a grant: %d, score-only notice %v, parties %v", central.status,
			strings.Contains(central.body, "sov-score-only"), strings.Contains(central.body, "sov-parties"))
	}
	other := h.as(t, authz.TenantAdmin, "nat-digital")
	if page := other.get(t, "/envs/"+e.ID+"/sovereignty"); page.status != 404 && page.status != 403 {
		t.Errorf("another tenant: %d; want 404", page.status)
	}
}

// The national view counts what the caller may see, and an outage of the
// provider lists the systems it would stop; the dashboard leads to it.
func TestSovereigntyNationalPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e := h.request(t, sapporo, "sov-national", env.Level2)
	if _, err := h.api.Sovereignty.Assess(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	op := h.as(t, authz.CentralOperator, "")
	page := op.get(t, "/sovereignty?lang=ja")
	for _, want := range []string{`data-environments="1"`, `id="sovn-hhi-provider" data-hhi="10000"`, "高度に集中", `id="sovn-shares-provider"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the national view lacks %q", want)
		}
	}
	out := op.get(t, "/sovereignty?provider=sim&lang=ja")
	if !strings.Contains(out.body, `data-systems="1" data-without="1"`) || !strings.Contains(out.body, "sov-national") || !strings.Contains(out.body, "札幌市</a>") {
		t.Errorf("an outage of sim: %s", out.body[strings.Index(out.body, "<main"):])
	}
	if dash := op.get(t, "/?lang=ja"); !strings.Contains(dash.body, `id="sovereignty-national-link"`) {
		t.Error("the dashboard does not lead to the national view")
	}
	// Another tenant's administrator counts its own subtree: none of these.
	other := h.as(t, authz.TenantAdmin, "nat-digital")
	if page := other.get(t, "/sovereignty"); !strings.Contains(page.body, `data-environments="0"`) {
		t.Error("another tenant's national view counts environments outside its scope")
	}
}
