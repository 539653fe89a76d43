package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// exitRefused is hatoba restore's exit status when it refuses a backup
// whose signature, checksum or key does not match (docs/backup.md): a
// script tells it from a failure to reach the target (1) or a usage error
// (2).
const exitRefused = 3

// exitError ends the process with its own status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// exitCode is the status main exits with for err.
func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return 1
}

// backupTarget is the configured bucket; its secret may be a reference to
// hatoba's secret store, read through the (unsealed) key service.
func backupTarget(ctx context.Context, b config.Backup, sealed *secrets.Store) (*backup.S3, error) {
	if b.Endpoint == "" {
		return nil, errors.New("backup: no target is configured: set backup.endpoint and backup.bucket (docs/backup.md)")
	}
	secret := b.SecretAccessKey
	if name, ok := strings.CutPrefix(secret, secrets.Reference); ok {
		if sealed == nil {
			return nil, errors.New("backup.secret_access_key names a stored secret, which needs the key service")
		}
		v, err := sealed.Get(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("backup.secret_access_key: %w", err)
		}
		secret = string(v)
	}
	t, err := backup.NewS3(backup.S3Config{Endpoint: b.Endpoint, Region: b.Region, Bucket: b.Bucket, Prefix: b.Prefix,
		AccessKeyID: b.AccessKeyID, SecretAccessKey: secret, Retention: b.Retention, LockMode: b.LockMode})
	if err != nil {
		return nil, err
	}
	if err := t.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// newBackupService builds the backup service over db with the key service
// ks and the audit log's key.
func newBackupService(ctx context.Context, cfg config.Config, db *store.DB, ks *keys.Service, sealed *secrets.Store, log *slog.Logger) (*backup.Service, error) {
	target, err := backupTarget(ctx, cfg.Backup, sealed)
	if err != nil {
		return nil, err
	}
	key, err := audit.LoadKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
	if err != nil {
		return nil, fmt.Errorf("backup: manifests are signed with the audit log's key: %w", err)
	}
	redacted, err := backup.RedactConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &backup.Service{DB: db, Keys: ks, Target: target, Signer: key.Signer, Verifier: key.Verifier, Origin: cfg.Audit.Origin,
		Config: redacted, Version: version, Logger: log.With("component", "backup"), TempDir: cfg.Backup.ScratchDir}, nil
}

// unsealLocal unseals a key service in this process: with the HSM PIN in
// HATOBA_KEYD_HSM_PIN, or with custodians' shares on standard input, one a
// line (a share sealed to a custodian's key is opened with identityFile).
func unsealLocal(ctx context.Context, ks *keys.Service, hsm keys.HSMConfig, stdin io.Reader, identityFile string, stderr io.Writer) error {
	st, err := ks.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Initialized {
		return errors.New("the key service is not initialised (hatoba keyd init)")
	}
	if !st.Sealed {
		return nil
	}
	operator := audit.Acting{Actor: localActor()}
	if st.Mode == keys.ModeHSM {
		hsm.PIN = os.Getenv("HATOBA_KEYD_HSM_PIN")
		if hsm.PIN == "" {
			return errors.New("the key service's master key is in an HSM: give its PIN in HATOBA_KEYD_HSM_PIN")
		}
		return ks.UnsealHSM(ctx, operator, hsm)
	}
	fmt.Fprintf(stderr, "the key service is sealed: give %d custodians' shares on standard input, one a line\n", st.Threshold)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		share := strings.TrimSpace(sc.Text())
		if share == "" {
			continue
		}
		if keys.IsSealedShare(share) {
			if identityFile == "" {
				return usageError{"a share sealed to a custodian's key needs --identity with that custodian's private key"}
			}
			pem, err := os.ReadFile(identityFile) //nolint:gosec // G703: the operator names the file on the command line
			if err != nil {
				return fmt.Errorf("--identity: %w", err)
			}
			priv, err := keys.ParseCustodianPrivateKey(pem)
			if err != nil {
				return err
			}
			if share, err = keys.OpenShare(share, priv); err != nil {
				return err
			}
		}
		p, err := ks.SubmitShare(ctx, operator, share)
		if err != nil {
			return err
		}
		if !p.Sealed {
			return nil
		}
	}
	return fmt.Errorf("the key service is still sealed: standard input ended before %d shares were given", st.Threshold)
}

// cmdBackup runs `hatoba backup [run|list|drill]` on the server's machine
// (plain `hatoba backup` is run).
func cmdBackup(sub string, fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	identity := fs.String("identity", "", "PEM X25519 private key that opens shares sealed to this custodian")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, log, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
		ksDB := db
		if cfg.Keyd.DatabaseURL != "" && cfg.Keyd.DatabaseURL != cfg.DatabaseURL {
			if ksDB, err = store.Open(ctx, cfg.Keyd.DatabaseURL, store.Options{}); err != nil {
				return fmt.Errorf("keyd database: %w", err)
			}
			defer ksDB.Close()
		}
		ks := keys.New(ksDB, keys.Options{Logger: log})
		hsm := keys.HSMConfig{ModulePath: cfg.Keyd.HSMModule, TokenLabel: cfg.Keyd.HSMTokenLabel, KeyLabel: cfg.Keyd.HSMKeyLabel}
		if sub != "list" {
			if err := unsealLocal(ctx, ks, hsm, stdin, *identity, stderr); err != nil {
				return fmt.Errorf("backup %s: %w", sub, err)
			}
		}
		sealed := secrets.New(ksDB, ks, time.Now)
		svc, err := newBackupService(ctx, cfg, db, ks, sealed, log)
		if err != nil {
			return err
		}
		switch sub {
		case "run":
			r, err := svc.RunBackup(ctx, localActor(), "")
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "backup %s written to %s: %d rows, %s, in %s\n", r.BackupID, svc.Target, r.Rows, bytesText(r.Bytes), r.Took.Round(time.Millisecond))
			return nil
		case "drill":
			r, err := svc.Drill(ctx, localActor(), "", backup.SQLiteScratch(cfg.Backup.ScratchDir))
			printRun(stdout, r)
			if err != nil {
				return exitError{code: 1, err: err}
			}
			return nil
		}
		ids, err := svc.Target.Backups(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d backups on %s", len(ids), svc.Target)
		if len(ids) > 0 {
			fmt.Fprintf(stdout, ", newest %s", ids[len(ids)-1])
		}
		fmt.Fprintln(stdout)
		runs, err := svc.Runs(ctx, "", 20)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSTATE\tBACKUP\tROWS\tSIZE\tTIME\tRPO\tBY")
		for _, r := range runs {
			rpo, size := "-", bytesText(r.Bytes)
			if r.Kind == backup.KindDrill {
				rpo, size = r.RPO.Round(time.Second).String(), "-"
			}
			state := r.State
			if r.Severity != "" {
				state += " (" + r.Severity + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, state, r.BackupID, r.Rows, size,
				r.Took.Round(time.Millisecond), rpo, r.RequestedBy)
		}
		return tw.Flush()
	}
}

func printRun(w io.Writer, r backup.Run) {
	if r.State == "ok" {
		fmt.Fprintf(w, "restore drill passed: backup %s restored and verified in %s (RTO); it was %s old (RPO); %d rows\n",
			r.BackupID, r.Took.Round(time.Millisecond), r.RPO.Round(time.Second), r.Rows)
		return
	}
	fmt.Fprintf(w, "RESTORE DRILL FAILED (%s): backup %s: %s\n", r.Severity, r.BackupID, r.Detail)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// cmdRestore runs `hatoba restore --into URL [--id ID]`: the backup into
// an empty database, whose key service the custodians unseal.
func cmdRestore(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	into := fs.String("into", "", "the empty database to restore into (a SQLite path or postgres://… URL)")
	id := fs.String("id", "", "the backup to restore (default: the newest)")
	vkey := fs.String("key", os.Getenv("HATOBA_AUDIT_KEY"), "the audit log's public key that signed the backup (default: derived from the signing key file)")
	identity := fs.String("identity", "", "PEM X25519 private key that opens shares sealed to this custodian")
	configOut := fs.String("config-out", "", "write the backup's configuration (without secrets) to this file")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if *into == "" {
			return usageError{"restore needs --into: a new, empty database"}
		}
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		log := newLogger(cfg.LogLevel, stderr)
		v, err := auditVerifier(cfg, *vkey)
		if err != nil {
			return err
		}
		target, err := backupTarget(ctx, cfg.Backup, nil)
		if err != nil {
			return err
		}
		db, err := store.Open(ctx, *into, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		hsm := keys.HSMConfig{ModulePath: cfg.Keyd.HSMModule, TokenLabel: cfg.Keyd.HSMTokenLabel, KeyLabel: cfg.Keyd.HSMKeyLabel}
		svc := &backup.Service{Target: target, Verifier: v, Origin: cfg.Audit.Origin, Logger: log}
		rep, err := svc.Restore(ctx, backup.RestoreOptions{ID: *id, Into: db, OpenKeys: func(ctx context.Context, into *store.DB) (backup.KeyService, error) {
			ks := keys.New(into, keys.Options{Logger: log})
			return ks, unsealLocal(ctx, ks, hsm, stdin, *identity, stderr)
		}})
		var re *backup.RefusedError
		if errors.As(err, &re) {
			return exitError{code: exitRefused, err: err}
		}
		if err != nil {
			return err
		}
		m := rep.Manifest
		fmt.Fprintf(stdout, "restored backup %s (made %s from %s, schema %d) into %s: %d rows in %s\n",
			m.ID, m.CreatedAt.Format(time.RFC3339), m.Source.Dialect, m.Source.SchemaVersion, db, rep.Rows, rep.Took.Round(time.Millisecond))
		if *configOut != "" {
			if err := os.WriteFile(*configOut, []byte(rep.Config), 0o600); err != nil {
				return fmt.Errorf("--config-out: %w", err)
			}
			fmt.Fprintf(stdout, "the backup's configuration (secrets removed) is in %s\n", *configOut)
		}
		if !rep.Audit.OK() {
			return exitError{code: exitRefused, err: fmt.Errorf("the restored audit log does not verify: %s", rep.Audit.Problem)}
		}
		fmt.Fprintf(stdout, "audit log intact: %d entries, contains the backup's checkpoint of %d\n", rep.Audit.Size, m.Audit.Size)
		if len(rep.Mismatches) > 0 {
			return exitError{code: exitRefused, err: fmt.Errorf("the restored tables differ from the backup: %s", strings.Join(rep.Mismatches, "; "))}
		}
		fmt.Fprintf(stdout, "every table matches the backup's count and checksum (%d tables)\n", len(m.Tables))
		return nil
	}
}

// startBackups runs the backup and drill schedule in serve when a target
// is configured and the key service is embedded: it waits for the key
// service to be unsealed (custodians unseal it after start), then builds
// the service and runs the schedule until ctx ends. The returned service
// reads the runs for the console at once.
func startBackups(ctx context.Context, loops *sync.WaitGroup, cfg config.Config, db *store.DB, ks *keyService,
	sealed *secrets.Store, log *slog.Logger) *backup.Service {
	runs := &backup.Service{DB: db}
	b := cfg.Backup
	if b.Endpoint == "" || ks == nil || (b.Interval == 0 && b.DrillInterval == 0) {
		return runs
	}
	loops.Go(func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			if st, err := ks.keys.Status(ctx); err == nil && !st.Sealed {
				svc, err := newBackupService(ctx, cfg, db, ks.keys, sealed, log)
				if err == nil {
					log.Info("backup schedule started", "target", svc.Target.String(), "interval", b.Interval, "drill_interval", b.DrillInterval)
					svc.Schedule(ctx, b.Interval, b.DrillInterval, backup.SQLiteScratch(b.ScratchDir))
					return
				}
				log.Warn("backups are configured but cannot start", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return runs
}
