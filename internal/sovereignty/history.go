package sovereignty

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The concentration's history: the national figures of Concentrations,
// one point per day and dimension, so a reader sees whether the country
// is moving away from one provider or towards it.

// Dimensions are what concentration is measured over, in Concentrations'
// order.
var Dimensions = []string{"provider", "region", "zone"}

// ConcentrationRetention is how long a day's point is kept: a year and a
// bit, so a year's trend compares like months.
const ConcentrationRetention = 400 * 24 * time.Hour

// japan is the time zone whose calendar days the points are: a day as a
// Japanese official reads the chart.
var japan = time.FixedZone("JST", 9*60*60)

// ConcentrationPoint is one day's national figure over one dimension: the
// day's last one.
type ConcentrationPoint struct {
	Day       string  `json:"day"` // YYYY-MM-DD, Japan time
	Dimension string  `json:"dimension"`
	HHI       float64 `json:"hhi"`
	// Environments counts the placements measured (an environment in
	// several zones counts in each, as in Concentrations).
	Environments int `json:"environments"`
	// Parties is how many providers (regions, zones) hold a share.
	Parties int `json:"parties"`
	// Top is the largest share's key and TopShare that share (0–1).
	Top        string    `json:"top"`
	TopShare   float64   `json:"top_share"`
	RecordedAt time.Time `json:"recorded_at"`
}

// RecordConcentration keeps today's national figures, replacing today's
// earlier ones, and deletes the points older than the retention. A
// dimension nothing is placed by (no environment assessed, no zone in any
// inventory) has no index and keeps no point: 0 would read as "not
// concentrated".
func (s *Service) RecordConcentration(ctx context.Context) error {
	ps, err := s.Placements(ctx, nil)
	if err != nil {
		return fmt.Errorf("concentration history: %w", err)
	}
	now := s.now().UTC()
	day := now.In(japan).Format(time.DateOnly)
	oldest := now.Add(-ConcentrationRetention).In(japan).Format(time.DateOnly)
	views := Concentrations(ps)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, v := range views {
			if len(v.Shares) == 0 {
				continue // nothing placed by it (no zones in any inventory): no index
			}
			pt := pointOf(v, day, now)
			if _, err := tx.ExecContext(ctx, `INSERT INTO sovereignty_concentration_history (dimension, day, hhi, environments, parties,
					top_key, top_share, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (dimension, day) DO UPDATE SET hhi = excluded.hhi, environments = excluded.environments,
					parties = excluded.parties, top_key = excluded.top_key, top_share = excluded.top_share, recorded_at = excluded.recorded_at`,
				pt.Dimension, pt.Day, pt.HHI, pt.Environments, pt.Parties, pt.Top, pt.TopShare, pt.RecordedAt); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sovereignty_concentration_history WHERE day < $1`, oldest)
		return err
	})
	if err != nil {
		return fmt.Errorf("concentration history: %w", err)
	}
	return nil
}

func pointOf(c Concentration, day string, at time.Time) ConcentrationPoint {
	pt := ConcentrationPoint{Day: day, Dimension: c.By, HHI: c.HHI, Parties: len(c.Shares), RecordedAt: at}
	for _, sh := range c.Shares {
		pt.Environments += sh.Environments
	}
	if len(c.Shares) > 0 { // sorted largest first
		pt.Top, pt.TopShare = c.Shares[0].Key, c.Shares[0].Share
	}
	return pt
}

// ConcentrationHistory returns the points of one dimension over the last
// days days (today included), oldest first. A day without a point (the
// server was down) is missing, not zero.
func (s *Service) ConcentrationHistory(ctx context.Context, dimension string, days int) ([]ConcentrationPoint, error) {
	if !slices.Contains(Dimensions, dimension) {
		return nil, fault.InvalidField("dimension", "dimension is one of provider, region, zone, not %q", dimension)
	}
	if maxDays := int(ConcentrationRetention / (24 * time.Hour)); days < 1 || days > maxDays {
		return nil, fault.InvalidField("days", "days is 1 to %d (the history's retention), not %d", maxDays, days)
	}
	since := s.now().In(japan).AddDate(0, 0, 1-days).Format(time.DateOnly)
	rows, err := s.db.QueryContext(ctx, `SELECT day, hhi, environments, parties, top_key, top_share, recorded_at
		FROM sovereignty_concentration_history WHERE dimension = $1 AND day >= $2 ORDER BY day`, dimension, since)
	if err != nil {
		return nil, fmt.Errorf("concentration history: %w", err)
	}
	defer rows.Close()
	out := []ConcentrationPoint{}
	for rows.Next() {
		pt := ConcentrationPoint{Dimension: dimension}
		if err := rows.Scan(&pt.Day, &pt.HHI, &pt.Environments, &pt.Parties, &pt.Top, &pt.TopShare, &pt.RecordedAt); err != nil {
			return nil, fmt.Errorf("concentration history: %w", err)
		}
		pt.RecordedAt = pt.RecordedAt.UTC()
		out = append(out, pt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("concentration history: %w", err)
	}
	return out, nil
}
