// Command audit benchmarks the tamper-evident audit log on SQLite and on
// PostgreSQL and prints two tables:
//
//   - what an audit append costs a normal transaction: transactions per
//     second of a small insert, without and with one audit.Append in the
//     same transaction, from concurrent clients;
//
//   - how fast the integrator sequences and signs entries, how long Verify
//     takes over the whole log (default 1,000,000 entries) and the peak
//     memory it uses, and how long a tenant's bundle of 500 entries with
//     inclusion proofs takes to build from that log.
//
//     go run ./bench/audit                          # 1,000,000 entries, both databases
//     go run ./bench/audit -n 100000 -db sqlite     # a quick look
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func main() {
	n := flag.Int("n", 1_000_000, "entries to integrate and verify")
	txs := flag.Int("tx", 20_000, "transactions per append measurement")
	clients := flag.Int("clients", 8, "concurrent clients making the transactions")
	bundle := flag.Int("bundle", 500, "entries in the tenant's bundle")
	allSigs := flag.Bool("all-signatures", false, "also time a verify that checks every signature")
	dbs := flag.String("db", "sqlite,postgres", "databases to run on")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL (a scratch schema is created)")
	flag.Parse()

	var rows []result
	for _, d := range strings.Split(*dbs, ",") {
		r, err := run(strings.TrimSpace(d), *pgURL, *n, *txs, *clients, *bundle, *allSigs)
		if err != nil {
			log.Fatalf("%s: %v", d, err)
		}
		rows = append(rows, r)
	}
	printTables(os.Stdout, rows, *n, *txs, *clients, *bundle, *allSigs)
}

type result struct {
	db                          string
	plainTPS, auditTPS          float64
	plainP50, auditP50          time.Duration
	integratePerSec             float64
	verify, verifyAll           time.Duration
	sigChecks                   int
	peakHeap, peakRSS, dbBytes  int64
	bundleBuild, bundleCheck    time.Duration
	bundleEntries, bundleProofs int
}

// tenants are the organisations the benchmark's entries are about.
var tenants = []string{"lg-011002", "lg-131016", "lg-271004", "lg-401005", "nat-digital", "pref-13", "pref-27", "lg-141003", "lg-231002", ""}

func entry(i int) audit.Entry {
	return audit.Entry{Actor: fmt.Sprintf("p-%05d", i%5000), Action: "env.request", OrgID: tenants[i%len(tenants)],
		Target: fmt.Sprintf("env-%08d", i), Details: map[string]any{"system_name": "住民記録", "purpose": "production", "n": i}}
}

func run(d, pgURL string, n, txs, clients, bundle int, allSigs bool) (result, error) {
	ctx := context.Background()
	db, closeDB, err := scratch.Open(ctx, d, pgURL, "bench_audit")
	if err != nil {
		return result{}, err
	}
	defer closeDB()
	if _, err := db.Migrate(ctx); err != nil {
		return result{}, err
	}
	r := result{db: d}
	dir, err := os.MkdirTemp("", "bench-audit-key")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	key, _, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), "bench.invalid/audit")
	if err != nil {
		return result{}, err
	}
	l := audit.New(db, key.Signer, nil)

	// 1. The cost of an append inside a normal transaction.
	things := `CREATE TABLE bench_things (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)`
	if d == "sqlite" {
		things = `CREATE TABLE bench_things (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, at TIMESTAMP NOT NULL)`
	}
	if _, err := db.ExecContext(ctx, things); err != nil {
		return result{}, err
	}
	if _, _, err := transactions(ctx, db, txs/10, clients, true); err != nil { // warm up
		return result{}, err
	}
	if r.plainTPS, r.plainP50, err = transactions(ctx, db, txs, clients, false); err != nil {
		return result{}, err
	}
	if r.auditTPS, r.auditP50, err = transactions(ctx, db, txs, clients, true); err != nil {
		return result{}, err
	}
	fmt.Fprintf(os.Stderr, "%s: %.0f tx/s without the append, %.0f with\n", d, r.plainTPS, r.auditTPS)

	// 2. Integration: queue up to n entries, then sequence and sign them.
	queued, err := audit.Pending(ctx, db)
	if err != nil {
		return result{}, err
	}
	if err := fill(ctx, db, int(queued), n, d); err != nil {
		return result{}, err
	}
	start := time.Now()
	cp, err := l.Integrate(ctx)
	if err != nil {
		return result{}, err
	}
	r.integratePerSec = float64(cp.Size) / time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "%s: integrated %d entries at %.0f/s\n", d, cp.Size, r.integratePerSec)
	r.dbBytes = dbSize(ctx, db)

	// 3. Verify the whole log, watching memory.
	runtime.GC()
	resetPeakRSS()
	stopWatch := watchHeap()
	start = time.Now()
	rep, err := audit.Verify(ctx, db, key.Verifier, audit.VerifyOptions{})
	r.verify = time.Since(start)
	r.peakHeap = stopWatch()
	r.peakRSS = peakRSS()
	if err != nil {
		return result{}, err
	}
	if !rep.OK() || rep.Size != cp.Size {
		return result{}, fmt.Errorf("verify: %+v", rep)
	}
	r.sigChecks = rep.SignatureChecks
	fmt.Fprintf(os.Stderr, "%s: verified %d entries in %s\n", d, rep.Size, r.verify.Round(time.Millisecond))
	if allSigs {
		start = time.Now()
		if rep, err := audit.Verify(ctx, db, key.Verifier, audit.VerifyOptions{AllSignatures: true}); err != nil || !rep.OK() {
			return result{}, fmt.Errorf("verify all signatures: %v %+v", err, rep.Problem) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
		}
		r.verifyAll = time.Since(start)
	}

	// 4. A tenant's bundle from the middle of the log.
	start = time.Now()
	b, err := l.Bundle(ctx, audit.Filter{OrgIDs: []string{"lg-131016"}, FromSeq: cp.Size / 2, Limit: bundle})
	r.bundleBuild = time.Since(start)
	if err != nil {
		return result{}, err
	}
	start = time.Now()
	if err := audit.VerifyBundle(b, key.VerifierKey); err != nil {
		return result{}, err
	}
	r.bundleCheck = time.Since(start)
	r.bundleEntries = len(b.Entries)
	for _, e := range b.Entries {
		r.bundleProofs += len(e.Proof)
	}
	return r, nil
}

// transactions runs total small transactions from clients goroutines —
// one insert each, and an audit append when withAudit — and returns the
// rate and the median latency.
func transactions(ctx context.Context, db *store.DB, total, clients int, withAudit bool) (float64, time.Duration, error) {
	var next atomic.Int64
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				t0 := time.Now()
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO bench_things (name, at) VALUES ($1, $2)`, fmt.Sprintf("thing-%d", i), t0.UTC()); err != nil {
						return err
					}
					if !withAudit {
						return nil
					}
					return audit.Append(ctx, tx, entry(i))
				})
				if err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	slices.Sort(lat)
	return float64(total) / elapsed.Seconds(), lat[total/2], nil
}

// fill queues entries from..n-1 in transactions of 5,000 appends.
func fill(ctx context.Context, db *store.DB, from, n int, d string) error {
	workers := 1
	if d == "postgres" {
		workers = 8 // network round trips, not the database, bound one client
	}
	const chunk = 5000
	var next atomic.Int64
	next.Store(int64(from))
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				first := int(next.Add(chunk)) - chunk
				if first >= n {
					return
				}
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for i := first; i < min(first+chunk, n); i++ {
						if err := audit.Append(ctx, tx, entry(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if c := done.Add(chunk); c%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "\r%s: queued %d  ", d, c)
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(os.Stderr)
	close(errs)
	return <-errs
}

func dbSize(ctx context.Context, db *store.DB) int64 {
	var n int64
	q := `SELECT pg_total_relation_size('audit_entries') + pg_total_relation_size('audit_nodes')`
	if db.Dialect() == store.SQLite {
		q = `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0
	}
	return n
}

// watchHeap samples the Go heap every 5 ms until the returned function is
// called, which returns the peak.
func watchHeap() func() int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := int64(sample[0].Value.Uint64()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// resetPeakRSS starts a new peak-memory measurement (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads the peak resident set since resetPeakRSS.
func peakRSS() int64 {
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
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func printTables(w io.Writer, rows []result, n, txs, clients, bundle int, allSigs bool) {
	fmt.Fprintf(w, "audit log benchmark (%s, %d CPUs)\n\n", runtime.Version(), runtime.NumCPU())
	fmt.Fprintf(w, "appends inside normal transactions: %d transactions of one small insert, from %d concurrent clients\n", txs, clients)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\ttx/s without append\ttx/s with append\tratio\tadded per tx\tp50 without\tp50 with\t")
	for _, r := range rows {
		added := time.Duration(float64(time.Second) * (1/r.auditTPS - 1/r.plainTPS) * float64(clients))
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%s\t%s\t%s\t\n", r.db, r.plainTPS, r.auditTPS, r.auditTPS/r.plainTPS,
			added.Round(time.Microsecond), r.plainP50.Round(time.Microsecond), r.auditP50.Round(time.Microsecond))
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\nintegration and verification of %d entries; a tenant's bundle of up to %d entries from the middle of the log\n", n, bundle)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "database\tintegrated/s\tlog size on disk\tverify\tsignature checks\tpeak Go heap\tpeak RSS\t"
	if allSigs {
		head += "verify, every signature\t"
	}
	fmt.Fprintln(tw, head+"bundle build\tbundle entries\tproof hashes\tbundle check (offline)\t")
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t", r.db, r.integratePerSec, mib(r.dbBytes), r.verify.Round(time.Millisecond),
			r.sigChecks, mib(r.peakHeap), mib(r.peakRSS))
		if allSigs {
			line += r.verifyAll.Round(time.Millisecond).String() + "\t"
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%d\t%s\t\n", line, r.bundleBuild.Round(time.Millisecond), r.bundleEntries, r.bundleProofs, r.bundleCheck.Round(time.Millisecond))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nrerun: go run ./bench/audit [-n 1000000] [-tx 20000] [-clients 8] [-bundle 500] [-all-signatures] [-db sqlite,postgres]")
	fmt.Fprintln(w, "       go test -run XXX -bench . ./internal/audit/")
}
