package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/xks"
	"github.com/hatoba-cloud/hatoba/internal/xks/xkstest"
)

const (
	benchOrg = "nat-bench"
	benchKey = "bench-key"
)

// errSkipped marks a mode that cannot run on this machine; its message
// says why and how to fix it.
var errSkipped = errors.New("skipped")

// stack is one backend behind the XKS handler, with the credential the
// load generator signs with.
type stack struct {
	mode         string
	handler      http.Handler
	akid, secret string
	served       atomic.Int64 // HTTP requests the handler answered
	ok           atomic.Int64 // of which with 200
	recorded     atomic.Int64 // usage records Record accepted (durably queued)
	// finish stops the stack and returns the number of usage entries that
	// reached the audit log (-1 where there is no audit log).
	finish func(context.Context) (int64, error)
}

func (s *stack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.served.Add(1)
	sw := &statusWriter{ResponseWriter: w}
	s.handler.ServeHTTP(sw, r)
	if sw.status == http.StatusOK {
		s.ok.Add(1)
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *stack) newHandler(backend xks.Keys, record func(context.Context, xks.Usage) error, logger *slog.Logger) error {
	h, err := xks.NewHandler(xks.Config{URIPrefix: prefix, Region: region, Keys: backend, Logger: logger,
		Record: func(ctx context.Context, u xks.Usage) error {
			err := record(ctx, u)
			if err == nil {
				s.recorded.Add(1)
			}
			return err
		}})
	s.handler = h
	return err
}

// memStack is the in-memory xkstest backend (AES-256-GCM, no database):
// what the HTTP layer and SigV4 cost alone.
func memStack(logger *slog.Logger) (*stack, error) {
	k := xkstest.New()
	s := &stack{mode: "mem", akid: "BENCHACCESSKEYAAAAAAAA", secret: "VU6W2byoiBrhDqNGbx703oL0syCAmhlQgwNUT123456"}
	k.AddCredential(benchOrg, s.akid, s.secret)
	k.AddKey(benchOrg, benchKey, xks.UsageEncrypt, xks.UsageDecrypt)
	s.finish = func(context.Context) (int64, error) { return -1, nil }
	return s, s.newHandler(k, func(context.Context, xks.Usage) error { return nil }, logger)
}

// realStack is the production stack in split or HSM mode: a migrated
// scratch database, internal/keys initialised and unsealed, a tenant with
// a key and an XKS credential, keyd as the backend and keyd's Recorder
// writing every usage record to the audit log — as cmd/hatoba wires it
// (and keyd's TestEndToEnd).
func realStack(ctx context.Context, mode, dbKind, pgURL string, logger *slog.Logger) (_ *stack, err error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()

	// HSM prerequisites first, so a missing SoftHSM costs no database.
	var hsm keys.HSMConfig
	if mode == "hsm" {
		dir, cfg, err := softHSMToken()
		if dir != "" {
			cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		}
		if err != nil {
			return nil, err
		}
		hsm = cfg
	}

	db, closeDB, err := scratch.Open(ctx, dbKind, pgURL, "bench_xks_"+mode)
	if closeDB != nil {
		cleanups = append(cleanups, closeDB)
	}
	if err != nil {
		return nil, fmt.Errorf("scratch database: %w", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	now := time.Now()
	operator := authz.Principal{PersonID: "bench-operator", Role: authz.CentralOperator, SecondFactorAt: now}
	owner := authz.Principal{PersonID: "bench-owner", Role: authz.TenantAdmin, OrgID: benchOrg, KeyOwner: true, SecondFactorAt: now}
	svc := keys.New(db, keys.Options{Logger: logger})
	switch mode {
	case "split":
		shares, err := svc.InitSplit(ctx, operator, 5, 3)
		if err != nil {
			return nil, fmt.Errorf("InitSplit: %w", err)
		}
		for _, sh := range shares[:3] {
			if _, err := svc.SubmitShare(ctx, audit.Acting{Actor: operator.PersonID}, sh); err != nil {
				return nil, fmt.Errorf("SubmitShare: %w", err)
			}
		}
	case "hsm":
		if err := svc.InitHSM(ctx, operator, hsm); err != nil {
			if errors.Is(err, keys.ErrNoCgo) {
				return nil, fmt.Errorf("%w: HSM mode needs cgo (PKCS#11 modules are C libraries) and this binary was built with CGO_ENABLED=0; rerun with cgo", errSkipped)
			}
			return nil, fmt.Errorf("InitHSM: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	cleanups = append(cleanups, func() { _ = svc.Seal(context.Background(), operator) })

	if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: operator.PersonID}, org.Organization{ID: benchOrg, Kind: org.KindNational, NameJa: "ベンチ省", NameEn: "Bench Ministry"}); err != nil {
		return nil, fmt.Errorf("create organisation: %w", err)
	}
	if _, err := svc.CreateKey(ctx, owner, benchOrg, keys.KeySpec{ID: benchKey}); err != nil {
		return nil, fmt.Errorf("CreateKey: %w", err)
	}
	akid, secret, err := svc.CreateXKSCredential(ctx, owner, benchOrg)
	if err != nil {
		return nil, fmt.Errorf("CreateXKSCredential: %w", err)
	}

	s := &stack{mode: mode, akid: akid, secret: secret}
	rec := keyd.NewRecorder(db, keyd.RecorderOptions{Logger: logger})
	if err := s.newHandler(keyd.New(svc, keyd.Options{NodeID: "bench-1"}), rec.Record, logger); err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	s.finish = func(ctx context.Context) (int64, error) {
		defer cleanup()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := rec.Close(cctx); err != nil {
			return 0, fmt.Errorf("closing the usage recorder: %w", err)
		}
		return usageEntries(ctx, db)
	}
	return s, nil
}

// usageEntries counts the XKS usage entries in the audit log (queued:
// the bench does not run the integrator).
func usageEntries(ctx context.Context, db *store.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_queue WHERE action LIKE 'key.xks.%'`).Scan(&n)
	return n, err
}

// softHSMModules are where distributions install SoftHSM2's PKCS#11
// module (the list of internal/smartcard/smartcardtest and
// scripts/install-test-deps.sh).
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// softHSMToken makes a SoftHSM2 token directory, points SOFTHSM2_CONF at
// it for this process, and initialises a token the key service can put
// its master key on. dir is to be removed when done.
func softHSMToken() (dir string, cfg keys.HSMConfig, err error) {
	for _, m := range softHSMModules {
		if _, err := os.Stat(m); err == nil {
			cfg.ModulePath = m
			break
		}
	}
	util, lerr := exec.LookPath("softhsm2-util")
	if cfg.ModulePath == "" || lerr != nil {
		return "", cfg, fmt.Errorf("%w: SoftHSM2 is not installed (no libsofthsm2.so in %s, or no softhsm2-util on PATH); scripts/install-test-deps.sh installs it",
			errSkipped, strings.Join(softHSMModules, ", "))
	}
	dir, err = os.MkdirTemp("", "bench_xks_softhsm")
	if err != nil {
		return "", cfg, err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return dir, cfg, err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return dir, cfg, err
	}
	// SoftHSM2 reads SOFTHSM2_CONF when the module is initialised; the
	// bench opens it once per process.
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return dir, cfg, err
	}
	cfg.TokenLabel, cfg.PIN, cfg.KeyLabel = "hatoba-bench", "1234", "hatoba-master"
	out, err := exec.Command(util, "--init-token", "--free", "--label", cfg.TokenLabel, "--so-pin", "so-1234", "--pin", cfg.PIN).CombinedOutput()
	if err != nil {
		return dir, cfg, fmt.Errorf("softhsm2-util --init-token: %w\n%s", err, out)
	}
	return dir, cfg, nil
}
