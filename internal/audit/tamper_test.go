package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// The tamper tests play an attacker with write access to the database but
// not to the signing key: each edits a log of 100 entries with SQL, and
// Verify must name exactly the first entry touched and what was done.

const tamperSize = 100

// attacker edits the log's tables directly.
type attacker struct {
	t   *testing.T
	db  *store.DB
	key audit.Key
	l   *audit.Log
}

func (a attacker) exec(query string, args ...any) {
	a.t.Helper()
	if _, err := a.db.ExecContext(context.Background(), query, args...); err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
}

// shift moves the entries from seq on by delta. Two steps, because both
// databases check the primary key row by row.
func (a attacker) shift(from int, delta int) {
	a.exec(`UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= $1`, from)
	a.exec(`UPDATE audit_entries SET seq = seq - 1000000 + $1 WHERE seq >= 1000000`, delta)
}

// forge inserts an entry the log never saw at seq, with a correct leaf hash
// (anyone can compute one) and entry seq-1's root and signature.
func (a attacker) forge(seq int) {
	details := `{"i":0,"note":"granted myself access"}`
	leaf := specLeafHash(uint64(seq), t0.UnixMicro(), "p0", "access.approve", "lg-131016", "env-x", "", []byte(details), 0)
	a.exec(`INSERT INTO audit_entries (seq, at_us, actor, action, org_id, target, grant_id, details, leaf_hash, root, signature, org_index)
		SELECT $1, $2, 'p0', 'access.approve', 'lg-131016', 'env-x', '', $3, $4, root, signature, 0 FROM audit_entries WHERE seq = $5`,
		seq, t0.UnixMicro(), details, leaf, seq-1)
}

// recompute rewrites every leaf hash and root from from on, as an attacker
// covering their tracks would: only the signatures stay as they were.
func (a attacker) recompute(from int) {
	a.t.Helper()
	ctx := context.Background()
	rows, err := a.db.QueryContext(ctx, `SELECT seq, at_us, actor, action, org_id, target, grant_id, details, org_index FROM audit_entries ORDER BY seq`)
	if err != nil {
		a.t.Fatal(err)
	}
	var seqs []int64
	var leaves [][]byte
	for rows.Next() {
		var seq, at, orgIndex int64
		var actor, action, org, target, grant, details string
		if err := rows.Scan(&seq, &at, &actor, &action, &org, &target, &grant, &details, &orgIndex); err != nil {
			a.t.Fatal(err)
		}
		seqs = append(seqs, seq)
		leaves = append(leaves, specLeafHash(uint64(seq), at, actor, action, org, target, grant, []byte(details), orgIndex))
	}
	if err := rows.Close(); err != nil {
		a.t.Fatal(err)
	}
	for i, seq := range seqs {
		if seq >= int64(from) {
			a.exec(`UPDATE audit_entries SET leaf_hash = $1, root = $2 WHERE seq = $3`, leaves[i], specRoot(leaves[:i+1]), seq)
		}
	}
}

func TestAuditVerifyNamesTheFirstTamperedEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		attack func(a attacker) []byte // returns a checkpoint saved before, if any
		opts   audit.VerifyOptions
		seq    uint64
		kind   audit.Kind
		msg    string
	}{
		{
			name: "fail/details of 37 edited",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET details = '{"i":37}' WHERE seq = 37`)
				return nil
			},
			seq: 37, kind: audit.KindEdited, msg: "entry 37's content does not match its leaf hash",
		},
		{
			name: "fail/details of 37 edited, leaf hash and later roots recomputed",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET details = '{"i":37}' WHERE seq = 37`)
				a.recompute(37)
				return nil
			},
			seq: 37, kind: audit.KindEdited, msg: "the checkpoint for tree size 38 does not verify over its stored root, while the one for size 37 does",
		},
		{
			name: "fail/actor of 37 edited with its leaf hash, roots left",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET actor = 'p9' WHERE seq = 37`)
				a.releaf(37)
				return nil
			},
			seq: 37, kind: audit.KindEdited, msg: "entry 37's stored tree root is not the root of entries 0…37",
		},
		{
			name: "fail/root of 70 edited",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET root = leaf_hash WHERE seq = 70`)
				return nil
			},
			seq: 70, kind: audit.KindEdited, msg: "entry 70's stored tree root",
		},
		{
			name:   "fail/50 deleted",
			attack: func(a attacker) []byte { a.exec(`DELETE FROM audit_entries WHERE seq = 50`); return nil },
			seq:    50, kind: audit.KindDeleted, msg: "entry 50 was deleted: the next entry is 51",
		},
		{
			name:   "fail/50 to 52 deleted",
			attack: func(a attacker) []byte { a.exec(`DELETE FROM audit_entries WHERE seq BETWEEN 50 AND 52`); return nil },
			seq:    50, kind: audit.KindDeleted, msg: "entries 50…52 were deleted",
		},
		{
			name: "fail/50 deleted and the later entries renumbered",
			attack: func(a attacker) []byte {
				a.exec(`DELETE FROM audit_entries WHERE seq = 50`)
				a.shift(51, -1)
				return nil
			},
			seq: 50, kind: audit.KindDeleted, msg: "entry 50 was deleted and the later entries renumbered: the entry now at 50 was signed as entry 51",
		},
		{
			// Without the deleted entry's leaf hash nothing can recompute the
			// root its successor's signature covers, so verify can only say
			// entry 50 is not what was signed.
			name: "fail/50 deleted, later entries renumbered and hashes recomputed",
			attack: func(a attacker) []byte {
				a.exec(`DELETE FROM audit_entries WHERE seq = 50`)
				a.shift(51, -1)
				a.recompute(50)
				return nil
			},
			seq: 50, kind: audit.KindEdited, msg: "an entry deleted with the later ones renumbered looks the same",
		},
		{
			name:   "fail/forged entry inserted at 40, later entries renumbered",
			attack: func(a attacker) []byte { a.shift(40, 1); a.forge(40); return nil },
			seq:    40, kind: audit.KindInserted, msg: "entry 40 was inserted: the entry after it was signed as entry 40",
		},
		{
			name:   "fail/forged entry inserted at 40, later entries renumbered and hashes recomputed",
			attack: func(a attacker) []byte { a.shift(40, 1); a.forge(40); a.recompute(40); return nil },
			seq:    40, kind: audit.KindInserted, msg: "entry 40 was never signed by the log",
		},
		{
			name:   "fail/forged entry appended",
			attack: func(a attacker) []byte { a.forge(tamperSize); a.recompute(tamperSize); return nil },
			seq:    tamperSize, kind: audit.KindEdited, msg: "the checkpoint for tree size 101 does not verify",
		},
		{
			name:   "fail/copy of entry 20 inserted at 60",
			attack: func(a attacker) []byte { a.shift(60, 1); a.copyEntry(20, 60); return nil },
			seq:    60, kind: audit.KindInserted, msg: "entry 60 is a copy of entry 20",
		},
		{
			name: "fail/10 and 20 swapped",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET seq = -1 WHERE seq = 10`)
				a.exec(`UPDATE audit_entries SET seq = 10 WHERE seq = 20`)
				a.exec(`UPDATE audit_entries SET seq = 20 WHERE seq = -1`)
				return nil
			},
			seq: 10, kind: audit.KindReordered, msg: "entries 10 and 20 were swapped",
		},
		{
			name: "fail/tail truncated after a checkpoint was saved",
			attack: func(a attacker) []byte {
				saved := a.checkpoint()
				a.exec(`DELETE FROM audit_entries WHERE seq >= 90`)
				return saved
			},
			seq: 90, kind: audit.KindTruncated, msg: "entries 90…99 were removed",
		},
		{
			name: "fail/rolled back and re-signed after a checkpoint was saved",
			attack: func(a attacker) []byte {
				saved := a.checkpoint()
				a.exec(`DELETE FROM audit_entries WHERE seq >= 90`)
				appendEntries(a.t, a.db, 200, 215)
				if _, err := a.l.Integrate(context.Background()); err != nil {
					a.t.Fatal(err)
				}
				return saved
			},
			seq: 99, kind: audit.KindForked, msg: "the log was rolled back and rewritten",
		},
		{
			name: "fail/signature of 60 replaced, every signature checked",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET signature = (SELECT signature FROM audit_entries WHERE seq = 59) WHERE seq = 60`)
				return nil
			},
			opts: audit.VerifyOptions{AllSignatures: true},
			seq:  60, kind: audit.KindSignature, msg: "only the stored signature was damaged",
		},
		{
			name: "fail/signature of 99 not by the log's key",
			attack: func(a attacker) []byte {
				a.exec(`UPDATE audit_entries SET signature = root WHERE seq = 99`)
				return nil
			},
			seq: 99, kind: audit.KindSignature, msg: "entry 99's signature is not one by the log's key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				key := newKey(t)
				a := attacker{t: t, db: db, key: key, l: filledLog(t, db, key, tamperSize)}
				if rep := mustVerify(t, db, key, audit.VerifyOptions{AllSignatures: true}); !rep.OK() {
					t.Fatalf("before the attack: %v", rep.Problem)
				}
				opts := tt.opts
				opts.Checkpoint = tt.attack(a)
				// Verify's reader hands entries over in batches; small
				// ones put the attack across batch boundaries.
				for _, o := range []audit.VerifyOptions{opts, audit.WithScanBatch(opts, 1), audit.WithScanBatch(opts, 7)} {
					rep := mustVerify(t, db, key, o)
					if rep.OK() {
						t.Fatalf("the attack went unnoticed: %+v", rep)
					}
					p := rep.Problem
					if p.Seq != tt.seq || p.Kind != tt.kind || !strings.Contains(p.Message, tt.msg) {
						t.Fatalf("verify found %v\nwant entry %d %s: …%s…", p, tt.seq, tt.kind, tt.msg)
					}
					if rep.Proven > tt.seq {
						t.Fatalf("report says %d entries are proven, past the bad entry %d", rep.Proven, tt.seq)
					}
				}
			})
		})
	}
}

// TestAuditVerifyLimits pins down what verify cannot see, as docs/audit.md
// says: a truncated tail without a saved checkpoint, and (without
// AllSignatures) a signature damaged on its own.
func TestAuditVerifyLimits(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	a := attacker{t: t, db: db, key: key, l: filledLog(t, db, key, tamperSize)}
	a.exec(`UPDATE audit_entries SET signature = (SELECT signature FROM audit_entries WHERE seq = 59) WHERE seq = 60`)
	a.exec(`DELETE FROM audit_entries WHERE seq >= 90`)
	rep := mustVerify(t, db, key, audit.VerifyOptions{})
	if !rep.OK() || rep.Size != 90 || rep.SignatureChecks != 1 {
		t.Fatalf("report %+v; want an intact log of 90 entries after one signature check", rep)
	}
}

// releaf recomputes the leaf hash of entry seq only.
func (a attacker) releaf(seq int) {
	a.t.Helper()
	var at, orgIndex int64
	var actor, action, org, target, grant, details string
	err := a.db.QueryRowContext(context.Background(), `SELECT at_us, actor, action, org_id, target, grant_id, details, org_index FROM audit_entries WHERE seq = $1`, seq).
		Scan(&at, &actor, &action, &org, &target, &grant, &details, &orgIndex)
	if err != nil {
		a.t.Fatal(err)
	}
	a.exec(`UPDATE audit_entries SET leaf_hash = $1 WHERE seq = $2`, specLeafHash(uint64(seq), at, actor, action, org, target, grant, []byte(details), orgIndex), seq)
}

func (a attacker) checkpoint() []byte {
	a.t.Helper()
	cp, err := audit.LatestCheckpoint(context.Background(), a.db, testOrigin)
	if err != nil {
		a.t.Fatal(err)
	}
	return cp.Note
}

// copyEntry puts a copy of entry from, hashes and signature included, at to.
func (a attacker) copyEntry(from, to int) {
	a.exec(`INSERT INTO audit_entries (seq, at_us, actor, action, org_id, target, grant_id, details, leaf_hash, root, signature, org_index)
		SELECT $1, at_us, actor, action, org_id, target, grant_id, details, leaf_hash, root, signature, org_index FROM audit_entries WHERE seq = $2`, to, from)
}

func TestAuditVerifyRefusesAForeignCheckpoint(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	filledLog(t, db, key, 10)
	other := storetest.Open(t, store.SQLite)
	otherKey := newKey(t)
	filledLog(t, other, otherKey, 10)
	cp, err := audit.LatestCheckpoint(context.Background(), other, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = audit.Verify(context.Background(), db, key.Verifier, audit.VerifyOptions{Checkpoint: cp.Note})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no signature by the log's key %s", testOrigin)) {
		t.Fatalf("verify with another log's checkpoint: %v", err)
	}
}
