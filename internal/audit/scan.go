package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
)

// storedEntry is a row of audit_entries.
type storedEntry struct {
	seq int64
	content
	leaf, root, sig []byte
}

const entryColumns = `seq, at_us, actor, action, org_id, target, grant_id, details, leaf_hash, root, signature, org_index`

func scanEntry(rows interface{ Scan(...any) error }) (storedEntry, error) {
	var e storedEntry
	var details string
	err := rows.Scan(&e.seq, &e.atMicros, &e.actor, &e.action, &e.orgID, &e.target, &e.grantID, &details, &e.leaf, &e.root, &e.sig, &e.orgIndex)
	e.details = []byte(details)
	return e, err
}

// failure is the first entry the scan could not accept.
type failure struct {
	at   uint64       // the seq expected next
	row  *storedEntry // the row found there; nil if it could not be read back
	what failureKind
}

type failureKind int

const (
	gap          failureKind = iota // row.seq > at
	repeated                        // row.seq < at
	leafMismatch                    // content does not hash to the stored leaf hash
	rootMismatch                    // the stored root is not the computed one
)

// scanBatch is how many entries the reader hands the tree builder at once.
const scanBatch = 512

// scan streams the entries with seq <= maxSeq in order and returns how many
// passed (entries 0..proven-1), the first failure, and the root and
// signature of the last entry that passed.
//
// Two goroutines share the work, so reading and hashing overlap: a reader
// scans rows into reused buffers, checks each seq and leaf hash, and passes
// fixed-size (leaf, root, signature) items in batches; the tree builder
// appends each leaf to the compact range and checks the stored root. Memory
// stays bounded: a few batches in flight and the O(log n) compact range.
func (vr *verifier) scan(ctx context.Context, maxSeq int64, sigs *sigPool, batch int) (proven uint64, fail *failure, last *storedEntry, err error) {
	rows, err := vr.q.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE seq <= $1 ORDER BY seq`, maxSeq) //nolint:rowserrcheck // readEntries checks rows.Err()
	if err != nil {
		return 0, nil, nil, fmt.Errorf("audit verify: read entries: %w", err)
	}
	defer rows.Close()

	const inFlight = 4
	full := make(chan *scanned, inFlight)
	free := make(chan *scanned, inFlight)
	for range inFlight {
		free <- &scanned{items: make([]scanItem, 0, batch)}
	}
	stop := make(chan struct{})
	go readEntries(rows, batch, full, free, stop)
	// However this returns, the reader must be done with rows before the
	// deferred Close.
	defer func() {
		close(stop)
		for range full {
		}
	}()

	rng := rangeFactory.NewEmptyRange(0)
	var lastItem scanItem
	for b := range full {
		for i := range b.items {
			it := &b.items[i]
			if err := rng.Append(bytes.Clone(it.leaf[:]), nil); err != nil {
				return 0, nil, nil, err
			}
			if root := rootOf(rng.Hashes()); !it.rootOK || root != it.root {
				fail = &failure{at: proven, what: rootMismatch}
				if e, ok, err := vr.entry(ctx, proven); err != nil {
					return 0, nil, nil, err
				} else if ok {
					fail.row = &e
				}
				return proven, fail, lastItem.stored(proven), nil
			}
			if sigs != nil {
				sigs.add(proven+1, bytes.Clone(it.root[:]), bytes.Clone(it.sig[:it.sigLen]))
			}
			lastItem = *it
			proven++
		}
		if b.fail != nil || b.err != nil {
			return proven, b.fail, lastItem.stored(proven), b.err
		}
		b.items = b.items[:0]
		free <- b
	}
	return proven, nil, lastItem.stored(proven), nil
}

// scanned is a batch of entries the reader checked.
type scanned struct {
	items []scanItem
	// fail is what the reader found after the items, if anything; err a
	// failure to read.
	fail *failure
	err  error
}

// scanItem is what the tree builder needs of an entry whose seq and leaf
// hash the reader checked.
type scanItem struct {
	leaf, root [sha256.Size]byte
	rootOK     bool // the stored root had the right length
	sig        [sigLen]byte
	sigLen     int
}

// stored returns the last entry that passed (of size entries), nil for none.
func (it scanItem) stored(size uint64) *storedEntry {
	if size == 0 {
		return nil
	}
	return &storedEntry{seq: int64(size) - 1, root: bytes.Clone(it.root[:]), sig: bytes.Clone(it.sig[:it.sigLen])}
}

// readEntries is scan's reader: it checks that seqs run 0, 1, 2 … and that
// each entry hashes to its stored leaf hash, and stops at the first entry
// that does not, or when stop closes.
func readEntries(rows *sql.Rows, batch int, full, free chan *scanned, stop <-chan struct{}) {
	defer close(full)
	var (
		r    rawEntry
		buf  []byte
		next uint64
		b    = <-free
	)
	send := func() bool {
		select {
		case full <- b:
		case <-stop:
			return false
		}
		select {
		case b = <-free:
			return true
		case <-stop:
			return false
		}
	}
	failAt := func(what failureKind) {
		e := r.stored()
		b.fail = &failure{at: next, row: &e, what: what}
		send()
	}
	for rows.Next() {
		if err := rows.Scan(&r.seq, &r.atMicros, &r.actor, &r.action, &r.orgID, &r.target, &r.grantID, &r.details, &r.leaf, &r.root, &r.sig, &r.orgIndex); err != nil {
			b.err = fmt.Errorf("audit verify: read entry after %d: %w", next, err)
			send()
			return
		}
		switch {
		case r.seq > int64(next):
			failAt(gap)
			return
		case r.seq < int64(next):
			failAt(repeated)
			return
		}
		buf = appendLeaf(append(buf[:0], rfc6962.RFC6962LeafHashPrefix), next, r.atMicros, r.actor, r.action, r.orgID, r.target, r.grantID, r.details, r.orgIndex)
		leaf := sha256.Sum256(buf)
		if !bytes.Equal(leaf[:], r.leaf) {
			failAt(leafMismatch)
			return
		}
		it := scanItem{leaf: leaf, rootOK: len(r.root) == sha256.Size, sigLen: min(len(r.sig), sigLen)}
		copy(it.root[:], r.root)
		copy(it.sig[:], r.sig)
		if len(r.sig) > sigLen {
			it.sigLen = 0 // too long to be a signature: it will not verify
		}
		b.items = append(b.items, it)
		next++
		if len(b.items) == batch && !send() {
			return
		}
	}
	if err := rows.Err(); err != nil {
		b.err = fmt.Errorf("audit verify: read entries: %w", err)
	}
	if len(b.items) > 0 || b.err != nil {
		send()
	}
}

// rawEntry is a row of audit_entries in buffers the driver reuses.
type rawEntry struct {
	seq, atMicros, orgIndex                                         int64
	actor, action, orgID, target, grantID, details, leaf, root, sig sql.RawBytes
}

func (r rawEntry) stored() storedEntry {
	return storedEntry{seq: r.seq, content: content{atMicros: r.atMicros, actor: string(r.actor), action: string(r.action),
		orgID: string(r.orgID), target: string(r.target), grantID: string(r.grantID), details: bytes.Clone(r.details), orgIndex: r.orgIndex},
		leaf: bytes.Clone(r.leaf), root: bytes.Clone(r.root), sig: bytes.Clone(r.sig)}
}
