package web

import (
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// postureHistoryDays is how far back a score's sparkline reaches.
const postureHistoryDays = 30

// controlRow is the open findings of one control, as the posture pages
// group them.
type controlRow struct {
	posture.ControlCount
	Control controls.Control
}

// postureTrend is a score's history: the sparkline and, for those who do
// not read pictures, its first and last values in words.
type postureTrend struct {
	SVG   template.HTML
	Label string
	// Points are the history's scores, oldest first.
	Points []float64
}

// controlRows names each count's control.
func (c *Console) controlRows(counts []posture.ControlCount) []controlRow {
	out := make([]controlRow, 0, len(counts))
	for _, cc := range counts {
		ct, ok := c.engine().Control(cc.ControlID)
		if !ok {
			ct = controls.Control{ID: cc.ControlID, Title: controls.Text{Ja: cc.ControlID, En: cc.ControlID}}
		}
		out = append(out, controlRow{ControlCount: cc, Control: ct})
	}
	return out
}

// scoreTrend draws scores as a sparkline named id.
func (c *Console) scoreTrend(r *http.Request, id string, scores []float64) *postureTrend {
	cat := c.catalogues[langOf(r)]
	label := cat["posture.trend_none"]
	if n := len(scores); n > 0 {
		key := "posture.trend_label"
		if n == 1 {
			key += ".one"
		}
		label = fmt.Sprintf(cat[key], n, scores[0], scores[n-1])
	}
	return &postureTrend{SVG: sparkline(id, label, scores), Label: label, Points: scores}
}

// envPictures fills in an environment's findings by control and its
// score's history.
func (c *Console) envPictures(r *http.Request, p *posturePage) error {
	ctx := r.Context()
	counts, err := c.api.Posture.OpenByControl(ctx, p.Env.ID, nil, p.CriticalOnly)
	if err != nil {
		return err
	}
	p.ByControl = c.controlRows(counts)
	hist, err := c.api.Posture.EnvScoreHistory(ctx, p.Env.ID, c.now().Add(-postureHistoryDays*24*time.Hour))
	if err != nil {
		return err
	}
	scores := make([]float64, len(hist))
	for i, h := range hist {
		scores[i] = h.Score
	}
	p.Trend = c.scoreTrend(r, "env-score-trend", scores)
	return nil
}

// orgPictures fills in an organisation subtree's findings by control and
// its score day by day; critical keeps the critical findings only, for
// central staff without a grant.
func (c *Console) orgPictures(r *http.Request, p *orgPage, ids []string, critical bool) error {
	ctx := r.Context()
	counts, err := c.api.Posture.OpenByControl(ctx, "", ids, critical)
	if err != nil {
		return err
	}
	p.ByControl = c.controlRows(counts)
	p.CriticalOnly = critical
	days, err := c.api.Posture.OrgScoreHistory(ctx, ids, postureHistoryDays, c.now(), jst)
	if err != nil {
		return err
	}
	var scores []float64
	for _, d := range days {
		if d.Checks > 0 { // days before the first evaluation say nothing
			scores = append(scores, d.Score)
		}
	}
	p.Trend = c.scoreTrend(r, "org-score-trend", scores)
	return nil
}
