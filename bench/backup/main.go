// Command backup measures hatoba's own backup and restore (docs/backup.md)
// on SQLite and PostgreSQL against a real S3 server with Object Lock
// (scripts/s3server.sh) and prints a table: the time to take and upload a
// backup, its size, the time to restore it into an empty database, the
// restore with its verification (the audit log against the backup's
// checkpoint, every table's count and checksum) — a drill's RTO — the
// peak Go heap of each, and the full export (docs/exit.md) of the same
// database with its import into a new one.
//
//	go run ./bench/backup                 # 1,000 environments, 100,000 audit entries
//	go run ./bench/backup -full           # 10,000 environments, 1,000,000 audit entries
//	go run ./bench/backup -db sqlite -envs 200 -audit 20000
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

func main() {
	envs := flag.Int("envs", 1_000, "environments (each with its 8 steps and 4 events)")
	entries := flag.Int("audit", 100_000, "audit log entries, integrated and signed")
	full := flag.Bool("full", false, "the issue's size: 10,000 environments and 1,000,000 audit entries")
	dbs := flag.String("db", "sqlite,postgres", "databases to run on")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL (scratch schemas are created)")
	endpoint := flag.String("s3", "http://127.0.0.1:7070", "S3 endpoint (scripts/s3server.sh)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
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
	if *full {
		*envs, *entries = 10_000, 1_000_000
	}
	var rows []result
	for _, d := range strings.Split(*dbs, ",") {
		r, err := run(strings.TrimSpace(d), *pgURL, *endpoint, *envs, *entries)
		if err != nil {
			log.Fatalf("%s: %v", d, err)
		}
		rows = append(rows, r)
	}
	fmt.Printf("hatoba backup and restore: %d environments, %d audit entries (S3: versitygw, Object Lock)\n\n", *envs, *entries)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\trows\tbackup\tsize\tbackup heap\trestore\tRTO (restore+verify)\trestore heap\texport\texport size\timport+verify\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.db, r.rows, r.backup.Round(time.Millisecond), mib(r.size),
			mib(r.backupHeap), r.restore.Round(time.Millisecond), r.rto.Round(time.Millisecond), mib(r.restoreHeap),
			r.export.Round(time.Millisecond), mib(r.exportSize), r.importTook.Round(time.Millisecond))
	}
	_ = tw.Flush()
}

type result struct {
	db                      string
	rows                    int64
	backup, restore, rto    time.Duration
	size                    int64
	backupHeap, restoreHeap int64
	export, importTook      time.Duration
	exportSize              int64
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func run(d, pgURL, endpoint string, nEnvs, nEntries int) (result, error) {
	ctx := context.Background()
	db, closeDB, err := scratch.Open(ctx, d, pgURL, "bench_backup")
	if err != nil {
		return result{}, err
	}
	defer closeDB()
	if _, err := db.Migrate(ctx); err != nil {
		return result{}, err
	}
	dir, err := os.MkdirTemp("", "bench-backup")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	key, _, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), "bench.invalid/audit")
	if err != nil {
		return result{}, err
	}
	ks := keys.New(db, keys.Options{})
	shares, err := ks.InitSplit(ctx, authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		return result{}, err
	}
	for _, sh := range shares[:2] {
		if _, err := ks.SubmitShare(ctx, audit.Acting{Actor: "p-op"}, sh); err != nil {
			return result{}, err
		}
	}
	start := time.Now()
	if err := seed(ctx, db, d, nEnvs, nEntries); err != nil {
		return result{}, err
	}
	l := audit.New(db, key.Signer, nil)
	if _, err := l.Integrate(ctx); err != nil {
		return result{}, err
	}
	fmt.Fprintf(os.Stderr, "%s: seeded and integrated in %s\n", d, time.Since(start).Round(time.Second))

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	target, err := backup.NewS3(backup.S3Config{Endpoint: endpoint, Bucket: "hatoba-bench-" + hex.EncodeToString(b),
		AccessKeyID: "hatoba-test", SecretAccessKey: "hatoba-test-secret-key-0123456789", Retention: 24 * time.Hour})
	if err != nil {
		return result{}, err
	}
	if err := target.EnsureBucket(ctx); err != nil {
		return result{}, fmt.Errorf("%w (start the S3 server with scripts/s3server.sh)", err)
	}
	svc := &backup.Service{DB: db, Keys: ks, Target: target, Signer: key.Signer, Verifier: key.Verifier,
		Origin: "bench.invalid/audit", Version: "bench", TempDir: dir}

	r := result{db: d}
	runtime.GC()
	stop := watchHeap()
	res, err := svc.Backup(ctx, "")
	r.backupHeap = stop()
	if err != nil {
		return result{}, err
	}
	r.backup, r.size = res.Took, res.Bytes
	for _, t := range res.Manifest.Tables {
		r.rows += t.Rows
	}
	fmt.Fprintf(os.Stderr, "%s: backup of %d rows, %s, in %s\n", d, r.rows, mib(r.size), r.backup.Round(time.Millisecond))

	into, closeInto, err := scratch.Open(ctx, d, pgURL, "bench_restore")
	if err != nil {
		return result{}, err
	}
	defer closeInto()
	runtime.GC()
	stop = watchHeap()
	start = time.Now()
	rep, err := svc.Restore(ctx, backup.RestoreOptions{ID: res.Manifest.ID, Into: into,
		OpenKeys: func(context.Context, *store.DB) (backup.KeyService, error) { return ks, nil }})
	r.rto = time.Since(start)
	r.restoreHeap = stop()
	if err != nil {
		return result{}, err
	}
	if !rep.OK() {
		return result{}, fmt.Errorf("the restore is not exact: %v %v", rep.Audit.Problem, rep.Mismatches)
	}
	r.restore = rep.Took
	fmt.Fprintf(os.Stderr, "%s: restored in %s, verified in %s\n", d, r.restore.Round(time.Millisecond), r.rto.Round(time.Millisecond))

	// The full export of the same database, and its import into a new one.
	start = time.Now()
	m, err := backup.Export(ctx, db, filepath.Join(dir, "export"), key.Signer, "bench.invalid/audit", "bench", nil, time.Now())
	if err != nil {
		return result{}, err
	}
	r.export = time.Since(start)
	for _, f := range m.Files {
		r.exportSize += f.Size
	}
	fresh, closeFresh, err := scratch.Open(ctx, d, pgURL, "bench_import")
	if err != nil {
		return result{}, err
	}
	defer closeFresh()
	start = time.Now()
	imp, err := backup.Import(ctx, filepath.Join(dir, "export"), fresh, key.Verifier, time.Now)
	if err != nil {
		return result{}, err
	}
	if !imp.OK() {
		return result{}, fmt.Errorf("the import is not exact: %v %v", imp.Audit.Problem, imp.Mismatches)
	}
	r.importTook = time.Since(start)
	fmt.Fprintf(os.Stderr, "%s: exported %s in %s, imported in %s\n", d, mib(r.exportSize), r.export.Round(time.Millisecond), r.importTook.Round(time.Millisecond))
	return r, nil
}

// seed writes organisations, environments with their steps and events, and
// the audit entries, in large transactions.
func seed(ctx context.Context, db *store.DB, d string, nEnvs, nEntries int) error {
	now := time.Now().UTC()
	const orgs = 200
	steps := []string{"create_account", "move_unit", "attach_policies", "assign_access", "billing", "tag", "baseline", "ready"}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := range orgs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, kind, name_ja, created_at, updated_at) VALUES ($1, 'city', $2, $3, $3)`,
				fmt.Sprintf("lg-%06d", i), fmt.Sprintf("市 %d", i), now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for first := 0; first < nEnvs; first += 1000 {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := first; i < min(first+1000, nEnvs); i++ {
				id := fmt.Sprintf("env-%08d", i)
				if _, err := tx.ExecContext(ctx, `INSERT INTO environments (id, org_id, system_name, purpose, classification, provider, state,
					account_id, account_email, unit_path, created_at, updated_at, ready_at)
					VALUES ($1, $2, $3, 'production', 'level2', 'sim', 'ready', $4, $5, '/gov/city', $6, $6, $6)`,
					id, fmt.Sprintf("lg-%06d", i%orgs), fmt.Sprintf("住民記録 %d", i), fmt.Sprintf("%012d", i), id+"@example.invalid", now); err != nil {
					return err
				}
				for p, s := range steps {
					if _, err := tx.ExecContext(ctx, `INSERT INTO vend_steps (env_id, step, position, state, attempts, started_at, finished_at)
						VALUES ($1, $2, $3, 'done', 1, $4, $4)`, id, s, p, now); err != nil {
						return err
					}
				}
				for range 4 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO env_events (env_id, at, kind, actor, message) VALUES ($1, $2, 'state', 'system', 'ready')`, id, now); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var done atomic.Int64
	for first := 0; first < nEntries; first += 5000 {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := first; i < min(first+5000, nEntries); i++ {
				if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: fmt.Sprintf("p-%05d", i%5000), Action: "env.request",
					OrgID: fmt.Sprintf("lg-%06d", i%orgs), Target: fmt.Sprintf("env-%08d", i%max(nEnvs, 1)),
					Details: map[string]any{"system_name": "住民記録", "purpose": "production", "n": i}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c := done.Add(5000); c%100_000 == 0 {
			fmt.Fprintf(os.Stderr, "\r%s: queued %d audit entries ", d, c)
		}
	}
	fmt.Fprintln(os.Stderr)
	return nil
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
