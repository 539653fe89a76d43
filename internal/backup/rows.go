package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The tables travel as JSON Lines, the same for both databases, so a
// backup of SQLite restores into PostgreSQL and back (docs/backup.md):
//
//	{"table":"organizations","columns":["id","kind",…]}
//	["13","prefecture",…]            one array per row
//	{"end":"organizations","rows":47}
//
// A value is null, a JSON number (an integer), true/false, a string, or an
// object for what JSON cannot carry exactly: {"b":base64} bytes,
// {"t":RFC 3339} a time, {"f":"1.5"} a floating-point number.

type header struct {
	Table   string   `json:"table,omitempty"`
	Columns []string `json:"columns,omitempty"`
	End     string   `json:"end,omitempty"`
	Rows    int64    `json:"rows,omitempty"`
}

// TableSum is a table's row count and checksum in a backup. The checksum
// does not depend on row order or on the database: a restore into either
// database, dumped again, gives the same sum (docs/backup.md).
type TableSum struct {
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// multisetHash sums the SHA-256 of each row, lane by lane: equal for the
// same rows in any order.
type multisetHash [4]uint64

func (m *multisetHash) add(row []any) {
	h := sha256.New()
	var n [8]byte
	for _, v := range row {
		canonical(h, v, n[:])
	}
	sum := h.Sum(nil)
	for i := range m {
		m[i] += binary.BigEndian.Uint64(sum[i*8:])
	}
}

func (m multisetHash) String() string {
	var b [32]byte
	for i, v := range m {
		binary.BigEndian.PutUint64(b[i*8:], v)
	}
	return "sha256-sum:" + hex.EncodeToString(b[:])
}

// canonical writes a value in one form for both databases: a boolean is
// 0 or 1 (SQLite has no booleans), text and bytes are the same bytes, a
// time is UTC microseconds (PostgreSQL's precision).
func canonical(w io.Writer, v any, n []byte) {
	put := func(tag byte, b []byte) {
		binary.BigEndian.PutUint64(n, uint64(len(b)))
		_, _ = w.Write([]byte{tag})
		_, _ = w.Write(n)
		_, _ = w.Write(b)
	}
	switch x := v.(type) {
	case nil:
		put('N', nil)
	case bool:
		if x {
			put('I', []byte("1"))
		} else {
			put('I', []byte("0"))
		}
	case int64:
		put('I', strconv.AppendInt(nil, x, 10))
	case float64:
		put('F', strconv.AppendFloat(nil, x, 'g', -1, 64))
	case string:
		put('S', []byte(x))
	case []byte:
		put('S', x)
	case time.Time:
		put('T', strconv.AppendInt(nil, x.UnixMicro(), 10))
	default:
		put('?', fmt.Appendf(nil, "%v", x))
	}
}

// encodeValue appends v's JSON form.
func encodeValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("value %v cannot be stored", x)
		}
		b = strconv.AppendQuote(append(b, `{"f":`...), strconv.FormatFloat(x, 'g', -1, 64))
		return append(b, '}'), nil
	case string:
		return appendJSONString(b, x), nil
	case []byte:
		b = append(b, `{"b":"`...)
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, `"}`...), nil
	case time.Time:
		return append(append(append(b, `{"t":"`...), x.UTC().Format(time.RFC3339Nano)...), `"}`...), nil
	}
	return nil, fmt.Errorf("value of type %T cannot be stored", v)
}

func appendJSONString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s) // a string always marshals
	return append(b, enc...)
}

// decodeValue reads one value of a row.
func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty value")
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{':
		var o struct {
			B *string `json:"b"`
			T *string `json:"t"`
			F *string `json:"f"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		switch {
		case o.B != nil:
			return base64.StdEncoding.DecodeString(*o.B)
		case o.T != nil:
			return time.Parse(time.RFC3339Nano, *o.T)
		case o.F != nil:
			return strconv.ParseFloat(*o.F, 64)
		}
		return nil, fmt.Errorf("unknown value %s", clip(string(raw)))
	default:
		return strconv.ParseInt(string(raw), 10, 64)
	}
}

// scanValue normalises what a driver scanned into one of the kinds
// encodeValue takes.
func scanValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case float32:
		return float64(x)
	case []byte:
		return bytes.Clone(x)
	}
	return v
}

// dumpTable writes one table's rows and returns their count and checksum.
func dumpTable(ctx context.Context, q store.Querier, t tableInfo, w *bufio.Writer) (TableSum, error) {
	sum := TableSum{Name: t.Name}
	hdr, _ := json.Marshal(header{Table: t.Name, Columns: t.Columns})
	if _, err := w.Write(append(hdr, '\n')); err != nil {
		return sum, err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(quoteAll(t.Columns), ", ")+" FROM "+quoteAll([]string{t.Name})[0]+" ORDER BY "+t.orderBy())
	if err != nil {
		return sum, fmt.Errorf("dump %s: %w", t.Name, err)
	}
	defer rows.Close()
	vals := make([]any, len(t.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var ms multisetHash
	var pending [][]any // self-referencing tables: parents first
	var line []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return sum, fmt.Errorf("dump %s: %w", t.Name, err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = scanValue(v)
		}
		ms.add(row)
		sum.Rows++
		if t.SelfRef != "" {
			pending = append(pending, row)
			continue
		}
		if line, err = encodeRow(line[:0], row); err != nil {
			return sum, fmt.Errorf("dump %s: %w", t.Name, err)
		}
		if _, err := w.Write(line); err != nil {
			return sum, err
		}
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("dump %s: %w", t.Name, err)
	}
	if t.SelfRef != "" {
		ordered, err := parentsFirst(t, pending)
		if err != nil {
			return sum, err
		}
		for _, row := range ordered {
			if line, err = encodeRow(line[:0], row); err != nil {
				return sum, fmt.Errorf("dump %s: %w", t.Name, err)
			}
			if _, err := w.Write(line); err != nil {
				return sum, err
			}
		}
	}
	end, _ := json.Marshal(header{End: t.Name, Rows: sum.Rows})
	if _, err := w.Write(append(end, '\n')); err != nil {
		return sum, err
	}
	sum.Checksum = ms.String()
	return sum, nil
}

func encodeRow(b []byte, row []any) ([]byte, error) {
	b = append(b, '[')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = encodeValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, ']', '\n'), nil
}

// parentsFirst orders the rows of a table that references itself so that
// every row comes after the row it references.
func parentsFirst(t tableInfo, rows [][]any) ([][]any, error) {
	if len(t.Key) != 1 {
		return nil, fmt.Errorf("dump %s: a self-reference needs a one-column key", t.Name)
	}
	keyAt, refAt := indexOf(t.Columns, t.Key[0]), indexOf(t.Columns, t.SelfRef)
	children := map[string][]int{}
	var out [][]any
	var queue []int
	for i, r := range rows {
		if r[refAt] == nil {
			queue = append(queue, i)
			continue
		}
		p := fmt.Sprint(r[refAt])
		children[p] = append(children[p], i)
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		out = append(out, rows[i])
		queue = append(queue, children[fmt.Sprint(rows[i][keyAt])]...)
	}
	if len(out) != len(rows) {
		return nil, fmt.Errorf("dump %s: %d rows reference rows that are not in the table", t.Name, len(rows)-len(out))
	}
	return out, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
