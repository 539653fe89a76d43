package web

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
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

// The national view draws its figures on the dashboard's prefecture map:
// the share on the domestic tier or the environments below a floor per
// prefecture, an outage's stopped systems, and — for central staff — the
// concentration index over time; each with its table.
func TestSovereigntyNationalMapsAndTrend(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	e := h.request(t, sapporo, "sov-map", env.Level2)
	rep, err := h.api.Sovereignty.Assess(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	op := h.as(t, authz.CentralOperator, "")
	page := op.get(t, "/sovereignty?lang=ja")
	// Sapporo's environment is on the simulated AWS (a hyperscaler):
	// Hokkaido's domestic share is 0 %, the darkest band; Tokyo has none.
	for _, want := range []string{`<svg class="japan-map" id="sovn-map"`, `data-pref="01" data-value="0%"`,
		`class="japan-map__tile japan-map__tile--4" data-pref="01"`, `class="japan-map__tile japan-map__tile--none" data-pref="13"`,
		`<tr data-pref="01"><th scope="row">北海道</th><td class="num" data-measure="environments">1</td><td class="num" data-measure="domestic">0%</td>`,
		`id="sovn-trend-none"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the national view lacks %q", want)
		}
	}
	if n := strings.Count(page.body, `class="japan-map__tile `); n != 47 {
		t.Errorf("the map has %d tiles; want 47", n)
	}
	below := op.get(t, "/sovereignty?measure=below&lang=ja")
	if want := fmt.Sprintf(`data-pref="01" data-value="%d"`, min(1, len(rep.Breaches))); !strings.Contains(below.body, want) {
		t.Errorf("the map of environments below a floor lacks %q", want)
	}

	// An outage of the provider: Hokkaido's one system stops, with no
	// fallback, so no mark.
	out := op.get(t, "/sovereignty?provider=sim&lang=ja")
	for _, want := range []string{`id="sovn-outage-map"`, `class="japan-map__tile japan-map__tile--4" data-pref="01" data-value="1">`,
		`<tr data-pref="01"><th scope="row">北海道</th><td class="num" data-measure="systems">1</td><td class="num" data-measure="fallback">0</td>`} {
		if !strings.Contains(out.body, want) {
			t.Errorf("the outage lacks %q", want)
		}
	}
	if strings.Contains(out.body, `data-marked`) {
		t.Error("a system with no fallback is marked")
	}

	// The trend, once a full rescore has kept the day's figures.
	if err := h.api.Sovereignty.RecordConcentration(ctx); err != nil {
		t.Fatal(err)
	}
	page = op.get(t, "/sovereignty?lang=ja")
	for _, want := range []string{`<svg class="chart" id="sovn-trend"`, `data-series="hhi-provider"`, `data-series="hhi-region"`,
		`id="sovn-trend-table"`, `<td class="num" data-series="hhi-provider">10000</td>`, "集中度の推移"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the trend lacks %q", want)
		}
	}
	if strings.Contains(page.body, `data-series="hhi-zone"`) {
		t.Error("no inventory names a zone, yet the trend draws the zones' index")
	}
	// A tenant reads its own subtree today, not the country's history.
	admin := h.as(t, authz.TenantAdmin, sapporo)
	if page := admin.get(t, "/sovereignty?lang=ja"); page.status != 200 || strings.Contains(page.body, "sovn-trend") || !strings.Contains(page.body, `id="sovn-map"`) {
		t.Errorf("the tenant's national view: %d, trend shown %v", page.status, strings.Contains(page.body, "sovn-trend"))
	}
}

// The outage map marks a prefecture whose stopped systems run or are
// backed up elsewhere, in the tile's name as well as with the dot, and
// shades by the systems that stop.
func TestOutageOnMap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := httptest.NewRequest("GET", "/sovereignty?lang=en", nil)
	affected := []sovereignty.Affected{
		{Organization: "lg-011002", Prefecture: "01", System: "a", Fallback: true},
		{Organization: "lg-011002", Prefecture: "01", System: "b"},
		{Organization: "lg-131016", Prefecture: "13", System: "c"},
		{Organization: "lg-131016", Prefecture: "13", System: "d"},
		{Organization: "lg-131016", Prefecture: "13", System: "e"},
		{Organization: "lg-131016", Prefecture: "13", System: "f"},
		{Organization: "nat-digital", System: "g"}, // no prefecture: the table's only
	}
	om := h.console.outageOnMap(r, sovereignty.Outage{Provider: "sim", Zone: "apne1-az1"}, affected)
	svg := string(om.SVG)
	var doc struct{}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("the map is not well-formed: %v", err)
	}
	for _, want := range []string{
		`<title id="sovn-outage-map-t">Systems that stop if sim/apne1-az1 fails, by prefecture</title>`,
		`<g role="img" aria-label="Hokkaido 2 (1 of them also run on, or are backed up to, another provider)" class="japan-map__tile japan-map__tile--2" data-pref="01" data-value="2" data-marked="true">`,
		`<g role="img" aria-label="Tokyo 4" class="japan-map__tile japan-map__tile--4" data-pref="13" data-value="4">`,
		`class="japan-map__tile japan-map__tile--0" data-pref="47" data-value="0">`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the outage map lacks %s", want)
		}
	}
	if n := strings.Count(svg, `<circle class="japan-map__mark"`); n != 1 {
		t.Errorf("%d marks; want 1 (Hokkaido)", n)
	}
	if len(om.Rows) != 2 || om.Rows[0].Code != "01" || om.Rows[0].Systems != 2 || om.Rows[0].Fallback != 1 || om.Rows[1].Systems != 4 {
		t.Errorf("the table's rows: %+v", om.Rows)
	}
}
