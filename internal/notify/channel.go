package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Kind is a channel's kind.
type Kind string

const (
	Webhook Kind = "webhook" // hatoba's signed JSON (docs/notifications.md)
	Slack   Kind = "slack"   // a Slack incoming webhook
	Teams   Kind = "teams"   // a Microsoft Teams incoming webhook (Workflows), an Adaptive Card
	Email   Kind = "email"   // e-mail through the platform's SMTP relay
)

// Central is the organisation id of central's own channels, which receive
// the critical digest and nothing else.
const Central = ""

// Channel is where an organisation's notifications go. Its URL and signing
// key are never part of it: they are sealed, and shown once, at creation.
type Channel struct {
	ID          string            `json:"id"`
	OrgID       string            `json:"org_id"`
	Name        string            `json:"name"`
	Kind        Kind              `json:"kind"`
	TargetHint  string            `json:"target_hint"`
	MinSeverity controls.Severity `json:"min_severity"`
	// GroupSeconds: events within this window after the first travel in
	// one message.
	GroupSeconds int `json:"group_seconds"`
	// QuietFrom and QuietTo ("22:00", "07:00") in TZ: events below
	// critical wait until quiet hours end. Equal means none.
	QuietFrom string    `json:"quiet_from"`
	QuietTo   string    `json:"quiet_to"`
	TZ        string    `json:"tz"`
	Enabled   bool      `json:"enabled"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChannelSpec creates or changes a channel; a nil field keeps the current
// value on a change.
type ChannelSpec struct {
	Name         string             `json:"name"`
	Kind         Kind               `json:"kind"`
	URL          string             `json:"url,omitempty"`
	Recipients   []string           `json:"recipients,omitempty"`
	MinSeverity  *controls.Severity `json:"min_severity,omitempty"`
	GroupSeconds *int               `json:"group_seconds,omitempty"`
	QuietFrom    *string            `json:"quiet_from,omitempty"`
	QuietTo      *string            `json:"quiet_to,omitempty"`
	TZ           *string            `json:"tz,omitempty"`
	Enabled      *bool              `json:"enabled,omitempty"`
}

// Created is a new channel and, for a webhook, its signing key — shown
// this once.
type Created struct {
	Channel
	SigningKey string `json:"signing_key,omitempty"`
}

// secret is what a channel keeps sealed.
type secret struct {
	URL        string   `json:"url,omitempty"`
	Key        string   `json:"key,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
}

var namePattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$`)

// MaxGroupSeconds bounds the group window: a finding waits at most an hour.
const MaxGroupSeconds = 3600

const channelColumns = `id, org_id, name, kind, target_hint, min_severity, group_seconds, quiet_from, quiet_to, tz, enabled, created_by, created_at, updated_at`

func scanChannel(row interface{ Scan(...any) error }) (Channel, []byte, error) {
	var c Channel
	var qf, qt int
	var sealed []byte
	err := row.Scan(&c.ID, &c.OrgID, &c.Name, &c.Kind, &c.TargetHint, &c.MinSeverity, &c.GroupSeconds, &qf, &qt, &c.TZ, &c.Enabled,
		&c.CreatedBy, &c.CreatedAt, &c.UpdatedAt, &sealed)
	c.QuietFrom, c.QuietTo = clock(qf), clock(qt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, sealed, err
}

func clock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

func parseClock(field, s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fault.InvalidField(field, "%s is a time of day as HH:MM, not %q", field, s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// checkURL admits https URLs (and http for loopback receivers when private
// targets are allowed, as tests use).
func (s *Service) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fault.InvalidField("url", "url must be an absolute https URL without credentials")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && s.opts.AllowPrivateTargets) {
		return nil, fault.InvalidField("url", "url must use https")
	}
	return u, nil
}

func checkRecipients(rs []string) error {
	if len(rs) == 0 || len(rs) > 20 {
		return fault.InvalidField("recipients", "an e-mail channel has 1 to 20 recipients")
	}
	for _, r := range rs {
		a, err := mail.ParseAddress(r)
		if err != nil || a.Address != r || strings.ContainsAny(r, "\r\n") {
			return fault.InvalidField("recipients", "%q is not a plain e-mail address (name@example.lg.jp)", r)
		}
	}
	return nil
}

// CreateChannel adds a channel to orgID (Central for central's own).
func (s *Service) CreateChannel(ctx context.Context, actor, grantID, orgID string, spec ChannelSpec) (Created, error) {
	now := s.now().UTC()
	c := Channel{ID: newID("ch", now), OrgID: orgID, Name: spec.Name, Kind: spec.Kind, MinSeverity: controls.High,
		QuietFrom: "00:00", QuietTo: "00:00", TZ: "Asia/Tokyo", Enabled: true, CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
	if !namePattern.MatchString(spec.Name) {
		return Created{}, fault.InvalidField("name", "a channel's name is 1 to 64 letters, digits, spaces, '.', '_' or '-'")
	}
	var sec secret
	switch spec.Kind {
	case Webhook, Slack, Teams:
		u, err := s.checkURL(spec.URL)
		if err != nil {
			return Created{}, err
		}
		sec.URL, c.TargetHint = spec.URL, u.Scheme+"://"+u.Host+"/…"
		if spec.Kind == Webhook {
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return Created{}, fmt.Errorf("channel signing key: %w", err)
			}
			sec.Key = "whsec_" + base64.RawURLEncoding.EncodeToString(k)
		}
	case Email:
		if err := checkRecipients(spec.Recipients); err != nil {
			return Created{}, err
		}
		sec.Recipients, c.TargetHint = spec.Recipients, strings.Join(spec.Recipients, ", ")
	default:
		return Created{}, fault.InvalidField("kind", "kind is webhook, slack, teams or email, not %q", spec.Kind)
	}
	if err := applySpec(&c, spec); err != nil {
		return Created{}, err
	}
	sealed, err := s.seal(ctx, c.ID, sec)
	if err != nil {
		return Created{}, err
	}
	qf, _ := parseClock("quiet_from", c.QuietFrom)
	qt, _ := parseClock("quiet_to", c.QuietTo)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_channels (id, org_id, name, kind, target_hint, sealed, min_severity, group_seconds,
			quiet_from, quiet_to, tz, enabled, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`,
			c.ID, c.OrgID, c.Name, string(c.Kind), c.TargetHint, sealed, string(c.MinSeverity), c.GroupSeconds, qf, qt, c.TZ, c.Enabled, actor, now); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("the organisation already has a channel named %q", c.Name)
			}
			return fmt.Errorf("create channel: %w", err)
		}
		// The audit entry names the channel and its kind; never its URL,
		// which for Slack and Teams is itself the credential.
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.channel.create", OrgID: orgID, Target: c.ID,
			Details: map[string]any{"name": c.Name, "kind": c.Kind, "min_severity": c.MinSeverity}})
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Channel: c, SigningKey: sec.Key}, nil
}

// applySpec sets the filters a spec carries, checked.
func applySpec(c *Channel, spec ChannelSpec) error {
	if spec.MinSeverity != nil {
		if spec.MinSeverity.Rank() < 0 {
			return fault.InvalidField("min_severity", "min_severity is critical, high, medium, low or informational")
		}
		c.MinSeverity = *spec.MinSeverity
	}
	if spec.GroupSeconds != nil {
		if *spec.GroupSeconds < 0 || *spec.GroupSeconds > MaxGroupSeconds {
			return fault.InvalidField("group_seconds", "group_seconds is 0 to %d", MaxGroupSeconds)
		}
		c.GroupSeconds = *spec.GroupSeconds
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *string
	}{{"quiet_from", spec.QuietFrom, &c.QuietFrom}, {"quiet_to", spec.QuietTo, &c.QuietTo}} {
		if f.in == nil {
			continue
		}
		m, err := parseClock(f.name, *f.in)
		if err != nil {
			return err
		}
		*f.out = clock(m)
	}
	if spec.TZ != nil {
		if _, err := time.LoadLocation(*spec.TZ); err != nil || *spec.TZ == "" || *spec.TZ == "Local" {
			return fault.InvalidField("tz", "tz is an IANA time zone such as Asia/Tokyo, not %q", *spec.TZ)
		}
		c.TZ = *spec.TZ
	}
	if spec.Enabled != nil {
		c.Enabled = *spec.Enabled
	}
	return nil
}

func (s *Service) seal(ctx context.Context, channelID string, sec secret) ([]byte, error) {
	plain, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	return s.sealer.Seal(ctx, "notify-channel/"+channelID, plain)
}

func (s *Service) open(ctx context.Context, channelID string, sealed []byte) (secret, error) {
	plain, err := s.sealer.Open(ctx, "notify-channel/"+channelID, sealed)
	if err != nil {
		return secret{}, err
	}
	var sec secret
	if err := json.Unmarshal(plain, &sec); err != nil {
		return secret{}, fmt.Errorf("channel %s: the sealed secret is damaged", channelID)
	}
	return sec, nil
}

// UpdateChannel changes a channel's filters, quiet hours or state; its
// kind and URL stay (a new URL is a new channel, with a new key).
func (s *Service) UpdateChannel(ctx context.Context, actor, grantID, orgID, id string, spec ChannelSpec) (Channel, error) {
	var c Channel
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, _, err = getChannel(ctx, tx, orgID, id); err != nil {
			return err
		}
		if spec.Name != "" && spec.Name != c.Name {
			return fault.InvalidField("name", "a channel's name does not change; create a new channel")
		}
		if spec.URL != "" || spec.Recipients != nil || (spec.Kind != "" && spec.Kind != c.Kind) {
			return fault.InvalidField("url", "a channel's kind and target do not change; create a new channel")
		}
		if err := applySpec(&c, spec); err != nil {
			return err
		}
		c.UpdatedAt = s.now().UTC()
		qf, _ := parseClock("quiet_from", c.QuietFrom)
		qt, _ := parseClock("quiet_to", c.QuietTo)
		if _, err := tx.ExecContext(ctx, `UPDATE notify_channels SET min_severity = $1, group_seconds = $2, quiet_from = $3, quiet_to = $4, tz = $5,
			enabled = $6, updated_at = $7 WHERE id = $8`, string(c.MinSeverity), c.GroupSeconds, qf, qt, c.TZ, c.Enabled, c.UpdatedAt, id); err != nil {
			return fmt.Errorf("update channel %s: %w", id, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: c.UpdatedAt, Actor: actor, GrantID: grantID, Action: "notify.channel.update", OrgID: orgID, Target: id,
			Details: map[string]any{"min_severity": c.MinSeverity, "group_seconds": c.GroupSeconds, "quiet_from": c.QuietFrom,
				"quiet_to": c.QuietTo, "tz": c.TZ, "enabled": c.Enabled}})
	})
	return c, err
}

// DeleteChannel removes a channel and its undelivered messages.
func (s *Service) DeleteChannel(ctx context.Context, actor, grantID, orgID, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		c, _, err := getChannel(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_deliveries WHERE channel_id = $1`, id); err != nil {
			return fmt.Errorf("delete channel %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_channels WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete channel %s: %w", id, err)
		}
		s.channels.Delete(id)
		return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: actor, GrantID: grantID, Action: "notify.channel.delete", OrgID: orgID, Target: id,
			Details: map[string]any{"name": c.Name, "kind": c.Kind}})
	})
}

// getChannel reads a channel of orgID: another organisation's channel is
// not found, worded like a missing one.
func getChannel(ctx context.Context, q store.Querier, orgID, id string) (Channel, []byte, error) {
	c, sealed, err := scanChannel(q.QueryRowContext(ctx, `SELECT `+channelColumns+`, sealed FROM notify_channels WHERE id = $1 AND org_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, nil, fault.NotFoundf("no channel %s", id)
	}
	if err != nil {
		return Channel{}, nil, fmt.Errorf("channel %s: %w", id, err)
	}
	return c, sealed, nil
}

// Channel returns one of orgID's channels.
func (s *Service) Channel(ctx context.Context, orgID, id string) (Channel, error) {
	c, _, err := getChannel(ctx, s.db, orgID, id)
	return c, err
}

// Channels lists orgID's channels by name.
func (s *Service) Channels(ctx context.Context, orgID string) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelColumns+`, sealed FROM notify_channels WHERE org_id = $1 ORDER BY name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("channels of %s: %w", orgID, err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, _, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("channels of %s: %w", orgID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TestChannel queues a test message to a channel, due at once whatever
// its filters and quiet hours say; the answer is the delivery to follow.
func (s *Service) TestChannel(ctx context.Context, actor, grantID, orgID, id string) (Delivery, error) {
	var d Delivery
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, _, err := getChannel(ctx, tx, orgID, id); err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]string{"requested_by": actor})
		var err error
		if d, err = s.enqueue(ctx, tx, orgID, id, "test", string(payload)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: actor, GrantID: grantID, Action: "notify.channel.test", OrgID: orgID, Target: id,
			Details: map[string]any{"delivery_id": d.ID}})
	})
	if err == nil {
		s.Wake()
	}
	return d, err
}
