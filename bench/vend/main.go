// Command vend benchmarks environment vending at the Digital Agency's scale:
// it vends N environments on the simulated cloud with a concurrency cap and
// a fixed account-creation latency, on SQLite and on PostgreSQL, and prints
// a table: achieved accounts/s over the cap's ideal (cap / latency), hatoba's
// CPU time per environment, its peak memory, and the latency of the POST
// requests made by concurrent clients.
//
//	go run ./bench/vend                      # 6,000 environments, both databases
//	go run ./bench/vend -n 500 -db sqlite    # a quick look
//
// The simulated cloud runs in a child process so that the CPU and memory
// figures are hatoba's alone.
//
// With -providers aws,openstack the same run is made on the openstack
// driver against the real Keystone of scripts/keystone.sh, in a domain of
// its own: Keystone creates a project at once, so there is no ideal rate to
// compare with, and the table shows instead the calls each environment cost
// the cloud and the most creations in flight (the cap must hold).
//
//	scripts/keystone.sh && go run ./bench/vend -n 200 -db sqlite -providers aws,openstack
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

const (
	simKey    = "BENCHKEY"
	simSecret = "bench-secret"
)

func main() {
	n := flag.Int("n", 6000, "environments to vend")
	capacity := flag.Int("cap", 5, "provider concurrency cap")
	latency := flag.Duration("latency", 500*time.Millisecond, "simulated account-creation latency")
	clients := flag.Int("clients", 200, "concurrent API clients making the requests")
	dbs := flag.String("db", "sqlite,postgres", "databases to run on")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL (a scratch schema is created)")
	child := flag.String("simcloud-child", "", "internal: run the simulated cloud on this address")
	cpuProfile := flag.String("cpuprofile", "", "write hatoba's CPU profile of the run to this file")
	providers := flag.String("providers", "aws", "drivers to run: aws (the simulated cloud), openstack (the Keystone of scripts/keystone.sh)")
	keystoneURL := flag.String("keystone", "http://127.0.0.1:35357/v3", "Keystone's URL for -providers openstack")
	keystonePassword := flag.String("keystone-password", "hatoba-keystone-admin", "Keystone's admin password")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *child != "" {
		runSimChild(*child, *latency, *capacity)
		return
	}
	var rows []result
	for _, pk := range strings.Split(*providers, ",") {
		for _, d := range strings.Split(*dbs, ",") {
			target := cloudTarget{kind: strings.TrimSpace(pk), keystoneURL: *keystoneURL, keystonePassword: *keystonePassword}
			r, err := run(strings.TrimSpace(d), *pgURL, *n, *capacity, *latency, *clients, target)
			if err != nil {
				log.Fatalf("%s on %s: %v", target.kind, d, err)
			}
			rows = append(rows, r)
		}
	}
	printTable(os.Stdout, rows, *n, *capacity, *latency, *clients)
}

// cloudTarget says which driver and cloud a run vends on.
type cloudTarget struct {
	kind                          string // aws or openstack
	keystoneURL, keystonePassword string
}

type result struct {
	provider                     string
	db                           string
	callsPerEnv                  float64
	accountsPerSec, ideal, ratio float64
	readyPerSec                  float64
	cpuPerEnv                    time.Duration
	peakRSS                      int64
	p50, p99                     time.Duration
	total                        time.Duration
	maxInFlight, throttled       int
}

func runSimChild(addr string, latency time.Duration, capacity int) {
	dir, _ := os.MkdirTemp("", "bench-sim")
	defer os.RemoveAll(dir)
	sim, err := simcloud.Open(simcloud.Config{DBPath: filepath.Join(dir, "sim.db"), Latency: latency, ConcurrentCreations: capacity,
		AccessKeyID: simKey, SecretAccessKey: simSecret, Region: "ap-northeast-1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	log.Fatal(http.Serve(ln, sim.Handler()))
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startSim(latency time.Duration, capacity int) (string, func(), error) {
	addr := freeAddr()
	cmd := exec.Command(os.Args[0], "-simcloud-child", addr, "-latency", latency.String(), "-cap", fmt.Sprint(capacity))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil {
		return "", nil, fmt.Errorf("simulated cloud did not start: %w", err)
	}
	return "http://" + addr, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

func run(d, pgURL string, n, capacity int, latency time.Duration, clients int, target cloudTarget) (result, error) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Every request the driver makes to the cloud is counted.
	var calls atomic.Int64
	cloudClient := &http.Client{Transport: countingTransport{next: http.DefaultTransport, n: &calls}}
	var drv provider.Provider
	var kb *keystoneBench
	var simURL string
	switch target.kind {
	case "aws":
		var stopSim func()
		var err error
		simURL, stopSim, err = startSim(latency, capacity)
		if err != nil {
			return result{}, err
		}
		defer stopSim()
		drv, err = awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: simURL, AccessKeyID: simKey, SecretAccessKey: simSecret,
			HTTPClient: cloudClient})
		if err != nil {
			return result{}, err
		}
	case "openstack":
		var err error
		kb, err = newKeystoneBench(ctx, target.keystoneURL, target.keystonePassword, cloudClient)
		if kb != nil {
			defer kb.close()
		}
		if err != nil {
			return result{}, err
		}
		drv = kb.driver
	default:
		return result{}, fmt.Errorf("unknown provider %q (aws, openstack)", target.kind)
	}
	gauge := &inFlight{Provider: drv}
	db, closeDB, err := scratch.Open(ctx, d, pgURL, "bench_vend")
	if err != nil {
		return result{}, err
	}
	defer closeDB()
	if _, err := db.Migrate(ctx); err != nil {
		return result{}, err
	}
	orgs := org.New(db, time.Now)
	if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"}); err != nil {
		return result{}, err
	}
	if err := orgs.SetQuota(ctx, audit.Acting{Actor: "system"}, "nat-digital", n+1); err != nil {
		return result{}, err
	}
	envs := env.NewStore(db, time.Now)
	// A creation's status is polled twenty times over its latency, so the
	// poll adds at most 5 % to it. The dispatcher keeps its default: this
	// replica's own releases wake it at once, and its poll only looks for
	// other replicas' (it polled every latency/50 while jobs polled for
	// slots, which cost a tenth of the CPU here).
	poll := latency / 20
	engine, err := vending.New(db, envs, orgs, vending.Config{
		Connections:    []vending.Connection{{Name: "sim", Provider: gauge, Cap: capacity, PollInterval: poll}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      100 * time.Millisecond, RetryMax: 2 * time.Second, MaxAttempts: 50,
		FetchPollInterval: 100 * time.Millisecond, JobTimeout: 2 * time.Minute,
		Logger: quiet,
	})
	if err != nil {
		return result{}, err
	}
	// The requests come from a tenant administrator with a real token, so
	// authentication and the decision point are in the measured path.
	ids := identity.New(db, identity.Options{TokenTTL: time.Hour, InvitationTTL: time.Hour}, time.Now)
	token, err := benchToken(ctx, ids)
	if err != nil {
		return result{}, err
	}
	apiSrv := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: "bench", Logger: quiet,
		Identity: ids, Authz: authz.New(orgs, time.Minute, time.Now), Certs: api.NoTrustAnchors{}}
	mux := http.NewServeMux()
	apiSrv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	resetPeakRSS()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	if err := engine.Start(ctx); err != nil {
		return result{}, err
	}
	defer func() { _ = engine.Stop(context.Background()) }()

	// The requests: `clients` concurrent clients POST until n are made.
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	errc := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				body, _ := json.Marshal(env.Request{OrgID: "nat-digital", SystemName: fmt.Sprintf("system-%05d", i),
					Purpose: env.Development, Classification: env.Level2, Provider: "sim"})
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/environments", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := httpc.Do(req)
				if err != nil {
					errc <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusCreated {
					errc <- fmt.Errorf("request %d: HTTP %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return result{}, err
	}

	// Wait for every account to be active and every environment ready.
	var activeAt time.Time
	for {
		counts, err := envs.CountByState(ctx)
		if err != nil {
			return result{}, err
		}
		if activeAt.IsZero() {
			var active int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM environments WHERE account_id <> ''`).Scan(&active); err != nil {
				return result{}, err
			}
			if active == n {
				activeAt = time.Now()
			}
		}
		if counts[env.Failed] > 0 {
			return result{}, fmt.Errorf("%d environments failed", counts[env.Failed])
		}
		if counts[env.Ready] == n {
			break
		}
		fmt.Fprintf(os.Stderr, "\r%s: %d/%d ready  ", d, counts[env.Ready], n)
		time.Sleep(500 * time.Millisecond)
	}
	total := time.Since(start)
	fmt.Fprintln(os.Stderr)
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration((after.Utime.Nano() + after.Stime.Nano()) - (before.Utime.Nano() + before.Stime.Nano()))
	slices.Sort(lat)
	base := result{provider: target.kind, db: d, callsPerEnv: float64(calls.Load()) / float64(n),
		readyPerSec: float64(n) / total.Seconds(), cpuPerEnv: cpu / time.Duration(n),
		peakRSS: peakRSS(after), p50: lat[n/2], p99: lat[n*99/100], total: total}
	achieved := float64(n) / activeAt.Sub(start).Seconds()
	if kb != nil {
		// Keystone's own count: every environment has exactly one project.
		got, err := kb.accounts(ctx)
		if err != nil {
			return result{}, err
		}
		if got != n {
			return result{}, fmt.Errorf("the test Keystone holds %d projects for %d environments", got, n)
		}
		base.accountsPerSec, base.maxInFlight = achieved, int(gauge.max.Load())
		return base, nil
	}
	// The simulated cloud's own count: the cap must have held, and every
	// environment must have exactly one account.
	var sim struct {
		Accounts              int `json:"accounts"`
		MaxConcurrentObserved int `json:"max_concurrent_observed"`
		Throttled             int `json:"throttled"`
	}
	resp, err := http.Get(simURL + "/_simcloud/stats")
	if err != nil {
		return result{}, fmt.Errorf("simulated cloud stats: %w", err)
	}
	err = json.NewDecoder(resp.Body).Decode(&sim)
	resp.Body.Close()
	if err != nil {
		return result{}, fmt.Errorf("simulated cloud stats: %w", err)
	}
	if sim.Accounts != n {
		return result{}, fmt.Errorf("the simulated cloud holds %d accounts for %d environments", sim.Accounts, n)
	}
	ideal := float64(capacity) / latency.Seconds()
	base.accountsPerSec, base.ideal, base.ratio = achieved, ideal, achieved/ideal
	base.maxInFlight, base.throttled = sim.MaxConcurrentObserved, sim.Throttled
	return base, nil
}

// countingTransport counts the requests a driver makes to its cloud.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// inFlight records the most CreateAccount calls running at once: on
// Keystone, which creates a project before it answers, these are the
// creations in flight that the cap bounds.
type inFlight struct {
	provider.Provider
	now, max atomic.Int64
}

func (f *inFlight) CreateAccount(ctx context.Context, spec provider.AccountSpec) (string, error) {
	n := f.now.Add(1)
	defer f.now.Add(-1)
	for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
	}
	return f.Provider.CreateAccount(ctx, spec)
}

// resetPeakRSS starts a new peak-memory measurement, so that each
// database's row reports its own run (Linux; elsewhere the process peak).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads the peak resident set since resetPeakRSS.
func peakRSS(ru syscall.Rusage) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return ru.Maxrss * 1024
}

func printTable(w io.Writer, rows []result, n, capacity int, latency time.Duration, clients int) {
	fmt.Fprintf(w, "vend %d environments, cap %d, creation latency %s, %d concurrent API clients (%s, %d CPUs)\n\n",
		n, capacity, latency, clients, runtime.Version(), runtime.NumCPU())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "provider\tdatabase\taccounts/s\tideal (cap/latency)\tratio\tready/s\tCPU per env\tcloud calls per env\tpeak RSS\tPOST p50\tPOST p99\tmax in flight\tthrottled\ttotal\t")
	for _, r := range rows {
		ideal, ratio := "-", "-" // Keystone creates at once: no latency to compare with
		if r.ideal > 0 {
			ideal, ratio = fmt.Sprintf("%.2f", r.ideal), fmt.Sprintf("%.3f", r.ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%.2f\t%s\t%.1f\t%.0f MiB\t%s\t%s\t%d\t%d\t%s\t\n", r.provider, r.db, r.accountsPerSec, ideal, ratio,
			r.readyPerSec, r.cpuPerEnv.Round(time.Microsecond), r.callsPerEnv, float64(r.peakRSS)/(1<<20), r.p50.Round(time.Microsecond),
			r.p99.Round(time.Microsecond), r.maxInFlight, r.throttled, r.total.Round(time.Second))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nrerun: go run ./bench/vend [-n 6000] [-latency 500ms] [-cap 5] [-clients 200] [-db sqlite,postgres] [-providers aws,openstack]")
}

// benchToken signs in a tenant administrator of nat-digital.
func benchToken(ctx context.Context, ids *identity.Service) (string, error) {
	_, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: "bench"})
	if err != nil {
		return "", err
	}
	cert := identity.Certificate{IssuerDN: "CN=bench", Serial: "1", NotAfter: time.Now().Add(time.Hour)}
	if _, err := ids.Accept(ctx, inv, cert); err != nil {
		return "", err
	}
	_, token, _, err := ids.SignIn(ctx, cert, identity.APIToken, "bench")
	return token, err
}
