package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// ExportFormat names the layout of a full export (docs/exit.md).
const ExportFormat = "hatoba-export/1"

// An export is a directory of open formats that another installation — or
// anyone — reads without hatoba:
//
//	manifest.json, manifest.sig   the files with their SHA-256, signed with the audit log's key
//	tables/<table>.jsonl          every table, the backup's JSON Lines (what import reads)
//	organizations.csv             the registry in hatoba org import's shape, official local-government codes
//	environments.json, people.json, env_access.json, control_assignments.json,
//	control_exceptions.json, findings.json   the same rows as JSON objects
//	audit/entries.jsonl           the audit log (hatoba audit export's JSON Lines)
//	audit/checkpoint              its latest signed checkpoint
//	config.yaml                   the configuration without secrets
//
// Nothing in it is sealed: the key service's tables carry tenant keys only
// wrapped by the master key, which never leaves its custodians or HSM.

// ExportManifest describes an export.
type ExportManifest struct {
	Format string `json:"format"`
	// Scope is the organisation whose subtree this export holds; empty
	// for the whole platform.
	Scope     string     `json:"scope,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Source    Source     `json:"source"`
	Audit     AuditHead  `json:"audit"`
	Files     []File     `json:"files"`
	Tables    []TableSum `json:"tables"`
	Omitted   []Omission `json:"omitted"`
	// Tiles is the directory of the audit log as C2SP tlog tiles
	// (audit/tiles), when the export has them: a whole platform's with
	// at least one entry.
	Tiles string `json:"tiles,omitempty"`
}

// File is one file of an export.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Omission is something an export does not carry, and why.
type Omission struct {
	What string `json:"what"`
	Why  string `json:"why"`
}

// omitted is what every export leaves out.
var omitted = []Omission{
	{"river_* (the job queue)", "work in flight, not state: the importing installation's resumer queues a job again for every environment whose state asks for one"},
	{"schema_migrations", "the importing installation migrates its empty database to the same schema version"},
	{"key material for a custodian", "not exported: tenant keys travel only wrapped by the master key; the importing installation is unsealed by the same custodians (or HSM)"},
}

// jsonViews are the tables also written as JSON objects, for readers
// without hatoba.
var jsonViews = []string{"environments", "people", "env_access", "control_assignments", "control_exceptions", "findings"}

// Export writes a full export of db into dir, which must be empty or
// missing.
func Export(ctx context.Context, db *store.DB, dir string, signer note.Signer, origin, version string, config []byte, now time.Time) (ExportManifest, error) {
	return ExportOrg(ctx, db, dir, signer, origin, version, config, now, "")
}

// ExportOrg is Export of one organisation's subtree when orgID is not
// empty: the rows of its organisations, their environments and people and
// what belongs to those; the platform-wide tables are left out and listed
// as omitted. Its audit log is bundles (hatoba audit check-bundle) that
// prove the subtree's entries complete against the log's checkpoint.
func ExportOrg(ctx context.Context, db *store.DB, dir string, signer note.Signer, origin, version string, config []byte, now time.Time, orgID string) (ExportManifest, error) {
	return ExportWith(ctx, db, dir, ExportOptions{Signer: signer, Origin: origin, Version: version, Config: config, Now: now, OrgID: orgID})
}

// OpenFormats writes files in open formats from an export's snapshot q,
// of the organisations orgs (nil: the whole platform), each through write
// as JSON. reports.OpenFormats is one: the controls, assessments and
// findings as OSCAL and OCSF.
type OpenFormats func(ctx context.Context, q store.Querier, orgs []string, write func(name string, v any) error) error

// ExportOptions are what an export needs beside the database and the
// directory.
type ExportOptions struct {
	// Signer signs the manifest: the audit log's key.
	Signer          note.Signer
	Origin, Version string
	// Config is the configuration without secrets.
	Config []byte
	Now    time.Time
	// OrgID exports one organisation's subtree; empty for the platform.
	OrgID string
	// OpenFormats, when set, adds the controls, assessments and findings
	// in open formats; without it they are listed as omitted.
	OpenFormats OpenFormats
}

// ExportWith is ExportOrg with every option.
func ExportWith(ctx context.Context, db *store.DB, dir string, o ExportOptions) (ExportManifest, error) {
	signer, origin, version, config, now, orgID := o.Signer, o.Origin, o.Version, o.Config, o.Now, o.OrgID
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return ExportManifest{}, fmt.Errorf("export: %s is not empty", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tables"), 0o750); err != nil {
		return ExportManifest{}, fmt.Errorf("export: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "audit"), 0o750); err != nil {
		return ExportManifest{}, fmt.Errorf("export: %w", err)
	}
	m := ExportManifest{Format: ExportFormat, Scope: orgID, CreatedAt: now.UTC(), Source: Source{Dialect: string(db.Dialect()), Hatoba: version},
		Omitted: append([]Omission(nil), omitted...)}
	var scope *subtree
	write := func(name string, fn func(w *bufio.Writer) error) error {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, filepath.FromSlash(name))), 0o750); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(name)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		h := sha256.New()
		cw := &countingWriter{w: io.MultiWriter(f, h)}
		bw := bufio.NewWriterSize(cw, 1<<16)
		err = fn(bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
		m.Files = append(m.Files, File{Name: name, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	err := db.ReadSnapshot(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&m.Source.SchemaVersion); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		cp, err := audit.LatestCheckpoint(ctx, tx, origin)
		if err != nil {
			return err
		}
		m.Audit = AuditHead{Origin: origin, Size: cp.Size, Checkpoint: string(cp.Note)}
		if m.Audit.Pending, err = audit.Pending(ctx, tx); err != nil {
			return err
		}
		tables, err := readCatalog(ctx, tx)
		if err != nil {
			return err
		}
		if orgID != "" {
			if scope, err = readSubtree(ctx, tx, orgID); err != nil {
				return err
			}
		}
		byName := map[string]tableInfo{}
		for _, t := range tables {
			where, args := "", []any(nil)
			if scope != nil {
				var ok bool
				if where, args, ok = scope.filter(t); !ok {
					m.Omitted = append(m.Omitted, Omission{What: t.Name, Why: "platform-wide: not one organisation's"})
					continue
				}
			}
			err := write("tables/"+t.Name+".jsonl", func(w *bufio.Writer) error {
				sum, err := dumpTableWhere(ctx, tx, t, w, where, args)
				m.Tables = append(m.Tables, sum)
				return err
			})
			if err != nil {
				return err
			}
			byName[t.Name] = t
		}
		if err := write("organizations.csv", func(w *bufio.Writer) error { return writeOrgCSV(ctx, tx, w, scope) }); err != nil {
			return err
		}
		for _, name := range jsonViews {
			t, ok := byName[name]
			if !ok {
				continue
			}
			where, args := "", []any(nil)
			if scope != nil {
				where, args, _ = scope.filter(t)
			}
			if err := write(name+".json", func(w *bufio.Writer) error { return writeObjects(ctx, tx, t, w, where, args) }); err != nil {
				return err
			}
		}
		if err := writeOpenFormats(ctx, tx, o.OpenFormats, scope, &m, write); err != nil {
			return err
		}
		if err := writeKeyMetadata(ctx, tx, byName, scope, write); err != nil {
			return err
		}
		filter := audit.Filter{AllOrgs: true}
		if scope != nil {
			filter = audit.Filter{OrgIDs: scope.orgs}
		}
		if err := write("audit/entries.jsonl", func(w *bufio.Writer) error {
			_, err := audit.Export(ctx, tx, w, filter)
			return err
		}); err != nil {
			return err
		}
		if err := write("audit/checkpoint", func(w *bufio.Writer) error { _, err := w.Write(cp.Note); return err }); err != nil {
			return err
		}
		if scope != nil {
			m.Omitted = append(m.Omitted, Omission{What: "the audit log as C2SP tlog tiles", Why: "the tree holds every organisation's entries: the subtree's entries come as bundles with inclusion proofs and coverage against the log's checkpoint"})
			return nil
		}
		return writeTiles(ctx, tx, cp, &m, write)
	})
	if err == nil && scope != nil {
		err = writeBundles(ctx, db, signer, scope.orgs, write)
	}
	if err != nil {
		return m, err
	}
	if err := write("config.yaml", func(w *bufio.Writer) error { _, err := w.Write(config); return err }); err != nil {
		return m, err
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	mj = append(mj, '\n')
	sig, err := note.Sign(&note.Note{Text: exportSignedText(mj)}, signer)
	if err != nil {
		return m, fmt.Errorf("export: sign: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mj, 0o600); err != nil {
		return m, fmt.Errorf("export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.sig"), sig, 0o600); err != nil {
		return m, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

func exportSignedText(manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return ExportFormat + "\nsha256 " + hex.EncodeToString(sum[:]) + "\n"
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeOrgCSV writes the registry in the shape hatoba org import reads
// back (a registry file), with the official local-government codes.
func writeOrgCSV(ctx context.Context, q store.Querier, w io.Writer, scope *subtree) error {
	where, args := "", []any(nil)
	if scope != nil {
		where = " WHERE id IN (" + store.In(&args, scope.orgs) + ")"
	}
	rows, err := q.QueryContext(ctx, `SELECT id, kind, COALESCE(lg_code, ''), name_ja, name_kana, name_en, COALESCE(parent_id, ''),
		billing_name, billing_email, billing_phone FROM organizations`+where+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "kind", "lg_code", "name_ja", "name_kana", "name_en", "parent_id", "billing_name", "billing_email", "billing_phone"}); err != nil {
		return err
	}
	rec := make([]string, 10)
	ptrs := make([]any, len(rec))
	for i := range rec {
		ptrs[i] = &rec[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// writeObjects writes a table as a JSON array of objects, one a line.
func writeObjects(ctx context.Context, q store.Querier, t tableInfo, w *bufio.Writer, where string, args []any) error {
	if where != "" {
		where = " WHERE " + where
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(quoteAll(t.Columns), ", ")+" FROM "+quoteAll([]string{t.Name})[0]+where+" ORDER BY "+t.orderBy(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]any, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if _, err := w.WriteString("[\n"); err != nil {
		return err
	}
	first := true
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		obj := make(map[string]any, len(vals))
		for i, v := range vals {
			switch x := scanValue(v).(type) {
			case time.Time:
				obj[t.Columns[i]] = x.UTC().Format(time.RFC3339Nano)
			case []byte:
				obj[t.Columns[i]] = base64.StdEncoding.EncodeToString(x)
			default:
				obj[t.Columns[i]] = x
			}
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if !first {
			if _, err := w.WriteString(",\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = w.WriteString("\n]\n")
	return err
}

// VerifyExport checks an export offline: the manifest's signature by the
// audit log's key, and every file's size and SHA-256. A file the manifest
// does not name is reported, not trusted.
func VerifyExport(dir string, v note.Verifier) (ExportManifest, []string, error) {
	mj, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return ExportManifest{}, nil, refused(ReasonFormat, "no manifest: %v", err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, "manifest.sig"))
	if err != nil {
		return ExportManifest{}, nil, refused(ReasonSignature, "no signature: %v", err)
	}
	n, err := note.Open(sig, note.VerifierList(v))
	if err != nil {
		return ExportManifest{}, nil, refused(ReasonSignature, "the manifest's signature does not verify with the audit log's key %s: %v", v.Name(), err)
	}
	if n.Text != exportSignedText(mj) {
		return ExportManifest{}, nil, refused(ReasonChecksum, "the manifest does not match its signed checksum")
	}
	var m ExportManifest
	if err := json.Unmarshal(mj, &m); err != nil || m.Format != ExportFormat {
		return m, nil, refused(ReasonFormat, "not a %s manifest", ExportFormat)
	}
	named := map[string]bool{"manifest.json": true, "manifest.sig": true}
	for _, f := range m.Files {
		if !insideExport(f.Name) {
			return m, nil, refused(ReasonFormat, "the manifest names %q, which is not a file inside the export", f.Name)
		}
		named[f.Name] = true
		fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			return m, nil, refused(ReasonChecksum, "%s is missing: %v", f.Name, err)
		}
		h := sha256.New()
		size, err := io.Copy(h, fh)
		_ = fh.Close() // read only: nothing to lose
		if err != nil {
			return m, nil, fmt.Errorf("read %s: %w", f.Name, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); size != f.Size || sum != f.SHA256 {
			return m, nil, refused(ReasonChecksum, "%s does not match the manifest (%d bytes, sha256 %s; the manifest says %d bytes, %s)",
				f.Name, size, short(sum), f.Size, short(f.SHA256))
		}
	}
	if err := verifyTiles(dir, m, v); err != nil {
		return m, nil, err
	}
	var extra []string
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if !named[filepath.ToSlash(rel)] {
			extra = append(extra, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(extra)
	return m, extra, err
}

// insideExport accepts a relative slash path that stays inside the export.
func insideExport(name string) bool {
	return name != "" && !strings.HasPrefix(name, "/") && !strings.Contains(name, "\\") &&
		filepath.ToSlash(filepath.Clean(name)) == name && !strings.HasPrefix(name, "../") && name != ".."
}

// ImportReport says what an import did.
type ImportReport struct {
	Manifest   ExportManifest
	Rows       int64
	Took       time.Duration
	Audit      audit.Report
	Mismatches []string
	// Subtree says how a subtree export was imported; nil for a whole
	// platform's.
	Subtree *SubtreeImport
}

// OK reports whether the import is the export, whole.
func (r ImportReport) OK() bool { return r.Audit.OK() && len(r.Mismatches) == 0 }

// Import builds a fresh installation's database from a verified export:
// every table in one transaction, checked against the manifest's counts
// and checksums before it commits, then the audit log verified against
// the export's checkpoint.
func Import(ctx context.Context, dir string, into *store.DB, v note.Verifier, now func() time.Time) (ImportReport, error) {
	start := now()
	m, _, err := VerifyExport(dir, v)
	if err != nil {
		return ImportReport{}, err
	}
	rep := ImportReport{Manifest: m}
	if m.Scope != "" {
		err := importSubtree(ctx, dir, m, into, v, &rep)
		rep.Took = now().Sub(start)
		return rep, err
	}
	if want := store.Latest(); m.Source.SchemaVersion != want {
		return rep, refused(ReasonFormat, "the export has schema version %d; this hatoba's is %d: import it with hatoba %s", m.Source.SchemaVersion, want, m.Source.Hatoba)
	}
	if err := checkEmpty(ctx, into); err != nil {
		return rep, err
	}
	if _, err := into.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("import: %w", err)
	}
	tables, err := readCatalog(ctx, into)
	if err != nil {
		return rep, err
	}
	byName := map[string]tableInfo{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	err = into.InTx(ctx, func(tx *store.Tx) error {
		l := &loader{tx: tx, tables: byName}
		// The manifest lists the tables in the source's reference order.
		for _, t := range m.Tables {
			f, err := os.Open(filepath.Join(dir, "tables", t.Name+".jsonl"))
			if err != nil {
				return fmt.Errorf("import %s: %w", t.Name, err)
			}
			err = l.load(ctx, f)
			_ = f.Close() // read only: nothing to lose
			if err != nil {
				return fmt.Errorf("import %s: %w", t.Name, err)
			}
		}
		if err := resetSequences(ctx, tx, l.touched); err != nil {
			return err
		}
		sums, err := checksumsIn(ctx, tx)
		if err != nil {
			return err
		}
		rep.Rows = l.rows
		if rep.Mismatches = compare(m.Tables, sums); len(rep.Mismatches) > 0 {
			return errors.New("the imported tables differ from the export: " + strings.Join(rep.Mismatches, "; "))
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	opts := audit.VerifyOptions{}
	if m.Audit.Checkpoint != "" {
		opts.Checkpoint = []byte(m.Audit.Checkpoint)
	}
	if rep.Audit, err = audit.Verify(ctx, into, v, opts); err != nil {
		return rep, fmt.Errorf("verify the imported audit log: %w", err)
	}
	rep.Took = now().Sub(start)
	return rep, nil
}

// subtree is an organisation's subtree as an export selects it.
type subtree struct {
	orgs, envs, people []string
}

// readSubtree reads the organisations under root (root included), their
// environments and their people.
func readSubtree(ctx context.Context, q store.Querier, root string) (*subtree, error) {
	var exists int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations WHERE id = $1`, root).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, fmt.Errorf("export: no organisation %s: %w", root, ErrNotFound)
	}
	s := &subtree{}
	seen := map[string]bool{}
	for queue := []string{root}; len(queue) > 0; {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		s.orgs = append(s.orgs, id)
		children, err := strings1(ctx, q, `SELECT id FROM organizations WHERE parent_id = $1 ORDER BY id`, id)
		if err != nil {
			return nil, err
		}
		queue = append(queue, children...)
	}
	var args []any
	in := store.In(&args, s.orgs)
	var err error
	if s.envs, err = strings1(ctx, q, `SELECT id FROM environments WHERE org_id IN (`+in+`) ORDER BY id`, args...); err != nil {
		return nil, err
	}
	if s.people, err = strings1(ctx, q, `SELECT id FROM people WHERE org_id IN (`+in+`) ORDER BY id`, args...); err != nil {
		return nil, err
	}
	return s, nil
}

// filter selects a table's rows that belong to the subtree: by the
// organisation, environment or person a row names. A table that names none
// of them is the platform's, and ok is false.
func (s *subtree) filter(t tableInfo) (where string, args []any, ok bool) {
	by := func(col string, ids []string) (string, []any, bool) {
		if len(ids) == 0 {
			return "1 = 0", nil, true
		}
		var a []any
		return quoteAll([]string{col})[0] + " IN (" + store.In(&a, ids) + ")", a, true
	}
	switch {
	case t.Name == "organizations":
		return by("id", s.orgs)
	case t.Name == "environments", t.Name == "people":
		return by("org_id", s.orgs)
	case indexOf(t.Columns, "env_id") >= 0:
		return by("env_id", s.envs)
	case indexOf(t.Columns, "person_id") >= 0:
		return by("person_id", s.people)
	case indexOf(t.Columns, "org_id") >= 0:
		return by("org_id", s.orgs)
	}
	return "", nil, false
}

// bundlePage is the number of entries in one audit bundle file.
const bundlePage = 1000

// writeBundles writes the subtree's audit entries as bundles, each with
// inclusion proofs and the coverage that proves no entry of theirs is
// missing, against the log's latest checkpoint.
func writeBundles(ctx context.Context, db *store.DB, signer note.Signer, orgs []string, write func(string, func(*bufio.Writer) error) error) error {
	l := audit.New(db, signer, nil)
	var from uint64
	for page := 1; ; page++ {
		b, err := l.Bundle(ctx, audit.Filter{OrgIDs: orgs, Limit: bundlePage, FromSeq: from})
		if err != nil {
			return fmt.Errorf("export: audit bundle: %w", err)
		}
		err = write(fmt.Sprintf("audit/bundle-%04d.json", page), func(w *bufio.Writer) error {
			return json.NewEncoder(w).Encode(b)
		})
		if err != nil {
			return err
		}
		if len(b.Entries) < bundlePage {
			return nil
		}
		from = b.Entries[len(b.Entries)-1].Seq + 1
	}
}
