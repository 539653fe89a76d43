package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Kind names what happened to the first bad entry Verify found.
type Kind string

const (
	// KindEdited: the entry's content or hashes are not what the log
	// signed.
	KindEdited Kind = "edited"
	// KindDeleted: entries are missing from the middle of the log.
	KindDeleted Kind = "deleted"
	// KindInserted: an entry the log never signed was put into it.
	KindInserted Kind = "inserted"
	// KindReordered: two entries exchanged places.
	KindReordered Kind = "reordered"
	// KindSignature: a stored signature does not verify, though the
	// entry's content is proven by a later checkpoint.
	KindSignature Kind = "signature invalid"
	// KindTruncated: the log is shorter than a checkpoint saved earlier.
	KindTruncated Kind = "truncated"
	// KindForked: the log's signed root for a saved checkpoint's size is
	// not the saved one: the log was rolled back and rewritten, and signed
	// again by someone holding the key.
	KindForked Kind = "forked"
)

// Problem is the first bad entry.
type Problem struct {
	Seq     uint64
	Kind    Kind
	Message string
}

func (p Problem) String() string { return fmt.Sprintf("entry %d %s: %s", p.Seq, p.Kind, p.Message) }

// Report is the outcome of Verify.
type Report struct {
	// Size is the number of integrated entries Verify looked at.
	Size uint64
	// Proven is how many entries, from the first, are proven to be what
	// the log signed: Size when the log is intact, 0 when the log forked
	// (the key signed two histories).
	Proven uint64
	// Latest is the log's latest checkpoint, its signature checked; set
	// when every entry is proven.
	Latest Checkpoint
	// Pending counts entries queued but not yet integrated: they are not
	// protected until they are.
	Pending int64
	// SignatureChecks counts the Ed25519 verifications made.
	SignatureChecks int
	// Problem is the first bad entry; nil when the log is intact.
	Problem *Problem
}

// OK reports whether the log is intact.
func (r Report) OK() bool { return r.Problem == nil }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Checkpoint is a signed checkpoint note saved earlier (from `hatoba
	// audit checkpoint`, a bundle, a witness). The log must still contain
	// it: this is what reveals a truncated or rolled-back log.
	Checkpoint []byte
	// AllSignatures checks every entry's signature, not O(log n) of them.
	// It finds a signature damaged on its own, which the binary search can
	// step over, at the cost of one Ed25519 verification per entry.
	AllSignatures bool

	// scanBatch overrides how many entries the reader passes at once
	// (tests use small batches to cross batch boundaries).
	scanBatch int
}

// Verify checks the whole integrated log against v, the log's public key,
// in one streaming pass in bounded memory:
//
//  1. every entry's leaf hash is recomputed from its content and seq, the
//     seqs must run 0, 1, 2 … without gap or repeat, and the root computed
//     after each entry must equal the stored one;
//  2. the signature of the checkpoint for the last size that passed is
//     checked; if it fails, a binary search over the stored per-size
//     signatures finds the first size whose checkpoint does not verify.
//     That catches an attacker who rewrote content and recomputed every
//     hash: they cannot sign;
//  3. a checkpoint saved earlier must be a prefix of the log.
//
// The report names the first bad entry and what happened to it. An error is
// returned only when the check itself could not run.
func Verify(ctx context.Context, q store.Querier, v note.Verifier, opts VerifyOptions) (Report, error) {
	var saved *Checkpoint
	if opts.Checkpoint != nil {
		c, err := ParseCheckpoint(opts.Checkpoint, v)
		if err != nil {
			return Report{}, fmt.Errorf("audit verify: saved %w", err)
		}
		saved = &c
	}
	vr := &verifier{q: q, v: v, origin: v.Name()}
	if opts.scanBatch <= 0 {
		opts.scanBatch = scanBatch
	}
	var rep Report
	var err error
	if rep.Pending, err = Pending(ctx, q); err != nil {
		return Report{}, err
	}
	var maxSeq sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_entries`).Scan(&maxSeq); err != nil {
		return Report{}, fmt.Errorf("audit verify: %w", err)
	}
	if !maxSeq.Valid {
		return vr.finish(ctx, rep, 0, nil, saved)
	}

	var sigs *sigPool
	if opts.AllSignatures {
		sigs = newSigPool(v, vr.origin)
	}
	proven, fail, last, err := vr.scan(ctx, maxSeq.Int64, sigs, opts.scanBatch)
	if sigs != nil {
		sigs.wait()
		rep.SignatureChecks += sigs.checked
	}
	if err != nil {
		return Report{}, err
	}
	rep.Size = uint64(maxSeq.Int64) + 1

	// The scan proved the hashes of entries 0..proven-1 consistent; their
	// signatures say whether they are what the log signed.
	if proven > 0 {
		var bad *Problem
		if sigs != nil {
			bad, err = vr.judgeAll(ctx, sigs, proven)
		} else {
			bad, err = vr.searchSignatures(ctx, proven, last, &rep.SignatureChecks)
		}
		if err != nil {
			return Report{}, err
		}
		if bad != nil {
			rep.Proven = bad.Seq
			rep.Problem = bad
			return rep, nil
		}
	}
	if fail != nil {
		p, err := vr.classify(ctx, *fail)
		if err != nil {
			return Report{}, err
		}
		rep.Proven = proven
		if saved != nil && saved.Size <= proven {
			fork, err := vr.checkSaved(ctx, *saved, proven)
			if err != nil {
				return Report{}, err
			}
			if fork != nil {
				rep.Problem, rep.Proven = fork, 0
				return rep, nil
			}
		}
		rep.Problem = &p
		return rep, nil
	}
	return vr.finish(ctx, rep, proven, last, saved)
}

// finish judges a log whose every entry is proven: only a saved checkpoint
// can still show it was cut short or rewritten.
func (vr *verifier) finish(ctx context.Context, rep Report, proven uint64, last *storedEntry, saved *Checkpoint) (Report, error) {
	rep.Proven = proven
	rep.Latest = Checkpoint{Origin: vr.origin, Root: emptyRoot}
	if last != nil {
		rep.Latest = Checkpoint{Origin: vr.origin, Size: proven, Root: last.root, Note: signedNote(vr.origin, proven, last.root, last.sig)}
	}
	if saved == nil {
		return rep, nil
	}
	if saved.Size > proven {
		rep.Problem = &Problem{Seq: proven, Kind: KindTruncated, Message: fmt.Sprintf(
			"the log ends after %d entries, but the saved checkpoint is for %d: entries %d…%d were removed (the log was truncated or rolled back)",
			proven, saved.Size, proven, saved.Size-1)}
		return rep, nil
	}
	fork, err := vr.checkSaved(ctx, *saved, proven)
	if err != nil {
		return Report{}, err
	}
	if fork != nil {
		// Two histories signed by the key: where they part cannot be told
		// from one checkpoint, so no signature proves anything any more.
		rep.Problem, rep.Proven = fork, 0
	}
	return rep, nil
}

// checkSaved compares a saved checkpoint with the proven log's root at the
// same size.
func (vr *verifier) checkSaved(ctx context.Context, saved Checkpoint, proven uint64) (*Problem, error) {
	if saved.Size == 0 || saved.Size > proven {
		return nil, nil
	}
	e, ok, err := vr.entry(ctx, saved.Size-1)
	if err != nil || !ok {
		return nil, err
	}
	if bytes.Equal(e.root, saved.Root) {
		return nil, nil
	}
	return &Problem{Seq: saved.Size - 1, Kind: KindForked, Message: fmt.Sprintf(
		"the log's tree of %d entries has root %s, but the saved checkpoint for that size, validly signed, has root %s: "+
			"the log was rolled back and rewritten at or before this entry, and re-signed with the log's key",
		saved.Size, base64.StdEncoding.EncodeToString(e.root), base64.StdEncoding.EncodeToString(saved.Root))}, nil
}

type verifier struct {
	q      store.Querier
	v      note.Verifier
	origin string
}

// entry reads the entry with seq.
func (vr *verifier) entry(ctx context.Context, seq uint64) (storedEntry, bool, error) {
	e, err := scanEntry(vr.q.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE seq = $1`, int64(seq)))
	if errors.Is(err, sql.ErrNoRows) {
		return storedEntry{}, false, nil
	}
	if err != nil {
		return storedEntry{}, false, fmt.Errorf("audit verify: read entry %d: %w", seq, err)
	}
	return e, true, nil
}

// signedAt reports whether the stored signature for tree size size (on
// entry size-1) verifies over the stored root.
func (vr *verifier) signedAt(ctx context.Context, size uint64) (bool, error) {
	e, ok, err := vr.entry(ctx, size-1)
	if err != nil || !ok {
		return false, err
	}
	return checkSig(vr.v, vr.origin, size, e.root, e.sig), nil
}

// searchSignatures checks the checkpoint for size proven and, when it does
// not verify, finds the first size whose checkpoint does not, by binary
// search. Any change to an entry changes the root of every size after it,
// so the checkpoints verify up to the first changed entry and fail from it
// on: log2(n) checks find it.
func (vr *verifier) searchSignatures(ctx context.Context, proven uint64, last *storedEntry, checks *int) (*Problem, error) {
	*checks++
	if checkSig(vr.v, vr.origin, proven, last.root, last.sig) {
		return nil, nil
	}
	lo, hi := uint64(0), proven // size lo verifies (0 trivially), size hi does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		*checks++
		ok, err := vr.signedAt(ctx, mid)
		if err != nil {
			return nil, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return vr.unsigned(ctx, lo)
}

// unsigned explains why the checkpoint for size b+1 does not verify while
// the one for size b does: entry b is not what the log signed. If the entry
// after it, moved back to seq b, carries a valid signature for size b+1,
// entry b was inserted.
func (vr *verifier) unsigned(ctx context.Context, b uint64) (*Problem, error) {
	e, ok, err := vr.entry(ctx, b)
	if err != nil {
		return nil, err
	}
	if ok && (len(e.sig) != sigLen || !bytes.Equal(e.sig[:4], keyHashBytes(vr.v))) {
		return &Problem{Seq: b, Kind: KindSignature, Message: fmt.Sprintf(
			"entry %d's signature is not one by the log's key %s: it was forged or damaged", b, vr.v.Name())}, nil
	}
	if next, ok, err := vr.entry(ctx, b+1); err != nil {
		return nil, err
	} else if ok {
		rng, err := rebuildRange(ctx, vr.q, b)
		if err != nil {
			return nil, err
		}
		if err := rng.Append(next.leafHash(b), nil); err != nil {
			return nil, err
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		if checkSig(vr.v, vr.origin, b+1, root, next.sig) {
			return &Problem{Seq: b, Kind: KindInserted, Message: fmt.Sprintf(
				"entry %d was never signed by the log: the entry after it, put back at seq %d, carries the log's signature for that place; "+
					"entry %d was inserted, and the later entries renumbered and their hashes recomputed", b, b, b)}, nil
		}
	}
	msg := fmt.Sprintf("entry %d is not what the log signed: the checkpoint for tree size %d does not verify over its stored root", b, b+1)
	if b > 0 {
		msg += fmt.Sprintf(", while the one for size %d does", b)
	}
	msg += ". Its content, seq, hashes or signature were changed after signing, and the later hashes recomputed to hide it " +
		"(an entry deleted with the later ones renumbered looks the same)"
	return &Problem{Seq: b, Kind: KindEdited, Message: msg}, nil
}

func keyHashBytes(v note.Verifier) []byte {
	h := v.KeyHash()
	return []byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
}

// judgeAll reads the result of checking every signature up to size proven.
func (vr *verifier) judgeAll(ctx context.Context, p *sigPool, proven uint64) (*Problem, error) {
	if p.firstBad == 0 {
		return nil, nil
	}
	b := p.firstBad - 1
	if p.lastGood > p.firstBad {
		return &Problem{Seq: b, Kind: KindSignature, Message: fmt.Sprintf(
			"entry %d's signature (for tree size %d) does not verify, but the checkpoint for size %d does, which proves entries 0…%d: "+
				"only the stored signature was damaged", b, b+1, p.lastGood, p.lastGood-1)}, nil
	}
	return vr.unsigned(ctx, b)
}

// sigPool checks signatures on every core while the scan reads on.
type sigPool struct {
	v      note.Verifier
	origin string
	work   chan sigJob
	wg     sync.WaitGroup
	mu     sync.Mutex
	// firstBad is the smallest size whose signature fails (0: none);
	// lastGood the largest that verifies.
	firstBad, lastGood uint64
	checked            int
}

type sigJob struct {
	size      uint64
	root, sig []byte
}

func newSigPool(v note.Verifier, origin string) *sigPool {
	p := &sigPool{v: v, origin: origin, work: make(chan sigJob, 1024)}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Go(func() {
			var firstBad, lastGood uint64
			n := 0
			for j := range p.work {
				n++
				if checkSig(p.v, p.origin, j.size, j.root, j.sig) {
					lastGood = max(lastGood, j.size)
				} else if firstBad == 0 || j.size < firstBad {
					firstBad = j.size
				}
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.checked += n
			p.lastGood = max(p.lastGood, lastGood)
			if firstBad != 0 && (p.firstBad == 0 || firstBad < p.firstBad) {
				p.firstBad = firstBad
			}
		})
	}
	return p
}

func (p *sigPool) add(size uint64, root, sig []byte) { p.work <- sigJob{size, root, sig} }

func (p *sigPool) wait() {
	close(p.work)
	p.wg.Wait()
}

// window is how far from its place Verify looks for where a moved entry
// came from (each try is one hash).
const window = 1024

// originOf finds the seq e was signed at, near seq near, from its stored
// leaf hash (which covers the seq). ok is false when none matches.
func originOf(e storedEntry, near uint64) (uint64, bool) {
	lo := near - min(near, window)
	for s := lo; s <= near+window; s++ {
		if bytes.Equal(e.leafHash(s), e.leaf) {
			return s, true
		}
	}
	return 0, false
}

// classify explains a failure of the scan at seq f.at, whose earlier
// entries are proven.
func (vr *verifier) classify(ctx context.Context, f failure) (Problem, error) {
	p := f.at
	switch f.what {
	case gap:
		return Problem{Seq: p, Kind: KindDeleted, Message: fmt.Sprintf("%s deleted: the next entry is %d", span(p, uint64(f.row.seq)-1), f.row.seq)}, nil
	case repeated:
		seq := f.row.seq
		if seq < 0 {
			return Problem{Seq: p, Kind: KindInserted, Message: fmt.Sprintf("an entry with the impossible seq %d was inserted", seq)}, nil
		}
		return Problem{Seq: uint64(seq), Kind: KindInserted, Message: fmt.Sprintf(
			"there are two entries with seq %d: one was inserted", seq)}, nil
	}

	// The row at p does not hash as entry p. Where was it signed?
	if f.what == leafMismatch {
		if s, ok := originOf(*f.row, p); ok && s != p {
			if s < p {
				return Problem{Seq: p, Kind: KindInserted, Message: fmt.Sprintf(
					"entry %d is a copy of entry %d (its leaf hash is entry %d's): it was inserted", p, s, s)}, nil
			}
			other, ok, err := vr.entry(ctx, s)
			if err != nil {
				return Problem{}, err
			}
			if ok && bytes.Equal(other.leafHash(p), other.leaf) {
				return Problem{Seq: p, Kind: KindReordered, Message: fmt.Sprintf(
					"entries %d and %d were swapped: each one's leaf hash was made for the other's place", p, s)}, nil
			}
			return Problem{Seq: p, Kind: KindDeleted, Message: fmt.Sprintf(
				"%s deleted and the later entries renumbered: the entry now at %d was signed as entry %d", span(p, s-1), p, s)}, nil
		}
	}
	// Does the next row belong here? Then this one was slipped in.
	if next, ok, err := vr.entry(ctx, p+1); err != nil {
		return Problem{}, err
	} else if ok && bytes.Equal(next.leafHash(p), next.leaf) {
		return Problem{Seq: p, Kind: KindInserted, Message: fmt.Sprintf(
			"entry %d was inserted: the entry after it was signed as entry %d, and the later entries were renumbered", p, p)}, nil
	}
	if f.what == rootMismatch {
		return Problem{Seq: p, Kind: KindEdited, Message: fmt.Sprintf(
			"entry %d's stored tree root is not the root of entries 0…%d: the entry and its leaf hash, or its root, were changed", p, p)}, nil
	}
	return Problem{Seq: p, Kind: KindEdited, Message: fmt.Sprintf(
		"entry %d's content does not match its leaf hash: it was edited", p)}, nil
}

// span names entries a…b for a message: "entry 5 was" or "entries 5…7 were".
func span(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("entry %d was", a)
	}
	return fmt.Sprintf("entries %d…%d were", a, b)
}
