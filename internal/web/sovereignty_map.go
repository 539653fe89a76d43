package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
)

// The national view's pictures: the prefectures shaded by where their
// environments run (the share on the domestic tier, or how many are below
// a floor), an outage drawn on the same map, and the concentration index
// over time. Each has its numbers in a table beside it.

// sovMeasure is what the national view's map shades by.
type sovMeasure string

const (
	sovMeasureDomestic sovMeasure = "domestic" // share of environments on the domestic tier
	sovMeasureBelow    sovMeasure = "below"    // environments below a floor
)

var sovMeasures = []sovMeasure{sovMeasureDomestic, sovMeasureBelow}

// sovTrendDays is how far back the concentration's chart goes.
const sovTrendDays = 90

// sovPrefRow is one prefecture's figures, for the map and its table.
type sovPrefRow struct {
	prefecture
	Name         string
	Environments int
	Domestic     int
	Below        int
}

// DomesticShare is the percentage on the domestic tier; ok is false
// without environments.
func (r sovPrefRow) DomesticShare() (float64, bool) {
	if r.Environments == 0 {
		return 0, false
	}
	return float64(r.Domestic) * 100 / float64(r.Environments), true
}

// DomesticText is the share as the page prints it.
func (r sovPrefRow) DomesticText() string {
	v, ok := r.DomesticShare()
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", v)
}

// outagePrefRow is one prefecture's part of an outage.
type outagePrefRow struct {
	prefecture
	Name     string
	Systems  int // that stop
	Fallback int // of them, those that run or are backed up elsewhere
}

// sovMap is the national view's map section.
type sovMap struct {
	Measure  sovMeasure
	Measures []sovMeasure
	SVG      template.HTML
	Rows     []sovPrefRow
	// National counts the environments of organisations without a
	// prefecture (national bodies), which the map cannot place.
	National int
}

// outageMap is the outage drawn on the map.
type outageMap struct {
	SVG  template.HTML
	Rows []outagePrefRow // the prefectures where something stops
}

// sovTrend is the concentration's history.
type sovTrend struct {
	Days   int
	Series []series
	SVG    template.HTML
	Table  chartData
}

// tierOf gives each connection's tier from its profile ("" when it has
// none).
func (c *Console) tierOf(ctx context.Context, ps []sovereignty.Placement) (map[string]string, error) {
	tiers := map[string]string{}
	for _, p := range ps {
		if _, ok := tiers[p.Provider]; ok {
			continue
		}
		sp, err := c.api.Sovereignty.ForConnection(ctx, p.Provider)
		switch {
		case fault.KindOf(err) == fault.NotFound:
		case err != nil:
			return nil, err
		}
		tiers[p.Provider] = sp.Profile.Tier
	}
	return tiers, nil
}

// nationalMap shades the prefectures by the measure asked.
func (c *Console) nationalMap(r *http.Request, ps []sovereignty.Placement, scores []sovereignty.Score) (sovMap, error) {
	l := langOf(r)
	cat := c.catalogues[l]
	m := sovMap{Measure: sovMeasureDomestic, Measures: sovMeasures}
	if q := sovMeasure(r.URL.Query().Get("measure")); q == sovMeasureBelow {
		m.Measure = q
	}
	tiers, err := c.tierOf(r.Context(), ps)
	if err != nil {
		return m, err
	}
	below := map[string]bool{}
	for _, s := range scores {
		if len(s.Breaches) > 0 {
			below[s.Environment] = true
		}
	}
	byPref := map[string]*sovPrefRow{}
	for _, pf := range prefectures {
		row := &sovPrefRow{prefecture: pf, Name: prefName(pf, l)}
		byPref[pf.Code] = row
	}
	for _, p := range ps {
		row, ok := byPref[p.Prefecture]
		if !ok {
			m.National++
			continue
		}
		row.Environments++
		if tiers[p.Provider] == "domestic" {
			row.Domestic++
		}
		if below[p.Environment] {
			row.Below++
		}
	}
	top := 0.0
	for _, pf := range prefectures {
		top = max(top, float64(byPref[pf.Code].Below))
	}
	cells := make([]prefCell, 0, len(prefectures))
	for _, pf := range prefectures {
		row := *byPref[pf.Code]
		m.Rows = append(m.Rows, row)
		cell := prefCell{prefecture: pf}
		switch m.Measure {
		case sovMeasureBelow:
			cell.Value, cell.Shade = fmt.Sprint(row.Below), countShade(float64(row.Below), top)
			if row.Environments == 0 {
				cell.Shade = "none"
			}
		default:
			v, ok := row.DomesticShare()
			cell.Value, cell.Shade = row.DomesticText(), "none"
			if ok {
				cell.Shade = percentShade(v)
			}
		}
		cells = append(cells, cell)
	}
	m.SVG = tileMapSVG("sovn-map", fmt.Sprintf(cat["sovn.map_svg_title"], cat["sovn.measure."+string(m.Measure)]), cells, l)
	return m, nil
}

// outageOnMap draws what an outage stops, per prefecture: shaded by the
// systems that stop, a dot where some of them run or are backed up
// elsewhere.
func (c *Console) outageOnMap(r *http.Request, o sovereignty.Outage, affected []sovereignty.Affected) outageMap {
	l := langOf(r)
	cat := c.catalogues[l]
	byPref := map[string]*outagePrefRow{}
	for _, a := range affected {
		row := byPref[a.Prefecture]
		if row == nil {
			row = &outagePrefRow{}
			byPref[a.Prefecture] = row
		}
		row.Systems++
		if a.Fallback {
			row.Fallback++
		}
	}
	top := 0.0
	for _, row := range byPref {
		top = max(top, float64(row.Systems))
	}
	var om outageMap
	cells := make([]prefCell, 0, len(prefectures))
	for _, pf := range prefectures {
		row := outagePrefRow{prefecture: pf, Name: prefName(pf, l)}
		if x := byPref[pf.Code]; x != nil {
			row.Systems, row.Fallback = x.Systems, x.Fallback
			om.Rows = append(om.Rows, row)
		}
		cell := prefCell{prefecture: pf, Value: fmt.Sprint(row.Systems), Shade: countShade(float64(row.Systems), top)}
		if row.Fallback > 0 {
			cell.Mark = fmt.Sprintf(cat["sovn.mark"], row.Fallback)
		}
		cells = append(cells, cell)
	}
	what := strings.Join(nonEmpty(o.Provider, o.Region, o.Zone), "/")
	om.SVG = tileMapSVG("sovn-outage-map", fmt.Sprintf(cat["sovn.outage_svg_title"], what), cells, l)
	return om
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// concentrationTrend draws the national index over the last days, one
// line per dimension, for those who may read the history; nil for
// others, and when nothing is recorded yet (Days 0).
func (c *Console) concentrationTrend(r *http.Request) (*sovTrend, error) {
	if !c.may(r, authz.ReadSovereigntyHistory, authz.Resource{}) {
		return nil, nil
	}
	l := langOf(r)
	cat := c.catalogues[l]
	byDim := map[string]map[string]float64{}
	var days []string
	for _, dim := range sovereignty.Dimensions {
		pts, err := c.api.Sovereignty.ConcentrationHistory(r.Context(), dim, sovTrendDays)
		if err != nil {
			return nil, err
		}
		byDim[dim] = map[string]float64{}
		for _, pt := range pts {
			byDim[dim][pt.Day] = pt.HHI
			if dim == sovereignty.Dimensions[0] {
				days = append(days, pt.Day)
			}
		}
	}
	t := &sovTrend{Days: len(days)}
	if len(days) == 0 {
		return t, nil
	}
	labels := make([]string, len(days))
	for i, d := range days {
		labels[i] = d[5:7] + "/" + d[8:] // 2026-03-01 → 03/01, as the dashboard's trends
	}
	for _, dim := range sovereignty.Dimensions {
		if len(byDim[dim]) == 0 {
			continue // never measured (no zones in any inventory): no line at 0
		}
		s := series{Key: "hhi-" + dim, Label: cat["sovn.by."+dim]}
		for _, d := range days {
			s.Values = append(s.Values, byDim[dim][d])
		}
		t.Series = append(t.Series, s)
	}
	t.SVG = lineChart("sovn-trend", cat["sovn.trend_svg_title"], labels, t.Series)
	t.Table = newChartTable("sovn-trend-table", cat["sovn.trend_caption"], days, t.Series)
	return t, nil
}
