package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// SubtreeImport is what importing one organisation's subtree did beyond
// loading its tables.
type SubtreeImport struct {
	// Root is the subtree's organisation; Parent the organisation above it
	// in the source, which is not in the export: the root becomes a
	// top-level organisation of the new installation.
	Root, Parent string
	// Entries are the subtree's audit entries, proven complete against
	// the source log's signed checkpoint (CheckpointSize entries) by the
	// export's bundles and appended to the new installation's log, which
	// signs them with its own key at its next integration.
	Entries        int
	CheckpointSize uint64
}

// auditTables are the audit log's own tables: a subtree's rows of them
// are part of the source's tree, which the new installation does not
// hold; the subtree's entries enter the new log instead.
func auditTable(name string) bool { return strings.HasPrefix(name, "audit_") }

// importSubtree builds a fresh installation from a verified export of one
// organisation's subtree: its audit bundles are checked against the
// source log's key and must prove the subtree's entries complete; the
// tables load in one transaction (the root's parent cleared), checked
// against the manifest's counts and checksums; and the proven entries are
// appended to the new log, with one entry recording the import.
func importSubtree(ctx context.Context, dir string, m ExportManifest, into *store.DB, v note.Verifier, rep *ImportReport) error {
	sub := &SubtreeImport{Root: m.Scope}
	rep.Subtree = sub
	entries, size, err := provenEntries(dir, m, v)
	if err != nil {
		return err
	}
	sub.Entries, sub.CheckpointSize = len(entries), size
	if want := store.Latest(); m.Source.SchemaVersion != want {
		return refused(ReasonFormat, "the export has schema version %d; this hatoba's is %d: import it with hatoba %s", m.Source.SchemaVersion, want, m.Source.Hatoba)
	}
	if err := checkEmpty(ctx, into); err != nil {
		return err
	}
	if _, err := into.Migrate(ctx); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	tables, err := readCatalog(ctx, into)
	if err != nil {
		return err
	}
	byName := map[string]tableInfo{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	return into.InTx(ctx, func(tx *store.Tx) error {
		l := &loader{tx: tx, tables: byName, fix: func(t *tableInfo, cols []int, row []any) {
			if t.Name != "organizations" {
				return
			}
			var id string
			parent := -1
			for i, c := range cols {
				switch t.Columns[c] {
				case "id":
					id, _ = row[i].(string)
				case "parent_id":
					parent = i
				}
			}
			if id == m.Scope && parent >= 0 && row[parent] != nil {
				sub.Parent = fmt.Sprint(row[parent])
				row[parent] = nil
			}
		}}
		var want []TableSum
		for _, t := range m.Tables {
			if auditTable(t.Name) {
				continue
			}
			f, err := os.Open(filepath.Join(dir, "tables", t.Name+".jsonl"))
			if err != nil {
				return fmt.Errorf("import %s: %w", t.Name, err)
			}
			err = l.load(ctx, f)
			_ = f.Close() // read only: nothing to lose
			if err != nil {
				return fmt.Errorf("import %s: %w", t.Name, err)
			}
			if t.Name == "organizations" && sub.Parent != "" {
				t.Checksum = "" // the root's parent was cleared: compared by count
			}
			want = append(want, t)
		}
		if err := resetSequences(ctx, tx, l.touched); err != nil {
			return err
		}
		got, err := checksumsIn(ctx, tx)
		if err != nil {
			return err
		}
		for i, w := range want {
			if w.Checksum == "" {
				for _, g := range got {
					if g.Name == w.Name {
						want[i].Checksum = g.Checksum
					}
				}
			}
		}
		rep.Rows = l.rows
		if rep.Mismatches = compare(want, got); len(rep.Mismatches) > 0 {
			return fmt.Errorf("the imported tables differ from the export: %s", strings.Join(rep.Mismatches, "; "))
		}
		batch := make([]audit.Entry, 0, len(entries)+1)
		for _, e := range entries {
			batch = append(batch, audit.Entry{At: e.At, Actor: e.Actor, Action: e.Action, OrgID: e.OrgID, Target: e.Target, GrantID: e.GrantID,
				Details: json.RawMessage(e.Details)})
		}
		batch = append(batch, audit.Entry{Actor: "system", Action: "export.import", OrgID: m.Scope, Target: m.Scope,
			Details: map[string]any{"source_origin": m.Audit.Origin, "source_checkpoint_size": size, "entries": len(entries),
				"exported_at": m.CreatedAt, "source_parent": sub.Parent, "rows": l.rows}})
		return audit.AppendAll(ctx, tx, batch)
	})
}

// provenEntries checks the export's audit bundles against the source
// log's key: each must verify, prove its organisations' entries complete,
// and stand on the checkpoint the manifest names; together they must run
// in seq order. It returns their entries and the checkpoint's size.
func provenEntries(dir string, m ExportManifest, v note.Verifier) ([]audit.Record, uint64, error) {
	var names []string
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, "audit/bundle-") && strings.HasSuffix(f.Name, ".json") {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, 0, refused(ReasonFormat, "the subtree export has no audit bundles")
	}
	var out []audit.Record
	var size uint64
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, 0, refused(ReasonChecksum, "%s: %v", name, err)
		}
		b, err := audit.ParseBundle(data)
		if err != nil {
			return nil, 0, refused(ReasonFormat, "%s: %v", name, err)
		}
		br, err := audit.CheckBundleWith(b, v)
		if err != nil {
			return nil, 0, refused(ReasonChecksum, "%s does not verify with the source log's key %s: %v", name, v.Name(), err)
		}
		if !br.Complete {
			return nil, 0, refused(ReasonChecksum, "%s does not prove the subtree's entries complete", name)
		}
		if m.Audit.Checkpoint != "" && b.Checkpoint != m.Audit.Checkpoint && br.Checkpoint.Size < m.Audit.Size {
			return nil, 0, refused(ReasonChecksum, "%s stands on a checkpoint of %d entries, older than the export's %d", name, br.Checkpoint.Size, m.Audit.Size)
		}
		size = max(size, br.Checkpoint.Size)
		for _, e := range b.Entries {
			if len(out) > 0 && e.Seq <= out[len(out)-1].Seq {
				return nil, 0, refused(ReasonChecksum, "%s repeats or reorders entry %d", name, e.Seq)
			}
			out = append(out, e.Record)
		}
	}
	return out, size, nil
}
