package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// An inclusion proof shows an entry is in the log; it cannot show that a
// bundle holds all of a tenant's entries. Coverage does: every entry (v2)
// carries its index among its organisation's entries, committed in its
// leaf hash, so the entries of one organisation in a seq range must run
// without gap or repeat, and the range is closed at both ends by a proven
// entry of the organisation just outside it — or, where the organisation
// has none, by the start of the log or a note signed with the log's key
// stating how many entries the organisation has in the checkpoint's tree.

// Coverage is the part of a bundle that proves it complete: for each listed
// organisation, it holds every entry between the one before the range (or
// the start of the log) and the one after it (or the end of the
// checkpoint's tree). The range proven is derived from these bounds, never
// stated, so nothing in a bundle can claim more than its entries prove.
type Coverage struct {
	Orgs []OrgBounds `json:"orgs"`
}

// OrgBounds closes the range for one organisation.
type OrgBounds struct {
	OrgID string `json:"org_id"`
	// Before is the organisation's last entry before FromSeq, with its
	// proof; absent when it has none (the range then starts at its index 0).
	Before *BundleEntry `json:"before,omitempty"`
	// After is its first entry at or after ToSeq in the checkpoint's tree.
	After *BundleEntry `json:"after,omitempty"`
	// Head, when the tree holds no entry of the organisation from ToSeq
	// on, is a note signed by the log's key stating how many entries it has
	// in the checkpoint's tree.
	Head string `json:"head,omitempty"`
}

// maxCoverageOrgs bounds the organisations one bundle proves complete:
// each costs up to three lookups. A wider selection (a whole prefecture's
// subtree is about 60) is a central auditor's, who reads the whole log.
const maxCoverageOrgs = 2000

// headFormat names the organisation-head note's format; it is the second
// line of the note, where a checkpoint has its size, so neither can pass
// for the other.
const headFormat = "hatoba.audit.org-head.v1"

// headText is the signed text: "<origin>\n<format>\n<org>\n<size>\n<count>\n".
func headText(origin, orgID string, size, count uint64) string {
	return origin + "\n" + headFormat + "\n" + orgID + "\n" + strconv.FormatUint(size, 10) + "\n" + strconv.FormatUint(count, 10) + "\n"
}

// orgHead is an opened organisation-head note.
type orgHead struct {
	orgID       string
	size, count uint64
}

func parseHead(msg string, v note.Verifier) (orgHead, error) {
	if len(msg) > 4<<10 {
		return orgHead{}, errors.New("the head note is too long")
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		return orgHead{}, fmt.Errorf("the head note is not signed by the log's key: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 6 || lines[5] != "" || lines[0] != v.Name() || lines[1] != headFormat {
		return orgHead{}, errors.New("the head note is not an organisation head of this log")
	}
	size, err1 := strconv.ParseUint(lines[3], 10, 64)
	count, err2 := strconv.ParseUint(lines[4], 10, 64)
	if err1 != nil || err2 != nil {
		return orgHead{}, errors.New("the head note's size or count is not a number")
	}
	return orgHead{orgID: lines[2], size: size, count: count}, nil
}

// coverage builds the Coverage of a bundle page: recs are the page's
// entries of f.OrgIDs from f.FromSeq in the tree of size entries, and full
// says whether the page stopped at its limit.
func (l *Log) coverage(ctx context.Context, f Filter, recs []Record, size uint64, full bool) (*Coverage, []*BundleEntry, error) {
	orgs := slices.Clone(f.OrgIDs)
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	if f.AllOrgs || f.ActionPrefix != "" || !f.Since.IsZero() || !f.Until.IsZero() || len(orgs) > maxCoverageOrgs {
		return nil, nil, nil // a filtered or platform-wide selection is not one organisation's whole record
	}
	c := &Coverage{Orgs: []OrgBounds{}}
	from, to := min(f.FromSeq, size), size
	if full && len(recs) > 0 {
		to = recs[len(recs)-1].Seq + 1
	}
	var witnesses []*BundleEntry
	for _, org := range orgs {
		b := OrgBounds{OrgID: org}
		before, ok, err := l.orgEntry(ctx, `org_id = $1 AND seq < $2 ORDER BY seq DESC`, org, from)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			b.Before = &BundleEntry{Record: before}
			witnesses = append(witnesses, b.Before)
		}
		after, ok, err := l.orgEntry(ctx, `org_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq`, org, to, size)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			b.After = &BundleEntry{Record: after}
			witnesses = append(witnesses, b.After)
		} else {
			count, err := orgCount(ctx, l.db, org, size)
			if err != nil {
				return nil, nil, err
			}
			signed, err := note.Sign(&note.Note{Text: headText(l.origin, org, size, count)}, l.signer)
			if err != nil {
				return nil, nil, fmt.Errorf("audit bundle: sign the head of %s: %w", org, err)
			}
			b.Head = string(signed)
		}
		c.Orgs = append(c.Orgs, b)
	}
	return c, witnesses, nil
}

// orgEntry reads the first entry the condition (over $1 org, $2, $3) orders.
func (l *Log) orgEntry(ctx context.Context, cond string, args ...any) (Record, bool, error) {
	for i, a := range args {
		if n, ok := a.(uint64); ok {
			args[i] = int64(n)
		}
	}
	row := l.db.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE `+cond+` LIMIT 1`, args...)
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("audit bundle: %w", err)
	}
	return e.record(), true, nil
}

// orgCount is how many entries org has in the tree of size entries.
func orgCount(ctx context.Context, q store.Querier, org string, size uint64) (uint64, error) {
	var index int64
	err := q.QueryRowContext(ctx, `SELECT org_index FROM audit_entries WHERE org_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1`, org, int64(size)).Scan(&index)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("audit bundle: count the entries of %s: %w", org, err)
	case index >= 0:
		return uint64(index) + 1, nil
	}
	// The newest entry is of the v1 format, which has no index: count.
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_entries WHERE org_id = $1 AND seq < $2`, org, int64(size)).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit bundle: count the entries of %s: %w", org, err)
	}
	return uint64(n), nil
}

// BundleReport is what CheckBundle proved.
type BundleReport struct {
	Checkpoint Checkpoint
	Entries    int
	// Complete says the bundle holds every entry of Orgs with seq in
	// [FromSeq, ToSeq); false when it claims no coverage.
	Complete       bool
	FromSeq, ToSeq uint64
	Orgs           []string
}

// checkCoverage checks that the bundle's entries of each covered
// organisation run without gap or repeat from the entry before the range to
// the entry (or signed count) after it, and returns the seq range over which
// every listed organisation is complete. Entries are in seq order (checked
// before).
func checkCoverage(b Bundle, cp Checkpoint, v note.Verifier) (from, to uint64, err error) {
	listed := map[string]bool{}
	for _, o := range b.Coverage.Orgs {
		if listed[o.OrgID] {
			return 0, 0, fmt.Errorf("coverage: organisation %q is listed twice", clip(o.OrgID))
		}
		listed[o.OrgID] = true
	}
	for _, e := range b.Entries {
		if !listed[e.OrgID] {
			return 0, 0, fmt.Errorf("entry %d belongs to %q, which the coverage does not list", e.Seq, clip(e.OrgID))
		}
	}
	from, to = 0, cp.Size
	for _, o := range b.Coverage.Orgs {
		lo, hi, err := checkOrgRun(b, o, cp, v)
		if err != nil {
			return 0, 0, fmt.Errorf("organisation %s: %w", clip(o.OrgID), err)
		}
		from, to = max(from, lo), min(to, hi)
	}
	return from, max(from, to), nil
}

// checkOrgRun checks one organisation's run and returns the seq range
// [lo, hi) over which the bundle holds all of its entries.
func checkOrgRun(b Bundle, o OrgBounds, cp Checkpoint, v note.Verifier) (lo, hi uint64, err error) {
	next := uint64(0) // the index the next entry of o must have
	from := "the start of the log"
	last := int64(-1) // the seq of the organisation's entry seen last
	if o.Before != nil {
		w := o.Before
		if err := checkWitness(w, o.OrgID, cp); err != nil {
			return 0, 0, fmt.Errorf("the entry before the range: %w", err)
		}
		next = *w.OrgIndex + 1
		from = fmt.Sprintf("entry %d", w.Seq)
		last, lo = int64(w.Seq), w.Seq+1
	}
	for _, e := range b.Entries {
		if e.OrgID != o.OrgID {
			continue
		}
		if int64(e.Seq) <= last {
			return 0, 0, fmt.Errorf("entry %d is not after %s", e.Seq, from)
		}
		if e.OrgIndex == nil {
			return 0, 0, fmt.Errorf("entry %d is of the v1 format, which carries no organisation index: completeness cannot be proven for a range that includes it", e.Seq)
		}
		switch idx := *e.OrgIndex; {
		case idx < next:
			return 0, 0, fmt.Errorf("entry %d repeats the organisation's entry number %d: an entry is duplicated or out of place", e.Seq, idx)
		case idx > next:
			return 0, 0, fmt.Errorf("%s missing between %s and entry %d (its entry number %d): entries were deleted from the bundle",
				missing(next, idx), from, e.Seq, idx)
		}
		next++
		from = fmt.Sprintf("entry %d", e.Seq)
		last = int64(e.Seq)
	}
	switch {
	case o.After != nil:
		w := o.After
		if err := checkWitness(w, o.OrgID, cp); err != nil {
			return 0, 0, fmt.Errorf("the entry after the range: %w", err)
		}
		if int64(w.Seq) <= last {
			return 0, 0, fmt.Errorf("the entry after the range, %d, is not after %s", w.Seq, from)
		}
		if idx := *w.OrgIndex; idx != next {
			if idx < next {
				return 0, 0, fmt.Errorf("the entry after the range, %d, has entry number %d, already seen: the bundle is inconsistent", w.Seq, idx)
			}
			return 0, 0, fmt.Errorf("%s missing between %s and the entry after the range, %d: entries were deleted from the bundle", missing(next, idx), from, w.Seq)
		}
		hi = w.Seq
	case o.Head != "":
		h, err := parseHead(o.Head, v)
		if err != nil {
			return 0, 0, err
		}
		if h.orgID != o.OrgID || h.size != cp.Size {
			return 0, 0, fmt.Errorf("the head note is for %q at %d entries, not for this organisation at the checkpoint's %d", clip(h.orgID), h.size, cp.Size)
		}
		if h.count != next {
			if h.count < next {
				return 0, 0, fmt.Errorf("the log's key states %d entries of the organisation, fewer than the bundle accounts for", h.count)
			}
			return 0, 0, fmt.Errorf("%s missing after %s: the log's key states the organisation has %d entries in the tree", missing(next, h.count), from, h.count)
		}
		hi = cp.Size
	default:
		return 0, 0, errors.New("the range is not closed: neither the entry after it nor a signed head is given")
	}
	return lo, hi, nil
}

// checkWitness checks an entry closing a range: it is the organisation's,
// of the v2 format, and in the checkpoint's tree by its proof.
func checkWitness(w *BundleEntry, org string, cp Checkpoint) error {
	if w.OrgID != org {
		return fmt.Errorf("entry %d belongs to %q", w.Seq, clip(w.OrgID))
	}
	if w.OrgIndex == nil {
		return fmt.Errorf("entry %d is of the v1 format, which carries no organisation index", w.Seq)
	}
	if err := verifyBundleEntry(*w, cp); err != nil {
		return fmt.Errorf("entry %d: %w", w.Seq, err)
	}
	return nil
}

// missing names the organisation's entry numbers a…b-1.
func missing(a, b uint64) string {
	if b-a == 1 {
		return fmt.Sprintf("its entry number %d is", a)
	}
	return fmt.Sprintf("its entry numbers %d…%d are", a, b-1)
}

// requireOrdered refuses a bundle whose entries are not in strictly
// increasing seq order: a repeated or reordered entry.
func requireOrdered(entries []BundleEntry) error {
	for i := 1; i < len(entries); i++ {
		prev, e := entries[i-1].Seq, entries[i].Seq
		switch {
		case e == prev:
			return fault.Invalidf("bundle entry %d appears twice", e)
		case e < prev:
			return fault.Invalidf("bundle entry %d comes after entry %d: the entries were reordered", e, prev)
		}
	}
	return nil
}
