package notify

import (
	"context"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Settings are central's: the SMTP relay e-mail channels send through,
// and which digests are made.
type Settings struct {
	SMTPAddr string `json:"smtp_addr"`
	SMTPFrom string `json:"smtp_from"`
	// Digests are the periods central's digest is made for: "daily",
	// "weekly", both or none.
	Digests []string `json:"digests"`
}

// Settings reads central's settings; the defaults are a daily and a
// weekly digest and no SMTP relay.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	st := Settings{Digests: []string{Daily, Weekly}}
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM notify_settings`)
	if err != nil {
		return st, fmt.Errorf("notification settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return st, fmt.Errorf("notification settings: %w", err)
		}
		switch k {
		case "smtp_addr":
			st.SMTPAddr = v
		case "smtp_from":
			st.SMTPFrom = v
		case "digests":
			st.Digests = []string{}
			if v != "" {
				st.Digests = strings.Split(v, ",")
			}
		}
	}
	return st, rows.Err()
}

// SetSettings replaces central's settings.
func (s *Service) SetSettings(ctx context.Context, actor string, st Settings) error {
	if st.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(st.SMTPAddr); err != nil {
			return fault.InvalidField("smtp_addr", "smtp_addr is host:port")
		}
	}
	if st.SMTPFrom != "" {
		if a, err := mail.ParseAddress(st.SMTPFrom); err != nil || a.Address != st.SMTPFrom {
			return fault.InvalidField("smtp_from", "smtp_from is a plain e-mail address")
		}
	}
	for _, p := range st.Digests {
		if p != Daily && p != Weekly {
			return fault.InvalidField("digests", "digests are daily and weekly, not %q", p)
		}
	}
	slices.Sort(st.Digests)
	st.Digests = slices.Compact(st.Digests)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for k, v := range map[string]string{"smtp_addr": st.SMTPAddr, "smtp_from": st.SMTPFrom, "digests": strings.Join(st.Digests, ",")} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notify_settings (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return fmt.Errorf("notification settings: %w", err)
			}
		}
		return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: actor, Action: "notify.settings.update",
			Details: map[string]any{"smtp_addr": st.SMTPAddr, "smtp_from": st.SMTPFrom, "digests": st.Digests}})
	})
}
