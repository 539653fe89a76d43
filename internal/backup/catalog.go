package backup

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// keyTables are the key service's tables. They hold wrapped material only
// (tenant key versions and hatoba's own keys sealed by the master key, the
// master key's check value, XKS secrets sealed the same way), never a
// master key or a key in plaintext. A backup keeps them outside the
// encrypted part: a restore must load them first, so the restored key
// service can be unsealed and open the backup's data key.
var keyTables = map[string]bool{
	"key_custody": true, "key_stores": true, "tenant_keys": true,
	"tenant_key_versions": true, "xks_credentials": true,
}

// skipped says why a table is not in a backup.
func skipped(name string) bool {
	switch {
	case name == "schema_migrations":
		return true // a restore migrates the empty database to the same version
	case strings.HasPrefix(name, "river_"):
		// River's queue is work in flight, not state: the resumer queues a
		// job again for every environment whose state asks for one.
		return true
	case strings.HasPrefix(name, "sqlite_"):
		return true
	}
	return false
}

// tableInfo is one table as the database's catalogue describes it.
type tableInfo struct {
	Name    string
	Columns []string
	// Types are the declared column types, lower-case ("boolean", "bytea").
	Types []string
	// Key is the primary key's columns: rows are dumped in its order.
	Key []string
	// Refs are the tables this one references (foreign keys), itself
	// excluded; SelfRef is the column referencing this table's own key
	// (organizations.parent_id), whose rows go parent first.
	Refs    []string
	SelfRef string
	// Serial is a column fed by a sequence (BIGSERIAL; SQLite's
	// AUTOINCREMENT), set past the restored rows after a restore.
	Serial string
}

// readCatalog lists the tables a backup holds, in an order that inserts
// every referenced row before the rows referencing it.
func readCatalog(ctx context.Context, q store.Querier) ([]tableInfo, error) {
	names, err := tableNames(ctx, q)
	if err != nil {
		return nil, err
	}
	byName := map[string]*tableInfo{}
	var tables []*tableInfo
	for _, n := range names {
		if skipped(n) {
			continue
		}
		t := &tableInfo{Name: n}
		if err := describe(ctx, q, t); err != nil {
			return nil, err
		}
		byName[n] = t
		tables = append(tables, t)
	}
	return topoSort(tables, byName)
}

// The catalogue is read per dialect here, not in store: backup is the one
// capability that walks every table of either dialect, and the tables and
// column types it needs are its format's concern.
func tableNames(ctx context.Context, q store.Querier) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if q.Dialect() == store.Postgres {
		query = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	return strings1(ctx, q, query)
}

func strings1(ctx context.Context, q store.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func describe(ctx context.Context, q store.Querier, t *tableInfo) error {
	if q.Dialect() == store.SQLite {
		return describeSQLite(ctx, q, t)
	}
	return describePostgres(ctx, q, t)
}

func describeSQLite(ctx context.Context, q store.Querier, t *tableInfo) error {
	rows, err := q.QueryContext(ctx, `SELECT name, lower(type), pk FROM pragma_table_info($1) ORDER BY cid`, t.Name)
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	type keyCol struct {
		pos  int
		name string
	}
	var keys []keyCol
	for rows.Next() {
		var name, typ string
		var pk int
		if err := rows.Scan(&name, &typ, &pk); err != nil {
			rows.Close()
			return fmt.Errorf("describe %s: %w", t.Name, err)
		}
		t.Columns, t.Types = append(t.Columns, name), append(t.Types, typ)
		if pk > 0 {
			keys = append(keys, keyCol{pk, name})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].pos < keys[j].pos })
	for _, k := range keys {
		t.Key = append(t.Key, k.name)
	}
	var ddl string
	if err := q.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1`, t.Name).Scan(&ddl); err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	if len(t.Key) == 1 && strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT") {
		t.Serial = t.Key[0]
	}
	fks, err := q.QueryContext(ctx, `SELECT "table", "from" FROM pragma_foreign_key_list($1)`, t.Name)
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	defer fks.Close()
	for fks.Next() {
		var ref, from string
		if err := fks.Scan(&ref, &from); err != nil {
			return fmt.Errorf("describe %s: %w", t.Name, err)
		}
		t.addRef(ref, from)
	}
	return fks.Err()
}

func describePostgres(ctx context.Context, q store.Querier, t *tableInfo) error {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type, COALESCE(column_default, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, t.Name)
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	for rows.Next() {
		var name, typ, def string
		if err := rows.Scan(&name, &typ, &def); err != nil {
			rows.Close()
			return fmt.Errorf("describe %s: %w", t.Name, err)
		}
		t.Columns, t.Types = append(t.Columns, name), append(t.Types, strings.ToLower(typ))
		if strings.HasPrefix(def, "nextval(") {
			t.Serial = name
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	if t.Key, err = strings1(ctx, q, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND i.indisprimary
		ORDER BY array_position(i.indkey, a.attnum)`, t.Name); err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	fks, err := q.QueryContext(ctx, `SELECT cf.relname, a.attname FROM pg_constraint c
		JOIN pg_class cf ON cf.oid = c.confrelid
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND c.conrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass`, t.Name)
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.Name, err)
	}
	defer fks.Close()
	for fks.Next() {
		var ref, from string
		if err := fks.Scan(&ref, &from); err != nil {
			return fmt.Errorf("describe %s: %w", t.Name, err)
		}
		t.addRef(ref, from)
	}
	return fks.Err()
}

func (t *tableInfo) addRef(ref, from string) {
	if ref == t.Name {
		t.SelfRef = from
		return
	}
	for _, r := range t.Refs {
		if r == ref {
			return
		}
	}
	t.Refs = append(t.Refs, ref)
}

// topoSort orders tables so that each comes after the tables it references.
func topoSort(tables []*tableInfo, byName map[string]*tableInfo) ([]tableInfo, error) {
	var out []tableInfo
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(t *tableInfo) error
	visit = func(t *tableInfo) error {
		switch state[t.Name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("catalogue: the foreign keys of %s form a cycle", t.Name)
		}
		state[t.Name] = 1
		for _, r := range t.Refs {
			if rt, ok := byName[r]; ok {
				if err := visit(rt); err != nil {
					return err
				}
			}
		}
		state[t.Name] = 2
		out = append(out, *t)
		return nil
	}
	for _, t := range tables {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t tableInfo) orderBy() string {
	cols := t.Key
	if len(cols) == 0 {
		cols = t.Columns
	}
	return strings.Join(quoteAll(cols), ", ")
}

func quoteAll(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	return out
}
