package org

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// ImportReport says what an import did, or — for a dry run, or a file
// with errors — what it would do.
type ImportReport struct {
	// Created, Updated and Unchanged count the rows that make a new
	// organisation, change one, or match what is stored.
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Applied is true when the changes were written: never for a dry run,
	// never when a row has an error.
	Applied bool `json:"applied"`
	DryRun  bool `json:"dry_run,omitempty"`
	// Changes are the changed organisations, field by field, in the order
	// of the files (the new ones are only counted).
	Changes []Change   `json:"changes"`
	Errors  []RowError `json:"errors"`
}

// Change is one stored organisation an import changes.
type Change struct {
	ID     string        `json:"id"`
	Source string        `json:"source"`
	Line   int           `json:"line"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field of a Change.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// RowError is a row that cannot be imported, and why.
type RowError struct {
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// maxRowErrors stops reading a source that is mostly not what it claims.
const maxRowErrors = 1000

// batchRows is the number of rows per INSERT statement: 12 parameters each,
// well below SQLite's and PostgreSQL's limits.
const batchRows = 200

// Import creates and updates organisations from CSV sources (see Source for
// the shapes), all or nothing: every row of every source is checked, and
// the changes are written in one transaction only when no row has an
// error; otherwise nothing is written and the report lists every error with
// its file and line (a file whose good rows were written would leave the
// registry half of one thing and half of another, and a second run would
// not show what the first one did). Prefecture files are applied first,
// then municipality files, then registry files; rows within a file in
// order, so a parent must come before its children. Importing the same
// data again changes nothing. A column a file lacks (a municipality file
// has no English names, most files no billing contact) leaves the stored
// value alone.
//
// An unrecognised header is an Invalid error, returned before anything is
// written. Other errors (a reader or the database failing) end the import
// with nothing written. act is who imports: the person, or the local
// operator of `hatoba org import`; without one (audit.ErrNoActor) nothing
// is read or written.
func (r *Registry) Import(ctx context.Context, act audit.Acting, sources ...Source) (ImportReport, error) {
	if err := act.Check(); err != nil {
		return ImportReport{}, fmt.Errorf("import: %w", err)
	}
	return r.importSources(ctx, act, false, sources)
}

// DryRun reports what Import would do with sources — the counts, the
// changed rows field by field, the errors — and writes nothing.
func (r *Registry) DryRun(ctx context.Context, sources ...Source) (ImportReport, error) {
	return r.importSources(ctx, audit.Acting{}, true, sources)
}

// readSource is one source's usable rows and row errors.
type readSource struct {
	d       *decoder
	recs    []record
	rowErrs []RowError
}

// importSources imports sources as act; a dry run writes nothing and
// needs no actor.
func (r *Registry) importSources(ctx context.Context, act audit.Acting, dryRun bool, sources []Source) (ImportReport, error) {
	report := ImportReport{DryRun: dryRun, Changes: []Change{}, Errors: []RowError{}}
	decoders := make([]*decoder, 0, len(sources))
	for _, src := range sources {
		d, err := newDecoder(src)
		if err != nil {
			return report, err
		}
		decoders = append(decoders, d)
	}
	sort.SliceStable(decoders, func(i, j int) bool { return decoders[i].shape < decoders[j].shape })
	// Read every source before the transaction: with SQLite's single
	// connection a slow reader must not hold it.
	read := make([]readSource, 0, len(decoders))
	for _, d := range decoders {
		rs, err := readAll(d)
		if err != nil {
			return report, err
		}
		read = append(read, rs)
	}
	plan := func(q store.Querier) ([]applied, error) {
		k, err := loadKnown(ctx, q)
		if err != nil {
			return nil, err
		}
		out := make([]applied, len(read))
		now := r.now()
		for i, rs := range read {
			out[i] = k.plan(rs.d, rs.recs, now)
		}
		return out, nil
	}
	var results []applied
	var err error
	if dryRun {
		results, err = plan(r.db)
	} else {
		err = r.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if results, err = plan(tx); err != nil {
				return err
			}
			for i, res := range results {
				if len(res.errs) > 0 || len(read[i].rowErrs) > 0 {
					return nil // nothing is written; the report says why
				}
			}
			for i, res := range results {
				if err := write(ctx, tx, res.writes); err != nil {
					return err
				}
				if res.created+res.updated == 0 {
					continue
				}
				// One platform entry per source: the rows are public data,
				// the fact of the change is what the log must hold.
				if err := r.record(ctx, tx, act, "org.import", "", map[string]any{"source": read[i].d.source,
					"created": res.created, "updated": res.updated}); err != nil {
					return err
				}
			}
			report.Applied = true
			return nil
		})
	}
	if err != nil {
		report.Applied = false
		return report, fmt.Errorf("import: %w", err)
	}
	for i, res := range results {
		report.Created += res.created
		report.Updated += res.updated
		report.Unchanged += res.unchanged
		report.Changes = append(report.Changes, res.changes...)
		errs := append(read[i].rowErrs, res.errs...)
		sort.SliceStable(errs, func(a, b int) bool { return errs[a].Line < errs[b].Line })
		report.Errors = append(report.Errors, errs...)
	}
	return report, nil
}

// readAll reads d's rows, keeping the usable ones and the reasons for the
// others.
func readAll(d *decoder) (readSource, error) {
	rs := readSource{d: d}
	for {
		rec, line, err := d.next()
		if errors.Is(err, io.EOF) {
			return rs, nil
		}
		var re *rowError
		if errors.As(err, &re) {
			rs.rowErrs = append(rs.rowErrs, RowError{Source: d.source, Line: line, Message: re.msg})
			if len(rs.rowErrs) == maxRowErrors {
				rs.rowErrs = append(rs.rowErrs, RowError{Source: d.source, Line: line,
					Message: fmt.Sprintf("%d rows have errors; the rest of %s was not read", maxRowErrors, d.source)})
				return rs, nil
			}
			continue
		}
		if err != nil {
			return rs, err
		}
		rs.recs = append(rs.recs, rec)
	}
}

type applied struct {
	created, updated, unchanged int
	changes                     []Change
	errs                        []RowError
	writes                      []Organization
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

// plan resolves parents, compares each row with what is known, and
// returns the rows to write; k is kept current as rows are planned, so a
// later row (or file) sees an earlier one.
func (k *known) plan(d *decoder, recs []record, now time.Time) applied {
	var res applied
	seen := map[string]int{}
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
			fields := diff(old, o)
			if len(fields) == 0 {
				res.unchanged++
				continue
			}
			res.changes = append(res.changes, Change{ID: o.ID, Source: d.source, Line: rec.line, Fields: fields})
			o.CreatedAt = old.CreatedAt
			res.updated++
		} else {
			o.CreatedAt = now
			res.created++
		}
		o.UpdatedAt = now
		k.put(o)
		res.writes = append(res.writes, o)
	}
	return res
}

// diff lists the fields an import changes from old to o.
func diff(old, o Organization) []FieldChange {
	var out []FieldChange
	for _, f := range []struct{ name, old, new string }{
		{"kind", string(old.Kind), string(o.Kind)}, {"lg_code", old.LGCode, o.LGCode},
		{"name_ja", old.NameJa, o.NameJa}, {"name_kana", old.NameKana, o.NameKana}, {"name_en", old.NameEn, o.NameEn},
		{"parent_id", old.ParentID, o.ParentID}, {"billing_name", old.Billing.Name, o.Billing.Name},
		{"billing_email", old.Billing.Email, o.Billing.Email}, {"billing_phone", old.Billing.Phone, o.Billing.Phone},
	} {
		if f.old != f.new {
			out = append(out, FieldChange{Field: f.name, Old: f.old, New: f.new})
		}
	}
	return out
}

// write upserts orgs in batches.
func write(ctx context.Context, tx *store.Tx, orgs []Organization) error {
	for len(orgs) > 0 {
		n := min(len(orgs), batchRows)
		if err := upsert(ctx, tx, orgs[:n]); err != nil {
			return err
		}
		orgs = orgs[n:]
	}
	return nil
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
	if lacks&fieldBilling != 0 {
		o.Billing = old.Billing
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

// upsert writes orgs in one statement. A file without billing columns
// carries the stored contact (keep), so writing it changes nothing.
func upsert(ctx context.Context, tx *store.Tx, orgs []Organization) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO organizations (id, kind, lg_code, name_ja, name_kana, name_en, parent_id,
		billing_name, billing_email, billing_phone, created_at, updated_at) VALUES `)
	args := make([]any, 0, len(orgs)*12)
	for i, o := range orgs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range 12 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", len(args)+j+1)
		}
		b.WriteString(")")
		args = append(args, o.ID, string(o.Kind), nullable(o.LGCode), o.NameJa, o.NameKana, o.NameEn, nullable(o.ParentID),
			o.Billing.Name, o.Billing.Email, o.Billing.Phone, o.CreatedAt, o.UpdatedAt)
	}
	b.WriteString(` ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, lg_code = excluded.lg_code,
		name_ja = excluded.name_ja, name_kana = excluded.name_kana, name_en = excluded.name_en,
		parent_id = excluded.parent_id, billing_name = excluded.billing_name, billing_email = excluded.billing_email,
		billing_phone = excluded.billing_phone, updated_at = excluded.updated_at`)
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write %d organisations: %w", len(orgs), err)
	}
	return nil
}
