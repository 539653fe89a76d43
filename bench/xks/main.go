// Command xks benchmarks the XKS proxy API the way AWS KMS drives it:
// Encrypt and Decrypt requests over real HTTP on loopback, each signed with
// SigV4 by the AWS SDK's signer, from concurrent clients (64 by default),
// against the real key service in each custody mode, and prints one table
// of requests per second and p50/p99/p99.9 latency.
//
// The modes:
//
//   - split: the production stack — a migrated scratch database (SQLite,
//     or a PostgreSQL schema with -db postgres), internal/keys initialised
//     with a 3-of-5 split master key and unsealed, a tenant with a key and
//     an XKS credential, keyd as the handler's backend and keyd's Recorder
//     writing one audit entry per request, in batches, as cmd/hatoba wires
//     it. The bench checks that the audit log ends up with one usage entry
//     per request served.
//   - hsm: the same with the master key on a SoftHSM2 token made for the
//     run. It needs cgo and SoftHSM2 (scripts/install-test-deps.sh); without
//     either the row is skipped and the reason printed.
//   - mem: the in-memory xkstest backend (AES-256-GCM, no database, no
//     audit log): what HTTP, JSON and SigV4 cost alone, for comparison.
//
// Two ways to load it:
//
//   - closed loop (the default): -c clients each send a request, wait for
//     the answer, and send the next. This measures throughput; its latency
//     is mostly queueing behind the other clients, and a slow answer holds
//     back the requests that would have followed it (coordinated omission).
//   - open loop (-rate N): requests are sent at N a second on a fixed
//     schedule, whatever the answers do, by up to -c senders, and each
//     latency is measured from the request's intended send time — so a
//     stall counts against every request it delayed, as it would against
//     AWS KMS, which does not slow down when the proxy does. A warm-up
//     (-warmup) at the same rate opens the connections first. Signing is
//     cached per second: SigV4 of the same request in the same second is
//     the same bytes, so the generator spends its CPU on HTTP, not on
//     recomputing identical signatures (the proxy still verifies each).
//
// The load generator runs in a child process of the command (-gen
// process, the default), so the proxy's process schedules the proxy's
// goroutines only; -gen inline runs it in the proxy's process, as earlier
// figures were made. On a machine of two cores both share the CPUs either
// way; the table's header gives the load average.
//
// Any answer but 200 is an error: the first one's body is printed and the
// command exits 1.
//
//	go run ./bench/xks                          # split, hsm, mem; 64 clients, 10 s a row
//	go run ./bench/xks -modes split -d 3s -tls  # quick, over HTTPS
//	go run ./bench/xks -rate 5000 -d 5s         # open loop at 5,000 requests/s
//	go run ./bench/xks -rate 5000 -gen inline   # the generator inside the proxy's process
//	go run ./bench/xks -db postgres -pg postgres://postgres@127.0.0.1:5432/test?sslmode=disable
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

const (
	region = "ap-northeast-1"
	prefix = "/bench"
)

type options struct {
	modes         []string
	clients       int
	rate          int
	warmup        time.Duration
	dur           time.Duration
	size, aadSize int
	cdiv, useTLS  bool
	db, pgURL     string
	cpuProfile    string
	// genProcess runs each row's load generator in a child process.
	genProcess bool
	// client is the open loop's HTTP client: raw or nethttp.
	client string
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == generatorFlag {
		if err := runGenerator(); err != nil {
			log.Fatal(err)
		}
		return
	}
	var o options
	gen := flag.String("gen", "process", "where the load generator runs: process (its own, the default) or inline (in the proxy's process)")
	flag.StringVar(&o.client, "client", "raw", "open loop: the generator's HTTP client — raw (prepared bytes on keep-alive connections, least CPU) or nethttp (net/http's client)")
	modes := flag.String("modes", "split,hsm,mem", "custody modes to run: split, hsm, mem")
	flag.IntVar(&o.clients, "c", 0, "concurrent clients (closed loop, default 64) or most requests in flight (open loop, default 512)")
	flag.IntVar(&o.rate, "rate", 0, "open loop: send this many requests a second on a fixed schedule (0: closed loop)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "open loop: run this long at the rate before measuring")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "duration of each row (mode and operation)")
	flag.IntVar(&o.size, "size", 32, "plaintext bytes (a data key is 32)")
	flag.IntVar(&o.aadSize, "aad", 128, "additionalAuthenticatedData bytes")
	flag.BoolVar(&o.cdiv, "cdiv", false, "ask for the ciphertext data integrity value (adds a decrypt self-check)")
	flag.BoolVar(&o.useTLS, "tls", false, "serve HTTPS (loopback, test certificate)")
	flag.StringVar(&o.db, "db", "sqlite", "database of the split and hsm modes: sqlite or postgres")
	flag.StringVar(&o.pgURL, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL with -db postgres (a scratch schema is created)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rows (all modes) to this file")
	flag.Parse()
	switch *gen {
	case "process":
		o.genProcess = true
	case "inline":
	default:
		log.Fatalf("-gen %q: process or inline", *gen)
	}
	if o.clients <= 0 {
		o.clients = 64
		if o.rate > 0 {
			o.clients = 512
		}
	}
	for m := range strings.SplitSeq(*modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "split", "hsm", "mem":
			o.modes = append(o.modes, m)
		case "":
		default:
			log.Fatalf("unknown mode %q (split, hsm or mem)", m)
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	ok, err := run(context.Background(), o)
	if err != nil {
		log.Print(err)
	}
	if err != nil || !ok {
		pprof.StopCPUProfile() // log.Fatal and os.Exit skip the deferred stop
		os.Exit(1)
	}
}

type result struct {
	mode, op  string
	n, errs   int
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration
	// lateSends counts open-loop requests sent more than a millisecond
	// after their intended time (no free sender, or the generator
	// starved): their latency includes the wait.
	lateSends int
	// sent is every request of the row, its warm-up included; proxyCPU and
	// generatorCPU are the CPU time (user and system) each process spent
	// on them — with the generator in its own process, so that the table
	// shows how the two shared the machine (generatorCPU is 0 inline,
	// where proxyCPU is both).
	sent                   int
	proxyCPU, generatorCPU time.Duration
}

// perRequest formats d shared over n requests, or "-" without either.
func perRequest(d time.Duration, n int) string {
	if d <= 0 || n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%dµs", (d / time.Duration(n)).Microseconds())
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run benchmarks each mode in turn and prints the table; ok is false when
// a request failed or the audit log's count is off.
func run(ctx context.Context, o options) (ok bool, err error) {
	// The key service and the recorder log at warning level and above:
	// a lost usage record or a failed flush shows on stderr.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var results []result
	var notes []string
	ok = true
	for _, mode := range o.modes {
		var s *stack
		if mode == "mem" {
			s, err = memStack(logger)
		} else {
			s, err = realStack(ctx, mode, o.db, o.pgURL, logger)
		}
		if errors.Is(err, errSkipped) {
			notes = append(notes, fmt.Sprintf("%s: %v", mode, err))
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", mode, err)
		}
		rs, err := bench(s, o)
		results = append(results, rs...)
		entries, ferr := s.finish(ctx)
		if err != nil {
			return false, fmt.Errorf("%s: %w", mode, err)
		}
		if ferr != nil {
			return false, fmt.Errorf("%s: %w", mode, ferr)
		}
		// Every request answered 200 must have its record; a request
		// refused (throttled, or failed closed) may have none.
		served, answered200, recorded := s.served.Load(), s.ok.Load(), s.recorded.Load()
		switch {
		case entries < 0:
			notes = append(notes, fmt.Sprintf("%s: %d requests answered (with the warm-up), %d with 200, %d usage records (no audit log)", mode, served, answered200, recorded))
		case entries == recorded && answered200 <= recorded:
			notes = append(notes, fmt.Sprintf("%s: %d requests answered (with the warm-up), %d with 200, %d usage entries in the audit log: none served without its record", mode, served, answered200, entries))
		default:
			ok = false
			notes = append(notes, fmt.Sprintf("%s: MISMATCH: %d requests answered, %d with 200, %d usage records acknowledged, %d usage entries in the audit log", mode, served, answered200, recorded, entries))
		}
	}

	scheme := "HTTP"
	if o.useTLS {
		scheme = "HTTPS"
	}
	fmt.Printf("XKS proxy over %s on loopback, SigV4 (aws-sdk-go-v2 signer) per request\n", scheme)
	if o.rate > 0 {
		fmt.Printf("open loop: %d requests/s on a fixed schedule, latency from the intended send time, at most %d in flight, %s warm-up, %s per row, plaintext %d B, AAD %d B, CDIV %v\n",
			o.rate, o.clients, o.warmup, o.dur, o.size, o.aadSize, o.cdiv)
	} else {
		fmt.Printf("closed loop: %d clients, %s per row, plaintext %d B, AAD %d B, CDIV %v\n", o.clients, o.dur, o.size, o.aadSize, o.cdiv)
	}
	where := "in the same process"
	if o.genProcess {
		where = "in its own process, on the same CPUs"
	}
	fmt.Printf("machine: GOMAXPROCS %d, %d CPUs, %s, %s/%s, load average %s (the load generator runs %s)\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAverage(), where)
	if o.db == "postgres" {
		fmt.Println("database: PostgreSQL, a scratch schema per mode (split, hsm); mem has none")
	} else {
		fmt.Println("database: SQLite, a scratch file per mode (split, hsm); mem has none")
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\top\trequests\treq/s\tp50\tp99\tp99.9\tmax\terrors\tlate sends\tproxy CPU/req\tgenerator CPU/req\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", r.mode, r.op, r.n, float64(r.n)/r.elapsed.Seconds(),
			pct(r.latencies, 0.50), pct(r.latencies, 0.99), pct(r.latencies, 0.999), pct(r.latencies, 1), r.errs, r.lateSends,
			perRequest(r.proxyCPU, r.sent), perRequest(r.generatorCPU, r.sent))
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
	for _, r := range results {
		if r.errs > 0 {
			ok = false
			fmt.Printf("%s %s: %d errors; the first: %s\n", r.mode, r.op, r.errs, r.firstErr)
		}
	}
	fmt.Println("rerun: go run ./bench/xks [-modes split,hsm,mem] [-c 64] [-d 10s] [-tls] [-db sqlite|postgres]")
	fmt.Printf("this run: go run ./bench/xks -modes %s -c %d -d %s -size %d -aad %d -db %s", strings.Join(o.modes, ","), o.clients, o.dur, o.size, o.aadSize, o.db)
	if !o.genProcess {
		fmt.Print(" -gen inline")
	}
	if o.rate > 0 {
		fmt.Printf(" -rate %d -warmup %s", o.rate, o.warmup)
	}
	if o.cdiv {
		fmt.Print(" -cdiv")
	}
	if o.useTLS {
		fmt.Print(" -tls")
	}
	fmt.Println()
	return ok, nil
}

// bench serves s on loopback and runs encrypt, then decrypt, against it.
func bench(s *stack, o options) ([]result, error) {
	srv := httptest.NewUnstartedServer(s)
	srv.Listener.Close()
	var err error
	if srv.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if o.useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = o.clients
	tr.MaxConnsPerHost = o.clients
	c := caller{client: client, akid: s.akid, secret: s.secret}

	pt, aad := random(o.size), random(o.aadSize)
	md := map[string]string{"awsPrincipalArn": "arn:aws:iam::123456789012:role/bench", "kmsOperation": "GenerateDataKey",
		"kmsRequestId": "00000000-0000-0000-0000-000000000000", "kmsKeyArn": "arn:aws:kms:ap-northeast-1:123456789012:key/bench"}
	encReq := map[string]any{"requestMetadata": md, "plaintext": b64(pt), "additionalAuthenticatedData": b64(aad), "encryptionAlgorithm": "AES_GCM"}
	if o.cdiv {
		encReq["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
	}
	encBody, err := json.Marshal(encReq)
	if err != nil {
		return nil, err
	}
	base := srv.URL + prefix + "/kms/xks/v1/keys/" + benchKey + "/"

	// One sealed data key to decrypt again and again, as KMS Decrypt does.
	out, err := c.call(base+"encrypt", encBody)
	if err != nil {
		return nil, fmt.Errorf("warm-up encrypt: %w", err)
	}
	var sealed map[string]string
	if err := json.Unmarshal(out, &sealed); err != nil {
		return nil, fmt.Errorf("warm-up encrypt answer: %w", err)
	}
	md["kmsOperation"] = "Decrypt"
	decBody, err := json.Marshal(map[string]any{"requestMetadata": md, "ciphertext": sealed["ciphertext"],
		"ciphertextMetadata": sealed["ciphertextMetadata"], "initializationVector": sealed["initializationVector"],
		"authenticationTag": sealed["authenticationTag"], "additionalAuthenticatedData": b64(aad), "encryptionAlgorithm": "AES_GCM"})
	if err != nil {
		return nil, err
	}
	out, err = c.call(base+"decrypt", decBody)
	if err != nil {
		return nil, fmt.Errorf("warm-up decrypt: %w", err)
	}
	var opened map[string]string
	if err := json.Unmarshal(out, &opened); err != nil || opened["plaintext"] != b64(pt) {
		return nil, fmt.Errorf("warm-up decrypt: the plaintext does not come back (%v)", err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
	}

	var results []result
	for _, op := range []struct {
		name, url string
		body      []byte
	}{{"encrypt", base + "encrypt", encBody}, {"decrypt", base + "decrypt", decBody}} {
		var r result
		cpu0 := processCPU()
		if o.genProcess {
			r, err = inChild(generatorJob{URL: op.url, Body: op.body, AKID: s.akid, Secret: s.secret, Rate: o.rate,
				Clients: o.clients, Warmup: o.warmup, Dur: o.dur, ServerCertDER: certDER(srv.Certificate()), Client: o.client})
			if err != nil {
				return results, fmt.Errorf("%s %s: %w", s.mode, op.name, err)
			}
		} else if o.rate > 0 {
			newSender, err := senders(o.client, c, op.url, op.body, tr.TLSClientConfig)
			if err != nil {
				return results, err
			}
			var warm result
			if o.warmup > 0 {
				warm = openLoop(newSender, o.rate, o.clients, o.warmup)
			}
			r = openLoop(newSender, o.rate, o.clients, o.dur)
			r.sent = warm.n + warm.errs + r.n + r.errs
		} else {
			r = load(c, op.url, op.body, o.clients, o.dur)
		}
		r.mode, r.op = s.mode, op.name
		r.proxyCPU = processCPU() - cpu0
		if r.sent == 0 {
			r.sent = r.n + r.errs
		}
		results = append(results, r)
	}
	return results, nil
}

// add gathers one client's latencies and errors into r; the caller holds
// the lock.
func (r *result) add(lat []time.Duration, errs int, first string) {
	r.latencies = append(r.latencies, lat...)
	if r.errs == 0 && errs > 0 {
		r.firstErr = first
	}
	r.errs += errs
}

// load runs clients loops of signed POSTs for dur.
func load(c caller, url string, body []byte, clients int, dur time.Duration) result {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var res result
	start := time.Now()
	deadline := start.Add(dur)
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			errs, first := 0, ""
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := c.call(url, body); err != nil {
					if errs == 0 {
						first = err.Error()
					}
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.add(lat, errs, first)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

var signer = v4.NewSigner()

// caller signs and sends XKS requests with one credential.
type caller struct {
	client       *http.Client
	akid, secret string
}

func (c caller) call(url string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), xks.Service, region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, out)
	}
	return out, nil
}

// loadAverage is the machine's one-minute load average, or "?" where
// /proc/loadavg cannot be read: a figure on a busy machine says so.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func pct(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond).String()
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
