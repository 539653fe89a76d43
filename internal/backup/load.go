package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// maxParams bounds one INSERT's parameters (SQLite allows 32,766,
// PostgreSQL 65,535).
const maxParams = 8000

// loader inserts the rows of a table stream into a database of either
// dialect.
type loader struct {
	tx     *store.Tx
	tables map[string]tableInfo
	config func(string)
	// fix, when set, may change a row before it is inserted (a subtree's
	// root loses its parent, which is not in the export).
	fix     func(t *tableInfo, cols []int, row []any)
	rows    int64
	touched []tableInfo
}

// load reads a stream that dumpTable wrote (and, in the data part, the
// configuration line) and inserts every row.
func (l *loader) load(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var cur *tableInfo
	var cols []int // target column of each stream column
	var batch [][]any
	var count int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := insertBatch(ctx, l.tx, cur, cols, batch)
		batch = batch[:0]
		return err
	}
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 {
			continue
		}
		if line[0] == '[' {
			if cur == nil {
				return errors.New("a row before its table's header")
			}
			var raw []json.RawMessage
			if err := json.Unmarshal(line, &raw); err != nil {
				return fmt.Errorf("%s: a row that is not JSON: %w", cur.Name, err)
			}
			if len(raw) != len(cols) {
				return fmt.Errorf("%s: a row of %d values for %d columns", cur.Name, len(raw), len(cols))
			}
			row := make([]any, len(raw))
			for i, rv := range raw {
				v, err := decodeValue(rv)
				if err != nil {
					return fmt.Errorf("%s: %w", cur.Name, err)
				}
				row[i] = convert(v, cur.Types[cols[i]], l.tx.Dialect())
			}
			if l.fix != nil {
				l.fix(cur, cols, row)
			}
			batch = append(batch, row)
			count++
			if (len(batch)+1)*len(cols) > maxParams {
				if err := flush(); err != nil {
					return err
				}
			}
			continue
		}
		var h struct {
			header
			Config *string `json:"config"`
		}
		if err := json.Unmarshal(line, &h); err != nil {
			return fmt.Errorf("a line that is not JSON: %w", err)
		}
		switch {
		case h.Config != nil:
			if l.config != nil {
				l.config(*h.Config)
			}
		case h.Table != "":
			t, ok := l.tables[h.Table]
			if !ok {
				return fmt.Errorf("table %s is not in this database's schema", h.Table)
			}
			cols = cols[:0]
			for _, c := range h.Columns {
				i := indexOf(t.Columns, c)
				if i < 0 {
					return fmt.Errorf("column %s.%s is not in this database's schema", h.Table, c)
				}
				cols = append(cols, i)
			}
			cur, count = &t, 0
		case h.End != "":
			if cur == nil || h.End != cur.Name {
				return fmt.Errorf("the end of table %s without its start", h.End)
			}
			if err := flush(); err != nil {
				return err
			}
			if count != h.Rows {
				return fmt.Errorf("%s: %d rows where the stream says %d", cur.Name, count, h.Rows)
			}
			l.rows += count
			l.touched = append(l.touched, *cur)
			cur = nil
		default:
			return fmt.Errorf("an unknown line %s", clip(string(line)))
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if cur != nil {
		return fmt.Errorf("table %s is cut short", cur.Name)
	}
	return nil
}

func insertBatch(ctx context.Context, tx *store.Tx, t *tableInfo, cols []int, rows [][]any) error {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteAll([]string{t.Name})[0])
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteAll([]string{t.Columns[c]})[0])
	}
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(rows)*len(cols))
	for r, row := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range row {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, row[i])
			// SQLite gets anonymous parameters: its driver looks a
			// numbered one's name up in a list as long as the statement,
			// which makes a long statement cost the square of its length.
			if tx.Dialect() == store.SQLite {
				b.WriteByte('?')
				continue
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(len(args)))
		}
		b.WriteByte(')')
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("restore %s: %w", t.Name, err)
	}
	return nil
}

// convert fits a value to the target column's type where the two
// databases store it differently.
func convert(v any, typ string, d store.Dialect) any {
	switch x := v.(type) {
	case int64:
		if strings.HasPrefix(typ, "bool") && d == store.Postgres {
			return x != 0
		}
	case bool:
		if d == store.SQLite || !strings.HasPrefix(typ, "bool") {
			if x {
				return int64(1)
			}
			return int64(0)
		}
	case string:
		switch {
		case typ == "bytea" || typ == "blob":
			return []byte(x)
		case strings.HasPrefix(typ, "timestamp"):
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
				if t, err := time.Parse(layout, x); err == nil {
					return t
				}
			}
		}
	case []byte:
		if typ == "text" || strings.HasPrefix(typ, "character") {
			return string(x)
		}
	}
	return v
}

// resetSequences moves PostgreSQL's sequences past the restored ids, so
// the next insert does not collide with a restored row. SQLite's
// AUTOINCREMENT follows explicit ids by itself.
func resetSequences(ctx context.Context, tx *store.Tx, tables []tableInfo) error {
	if tx.Dialect() != store.Postgres {
		return nil
	}
	for _, t := range tables {
		if t.Serial == "" {
			continue
		}
		name, col := quoteAll([]string{t.Name})[0], quoteAll([]string{t.Serial})[0]
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, false)`, col, name)
		if _, err := tx.ExecContext(ctx, q, t.Name, t.Serial); err != nil {
			return fmt.Errorf("restore %s: sequence: %w", t.Name, err)
		}
	}
	return nil
}
