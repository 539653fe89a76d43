package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// defaultServeArgs runs serve with the default vending settings: only the
// addresses, files and the cloud are the test's.
func defaultServeArgs(dir, dbURL string, extra ...string) []string {
	args := []string{"serve", "--database-url", dbURL, "--listen", "127.0.0.1:0", "--log-level", "warn",
		"--set", "identity.tls_dir=" + filepath.Join(dir, "tls"), "--set", "audit.signing_key_file=" + filepath.Join(dir, "audit.key")}
	return append(args, extra...)
}

// recoveryBound is what docs/vending.md promises after a crash with the
// default settings: a backlog of 20 (2 s account creations) ready within a
// minute of the restart. It took 370–496 s before leases.
const recoveryBound = 60 * time.Second

// TestCrashRecoveryWithDefaults kills the only replica with SIGKILL while
// it creates accounts for 20 environments and restarts it: with the
// default settings every environment is ready within recoveryBound of the
// restart, each with exactly one account.
func TestCrashRecoveryWithDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dbURL := storetest.URL(t, d)
			sim, simFlags := startSim(t, dir, "simcloud.latency=2s")
			srv := start(t, defaultServeArgs(dir, dbURL, simFlags...)...)
			admin := createOrg(t, dbURL, srv.url)
			ids := requestMany(t, admin, []*proc{srv}, "nat-digital", 20)
			time.Sleep(2500 * time.Millisecond) // creations in flight, slots held, jobs running
			srv.kill()
			srv = start(t, defaultServeArgs(dir, dbURL, simFlags...)...)
			restarted := time.Now()
			current := srv
			envs := waitAllReady(t, admin, func() string { return current.url }, ids, 3*time.Minute)
			took := time.Since(restarted)
			t.Logf("%s: 20 environments ready %s after the restart", d, took.Round(100*time.Millisecond))
			if took > recoveryBound {
				t.Errorf("ready %s after the restart; the bound is %s", took.Round(time.Second), recoveryBound)
			}
			assertOneAccountEach(t, sim, envs)
		})
	}
}

// TestReplicaTakeover runs three replicas on PostgreSQL with the default
// settings, freezes one with SIGSTOP while it holds provider slots — its
// process lives on, so only its lapsed lease can tell — and checks that
// the survivors take its slots and running jobs over within 30 s. Then the
// frozen replica comes back (SIGCONT) and another is killed outright:
// every environment is still ready with exactly one account.
func TestReplicaTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	t.Parallel()
	dir := t.TempDir()
	dbURL := storetest.URL(t, store.Postgres)
	sim, simFlags := startSim(t, dir, "simcloud.latency=2s")
	var servers []*proc
	for i := 0; i < 3; i++ {
		servers = append(servers, start(t, defaultServeArgs(dir, dbURL, append(simFlags, "--set", "vending.default_quota=100")...)...))
	}
	admin := createOrg(t, dbURL, servers[0].url)
	ids := requestMany(t, admin, servers, "nat-digital", 30)

	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	frozen := servers[0]
	var replica string
	if err := db.QueryRowContext(ctx, `SELECT id FROM vend_replicas WHERE pid = $1`, frozen.cmd.Process.Pid).Scan(&replica); err != nil {
		t.Fatalf("the replica's lease: %v", err)
	}
	held := func() (slots, running int) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vend_slots WHERE holder = $1`, replica).Scan(&slots); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, replica).Scan(&running); err != nil {
			t.Fatal(err)
		}
		return slots, running
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if slots, _ := held(); slots > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first replica never held a provider slot")
		}
	}
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	slots, running := held()
	// The slots are taken over once the lease lapses. The frozen replica's
	// running jobs are not made available under it: it may come back (it
	// does below), and its River client would then finalize jobs running
	// elsewhere, which River answers with a panic. It finishes them itself,
	// or River's rescue resumes them after their attempt timed out.
	for {
		s, _ := held()
		if s == 0 {
			break
		}
		if time.Since(stoppedAt) > 30*time.Second {
			t.Fatalf("30 s after the replica stopped it still holds %d slots", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the survivors took over %d slots %s after the replica froze (it was running %d jobs)",
		slots, time.Since(stoppedAt).Round(100*time.Millisecond), running)

	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	servers[2].kill()
	envs := waitAllReady(t, admin, func() string { return servers[1].url }, ids, 3*time.Minute)
	assertOneAccountEach(t, sim, envs)
	// The replica that came back is still serving: finding its lease and
	// slots gone did not crash it.
	if err := frozen.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the replica that was frozen is gone: %v\n%s", err, frozen.logOutput())
	}
	if strings.Contains(frozen.logOutput(), "panic:") {
		t.Fatalf("the replica that was frozen panicked:\n%s", frozen.logOutput())
	}
}
