package posture

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// What the console draws: a score's history, findings grouped by control,
// open findings per severity over the days, and per-organisation totals
// for the map of the prefectures. Days are calendar days in loc (Japan's
// time for the console), oldest first, ending with today.

// ScorePoint is an evaluation's score at a time.
type ScorePoint struct {
	At     time.Time `json:"at"`
	Checks int       `json:"checks"`
	Failed int       `json:"failed"`
	Score  float64   `json:"score"`
}

// EnvScoreHistory is an environment's evaluations since since, oldest first.
func (s *Service) EnvScoreHistory(ctx context.Context, envID string, since time.Time) ([]ScorePoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT evaluated_at, checks, failed FROM posture_history
		WHERE env_id = $1 AND evaluated_at >= $2 ORDER BY evaluated_at`, envID, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("score history of %s: %w", envID, err)
	}
	defer rows.Close()
	out := []ScorePoint{}
	for rows.Next() {
		var p ScorePoint
		if err := rows.Scan(&p.At, &p.Checks, &p.Failed); err != nil {
			return nil, err
		}
		p.At, p.Score = p.At.UTC(), scoreOf(p.Checks, p.Failed)
		out = append(out, p)
	}
	return out, rows.Err()
}

// OrgScoreHistory is the subtree's score at the end of each of the last
// days days: every environment counts with its latest evaluation up to
// that day's end, as OrgScore counts it today. A day before any
// evaluation has no checks (and the score 100, as OrgScore gives).
func (s *Service) OrgScoreHistory(ctx context.Context, orgIDs []string, days int, now time.Time, loc *time.Location) ([]ScorePoint, error) {
	ends := DayEnds(days, now, loc)
	out := make([]ScorePoint, len(ends))
	for i, end := range ends {
		out[i] = ScorePoint{At: end, Score: 100}
	}
	if len(orgIDs) == 0 {
		return out, nil
	}
	type eval struct {
		at            time.Time
		checks, fails int
	}
	byEnv := map[string][]eval{}
	// An environment's evaluation before the window still counts on its
	// first day: take the latest one before it too.
	first := ends[0].AddDate(0, 0, -1)
	for start := 0; start < len(orgIDs); start += 5000 {
		var args []any
		in := store.In(&args, orgIDs[start:min(start+5000, len(orgIDs))])
		args = append(args, first)
		n := len(args)
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT h.env_id, h.evaluated_at, h.checks, h.failed FROM posture_history h
			WHERE h.org_id IN (%s) AND (h.evaluated_at >= $%d OR h.evaluated_at = (SELECT MAX(p.evaluated_at) FROM posture_history p
				WHERE p.env_id = h.env_id AND p.evaluated_at < $%d))
			ORDER BY h.env_id, h.evaluated_at`, in, n, n), args...)
		if err != nil {
			return nil, fmt.Errorf("score history of organisations: %w", err)
		}
		for rows.Next() {
			var id string
			var e eval
			if err := rows.Scan(&id, &e.at, &e.checks, &e.fails); err != nil {
				rows.Close()
				return nil, err
			}
			byEnv[id] = append(byEnv[id], e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, evals := range byEnv {
		j := -1
		for i, end := range ends {
			for j+1 < len(evals) && !evals[j+1].at.After(end) {
				j++
			}
			if j >= 0 {
				out[i].Checks += evals[j].checks
				out[i].Failed += evals[j].fails
			}
		}
	}
	for i := range out {
		out[i].Score = scoreOf(out[i].Checks, out[i].Failed)
	}
	return out, nil
}

// DayEnds are the ends of the last days calendar days in loc, oldest first;
// the last is the end of today.
func DayEnds(days int, now time.Time, loc *time.Location) []time.Time {
	t := now.In(loc)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	out := make([]time.Time, days)
	for i := range days {
		out[i] = midnight.AddDate(0, 0, i-days+2).Add(-time.Nanosecond).UTC()
	}
	return out
}

// ControlCount is the open findings of one control.
type ControlCount struct {
	ControlID string            `json:"control_id"`
	Severity  controls.Severity `json:"severity"`
	Findings  int               `json:"findings"`
	// Environments is how many environments have them.
	Environments int `json:"environments"`
}

// OpenByControl groups the open findings of an environment (envID) or of
// organisations (orgIDs, when envID is empty) by control, most severe
// first, then most findings. critical keeps only critical findings, for
// readers who see no others.
func (s *Service) OpenByControl(ctx context.Context, envID string, orgIDs []string, critical bool) ([]ControlCount, error) {
	q := `SELECT control_id, severity, COUNT(*), COUNT(DISTINCT env_id) FROM findings WHERE status = 'open'`
	var args []any
	if envID != "" {
		args = append(args, envID)
		q += ` AND env_id = $1`
	} else {
		if len(orgIDs) == 0 {
			return []ControlCount{}, nil
		}
		q += ` AND org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	if critical {
		args = append(args, string(controls.Critical))
		q += fmt.Sprintf(` AND severity = $%d`, len(args))
	}
	rows, err := s.db.QueryContext(ctx, q+` GROUP BY control_id, severity`, args...)
	if err != nil {
		return nil, fmt.Errorf("findings by control: %w", err)
	}
	defer rows.Close()
	out := []ControlCount{}
	for rows.Next() {
		var c ControlCount
		if err := rows.Scan(&c.ControlID, &c.Severity, &c.Findings, &c.Environments); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortControlCounts(out)
	return out, nil
}

func sortControlCounts(cs []ControlCount) {
	less := func(a, b ControlCount) bool {
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		return a.ControlID < b.ControlID
	}
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// SeverityDay is how many findings were open at a day's end, per severity.
type SeverityDay struct {
	End  time.Time                 `json:"end"`
	Open map[controls.Severity]int `json:"open"`
}

// OpenBySeverityHistory counts the findings open at the end of each of the
// last days days, from when each was first seen and resolved; orgIDs nil
// counts every organisation. A finding that was resolved and reopened
// counts as open since it was first seen (its gap is not stored).
func (s *Service) OpenBySeverityHistory(ctx context.Context, orgIDs []string, days int, now time.Time, loc *time.Location) ([]SeverityDay, error) {
	ends := DayEnds(days, now, loc)
	out := make([]SeverityDay, len(ends))
	for i, end := range ends {
		out[i] = SeverityDay{End: end, Open: map[controls.Severity]int{}}
	}
	if orgIDs != nil && len(orgIDs) == 0 {
		return out, nil
	}
	q := `SELECT severity, first_seen, resolved_at FROM findings WHERE (resolved_at IS NULL OR resolved_at > $1) AND first_seen <= $2`
	args := []any{ends[0], ends[len(ends)-1]}
	if orgIDs != nil {
		q += ` AND org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("findings over time: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sev controls.Severity
		var first time.Time
		var resolved sql.NullTime
		if err := rows.Scan(&sev, &first, &resolved); err != nil {
			return nil, err
		}
		for i, end := range ends {
			if !first.After(end) && (!resolved.Valid || resolved.Time.After(end)) {
				out[i].Open[sev]++
			}
		}
	}
	return out, rows.Err()
}

// OrgTotals is what the map of the prefectures sums per organisation: the
// scores of its environments' last evaluations and its open critical
// findings.
type OrgTotals struct {
	Checks, Failed, Critical int
}

// TotalsByOrg is OrgTotals for every organisation with an evaluated
// environment or an open critical finding, in two aggregate queries.
func (s *Service) TotalsByOrg(ctx context.Context) (map[string]OrgTotals, error) {
	out := map[string]OrgTotals{}
	rows, err := s.db.QueryContext(ctx, `SELECT org_id, SUM(checks), SUM(failed) FROM posture GROUP BY org_id`)
	if err != nil {
		return nil, fmt.Errorf("scores by organisation: %w", err)
	}
	for rows.Next() {
		var id string
		var t OrgTotals
		if err := rows.Scan(&id, &t.Checks, &t.Failed); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT org_id, COUNT(*) FROM findings WHERE status = 'open' AND severity = $1 GROUP BY org_id`, string(controls.Critical))
	if err != nil {
		return nil, fmt.Errorf("critical findings by organisation: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		t := out[id]
		t.Critical = n
		out[id] = t
	}
	return out, rows.Err()
}

// ScoreOf is the score of checks of which failed failed.
func ScoreOf(checks, failed int) float64 { return scoreOf(checks, failed) }
