package org

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Registry stores organisations.
type Registry struct {
	db  *store.DB
	now func() time.Time
}

// New returns a registry on db; now is the clock (time.Now outside tests).
func New(db *store.DB, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	// PostgreSQL keeps microseconds: truncate so what Create returns is what
	// Get reads back.
	return &Registry{db: db, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

const orgColumns = `id, kind, lg_code, name_ja, name_kana, name_en, parent_id,
	billing_name, billing_email, billing_phone, created_at, updated_at`

func scanOrg(row interface{ Scan(...any) error }) (Organization, error) {
	var o Organization
	var lg, parent sql.NullString
	err := row.Scan(&o.ID, &o.Kind, &lg, &o.NameJa, &o.NameKana, &o.NameEn, &parent,
		&o.Billing.Name, &o.Billing.Email, &o.Billing.Phone, &o.CreatedAt, &o.UpdatedAt)
	o.LGCode, o.ParentID = lg.String, parent.String
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Get returns the organisation id, or a NotFound error.
func (r *Registry) Get(ctx context.Context, id string) (Organization, error) {
	return get(ctx, r.db, id)
}

func get(ctx context.Context, q store.Querier, id string) (Organization, error) {
	o, err := scanOrg(q.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Organization{}, fault.NotFoundf("organisation %q does not exist", id)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("get organisation %s: %w", id, err)
	}
	return o, nil
}

func queryOrgs(ctx context.Context, q store.Querier, query string, args ...any) ([]Organization, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Organization{}
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ListParams selects and pages organisations.
type ListParams struct {
	// Query matches a substring of the Japanese, kana or English name or of
	// the lg code, ignoring case; kana match in hiragana or katakana.
	Query    string
	ParentID string
	Kind     Kind
	// Limit is the page size: 50 when 0, at most MaxLimit.
	Limit int
	// Cursor is a previous page's NextCursor.
	Cursor string
	// Within, when not nil, limits the listing to these organisations (the
	// caller's scope); an empty, non-nil slice lists nothing.
	Within []string
}

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of organisations ordered by id.
type Page struct {
	Items []Organization `json:"items"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

const cursorPrefix = "o1:"

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

// ValidCursor reports whether c is a cursor List could have returned.
func ValidCursor(c string) bool {
	_, err := decodeCursor(c)
	return err == nil
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok || !ValidID(id) {
		return "", fault.InvalidField("cursor", "cursor %q is not one this server returned; start again without a cursor", c)
	}
	return id, nil
}

// likeEscaper makes a user's text literal inside a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// List returns a page of organisations ordered by id.
func (r *Registry) List(ctx context.Context, p ListParams) (Page, error) {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultLimit
	case p.Limit < 0 || p.Limit > MaxLimit:
		return Page{}, fault.InvalidField("limit", "limit must be from 1 to %d, not %d", MaxLimit, p.Limit)
	}
	if p.Kind != "" && !p.Kind.Valid() {
		return Page{}, fault.InvalidField("kind", "kind %q is not one of %s", p.Kind, kindList())
	}
	query, err := cleanText("q", p.Query)
	if err != nil {
		return Page{}, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if p.Cursor != "" {
		after, err := decodeCursor(p.Cursor)
		if err != nil {
			return Page{}, err
		}
		where = append(where, "id > "+arg(after))
	}
	if p.ParentID != "" {
		where = append(where, "parent_id = "+arg(p.ParentID))
	}
	if p.Within != nil {
		if len(p.Within) == 0 {
			return Page{Items: []Organization{}}, nil
		}
		where = append(where, "id IN ("+store.In(&args, p.Within)+")")
	}
	if p.Kind != "" {
		where = append(where, "kind = "+arg(string(p.Kind)))
	}
	if query != "" {
		// LOWER on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's
		// is not; the pattern is lowered in Go so both agree.
		pat := arg("%" + likeEscaper.Replace(strings.ToLower(query)) + "%")
		kana := arg("%" + likeEscaper.Replace(toHiragana(query)) + "%")
		kata := arg("%" + likeEscaper.Replace(toKatakana(query)) + "%")
		var ors []string
		for _, c := range []string{"name_ja", "name_kana", "name_en", "lg_code"} {
			ors = append(ors, "LOWER("+c+`) LIKE `+pat+` ESCAPE '\'`)
		}
		ors = append(ors, `name_kana LIKE `+kana+` ESCAPE '\'`, `name_kana LIKE `+kata+` ESCAPE '\'`)
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	q := `SELECT ` + orgColumns + ` FROM organizations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id LIMIT " + arg(p.Limit+1)
	items, err := queryOrgs(ctx, r.db, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list organisations: %w", err)
	}
	page := Page{Items: items}
	if len(items) > p.Limit {
		page.Items = items[:p.Limit]
		page.NextCursor = encodeCursor(page.Items[p.Limit-1].ID)
	}
	return page, nil
}

// toHiragana and toKatakana fold the two kana scripts onto each other, so
// "サッポロ" finds さっぽろし.
func toHiragana(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'ァ' && r <= 'ヶ' {
			return r - 0x60
		}
		return r
	}, s)
}

func toKatakana(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'ぁ' && r <= 'ゖ' {
			return r + 0x60
		}
		return r
	}, s)
}

// Children returns the organisations whose parent is id, ordered by id.
func (r *Registry) Children(ctx context.Context, id string) ([]Organization, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	out, err := queryOrgs(ctx, r.db, `SELECT `+orgColumns+` FROM organizations WHERE parent_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("children of %s: %w", id, err)
	}
	return out, nil
}

// maxDepth bounds a walk up the hierarchy (national → prefecture → city →
// ward is 3 deep).
const maxDepth = 16

// Ancestors returns the chain of parents of id, the root first; empty for an
// organisation without a parent.
func (r *Registry) Ancestors(ctx context.Context, id string) ([]Organization, error) {
	o, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.ancestorsOf(ctx, o)
}

func (r *Registry) ancestorsOf(ctx context.Context, o Organization) ([]Organization, error) {
	var chain []Organization
	for next := o.ParentID; next != ""; {
		if len(chain) == maxDepth {
			return nil, fmt.Errorf("ancestors of %s: more than %d levels; the hierarchy has a cycle", o.ID, maxDepth)
		}
		p, err := r.Get(ctx, next)
		if err != nil {
			return nil, fmt.Errorf("ancestors of %s: %w", o.ID, err)
		}
		chain = append(chain, p)
		next = p.ParentID
	}
	out := make([]Organization, len(chain))
	for i, p := range chain {
		out[len(chain)-1-i] = p
	}
	return out, nil
}

// Create adds an organisation: usually a national or quasi-public body, or a
// local government the imported data lacks. It returns the stored
// organisation, a Conflict error when the id or lg code is taken, or an
// Invalid one. act is who creates it (audit.ErrNoActor without one).
func (r *Registry) Create(ctx context.Context, act audit.Acting, o Organization) (Organization, error) {
	if err := act.Check(); err != nil {
		return Organization{}, err
	}
	o, err := validate(o)
	if err != nil {
		return Organization{}, err
	}
	now := r.now()
	o.CreatedAt, o.UpdatedAt = now, now
	err = r.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := get(ctx, tx, o.ID); err == nil {
			return fault.Conflictf("organisation %s already exists", o.ID)
		} else if fault.KindOf(err) != fault.NotFound {
			return err
		}
		if o.LGCode != "" {
			var other string
			err := tx.QueryRowContext(ctx, `SELECT id FROM organizations WHERE lg_code = $1`, o.LGCode).Scan(&other)
			if err == nil {
				return fault.Conflictf("lg_code %s already belongs to %s", o.LGCode, other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("create organisation: %w", err)
			}
		}
		var parent *Organization
		if o.ParentID != "" {
			p, err := get(ctx, tx, o.ParentID)
			if fault.KindOf(err) == fault.NotFound {
				return fault.InvalidField("parent_id", "parent %q does not exist", o.ParentID)
			}
			if err != nil {
				return err
			}
			parent = &p
		}
		if err := checkParent(o, parent); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO organizations (`+orgColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			o.ID, string(o.Kind), nullable(o.LGCode), o.NameJa, o.NameKana, o.NameEn, nullable(o.ParentID),
			o.Billing.Name, o.Billing.Email, o.Billing.Phone, o.CreatedAt, o.UpdatedAt)
		if store.IsUniqueViolation(err) {
			return fault.Conflictf("organisation %s or lg_code %s was created at the same time", o.ID, o.LGCode)
		}
		if err != nil {
			return fmt.Errorf("create organisation %s: %w", o.ID, err)
		}
		return r.record(ctx, tx, act, "org.create", o.ID, map[string]any{"kind": o.Kind, "name_ja": o.NameJa, "parent_id": o.ParentID})
	})
	if err != nil {
		return Organization{}, err
	}
	return o, nil
}

// SetBilling replaces id's billing contact, as act; an empty contact
// clears it.
func (r *Registry) SetBilling(ctx context.Context, act audit.Acting, id string, c Contact) error {
	if err := act.Check(); err != nil {
		return err
	}
	c, err := validateContact(c, "")
	if err != nil {
		return err
	}
	return r.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE organizations SET billing_name = $1, billing_email = $2, billing_phone = $3, updated_at = $4 WHERE id = $5`,
			c.Name, c.Email, c.Phone, r.now(), id)
		if err != nil {
			return fmt.Errorf("set billing contact of %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set billing contact of %s: %w", id, err)
		} else if n == 0 {
			return fault.NotFoundf("organisation %q does not exist", id)
		}
		return r.record(ctx, tx, act, "org.billing", id, map[string]any{"name": c.Name, "email": c.Email})
	})
}

// record appends an audit entry about organisation id, acted by act, in tx.
func (r *Registry) record(ctx context.Context, tx *store.Tx, act audit.Acting, action, id string, details map[string]any) error {
	return audit.Append(ctx, tx, audit.Entry{At: r.now(), Actor: act.Actor, GrantID: act.GrantID, Action: action, OrgID: id, Target: id, Details: details})
}

// Count returns the number of organisations.
func (r *Registry) Count(ctx context.Context) (int, error) {
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count organisations: %w", err)
	}
	return n, nil
}

// Quota returns id's maximum number of live environments: its override, or
// def when it has none. An unknown id is NotFound.
func (r *Registry) Quota(ctx context.Context, id string, def int) (int, error) {
	var n sql.NullInt64
	err := r.db.QueryRowContext(ctx, `SELECT q.max_environments FROM organizations o
		LEFT JOIN org_quotas q ON q.org_id = o.id WHERE o.id = $1`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fault.NotFoundf("organisation %q does not exist", id)
	}
	if err != nil {
		return 0, fmt.Errorf("quota of %s: %w", id, err)
	}
	if !n.Valid {
		return def, nil
	}
	return int(n.Int64), nil
}

// MaxQuota bounds a quota override.
const MaxQuota = 1_000_000

// SetQuota sets id's override of the default quota, as act; 0 allows no
// environments.
func (r *Registry) SetQuota(ctx context.Context, act audit.Acting, id string, n int) error {
	if err := act.Check(); err != nil {
		return err
	}
	if n < 0 || n > MaxQuota {
		return fault.InvalidField("max_environments", "a quota must be from 0 to %d, not %d", MaxQuota, n)
	}
	return r.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := get(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO org_quotas (org_id, max_environments) VALUES ($1, $2)
			ON CONFLICT (org_id) DO UPDATE SET max_environments = excluded.max_environments`, id, n)
		if err != nil {
			return fmt.Errorf("set quota of %s: %w", id, err)
		}
		return r.record(ctx, tx, act, "org.quota", id, map[string]any{"max_environments": n})
	})
}

// AncestorIDs returns the ids of id's ancestors, nearest first, in one
// query; the authorization decision point asks it on every scoped request.
func (r *Registry) AncestorIDs(ctx context.Context, id string) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, `WITH RECURSIVE up (id, parent_id, depth) AS (
		SELECT id, parent_id, 0 FROM organizations WHERE id = $1
		UNION ALL
		SELECT o.id, o.parent_id, up.depth + 1 FROM organizations o JOIN up ON o.id = up.parent_id WHERE up.depth < $2
	) SELECT id FROM up ORDER BY depth`, id, maxDepth)
	if err != nil {
		return nil, fmt.Errorf("ancestors of %s: %w", id, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("ancestors of %s: %w", id, err)
		}
		ids = append(ids, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ancestors of %s: %w", id, err)
	}
	if len(ids) == 0 {
		return nil, fault.NotFoundf("no organisation %s", id)
	}
	return ids[1:], nil
}

// SubtreeIDs returns roots and every organisation below them.
func (r *Registry) SubtreeIDs(ctx context.Context, roots []string) ([]string, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	var seen = map[string]bool{}
	var out []string
	for _, root := range roots {
		rows, err := r.db.QueryContext(ctx, `WITH RECURSIVE down (id, depth) AS (
			SELECT id, 0 FROM organizations WHERE id = $1
			UNION ALL
			SELECT o.id, down.depth + 1 FROM organizations o JOIN down ON o.parent_id = down.id WHERE down.depth < $2
		) SELECT id FROM down`, root, maxDepth)
		if err != nil {
			return nil, fmt.Errorf("subtree of %s: %w", root, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("subtree of %s: %w", root, err)
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("subtree of %s: %w", root, err)
		}
	}
	return out, nil
}
