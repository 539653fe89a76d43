package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Proofs returns the inclusion proof of each entry in seqs in the tree of
// the first size entries: the hashes RFC 6962 (section 2.1.1) and RFC 9162
// (2.1.3.1) call the audit path, lowest first.
//
// A proof needs the hashes of up to log2(size) subtrees. Those of 256 leaves
// and more are stored by the integrator (audit_nodes, about size/128 rows);
// smaller ones are computed from the 256-leaf block around the entry. So a
// proof reads at most 256 leaf hashes and one row per level above, and
// proofs of nearby entries share both. Each proof is checked against the
// stored root before it is returned: damaged subtree rows give an error,
// never a wrong proof.
func Proofs(ctx context.Context, q store.Querier, seqs []uint64, size uint64) ([][][]byte, error) {
	if len(seqs) == 0 {
		return [][][]byte{}, nil
	}
	if size == 0 {
		return nil, fault.NotFoundf("the empty audit log has no proofs")
	}
	var root []byte
	err := q.QueryRowContext(ctx, `SELECT root FROM audit_entries WHERE seq = $1`, int64(size)-1).Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("the audit log has no tree of size %d", size)
	}
	if err != nil {
		return nil, fmt.Errorf("audit proofs: %w", err)
	}
	nf := &nodeFetcher{q: q, size: size, blocks: map[uint64][][]byte{}, nodes: map[compact.NodeID][]byte{}}
	out := make([][][]byte, len(seqs))
	for i, seq := range seqs {
		if seq >= size {
			return nil, fault.InvalidField("seq", "entry %d is not in the tree of size %d", seq, size)
		}
		nodes, err := proof.Inclusion(seq, size)
		if err != nil {
			return nil, fmt.Errorf("audit proofs: %w", err)
		}
		hashes := make([][]byte, len(nodes.IDs))
		for j, id := range nodes.IDs {
			if hashes[j], err = nf.node(ctx, id); err != nil {
				return nil, err
			}
		}
		if out[i], err = nodes.Rehash(hashes, hashChildren); err != nil {
			return nil, fmt.Errorf("audit proofs: %w", err)
		}
		leaf, err := nf.node(ctx, compact.NewNodeID(0, seq))
		if err != nil {
			return nil, err
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, size, leaf, out[i], root); err != nil {
			return nil, fmt.Errorf("audit proofs: the stored hashes give a wrong proof for entry %d (run `hatoba audit verify`): %w", seq, err)
		}
	}
	return out, nil
}

// nodeFetcher reads subtree hashes for proofs, caching what it read.
type nodeFetcher struct {
	q      store.Querier
	size   uint64
	blocks map[uint64][][]byte // leaf hashes by 256-leaf block
	nodes  map[compact.NodeID][]byte
}

func (nf *nodeFetcher) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	if h, ok := nf.nodes[id]; ok {
		return h, nil
	}
	var h []byte
	if id.Level >= nodeLevel {
		err := nf.q.QueryRowContext(ctx, `SELECT hash FROM audit_nodes WHERE level = $1 AND idx = $2`, int(id.Level), int64(id.Index)).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("audit proofs: subtree hash %d/%d is missing (run `hatoba audit verify`)", id.Level, id.Index)
		}
		if err != nil {
			return nil, fmt.Errorf("audit proofs: %w", err)
		}
	} else {
		begin, end := id.Coverage()
		block := begin >> nodeLevel
		leaves, err := nf.block(ctx, block)
		if err != nil {
			return nil, err
		}
		off := block << nodeLevel
		if end-off > uint64(len(leaves)) {
			return nil, fmt.Errorf("audit proofs: leaf hashes %d…%d are missing (run `hatoba audit verify`)", begin, end-1)
		}
		rng := rangeFactory.NewEmptyRange(0)
		for _, leaf := range leaves[begin-off : end-off] {
			if err := rng.Append(leaf, nil); err != nil {
				return nil, err
			}
		}
		if h, err = rng.GetRootHash(nil); err != nil {
			return nil, err
		}
	}
	nf.nodes[id] = h
	return h, nil
}

// block reads the leaf hashes of one 256-leaf block (or the part of it in
// the tree).
func (nf *nodeFetcher) block(ctx context.Context, block uint64) ([][]byte, error) {
	if leaves, ok := nf.blocks[block]; ok {
		return leaves, nil
	}
	first := block << nodeLevel
	rows, err := nf.q.QueryContext(ctx, `SELECT seq, leaf_hash FROM audit_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq`,
		int64(first), int64(min(first+1<<nodeLevel, nf.size)))
	if err != nil {
		return nil, fmt.Errorf("audit proofs: %w", err)
	}
	defer rows.Close()
	var leaves [][]byte
	for rows.Next() {
		var seq int64
		var leaf []byte
		if err := rows.Scan(&seq, &leaf); err != nil {
			return nil, fmt.Errorf("audit proofs: %w", err)
		}
		if uint64(seq) != first+uint64(len(leaves)) {
			return nil, fmt.Errorf("audit proofs: entry %d is missing (run `hatoba audit verify`)", first+uint64(len(leaves)))
		}
		leaves = append(leaves, leaf)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit proofs: %w", err)
	}
	nf.blocks[block] = leaves
	return leaves, nil
}

// Bundle is what a tenant takes away: the log's signed checkpoint, entries,
// and each entry's inclusion proof in the checkpoint's tree. VerifyBundle
// checks it with nothing but the log's public key.
type Bundle struct {
	// Checkpoint is the signed checkpoint note.
	Checkpoint string        `json:"checkpoint"`
	Entries    []BundleEntry `json:"entries"`
	// Coverage proves the bundle holds every entry of its organisations in
	// its seq range (coverage.go); absent for a selection filtered by time
	// or action, or platform-wide.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// BundleEntry is an entry and its inclusion proof.
type BundleEntry struct {
	Record
	Proof []Hash `json:"proof"`
}

// Bundle returns the entries f selects (one page: Limit, FromSeq) with
// their proofs in the tree of the latest checkpoint.
func (l *Log) Bundle(ctx context.Context, f Filter) (Bundle, error) {
	limit, err := f.pageSize()
	if err != nil {
		return Bundle{}, err
	}
	cp, err := LatestCheckpoint(ctx, l.db, l.origin)
	if err != nil {
		return Bundle{}, err
	}
	if cp.Size == 0 {
		// Nothing signs the empty tree as it grows; sign it now, so the
		// bundle has a checkpoint to verify.
		text := checkpointText(l.origin, 0, emptyRoot)
		if cp.Note, err = note.Sign(&note.Note{Text: string(text)}, l.signer); err != nil {
			return Bundle{}, fmt.Errorf("audit bundle: %w", err)
		}
		if _, _, err := f.where(0); err != nil {
			return Bundle{}, err
		}
		b := Bundle{Checkpoint: string(cp.Note), Entries: []BundleEntry{}}
		if b.Coverage, _, err = l.coverage(ctx, f, nil, 0, false); err != nil {
			return Bundle{}, err
		}
		return b, nil
	}
	recs, err := entries(ctx, l.db, f, cp.Size, limit)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Checkpoint: string(cp.Note), Entries: make([]BundleEntry, len(recs))}
	for i, r := range recs {
		b.Entries[i] = BundleEntry{Record: r}
	}
	var witnesses []*BundleEntry
	if b.Coverage, witnesses, err = l.coverage(ctx, f, recs, cp.Size, len(recs) == limit); err != nil {
		return Bundle{}, err
	}
	proven := make([]*BundleEntry, 0, len(recs)+len(witnesses))
	for i := range b.Entries {
		proven = append(proven, &b.Entries[i])
	}
	proven = append(proven, witnesses...)
	seqs := make([]uint64, len(proven))
	for i, e := range proven {
		seqs[i] = e.Seq
	}
	proofs, err := Proofs(ctx, l.db, seqs, cp.Size)
	if err != nil {
		return Bundle{}, err
	}
	for i, e := range proven {
		e.Proof = make([]Hash, len(proofs[i]))
		for j, h := range proofs[i] {
			e.Proof[j] = h
		}
	}
	return b, nil
}

// maxBundle bounds a bundle read from outside.
const maxBundle = 64 << 20

// ParseBundle reads a bundle's JSON (outside input). Unknown fields are
// refused: a verifier must not pass over data it does not check.
func ParseBundle(data []byte) (Bundle, error) {
	if len(data) > maxBundle {
		return Bundle{}, fault.Invalidf("bundle: %d bytes is more than %d", len(data), maxBundle)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return Bundle{}, fault.Invalidf("bundle: %v", err)
	}
	if dec.More() {
		return Bundle{}, fault.Invalidf("bundle: data after the bundle's JSON object")
	}
	return b, nil
}

// VerifyBundle checks a bundle offline with the log's public key, as
// CheckBundle does, and returns the first failure.
func VerifyBundle(b Bundle, verifierKey string) error {
	_, err := CheckBundle(b, verifierKey)
	return err
}

// CheckBundle checks a bundle offline with the log's public key
// ("<name>+<hash>+<key>"): the checkpoint must be signed by that key; the
// entries must be in increasing seq order, and every one, hashed from the
// fields as given, must be in the checkpoint's tree by its proof. With
// coverage, the entries of each listed organisation must also run without
// gap or repeat across the range, closed at both ends (coverage.go). It
// returns what was proven, or the first failure, naming the entry.
func CheckBundle(b Bundle, verifierKey string) (BundleReport, error) {
	v, err := ParseVerifierKey(verifierKey)
	if err != nil {
		return BundleReport{}, fault.Invalidf("%v", err)
	}
	return CheckBundleWith(b, v)
}

// CheckBundleWith is CheckBundle with the log's verifier.
func CheckBundleWith(b Bundle, v note.Verifier) (BundleReport, error) {
	cp, err := ParseCheckpoint([]byte(b.Checkpoint), v)
	if err != nil {
		return BundleReport{}, err
	}
	for _, e := range b.Entries {
		if err := verifyBundleEntry(e, cp); err != nil {
			return BundleReport{}, fault.Invalidf("bundle entry %d: %v", e.Seq, err)
		}
	}
	if err := requireOrdered(b.Entries); err != nil {
		return BundleReport{}, err
	}
	rep := BundleReport{Checkpoint: cp, Entries: len(b.Entries)}
	if b.Coverage == nil {
		return rep, nil
	}
	from, to, err := checkCoverage(b, cp, v)
	if err != nil {
		return BundleReport{}, fault.Invalidf("bundle is incomplete: %v", err)
	}
	rep.Complete, rep.FromSeq, rep.ToSeq = true, from, to
	for _, o := range b.Coverage.Orgs {
		rep.Orgs = append(rep.Orgs, o.OrgID)
	}
	return rep, nil
}

func verifyBundleEntry(e BundleEntry, cp Checkpoint) error {
	if e.Seq >= cp.Size {
		return fmt.Errorf("seq %d is outside the checkpoint's tree of %d entries", e.Seq, cp.Size)
	}
	if e.At.Nanosecond()%1000 != 0 {
		return errors.New("its time is finer than the log's microseconds")
	}
	c := content{atMicros: e.At.UnixMicro(), actor: e.Actor, action: e.Action, orgID: e.OrgID, target: e.Target, grantID: e.GrantID, details: []byte(e.Details), orgIndex: -1}
	if e.OrgIndex != nil {
		if *e.OrgIndex > math.MaxInt64 {
			return fmt.Errorf("org_index %d is beyond any log", *e.OrgIndex)
		}
		c.orgIndex = int64(*e.OrgIndex)
	}
	leaf := c.leafHash(e.Seq)
	if e.LeafHash != nil && !bytes.Equal(leaf, e.LeafHash) {
		return errors.New("its fields do not hash to its leaf_hash: the entry was altered")
	}
	proofHashes := make([][]byte, len(e.Proof))
	for i, h := range e.Proof {
		proofHashes[i] = h
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Seq, cp.Size, leaf, proofHashes, cp.Root); err != nil {
		return fmt.Errorf("not in the checkpoint's tree (the entry or its proof was altered): %w", err)
	}
	return nil
}

// ConsistencyProof returns the RFC 6962 (section 2.1.2) consistency proof
// between the trees of from and to entries: the hashes that show the
// larger tree extends the smaller one, so a verifier holding a checkpoint
// of from entries needs only them and the newer checkpoint — not the log —
// to know the log was not rewritten in between. Like Proofs, it is checked
// against the stored roots before it is returned.
func ConsistencyProof(ctx context.Context, q store.Querier, from, to uint64) ([][]byte, error) {
	if from > to {
		return nil, fault.InvalidField("from", "from %d is after to %d", from, to)
	}
	if to > math.MaxInt64 {
		return nil, fault.InvalidField("to", "to %d is beyond any log", to)
	}
	if from == 0 || from == to {
		return [][]byte{}, nil // the empty tree and a tree itself need no hashes
	}
	roots := make([][]byte, 2)
	for i, size := range []uint64{from, to} {
		err := q.QueryRowContext(ctx, `SELECT root FROM audit_entries WHERE seq = $1`, int64(size)-1).Scan(&roots[i])
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fault.NotFoundf("the audit log has no tree of size %d", size)
		}
		if err != nil {
			return nil, fmt.Errorf("audit consistency proof: %w", err)
		}
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("audit consistency proof: %w", err)
	}
	nf := &nodeFetcher{q: q, size: to, blocks: map[uint64][][]byte{}, nodes: map[compact.NodeID][]byte{}}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = nf.node(ctx, id); err != nil {
			return nil, err
		}
	}
	out, err := nodes.Rehash(hashes, hashChildren)
	if err != nil {
		return nil, fmt.Errorf("audit consistency proof: %w", err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, to, out, roots[0], roots[1]); err != nil {
		return nil, fmt.Errorf("audit consistency proof: the stored hashes give a wrong proof from %d to %d (run `hatoba audit verify`): %w", from, to, err)
	}
	return out, nil
}

// VerifyConsistency checks offline that the checkpoint newer extends the
// checkpoint older by the consistency proof: both must be signed by v, and
// the proof must lead from older's root to newer's.
func VerifyConsistency(v note.Verifier, older, newer []byte, consistency [][]byte) (Checkpoint, Checkpoint, error) {
	oc, err := ParseCheckpoint(older, v)
	if err != nil {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("the older %w", err)
	}
	nc, err := ParseCheckpoint(newer, v)
	if err != nil {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("the newer %w", err)
	}
	if oc.Size > nc.Size {
		return oc, nc, fault.Invalidf("the saved checkpoint has %d entries and the log's latest %d: the log was truncated or rolled back", oc.Size, nc.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oc.Size, nc.Size, consistency, oc.Root, nc.Root); err != nil {
		return oc, nc, fault.Invalidf("the log of %d entries does not extend the saved checkpoint of %d entries: it was rewritten (%v)", nc.Size, oc.Size, err)
	}
	return oc, nc, nil
}
