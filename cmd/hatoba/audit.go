package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// auditDB loads the configuration and opens the database.
func auditDB(ctx context.Context, sf *settingFlags) (config.Config, *store.DB, error) {
	cfg, err := loadConfig(sf)
	if err != nil {
		return config.Config{}, nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, db, nil
}

// auditVerifier is the log's public key: --key when given (an auditor needs
// nothing else), else derived from the signing key file.
func auditVerifier(cfg config.Config, vkey string) (note.Verifier, error) {
	if vkey != "" {
		v, err := audit.ParseVerifierKey(vkey)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return v, nil
	}
	k, err := audit.LoadKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
	if err != nil {
		return nil, fmt.Errorf("%w (an auditor without the signing key passes the public key with --key or HATOBA_AUDIT_KEY)", err)
	}
	return k.Verifier, nil
}

func cmdAuditVerify(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	vkey := fs.String("key", os.Getenv("HATOBA_AUDIT_KEY"), "the log's public key <name>+<hash>+<key> (default: derived from the signing key file)")
	cpFile := fs.String("checkpoint", "", "a checkpoint saved earlier (`hatoba audit checkpoint`): prove the log still extends it, by a consistency proof")
	full := fs.Bool("full", false, "with --checkpoint, also re-read and re-hash the whole log")
	all := fs.Bool("all-signatures", false, "check every entry's signature, one Ed25519 verification each (without it: the newest checkpoint's signature, and log₂ n more only to find the first bad entry when that fails)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, db, err := auditDB(ctx, sf)
		if err != nil {
			return err
		}
		defer db.Close()
		v, err := auditVerifier(cfg, *vkey)
		if err != nil {
			return err
		}
		opts := audit.VerifyOptions{AllSignatures: *all}
		if *cpFile != "" {
			if opts.Checkpoint, err = os.ReadFile(*cpFile); err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			if !*full && !*all {
				return verifyExtends(ctx, db, v, opts.Checkpoint, *cpFile, stdout)
			}
		}
		start := time.Now()
		rep, err := audit.Verify(ctx, db, v, opts)
		if err != nil {
			return err
		}
		took := time.Since(start).Round(time.Millisecond)
		if rep.OK() {
			checks := "signature checks"
			if rep.SignatureChecks == 1 {
				checks = "signature check"
			}
			fmt.Fprintf(stdout, "audit log intact: %d entries, root %s, checked in %s (%d %s)\n",
				rep.Size, base64.StdEncoding.EncodeToString(rep.Latest.Root), took, rep.SignatureChecks, checks)
			if *cpFile != "" {
				fmt.Fprintf(stdout, "it contains the saved checkpoint %s\n", *cpFile)
			}
			if rep.Pending > 0 {
				fmt.Fprintf(stdout, "%d entries are queued and not yet integrated (they are protected once they are)\n", rep.Pending)
			}
			return nil
		}
		p := rep.Problem
		fmt.Fprintf(stdout, "AUDIT LOG TAMPERED: entry %d %s\n  %s\n", p.Seq, p.Kind, p.Message)
		if rep.Proven > 0 {
			fmt.Fprintf(stdout, "entries 0…%d are proven by the log's signatures; the log holds %d\n", rep.Proven-1, rep.Size)
		}
		return fmt.Errorf("audit log verification failed: the first bad entry is %d (%s)", p.Seq, p.Kind)
	}
}

func cmdAuditExport(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	var orgs []string
	fs.Func("org", "export the entries of this organisation and its subtree (repeatable; default: every entry)", func(v string) error {
		orgs = append(orgs, v)
		return nil
	})
	since := fs.String("since", "", "first time, RFC 3339 or YYYY-MM-DD (inclusive)")
	until := fs.String("until", "", "end time, RFC 3339 or YYYY-MM-DD (exclusive)")
	out := fs.String("out", "", "write to this file instead of standard output")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		f := audit.Filter{AllOrgs: len(orgs) == 0}
		var err error
		if f.Since, err = parseAuditTime("since", *since); err != nil {
			return err
		}
		if f.Until, err = parseAuditTime("until", *until); err != nil {
			return err
		}
		_, db, err := auditDB(ctx, sf)
		if err != nil {
			return err
		}
		defer db.Close()
		if f.OrgIDs, err = orgSubtrees(ctx, db, orgs); err != nil {
			return err
		}
		w := stdout
		if *out != "" {
			file, err := os.Create(*out)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			defer file.Close() //nolint:errcheck // the success path closes it and checks; this covers the error paths
			w = file
		}
		n, err := audit.Export(ctx, db, w, f)
		if err != nil {
			return err
		}
		if *out != "" {
			if err := w.(*os.File).Close(); err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			fmt.Fprintf(stderr, "exported %d entries to %s\n", n, *out)
		}
		return nil
	}
}

func parseAuditTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s %q is not an RFC 3339 time or a YYYY-MM-DD date", name, s)}
}

// orgSubtrees adds every registered descendant to the organisations named.
// An id the registry does not know stays as it is: entries outlive the
// organisations they are about.
func orgSubtrees(ctx context.Context, db *store.DB, ids []string) ([]string, error) {
	reg := org.New(db, time.Now)
	seen := map[string]bool{}
	var out []string
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
		children, err := reg.Children(ctx, id)
		if err != nil && fault.KindOf(err) != fault.NotFound {
			return nil, err
		}
		for _, c := range children {
			ids = append(ids, c.ID)
		}
	}
	return out, nil
}

func cmdAuditCheckpoint(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	out := fs.String("out", "", "write the checkpoint to this file (keep it: `audit verify --checkpoint` proves the log still contains it)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, db, err := auditDB(ctx, sf)
		if err != nil {
			return err
		}
		defer db.Close()
		cp, err := audit.LatestCheckpoint(ctx, db, cfg.Audit.Origin)
		if err != nil {
			return err
		}
		if cp.Note == nil {
			return errors.New("audit checkpoint: the log is empty; nothing is signed yet")
		}
		if *out == "" {
			_, err := stdout.Write(cp.Note)
			return err
		}
		if err := os.WriteFile(*out, cp.Note, 0o644); err != nil { //nolint:gosec // G306: a signed checkpoint is public
			return fmt.Errorf("audit checkpoint: %w", err)
		}
		fmt.Fprintf(stdout, "saved the checkpoint of %d entries to %s\n", cp.Size, *out)
		return nil
	}
}

func cmdAuditKey(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	create := fs.Bool("create", false, "create the signing key file (mode 0600) when it does not exist")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		path, origin := cfg.Audit.SigningKeyFile, cfg.Audit.Origin
		var k audit.Key
		if *create {
			var created bool
			if k, created, err = audit.LoadOrCreateKey(path, origin); err == nil && created {
				fmt.Fprintf(stderr, "created the audit signing key %s: keep it secret, back it up, give every replica the same file\n", path)
			}
		} else {
			k, err = audit.LoadKey(path, origin)
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w (create one with `hatoba audit key --create`)", err)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k.VerifierKey)
		return nil
	}
}

// verifyExtends proves the log's latest checkpoint extends a saved one by
// a consistency proof: O(log n) hashes instead of re-reading the log.
func verifyExtends(ctx context.Context, db *store.DB, v note.Verifier, saved []byte, file string, stdout io.Writer) error {
	start := time.Now()
	old, err := audit.ParseCheckpoint(saved, v)
	if err != nil {
		return fmt.Errorf("audit verify: saved %w", err)
	}
	latest, err := audit.LatestCheckpoint(ctx, db, v.Name())
	if err != nil {
		return err
	}
	if latest.Size < old.Size {
		fmt.Fprintf(stdout, "AUDIT LOG TAMPERED: the log holds %d entries, fewer than the %d of the saved checkpoint %s\n", latest.Size, old.Size, file)
		return fmt.Errorf("audit log verification failed: the log was truncated or rolled back below %d entries", old.Size)
	}
	proof, err := audit.ConsistencyProof(ctx, db, old.Size, latest.Size)
	if err != nil {
		return err
	}
	if _, _, err := audit.VerifyConsistency(v, saved, latest.Note, proof); err != nil {
		fmt.Fprintf(stdout, "AUDIT LOG TAMPERED: %v\n", err)
		return fmt.Errorf("audit log verification failed: %w", err)
	}
	fmt.Fprintf(stdout, "the log of %d entries (root %s) extends the saved checkpoint of %d entries %s: consistency proof of %d hashes checked in %s\n",
		latest.Size, base64.StdEncoding.EncodeToString(latest.Root), old.Size, file, len(proof), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "the entries themselves were not re-read; run with --full to re-hash the whole log")
	return nil
}

func cmdAuditCheckBundle(fs *pflag.FlagSet) runFunc {
	vkey := fs.String("key", os.Getenv("HATOBA_AUDIT_KEY"), "the log's public key <name>+<hash>+<key>")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if *vkey == "" || len(args) != 1 {
			return usageError{"audit check-bundle needs --key KEY and one bundle FILE (- for standard input)"}
		}
		var data []byte
		var err error
		if path := args[0]; path == "-" {
			data, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20+1))
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return fmt.Errorf("audit check-bundle: %w", err)
		}
		b, err := audit.ParseBundle(data)
		if err != nil {
			return err
		}
		rep, err := audit.CheckBundle(b, *vkey)
		if err != nil {
			return fmt.Errorf("the bundle does NOT verify: %w", err)
		}
		cp := rep.Checkpoint
		fmt.Fprintf(stdout, "bundle verified: %d entries are in the log %s of %d entries (root %s), signed by its key\n",
			rep.Entries, cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root))
		if rep.Complete {
			fmt.Fprintf(stdout, "complete: it holds every entry of %s from entry %d up to entry %d\n", strings.Join(rep.Orgs, ", "), rep.FromSeq, rep.ToSeq)
		} else {
			fmt.Fprintln(stdout, "completeness is not claimed (a selection by time or action, or of the whole log): entries may be missing")
		}
		return nil
	}
}

func cmdAuditIntegrate(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, db, err := auditDB(ctx, sf)
		if err != nil {
			return err
		}
		defer db.Close()
		k, err := audit.LoadKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
		if err != nil {
			return err
		}
		cp, err := audit.New(db, k.Signer, newLogger(cfg.LogLevel, stderr)).Integrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "audit log: %d entries, root %s\n", cp.Size, base64.StdEncoding.EncodeToString(cp.Root))
		return nil
	}
}
