package env

import (
	"context"
	"fmt"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// StateDay is how many environments were in each state at a day's end.
type StateDay struct {
	End    time.Time     `json:"end"`
	States map[State]int `json:"states"`
	// Vended is how many environments became ready that day.
	Vended int `json:"vended"`
}

// History replays the environments' state changes (their history: every
// transition is an event named after the state it reached) to count them
// per state at the end of each of ends, and those that became ready each
// day. within limits it to those organisations (nil: every one). It reads
// one row per state change, so 6,000 environments of a few changes each
// are a few tens of thousands of rows; no snapshot table is needed.
func (s *Store) History(ctx context.Context, within []string, ends []time.Time) ([]StateDay, error) {
	out := make([]StateDay, len(ends))
	for i, end := range ends {
		out[i] = StateDay{End: end, States: map[State]int{}}
	}
	if len(ends) == 0 || within != nil && len(within) == 0 {
		return out, nil
	}
	kinds := make([]string, len(States))
	for i, st := range States {
		kinds[i] = string(st)
	}
	var args []any
	q := `SELECT ev.env_id, ev.at, ev.kind FROM env_events ev`
	where := ` WHERE ev.kind IN (` + store.In(&args, kinds) + `)`
	args = append(args, ends[len(ends)-1])
	where += fmt.Sprintf(` AND ev.at <= $%d`, len(args))
	if within != nil {
		q += ` JOIN environments e ON e.id = ev.env_id`
		where += ` AND e.org_id IN (` + store.In(&args, within) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+where+` ORDER BY ev.env_id, ev.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("environment history: %w", err)
	}
	defer rows.Close()
	var cur string
	type change struct {
		at time.Time
		to State
	}
	var changes []change
	flush := func() {
		j := -1
		for i, end := range ends {
			for j+1 < len(changes) && !changes[j+1].at.After(end) {
				j++
				c := changes[j]
				// Japan keeps no summer time: every day is 24 hours.
				if c.to == Ready && c.at.After(end.Add(-24*time.Hour)) {
					out[i].Vended++
				}
			}
			if j >= 0 {
				out[i].States[changes[j].to]++
			}
		}
	}
	for rows.Next() {
		var id string
		var c change
		if err := rows.Scan(&id, &c.at, &c.to); err != nil {
			return nil, err
		}
		if id != cur {
			flush()
			cur, changes = id, changes[:0]
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// LiveByOrg counts the live environments (neither rejected nor closed)
// of every organisation that has any, in one aggregate query.
func (s *Store) LiveByOrg(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org_id, COUNT(*) FROM environments WHERE state <> $1 AND state <> $2 GROUP BY org_id`, Rejected, Closed)
	if err != nil {
		return nil, fmt.Errorf("count environments by organisation: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
