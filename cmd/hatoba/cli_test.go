package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// fakeAPI answers the environment routes the env commands use and records
// what it was sent.
type fakeAPI struct {
	mu   sync.Mutex
	seen []string // "METHOD path body"
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(body)))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(api.EnvironmentDetail{Environment: env.Environment{ID: "env-1", State: env.Ready, AccountID: "111122223333"}})
	case strings.HasSuffix(r.URL.Path, "/reject"):
		_ = json.NewEncoder(w).Encode(env.Environment{ID: "env-1", State: env.Rejected, StateReason: "rejected"})
	default:
		_ = json.NewEncoder(w).Encode(env.Environment{ID: "env-1", State: env.Approved})
	}
}

func (f *fakeAPI) requests() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.seen, "\n")
}

// Flags stand before or after the positional arguments, as the usage text
// writes them; the standard flag package stopped at the first positional.
func TestFlagsBeforeAndAfterPositionals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // in the requests the server saw
		out  string
	}{
		{"ok/show-flag-after", []string{"env", "show", "env-1", "--watch"}, "GET /api/v1/environments/env-1", "env-1 ready: account 111122223333"},
		{"ok/show-flag-before", []string{"env", "show", "--watch", "env-1"}, "GET /api/v1/environments/env-1", "env-1 ready: account 111122223333"},
		{"ok/reject-flag-after", []string{"env", "reject", "env-1", "--reason", "no budget"}, `POST /api/v1/environments/env-1/reject {"reason":"no budget"}`, "env-1 rejected"},
		{"ok/reject-flag-before", []string{"env", "reject", "--reason=no budget", "env-1"}, `POST /api/v1/environments/env-1/reject {"reason":"no budget"}`, "env-1 rejected"},
		{"ok/approve-json-after", []string{"env", "approve", "env-1", "--json"}, "POST /api/v1/environments/env-1/approve", "env-1 approved"},
		{"ok/transfer-flag-after", []string{"env", "transfer", "env-1", "--to", "lg-131016"}, `POST /api/v1/environments/env-1/transfer {"org_id":"lg-131016"}`, "env-1 approved: now in"},
		{"ok/close-flag-before", []string{"env", "close", "--reason", "retired", "env-1"}, `POST /api/v1/environments/env-1/close {"reason":"retired"}`, "env-1 approved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeAPI{}
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			var out, errOut bytes.Buffer
			err := runIO(t.Context(), append(tc.args, "--server", srv.URL), strings.NewReader(""), &out, &errOut)
			if err != nil {
				t.Fatalf("hatoba %s: %v\n%s", strings.Join(tc.args, " "), err, errOut.String())
			}
			if !strings.Contains(fake.requests(), tc.want) {
				t.Fatalf("the server saw\n%s\nwant %q", fake.requests(), tc.want)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Fatalf("output %q, want %q", out.String(), tc.out)
			}
		})
	}
}

// walk calls f with every command of the tree, root first.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// pathArgs is a command's path without the program name.
func pathArgs(c *cobra.Command) []string {
	return strings.Fields(c.CommandPath())[1:]
}

// Every group and command answers -h and --help with its usage, before or
// after its arguments, and succeeds.
func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	n := 0
	walk(newRootCmd(), func(c *cobra.Command) {
		n++
		for _, help := range [][]string{{"-h"}, {"--help"}, {"x", "-h"}} {
			args := append(pathArgs(c), help...)
			var out, errOut bytes.Buffer
			if err := runIO(context.Background(), args, strings.NewReader(""), &out, &errOut); err != nil {
				t.Errorf("hatoba %s: %v", strings.Join(args, " "), err)
				continue
			}
			if !strings.Contains(out.String(), "Usage:\n  "+c.CommandPath()) {
				t.Errorf("hatoba %s printed no usage:\n%s", strings.Join(args, " "), out.String())
			}
		}
	})
	if n < 60 {
		t.Fatalf("walked %d commands; the tree lost some", n)
	}
}

// A command line hatoba cannot read is one line and a hint where the
// usage is, exit status 2; nothing else is printed.
func TestUsageErrorIsOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
		help string
	}{
		{[]string{}, "a subcommand is required", "hatoba"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`, "hatoba"},
		{[]string{"env"}, "hatoba env needs a subcommand: approve, close, list, reject, request, retry, show, transfer", "hatoba env"},
		{[]string{"audit", "frobnicate"}, `unknown subcommand "frobnicate" for hatoba audit`, "hatoba audit"},
		{[]string{"env", "reject"}, "accepts 1 arg(s), received 0", "hatoba env reject"},
		{[]string{"env", "reject", "a", "b"}, "accepts 1 arg(s), received 2", "hatoba env reject"},
		{[]string{"env", "reject", "env-1", "--reasons", "x"}, "unknown flag: --reasons", "hatoba env reject"},
		{[]string{"env", "request", "--server", "http://127.0.0.1:1"}, "env request needs --org and --system", "hatoba env request"},
		{[]string{"scan", "--format", "pdf", "x.json"}, `--format must be text, json or sarif, not "pdf"`, "hatoba scan"},
		{[]string{"org", "import", "--set", "nokey"}, `--set needs key=value, not "nokey"`, "hatoba org import"},
		{[]string{"audit", "check-bundle", "x.json"}, "audit check-bundle needs --key KEY", "hatoba audit check-bundle"},
	} {
		var out, errOut bytes.Buffer
		err := runIO(context.Background(), tc.args, strings.NewReader(""), &out, &errOut)
		if !errors.As(err, new(usageError)) || exitCode(err) != exitUsage {
			t.Errorf("hatoba %s: %v (exit %d); want a usage error, exit 2", strings.Join(tc.args, " "), err, exitCode(err))
			continue
		}
		text := errorText(err)
		lines := strings.Split(text, "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], tc.msg) || lines[1] != "run '"+tc.help+" --help' for usage" {
			t.Errorf("hatoba %s says\n%s\nwant one line with %q and the hint for %q", strings.Join(tc.args, " "), text, tc.msg, tc.help)
		}
		if out.Len() != 0 || errOut.Len() != 0 {
			t.Errorf("hatoba %s also printed %q %q", strings.Join(tc.args, " "), out.String(), errOut.String())
		}
	}
}

// A server whose certificate this machine does not trust gets a hint to
// pass its CA, not the question whether serve runs.
func TestUntrustedServerCertificateNamesServerCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(&fakeAPI{})
	t.Cleanup(srv.Close)
	err := runIO(t.Context(), []string{"env", "list", "--server", srv.URL}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--server-ca") || !strings.Contains(err.Error(), "HATOBA_SERVER_CA") ||
		strings.Contains(err.Error(), "running") {
		t.Fatalf("error %v; want the --server-ca / HATOBA_SERVER_CA hint", err)
	}
	// A server that is not there is still asked about.
	err = runIO(t.Context(), []string{"env", "list", "--server", "https://127.0.0.1:1"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is `hatoba serve` running?") {
		t.Fatalf("error %v; want the question whether serve runs", err)
	}
}

// --listen is offered only where something listens.
func TestListenOnlyWhereItMeansSomething(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"hatoba serve": true, "hatoba keyd serve": true}
	walk(newRootCmd(), func(c *cobra.Command) {
		if got := c.Flags().Lookup("listen") != nil; got != want[c.CommandPath()] {
			t.Errorf("%s: --listen offered %v", c.CommandPath(), got)
		}
	})
}
