package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Log is the integrator side of the audit log: it sequences queued entries
// into the Merkle tree and signs a checkpoint for each new tree size. Every
// replica may run one; they take turns.
type Log struct {
	db     *store.DB
	signer note.Signer
	origin string
	logger *slog.Logger
	// batch is how many queued entries one integration transaction takes.
	batch int
}

// New returns the log over db, signing with signer. The checkpoint origin
// is the signer's name (LoadKey checks it is the configured origin).
func New(db *store.DB, signer note.Signer, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{db: db, signer: signer, origin: signer.Name(), logger: logger, batch: 1000}
}

// Origin names the log in its checkpoints.
func (l *Log) Origin() string { return l.origin }

// nodeLevel is the lowest level of the subtree hashes kept in audit_nodes:
// a subtree of 2^8 = 256 leaves. Lower levels are computed from leaf hashes.
const nodeLevel = 8

// integrateLockID serialises integrators across PostgreSQL replicas; it is
// "hatobaud" in ASCII, apart from the migrations' lock ("hatoba").
const integrateLockID = 0x6861746f62617564

// Run integrates every interval (1 s when not positive) until ctx ends.
// Failures are logged and retried at the next tick: appends keep queueing
// meanwhile.
func (l *Log) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := l.Integrate(ctx); err != nil && ctx.Err() == nil {
			l.logger.Error("audit integration failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Integrate sequences every queued entry, batch by batch, and returns the
// latest checkpoint.
func (l *Log) Integrate(ctx context.Context) (Checkpoint, error) {
	for {
		n, err := l.integrateBatch(ctx)
		if err != nil {
			return Checkpoint{}, err
		}
		if n < l.batch {
			return LatestCheckpoint(ctx, l.db, l.origin)
		}
		if err := ctx.Err(); err != nil {
			return Checkpoint{}, err
		}
	}
}

// queued is a row of audit_queue.
type queued struct {
	id int64
	content
}

// integrateBatch moves up to l.batch queued entries into the tree in one
// transaction and reports how many it moved.
func (l *Log) integrateBatch(ctx context.Context) (int, error) {
	var moved int
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		moved = 0
		if err := tx.LockKey(ctx, integrateLockID); err != nil {
			return fmt.Errorf("audit integrate: %w", err)
		}
		rng, err := l.loadTree(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := takeQueued(ctx, tx, l.batch)
		if err != nil || len(rows) == 0 {
			return err
		}
		if err := assignOrgIndexes(ctx, tx, rows); err != nil {
			return err
		}
		size := rng.End()
		leaves := make([][]byte, len(rows))
		roots := make([][]byte, len(rows))
		var nodes []storedNode
		visit := func(id compact.NodeID, hash []byte) {
			if id.Level >= nodeLevel {
				nodes = append(nodes, storedNode{id, hash})
			}
		}
		for i, r := range rows {
			leaves[i] = r.leafHash(size + uint64(i))
			if err := rng.Append(leaves[i], visit); err != nil {
				return fmt.Errorf("audit integrate: %w", err)
			}
			if roots[i], err = rng.GetRootHash(nil); err != nil {
				return fmt.Errorf("audit integrate: %w", err)
			}
		}
		sigs, err := l.signAll(size, roots)
		if err != nil {
			return err
		}
		if err := insertEntries(ctx, tx, size, rows, leaves, roots, sigs); err != nil {
			return err
		}
		if err := insertNodes(ctx, tx, nodes); err != nil {
			return err
		}
		if err := saveTree(ctx, tx, rng); err != nil {
			return err
		}
		moved = len(rows)
		return nil
	})
	return moved, err
}

// signAll signs the checkpoints for sizes size+1 … size+len(roots). Ed25519
// signing is most of an integration's CPU, so big batches use every core.
func (l *Log) signAll(size uint64, roots [][]byte) ([][]byte, error) {
	sigs := make([][]byte, len(roots))
	workers := min(runtime.GOMAXPROCS(0), (len(roots)+63)/64)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(roots); i += workers {
				sig, err := sign(l.signer, l.origin, size+uint64(i)+1, roots[i])
				if err != nil {
					errs[w] = err
					return
				}
				sigs[i] = sig
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("audit integrate: %w", err)
	}
	return sigs, nil
}

var rangeFactory = &compact.RangeFactory{Hash: hashChildren}

// loadTree returns the compact range of the tree so far, from audit_tree,
// after checking it against the last entry: its root must match, and its
// signature must be by this key (a replica holding another key must not
// sign). A missing or stale state row is rebuilt from the leaf hashes.
func (l *Log) loadTree(ctx context.Context, tx *store.Tx) (*compact.Range, error) {
	var size int64
	var packed []byte
	err := tx.QueryRowContext(ctx, `SELECT size, hashes FROM audit_tree WHERE id = 1`).Scan(&size, &packed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("audit integrate: read tree state: %w", err)
	}
	rng, stateErr := unpackRange(uint64(size), packed)

	var last struct {
		seq       int64
		root, sig []byte
	}
	err = tx.QueryRowContext(ctx, `SELECT seq, root, signature FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&last.seq, &last.root, &last.sig)
	if errors.Is(err, sql.ErrNoRows) {
		return rangeFactory.NewEmptyRange(0), nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit integrate: read last entry: %w", err)
	}
	if len(last.sig) != sigLen || binary.BigEndian.Uint32(last.sig) != l.signer.KeyHash() {
		return nil, fault.Conflictf("audit integrate: entry %d was not signed by this key (%s+%08x): every replica must load the same audit signing key",
			last.seq, l.signer.Name(), l.signer.KeyHash())
	}
	if stateErr == nil && rng.End() == uint64(last.seq)+1 {
		if root, err := rng.GetRootHash(nil); err == nil && bytes.Equal(root, last.root) {
			return rng, nil
		}
	}
	l.logger.Warn("audit tree state does not match the last entry; rebuilding it from the leaf hashes", "last_seq", last.seq)
	rng, err = rebuildRange(ctx, tx, uint64(last.seq)+1)
	if err != nil {
		return nil, err
	}
	if root, _ := rng.GetRootHash(nil); !bytes.Equal(root, last.root) {
		return nil, fault.Conflictf("audit integrate: the stored leaf hashes do not give entry %d's root: the log is damaged; run `hatoba audit verify`", last.seq)
	}
	return rng, nil
}

func unpackRange(size uint64, packed []byte) (*compact.Range, error) {
	if len(packed)%32 != 0 {
		return nil, errors.New("hashes are not 32-byte values")
	}
	hashes := make([][]byte, 0, len(packed)/32)
	for b := packed; len(b) > 0; b = b[32:] {
		hashes = append(hashes, b[:32:32])
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// rebuildRange recomputes the compact range of entries 0..size-1 from their
// stored leaf hashes, in one streaming pass.
func rebuildRange(ctx context.Context, q store.Querier, size uint64) (*compact.Range, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, leaf_hash FROM audit_entries WHERE seq < $1 ORDER BY seq`, int64(size))
	if err != nil {
		return nil, fmt.Errorf("audit: read leaf hashes: %w", err)
	}
	defer rows.Close()
	rng := rangeFactory.NewEmptyRange(0)
	for rows.Next() {
		var seq int64
		var leaf []byte
		if err := rows.Scan(&seq, &leaf); err != nil {
			return nil, fmt.Errorf("audit: read leaf hashes: %w", err)
		}
		if uint64(seq) != rng.End() || len(leaf) != 32 {
			return nil, fault.Conflictf("audit: entry %d is missing or malformed: the log is damaged; run `hatoba audit verify`", rng.End())
		}
		if err := rng.Append(leaf, nil); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: read leaf hashes: %w", err)
	}
	if rng.End() != size {
		return nil, fault.Conflictf("audit: entry %d is missing: the log is damaged; run `hatoba audit verify`", rng.End())
	}
	return rng, nil
}

func saveTree(ctx context.Context, tx *store.Tx, rng *compact.Range) error {
	packed := make([]byte, 0, 32*len(rng.Hashes()))
	for _, h := range rng.Hashes() {
		packed = append(packed, h...)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_tree (id, size, hashes) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET size = excluded.size, hashes = excluded.hashes`, int64(rng.End()), packed)
	if err != nil {
		return fmt.Errorf("audit integrate: save tree state: %w", err)
	}
	return nil
}

// takeQueued deletes up to n queued rows, lowest ids first, and returns them
// in id order. Deleting exactly the rows returned matters on PostgreSQL,
// where a transaction with a lower id may commit while this one runs: its
// row stays queued for the next batch.
func takeQueued(ctx context.Context, tx *store.Tx, n int) ([]queued, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM audit_queue WHERE id IN (SELECT id FROM audit_queue ORDER BY id LIMIT $1)
		RETURNING id, at_us, actor, action, org_id, target, grant_id, details`, n)
	if err != nil {
		return nil, fmt.Errorf("audit integrate: take queued entries: %w", err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var r queued
		var details string
		if err := rows.Scan(&r.id, &r.atMicros, &r.actor, &r.action, &r.orgID, &r.target, &r.grantID, &details); err != nil {
			return nil, fmt.Errorf("audit integrate: take queued entries: %w", err)
		}
		r.details = []byte(details)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit integrate: take queued entries: %w", err)
	}
	slices.SortFunc(out, func(a, b queued) int { return int(a.id - b.id) })
	return out, nil
}

// assignOrgIndexes gives each entry its place among its organisation's
// entries, continuing from audit_org_heads, and moves the heads on: in the
// integrator's transaction, so the indexes run without gap or repeat.
func assignOrgIndexes(ctx context.Context, tx *store.Tx, rows []queued) error {
	next := map[string]int64{}
	for _, r := range rows {
		next[r.orgID] = 0
	}
	ids := make([]string, 0, len(next))
	for id := range next {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var args []any
		in := store.In(&args, chunk)
		hrows, err := tx.QueryContext(ctx, `SELECT org_id, count FROM audit_org_heads WHERE org_id IN (`+in+`)`, args...)
		if err != nil {
			return fmt.Errorf("audit integrate: read organisation heads: %w", err)
		}
		for hrows.Next() {
			var id string
			var n int64
			if err := hrows.Scan(&id, &n); err != nil {
				hrows.Close()
				return fmt.Errorf("audit integrate: read organisation heads: %w", err)
			}
			next[id] = n
		}
		hrows.Close()
		if err := hrows.Err(); err != nil {
			return fmt.Errorf("audit integrate: read organisation heads: %w", err)
		}
	}
	for i := range rows {
		rows[i].orgIndex = next[rows[i].orgID]
		next[rows[i].orgID]++
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_org_heads (org_id, count) VALUES ($1, $2)
			ON CONFLICT (org_id) DO UPDATE SET count = excluded.count`, id, next[id]); err != nil {
			return fmt.Errorf("audit integrate: move the head of %q: %w", id, err)
		}
	}
	return nil
}

// insertRows is how many entries one INSERT carries (12 parameters each).
// PostgreSQL gains from fewer round trips up to its 65,535 parameters;
// SQLite (in-process, no round trips) looks up each numbered parameter by a
// linear scan, so a statement's binding cost grows with the square of its
// parameters, and small statements are faster.
func insertRows(d store.Dialect) int {
	if d == store.Postgres {
		return 500
	}
	return 20
}

func insertEntries(ctx context.Context, tx *store.Tx, first uint64, rows []queued, leaves, roots, sigs [][]byte) error {
	per := insertRows(tx.Dialect())
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		var q strings.Builder
		q.WriteString(`INSERT INTO audit_entries (seq, at_us, actor, action, org_id, target, grant_id, details, leaf_hash, root, signature, org_index) VALUES `)
		args := make([]any, 0, 12*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				q.WriteByte(',')
			}
			writePlaceholders(&q, len(args), 12)
			r := rows[i]
			args = append(args, int64(first)+int64(i), r.atMicros, r.actor, r.action, r.orgID, r.target, r.grantID, string(r.details), leaves[i], roots[i], sigs[i], r.orgIndex)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("audit integrate: insert entries %d…%d: %w", first+uint64(start), first+uint64(end)-1, err)
		}
	}
	return nil
}

type storedNode struct {
	id   compact.NodeID
	hash []byte
}

func insertNodes(ctx context.Context, tx *store.Tx, nodes []storedNode) error {
	if len(nodes) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO audit_nodes (level, idx, hash) VALUES `)
	args := make([]any, 0, 3*len(nodes))
	for i, n := range nodes {
		if i > 0 {
			q.WriteByte(',')
		}
		writePlaceholders(&q, len(args), 3)
		args = append(args, int(n.id.Level), int64(n.id.Index), n.hash)
	}
	// A row can only already exist if the entries it covered were deleted
	// (a restored or truncated database): the new tree's hash replaces it,
	// or the log could never grow past that point again.
	q.WriteString(` ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash`)
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("audit integrate: insert subtree hashes: %w", err)
	}
	return nil
}

// writePlaceholders writes "($n+1, …, $n+k)".
func writePlaceholders(b *strings.Builder, n, k int) {
	b.WriteByte('(')
	for j := 1; j <= k; j++ {
		if j > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "$%d", n+j)
	}
	b.WriteByte(')')
}

// LatestCheckpoint returns the signed checkpoint of the whole integrated log,
// built from its last entry. origin must be the name of the key that signs
// the log. The empty log's checkpoint has no Note.
func LatestCheckpoint(ctx context.Context, q store.Querier, origin string) (Checkpoint, error) {
	var seq int64
	var root, sig []byte
	err := q.QueryRowContext(ctx, `SELECT seq, root, signature FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &root, &sig)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{Origin: origin, Size: 0, Root: emptyRoot}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: %w", err)
	}
	size := uint64(seq) + 1
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signedNote(origin, size, root, sig)}, nil
}

// CheckpointAt returns the signed checkpoint of the tree of the first size
// entries, which the log signed when it had that size.
func CheckpointAt(ctx context.Context, q store.Querier, origin string, size uint64) (Checkpoint, error) {
	if size == 0 || size > math.MaxInt64 {
		return Checkpoint{}, fault.InvalidField("size", "the audit log signs no checkpoint of %d entries", size)
	}
	var root, sig []byte
	err := q.QueryRowContext(ctx, `SELECT root, signature FROM audit_entries WHERE seq = $1`, int64(size)-1).Scan(&root, &sig)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fault.NotFoundf("the audit log has no tree of size %d", size)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit checkpoint %d: %w", size, err)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signedNote(origin, size, root, sig)}, nil
}

// Pending counts the entries queued but not yet integrated.
func Pending(ctx context.Context, q store.Querier) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_queue`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit pending: %w", err)
	}
	return n, nil
}
