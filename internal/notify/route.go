package notify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Sources of events.
const (
	SourceHatoba = "hatoba" // hatoba's own detective findings
	SourceASFF   = "asff"   // AWS Security Hub, through EventBridge
	SourceOCSF   = "ocsf"   // any OCSF producer
)

// Incoming is a finding as it arrives, from whatever source.
type Incoming struct {
	OrgID, EnvID string
	Source       string
	// SourceID is the finding's id at its source (hatoba's finding id,
	// ASFF's Id, OCSF's finding_info.uid).
	SourceID   string
	Severity   controls.Severity
	Title      string
	ControlID  string
	ResourceID string
	// Resolved reports that the source no longer sees the problem.
	Resolved bool
	At       time.Time
}

// Event is one problem on one resource, as the tenant sees it.
type Event struct {
	ID           string            `json:"id"`
	OrgID        string            `json:"org_id"`
	EnvID        string            `json:"env_id"`
	Source       string            `json:"source"`
	SourceID     string            `json:"source_id"`
	Severity     controls.Severity `json:"severity"`
	Title        string            `json:"title"`
	ControlID    string            `json:"control_id"`
	ResourceID   string            `json:"resource_id"`
	Status       string            `json:"status"`
	SuppressedBy string            `json:"suppressed_by,omitempty"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
}

// Delivery is one message to one channel, in the outbox.
type Delivery struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id"`
	ChannelID   string     `json:"channel_id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	Events      int        `json:"events"`
	Attempts    int        `json:"attempts"`
	DueAt       time.Time  `json:"due_at"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// Delivery states.
const (
	Pending   = "pending"
	Sending   = "sending"
	Delivered = "delivered"
	Dead      = "dead"
)

// Routed counts what Record did.
type Routed struct {
	New, Reopened, Duplicate, Resolved, Suppressed, Queued int
}

// DedupKey names a problem on a resource whoever reports it: the
// environment, the resource and the control (hatoba's id when a
// compliance reference maps to one).
func DedupKey(envID, resourceID, controlID string) string {
	h := sha256.Sum256([]byte(envID + "\x00" + strings.ToLower(resourceID) + "\x00" + controlID))
	return hex.EncodeToString(h[:16])
}

// Record takes findings into the events in the caller's transaction q:
// new and reopened ones are routed to their organisation's channels, the
// same problem reported again (by the same source or another) is not.
// Calling it in the transaction that records the finding is what makes
// "nothing lost": the finding and its outbox rows commit together.
func (s *Service) Record(ctx context.Context, q store.Querier, in []Incoming) (Routed, error) {
	var r Routed
	rt := router{s: s, q: q, channels: map[string][]routeChannel{}, suppressions: map[string][]Suppression{}, open: map[string]*openDelivery{}}
	known, err := existingEvents(ctx, q, in)
	if err != nil {
		return r, err
	}
	for _, f := range in {
		if f.OrgID == Central || f.EnvID == "" {
			return r, fault.Invalidf("a finding belongs to an environment of an organisation")
		}
		if f.Severity.Rank() < 0 {
			f.Severity = controls.Informational
		}
		at := f.At
		if at.IsZero() {
			at = s.now()
		}
		at = at.UTC()
		key := DedupKey(f.EnvID, f.ResourceID, f.ControlID)
		ke, seen := known[f.OrgID+"\x00"+key]
		id, status, source := ke.id, ke.status, ke.source
		switch {
		case !seen:
			if f.Resolved {
				continue
			}
			ev := Event{ID: newID("ev", at), OrgID: f.OrgID, EnvID: f.EnvID, Source: f.Source, SourceID: f.SourceID, Severity: f.Severity,
				Title: clip(f.Title, 500), ControlID: f.ControlID, ResourceID: clip(f.ResourceID, 1000), Status: "open", FirstSeen: at, LastSeen: at}
			sup, err := rt.suppressedBy(ctx, ev)
			if err != nil {
				return r, err
			}
			ev.SuppressedBy = sup
			if _, err := q.ExecContext(ctx, `INSERT INTO notify_events (id, org_id, env_id, dedup_key, source, source_id, severity, title, control_id,
				resource_id, status, suppressed_by, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $12)`,
				ev.ID, ev.OrgID, ev.EnvID, key, ev.Source, ev.SourceID, string(ev.Severity), ev.Title, ev.ControlID, ev.ResourceID, sup, at); err != nil {
				return r, fmt.Errorf("record event: %w", err)
			}
			known[f.OrgID+"\x00"+key] = knownEvent{id: ev.ID, status: "open", source: ev.Source}
			r.New++
			if err := rt.route(ctx, ev, &r); err != nil {
				return r, err
			}
		case f.Resolved:
			// Only the source that reported a problem says it is gone:
			// Security Hub archiving its copy does not close what hatoba
			// still sees.
			if status == "open" && source == f.Source {
				if _, err := q.ExecContext(ctx, `UPDATE notify_events SET status = 'resolved', last_seen = $1 WHERE id = $2`, at, id); err != nil {
					return r, fmt.Errorf("resolve event %s: %w", id, err)
				}
				known[f.OrgID+"\x00"+key] = knownEvent{id: id, status: "resolved", source: source}
				r.Resolved++
			}
		case status == "resolved":
			ev := Event{ID: id, OrgID: f.OrgID, EnvID: f.EnvID, Source: f.Source, SourceID: f.SourceID, Severity: f.Severity, Title: clip(f.Title, 500),
				ControlID: f.ControlID, ResourceID: f.ResourceID, Status: "open", LastSeen: at}
			sup, err := rt.suppressedBy(ctx, ev)
			if err != nil {
				return r, err
			}
			if _, err := q.ExecContext(ctx, `UPDATE notify_events SET status = 'open', source = $1, source_id = $2, severity = $3, title = $4,
				suppressed_by = $5, last_seen = $6 WHERE id = $7`, f.Source, f.SourceID, string(f.Severity), ev.Title, sup, at, id); err != nil {
				return r, fmt.Errorf("reopen event %s: %w", id, err)
			}
			ev.SuppressedBy = sup
			known[f.OrgID+"\x00"+key] = knownEvent{id: id, status: "open", source: f.Source}
			r.Reopened++
			if err := rt.route(ctx, ev, &r); err != nil {
				return r, err
			}
		default:
			r.Duplicate++
			if _, err := q.ExecContext(ctx, `UPDATE notify_events SET last_seen = $1 WHERE id = $2`, at, id); err != nil {
				return r, fmt.Errorf("event %s: %w", id, err)
			}
		}
	}
	if r.Queued > 0 {
		s.Wake()
	}
	return r, nil
}

type knownEvent struct{ id, status, source string }

// existingEvents reads, in one query per organisation, the events the
// findings may already be, by organisation and dedup key.
func existingEvents(ctx context.Context, q store.Querier, in []Incoming) (map[string]knownEvent, error) {
	keys := map[string][]string{}
	for _, f := range in {
		keys[f.OrgID] = append(keys[f.OrgID], DedupKey(f.EnvID, f.ResourceID, f.ControlID))
	}
	out := map[string]knownEvent{}
	for org, ks := range keys {
		for len(ks) > 0 {
			chunk := ks[:min(len(ks), 500)]
			ks = ks[len(chunk):]
			args := []any{org}
			rows, err := q.QueryContext(ctx, `SELECT dedup_key, id, status, source FROM notify_events WHERE org_id = $1 AND dedup_key IN (`+
				store.In(&args, chunk)+`)`, args...)
			if err != nil {
				return nil, fmt.Errorf("record events: %w", err)
			}
			for rows.Next() {
				var key string
				var ke knownEvent
				if err := rows.Scan(&key, &ke.id, &ke.status, &ke.source); err != nil {
					rows.Close()
					return nil, fmt.Errorf("record events: %w", err)
				}
				out[org+"\x00"+key] = ke
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("record events: %w", err)
			}
		}
	}
	return out, nil
}

// Ingest records findings in a transaction of its own (the ingestion
// endpoints).
func (s *Service) Ingest(ctx context.Context, in []Incoming) (Routed, error) {
	var r Routed
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		r, err = s.Record(ctx, tx, in)
		return err
	})
	if err == nil && r.Queued > 0 {
		s.Wake()
	}
	return r, err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// router routes events within one Record call, caching what it read.
type router struct {
	s            *Service
	q            store.Querier
	channels     map[string][]routeChannel
	suppressions map[string][]Suppression
	open         map[string]*openDelivery
}

type routeChannel struct {
	id, orgID          string
	min                controls.Severity
	group              time.Duration
	quietFrom, quietTo int
	loc                *time.Location
}

type openDelivery struct {
	id     string
	events int
}

func (rt *router) suppressedBy(ctx context.Context, ev Event) (string, error) {
	sups, ok := rt.suppressions[ev.OrgID]
	if !ok {
		var err error
		if sups, err = activeSuppressions(ctx, rt.q, ev.OrgID, rt.s.now()); err != nil {
			return "", err
		}
		rt.suppressions[ev.OrgID] = sups
	}
	for _, sp := range sups {
		if sp.matches(ev) {
			return sp.ID, nil
		}
	}
	return "", nil
}

func (rt *router) route(ctx context.Context, ev Event, r *Routed) error {
	if ev.SuppressedBy != "" {
		r.Suppressed++
		return nil
	}
	chs, ok := rt.channels[ev.OrgID]
	if !ok {
		var err error
		if chs, err = routeChannels(ctx, rt.q, ev.OrgID); err != nil {
			return err
		}
		rt.channels[ev.OrgID] = chs
	}
	now := rt.s.now().UTC()
	for _, ch := range chs {
		if !ev.Severity.AtLeast(ch.min) {
			continue
		}
		od, err := rt.collecting(ctx, ch.id)
		if err != nil {
			return err
		}
		if od != nil && od.events < rt.s.opts.MaxGroup {
			// The message joins only while no worker has claimed it: on
			// PostgreSQL this waits for a concurrent claim and then finds
			// the message closed, so an event never joins one already sent.
			dueAt := time.Time{}
			if ev.Severity == controls.Critical {
				dueAt = now // a critical event does not wait, nor does the message it joins
			}
			res, err := rt.q.ExecContext(ctx, `UPDATE notify_deliveries SET events = events + 1,
				due_at = CASE WHEN $1 AND due_at > $2 THEN $2 ELSE due_at END
				WHERE id = $3 AND collecting AND state = 'pending'`, !dueAt.IsZero(), now, od.id)
			if err != nil {
				return fmt.Errorf("queue delivery: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				od = nil
			}
		} else {
			od = nil
		}
		if od == nil {
			d := Delivery{ID: newID("dl", now), OrgID: ev.OrgID, ChannelID: ch.id, Kind: "events", State: Pending,
				DueAt: ch.due(now, ev.Severity), CreatedAt: now}
			if _, err := rt.q.ExecContext(ctx, `INSERT INTO notify_deliveries (id, org_id, channel_id, kind, payload, state, collecting, events, attempts,
				due_at, last_error, created_at) VALUES ($1, $2, $3, 'events', '', 'pending', TRUE, 1, 0, $4, '', $5)`,
				d.ID, d.OrgID, d.ChannelID, d.DueAt, now); err != nil {
				return fmt.Errorf("queue delivery: %w", err)
			}
			od = &openDelivery{id: d.ID}
			rt.open[ch.id] = od
		}
		if _, err := rt.q.ExecContext(ctx, `INSERT INTO notify_delivery_events (delivery_id, event_id) VALUES ($1, $2)`, od.id, ev.ID); err != nil {
			return fmt.Errorf("queue delivery: %w", err)
		}
		od.events++
		r.Queued++
	}
	return nil
}

// collecting is the channel's message still open to more events, if any.
func (rt *router) collecting(ctx context.Context, channelID string) (*openDelivery, error) {
	if od, ok := rt.open[channelID]; ok {
		return od, nil
	}
	var od openDelivery
	err := rt.q.QueryRowContext(ctx, `SELECT id, events FROM notify_deliveries WHERE channel_id = $1 AND state = 'pending' AND collecting
		AND kind = 'events' ORDER BY created_at DESC LIMIT 1`, channelID).Scan(&od.id, &od.events)
	if errors.Is(err, sql.ErrNoRows) {
		rt.open[channelID] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue delivery: %w", err)
	}
	rt.open[channelID] = &od
	return &od, nil
}

func routeChannels(ctx context.Context, q store.Querier, orgID string) ([]routeChannel, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, min_severity, group_seconds, quiet_from, quiet_to, tz FROM notify_channels
		WHERE org_id = $1 AND enabled ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("channels of %s: %w", orgID, err)
	}
	defer rows.Close()
	var out []routeChannel
	for rows.Next() {
		ch := routeChannel{orgID: orgID}
		var group int
		var tz string
		if err := rows.Scan(&ch.id, &ch.min, &group, &ch.quietFrom, &ch.quietTo, &tz); err != nil {
			return nil, fmt.Errorf("channels of %s: %w", orgID, err)
		}
		ch.group = time.Duration(group) * time.Second
		if ch.loc, err = time.LoadLocation(tz); err != nil {
			ch.loc = time.UTC
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// due is when a message that starts now should go: after the group
// window, and — below critical — after quiet hours.
func (ch routeChannel) due(now time.Time, sev controls.Severity) time.Time {
	at := now.Add(ch.group)
	if sev == controls.Critical {
		return now
	}
	return quietEnd(at, ch.quietFrom, ch.quietTo, ch.loc)
}

// quietEnd moves t to the end of quiet hours [from, to) (minutes of the
// day in loc, wrapping midnight when from > to) when t falls inside them.
func quietEnd(t time.Time, from, to int, loc *time.Location) time.Time {
	if from == to {
		return t
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	inside := (from < to && m >= from && m < to) || (from > to && (m >= from || m < to))
	if !inside {
		return t
	}
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), to/60, to%60, 0, 0, loc)
	if !end.After(lt) {
		end = end.AddDate(0, 0, 1)
	}
	return end.UTC()
}

// enqueue puts a message that is not made of events (a test, a digest, a
// notice) in the outbox, due now.
func (s *Service) enqueue(ctx context.Context, q store.Querier, orgID, channelID, kind, payload string) (Delivery, error) {
	now := s.now().UTC()
	d := Delivery{ID: newID("dl", now), OrgID: orgID, ChannelID: channelID, Kind: kind, State: Pending, DueAt: now, CreatedAt: now}
	if _, err := q.ExecContext(ctx, `INSERT INTO notify_deliveries (id, org_id, channel_id, kind, payload, state, collecting, events, attempts,
		due_at, last_error, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', FALSE, 0, 0, $6, '', $6)`,
		d.ID, orgID, channelID, kind, payload, now); err != nil {
		return Delivery{}, fmt.Errorf("queue %s delivery: %w", kind, err)
	}
	return d, nil
}
