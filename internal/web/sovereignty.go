package web

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
)

// An environment's sovereignty (docs/sovereignty.md): the eight objectives
// as a radar against the floors, with the table beside it; the score, the
// floors it breaks, the foreign laws that reach its data, and — for those
// who read the whole report — every party who can reach it, by name, with
// what mitigates it. The page prints as the report an auditor keeps.

var errNoSovereignty = &fault.Error{Kind: fault.Unavailable, Message: "this server assesses no sovereignty"}

type sovereigntyPage struct {
	Env    env.Environment
	Report sovereignty.Report
	// Full: the reader is the tenant (or central staff under a grant),
	// who read the parties; others read the levels, score and laws.
	Full       bool
	Objectives []objectiveRow
	Radar      template.HTML
	Unverified int
}

type objectiveRow struct {
	ID           string
	Weight       int
	Level, Floor int
	HasFloor     bool
	Below        bool
	Gaps         []string // criterion ids of the next level not met
}

func (c *Console) envSovereignty(w http.ResponseWriter, r *http.Request) {
	if c.api.Sovereignty == nil {
		c.fail(w, r, errNoSovereignty)
		return
	}
	e, err := c.api.Envs.Get(r.Context(), c.api.DB, r.PathValue("id"))
	if err == nil {
		_, err = c.decide(r, authz.ReadSovereignty, envResource(e))
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rep, err := c.api.Sovereignty.Latest(r.Context(), e.ID)
	if fault.KindOf(err) == fault.NotFound {
		rep, err = c.api.Sovereignty.Assess(r.Context(), e.ID)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := sovereigntyPage{Env: e, Report: rep, Full: c.may(r, authz.ReadSovereigntyDetail, envResource(e))}
	for _, o := range sovereignty.Objectives {
		row := objectiveRow{ID: o.ID, Weight: o.Weight, Level: rep.Levels[o.ID]}
		row.Floor, row.HasFloor = rep.Floors[o.ID]
		row.Below = row.HasFloor && row.Level < row.Floor
		for _, cr := range rep.Criteria {
			if cr.Objective == o.ID && cr.Level == row.Level+1 && !cr.Met {
				row.Gaps = append(row.Gaps, cr.ID)
			}
		}
		p.Objectives = append(p.Objectives, row)
	}
	for _, cr := range rep.Criteria {
		if len(cr.Unverified) > 0 {
			p.Unverified++
		}
	}
	l := langOf(r)
	p.Radar = radarChart("sovereignty-radar", fmt.Sprintf(c.catalogues[l]["sov.radar_title"], e.SystemName), p.Objectives, func(id string) string {
		return c.catalogues[l]["sov.objective_short."+id]
	})
	c.render(w, r, http.StatusOK, "sovereignty", "envs", p)
}

// radarChart draws the eight objectives' levels (0–4) as a filled polygon
// and the floors as a dashed one, each axis named; the table beside it
// says the same in words.
func radarChart(id, title string, rows []objectiveRow, name func(id string) string) template.HTML {
	const size, radius, pad = 360.0, 120.0, 60.0
	cx, cy := size/2, size/2
	point := func(i, n int, level float64) (float64, float64) {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		return cx + radius*level/4*math.Cos(a), cy + radius*level/4*math.Sin(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="radar" id="%s" viewBox="%.0f %.0f %.0f %.0f" role="img" aria-labelledby="%s-t" focusable="false"><title id="%s-t">%s</title>`,
		template.HTMLEscapeString(id), -pad, -pad/2, size+2*pad, size+pad, template.HTMLEscapeString(id), template.HTMLEscapeString(id), template.HTMLEscapeString(title))
	n := len(rows)
	for ring := 1; ring <= 4; ring++ {
		pts := make([]string, n)
		for i := range rows {
			x, y := point(i, n, float64(ring))
			pts[i] = fmt.Sprintf("%.1f,%.1f", x, y)
		}
		fmt.Fprintf(&b, `<polygon class="radar__ring" points="%s"/>`, strings.Join(pts, " "))
	}
	for i, row := range rows {
		x, y := point(i, n, 4)
		fmt.Fprintf(&b, `<line class="radar__axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, cx, cy, x, y)
		lx, ly := point(i, n, 4.7)
		anchor := "middle"
		switch {
		case lx < cx-10:
			anchor = "end"
		case lx > cx+10:
			anchor = "start"
		}
		fmt.Fprintf(&b, `<text class="radar__label" x="%.1f" y="%.1f" text-anchor="%s">%s %s</text>`, lx, ly+4, anchor,
			template.HTMLEscapeString(row.ID), template.HTMLEscapeString(name(row.ID)))
	}
	poly := func(class string, level func(objectiveRow) float64) {
		pts := make([]string, n)
		for i, row := range rows {
			x, y := point(i, n, level(row))
			pts[i] = fmt.Sprintf("%.1f,%.1f", x, y)
		}
		fmt.Fprintf(&b, `<polygon class="%s" points="%s"/>`, class, strings.Join(pts, " "))
	}
	poly("radar__floor", func(r objectiveRow) float64 { return float64(r.Floor) })
	poly("radar__level", func(r objectiveRow) float64 { return float64(r.Level) })
	for i, row := range rows {
		x, y := point(i, n, float64(row.Level))
		class := "radar__dot"
		if row.Below {
			class += " radar__dot--below"
		}
		fmt.Fprintf(&b, `<circle class="%s" data-objective="%s" data-level="%d" cx="%.1f" cy="%.1f" r="4"/>`, class,
			template.HTMLEscapeString(row.ID), row.Level, x, y)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // G203: every text and attribute above is escaped or a number
}

// The national view: how concentrated the country's environments are per
// provider, region and zone, and what one outage would stop.

type nationalPage struct {
	Environments int
	Breaches     int
	Views        []concentrationView
	// Providers offers the outage form its choices.
	Providers []string
	Outage    sovereignty.Outage
	Asked     bool
	Affected  []affectedRow
	Orgs      int
	Without   int
	// Below lists the environments below a floor, worst first.
	Below []sovereignty.Score
	// Map shades the prefectures; OutageMap draws the outage asked.
	Map       sovMap
	OutageMap outageMap
	// Trend is the concentration over time (central only; nil for others).
	Trend *sovTrend
}

type concentrationView struct {
	sovereignty.Concentration
	Concentrated bool
	Percents     []string // of each share, in Shares' order
}

type affectedRow struct {
	sovereignty.Affected
	PrefName string
	Org      org.Organization // by name on the page
}

// hhiConcentrated is the index above which a market counts as highly
// concentrated (the U.S. merger guidelines' 2,500; 1,800 in 2023's).
const hhiConcentrated = 2500

func (c *Console) sovereigntyNational(w http.ResponseWriter, r *http.Request) {
	if c.api.Sovereignty == nil {
		c.fail(w, r, errNoSovereignty)
		return
	}
	within, err := c.within(r, authz.ReadSovereignty)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ctx := r.Context()
	ps, err := c.api.Sovereignty.Placements(ctx, within)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	scores, err := c.api.Sovereignty.Scores(ctx, within)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := nationalPage{Environments: len(ps)}
	for _, cv := range sovereignty.Concentrations(ps) {
		v := concentrationView{Concentration: cv, Concentrated: cv.HHI > hhiConcentrated}
		for _, s := range cv.Shares {
			v.Percents = append(v.Percents, fmt.Sprintf("%.1f%%", s.Share*100))
		}
		p.Views = append(p.Views, v)
	}
	for _, s := range scores {
		if len(s.Breaches) > 0 {
			p.Breaches++
			p.Below = append(p.Below, s)
		}
	}
	slices.SortFunc(p.Below, func(a, b sovereignty.Score) int { return cmp.Compare(a.Score, b.Score) })
	if len(p.Below) > 50 {
		p.Below = p.Below[:50]
	}
	for _, s := range p.Views[0].Shares {
		p.Providers = append(p.Providers, s.Key)
	}
	if p.Map, err = c.nationalMap(r, ps, scores); err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Trend, err = c.concentrationTrend(r); err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if prov := q.Get("provider"); prov != "" {
		p.Asked = true
		p.Outage = sovereignty.Outage{Provider: prov, Region: strings.TrimSpace(q.Get("region")), Zone: strings.TrimSpace(q.Get("zone"))}
		l := langOf(r)
		affected := sovereignty.BlastRadius(ps, p.Outage)
		orgs := map[string]bool{}
		byID := map[string]org.Organization{}
		for _, a := range affected {
			row := affectedRow{Affected: a}
			o, ok := byID[a.Organization]
			if !ok {
				if o, err = c.orgOrPlaceholder(r, a.Organization); err != nil {
					c.fail(w, r, err)
					return
				}
				byID[a.Organization] = o
			}
			row.Org = o
			for _, pf := range prefectures {
				if pf.Code == a.Prefecture {
					row.PrefName = prefName(pf, l)
				}
			}
			p.Affected = append(p.Affected, row)
			orgs[a.Organization] = true
			if !a.Fallback {
				p.Without++
			}
		}
		p.Orgs = len(orgs)
		p.OutageMap = c.outageOnMap(r, p.Outage, affected)
	}
	c.render(w, r, http.StatusOK, "sovereignty_national", "dashboard", p)
}
