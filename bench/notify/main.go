// Command notify benchmarks routing findings to their owners: 100,000
// findings across 1,700 organisations, each with a webhook channel, one of
// which answers in 1 s per call and one of which always fails. It prints
// the routing and delivery throughput, the latency from a finding's
// recording to its arrival at the healthy receivers (p50, p99), what
// became of the slow and the failing receivers' messages, and checks that
// nothing was lost or delivered to another organisation's receiver.
//
//	go run ./bench/notify                         # SQLite
//	go run ./bench/notify -db postgres            # PostgreSQL
//	go run ./bench/notify -findings 20000 -orgs 500
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
)

func main() {
	findings := flag.Int("findings", 100_000, "findings to route")
	orgs := flag.Int("orgs", 1_700, "organisations, each with one webhook channel")
	rounds := flag.Int("rounds", 10, "collection rounds the findings arrive in (each organisation's share of a round is one batch, as posture records it)")
	workers := flag.Int("workers", 16, "delivery workers")
	feeders := flag.Int("feeders", 4, "concurrent batches being recorded (posture's collector evaluates 4 environments at once)")
	slowDelay := flag.Duration("slow", time.Second, "the slow receiver's time per call")
	attempts := flag.Int("attempts", 4, "attempts before a delivery is dead")
	db := flag.String("db", "sqlite", "sqlite or postgres")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL (a scratch schema is created)")
	flag.Parse()
	if err := run(*db, *pgURL, *findings, *orgs, *rounds, *workers, *feeders, *attempts, *slowDelay); err != nil {
		log.Fatal(err)
	}
}

// receipt is what the receivers saw.
type receipts struct {
	mu        sync.Mutex
	firstSeen map[string]time.Time // finding id → first arrival
	dups      int
	foreign   int
	latencies []time.Duration // healthy receivers, first arrival of each finding
	recorded  map[string]time.Time
	slowCalls atomic.Int64
	failCalls atomic.Int64
}

const slowOrg, failOrg = "org-0000", "org-0001"

func run(dialect, pgURL string, nFindings, nOrgs, rounds, workers, feeders, attempts int, slowDelay time.Duration) error {
	ctx := context.Background()
	db, cleanup, err := scratch.Open(ctx, dialect, pgURL, "hatoba_bench_notify")
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	ks := keys.New(db, keys.Options{})
	shares, err := ks.InitSplit(ctx, authz.Principal{PersonID: "bench", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		return err
	}
	for _, sh := range shares[:2] {
		if _, err := ks.SubmitShare(ctx, audit.Acting{Actor: "bench"}, sh); err != nil {
			return err
		}
	}
	rc := &receipts{firstSeen: map[string]time.Time{}, recorded: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := strings.TrimPrefix(r.URL.Path, "/")
		body, _ := io.ReadAll(r.Body)
		switch org {
		case slowOrg:
			rc.slowCalls.Add(1)
			time.Sleep(slowDelay)
		case failOrg:
			rc.failCalls.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		now := time.Now()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, e := range m.Events {
			if e.OrgID != org || m.OrgID != org {
				rc.foreign++
			}
			if _, seen := rc.firstSeen[e.SourceID]; seen {
				rc.dups++
				continue
			}
			rc.firstSeen[e.SourceID] = now
			if org != slowOrg {
				rc.latencies = append(rc.latencies, now.Sub(rc.recorded[e.SourceID]))
			}
		}
	}))
	defer srv.Close()

	s := notify.New(db, notify.KeyService{Keys: ks}, time.Now, notify.Options{AllowPrivateTargets: true, Workers: workers,
		MaxAttempts: attempts, RetryBase: 200 * time.Millisecond, RetryMax: 2 * time.Second, SendTimeout: 5 * time.Second,
		Lease: 30 * time.Second, PollInterval: 50 * time.Millisecond})
	orgIDs := make([]string, nOrgs)
	setupStart := time.Now()
	for i := range orgIDs {
		orgIDs[i] = fmt.Sprintf("org-%04d", i)
		if _, err := s.CreateChannel(ctx, "bench", "", orgIDs[i], notify.ChannelSpec{Name: "soc", Kind: notify.Webhook,
			URL: srv.URL + "/" + orgIDs[i], MinSeverity: ptr(controls.Low)}); err != nil {
			return err
		}
	}
	setup := time.Since(setupStart)

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(runCtx) })
	defer func() { stop(); wg.Wait() }()

	// Route: each round gives every organisation its share as one batch;
	// feeders record batches concurrently, as the collector does.
	sevs := []controls.Severity{controls.Critical, controls.High, controls.High, controls.Medium, controls.Low}
	expected := map[string]int{} // organisation → findings
	var batches [][]notify.Incoming
	n := 0
	for round := 0; round < rounds && n < nFindings; round++ {
		for oi, org := range orgIDs {
			share := nFindings / (nOrgs * rounds)
			if oi < (nFindings/rounds)%nOrgs {
				share++
			}
			var batch []notify.Incoming
			for k := 0; k < share && n < nFindings; k++ {
				id := fmt.Sprintf("f-%07d", n)
				batch = append(batch, notify.Incoming{OrgID: org, EnvID: "env-" + org, Source: notify.SourceHatoba, SourceID: id,
					Severity: sevs[n%len(sevs)], Title: "bench finding", ControlID: fmt.Sprintf("c-%d", n%53), ResourceID: "arn:aws:s3:::" + id})
				n++
			}
			if len(batch) > 0 {
				batches = append(batches, batch)
				expected[org] += len(batch)
			}
		}
	}
	routeStart := time.Now()
	next := make(chan []notify.Incoming)
	var feed sync.WaitGroup
	var feedErr atomic.Value
	for range feeders {
		feed.Go(func() {
			for batch := range next {
				at := time.Now()
				rc.mu.Lock()
				for _, f := range batch {
					rc.recorded[f.SourceID] = at
				}
				rc.mu.Unlock()
				if _, err := s.Ingest(ctx, batch); err != nil {
					feedErr.Store(err)
				}
			}
		})
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	feed.Wait()
	if err, ok := feedErr.Load().(error); ok {
		return err
	}
	routed := time.Since(routeStart)

	// Wait until every healthy receiver has everything, the slow one too,
	// and the failing one's messages are all dead.
	healthyWant := 0
	for org, k := range expected {
		if org != failOrg {
			healthyWant += k
		}
	}
	var healthyDone time.Duration
	deadline := time.Now().Add(30 * time.Minute)
	for {
		rc.mu.Lock()
		got := len(rc.firstSeen)
		rc.mu.Unlock()
		st, err := s.Stats(ctx)
		if err != nil {
			return err
		}
		if got >= healthyWant-expected[slowOrg] && healthyDone == 0 {
			healthyDone = time.Since(routeStart)
		}
		if got >= healthyWant && st[notify.Pending]+st[notify.Sending] == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after 30 minutes: %d of %d findings received, %v", got, healthyWant, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	total := time.Since(routeStart)

	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	slowDs, _ := s.Deliveries(ctx, slowOrg, "", 500)
	deadFail, _ := s.Deliveries(ctx, failOrg, notify.Dead, 500)
	lost := 0
	for id := range rc.recorded {
		if _, ok := rc.firstSeen[id]; !ok {
			lost++
		}
	}
	// The failing receiver's findings are not lost: they are in its dead
	// letters, visible to the tenant.
	deadFindings := 0
	for _, d := range deadFail {
		deadFindings += d.Events
	}
	lost -= deadFindings
	slices.Sort(rc.latencies)
	pct := func(p float64) time.Duration {
		if len(rc.latencies) == 0 {
			return 0
		}
		return rc.latencies[min(len(rc.latencies)-1, int(p*float64(len(rc.latencies))))].Round(time.Millisecond)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "notify bench: %d findings, %d organisations in %d rounds, %s, %d feeders, %d workers; %s slow (%s per call), %s failing\n\n",
		nFindings, nOrgs, rounds, dialect, feeders, workers, slowOrg, slowDelay, failOrg)
	fmt.Fprintf(tw, "measure\tvalue\n")
	fmt.Fprintf(tw, "channels created (sealed)\t%d in %s\n", nOrgs, setup.Round(time.Millisecond))
	fmt.Fprintf(tw, "routing (record + outbox)\t%.0f findings/s (%s)\n", float64(nFindings)/routed.Seconds(), routed.Round(time.Millisecond))
	fmt.Fprintf(tw, "healthy receivers done\t%s after the first finding (%.0f findings/s end to end)\n", healthyDone.Round(time.Millisecond),
		float64(healthyWant-expected[slowOrg])/healthyDone.Seconds())
	fmt.Fprintf(tw, "messages delivered\t%d (%d findings, grouped per batch)\n", st[notify.Delivered], len(rc.firstSeen))
	fmt.Fprintf(tw, "latency p50 / p99 (healthy)\t%s / %s (recorded → received)\n", pct(0.50), pct(0.99))
	fmt.Fprintf(tw, "slow receiver\t%d messages, %d findings, all delivered %v; %d calls; done %s\n", len(slowDs), expected[slowOrg],
		allDelivered(slowDs), rc.slowCalls.Load(), total.Round(time.Millisecond))
	fmt.Fprintf(tw, "failing receiver\t%d messages dead after %d attempts (%d calls), %d findings in the dead letters\n", len(deadFail), attempts,
		rc.failCalls.Load(), deadFindings)
	fmt.Fprintf(tw, "duplicates received\t%d (at least once; receivers drop them by delivery id)\n", rc.dups)
	fmt.Fprintf(tw, "lost\t%d\n", lost)
	fmt.Fprintf(tw, "delivered to another organisation\t%d\n", rc.foreign)
	if err := tw.Flush(); err != nil {
		return err
	}
	if lost != 0 || rc.foreign != 0 {
		return fmt.Errorf("lost %d, misdelivered %d", lost, rc.foreign)
	}
	return nil
}

func allDelivered(ds []notify.Delivery) bool {
	for _, d := range ds {
		if d.State != notify.Delivered {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }
