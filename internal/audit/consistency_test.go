package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// checkpointAt is the signed checkpoint note of the tree of size entries.
func checkpointAt(t *testing.T, db *store.DB, size uint64) []byte {
	t.Helper()
	cp, err := audit.CheckpointAt(context.Background(), db, testOrigin, size)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Note
}

// TestConsistencyProofs proves, for tree sizes across subtree and block
// boundaries, that the later tree extends the earlier one, and refuses a
// proof with a changed hash, swapped checkpoints and a rewritten log.
func TestConsistencyProofs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		filledLog(t, db, key, 600)
		for _, p := range [][2]uint64{{1, 600}, {7, 8}, {255, 256}, {256, 257}, {300, 513}, {511, 600}, {600, 600}} {
			proof, err := audit.ConsistencyProof(ctx, db, p[0], p[1])
			if err != nil {
				t.Fatalf("%d→%d: %v", p[0], p[1], err)
			}
			older, newer := checkpointAt(t, db, p[0]), checkpointAt(t, db, p[1])
			if _, _, err := audit.VerifyConsistency(key.Verifier, older, newer, proof); err != nil {
				t.Fatalf("%d→%d: %v", p[0], p[1], err)
			}
			if len(proof) > 0 {
				bad := append([][]byte(nil), proof...)
				bad[0] = append([]byte(nil), bad[0]...)
				bad[0][0] ^= 1
				if _, _, err := audit.VerifyConsistency(key.Verifier, older, newer, bad); err == nil || !strings.Contains(err.Error(), "does not extend") {
					t.Fatalf("%d→%d with a changed hash: %v", p[0], p[1], err)
				}
			}
			if p[0] < p[1] {
				if _, _, err := audit.VerifyConsistency(key.Verifier, newer, older, proof); err == nil || !strings.Contains(err.Error(), "truncated or rolled back") {
					t.Fatalf("%d→%d swapped: %v", p[0], p[1], err)
				}
			}
		}
		if _, err := audit.ConsistencyProof(ctx, db, 10, 601); err == nil {
			t.Fatal("a proof to a tree the log does not have was made")
		}

		// Another log signed by the same key — a rewritten history — does
		// not extend a checkpoint of the first.
		saved := checkpointAt(t, db, 300)
		other := storetest.Open(t, db.Dialect())
		ol := audit.New(other, key.Signer, nil)
		appendEntries(t, other, 1, 601) // the same entries, shifted by one
		if _, err := ol.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		proof, err := audit.ConsistencyProof(ctx, other, 300, 600)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := audit.VerifyConsistency(key.Verifier, saved, checkpointAt(t, other, 600), proof); err == nil || !strings.Contains(err.Error(), "it was rewritten") {
			t.Fatalf("a rewritten log passed for an extension: %v", err)
		}
	})
}
