package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// testOrigin names the test logs.
const testOrigin = "hatoba.test/audit"

// newKey creates a signing key in the test's directory.
func newKey(t testing.TB) audit.Key {
	t.Helper()
	k, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// t0 is the time of the first test entry; entry i is i seconds later.
var t0 = time.Date(2026, 4, 1, 9, 0, 0, 123456000, time.UTC)

// testEntry is the i-th entry of a test log: entries alternate between two
// tenants, and every tenth is platform-wide.
func testEntry(i int) audit.Entry {
	org := []string{"lg-131016", "lg-011002"}[i%2]
	if i%10 == 9 {
		org = ""
	}
	return audit.Entry{At: t0.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("p%d", i%7), Action: "env.request",
		OrgID: org, Target: fmt.Sprintf("env-%04d", i), Details: map[string]any{"i": i, "note": "<ok> & \u2028 done"}}
}

// appendEntries appends entries from..to-1 in one committed transaction.
func appendEntries(t testing.TB, db *store.DB, from, to int) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		for i := from; i < to; i++ {
			if err := audit.Append(context.Background(), tx, testEntry(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filledLog returns a log of n integrated entries, integrated in batches of
// 7 so the tree state is saved and reloaded many times on the way.
func filledLog(t testing.TB, db *store.DB, key audit.Key, n int) *audit.Log {
	t.Helper()
	l := audit.New(db, key.Signer, nil)
	l.SetBatchSize(7)
	for from := 0; from < n; from += 25 {
		appendEntries(t, db, from, min(from+25, n))
		if _, err := l.Integrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// specLeafHash computes an entry's leaf hash from docs/audit.md alone, to
// check the package against its specification (and to play the attacker
// who recomputes hashes).
// orgIndex < 0 is an entry of the v1 format, which has none.
func specLeafHash(seq uint64, atMicros int64, actor, action, orgID, target, grantID string, details []byte, orgIndex int64) []byte {
	b := []byte{0x00}
	if orgIndex < 0 {
		b = append(b, "hatoba.audit.v1\n"...)
	} else {
		b = append(b, "hatoba.audit.v2\n"...)
	}
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(atMicros))
	for _, s := range [][]byte{[]byte(actor), []byte(action), []byte(orgID), []byte(target), []byte(grantID), details} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	if orgIndex >= 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(orgIndex))
	}
	h := sha256.Sum256(b)
	return h[:]
}

// specRoot is the RFC 6962 Merkle tree hash of leaves, by its recursive
// definition (RFC 6962 section 2.1).
func specRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	h := sha256.Sum256(append(append([]byte{0x01}, specRoot(leaves[:k])...), specRoot(leaves[k:])...))
	return h[:]
}

func mustVerify(t *testing.T, db *store.DB, key audit.Key, opts audit.VerifyOptions) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), db, key.Verifier, opts)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// orgIndexOf is a record's organisation index as the leaf encodes it: -1 for
// the v1 format, which has none.
func orgIndexOf(r audit.Record) int64 {
	if r.OrgIndex == nil {
		return -1
	}
	return int64(*r.OrgIndex)
}
