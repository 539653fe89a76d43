package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// buildNotify wires notifications for serve: channel secrets sealed through
// the key service, digests signed with the audit log's (the platform's)
// key, outside findings attributed by account and mapped to the catalog's
// controls by their CIS references, so they deduplicate with hatoba's own.
func buildNotify(db *store.DB, ks *keys.Service, signer note.Signer, catalog *controls.Catalog, envs *env.Store, cfg config.Notify, log *slog.Logger) *notify.Service {
	return notify.New(db, notify.KeyService{Keys: ks}, time.Now, notify.Options{
		Workers: cfg.Workers, Lease: cfg.Lease, RetryBase: cfg.RetryBase, AllowPrivateTargets: cfg.AllowPrivateTargets,
		Signer: signer, Accounts: envs, Logger: log.With("component", "notify"),
		ControlFor: func(refs []string) string { return controlFor(catalog.Engine().Controls(), refs) },
	})
}

// controlFor is the catalog's control a finding's references name:
// "control:<id>" (hatoba's own OCSF), or "cis:<id>" (Security Hub's CIS
// requirements), when exactly one control maps it.
func controlFor(cs []controls.Control, refs []string) string {
	for _, r := range refs {
		kind, id, _ := strings.Cut(r, ":")
		var match []string
		for _, c := range cs {
			if kind == "control" && c.ID == id || kind == "cis" && slices.Contains(c.Frameworks.CIS, id) {
				match = append(match, c.ID)
			}
		}
		if len(match) == 1 {
			return match[0]
		}
	}
	return ""
}

const notifySubcommands = "channels, channel, deliveries, retry, events, suppress, suppressions, lift, ingest-token, notices, notice, digests, digest, settings"

// cmdNotify is "hatoba notify …": an organisation's channels, outbox,
// suppressions and inbox, and central's digest, through a running server.
func cmdNotify(sub string, fs *pflag.FlagSet) runFunc {
	// The subcommands' closures below run after parsing; they see the
	// context, the positional arguments and the output through these.
	var (
		ctx    context.Context
		args   []string
		stdout io.Writer
	)
	cf := addClientFlags(fs)
	org := fs.String("org", "", "the organisation (none: central's own channels and deliveries)")
	asJSON := fs.Bool("json", false, "print JSON")
	var run func(c *client) error
	base := func() string {
		if *org == "" {
			return "/api/v1/notify"
		}
		return "/api/v1/organizations/" + url.PathEscape(*org) + "/notify"
	}
	needOrg := func() error {
		if *org == "" {
			return usageError{"notify " + sub + " needs --org"}
		}
		return nil
	}
	print := func(v any, rows func(*table)) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		t := &table{}
		rows(t)
		return t.print(stdout)
	}
	one := func(c *client, method, path string, body any) error {
		var out map[string]any
		if _, err := c.do(ctx, method, path, body, nil, &out); err != nil {
			return fmt.Errorf("notify %s: %w", sub, err)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	switch sub {
	case "channels":
		run = func(c *client) error {
			var out struct{ Items []notify.Channel }
			if _, err := c.do(ctx, "GET", base()+"/channels", nil, nil, &out); err != nil {
				return fmt.Errorf("notify channels: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "NAME", "KIND", "TARGET", "MIN", "GROUP", "QUIET", "ENABLED")
				for _, ch := range out.Items {
					t.add(ch.ID, ch.Name, string(ch.Kind), ch.TargetHint, string(ch.MinSeverity), fmt.Sprint(time.Duration(ch.GroupSeconds)*time.Second),
						ch.QuietFrom+"-"+ch.QuietTo+" "+ch.TZ, fmt.Sprint(ch.Enabled))
				}
			})
		}
	case "deliveries":
		state := fs.String("state", "", "pending, sending, delivered or dead (the dead letters)")
		run = func(c *client) error {
			q := ""
			if *state != "" {
				q = "?state=" + url.QueryEscape(*state)
			}
			var out struct{ Items []notify.Delivery }
			if _, err := c.do(ctx, "GET", base()+"/deliveries"+q, nil, nil, &out); err != nil {
				return fmt.Errorf("notify deliveries: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "CHANNEL", "KIND", "STATE", "EVENTS", "ATTEMPTS", "DUE", "LAST ERROR")
				for _, d := range out.Items {
					t.add(d.ID, d.ChannelID, d.Kind, d.State, fmt.Sprint(d.Events), fmt.Sprint(d.Attempts), d.DueAt.Local().Format(time.DateTime), d.LastError)
				}
			})
		}
	case "retry":
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			if len(args) != 1 {
				return usageError{"notify retry DELIVERY --org ID"}
			}
			return one(c, "POST", base()+"/deliveries/"+url.PathEscape(args[0])+"/retry", nil)
		}
	case "events":
		critical := fs.Bool("critical", false, "critical events only (what central reads)")
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			path := base() + "/events"
			if *critical {
				path = base() + "/critical-events"
			}
			var out struct{ Items []notify.Event }
			if _, err := c.do(ctx, "GET", path, nil, nil, &out); err != nil {
				return fmt.Errorf("notify events: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "SEVERITY", "SOURCE", "CONTROL", "RESOURCE", "STATUS", "FIRST SEEN", "SUPPRESSED BY")
				for _, e := range out.Items {
					t.add(e.ID, string(e.Severity), e.Source, e.ControlID, e.ResourceID, e.Status, e.FirstSeen.Local().Format(time.DateTime), e.SuppressedBy)
				}
			})
		}
	case "suppress":
		envID := fs.String("env", "", "only this environment")
		control := fs.String("control", "", "only this control (hatoba's id, or asff:<Security Hub control>)")
		resource := fs.String("resource", "", "only this resource (ARN or id)")
		reason := fs.String("reason", "", "why (audited; 10 characters or more)")
		lasts := fs.Duration("for", 30*24*time.Hour, "how long, at most 366 days")
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			return one(c, "POST", base()+"/suppressions", map[string]any{"env_id": *envID, "control_id": *control, "resource_id": *resource,
				"reason": *reason, "expires_at": time.Now().Add(*lasts).UTC().Format(time.RFC3339)})
		}
	case "suppressions":
		all := fs.Bool("all", false, "also the lifted and expired ones")
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			var out struct{ Items []notify.Suppression }
			if _, err := c.do(ctx, "GET", base()+"/suppressions?all="+fmt.Sprint(*all), nil, nil, &out); err != nil {
				return fmt.Errorf("notify suppressions: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "ENV", "CONTROL", "RESOURCE", "EXPIRES", "BY", "REASON")
				for _, s := range out.Items {
					t.add(s.ID, s.EnvID, s.ControlID, s.ResourceID, s.ExpiresAt.Local().Format(time.DateTime), s.CreatedBy, s.Reason)
				}
			})
		}
	case "lift":
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			if len(args) != 1 {
				return usageError{"notify lift SUPPRESSION --org ID"}
			}
			if _, err := c.do(ctx, "DELETE", base()+"/suppressions/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return fmt.Errorf("notify lift: %w", err)
			}
			fmt.Fprintf(stdout, "lifted %s\n", args[0])
			return nil
		}
	case "ingest-token":
		run = func(c *client) error {
			if err := needOrg(); err != nil {
				return err
			}
			return one(c, "POST", base()+"/ingest-token", nil)
		}
	case "notices":
		run = func(c *client) error {
			var out struct{ Items []notify.Notice }
			if _, err := c.do(ctx, "GET", base()+"/notices", nil, nil, &out); err != nil {
				return fmt.Errorf("notify notices: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "ORG", "EVENT", "STATE", "SENT", "MESSAGE")
				for _, n := range out.Items {
					t.add(n.ID, n.OrgID, n.EventID, n.State, n.SentAt.Local().Format(time.DateTime), n.Message)
				}
			})
		}
	case "digests":
		run = func(c *client) error {
			var out struct{ Items []notify.StoredDigest }
			if _, err := c.do(ctx, "GET", "/api/v1/notify/digests", nil, nil, &out); err != nil {
				return fmt.Errorf("notify digests: %w", err)
			}
			return print(out.Items, func(t *table) {
				t.add("ID", "PERIOD", "FROM", "TO", "CRITICAL")
				for _, d := range out.Items {
					t.add(d.ID, d.Period, d.Start.Format(time.DateOnly), d.End.Format(time.DateOnly), fmt.Sprint(d.Critical))
				}
			})
		}
	case "settings":
		smtpAddr := fs.String("smtp-addr", "", "the SMTP relay, host:port")
		smtpFrom := fs.String("smtp-from", "", "the sender address")
		digests := fs.String("digests", "", "the digest's periods: daily, weekly, daily,weekly or none")
		run = func(c *client) error {
			var st notify.Settings
			if _, err := c.do(ctx, "GET", "/api/v1/notify/settings", nil, nil, &st); err != nil {
				return fmt.Errorf("notify settings: %w", err)
			}
			changed := false
			fs.Visit(func(f *pflag.Flag) {
				switch f.Name {
				case "smtp-addr":
					st.SMTPAddr, changed = *smtpAddr, true
				case "smtp-from":
					st.SMTPFrom, changed = *smtpFrom, true
				case "digests":
					st.Digests, changed = []string{}, true
					if *digests != "none" && *digests != "" {
						st.Digests = strings.Split(*digests, ",")
					}
				}
			})
			if changed {
				return one(c, "PUT", "/api/v1/notify/settings", st)
			}
			return one(c, "GET", "/api/v1/notify/settings", nil)
		}
	default:
		return failing(usageError{fmt.Sprintf("notify needs a subcommand: %s (not %q)", notifySubcommands, sub)})
	}
	return func(c context.Context, a []string, _ io.Reader, out, _ io.Writer) error {
		ctx, args, stdout = c, a, out
		cl, err := newClient(cf)
		if err != nil {
			return err
		}
		return run(cl)
	}
}

// cmdNotifyChannel is "hatoba notify channel add|update|test|delete".
func cmdNotifyChannel(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	org := fs.String("org", "", "the organisation (none: central's own channels)")
	name := fs.String("name", "", "the channel's name")
	kind := fs.String("kind", "", "webhook, slack, teams or email")
	target := fs.String("url", "", "the webhook's https URL (webhook, slack, teams)")
	to := fs.String("to", "", "e-mail recipients, comma-separated")
	minSev := fs.String("min-severity", "", "the least severe finding sent: critical, high (default), medium, low, informational")
	group := fs.Duration("group", -1, "send findings within this window together (up to 1h)")
	quiet := fs.String("quiet", "", "quiet hours HH:MM-HH:MM, when only critical findings are sent at once")
	tz := fs.String("tz", "", "the quiet hours' time zone (default Asia/Tokyo)")
	enabled := fs.String("enabled", "", "true or false")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		base := "/api/v1/notify/channels"
		if *org != "" {
			base = "/api/v1/organizations/" + url.PathEscape(*org) + "/notify/channels"
		}
		spec := map[string]any{}
		if *minSev != "" {
			spec["min_severity"] = *minSev
		}
		if *group >= 0 {
			spec["group_seconds"] = int(group.Seconds())
		}
		if *quiet != "" {
			from, until, ok := strings.Cut(*quiet, "-")
			if !ok {
				return usageError{"--quiet is HH:MM-HH:MM, e.g. 22:00-07:00"}
			}
			spec["quiet_from"], spec["quiet_to"] = from, until
		}
		if *tz != "" {
			spec["tz"] = *tz
		}
		if *enabled != "" {
			spec["enabled"] = *enabled == "true"
		}
		var method, path string
		var body any = spec
		switch sub {
		case "add":
			spec["name"], spec["kind"] = *name, *kind
			if *target != "" {
				spec["url"] = *target
			}
			if *to != "" {
				spec["recipients"] = strings.Split(*to, ",")
			}
			method, path = "POST", base
		case "update", "test", "delete":
			if len(args) != 1 {
				return usageError{"notify channel " + sub + " CHANNEL [--org ID]"}
			}
			path = base + "/" + url.PathEscape(args[0])
			method = map[string]string{"update": "PATCH", "test": "POST", "delete": "DELETE"}[sub]
			if sub == "test" {
				path += "/test"
			}
			if sub != "update" {
				body = nil
			}
		default:
			return usageError{fmt.Sprintf("notify channel needs a subcommand: add, update, test, delete (not %q)", sub)}
		}
		var out map[string]any
		if _, err := c.do(ctx, method, path, body, nil, &out); err != nil {
			return fmt.Errorf("notify channel %s: %w", sub, err)
		}
		if sub == "delete" {
			fmt.Fprintf(stdout, "deleted %s\n", args[0])
			return nil
		}
		if k, ok := out["signing_key"].(string); ok && k != "" {
			fmt.Fprintf(stderr, "the webhook's signing key is shown this once; give it to the receiver (docs/notifications.md)\n")
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
}

// cmdNotifyNotice is "hatoba notify notice send|ack|fix".
func cmdNotifyNotice(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	org := fs.String("org", "", "the organisation whose notice it is (ack, fix)")
	message := fs.String("message", "", "the notice (send)")
	fixNote := fs.String("note", "", "what was fixed (fix)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if len(args) != 1 {
			return usageError{"notify notice send EVENT --message TEXT | ack NOTICE --org ID | fix NOTICE --org ID --note TEXT"}
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		var method, path string
		var body any
		switch sub {
		case "send":
			method, path, body = "POST", "/api/v1/notify/notices", map[string]string{"event_id": args[0], "message": *message}
		case "ack", "fix":
			if *org == "" {
				return usageError{"notify notice " + sub + " needs --org"}
			}
			verb := map[string]string{"ack": "acknowledge", "fix": "fix"}[sub]
			method, path = "POST", "/api/v1/organizations/"+url.PathEscape(*org)+"/notify/notices/"+url.PathEscape(args[0])+"/"+verb
			if sub == "fix" {
				body = map[string]string{"note": *fixNote}
			}
		default:
			return usageError{fmt.Sprintf("notify notice needs a subcommand: send, ack, fix (not %q)", sub)}
		}
		var out notify.Notice
		if _, err := c.do(ctx, method, path, body, nil, &out); err != nil {
			return fmt.Errorf("notify notice %s: %w", sub, err)
		}
		fmt.Fprintf(stdout, "%s %s (organisation %s, event %s)\n", out.ID, out.State, out.OrgID, out.EventID)
		return nil
	}
}

// cmdNotifyDigest is "hatoba notify digest make|show|verify": verify
// checks a digest offline with the platform's public key.
func cmdNotifyDigest(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	period := fs.String("period", notify.Daily, "daily or weekly (make)")
	key := fs.String("key", "", "the platform's public key, <name>+<hash>+<key> as hatoba audit key prints it (verify)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if sub == "verify" {
			if len(args) != 1 || *key == "" {
				return usageError{"notify digest verify --key KEY FILE (the digest's signed text, as show prints it)"}
			}
			v, err := audit.ParseVerifierKey(*key)
			if err != nil {
				return err
			}
			signed, err := os.ReadFile(args[0]) //nolint:gosec // G703: the operator names the file on the command line
			if err != nil {
				return err
			}
			d, err := notify.OpenDigest(signed, v)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "digest %s verified: %s %s to %s, %d critical (previous period %d) in %d organisations\n",
				d.ID, d.Period, d.Start.Format(time.DateOnly), d.End.Format(time.DateOnly), d.Critical, d.Previous, len(d.Organizations))
			return nil
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		var d notify.StoredDigest
		switch sub {
		case "make":
			_, err = c.do(ctx, "POST", "/api/v1/notify/digests", map[string]string{"period": *period}, nil, &d)
		case "show":
			if len(args) != 1 {
				return usageError{"notify digest show DIGEST"}
			}
			_, err = c.do(ctx, "GET", "/api/v1/notify/digests/"+url.PathEscape(args[0]), nil, nil, &d)
		default:
			return usageError{fmt.Sprintf("notify digest needs a subcommand: make, show, verify (not %q)", sub)}
		}
		if err != nil {
			return fmt.Errorf("notify digest %s: %w", sub, err)
		}
		_, err = io.WriteString(stdout, d.Signed)
		return err
	}
}
