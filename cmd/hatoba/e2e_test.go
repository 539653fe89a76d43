package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api/apitest"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// These tests run the real binary as separate processes: they kill it with
// SIGKILL mid-vending and run three replicas on one PostgreSQL.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func hatobaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hatoba-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hatoba")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

var listenLine = regexp.MustCompile(`(?:serving|listening) on (https?://[0-9.:]+)`)

// start runs the binary and waits for it to print its address.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(hatobaBinary(t), args...)
	cmd.Env = append(os.Environ(), "HATOBA_CONFIG=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stderr = &lockedWriter{w: p.logs, mu: p.mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case p.url = <-urlc:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%v did not start:\n%s", args, p.logOutput())
	}
	t.Cleanup(func() { p.kill() })
	return p
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) logOutput() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// testClient talks to the test's own servers: their certificates are
// self-signed for the occasion. Every /api/v1 exchange is held to
// openapi.json (apitest): a mismatch is the call's error.
var testClient = &http.Client{Timeout: time.Minute, Transport: contractTransport(&http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // #nosec G402 -- the test's own server
})}

func contractTransport(base http.RoundTripper) http.RoundTripper {
	c, err := apitest.Load()
	if err != nil {
		return brokenContract{err}
	}
	return c.Transport(base)
}

type brokenContract struct{ err error }

func (b brokenContract) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("internal/api/openapi.json: %w", b.err)
}

func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	return callAs(t, "", method, url, body, out)
}

// callAs calls url with token as the bearer (none when empty).
func callAs(t *testing.T, token, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
		}
	}
	return resp.StatusCode
}

// mintToken makes a person of role in orgID, with a card bound and an API
// token, straight in the database a server migrated: the sign-in path
// without a card reader (the CLI's card login has its own test).
func mintToken(t *testing.T, dbURL string, role authz.Role, orgID string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := identity.New(db, identity.Options{TokenTTL: time.Hour, InvitationTTL: time.Hour}, time.Now)
	_, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: "e2e " + string(role)})
	if err != nil {
		t.Fatal(err)
	}
	cert := identity.Certificate{IssuerDN: "CN=e2e", Serial: randomKey(), NotAfter: time.Now().Add(time.Hour)}
	if _, err := ids.Accept(ctx, inv, cert); err != nil {
		t.Fatal(err)
	}
	_, token, _, err := ids.SignIn(ctx, cert, identity.APIToken, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

type simStats struct {
	Accounts              int `json:"accounts"`
	MaxConcurrentObserved int `json:"max_concurrent_observed"`
	CreateCalls           int `json:"create_calls"`
}

func startSim(t *testing.T, dir string, sets ...string) (*proc, []string) {
	args := []string{"simcloud", "--simcloud-listen", "127.0.0.1:0", "--set", "simcloud.db_path=" + filepath.Join(dir, "sim.db")}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	sim := start(t, args...)
	// serve flags that point the default provider connection at this simcloud.
	return sim, []string{"--set", "simcloud.embedded=false", "--set", "providers.sim.endpoint=" + sim.url,
		"--set", "providers.sim.access_key_id=HATOBASIMULATED", "--set", "providers.sim.secret_access_key=simulated-secret"}
}

// serveArgs runs serve on dbURL with its certificate and audit key in dir
// (replicas share them).
func serveArgs(dir, dbURL string, extra ...string) []string {
	args := []string{"serve", "--database-url", dbURL, "--listen", "127.0.0.1:0", "--log-level", "warn",
		"--set", "identity.tls_dir=" + filepath.Join(dir, "tls"), "--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key"),
		"--set", "providers.sim.poll_interval=50ms", "--set", "vending.retry_base=100ms",
		"--set", "vending.fetch_poll_interval=100ms", "--set", "vending.resume_interval=1s",
		"--set", "vending.job_timeout=4s", "--set", "vending.slot_poll_interval=20ms"}
	return append(args, extra...)
}

type envSummary struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	AccountID string `json:"account_id"`
	Reason    string `json:"state_reason"`
}

func requestMany(t *testing.T, token string, servers []*proc, orgID string, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		var en envSummary
		body := map[string]string{"org_id": orgID, "system_name": fmt.Sprintf("sys-%03d", i), "purpose": "development",
			"classification": "level2", "provider": "sim"}
		if st := callAs(t, token, "POST", servers[i%len(servers)].url+"/api/v1/environments", body, &en); st != 201 {
			t.Fatalf("request %d: status %d", i, st)
		}
		ids = append(ids, en.ID)
	}
	return ids
}

// waitAllReady polls the API until every environment is ready.
func waitAllReady(t *testing.T, token string, base func() string, ids []string, timeout time.Duration) map[string]envSummary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done := map[string]envSummary{}
		for _, id := range ids {
			var en envSummary
			if callAs(t, token, "GET", base()+"/api/v1/environments/"+id, nil, &en) == 200 && en.State == "ready" {
				done[id] = en
			}
			if en.State == "failed" || en.State == "requested" || en.State == "rejected" {
				t.Fatalf("%s is %s and will not become ready: %s", id, en.State, en.Reason)
			}
		}
		if len(done) == len(ids) {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d environments ready after %s", len(done), len(ids), timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func assertOneAccountEach(t *testing.T, sim *proc, envs map[string]envSummary) simStats {
	t.Helper()
	seen := map[string]string{}
	for id, en := range envs {
		if other, dup := seen[en.AccountID]; dup || en.AccountID == "" {
			t.Errorf("%s has account %q, also held by %q", id, en.AccountID, other)
		}
		seen[en.AccountID] = id
	}
	var st simStats
	call(t, "GET", sim.url+"/_simcloud/stats", nil, &st)
	if st.Accounts != len(envs) {
		t.Errorf("the cloud holds %d accounts for %d environments: a second account was created", st.Accounts, len(envs))
	}
	return st
}

// createOrg creates nat-digital as a central operator and returns a token
// of a tenant administrator of it.
func createOrg(t *testing.T, dbURL, base string) string {
	t.Helper()
	op := mintToken(t, dbURL, authz.CentralOperator, "")
	st := callAs(t, op, "POST", base+"/api/v1/organizations", map[string]string{"id": "nat-digital", "kind": "national", "name_ja": "デジタル庁", "name_en": "Digital Agency"}, nil)
	if st != 201 && st != 409 {
		t.Fatalf("create organisation: %d", st)
	}
	return mintToken(t, dbURL, authz.TenantAdmin, "nat-digital")
}

// TestCrashResume kills `hatoba serve` with SIGKILL twice while it is
// vending and restarts it: every environment becomes ready with exactly one
// account, on SQLite and on PostgreSQL.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and waits for River's rescuer; skipped with -short")
	}
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dbURL := storetest.URL(t, d)
			sim, simFlags := startSim(t, dir, "simcloud.latency=700ms", "simcloud.lost_response_rate=0.1", "simcloud.seed=11")
			srv := start(t, serveArgs(dir, dbURL, simFlags...)...)
			admin := createOrg(t, dbURL, srv.url)
			ids := requestMany(t, admin, []*proc{srv}, "nat-digital", 16)
			for crash := 0; crash < 2; crash++ {
				time.Sleep(time.Duration(400+300*crash) * time.Millisecond)
				srv.kill()
				srv = start(t, serveArgs(dir, dbURL, simFlags...)...)
			}
			current := srv
			envs := waitAllReady(t, admin, func() string { return current.url }, ids, 4*time.Minute)
			assertOneAccountEach(t, sim, envs)
		})
	}
}

// TestThreeReplicas runs three `hatoba serve` processes on one PostgreSQL
// database against a cloud that would allow 100 concurrent creations: the
// cap of 5 holds across all replicas, every environment is created exactly
// once, and the work is shared.
func TestThreeReplicas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := storetest.URL(t, store.Postgres)
	sim, simFlags := startSim(t, dir, "simcloud.latency=300ms", "simcloud.concurrent_creations=100")
	var servers []*proc
	for i := 0; i < 3; i++ {
		// 30 environments for one organisation exceed the default quota of 20,
		// which would send the rest to the operator.
		args := append(serveArgs(dir, dbURL, simFlags...), "--set", "vending.default_quota=100")
		servers = append(servers, start(t, args...))
	}
	admin := createOrg(t, dbURL, servers[0].url)
	ids := requestMany(t, admin, servers, "nat-digital", 30)
	envs := waitAllReady(t, admin, func() string { return servers[1].url }, ids, 3*time.Minute)
	st := assertOneAccountEach(t, sim, envs)
	if st.MaxConcurrentObserved > 5 {
		t.Fatalf("%d account creations were in flight at once; the cap is 5 across all replicas", st.MaxConcurrentObserved)
	}
	if st.MaxConcurrentObserved < 2 {
		t.Errorf("at most %d creation was in flight: the replicas did not work in parallel", st.MaxConcurrentObserved)
	}
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var workers int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(DISTINCT attempted_by[array_length(attempted_by, 1)]) FROM river_job WHERE kind = 'vend_account'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers < 2 {
		t.Errorf("account creations were worked by %d replica(s); want the work shared", workers)
	}
}
