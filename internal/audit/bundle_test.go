package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// tenantBundle is the bundle of tenant lg-011002's entries in a log of 300.
func tenantBundle(t *testing.T, db *store.DB, key audit.Key) []byte {
	t.Helper()
	l := filledLog(t, db, key, 300)
	b, err := l.Bundle(context.Background(), audit.Filter{OrgIDs: []string{"lg-011002"}, FromSeq: 250, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range b.Entries {
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[251 253 255 257 261]" {
		t.Fatalf("bundle entries %v, want the tenant's five from 250 on", seqs)
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func checkBundle(data []byte, key string) error {
	b, err := audit.ParseBundle(data)
	if err != nil {
		return err
	}
	return audit.VerifyBundle(b, key)
}

func TestAuditBundleVerifiesOffline(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		data := tenantBundle(t, db, key)
		// Offline: the bundle bytes and the public key string, nothing else.
		if err := checkBundle(data, key.VerifierKey); err != nil {
			t.Fatalf("VerifyBundle: %v\n%s", err, data)
		}
		// A verifier written from docs/audit.md alone agrees.
		if err := specVerifyBundle(data, key.VerifierKey); err != nil {
			t.Fatalf("the verifier written from the documentation rejects the bundle: %v", err)
		}
		// Re-indented by some tool, it still verifies: details are hashed
		// without insignificant whitespace.
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, data, "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := checkBundle(pretty.Bytes(), key.VerifierKey); err != nil {
			t.Fatalf("indented bundle: %v", err)
		}
		if err := checkBundle(data, newKey(t).VerifierKey); err == nil || !strings.Contains(err.Error(), "no signature by the log's key") {
			t.Fatalf("bundle checked with another log's key: %v", err)
		}
	})
}

// TestAuditBundleAnyChangeFails changes every byte of a bundle in turn: each
// change must make it unreadable or fail verification.
func TestAuditBundleAnyChangeFails(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	data := tenantBundle(t, db, key)
	for i := range data {
		changed := bytes.Clone(data)
		changed[i] ^= 0x01
		if err := checkBundle(changed, key.VerifierKey); err == nil {
			t.Fatalf("changing byte %d (%q in …%s…) went unnoticed", i, data[i], data[max(0, i-30):min(len(data), i+30)])
		} else if fault.KindOf(err) != fault.Invalid {
			t.Fatalf("changing byte %d: %v is not an invalid-input error", i, err)
		}
	}
}

func TestAuditBundleFailures(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	data := tenantBundle(t, db, key)
	edit := func(f func(b *audit.Bundle)) []byte {
		b, err := audit.ParseBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		f(&b)
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"fail/edited actor", edit(func(b *audit.Bundle) { b.Entries[2].Actor = "p0" }), "bundle entry 255: its fields do not hash to its leaf_hash"},
		{"fail/edited and rehashed", edit(func(b *audit.Bundle) { b.Entries[2].Actor = "p0"; rehash(&b.Entries[2]) }), "bundle entry 255: not in the checkpoint's tree"},
		{"fail/details edited and rehashed", edit(func(b *audit.Bundle) { b.Entries[2].Details = `{"i":254}`; rehash(&b.Entries[2]) }), "bundle entry 255: not in the checkpoint's tree"},
		{"fail/moved", edit(func(b *audit.Bundle) { b.Entries[2].Seq = 254; rehash(&b.Entries[2]) }), "bundle entry 254: not in the checkpoint's tree"},
		{"fail/proof shortened", edit(func(b *audit.Bundle) { b.Entries[0].Proof = b.Entries[0].Proof[1:] }), "bundle entry 251: not in the checkpoint's tree"},
		{"fail/beyond the tree", edit(func(b *audit.Bundle) { b.Entries[0].Seq = 300 }), "bundle entry 300: seq 300 is outside the checkpoint's tree"},
		{"fail/checkpoint size", edit(func(b *audit.Bundle) { b.Checkpoint = strings.Replace(b.Checkpoint, "\n300\n", "\n301\n", 1) }), "checkpoint: the signature by hatoba.test/audit does not verify"},
		{"fail/checkpoint unsigned", edit(func(b *audit.Bundle) { b.Checkpoint = b.Checkpoint[:strings.Index(b.Checkpoint, "\n\n")+2] }), "checkpoint: malformed note"},
		{"fail/unknown field", []byte(`{"checkpoint":"","entries":[],"extra":1}`), `bundle: json: unknown field "extra"`},
		{"fail/trailing data", append(bytes.Clone(data), []byte(" {}")...), "bundle: data after the bundle's JSON object"},
		{"fail/not hex", []byte(`{"checkpoint":"","entries":[{"leaf_hash":"zz"}]}`), `"zz" is not a hex SHA-256 hash`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBundle(tt.data, key.VerifierKey)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one containing %q", err, tt.want)
			}
			// The verifier written from the documentation rejects it too
			// (it is lenient only about unknown fields and encodings).
			if strings.HasPrefix(tt.want, "bundle entry") || strings.HasPrefix(tt.want, "checkpoint") {
				if err := specVerifyBundle(tt.data, key.VerifierKey); err == nil {
					t.Fatal("the documented verifier accepts it")
				}
			}
		})
	}
}

func TestAuditBundleOfEmptyLog(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	b, err := audit.New(db, key.Signer, nil).Bundle(context.Background(), audit.Filter{OrgIDs: []string{"lg-011002"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyBundle(b, key.VerifierKey); err != nil || len(b.Entries) != 0 {
		t.Fatalf("empty bundle: %v, %d entries", err, len(b.Entries))
	}
}

// rehash recomputes an entry's leaf hash, as someone passing off an edited
// entry would.
func rehash(e *audit.BundleEntry) {
	e.LeafHash = specLeafHash(e.Seq, e.At.UnixMicro(), e.Actor, e.Action, e.OrgID, e.Target, e.GrantID, []byte(e.Details), orgIndexOf(e.Record))
}
