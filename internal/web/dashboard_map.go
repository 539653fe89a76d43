package web

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// The dashboard's pictures: the prefectures shaded by a measure with the
// municipalities beside them, and the last days' trends. An operator of
// thousands of environments in 1,700 organisations sees the country at a
// glance; the same numbers are in tables for those who read rather than
// look.

// measure is what the map shades by.
type measure string

const (
	measureEnvs     measure = "envs"     // live environments
	measureScore    measure = "score"    // the subtree's posture score
	measureCritical measure = "critical" // open critical findings
)

// trendDays is how many days the trend charts cover.
const trendDays = 30

// municipalitiesShown is how many organisations the list beside the map shows.
const municipalitiesShown = 15

// mapArea is a prefecture or a municipality with its numbers.
type mapArea struct {
	Org      org.Organization
	HasOrg   bool
	Envs     int
	Checks   int
	Failed   int
	Critical int
}

// HasScore: some check was evaluated, so the score means something.
func (a mapArea) HasScore() bool { return a.Checks > 0 }

// Score is the area's posture score (100 with nothing checked).
func (a mapArea) Score() float64 { return posture.ScoreOf(a.Checks, a.Failed) }

func (a *mapArea) add(o mapArea) {
	a.Envs += o.Envs
	a.Checks += o.Checks
	a.Failed += o.Failed
	a.Critical += o.Critical
}

// prefCell is a tile of the map.
type prefCell struct {
	prefecture
	mapArea
	// Value is the measure's value as shown; Shade its class (0 lightest …
	// 4 darkest, "none" without data).
	Value string
	Shade string
	// Mark, when set, says in words what the dot in the tile's corner
	// marks (the national view: systems that also run elsewhere).
	Mark string
}

// mapView is the map section of the dashboard.
type mapView struct {
	Measure  measure
	Measures []measure
	// Pref limits the municipalities to one prefecture ("" for all).
	Pref     string
	PrefName string
	Cells    []prefCell
	SVG      template.HTML
	Orgs     []mapArea
	// Total is the country's (or the caller's scope's) sum.
	Total mapArea
}

// trendView is the trends section.
type trendView struct {
	Days                         []string
	States                       []series
	Vended                       []float64
	Sev                          []series
	StatesSVG, VendedSVG, SevSVG template.HTML
}

// Value is the measure's value of an area as the page prints it.
func (m measure) value(a mapArea) (string, float64, bool) {
	switch m {
	case measureScore:
		if !a.HasScore() {
			return "—", 0, false
		}
		return fmt.Sprintf("%.1f%%", a.Score()), a.Score(), true
	case measureCritical:
		return fmt.Sprint(a.Critical), float64(a.Critical), true
	}
	return fmt.Sprint(a.Envs), float64(a.Envs), true
}

// shade buckets v into five classes: for counts relative to the largest,
// for the score by fixed bands, darker the worse.
func (m measure) shade(v, top float64, ok bool) string {
	if !ok {
		return "none"
	}
	if m == measureScore {
		return percentShade(v)
	}
	return countShade(v, top)
}

// percentShade bands a percentage where 100 is good by fixed bands,
// darker the worse: 100, 90, 75, 50 (the legend "map-legend" prints).
func percentShade(v float64) string {
	switch {
	case v >= 100:
		return "0"
	case v >= 90:
		return "1"
	case v >= 75:
		return "2"
	case v >= 50:
		return "3"
	}
	return "4"
}

// countShade buckets a count relative to the largest: 0 for none, then
// 1…4, darker the more.
func countShade(v, top float64) string {
	if v <= 0 || top <= 0 {
		return "0"
	}
	return fmt.Sprint(min(4, 1+int(3*v/top)))
}

// dashboardPictures fills in the map and the trends, over what the caller
// may see.
func (c *Console) dashboardPictures(r *http.Request, p *dashboardPage, envsWithin []string) error {
	ctx := r.Context()
	l := langOf(r)
	who := me(r).principal
	postureOK := c.api.Posture != nil && authz.Allows(who, authz.ReadPosture)
	mv := mapView{Measure: measureEnvs, Measures: []measure{measureEnvs}}
	if postureOK {
		mv.Measures = append(mv.Measures, measureScore, measureCritical)
	}
	if m := measure(r.URL.Query().Get("measure")); slices.Contains(mv.Measures, m) {
		mv.Measure = m
	}
	orgs, err := c.allOrgs(ctx, envsWithin)
	if err != nil {
		return err
	}
	live, err := c.api.Envs.LiveByOrg(ctx)
	if err != nil {
		return err
	}
	totals := map[string]posture.OrgTotals{}
	if postureOK {
		if totals, err = c.api.Posture.TotalsByOrg(ctx); err != nil {
			return err
		}
	}
	byPref := map[string]*mapArea{}
	for _, pf := range prefectures {
		byPref[pf.Code] = &mapArea{}
	}
	var munis []mapArea
	for _, o := range orgs {
		if !o.Kind.LocalGovernment() || len(o.LGCode) < 2 {
			continue
		}
		pa, ok := byPref[o.LGCode[:2]]
		if !ok {
			continue
		}
		t := totals[o.ID]
		a := mapArea{Org: o, HasOrg: true, Envs: live[o.ID], Checks: t.Checks, Failed: t.Failed, Critical: t.Critical}
		pa.add(a)
		mv.Total.add(a)
		if o.Kind == org.KindPrefecture {
			pa.Org, pa.HasOrg = o, true
		}
		munis = append(munis, a)
	}
	if pref := r.URL.Query().Get("pref"); byPref[pref] != nil {
		mv.Pref = pref
	}
	top := 0.0
	for _, pf := range prefectures {
		_, v, _ := mv.Measure.value(*byPref[pf.Code])
		top = max(top, v)
	}
	for _, pf := range prefectures {
		a := *byPref[pf.Code]
		text, v, ok := mv.Measure.value(a)
		mv.Cells = append(mv.Cells, prefCell{prefecture: pf, mapArea: a, Value: text, Shade: mv.Measure.shade(v, top, ok)})
		if pf.Code == mv.Pref {
			mv.PrefName = prefName(pf, l)
		}
	}
	// The municipalities: in the chosen prefecture, those with something
	// to show, worst (or largest) first.
	munis = slices.DeleteFunc(munis, func(a mapArea) bool {
		_, v, ok := mv.Measure.value(a)
		return !ok || mv.Measure != measureScore && v == 0 || mv.Pref != "" && a.Org.LGCode[:2] != mv.Pref
	})
	slices.SortStableFunc(munis, func(a, b mapArea) int {
		_, va, _ := mv.Measure.value(a)
		_, vb, _ := mv.Measure.value(b)
		if mv.Measure == measureScore {
			return cmp.Or(cmp.Compare(va, vb), cmp.Compare(a.Org.LGCode, b.Org.LGCode))
		}
		return cmp.Or(cmp.Compare(vb, va), cmp.Compare(a.Org.LGCode, b.Org.LGCode))
	})
	mv.Orgs = munis[:min(len(munis), municipalitiesShown)]
	mv.SVG = c.mapSVG(r, mv)
	p.Map = &mv

	// The trends.
	now := c.now()
	ends := posture.DayEnds(trendDays, now, jst)
	tv := trendView{}
	for _, e := range ends {
		tv.Days = append(tv.Days, e.In(jst).Format("01/02"))
	}
	key := trendKey(envsWithin, postureOK)
	cached, fresh := c.trends.get(key, now)
	hist := cached.hist
	if !fresh {
		if hist, err = c.api.Envs.History(ctx, envsWithin, ends); err != nil {
			return err
		}
	}
	for _, st := range env.States {
		if st == env.Rejected || st == env.Closed {
			continue // not live: they only grow
		}
		s := series{Key: string(st), Label: c.catalogues[l]["state."+string(st)]}
		for _, d := range hist {
			s.Values = append(s.Values, float64(d.States[st]))
		}
		tv.States = append(tv.States, s)
	}
	for _, d := range hist {
		tv.Vended = append(tv.Vended, float64(d.Vended))
	}
	tv.StatesSVG = lineChart("chart-states", c.catalogues[l]["trends.states"], tv.Days, tv.States)
	tv.VendedSVG = barChart("chart-vended", c.catalogues[l]["trends.vended"], tv.Days, tv.Vended)
	if postureOK {
		sev := cached.sev
		if !fresh {
			if sev, err = c.api.Posture.OpenBySeverityHistory(ctx, envsWithin, trendDays, now, jst); err != nil {
				return err
			}
		}
		cached.sev = sev
		for _, sv := range controls.Severities {
			if sv == controls.Informational {
				continue
			}
			s := series{Key: string(sv), Label: c.catalogues[l]["severity."+string(sv)]}
			for _, d := range sev {
				s.Values = append(s.Values, float64(d.Open[sv]))
			}
			tv.Sev = append(tv.Sev, s)
		}
		tv.SevSVG = lineChart("chart-findings", c.catalogues[l]["trends.findings"], tv.Days, tv.Sev)
	}
	p.Trends = &tv
	if !fresh {
		c.trends.put(key, trendEntry{at: now, hist: hist, sev: cached.sev})
	}
	return nil
}

// trendTTL is how long the dashboard reuses a scope's trends: replaying
// the history of 100,000 environments on every view would cost more than
// the charts are worth, and a day's figure a few minutes old misleads no
// one (the counts above the charts are live).
const trendTTL = 5 * time.Minute

// trendCache holds the trends per scope.
type trendCache struct {
	mu      sync.Mutex
	entries map[string]trendEntry
}

type trendEntry struct {
	at   time.Time
	hist []env.StateDay
	sev  []posture.SeverityDay
}

func trendKey(within []string, postureOK bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "%t %t %s", within == nil, postureOK, strings.Join(within, ","))
	return hex.EncodeToString(h.Sum(nil))
}

func (tc *trendCache) get(key string, now time.Time) (trendEntry, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	e, ok := tc.entries[key]
	// A new day starts new trends.
	fresh := ok && now.Sub(e.at) < trendTTL && now.In(jst).YearDay() == e.at.In(jst).YearDay()
	return e, fresh
}

func (tc *trendCache) put(key string, e trendEntry) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.entries == nil || len(tc.entries) > 1000 {
		tc.entries = map[string]trendEntry{} // bounded: a fresh start beats bookkeeping
	}
	tc.entries[key] = e
}

func prefName(pf prefecture, l lang) string {
	if l == en {
		return pf.NameEn
	}
	return pf.NameJa
}

const (
	tileSize = 52
	tileGap  = 4
)

// mapSVG draws the dashboard's map of the measure chosen.
func (c *Console) mapSVG(r *http.Request, mv mapView) template.HTML {
	l := langOf(r)
	cat := c.catalogues[l]
	return tileMapSVG("japan-map", fmt.Sprintf(cat["map.svg_title"], cat["measure."+string(mv.Measure)]), mv.Cells, l)
}

// tileMapSVG draws the prefectures' tiles, the dashboard's and the
// national sovereignty view's: each a link to the prefecture's
// organisation page when there is one, named by the prefecture and the
// value (and the mark, in words), with its short name and the value
// written on it; a marked tile carries a dot in its corner.
func tileMapSVG(id, title string, cells []prefCell, l lang) template.HTML {
	step := tileSize + tileGap
	id = template.HTMLEscapeString(id)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="japan-map" id="%s" viewBox="0 0 %d %d" role="group" aria-labelledby="%s-t"><title id="%s-t">%s</title>`,
		id, mapColumns*step, mapRows*step, id, id, template.HTMLEscapeString(title))
	for _, cell := range cells {
		name := prefName(cell.prefecture, l)
		x, y := cell.X*step, cell.Y*step
		label := name + " " + cell.Value // as the tile reads
		if cell.Mark != "" {
			label += " " + cell.Mark
		}
		open, close := `<g`, `</g>`
		if cell.HasOrg {
			// The link's name is its text, the name and the value, as
			// the tile reads.
			open = fmt.Sprintf(`<a href="/orgs/%s"`, template.HTMLEscapeString(cell.Org.ID))
			if cell.Mark != "" {
				open += fmt.Sprintf(` aria-label="%s"`, template.HTMLEscapeString(label))
			}
			close = `</a>`
		} else {
			open += fmt.Sprintf(` role="img" aria-label="%s"`, template.HTMLEscapeString(label)) // no organisation to open
		}
		b.WriteString(open)
		fmt.Fprintf(&b, ` class="japan-map__tile japan-map__tile--%s" data-pref="%s" data-value="%s"`, cell.Shade, cell.Code, template.HTMLEscapeString(cell.Value))
		if cell.Mark != "" {
			b.WriteString(` data-marked="true"`)
		}
		b.WriteString(`>`)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="4"/>`, x, y, tileSize, tileSize)
		if cell.Mark != "" {
			fmt.Fprintf(&b, `<circle class="japan-map__mark" cx="%d" cy="%d" r="5"/>`, x+tileSize-8, y+8)
		}
		// The whole English name, smaller when long: a tile's visible
		// text must be part of its accessible name.
		short, size := name, ""
		if l == en && len(name) > 6 {
			size = " japan-map__name--long"
		}
		fmt.Fprintf(&b, `<text class="japan-map__name%s" x="%d" y="%d" text-anchor="middle">%s</text>`, size, x+tileSize/2, y+20, template.HTMLEscapeString(short))
		fmt.Fprintf(&b, `<text class="japan-map__value" x="%d" y="%d" text-anchor="middle"> %s</text>`, x+tileSize/2, y+40, template.HTMLEscapeString(cell.Value))
		b.WriteString(close)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: names, values and ids are escaped above; the rest are numbers and constants
}
