package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/text/width"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// client is the CLI's client of a running hatoba's API.
type client struct {
	base  string
	http  *http.Client
	token string
}

// do calls the API and decodes a JSON answer into out; a problem answer
// becomes an error carrying its detail.
func (c *client) do(ctx context.Context, method, path string, body any, header http.Header, out any) (int, error) {
	var rd io.Reader
	if raw, ok := body.(json.RawMessage); ok {
		rd = bytes.NewReader(raw) // sent byte for byte (a card-signed body)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, reachError(c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		var p api.Problem
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			return resp.StatusCode, fmt.Errorf("%s (HTTP %d)", p.Detail, resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected answer from %s: %w", c.base, err)
		}
	}
	return resp.StatusCode, nil
}

// reachError says what to do when the server cannot be reached: a
// certificate this machine does not trust needs the server's CA, not a
// question whether serve runs.
func reachError(base string, err error) error {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) {
		return fmt.Errorf("the certificate of %s is not trusted here: pass the CA it chains to with --server-ca FILE or HATOBA_SERVER_CA "+
			"(a server with a self-signed certificate writes it to hatoba-tls/server.pem): %w", base, err)
	}
	return fmt.Errorf("cannot reach hatoba at %s (is `hatoba serve` running? set --server or HATOBA_SERVER): %w", base, err)
}

func cmdEnv(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	var (
		orgID, system, purpose, class, prov, key, state, reason *string
		wait, watch                                             *bool
	)
	switch sub {
	case "request":
		orgID = fs.String("org", "", "organisation id, e.g. lg-131016 (required)")
		system = fs.String("system", "", "name of the system the environment is for (required)")
		purpose = fs.String("purpose", "development", "production, staging or development")
		class = fs.String("classification", "level2", "level1, level2 or level3 (機密性1–3)")
		prov = fs.String("provider", "sim", "provider connection: aws, openstack or sim ones by name (GET /api/v1/providers lists them with their tiers)")
		key = fs.String("idempotency-key", "", "retry-safe request key (default: a new random key)")
		wait = fs.Bool("wait", false, "wait until the environment is ready or failed")
	case "list":
		orgID = fs.String("org", "", "only this organisation's environments")
		state = fs.String("state", "", "only environments in this state")
	case "show":
		watch = fs.Bool("watch", false, "follow progress until ready or failed")
	case "reject":
		reason = fs.String("reason", "", "why (required; shown to the requester)")
	case "transfer":
		orgID = fs.String("to", "", "id of the receiving organisation (required)")
	case "close":
		reason = fs.String("reason", "", "why the environment closes (kept in its history)")
	case "approve", "retry":
	default:
		return failing(usageError{fmt.Sprintf("unknown env subcommand %q", sub)})
	}
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		switch sub {
		case "request":
			if *orgID == "" || *system == "" {
				return usageError{"env request needs --org and --system"}
			}
			if *key == "" {
				*key = randomKey()
			}
			var en env.Environment
			req := env.Request{OrgID: *orgID, SystemName: *system, Purpose: env.Purpose(*purpose), Classification: env.Classification(*class), Provider: *prov}
			if _, err := c.do(ctx, "POST", "/api/v1/environments", req, http.Header{"Idempotency-Key": {*key}}, &en); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s (%s)\n", en.ID, en.State, firstNonEmpty(en.ApprovalNotes, en.StateReason))
			if *wait {
				return follow(ctx, c, en.ID, stdout)
			}
			return nil
		case "list":
			q := url.Values{}
			if *orgID != "" {
				q.Set("org_id", *orgID)
			}
			if *state != "" {
				q.Set("state", *state)
			}
			return listAll(ctx, c, q, stdout, *asJSON)
		}
		if len(args) != 1 {
			return usageError{fmt.Sprintf("env %s needs exactly one environment id", sub)}
		}
		id := url.PathEscape(args[0])
		switch sub {
		case "show":
			if *watch {
				return follow(ctx, c, args[0], stdout)
			}
			var d api.EnvironmentDetail
			if _, err := c.do(ctx, "GET", "/api/v1/environments/"+id, nil, nil, &d); err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(d)
			}
			printDetail(stdout, d)
			return nil
		case "approve", "retry":
			var en env.Environment
			if _, err := c.do(ctx, "POST", "/api/v1/environments/"+id+"/"+sub, map[string]string{}, nil, &en); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s\n", en.ID, en.State)
			return nil
		case "reject":
			var en env.Environment
			if _, err := c.do(ctx, "POST", "/api/v1/environments/"+id+"/reject", map[string]string{"reason": *reason}, nil, &en); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s: %s\n", en.ID, en.State, en.StateReason)
			return nil
		case "transfer":
			if *orgID == "" {
				return usageError{"env transfer needs --to ORG"}
			}
			var en env.Environment
			if _, err := c.do(ctx, "POST", "/api/v1/environments/"+id+"/transfer", map[string]string{"org_id": *orgID}, nil, &en); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s: now in %s\n", en.ID, en.State, en.OrgID)
			return nil
		case "close":
			var en env.Environment
			if _, err := c.do(ctx, "POST", "/api/v1/environments/"+id+"/close", map[string]string{"reason": *reason}, nil, &en); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s %s\n", en.ID, en.State)
			return nil
		}
		return nil
	}
}

func listAll(ctx context.Context, c *client, q url.Values, stdout io.Writer, asJSON bool) error {
	var tbl table
	tbl.add("ID", "ORGANISATION", "SYSTEM", "PURPOSE", "CLASS", "PROVIDER", "STATE", "ACCOUNT")
	for {
		var page env.Page
		if _, err := c.do(ctx, "GET", "/api/v1/environments?"+q.Encode(), nil, nil, &page); err != nil {
			return err
		}
		for _, e := range page.Items {
			if asJSON {
				if err := json.NewEncoder(stdout).Encode(e); err != nil {
					return err
				}
				continue
			}
			tbl.add(e.ID, e.OrgID, e.SystemName, string(e.Purpose), string(e.Classification), e.Provider, string(e.State), e.AccountID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if asJSON {
		return nil
	}
	return tbl.print(stdout)
}

func printDetail(w io.Writer, d api.EnvironmentDetail) {
	fmt.Fprintf(w, "%s  %s / %s (%s, %s) on %s\n", d.ID, d.OrgID, d.SystemName, d.Purpose, d.Classification, d.Provider)
	fmt.Fprintf(w, "state: %s %s\n", d.State, d.StateReason)
	if d.ApprovalNotes != "" {
		fmt.Fprintf(w, "waiting for approval: %s\n", d.ApprovalNotes)
	}
	if d.AccountID != "" {
		fmt.Fprintf(w, "account: %s (%s) unit %s\n", d.AccountID, d.AccountEmail, d.UnitPath)
	}
	var tbl table
	tbl.add("#", "STEP", "STATE", "ATTEMPTS", "LAST ERROR")
	for _, s := range d.Steps {
		tbl.add(fmt.Sprint(s.Position), s.Name, string(s.State), fmt.Sprint(s.Attempts), s.LastError)
	}
	_ = tbl.print(w)
}

// follow prints each step as it finishes until the environment settles.
func follow(ctx context.Context, c *client, id string, w io.Writer) error {
	seen := map[string]bool{}
	announcedWait := false
	for {
		var d api.EnvironmentDetail
		if _, err := c.do(ctx, "GET", "/api/v1/environments/"+url.PathEscape(id), nil, nil, &d); err != nil {
			return err
		}
		for _, s := range d.Steps {
			if s.State == env.StepDone && !seen[s.Name] {
				seen[s.Name] = true
				fmt.Fprintf(w, "  ✓ %s\n", s.Name)
			}
		}
		switch d.State {
		case env.Ready:
			fmt.Fprintf(w, "%s ready: account %s\n", d.ID, d.AccountID)
			return nil
		case env.Failed, env.Rejected, env.Closed:
			return fmt.Errorf("%s %s: %s", d.ID, d.State, d.StateReason)
		case env.Requested:
			if !announcedWait {
				announcedWait = true
				fmt.Fprintf(w, "  … waiting for a central operator: %s\n", d.ApprovalNotes)
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// table prints aligned columns measured in terminal cells, where Japanese
// characters take two: text/tabwriter counts runes, which misaligns every
// column after a Japanese system name.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) error {
	var widths []int
	for _, row := range t.rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], cellWidth(cell))
		}
	}
	for _, row := range t.rows {
		var line strings.Builder
		for i, cell := range row {
			line.WriteString(cell)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-cellWidth(cell)+2))
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(line.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

func cellWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		if k := width.LookupRune(r).Kind(); k == width.EastAsianWide || k == width.EastAsianFullwidth {
			n++
		}
	}
	return n
}

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
