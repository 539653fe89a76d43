package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
	"github.com/hatoba-cloud/hatoba/internal/vending"
	"github.com/hatoba-cloud/hatoba/internal/web"
)

func loadConfig(s *settingFlags) (config.Config, error) {
	return config.Load(s.config, os.Getenv, s.sets)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func latestSchema() int { return store.Latest() }

func openStore(ctx context.Context, cfg config.Config) (*store.DB, error) {
	return store.Open(ctx, cfg.DatabaseURL, store.Options{})
}

// openServerCommand loads a server-side subcommand's
// configuration and opens the control plane's database; the caller closes it.
func openServerCommand(ctx context.Context, sf *settingFlags, stderr io.Writer) (config.Config, *slog.Logger, *store.DB, error) {
	cfg, err := loadConfig(sf)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	log := newLogger(cfg.LogLevel, stderr)
	db, err := openStore(ctx, cfg)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	return cfg, log, db, nil
}

func cmdMigrate(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		_, _, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		res, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		for _, name := range res.Applied {
			fmt.Fprintf(stdout, "applied %s\n", name)
		}
		fmt.Fprintf(stdout, "%s: schema version %d (was %d)\n", db, res.To, res.From)
		return nil
	}
}

func cmdOrgImport(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	dryRun := fs.Bool("dry-run", false, "show what the import would add and change, and write nothing")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		_, _, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
		var sources []org.Source
		if len(args) == 0 {
			sources = org.EmbeddedSources()
			fmt.Fprintln(stdout, "importing the built-in data: national bodies, 47 prefectures, municipalities")
		}
		for _, path := range args {
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("org import: %w", err)
			}
			defer f.Close() //nolint:errcheck // read-only file
			sources = append(sources, org.Source{Name: path, R: f})
		}
		start := time.Now()
		reg := org.New(db, time.Now)
		var report org.ImportReport
		if *dryRun {
			report, err = reg.DryRun(ctx, sources...)
		} else {
			report, err = reg.Import(ctx, audit.Acting{Actor: localActor()}, sources...)
		}
		if err != nil {
			return err
		}
		printImport(stdout, report, time.Since(start))
		if len(report.Errors) > 0 {
			return fmt.Errorf("%d rows have errors; nothing was imported (every file is imported whole or not at all)", len(report.Errors))
		}
		return nil
	}
}

// printImport shows an import's report: the counts, each changed
// organisation field by field, and the rows with errors.
func printImport(w io.Writer, rep org.ImportReport, took time.Duration) {
	switch {
	case rep.DryRun:
		fmt.Fprintln(w, "dry run: nothing was written")
	case !rep.Applied:
		fmt.Fprintln(w, "nothing was written: the rows below have errors")
	}
	verb := "would add"
	if rep.Applied {
		verb = "added"
	}
	fmt.Fprintf(w, "%s %d, changed %d, unchanged %d (%s)\n", verb, rep.Created, rep.Updated, rep.Unchanged, took.Round(time.Millisecond))
	for _, c := range rep.Changes {
		fmt.Fprintf(w, "  ~ %s (%s:%d)\n", c.ID, c.Source, c.Line)
		for _, f := range c.Fields {
			fmt.Fprintf(w, "      %s: %q → %q\n", f.Field, f.Old, f.New)
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  ! %s:%d: %s\n", e.Source, e.Line, e.Message)
	}
}

func cmdSimCloud(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	listen := fs.String("simcloud-listen", "127.0.0.1:4566", "address of the simulated cloud")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		if cfg.SimCloud.Listen != "" {
			*listen = cfg.SimCloud.Listen
		}
		log := newLogger(cfg.LogLevel, stderr)
		sim, err := openSimCloud(cfg, log, "")
		if err != nil {
			return err
		}
		defer sim.Close() //nolint:errcheck // the process is ending
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("simcloud: %w", err)
		}
		fmt.Fprintf(stdout, "simulated cloud listening on http://%s (access key %s)\n", ln.Addr(), simAccessKey)
		return serveUntilDone(ctx, &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: serverErrorLog(log)}, ln)
	}
}

// The simulated cloud's static credentials; they guard nothing real.
const (
	simAccessKey = "HATOBASIMULATED"
	simSecretKey = "simulated-secret"
)

func openSimCloud(cfg config.Config, log *slog.Logger, xksCA string) (*simcloud.Server, error) {
	sc := cfg.SimCloud
	if sc.XKSCAFile != "" {
		xksCA = sc.XKSCAFile
	}
	return simcloud.Open(simcloud.Config{
		DBPath: sc.DBPath, Latency: sc.Latency, ConcurrentCreations: sc.ConcurrentCreations,
		RatePerSecond: sc.RatePerSecond, TransientRate: sc.TransientRate, LostResponseRate: sc.LostResponseRate,
		IdentityCenterRatePerSecond: sc.IdentityCenterRatePerSecond, MaxOutstandingAssignments: sc.MaxOutstandingAssignments,
		AssignmentLatency: sc.AssignmentLatency, AssignmentFailureRate: sc.AssignmentFailureRate, ConflictRate: sc.ConflictRate,
		PropagationDelay: sc.PropagationDelay, AllowXKSProxyPort: true, // keyd listens where it is configured
		MaxAccounts: sc.MaxAccounts, ClosureQuota: sc.ClosureQuota, ClosureLatency: sc.ClosureLatency,
		CreateFailureRate: sc.CreateFailureRate, CreateFailureReason: sc.CreateFailureReason, BusyRate: sc.BusyRate,
		EmptyPageRate: sc.EmptyPageRate, AccountAPIDisabled: sc.AccountAPIDisabled, IdentityCenterRegion: sc.IdentityCenterRegion,
		Seed: sc.Seed, AccessKeyID: simAccessKey, SecretAccessKey: simSecretKey, Region: "ap-northeast-1",
		Logger: log.With("component", "simcloud"), XKSClient: xksClient(xksCA),
	})
}

// xksClient is the simulated KMS's client of XKS proxies: KMS's 250 ms
// per request, trusting caFile when given. The file is read at each new
// connection, not at start: serve writes its self-signed certificate after
// the embedded cloud starts.
func xksClient(caFile string) *http.Client {
	t := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if caFile != "" {
		t.TLSClientConfig.InsecureSkipVerify = true // #nosec G402 -- verified below against caFile
		t.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("XKS proxy CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("XKS proxy CA %s holds no PEM certificate", caFile)
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the XKS proxy presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: cs.ServerName})
			return err
		}
	}
	return &http.Client{Timeout: 250 * time.Millisecond, Transport: t}
}

func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func cmdServe(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	addListenFlag(fs, sf, "listen", "`ADDR` of the API and console (listen)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, log, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		res, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("database ready", "database", db.String(), "schema_version", res.To, "applied", len(res.Applied))

		var simURL string
		if cfg.SimCloud.Embedded {
			// The simulated KMS calls serve's own XKS proxy, so it trusts
			// serve's certificate.
			serverCert := cfg.Identity.TLSCertFile
			if serverCert == "" {
				serverCert = filepath.Join(cfg.Identity.TLSDir, "server.pem")
			}
			sim, err := openSimCloud(cfg, log, serverCert)
			if err != nil {
				return err
			}
			defer sim.Close() //nolint:errcheck // the process is ending
			addr := cfg.SimCloud.Listen
			if addr == "" {
				addr = "127.0.0.1:0"
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("embedded simcloud: %w", err)
			}
			simURL = "http://" + ln.Addr().String()
			simSrv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: serverErrorLog(log)}
			go func() { _ = simSrv.Serve(ln) }()
			defer simSrv.Close() //nolint:errcheck // the process is ending
			log.Info("embedded simulated cloud", "url", simURL, "latency", cfg.SimCloud.Latency)
		}

		var ks *keyService
		var sealedSecrets *secrets.Store
		if cfg.Keyd.Embedded {
			if ks, err = openKeyService(ctx, cfg, db, log); err != nil {
				return err
			}
			defer ks.close(ctx)
			sealedSecrets = secrets.New(db, ks.keys, time.Now)
		}

		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if ks != nil {
			reg.MustRegister(ks.collector()) // hatoba_keyd_*: admission and usage records
		}
		conns, err := buildConnections(ctx, cfg, simURL, sealedSecrets)
		if err != nil {
			return err
		}
		orgs := org.New(db, time.Now)
		envs := env.NewStore(db, time.Now)
		idp, err := buildIdentity(db, orgs, cfg, log)
		if err != nil {
			return err
		}
		envAccess := envaccess.New(db, envs, idp.ids, orgs, time.Now)
		ctl, err := buildCatalog(ctx, db, log)
		var sov *sovereignty.Service
		if err != nil {
			return err
		}
		places, err := buildPlacement(ctx, db, cfg.Placement, log)
		if err != nil {
			return err
		}
		tenantBackups := tenantbackup.NewStore(db, time.Now)
		backupObjectives, err := objectives(cfg.TenantBackups)
		if err != nil {
			return err
		}
		engine, err := vending.New(db, envs, orgs, vending.Config{
			Connections: conns, Placement: places, DefaultQuota: cfg.Vending.DefaultQuota, Policies: baselinePolicies(),
			PolicySet: policySetByDriver(cfg.Providers, preventivePolicies(orgs, ctl.assignments, ctl.catalog.Control, baselinePolicies()),
				openstackGuardrails(orgs, ctl.assignments, ctl.catalog.Control)),
			DefaultBilling: provider.Contact{Name: cfg.Billing.Name, Email: cfg.Billing.Email, Phone: cfg.Billing.Phone},
			RetryBase:      cfg.Vending.RetryBase, RetryMax: cfg.Vending.RetryMax, MaxAttempts: cfg.Vending.MaxAttempts, CloseQuotaRetry: cfg.Vending.CloseQuotaRetry,
			Workers: cfg.Vending.Workers, SlotPollInterval: cfg.Vending.SlotPollInterval, ResumeInterval: cfg.Vending.ResumeInterval,
			JobTimeout: cfg.Vending.JobTimeout, FetchPollInterval: cfg.Vending.FetchPollInterval, IntakeConcurrency: cfg.Vending.IntakeConcurrency,
			LeaseTTL: cfg.Vending.LeaseTTL, Logger: log.With("component", "vending"), Metrics: vending.NewMetrics(reg), Access: envAccess,
			Backups: tenantBackups, BackupObjectives: backupObjectives,
			// The sovereignty service is built after the engine (it reads the
			// posture the engine's collector feeds); requests wait for serve
			// to listen, by which time it is set.
			Admit: func(ctx context.Context, connection string, classification env.Classification) error {
				if sov == nil {
					return nil
				}
				return sov.Admit(ctx, connection, string(classification))
			},
		})
		if err != nil {
			return err
		}
		reg.MustRegister(newStateCollector(envs, engine))
		ctl.buildControls(db, orgs, envs, engine, log)
		ctl.source.backups = (&backupSource{envs: envs, backups: tenantBackups, vending: engine, objectives: backupObjectives, log: log}).resources
		ctl.collector.SetRetention(cfg.Controls.FindingsRetention)
		var notifier *notify.Service // channel secrets are sealed through the key service
		if ks != nil {
			notifier = buildNotify(db, ks.keys, idp.auditKey.Signer, ctl.catalog, envs, cfg.Notify, log)
			ctl.posture.SetNotifier(notify.PostureHook{S: notifier})
		}
		if cfg.Workers {
			if err := engine.Start(ctx); err != nil {
				return err
			}
			defer func() {
				stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				if err := engine.Stop(stopCtx); err != nil {
					log.Warn("stopping workers", "err", err)
				}
			}()
		}

		// The integrator and the grant sweeper run on every replica: the
		// integrator serialises itself in the database, and expiring a grant
		// twice is a no-op.
		loopCtx, stopLoops := context.WithCancel(ctx)
		var loops sync.WaitGroup
		// Deferred after db.Close, so it runs first: the loops end before the
		// database closes under them.
		defer func() { stopLoops(); loops.Wait() }()
		loops.Go(func() { idp.audit.Run(loopCtx, cfg.Audit.IntegrateInterval) })
		loops.Go(func() {
			idp.breakGlass.Run(loopCtx, time.Minute, func(err error) { log.Warn("expiring break-glass grants", "err", err) })
		})
		loops.Go(func() { every(loopCtx, 10*time.Minute, func(ctx context.Context) { purgeSessions(ctx, idp.ids, log) }) })
		loops.Go(func() {
			ctl.assignments.Run(loopCtx, time.Minute, func(err error) { log.Warn("expiring control exceptions", "err", err) })
		})
		if cfg.Controls.CollectInterval > 0 {
			loops.Go(func() { ctl.collector.Run(loopCtx, cfg.Controls.CollectInterval) })
		}
		// Custom controls another replica added reach this one within a minute.
		loops.Go(func() {
			every(loopCtx, time.Minute, func(ctx context.Context) { reloadCatalog(ctx, ctl.catalog, log) })
		})
		if cfg.Controls.ReconcileInterval > 0 && cfg.Workers {
			loops.Go(func() {
				every(loopCtx, cfg.Controls.ReconcileInterval, func(ctx context.Context) { reconcilePolicies(ctx, engine, log) })
			})
		}
		if cfg.Workers {
			loops.Go(func() { every(loopCtx, time.Hour, func(ctx context.Context) { purgeClosed(ctx, conns, log) }) })
		}
		if ks != nil {
			ks.runLoops(loopCtx, &loops, cfg.Audit.IntegrateInterval)
		}
		sovFacts := &sovereigntyFacts{db: db, envs: envs, posture: ctl.posture, access: envAccess, ids: idp.ids, breakGlass: idp.breakGlass,
			backups: engine.BackupLocations, tierOf: func(name string) string {
				if cn, ok := engine.Connection(name); ok {
					return cn.Tier
				}
				return ""
			}}
		if ks != nil {
			sovFacts.keys = ks.keys
		}
		sov, err = buildSovereignty(ctx, cfg.Sovereignty, sovFacts, log)
		if err != nil {
			return err
		}
		// An environment's residency and key facts come from its inventory:
		// each collection assesses it, and the assessment goes to the
		// detective controls with the inventory (an enforced floor's drift is
		// a finding). An environment whose connection has no profile is
		// collected without one.
		ctl.source.assess = func(ctx context.Context, envID string, rs []controls.Resource) (controls.Resource, bool, error) {
			rep, err := sov.AssessInventory(ctx, envID, rs)
			switch {
			case fault.KindOf(err) == fault.NotFound:
				return controls.Resource{}, false, nil
			case err != nil:
				return controls.Resource{}, false, err
			}
			return rep.Resource(), true, nil
		}
		if cfg.Sovereignty.RescoreInterval > 0 {
			loops.Go(func() { sov.Run(loopCtx, cfg.Sovereignty.RescoreInterval) })
		}
		backups := startBackups(loopCtx, &loops, cfg, db, ks, sealedSecrets, log)
		if notifier != nil && cfg.Workers {
			loops.Go(func() { notifier.Run(loopCtx) })
			loops.Go(func() { notifier.RunDigests(loopCtx, time.Hour) })
		}

		apiServer := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: version, Logger: log,
			Identity: idp.ids, Authz: idp.authz, Certs: idp.certs, Grants: idp.breakGlass.ActiveGrants, PublicURL: cfg.Identity.PublicURL,
			BreakGlass: idp.breakGlass, Audit: idp.audit, AuditVerifierKey: idp.auditKey.VerifierKey, EnvAccess: envAccess,
			Secrets: sealedSecrets, Catalog: ctl.catalog, Posture: ctl.posture, Collector: ctl.collector, Assignments: ctl.assignments,
			Sovereignty: sov, SnapshotSigner: idp.auditKey.Signer, Notify: notifier, TenantBackups: tenantBackups, BackupObjectives: backupObjectives,
			Baselines:          buildBaselines(db, envs, engine, ctl.catalog, idp.auditKey.Signer, cfg.Baseline, log),
			HoldsAdministrator: holdsAdministrator(envAccess)}
		mux := http.NewServeMux()
		if ks != nil {
			apiServer.Keys, apiServer.KeyHSM, apiServer.KeyRecordDB = ks.keys, ks.hsm, ks.recordDB()
			apiServer.KeyRecordFailing = func() (bool, time.Time) { h := ks.RecordHealth(); return h.Failing, h.Since }
			apiServer.XKSPublicURL = firstNonEmpty(cfg.Keyd.XKSPublicURL, cfg.Identity.PublicURL)
			apiServer.XKSStorePath = ks.xks.StorePath
			ks.mount(mux)
		}
		apiServer.Register(mux)
		console, err := web.New(web.Deps{API: apiServer, MFA: idp.mfa, Logger: log, Backups: backups})
		if err != nil {
			return err
		}
		console.Register(mux)
		stopMetrics, err := serveMetrics(cfg.Metrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), mux, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			v, err := db.SchemaVersion(ctx)
			if err != nil || v != store.Latest() {
				http.Error(w, fmt.Sprintf("not ready: schema %d of %d: %v", v, store.Latest(), err), http.StatusServiceUnavailable)
				return
			}
			_, _ = fmt.Fprintf(w, "ready: schema %d\n", v) //nolint:gosec // G705: a number, as plain text, to a readiness probe
		})

		tlsConfig, err := serverTLS(cfg.Identity, idp.verifier, log)
		if err != nil {
			return err
		}
		plain, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		ln := tls.NewListener(plain, tlsConfig)
		fmt.Fprintf(stdout, "hatoba %s serving on https://%s (database %s, schema %d)\n", version, ln.Addr(), db, res.To)
		srv := &http.Server{Handler: withMiddleware(mux, log), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
			TLSConfig: tlsConfig, ErrorLog: serverErrorLog(log)}
		return serveUntilDone(ctx, srv, ln)
	}
}

func permissionSetPolicy(p config.PermissionSet) awsdriver.PermissionSetPolicy {
	return awsdriver.PermissionSetPolicy{ManagedPolicyARNs: p.ManagedPolicies, InlinePolicy: p.InlinePolicy, PermissionsBoundary: p.PermissionsBoundary}
}

func buildConnections(ctx context.Context, cfg config.Config, simURL string, sealed *secrets.Store) ([]vending.Connection, error) {
	var out []vending.Connection
	for _, p := range cfg.Providers {
		if p.Driver == "openstack" {
			drv, err := openstackDriver(p, sealed)
			if err != nil {
				return nil, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			out = append(out, connection(cfg, p, drv))
			continue
		}
		dc := awsdriver.Config{Name: p.Name, Region: p.Region, Endpoint: p.Endpoint,
			IdentityCenterRegion: p.IdentityCenterRegion, InstanceARN: p.InstanceARN, IdentityStoreID: p.IdentityStoreID,
			ConfigAggregator: p.ConfigAggregator,
			AccessKeyID:      p.AccessKeyID, SecretAccessKey: p.SecretAccessKey,
			Administrator: permissionSetPolicy(p.PermissionSets.Administrator), NonAdministrator: permissionSetPolicy(p.PermissionSets.NonAdministrator),
			// AWS refuses an XKS proxy endpoint with a port; a simulated
			// cloud reaches keyd wherever it listens.
			AllowXKSProxyPort: p.Endpoint != ""}
		if name, ok := strings.CutPrefix(p.SecretAccessKey, secrets.Reference); ok {
			// The secret access key is stored encrypted through the key
			// service (hatoba secret put); it is decrypted when used.
			if sealed == nil {
				return nil, fmt.Errorf("provider %s: secret_access_key names a stored secret, which needs the key service (keyd.embedded)", p.Name)
			}
			dc.Credentials = secretCredentials(sealed, name, p.AccessKeyID)
			dc.AccessKeyID, dc.SecretAccessKey = "", ""
		}
		if p.Endpoint == "embedded" {
			dc.Endpoint, dc.AccessKeyID, dc.SecretAccessKey = simURL, simAccessKey, simSecretKey
		}
		drv, err := awsdriver.New(ctx, dc)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		out = append(out, connection(cfg, p, drv))
	}
	return out, nil
}

// connection is a provider connection as vending sees it: its kind and
// tier, and the classifications it lists (the placement policy is judged
// on top, at each request).
func connection(_ config.Config, p config.Provider, drv provider.Provider) vending.Connection {
	var allowed []env.Classification
	for _, c := range p.Classifications {
		allowed = append(allowed, env.Classification(c))
	}
	kind := p.Driver
	if kind == "" {
		kind = "aws"
	}
	if kind == "aws" && p.Endpoint == "embedded" {
		kind = "sim" // the aws driver on the simulated cloud in this process
	}
	return vending.Connection{Name: p.Name, Provider: drv, Cap: p.Cap, Allowed: allowed, Kind: kind, Tier: p.TierOf(),
		Jurisdiction: p.JurisdictionOf(), PollInterval: p.PollInterval, EmailTemplate: p.EmailTemplate}
}

// baselinePolicies is the preventive policy every new account gets
// whatever its organisation enforces: no IAM users or long-lived access
// keys, and no leaving the organisation. The catalog's preventive controls
// enforced on the organisation are added to it (preventivePolicies).
func baselinePolicies() []provider.Policy {
	return []provider.Policy{{
		Name:        "hatoba-baseline",
		Description: "hatoba baseline: no IAM users or access keys; accounts stay in the organisation",
		Document: strings.Join([]string{`{"Version":"2012-10-17","Statement":[`,
			`{"Sid":"DenyIAMUsers","Effect":"Deny","Action":["iam:CreateUser","iam:CreateAccessKey"],"Resource":"*"},`,
			`{"Sid":"DenyLeaveOrg","Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}`}, ""),
	}}
}

// every runs fn each interval until ctx ends (the first time after one
// interval): serve's housekeeping loops.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// purgeSessions deletes expired sessions, tokens and challenges; they are
// refused at their expiry whether or not this has run.
func purgeSessions(ctx context.Context, ids *identity.Service, log *slog.Logger) {
	if n, err := ids.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
		log.Warn("purging expired sessions", "err", err)
	} else if n > 0 {
		log.Debug("purged expired sessions", "count", n)
	}
}
