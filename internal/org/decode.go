package org

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Source is one CSV file to import. Import recognises three shapes by their
// header (column order is free, extra columns are ignored, a UTF-8 byte-order
// mark is dropped, lines starting with # are comments):
//
//   - prefectures, as code4fukui/localgovjp's prefjp-utf8.csv:
//     pid,pref,prefkana,pref_en,lgcode (prefkana and pref_en optional);
//   - municipalities, as its localgovjp-utf8.csv:
//     pid,pref,city,citykana,lgcode (citykana optional);
//   - registry rows, as data/national.csv:
//     id,kind,name_ja,name_kana,name_en,parent_id,lg_code (only id, kind and
//     name_ja required), and optionally the billing contact:
//     billing_name,billing_email (both) and billing_phone. A file with the
//     billing columns states every row's contact: a row's must be complete
//     (a name and an e-mail address), never empty.
type Source struct {
	Name string
	R    io.Reader
}

type shape int

const (
	shapePrefectures shape = iota // imported first: municipalities hang off them
	shapeMunicipalities
	shapeRegistry
)

func (s shape) String() string {
	return [...]string{"prefectures", "municipalities", "registry"}[s]
}

// headerHelp is the error for a file none of the shapes fits.
const headerHelp = "want a prefecture file (pid,pref,prefkana,pref_en,lgcode), a municipality file (pid,pref,city,citykana,lgcode) or a registry file (id,kind,name_ja,name_kana,name_en,parent_id)"

// record is one usable row. Parents that need the registry — a
// municipality's prefecture, a ward's designated city, a registry row's
// parent — are resolved when the row is applied.
type record struct {
	line int
	org  Organization
	// lacks lists the columns the file does not have at all; an existing
	// organisation keeps its own values of those.
	lacks columnSet
	// Municipalities: the prefecture number and name the row names, and for
	// a ward of a designated city the city's name.
	pid      int
	prefName string
	cityName string
}

// decoder reads one source's rows.
type decoder struct {
	source string
	shape  shape
	r      *csv.Reader
	cols   map[string]int
	width  int
}

var utf8BOM = []byte("\xef\xbb\xbf")

// newDecoder reads src's header and tells its shape; an unusable header is an
// Invalid error.
func newDecoder(src Source) (*decoder, error) {
	br := bufio.NewReader(src.R)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		if _, err := br.Discard(len(utf8BOM)); err != nil {
			return nil, fmt.Errorf("read %s: %w", src.Name, err)
		}
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fault.Invalidf("%s is empty: %s", src.Name, headerHelp)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, fault.Invalidf("%s: line %d: the header is not valid CSV (%v): %s", src.Name, pe.StartLine, pe.Err, headerHelp)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src.Name, err)
	}
	d := &decoder{source: src.Name, r: cr, cols: map[string]int{}, width: len(header)}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := d.cols[h]; dup && h != "" {
			return nil, fault.Invalidf("%s: the header names column %q twice", src.Name, h)
		}
		d.cols[h] = i
	}
	switch {
	case d.has("id", "kind", "name_ja"):
		d.shape = shapeRegistry
		if billing := d.has("billing_name") || d.has("billing_email") || d.has("billing_phone"); billing && !d.has("billing_name", "billing_email") {
			return nil, fault.Invalidf("%s: a file with a billing contact needs both billing_name and billing_email columns (billing_phone is optional)", src.Name)
		}
	case d.has("pid", "pref", "city", "lgcode"):
		d.shape = shapeMunicipalities
	case d.has("pid", "pref", "lgcode"):
		d.shape = shapePrefectures
	default:
		return nil, fault.Invalidf("%s: the header %q is not one hatoba knows: %s", src.Name, strings.Join(header, ","), headerHelp)
	}
	return d, nil
}

// columnSet is a set of optional columns.
type columnSet uint8

const (
	fieldKana columnSet = 1 << iota
	fieldEn
	fieldParent
	fieldLGCode
	fieldBilling
)

func (d *decoder) lacking(cols map[string]columnSet) columnSet {
	var f columnSet
	for col, bit := range cols {
		if !d.has(col) {
			f |= bit
		}
	}
	return f
}

func (d *decoder) has(cols ...string) bool {
	for _, c := range cols {
		if _, ok := d.cols[c]; !ok {
			return false
		}
	}
	return true
}

// rowError is a reason to skip one row.
type rowError struct{ msg string }

func (e *rowError) Error() string { return e.msg }

func rowErrorf(format string, args ...any) error { return &rowError{fmt.Sprintf(format, args...)} }

// next returns the next row, io.EOF after the last, a *rowError (with the
// row's line) for a row to skip, or another error when the source cannot be
// read.
func (d *decoder) next() (record, int, error) {
	fields, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return record{}, 0, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return record{}, pe.StartLine, rowErrorf("not valid CSV: %v", pe.Err)
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("read %s: %w", d.source, err)
	}
	line, _ := d.r.FieldPos(0)
	if len(fields) != d.width {
		return record{}, line, rowErrorf("the row has %d fields but the header has %d", len(fields), d.width)
	}
	get := func(col string) string {
		if i, ok := d.cols[col]; ok {
			return strings.TrimSpace(fields[i])
		}
		return ""
	}
	var rec record
	switch d.shape {
	case shapePrefectures:
		rec, err = prefectureRow(get)
		rec.lacks = fieldBilling | d.lacking(map[string]columnSet{"prefkana": fieldKana, "pref_en": fieldEn})
	case shapeMunicipalities:
		rec, err = municipalityRow(get)
		rec.lacks = fieldEn | fieldBilling | d.lacking(map[string]columnSet{"citykana": fieldKana})
	default:
		rec = record{org: Organization{ID: get("id"), Kind: Kind(strings.ToLower(get("kind"))), LGCode: get("lg_code"),
			NameJa: get("name_ja"), NameKana: get("name_kana"), NameEn: get("name_en"), ParentID: get("parent_id"),
			Billing: Contact{Name: get("billing_name"), Email: get("billing_email"), Phone: get("billing_phone")}}}
		rec.lacks = d.lacking(map[string]columnSet{"name_kana": fieldKana, "name_en": fieldEn, "parent_id": fieldParent,
			"lg_code": fieldLGCode, "billing_email": fieldBilling})
		if rec.lacks&fieldBilling == 0 && rec.org.Billing == (Contact{}) {
			err = rowErrorf("the billing contact is empty: this file has billing columns, so give billing_name and billing_email (or leave the columns out to keep the stored contacts)")
		}
	}
	if err == nil {
		rec.org, err = validate(rec.org)
	}
	if err != nil {
		return record{}, line, asRowError(err)
	}
	rec.line = line
	return rec, line, nil
}

func asRowError(err error) error {
	if e, ok := fault.As(err); ok && e.Kind == fault.Invalid {
		return &rowError{e.Message}
	}
	return err
}

// lgColumns reads a row's pid and lgcode and checks they agree.
func lgColumns(get func(string) string) (pid int, code string, err error) {
	raw := get("pid")
	pid, perr := strconv.Atoi(raw)
	if perr != nil || pid < 1 || pid > 47 {
		return 0, "", rowErrorf("pid %q is not a prefecture number from 1 to 47", raw)
	}
	if code, err = NormalizeLGCode(get("lgcode")); err != nil {
		return 0, "", err
	}
	if code[:2] != fmt.Sprintf("%02d", pid) {
		return 0, "", rowErrorf("lgcode %s is in prefecture %s, but pid is %d", code, code[:2], pid)
	}
	return pid, code, nil
}

func prefectureRow(get func(string) string) (record, error) {
	pid, code, err := lgColumns(get)
	if err != nil {
		return record{}, err
	}
	if code[2:5] != "000" {
		return record{}, rowErrorf("lgcode %s is a municipality's, not the prefecture's (%s)", code, strings.TrimPrefix(prefectureID(pid), "lg-"))
	}
	return record{pid: pid, org: Organization{Kind: KindPrefecture, LGCode: code,
		NameJa: get("pref"), NameKana: get("prefkana"), NameEn: get("pref_en")}}, nil
}

func municipalityRow(get func(string) string) (record, error) {
	pid, code, err := lgColumns(get)
	if err != nil {
		return record{}, err
	}
	if code[2:5] == "000" {
		return record{}, rowErrorf("lgcode %s is a prefecture's, not a municipality's", code)
	}
	name := strings.Join(strings.Fields(get("city")), " ")
	if name == "" {
		return record{}, rowErrorf("the name (city) is empty")
	}
	rec := record{pid: pid, prefName: get("pref"), org: Organization{LGCode: code, NameJa: name, NameKana: get("citykana")}}
	if rec.prefName == "" {
		return record{}, rowErrorf("the prefecture name (pref) is empty")
	}
	parts := strings.Split(name, " ")
	switch {
	case len(parts) == 2 && strings.HasSuffix(parts[1], "区") && strings.HasSuffix(parts[0], "市"):
		rec.org.Kind, rec.cityName = KindCityWard, parts[0]
	case len(parts) > 1:
		return record{}, rowErrorf("name %q: only a ward of a designated city is written with a space, like 札幌市 中央区", name)
	case strings.HasSuffix(name, "区"):
		if pid != 13 {
			return record{}, rowErrorf("name %q: a ward outside 東京都 is written after its city, like 札幌市 中央区", name)
		}
		rec.org.Kind = KindSpecialWard
	case strings.HasSuffix(name, "市"):
		rec.org.Kind = KindCity
	case strings.HasSuffix(name, "町"):
		rec.org.Kind = KindTown
	case strings.HasSuffix(name, "村"):
		rec.org.Kind = KindVillage
	default:
		return record{}, rowErrorf("name %q: cannot tell the kind; a municipality's name ends with 市, 町, 村 or 区", name)
	}
	return rec, nil
}
