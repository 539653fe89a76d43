// Package audit is hatoba's tamper-evident audit log.
//
// Every state change appends an Entry in the same database transaction as the
// change (Append): if the change commits, so does its entry; if the entry
// cannot be written, the change does not happen. An integrator (Log.Integrate,
// run periodically by Log.Run) later gives queued entries consecutive sequence
// numbers, adds them to an RFC 6962 Merkle tree and signs a checkpoint (a
// C2SP tlog-checkpoint in the signed-note format) for every tree size. Verify
// re-checks the whole log and names the first entry that was edited, deleted,
// inserted or reordered; a Bundle lets a tenant check its own entries offline
// with nothing but the log's public key. docs/audit.md specifies the formats.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Entry is one state change, as a capability records it.
type Entry struct {
	// At is when the change happened; the zero time means now. It is kept to
	// the microsecond, in UTC.
	At time.Time
	// Actor is who made the change (see Acting): a person id, "system", or
	// "local:<user>@<host>"; never empty.
	Actor string
	// Action is a dotted verb: "session.login", "env.request",
	// "access.approve".
	Action string
	// OrgID is the organisation (tenant) the change is about; "" for
	// platform-wide changes, which no tenant sees.
	OrgID string
	// Target is what was changed, e.g. an environment id.
	Target string
	// GrantID is the break-glass grant the action was done under, if any.
	GrantID string
	// Details is a small JSON object: a map[string]any, a json.RawMessage or
	// any value that encodes as a JSON object; nil for none. Secrets never
	// belong here: the log is kept forever and shown to auditors.
	Details any
}

// Limits on an entry's fields: the log is for facts, not payloads.
const (
	maxIDLen      = 256
	maxActionLen  = 64
	maxDetailsLen = 16 << 10
)

var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$`)

// Append queues e in the caller's transaction q. It is one insert with no
// lock and no signature, so it adds little to the caller's transaction; the
// entry enters the tree at the next integration. Invalid entries are refused
// with a fault.Invalid error, an entry without an actor with ErrNoActor
// (fault.Internal: a defect, not bad input); either should abort the
// caller's change.
func Append(ctx context.Context, q store.Querier, e Entry) error {
	return AppendAll(ctx, q, []Entry{e})
}

// AppendAll queues entries in the caller's transaction q as Append does,
// in multi-row INSERTs: a caller that records many entries at once (the key
// service's usage records, thousands a second) pays one statement per
// batch, not one per entry — on PostgreSQL, one round trip. All or none:
// an invalid entry refuses the whole batch before anything is written.
func AppendAll(ctx context.Context, q store.Querier, entries []Entry) error {
	rows := make([]content, 0, len(entries))
	for _, e := range entries {
		var err error
		if e.Details, err = withCardConfirmation(ctx, e.Details); err != nil {
			return err
		}
		c, err := newContent(e)
		if err != nil {
			return err
		}
		rows = append(rows, c)
	}
	const per = 64 // 7 parameters a row: 448 per statement, small enough for SQLite's binding
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		var b strings.Builder
		b.WriteString(`INSERT INTO audit_queue (at_us, actor, action, org_id, target, grant_id, details) VALUES `)
		args := make([]any, 0, 7*(end-start))
		for i, c := range rows[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			writePlaceholders(&b, len(args), 7)
			args = append(args, c.atMicros, c.actor, c.action, c.orgID, c.target, c.grantID, string(c.details))
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			if end-start == 1 {
				return fmt.Errorf("audit append %s: %w", rows[start].action, err)
			}
			return fmt.Errorf("audit append %d entries (%s …): %w", end-start, rows[start].action, err)
		}
	}
	return nil
}

// content is an entry as it is stored and hashed: time in microseconds and
// details as canonical JSON bytes.
type content struct {
	atMicros                              int64
	actor, action, orgID, target, grantID string
	details                               []byte
	// orgIndex is the entry's place among its organisation's entries
	// (0, 1, 2 …), given by the integrator; -1 for entries of the v1
	// format, written before the index existed. It is what lets a bundle
	// prove that it holds all of an organisation's entries.
	orgIndex int64
}

func newContent(e Entry) (content, error) {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	c := content{atMicros: at.UnixMicro(), actor: e.Actor, action: e.Action, orgID: e.OrgID, target: e.Target, grantID: e.GrantID, orgIndex: -1}
	if err := c.validate(); err != nil {
		return content{}, err
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return content{}, err
	}
	c.details = details
	return c, nil
}

// validate checks the text fields; details are checked where they are made
// canonical (Append) or read back (a bundle).
func (c content) validate() error {
	if c.action == "" {
		return fault.InvalidField("action", "an audit entry needs an action")
	}
	if len(c.action) > maxActionLen || !actionPattern.MatchString(c.action) {
		return fault.InvalidField("action", "audit action %q must be dotted lower-case words such as env.request", clip(c.action))
	}
	if c.actor == "" {
		return fmt.Errorf("audit entry %s: %w", c.action, ErrNoActor)
	}
	for _, f := range []struct{ name, value string }{
		{"actor", c.actor}, {"org_id", c.orgID}, {"target", c.target}, {"grant_id", c.grantID},
	} {
		if err := checkText(f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}

func checkText(field, s string) error {
	if len(s) > maxIDLen {
		return fault.InvalidField(field, "audit %s is %d bytes; at most %d", field, len(s), maxIDLen)
	}
	if !utf8.ValidString(s) {
		return fault.InvalidField(field, "audit %s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fault.InvalidField(field, "audit %s %q contains a control character", field, clip(s))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// canonicalDetails turns details into the bytes that are stored and hashed:
// a compact JSON object with keys sorted, numbers as written, and no HTML
// escaping. Whatever form the caller used, equal objects give equal bytes.
func canonicalDetails(details any) ([]byte, error) {
	var raw []byte
	switch d := details.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fault.InvalidField("details", "audit details do not encode as JSON: %v", err)
		}
		raw = b
	}
	// Decoding into any and encoding again sorts the keys of every object;
	// UseNumber keeps numbers exactly as written.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fault.InvalidField("details", "audit details are not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fault.InvalidField("details", "audit details hold more than one JSON value")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fault.InvalidField("details", "audit details must be a JSON object")
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fault.InvalidField("details", "audit details: %v", err)
	}
	b := bytes.TrimSuffix(out.Bytes(), []byte("\n"))
	if len(b) > maxDetailsLen {
		return nil, fault.InvalidField("details", "audit details are %d bytes; at most %d", len(b), maxDetailsLen)
	}
	return b, nil
}

// The prefixes start every entry's canonical encoding: they name the
// format, so a leaf of another log or of another version cannot be mistaken
// for one. v2 adds the entry's index among its organisation's entries.
const (
	leafPrefixV1 = "hatoba.audit.v1\n"
	leafPrefixV2 = "hatoba.audit.v2\n"
)

// encode appends the canonical encoding of the entry at seq to dst — the
// bytes the leaf hash covers.
func (c content) encode(dst []byte, seq uint64) []byte {
	return appendLeaf(dst, seq, c.atMicros, c.actor, c.action, c.orgID, c.target, c.grantID, c.details, c.orgIndex)
}

// leafHash is the RFC 6962 leaf hash of the entry at seq:
// SHA-256(0x00 || encoding).
func (c content) leafHash(seq uint64) []byte {
	var buf [1024]byte
	h := sha256.Sum256(c.encode(append(buf[:0], rfc6962.RFC6962LeafHashPrefix), seq))
	return h[:]
}

// appendLeaf appends the canonical encoding of an entry (docs/audit.md,
// "Leaf hash"): the prefix, seq and the time as 8-byte big-endian integers,
// then actor, action, org_id, target, grant_id and details, each as a
// 4-byte big-endian length and the bytes, and — in v2, when orgIndex is not
// negative — the organisation index as an 8-byte big-endian integer.
// Including seq makes a moved entry hash differently; including the
// organisation index makes a bundle's gaps and repeats visible. The text
// fields may be strings or, for Verify's rows, reused byte buffers.
func appendLeaf[T ~string | ~[]byte](dst []byte, seq uint64, atMicros int64, actor, action, orgID, target, grantID T, details []byte, orgIndex int64) []byte {
	if orgIndex < 0 {
		dst = append(dst, leafPrefixV1...)
	} else {
		dst = append(dst, leafPrefixV2...)
	}
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(atMicros))
	for _, s := range [...]T{actor, action, orgID, target, grantID} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(details)))
	dst = append(dst, details...)
	if orgIndex >= 0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(orgIndex))
	}
	return dst
}

// hashChildren is RFC 6962's interior node hash, SHA-256(0x01 || l || r),
// for the 32-byte hashes of this log, without the hasher's allocations.
func hashChildren(l, r []byte) []byte {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	copy(buf[1:], l)
	copy(buf[1+sha256.Size:], r)
	h := sha256.Sum256(buf[:])
	return h[:]
}

// rootOf is the root of a tree from its compact range (the hashes of the
// perfect subtrees covering it, left to right), as compact.Range's
// GetRootHash computes it, without allocating: Verify computes one per
// entry.
func rootOf(hashes [][]byte) [sha256.Size]byte {
	var acc [sha256.Size]byte
	if len(hashes) == 0 {
		return sha256.Sum256(nil)
	}
	copy(acc[:], hashes[len(hashes)-1])
	var buf [1 + 2*sha256.Size]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	for i := len(hashes) - 2; i >= 0; i-- {
		copy(buf[1:], hashes[i])
		copy(buf[1+sha256.Size:], acc[:])
		acc = sha256.Sum256(buf[:])
	}
	return acc
}
