package org

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// ImportReport says what an import did.
type ImportReport struct {
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Unchanged int        `json:"unchanged"`
	Errors    []RowError `json:"errors"`
}

// RowError is a row that was not imported, and why.
type RowError struct {
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// maxRowErrors stops reading a source that is mostly not what it claims.
const maxRowErrors = 1000

// batchRows is the number of rows per INSERT statement: 9 parameters each,
// well below SQLite's and PostgreSQL's limits.
const batchRows = 200

// Import creates and updates organisations from CSV sources (see Source for
// the shapes). Prefecture files are applied first, then municipality files,
// then registry files; rows within a file in order, so a parent must come
// before its children. A row that cannot be used is skipped and reported
// with its file and line; every other row is written. Each source is one
// transaction, and importing the same data again changes nothing. A column a
// file lacks (a municipality file has no English names) leaves the stored
// value alone, and billing contacts are never touched.
//
// An unrecognised header is an Invalid error, returned before anything is
// written. Other errors (a reader or the database failing) end the import;
// sources already applied stay, and the report covers them.
func (r *Registry) Import(ctx context.Context, sources ...Source) (ImportReport, error) {
	report := ImportReport{Errors: []RowError{}}
	decoders := make([]*decoder, 0, len(sources))
	for _, src := range sources {
		d, err := newDecoder(src)
		if err != nil {
			return report, err
		}
		decoders = append(decoders, d)
	}
	sort.SliceStable(decoders, func(i, j int) bool { return decoders[i].shape < decoders[j].shape })
	for _, d := range decoders {
		// Read the whole source before the transaction: with SQLite's single
		// connection a slow reader must not hold it.
		var recs []record
		var rowErrs []RowError
		for {
			rec, line, err := d.next()
			if errors.Is(err, io.EOF) {
				break
			}
			var re *rowError
			if errors.As(err, &re) {
				rowErrs = append(rowErrs, RowError{Source: d.source, Line: line, Message: re.msg})
				if len(rowErrs) == maxRowErrors {
					rowErrs = append(rowErrs, RowError{Source: d.source, Line: line,
						Message: fmt.Sprintf("%d rows have errors; the rest of %s was not read", maxRowErrors, d.source)})
					break
				}
				continue
			}
			if err != nil {
				return report, err
			}
			recs = append(recs, rec)
		}
		var res applied
		err := r.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if res, err = r.apply(ctx, tx, d, recs); err != nil {
				return err
			}
			if res.created+res.updated == 0 {
				return nil
			}
			// One platform entry per source: the rows are public data, the
			// fact of the change is what the log must hold.
			return r.record(ctx, tx, "org.import", "", map[string]any{"source": d.source, "created": res.created, "updated": res.updated})
		})
		if err != nil {
			return report, fmt.Errorf("import %s: %w", d.source, err)
		}
		report.Created += res.created
		report.Updated += res.updated
		report.Unchanged += res.unchanged
		rowErrs = append(rowErrs, res.errs...)
		sort.SliceStable(rowErrs, func(i, j int) bool { return rowErrs[i].Line < rowErrs[j].Line })
		report.Errors = append(report.Errors, rowErrs...)
	}
	return report, nil
}

type applied struct {
	created, updated, unchanged int
	errs                        []RowError
}

// known is the registry as an import sees it: loaded once per source and
// kept current as rows are applied.
type known struct {
	byID   map[string]Organization
	byLG   map[string]string // lg code → id
	byName map[string]string // parent id + "\x00" + name_ja → id, for cities
	// children maps a parent id to its children's ids.
	children map[string][]string
}

func nameKey(parentID, name string) string { return parentID + "\x00" + name }

func (k *known) put(o Organization) {
	old, exists := k.byID[o.ID]
	if exists && old.Kind == KindCity {
		delete(k.byName, nameKey(old.ParentID, old.NameJa))
	}
	if !exists || old.ParentID != o.ParentID {
		if exists && old.ParentID != "" {
			k.children[old.ParentID] = slices.DeleteFunc(k.children[old.ParentID], func(id string) bool { return id == o.ID })
		}
		if o.ParentID != "" {
			k.children[o.ParentID] = append(k.children[o.ParentID], o.ID)
		}
	}
	k.byID[o.ID] = o
	if o.LGCode != "" {
		k.byLG[o.LGCode] = o.ID
	}
	if o.Kind == KindCity {
		k.byName[nameKey(o.ParentID, o.NameJa)] = o.ID
	}
}

func loadKnown(ctx context.Context, q store.Querier) (*known, error) {
	all, err := queryOrgs(ctx, q, `SELECT `+orgColumns+` FROM organizations`)
	if err != nil {
		return nil, fmt.Errorf("load organisations: %w", err)
	}
	k := &known{byID: make(map[string]Organization, len(all)), byLG: map[string]string{},
		byName: map[string]string{}, children: map[string][]string{}}
	for _, o := range all {
		k.put(o)
	}
	return k, nil
}

// apply resolves parents, compares each row with what is stored, and writes
// the new and changed rows in batches.
func (r *Registry) apply(ctx context.Context, tx *store.Tx, d *decoder, recs []record) (applied, error) {
	var res applied
	k, err := loadKnown(ctx, tx)
	if err != nil {
		return res, err
	}
	now := r.now()
	seen := map[string]int{}
	var writes []Organization
	for _, rec := range recs {
		old, exists := k.byID[rec.org.ID]
		if exists {
			rec.org = keep(rec.org, old, rec.lacks)
		}
		o, err := k.resolve(d.shape, rec)
		if err == nil {
			if line, dup := seen[o.ID]; dup {
				err = rowErrorf("%s is also on line %d", o.ID, line)
			}
		}
		if err != nil {
			res.errs = append(res.errs, RowError{Source: d.source, Line: rec.line, Message: asRowError(err).Error()})
			continue
		}
		seen[o.ID] = rec.line
		if exists {
			if o.Kind == old.Kind && o.LGCode == old.LGCode && o.NameJa == old.NameJa && o.NameKana == old.NameKana &&
				o.NameEn == old.NameEn && o.ParentID == old.ParentID {
				res.unchanged++
				continue
			}
			o.CreatedAt = old.CreatedAt // upsert leaves billing and created_at alone
			res.updated++
		} else {
			o.CreatedAt = now
			res.created++
		}
		o.UpdatedAt = now
		k.put(o)
		writes = append(writes, o)
	}
	for len(writes) > 0 {
		n := min(len(writes), batchRows)
		if err := upsert(ctx, tx, writes[:n]); err != nil {
			return res, err
		}
		writes = writes[n:]
	}
	return res, nil
}

// keep copies into o the fields of old its file lacks.
func keep(o, old Organization, lacks columnSet) Organization {
	if lacks&fieldKana != 0 {
		o.NameKana = old.NameKana
	}
	if lacks&fieldEn != 0 {
		o.NameEn = old.NameEn
	}
	if lacks&fieldParent != 0 {
		o.ParentID = old.ParentID
	}
	if lacks&fieldLGCode != 0 && !o.Kind.LocalGovernment() {
		o.LGCode = old.LGCode
	}
	return o
}

// resolve finds rec's parent in k and checks the row against the registry.
func (k *known) resolve(sh shape, rec record) (Organization, error) {
	o := rec.org
	switch sh {
	case shapeMunicipalities:
		prefID := prefectureID(rec.pid)
		pref, ok := k.byID[prefID]
		if !ok {
			return o, rowErrorf("prefecture %d (%s, %s) is not in the registry: import the prefecture file first", rec.pid, rec.prefName, prefID)
		}
		if pref.NameJa != rec.prefName {
			return o, rowErrorf("pref is %q, but prefecture %d is %s", rec.prefName, rec.pid, pref.NameJa)
		}
		o.ParentID = prefID
		if rec.cityName != "" {
			id, ok := k.byName[nameKey(prefID, rec.cityName)]
			if !ok {
				return o, rowErrorf("the designated city %s of ward %s is not in %s: its row must come before its wards", rec.cityName, o.NameJa, pref.NameJa)
			}
			o.ParentID = id
		}
	}
	var parent *Organization
	if o.ParentID != "" {
		p, ok := k.byID[o.ParentID]
		if !ok {
			return o, rowErrorf("parent_id %q does not exist: add it on an earlier line or import it first", o.ParentID)
		}
		parent = &p
	}
	if err := checkParent(o, parent); err != nil {
		return o, err
	}
	// An update must keep the hierarchy a tree and its children valid.
	for p, depth := parent, 0; p != nil; depth++ {
		if p.ID == o.ID || depth == maxDepth {
			return o, rowErrorf("parent_id %s would make %s its own ancestor", o.ParentID, o.ID)
		}
		next, ok := k.byID[p.ParentID]
		if !ok {
			break
		}
		p = &next
	}
	if old, ok := k.byID[o.ID]; ok && old.Kind != o.Kind {
		for _, id := range k.children[o.ID] {
			if err := checkParent(k.byID[id], &o); err != nil {
				return o, rowErrorf("%s cannot become a %s: its child %s would be invalid (%v)", o.ID, o.Kind, id, err)
			}
		}
	}
	if other, ok := k.byLG[o.LGCode]; ok && o.LGCode != "" && other != o.ID {
		return o, rowErrorf("lg_code %s already belongs to %s", o.LGCode, other)
	}
	return o, nil
}

// upsert writes orgs in one statement; a row that exists keeps its billing
// contact and created_at.
func upsert(ctx context.Context, tx *store.Tx, orgs []Organization) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO organizations (id, kind, lg_code, name_ja, name_kana, name_en, parent_id, created_at, updated_at) VALUES `)
	args := make([]any, 0, len(orgs)*9)
	for i, o := range orgs {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		args = append(args, o.ID, string(o.Kind), nullable(o.LGCode), o.NameJa, o.NameKana, o.NameEn, nullable(o.ParentID), o.CreatedAt, o.UpdatedAt)
	}
	b.WriteString(` ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, lg_code = excluded.lg_code,
		name_ja = excluded.name_ja, name_kana = excluded.name_kana, name_en = excluded.name_en,
		parent_id = excluded.parent_id, updated_at = excluded.updated_at`)
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write %d organisations: %w", len(orgs), err)
	}
	return nil
}
