package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Digest periods.
const (
	Daily  = "daily"
	Weekly = "weekly"
)

// Digest is central's periodic report: critical events across every
// organisation, nothing below critical.
type Digest struct {
	Format      string    `json:"format"` // "hatoba-digest/v1"
	ID          string    `json:"id"`
	Period      string    `json:"period"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	GeneratedAt time.Time `json:"generated_at"`
	// Critical is the critical events first seen in the period; Previous
	// the same count for the period before it (the trend).
	Critical      int             `json:"critical"`
	Previous      int             `json:"previous"`
	OpenCritical  int             `json:"open_critical"`
	Organizations []DigestOrg     `json:"organizations"`
	Findings      []DigestFinding `json:"findings"`
}

// DigestOrg is one organisation's line.
type DigestOrg struct {
	OrgID    string `json:"org_id"`
	Critical int    `json:"critical"`
	Previous int    `json:"previous"`
	Open     int    `json:"open"`
}

// DigestFinding is one critical event with its resource.
type DigestFinding struct {
	EventID    string    `json:"event_id"`
	OrgID      string    `json:"org_id"`
	EnvID      string    `json:"env_id"`
	Source     string    `json:"source"`
	ControlID  string    `json:"control_id"`
	ResourceID string    `json:"resource_id"`
	Title      string    `json:"title"`
	Status     string    `json:"status"`
	FirstSeen  time.Time `json:"first_seen"`
}

// StoredDigest is a digest as kept: its signed note.
type StoredDigest struct {
	ID        string    `json:"id"`
	Period    string    `json:"period"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Critical  int       `json:"critical"`
	Signed    string    `json:"signed"`
	CreatedAt time.Time `json:"created_at"`
}

// maxDigestFindings bounds the findings a digest lists; the counts are
// always whole.
const maxDigestFindings = 1000

// periodBounds is the last whole period before now, in UTC days: a daily
// digest covers yesterday, a weekly one the last Monday-to-Sunday week.
func periodBounds(period string, now time.Time) (time.Time, time.Time, error) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case Daily:
		return day.AddDate(0, 0, -1), day, nil
	case Weekly:
		monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		return monday.AddDate(0, 0, -7), monday, nil
	}
	return time.Time{}, time.Time{}, fault.InvalidField("period", "period is daily or weekly")
}

// MakeDigest makes (once) the digest of the last whole period before now,
// signs it with the platform's key, keeps it and queues it to central's
// channels. Made again for the same period, it returns the stored one.
func (s *Service) MakeDigest(ctx context.Context, actor, period string) (StoredDigest, error) {
	now := s.now().UTC()
	start, end, err := periodBounds(period, now)
	if err != nil {
		return StoredDigest{}, err
	}
	if s.opts.Signer == nil {
		return StoredDigest{}, fault.Invalidf("no platform key to sign digests with")
	}
	if sd, err := s.digestFor(ctx, s.db, period, start); err == nil || fault.KindOf(err) != fault.NotFound {
		return sd, err
	}
	d, err := s.buildDigest(ctx, period, start, end, now)
	if err != nil {
		return StoredDigest{}, err
	}
	body, err := json.Marshal(d)
	if err != nil {
		return StoredDigest{}, err
	}
	signed, err := note.Sign(&note.Note{Text: string(body) + "\n"}, s.opts.Signer)
	if err != nil {
		return StoredDigest{}, fmt.Errorf("sign digest: %w", err)
	}
	sd := StoredDigest{ID: d.ID, Period: period, Start: start, End: end, Critical: d.Critical, Signed: string(signed), CreatedAt: now}
	var queued int
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_digests (id, period, period_start, period_end, critical, signed, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, sd.ID, period, start, end, sd.Critical, sd.Signed, now); err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]string{"digest_id": sd.ID, "signed": sd.Signed})
		chs, err := routeChannels(ctx, tx, Central)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			if _, err := s.enqueue(ctx, tx, Central, ch.id, "digest", string(payload)); err != nil {
				return err
			}
			queued++
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, Action: "notify.digest.create", Target: sd.ID,
			Details: map[string]any{"period": period, "start": start.Format(time.RFC3339), "critical": sd.Critical, "channels": queued}})
	})
	if store.IsUniqueViolation(err) {
		return s.digestFor(ctx, s.db, period, start) // another replica made it first
	}
	if err != nil {
		return StoredDigest{}, fmt.Errorf("digest %s %s: %w", period, start.Format(time.DateOnly), err)
	}
	if queued > 0 {
		s.Wake()
	}
	return sd, nil
}

func (s *Service) buildDigest(ctx context.Context, period string, start, end, now time.Time) (Digest, error) {
	d := Digest{Format: "hatoba-digest/v1", ID: newID("dg", now), Period: period, Start: start, End: end, GeneratedAt: now,
		Organizations: []DigestOrg{}, Findings: []DigestFinding{}}
	prevStart := start.Add(-end.Sub(start))
	byOrg := map[string]*DigestOrg{}
	org := func(id string) *DigestOrg {
		if o, ok := byOrg[id]; ok {
			return o
		}
		o := &DigestOrg{OrgID: id}
		byOrg[id] = o
		return o
	}
	rows, err := s.db.QueryContext(ctx, `SELECT org_id,
		SUM(CASE WHEN first_seen >= $1 AND first_seen < $2 THEN 1 ELSE 0 END),
		SUM(CASE WHEN first_seen >= $3 AND first_seen < $1 THEN 1 ELSE 0 END),
		SUM(CASE WHEN status = 'open' AND first_seen < $2 THEN 1 ELSE 0 END)
		FROM notify_events WHERE severity = 'critical' GROUP BY org_id ORDER BY org_id`, start, end, prevStart)
	if err != nil {
		return Digest{}, fmt.Errorf("digest counts: %w", err)
	}
	for rows.Next() {
		var id string
		var cur, prev, open int
		if err := rows.Scan(&id, &cur, &prev, &open); err != nil {
			rows.Close()
			return Digest{}, fmt.Errorf("digest counts: %w", err)
		}
		if cur+prev+open == 0 {
			continue
		}
		o := org(id)
		o.Critical, o.Previous, o.Open = cur, prev, open
		d.Critical += cur
		d.Previous += prev
		d.OpenCritical += open
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Digest{}, err
	}
	frows, err := s.db.QueryContext(ctx, `SELECT id, org_id, env_id, source, control_id, resource_id, title, status, first_seen FROM notify_events
		WHERE severity = 'critical' AND first_seen >= $1 AND first_seen < $2 ORDER BY org_id, first_seen, id LIMIT `+fmt.Sprint(maxDigestFindings), start, end)
	if err != nil {
		return Digest{}, fmt.Errorf("digest findings: %w", err)
	}
	defer frows.Close()
	for frows.Next() {
		var f DigestFinding
		if err := frows.Scan(&f.EventID, &f.OrgID, &f.EnvID, &f.Source, &f.ControlID, &f.ResourceID, &f.Title, &f.Status, &f.FirstSeen); err != nil {
			return Digest{}, fmt.Errorf("digest findings: %w", err)
		}
		f.FirstSeen = f.FirstSeen.UTC()
		d.Findings = append(d.Findings, f)
	}
	if err := frows.Err(); err != nil {
		return Digest{}, err
	}
	for _, o := range byOrg {
		d.Organizations = append(d.Organizations, *o)
	}
	sortOrgs(d.Organizations)
	return d, nil
}

func sortOrgs(os []DigestOrg) {
	for i := 1; i < len(os); i++ {
		for j := i; j > 0 && (os[j].Critical > os[j-1].Critical || os[j].Critical == os[j-1].Critical && os[j].OrgID < os[j-1].OrgID); j-- {
			os[j], os[j-1] = os[j-1], os[j]
		}
	}
}

const digestColumns = `id, period, period_start, period_end, critical, signed, created_at`

func scanDigest(row interface{ Scan(...any) error }) (StoredDigest, error) {
	var sd StoredDigest
	err := row.Scan(&sd.ID, &sd.Period, &sd.Start, &sd.End, &sd.Critical, &sd.Signed, &sd.CreatedAt)
	sd.Start, sd.End, sd.CreatedAt = sd.Start.UTC(), sd.End.UTC(), sd.CreatedAt.UTC()
	return sd, err
}

func (s *Service) digestFor(ctx context.Context, q store.Querier, period string, start time.Time) (StoredDigest, error) {
	sd, err := scanDigest(q.QueryRowContext(ctx, `SELECT `+digestColumns+` FROM notify_digests WHERE period = $1 AND period_start = $2`, period, start))
	if errors.Is(err, sql.ErrNoRows) {
		return StoredDigest{}, fault.NotFoundf("no %s digest from %s", period, start.Format(time.DateOnly))
	}
	return sd, err
}

// Digests lists the kept digests, newest first.
func (s *Service) Digests(ctx context.Context, limit int) ([]StoredDigest, error) {
	if limit <= 0 || limit > 500 {
		limit = 60
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+digestColumns+` FROM notify_digests ORDER BY period_start DESC, period LIMIT `+fmt.Sprint(limit))
	if err != nil {
		return nil, fmt.Errorf("digests: %w", err)
	}
	defer rows.Close()
	out := []StoredDigest{}
	for rows.Next() {
		sd, err := scanDigest(rows)
		if err != nil {
			return nil, fmt.Errorf("digests: %w", err)
		}
		out = append(out, sd)
	}
	return out, rows.Err()
}

// StoredDigestByID reads one kept digest.
func (s *Service) StoredDigestByID(ctx context.Context, id string) (StoredDigest, error) {
	sd, err := scanDigest(s.db.QueryRowContext(ctx, `SELECT `+digestColumns+` FROM notify_digests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return StoredDigest{}, fault.NotFoundf("no digest %s", id)
	}
	return sd, err
}

// OpenDigest verifies a signed digest with the platform's public key
// (the audit log's verifier key) and returns it.
func OpenDigest(signed []byte, v note.Verifier) (Digest, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Digest{}, fmt.Errorf("digest signature: %w", err)
	}
	var d Digest
	dec := json.NewDecoder(strings.NewReader(n.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || d.Format != "hatoba-digest/v1" {
		return Digest{}, fmt.Errorf("digest: not a hatoba-digest/v1 body")
	}
	return d, nil
}

// RunDigests makes the configured digests when their period has ended,
// checking every interval; made once across replicas (the period is
// unique). It also purges delivered messages past their retention.
func (s *Service) RunDigests(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("purging delivered notifications", "err", err)
		}
		st, err := s.Settings(ctx)
		if err == nil {
			for _, p := range st.Digests {
				if _, err := s.MakeDigest(ctx, "system", p); err != nil && ctx.Err() == nil {
					s.log.Warn("making the critical digest", "period", p, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
