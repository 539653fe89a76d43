package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Record is an integrated entry, as tenants, auditors and exports see it.
// Its JSON form is a line of an export and an entry of a bundle.
type Record struct {
	Seq      uint64    `json:"seq"`
	LeafHash Hash      `json:"leaf_hash"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	OrgID    string    `json:"org_id"`
	Target   string    `json:"target"`
	GrantID  string    `json:"grant_id"`
	// Details is the details object as canonical JSON text: exactly the
	// bytes the leaf hash covers. In JSON it is a string, not an object, so
	// that no tool re-encoding the JSON (escaping, reordering keys) can
	// change the bytes a verifier hashes.
	Details string `json:"details"`
	// OrgIndex is the entry's place among its organisation's entries (0, 1,
	// 2 …), covered by the leaf hash (format v2); absent for entries of the
	// v1 format, written before the index existed.
	OrgIndex *uint64 `json:"org_index,omitempty"`
}

func (e storedEntry) record() Record {
	r := Record{Seq: uint64(e.seq), LeafHash: e.leaf, At: time.UnixMicro(e.atMicros).UTC(), Actor: e.actor, Action: e.action,
		OrgID: e.orgID, Target: e.target, GrantID: e.grantID, Details: string(e.details)}
	if e.orgIndex >= 0 {
		i := uint64(e.orgIndex)
		r.OrgIndex = &i
	}
	return r
}

// Hash is a SHA-256 hash, written in JSON as lower-case hex.
type Hash []byte

func (h Hash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

func (h *Hash) UnmarshalText(text []byte) error {
	b, err := hex.DecodeString(string(text))
	if err != nil || len(b) != rfc6962.DefaultHasher.Size() {
		return fmt.Errorf("%q is not a hex SHA-256 hash", clip(string(text)))
	}
	*h = b
	return nil
}

// Filter selects entries. A tenant's view passes the ids of its
// organisation's subtree in OrgIDs; deciding which those are is the
// caller's authorisation, not this package's.
type Filter struct {
	// OrgIDs are the organisations whose entries to select.
	OrgIDs []string
	// AllOrgs selects every entry, platform-wide ones included (central
	// auditors). Without it, an empty OrgIDs is refused rather than read
	// as "everything".
	AllOrgs bool
	// Since and Until bound the entries' times: Since <= At < Until.
	// Zero values do not bound.
	Since, Until time.Time
	// FromSeq is the first seq to return: pass the last seq seen plus one
	// for the next page.
	FromSeq uint64
	// Limit is the page size of Entries and Bundle (default 100, at most
	// 1000); for Export, 0 means no limit.
	Limit int
	// ActionPrefix selects entries whose action starts with it ("key."
	// is the key service's record).
	ActionPrefix string
	// Newest makes Entries return the newest page first, in descending
	// seq (a console's "latest" view); Bundle and Export ignore it.
	Newest bool
}

// maxOrgIDs bounds OrgIDs: each is a query parameter, and SQLite allows
// 32,766.
const maxOrgIDs = 20000

// where returns the WHERE clause and its arguments; below (when non-zero)
// bounds seq, so every entry read belongs to one tree size.
func (f Filter) where(below uint64) (string, []any, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.FromSeq > math.MaxInt64 {
		return "", nil, fault.InvalidField("from_seq", "from_seq %d is beyond any log", f.FromSeq)
	}
	conds = append(conds, "seq >= "+arg(int64(f.FromSeq)))
	if below > 0 {
		conds = append(conds, "seq < "+arg(int64(below)))
	}
	switch {
	case f.AllOrgs:
	case len(f.OrgIDs) == 0:
		return "", nil, fault.InvalidField("org", "audit entries are selected by organisation: name at least one")
	case len(f.OrgIDs) > maxOrgIDs:
		return "", nil, fault.InvalidField("org", "%d organisations are more than %d; select all instead", len(f.OrgIDs), maxOrgIDs)
	default:
		conds = append(conds, "org_id IN ("+store.In(&args, f.OrgIDs)+")")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "at_us >= "+arg(f.Since.UnixMicro()))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "at_us < "+arg(f.Until.UnixMicro()))
	}
	if f.ActionPrefix != "" {
		// substr rather than LIKE: no wildcard in a prefix to escape.
		conds = append(conds, fmt.Sprintf("substr(action, 1, %d) = %s", len(f.ActionPrefix), arg(f.ActionPrefix)))
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func (f Filter) pageSize() (int, error) {
	switch {
	case f.Limit == 0:
		return 100, nil
	case f.Limit < 0 || f.Limit > 1000:
		return 0, fault.InvalidField("limit", "limit %d is outside 1…1000", f.Limit)
	}
	return f.Limit, nil
}

// Entries returns one page of integrated entries, in seq order. Entries
// still queued are not shown: they have no place in the tree yet.
func Entries(ctx context.Context, q store.Querier, f Filter) ([]Record, error) {
	limit, err := f.pageSize()
	if err != nil {
		return nil, err
	}
	out := []Record{}
	err = eachEntry(ctx, q, f, 0, limit, f.Newest, func(e storedEntry) error {
		out = append(out, e.record())
		return nil
	})
	return out, err
}

func entries(ctx context.Context, q store.Querier, f Filter, below uint64, limit int) ([]Record, error) {
	out := []Record{}
	err := eachEntry(ctx, q, f, below, limit, false, func(e storedEntry) error {
		out = append(out, e.record())
		return nil
	})
	return out, err
}

func eachEntry(ctx context.Context, q store.Querier, f Filter, below uint64, limit int, newest bool, fn func(storedEntry) error) error {
	where, args, err := f.where(below)
	if err != nil {
		return err
	}
	query := `SELECT ` + entryColumns + ` FROM audit_entries` + where + ` ORDER BY seq`
	if newest {
		query += " DESC"
	}
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("audit entries: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit entries: %w", err)
	}
	return nil
}

// Export writes the selected entries to w as JSON Lines, one Record per
// line, streaming, and returns how many it wrote. A line is enough to
// recompute its leaf hash (docs/audit.md).
func Export(ctx context.Context, q store.Querier, w io.Writer, f Filter) (int, error) {
	if f.Limit < 0 {
		return 0, fault.InvalidField("limit", "limit %d is negative", f.Limit)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	err := eachEntry(ctx, q, f, 0, f.Limit, false, func(e storedEntry) error {
		if err := enc.Encode(e.record()); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		n++
		return nil
	})
	return n, err
}
