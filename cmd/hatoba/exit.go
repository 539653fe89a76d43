package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/reports"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// cmdExport runs `hatoba export --out DIR` and `hatoba export verify DIR`
// (docs/exit.md).
func cmdExport(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	out := fs.String("out", "", "the directory to write the export into (new or empty)")
	orgID := fs.String("org", "", "export only this organisation's subtree (its tenant's exit)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, _, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		if *out == "" {
			return usageError{"export needs --out DIR"}
		}
		key, err := audit.LoadKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
		if err != nil {
			return fmt.Errorf("export: the manifest is signed with the audit log's key: %w", err)
		}
		redacted, err := backup.RedactConfig(cfg)
		if err != nil {
			return err
		}
		m, err := backup.ExportWith(ctx, db, *out, backup.ExportOptions{Signer: key.Signer, Origin: cfg.Audit.Origin, Version: version,
			Config: redacted, Now: time.Now(), OrgID: *orgID, OpenFormats: openFormats(db)})
		if err != nil {
			return err
		}
		var rows int64
		for _, t := range m.Tables {
			rows += t.Rows
		}
		what := "the platform"
		if *orgID != "" {
			what = "the subtree of " + *orgID
		}
		fmt.Fprintf(stdout, "exported %s from %s (schema %d) to %s: %d tables, %d rows, %d files, audit log of %d entries; signed manifest.json\n",
			what, db, m.Source.SchemaVersion, *out, len(m.Tables), rows, len(m.Files), m.Audit.Size)
		return nil
	}
}

func cmdExportVerify(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	vkey := fs.String("key", os.Getenv("HATOBA_AUDIT_KEY"), "the audit log's public key <name>+<hash>+<key> (default: derived from the signing key file)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if len(args) != 1 {
			return usageError{"export verify needs the export's directory, once"}
		}
		dir := args[0]
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		v, err := auditVerifier(cfg, *vkey)
		if err != nil {
			return err
		}
		m, extra, err := backup.VerifyExport(dir, v)
		if err != nil {
			return refusedExit(err)
		}
		fmt.Fprintf(stdout, "export intact: %d files match the manifest signed by %s (made %s from %s, schema %d)\n",
			len(m.Files), v.Name(), m.CreatedAt.Format(time.RFC3339), m.Source.Dialect, m.Source.SchemaVersion)
		for _, f := range extra {
			fmt.Fprintf(stdout, "not in the manifest (not verified): %s\n", f)
		}
		return nil
	}
}

func refusedExit(err error) error {
	var re *backup.RefusedError
	if errors.As(err, &re) {
		return exitError{code: exitRefused, err: err}
	}
	return err
}

// cmdImport runs `hatoba import --from DIR --into URL`: a fresh
// installation's database from an export.
func cmdImport(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	from := fs.String("from", "", "the export's directory")
	into := fs.String("into", "", "the empty database to build (a SQLite path or postgres://… URL)")
	vkey := fs.String("key", os.Getenv("HATOBA_AUDIT_KEY"), "the audit log's public key that signed the export")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if *from == "" || *into == "" {
			return usageError{"import needs --from DIR and --into URL"}
		}
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		v, err := auditVerifier(cfg, *vkey)
		if err != nil {
			return err
		}
		db, err := store.Open(ctx, *into, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		rep, err := backup.Import(ctx, *from, db, v, time.Now)
		if err != nil {
			return refusedExit(err)
		}
		fmt.Fprintf(stdout, "imported %d rows into %s in %s; every table matches the export's count and checksum\n", rep.Rows, db, rep.Took.Round(time.Millisecond))
		if rep.Subtree != nil {
			printSubtreeImport(stdout, rep.Subtree)
			return nil
		}
		if !rep.Audit.OK() {
			return exitError{code: exitRefused, err: fmt.Errorf("the imported audit log does not verify: %s", rep.Audit.Problem)}
		}
		fmt.Fprintf(stdout, "audit log intact: %d entries, contains the export's checkpoint of %d\n", rep.Audit.Size, rep.Manifest.Audit.Size)
		return nil
	}
}

// cmdExitDrill runs `hatoba exit-drill --into URL`: export this
// installation, import it into a new database (PostgreSQL from SQLite, or
// the other way), compare, and report what did not carry over.
func cmdExitDrill(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	into := fs.String("into", "", "the new, empty database to import into (postgres://… for an instance on SQLite)")
	out := fs.String("out", "", "keep the export in this directory (default: a temporary one, removed)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, _, db, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer db.Close()
		if *into == "" {
			return usageError{"exit-drill needs --into URL: a new, empty database"}
		}
		key, err := audit.LoadKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
		if err != nil {
			return fmt.Errorf("exit-drill: %w", err)
		}
		dir := *out
		if dir == "" {
			tmp, err := os.MkdirTemp(cfg.Backup.ScratchDir, "hatoba-exit-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp + "/export"
		}
		dst, err := store.Open(ctx, *into, store.Options{})
		if err != nil {
			return err
		}
		defer dst.Close()
		redacted, err := backup.RedactConfig(cfg)
		if err != nil {
			return err
		}
		rep, err := backup.ExitDrillWith(ctx, db, dst, dir, backup.ExportOptions{Signer: key.Signer, Origin: cfg.Audit.Origin, Version: version,
			Config: redacted, OpenFormats: openFormats(db)}, key.Verifier, time.Now)
		if err != nil {
			return refusedExit(err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printExit(stdout, rep)
		}
		if !rep.OK() {
			return exitError{code: 1, err: errors.New("exit drill failed: the new installation differs from this one (see the report)")}
		}
		return nil
	}
}

func printExit(w io.Writer, rep backup.ExitReport) {
	fmt.Fprintf(w, "exit drill: %s → %s in %s\n\n", rep.From, rep.To, rep.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSOURCE\tIMPORTED\tSAME")
	for _, d := range rep.Domains {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\n", d.Table, d.Source, d.Imported, d.Same)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT STATE\tSOURCE\tIMPORTED")
	for _, s := range rep.EnvStates {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", s.State, s.Source, s.Imported)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nevery table: %d of %d match (count and checksum)\n", len(rep.Export.Tables)-len(rep.Import.Mismatches), len(rep.Export.Tables))
	if rep.CheckpointHeld {
		fmt.Fprintf(w, "audit log: %d entries, verifies and contains the original's checkpoint of %d\n", rep.Import.Audit.Size, rep.Export.Audit.Size)
	} else {
		fmt.Fprintf(w, "AUDIT LOG: does not verify against the original's checkpoint: %v\n", rep.Import.Audit.Problem)
	}
	fmt.Fprintln(w, "\nnot carried over:")
	for _, o := range rep.Omitted {
		fmt.Fprintf(w, "  - %s: %s\n", o.What, o.Why)
	}
}

// openFormats renders an export's controls, assessments and findings as
// OSCAL and OCSF with the catalog in force: the built-in controls and the
// custom ones stored in db.
func openFormats(db *store.DB) backup.OpenFormats {
	return reports.OpenFormats(func(ctx context.Context) (*controls.Engine, error) {
		cat, err := controls.OpenCatalog(ctx, controls.NewStore(db, time.Now))
		if err != nil {
			return nil, err
		}
		return cat.Engine(), nil
	}, version, time.Now)
}

func printSubtreeImport(w io.Writer, s *backup.SubtreeImport) {
	if s.Parent != "" {
		fmt.Fprintf(w, "%s is a top-level organisation here (its parent %s was not exported)\n", s.Root, s.Parent)
	}
	fmt.Fprintf(w, "audit: %d entries of the subtree proven complete against the source log's checkpoint of %d, queued in this installation's log (signed with its own key when it next integrates)\n",
		s.Entries, s.CheckpointSize)
}
