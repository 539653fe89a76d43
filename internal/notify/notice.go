package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Notice is central's word to a tenant about one critical event: it lands
// in the tenant's inbox and goes to its channels; the tenant acknowledges
// it and then reports the fix.
type Notice struct {
	ID             string     `json:"id"`
	OrgID          string     `json:"org_id"`
	EventID        string     `json:"event_id"`
	Message        string     `json:"message"`
	State          string     `json:"state"` // sent, acknowledged, fixed
	SentBy         string     `json:"sent_by"`
	SentAt         time.Time  `json:"sent_at"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	FixedBy        string     `json:"fixed_by,omitempty"`
	FixedAt        *time.Time `json:"fixed_at,omitempty"`
	FixNote        string     `json:"fix_note,omitempty"`
}

const noticeColumns = `id, org_id, event_id, message, state, sent_by, sent_at, acknowledged_by, acknowledged_at, fixed_by, fixed_at, fix_note`

func scanNotice(row interface{ Scan(...any) error }) (Notice, error) {
	var n Notice
	var ack, fix sql.NullTime
	if err := row.Scan(&n.ID, &n.OrgID, &n.EventID, &n.Message, &n.State, &n.SentBy, &n.SentAt, &n.AcknowledgedBy, &ack, &n.FixedBy, &fix, &n.FixNote); err != nil {
		return Notice{}, err
	}
	n.SentAt = n.SentAt.UTC()
	if ack.Valid {
		t := ack.Time.UTC()
		n.AcknowledgedAt = &t
	}
	if fix.Valid {
		t := fix.Time.UTC()
		n.FixedAt = &t
	}
	return n, nil
}

// SendNotice sends a tenant a notice about one of its critical events:
// central reads critical events only, and speaks of nothing else.
func (s *Service) SendNotice(ctx context.Context, actor, eventID, message string) (Notice, error) {
	message = strings.TrimSpace(message)
	if len(message) < 1 || len(message) > 2000 {
		return Notice{}, fault.InvalidField("message", "a notice says something, in at most 2000 characters")
	}
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return Notice{}, err
	}
	if ev.Severity != controls.Critical {
		// Worded like a missing event: below critical is the tenant's alone.
		return Notice{}, fault.NotFoundf("no event %s", eventID)
	}
	now := s.now().UTC()
	n := Notice{ID: newID("nt", now), OrgID: ev.OrgID, EventID: ev.ID, Message: message, State: "sent", SentBy: actor, SentAt: now}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_notices (`+noticeColumns+`) VALUES ($1, $2, $3, $4, 'sent', $5, $6, '', NULL, '', NULL, '')`,
			n.ID, n.OrgID, n.EventID, n.Message, actor, now); err != nil {
			return fmt.Errorf("notice: %w", err)
		}
		payload, _ := json.Marshal(n)
		chs, err := routeChannels(ctx, tx, n.OrgID)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			if _, err := s.enqueue(ctx, tx, n.OrgID, ch.id, "notice", string(payload)); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, Action: "notify.notice.send", OrgID: n.OrgID, Target: n.ID,
			Details: map[string]any{"event_id": n.EventID, "channels": len(chs)}})
	})
	if err != nil {
		return Notice{}, err
	}
	s.Wake()
	return n, nil
}

// Notices lists notices, newest first: an organisation's inbox, or every
// organisation's (orgID "") for central.
func (s *Service) Notices(ctx context.Context, orgID string) ([]Notice, error) {
	q := `SELECT ` + noticeColumns + ` FROM notify_notices`
	var args []any
	if orgID != "" {
		q += ` WHERE org_id = $1`
		args = append(args, orgID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY sent_at DESC, id DESC LIMIT 500`, args...)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("notices: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// AnswerNotice records the tenant's acknowledgement ("acknowledged") or
// fix ("fixed", with a note) of one of its notices.
func (s *Service) AnswerNotice(ctx context.Context, actor, grantID, orgID, id, state, fixNote string) (Notice, error) {
	now := s.now().UTC()
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		n, err = scanNotice(tx.QueryRowContext(ctx, `SELECT `+noticeColumns+` FROM notify_notices WHERE id = $1 AND org_id = $2`, id, orgID))
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("no notice %s", id)
		}
		if err != nil {
			return fmt.Errorf("notice %s: %w", id, err)
		}
		switch {
		case state == "acknowledged" && n.State == "sent":
			n.State, n.AcknowledgedBy, n.AcknowledgedAt = state, actor, &now
			_, err = tx.ExecContext(ctx, `UPDATE notify_notices SET state = $1, acknowledged_by = $2, acknowledged_at = $3 WHERE id = $4`, state, actor, now, id)
		case state == "fixed" && n.State != "fixed":
			fixNote = strings.TrimSpace(fixNote)
			if fixNote == "" || len(fixNote) > 2000 {
				return fault.InvalidField("note", "say what was fixed, in at most 2000 characters")
			}
			if n.AcknowledgedAt == nil {
				n.AcknowledgedBy, n.AcknowledgedAt = actor, &now
			}
			n.State, n.FixedBy, n.FixedAt, n.FixNote = state, actor, &now, fixNote
			_, err = tx.ExecContext(ctx, `UPDATE notify_notices SET state = $1, acknowledged_by = $2, acknowledged_at = $3, fixed_by = $4, fixed_at = $5,
				fix_note = $6 WHERE id = $7`, state, n.AcknowledgedBy, *n.AcknowledgedAt, actor, now, fixNote, id)
		default:
			return fault.Conflictf("notice %s is %s; it cannot become %s", id, n.State, state)
		}
		if err != nil {
			return fmt.Errorf("notice %s: %w", id, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.notice." + map[string]string{
			"acknowledged": "acknowledge", "fixed": "fix"}[state], OrgID: orgID, Target: id, Details: map[string]any{"event_id": n.EventID}})
	})
	return n, err
}
