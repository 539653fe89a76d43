// Command recovery measures how long vending takes to recover from a crash:
// it runs `hatoba serve` with its default vending settings against a
// simulated cloud (account creation takes -latency), requests a backlog of
// environments, kills the server with SIGKILL after -kill-after, restarts
// it, and times the restart until every environment is ready. The same
// backlog without a crash, measured in the same run, is the peer.
//
//	go run ./bench/recovery                         # backlogs 20, 60, 200 on both databases
//	go run ./bench/recovery -n 20 -db sqlite        # one row
//
// hatoba and the simulated cloud run as their own processes, as in
// production: the crash is a real SIGKILL.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func main() {
	backlogs := flag.String("n", "20,60,200", "backlogs to measure, comma-separated")
	dbs := flag.String("db", "sqlite,postgres", "databases: sqlite, postgres or both")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database for the scratch schemas")
	latency := flag.Duration("latency", 2*time.Second, "simulated account-creation latency")
	killAfter := flag.Duration("kill-after", 3*time.Second, "how long after the last request the server is killed")
	flag.Parse()

	dir, err := os.MkdirTemp("", "hatoba-recovery")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hatoba")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/hatoba").CombinedOutput(); err != nil {
		log.Fatalf("go build: %v\n%s", err, out)
	}
	var rows []row
	for _, d := range strings.Split(*dbs, ",") {
		for _, f := range strings.Split(*backlogs, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				log.Fatalf("-n: %q is not a backlog", f)
			}
			r := row{db: d, n: n}
			if r.clean, _, err = measure(bin, d, *pgURL, n, *latency, 0); err != nil {
				log.Fatalf("%s, %d without a crash: %v", d, n, err)
			}
			if r.crashed, r.afterRestart, err = measure(bin, d, *pgURL, n, *latency, *killAfter); err != nil {
				log.Fatalf("%s, %d with a crash: %v", d, n, err)
			}
			log.Printf("%s, backlog %d: %s without a crash; %s with one, %s of it after the restart", d, n,
				r.clean.Round(100*time.Millisecond), r.crashed.Round(100*time.Millisecond), r.afterRestart.Round(100*time.Millisecond))
			rows = append(rows, r)
		}
	}
	fmt.Printf("\nrecovery after kill -9 (default vending settings, cap 5, account creation %s, killed %s after the last request)\n\n", *latency, *killAfter)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\tbacklog\tno crash: all ready\tcrash: all ready\trestart → all ready\tdelay the crash added\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.1f s\t%.1f s\t%.1f s\t%.1f s\t\n", r.db, r.n, r.clean.Seconds(), r.crashed.Seconds(),
			r.afterRestart.Seconds(), (r.crashed - r.clean).Seconds())
	}
	_ = tw.Flush()
}

type row struct {
	db                           string
	n                            int
	clean, crashed, afterRestart time.Duration
}

// measure requests n environments and times them until all are ready. With
// killAfter > 0 the server is killed that long after the last request and
// restarted at once; the second result is then the time from the restart.
func measure(bin, d, pgURL string, n int, latency, killAfter time.Duration) (total, afterRestart time.Duration, err error) {
	ctx := context.Background()
	dbURL, drop, err := scratch.URL(ctx, d, pgURL, "hatoba_recovery")
	if err != nil {
		return 0, 0, err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "hatoba-recovery-run")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)

	sim, err := startProc(bin, "simcloud", "--simcloud-listen", "127.0.0.1:0", "--set", "simcloud.db_path="+filepath.Join(dir, "sim.db"),
		"--set", "simcloud.latency="+latency.String())
	if err != nil {
		return 0, 0, err
	}
	defer sim.kill()
	serve := []string{"serve", "--database-url", dbURL, "--listen", "127.0.0.1:0", "--log-level", "warn",
		"--set", "identity.tls_dir=" + filepath.Join(dir, "tls"), "--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key"),
		"--set", "simcloud.embedded=false", "--set", "providers.sim.endpoint=" + sim.url,
		"--set", "providers.sim.access_key_id=HATOBASIMULATED", "--set", "providers.sim.secret_access_key=simulated-secret",
		"--set", "vending.default_quota=100000"} // the backlog is one organisation's
	srv, err := startProc(bin, serve...)
	if err != nil {
		return 0, 0, err
	}
	defer func() { srv.kill() }()

	token, err := tenantToken(ctx, dbURL, srv.url)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var en struct {
			ID string `json:"id"`
		}
		body := map[string]string{"org_id": "nat-digital", "system_name": fmt.Sprintf("sys-%04d", i), "purpose": "development",
			"classification": "level2", "provider": "sim"}
		if st, err := call(token, "POST", srv.url+"/api/v1/environments", body, &en); err != nil || st != 201 {
			return 0, 0, fmt.Errorf("request %d: %d %v", i, st, err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
		}
		ids = append(ids, en.ID)
	}
	restarted := start
	if killAfter > 0 {
		time.Sleep(killAfter)
		srv.kill()
		if srv, err = startProc(bin, serve...); err != nil {
			return 0, 0, err
		}
		restarted = time.Now()
	}
	if err := waitReady(token, srv.url, ids, 15*time.Minute); err != nil {
		return 0, 0, err
	}
	return time.Since(start), time.Since(restarted), nil
}

// waitReady polls the list of environments until all of ids are ready.
func waitReady(token, base string, ids []string, timeout time.Duration) error {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		cursor := ""
		for {
			var page struct {
				Items []struct {
					ID, State, StateReason string
				} `json:"items"`
				NextCursor string `json:"next_cursor"`
			}
			if st, err := call(token, "GET", base+"/api/v1/environments?org_id=nat-digital&limit=500&cursor="+cursor, nil, &page); err != nil || st != 200 {
				return fmt.Errorf("list environments: %d %v", st, err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
			}
			for _, en := range page.Items {
				if !want[en.ID] {
					continue
				}
				switch en.State {
				case "ready":
					ready++
				case "failed", "rejected", "requested":
					return fmt.Errorf("%s is %s: %s", en.ID, en.State, en.StateReason)
				}
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if ready == len(ids) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d ready after %s", ready, len(ids), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tenantToken creates the organisation as a central operator and returns
// a token of one of its tenant administrators, minted in the database the
// server migrated (the sign-in path without a card reader).
func tenantToken(ctx context.Context, dbURL, base string) (string, error) {
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return "", err
	}
	defer db.Close()
	ids := identity.New(db, identity.Options{TokenTTL: time.Hour, InvitationTTL: time.Hour}, time.Now)
	mint := func(role authz.Role, orgID string) (string, error) {
		_, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: "bench " + string(role)})
		if err != nil {
			return "", err
		}
		cert := identity.Certificate{IssuerDN: "CN=bench", Serial: fmt.Sprint(time.Now().UnixNano()), NotAfter: time.Now().Add(time.Hour)}
		if _, err := ids.Accept(ctx, inv, cert); err != nil {
			return "", err
		}
		_, token, _, err := ids.SignIn(ctx, cert, identity.APIToken, "bench")
		return token, err
	}
	op, err := mint(authz.CentralOperator, "")
	if err != nil {
		return "", err
	}
	org := map[string]string{"id": "nat-digital", "kind": "national", "name_ja": "デジタル庁", "name_en": "Digital Agency"}
	if st, err := call(op, "POST", base+"/api/v1/organizations", org, nil); err != nil || (st != 201 && st != 409) {
		return "", fmt.Errorf("create organisation: %d %v", st, err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
	}
	return mint(authz.TenantAdmin, "nat-digital")
}

var client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // #nosec G402 -- the benchmark's own server, self-signed
}}

func call(token, method, url string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

type proc struct {
	cmd *exec.Cmd
	url string
}

var listening = regexp.MustCompile(`(?:serving|listening) on (https?://[0-9.:]+)`)

// startProc runs the binary and waits for it to print its address.
func startProc(bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HATOBA_CONFIG=")
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case u := <-urlc:
		return &proc{cmd: cmd, url: u}, nil
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New(strings.Join(args[:1], " ") + " did not start within a minute")
	}
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}
