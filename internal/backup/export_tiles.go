package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// tilesDir is where an export holds the audit log as C2SP tlog tiles
// (https://c2sp.org/tlog-tiles): a tree any tlog-tiles client reads.
const tilesDir = "audit/tiles"

// writeTiles writes the log's tree at checkpoint cp as tiles, each file
// through write (so into the manifest). The empty log has none.
func writeTiles(ctx context.Context, tx *store.Tx, cp audit.Checkpoint, m *ExportManifest, write func(string, func(*bufio.Writer) error) error) error {
	if cp.Size == 0 {
		return nil
	}
	m.Tiles = tilesDir
	return audit.WriteTiles(ctx, tx, cp, func(path string, data []byte) error {
		return write(tilesDir+"/"+path, func(w *bufio.Writer) error { _, err := w.Write(data); return err })
	})
}

// verifyTiles checks an export's tiles offline: they must reproduce the
// checkpoint the manifest names (signed by v), and the export's
// audit/entries.jsonl must be their entries, one for one. Every file the
// manifest lists under the tiles must be one of the tree's.
func verifyTiles(dir string, m ExportManifest, v note.Verifier) error {
	if m.Tiles == "" {
		if m.Scope == "" && m.Audit.Size > 0 {
			return refused(ReasonFormat, "the export has an audit log of %d entries but no tiles", m.Audit.Size)
		}
		return nil
	}
	if m.Tiles != tilesDir {
		return refused(ReasonFormat, "the manifest puts the tiles in %q, not %s", m.Tiles, tilesDir)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash("audit/entries.jsonl")))
	if err != nil {
		return refused(ReasonChecksum, "audit/entries.jsonl is missing: %v", err)
	}
	defer f.Close() //nolint:errcheck // read only
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	rep, err := audit.VerifyTiles(os.DirFS(filepath.Join(dir, filepath.FromSlash(tilesDir))), v, func(r audit.Record) error {
		if !lines.Scan() {
			return refused(ReasonChecksum, "audit/entries.jsonl ends before entry %d of the tiles", r.Seq)
		}
		var line audit.Record
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			return refused(ReasonFormat, "audit/entries.jsonl, entry %d: %v", r.Seq, err)
		}
		if !sameRecord(line, r) {
			return refused(ReasonChecksum, "audit/entries.jsonl's entry %d is not the tiles' entry %d", line.Seq, r.Seq)
		}
		return nil
	})
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			return err
		}
		return refused(ReasonChecksum, "the audit log's tiles do not verify: %v", err)
	}
	if lines.Scan() {
		return refused(ReasonChecksum, "audit/entries.jsonl has entries after the tiles' %d", rep.Checkpoint.Size)
	}
	if err := lines.Err(); err != nil {
		return fmt.Errorf("read audit/entries.jsonl: %w", err)
	}
	if !bytes.Equal(rep.Checkpoint.Note, []byte(m.Audit.Checkpoint)) || rep.Checkpoint.Size != m.Audit.Size {
		return refused(ReasonChecksum, "the tiles' checkpoint (%d entries) is not the one the manifest names (%d)", rep.Checkpoint.Size, m.Audit.Size)
	}
	inTree := map[string]bool{}
	for _, p := range rep.Files {
		inTree[tilesDir+"/"+p] = true
	}
	for _, file := range m.Files {
		if strings.HasPrefix(file.Name, tilesDir+"/") && !inTree[file.Name] {
			return refused(ReasonFormat, "%s is not a tile of the log's tree", file.Name)
		}
	}
	return nil
}

// sameRecord compares an exported JSON line with the entry decoded from
// the tiles: every field the leaf hash covers.
func sameRecord(a, b audit.Record) bool {
	ai, bi := int64(-1), int64(-1)
	if a.OrgIndex != nil {
		ai = int64(*a.OrgIndex) //nolint:gosec // compared only
	}
	if b.OrgIndex != nil {
		bi = int64(*b.OrgIndex) //nolint:gosec // compared only
	}
	return a.Seq == b.Seq && bytes.Equal(a.LeafHash, b.LeafHash) && a.At.Equal(b.At) && a.Actor == b.Actor && a.Action == b.Action &&
		a.OrgID == b.OrgID && a.Target == b.Target && a.GrantID == b.GrantID && a.Details == b.Details && ai == bi
}

// writeOpenFormats writes what of renders (OSCAL, OCSF) as indented JSON
// files of the manifest; without a renderer they are omitted, and said so.
func writeOpenFormats(ctx context.Context, tx *store.Tx, render OpenFormats, scope *subtree, m *ExportManifest, write func(string, func(*bufio.Writer) error) error) error {
	if render == nil {
		m.Omitted = append(m.Omitted, Omission{What: "controls, assessments and findings as OSCAL and OCSF",
			Why: "this export was made without the control catalog; the findings, assignments and exceptions are in the JSON files"})
		return nil
	}
	var orgs []string
	if scope != nil {
		orgs = scope.orgs
	}
	return render(ctx, tx, orgs, func(name string, v any) error {
		if !insideExport(name) {
			return fmt.Errorf("export: %q is not a file inside the export", name)
		}
		return write(name, func(w *bufio.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", " ")
			return enc.Encode(v)
		})
	})
}

// keyMetadata are the key service's tables written as metadata into
// keys/: every column but the ones named, which hold key material (wrapped
// by the master key) or custody secrets' checks.
var keyMetadata = []struct {
	table   string
	without []string
}{
	{"key_custody", []string{"keyset_id", "check_value"}},
	{"key_stores", nil},
	{"tenant_keys", nil},
	{"tenant_key_versions", []string{"wrapped"}},
}

// writeKeyMetadata writes the key service's metadata — custody mode and
// threshold, key stores, keys, their versions — as JSON, always, without
// key material; a subtree's holds its organisations' keys only.
func writeKeyMetadata(ctx context.Context, tx *store.Tx, tables map[string]tableInfo, scope *subtree, write func(string, func(*bufio.Writer) error) error) error {
	for _, km := range keyMetadata {
		t, ok := tables[km.table]
		if !ok {
			continue // platform-wide in a subtree export, or not in this schema
		}
		where, args := "", []any(nil)
		if scope != nil {
			where, args, _ = scope.filter(t)
		}
		view := t
		view.Columns = nil
		for _, c := range t.Columns {
			if !slices.Contains(km.without, c) {
				view.Columns = append(view.Columns, c)
			}
		}
		if err := write("keys/"+km.table+".json", func(w *bufio.Writer) error { return writeObjects(ctx, tx, view, w, where, args) }); err != nil {
			return err
		}
	}
	return nil
}
