package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestAuditAppendValidation(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ok := audit.Entry{Actor: "p1", Action: "env.request"}
	with := func(f func(*audit.Entry)) audit.Entry { e := ok; f(&e); return e }
	tests := []struct {
		name  string
		entry audit.Entry
		field string // "" when the entry is valid
	}{
		{"ok/minimal", ok, ""},
		{"ok/all fields", audit.Entry{At: t0, Actor: "system", Action: "access.approve", OrgID: "lg-131016", Target: "env-1", GrantID: "g-1",
			Details: map[string]any{"reason": "incident 42", "hours": 2}}, ""},
		{"ok/raw details", with(func(e *audit.Entry) { e.Details = json.RawMessage(` {"b": 1, "a": [true, null]} `) }), ""},
		{"ok/struct details", with(func(e *audit.Entry) { e.Details = struct{ Reason string }{"r"} }), ""},
		{"ok/three words", with(func(e *audit.Entry) { e.Action = "env.access.grant" }), ""},
		{"fail/no action", with(func(e *audit.Entry) { e.Action = "" }), "action"},
		{"fail/one word", with(func(e *audit.Entry) { e.Action = "login" }), "action"},
		{"fail/upper case", with(func(e *audit.Entry) { e.Action = "Env.Request" }), "action"},
		{"fail/trailing dot", with(func(e *audit.Entry) { e.Action = "env." }), "action"},
		{"fail/space", with(func(e *audit.Entry) { e.Action = "env. request" }), "action"},
		{"fail/long action", with(func(e *audit.Entry) { e.Action = "env." + strings.Repeat("a", 70) }), "action"},
		{"fail/control character", with(func(e *audit.Entry) { e.Target = "env\n1" }), "target"},
		{"fail/bad UTF-8", with(func(e *audit.Entry) { e.OrgID = "\xff" }), "org_id"},
		{"fail/long grant", with(func(e *audit.Entry) { e.GrantID = strings.Repeat("g", 300) }), "grant_id"},
		{"fail/details array", with(func(e *audit.Entry) { e.Details = []int{1} }), "details"},
		{"fail/details not JSON", with(func(e *audit.Entry) { e.Details = json.RawMessage(`{"a":`) }), "details"},
		{"fail/details two values", with(func(e *audit.Entry) { e.Details = json.RawMessage(`{} {}`) }), "details"},
		{"fail/details too big", with(func(e *audit.Entry) { e.Details = map[string]string{"x": strings.Repeat("x", 17<<10)} }), "details"},
		{"fail/details unencodable", with(func(e *audit.Entry) { e.Details = map[string]any{"f": func() {}} }), "details"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := audit.Append(context.Background(), db, tt.entry)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Kind != fault.Invalid || fe.Field != tt.field {
				t.Fatalf("Append error %v; want an invalid %s", err, tt.field)
			}
		})
	}
}

// An entry without an actor is a defect of its entry point, not bad
// input: Append refuses it as an internal error (a 500, never a 422), in
// a batch too, and writes nothing — it is never recorded as "system".
func TestAuditAppendRefusesNoActor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for name, entries := range map[string][]audit.Entry{
			"fail/one":      {{Action: "env.request"}},
			"fail/in batch": {testEntry(0), {Action: "env.request", OrgID: "lg-131016"}, testEntry(2)},
		} {
			err := audit.AppendAll(ctx, db, entries)
			if !errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal {
				t.Fatalf("%s: AppendAll = %v (kind %s); want ErrNoActor, an internal error", name, err, fault.KindOf(err))
			}
		}
		if n, err := audit.Pending(ctx, db); err != nil || n != 0 {
			t.Fatalf("pending %d (%v) after refused appends; want 0", n, err)
		}
	})
}

func TestActingCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		a    audit.Acting
		ok   bool
	}{
		{"ok/person", audit.Acting{Actor: "p-1"}, true},
		{"ok/system", audit.Acting{Actor: "system"}, true},
		{"fail/zero", audit.Acting{}, false},
		{"fail/grant alone", audit.Acting{GrantID: "bg-1"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Check()
			if tt.ok != (err == nil) || (err != nil && (!errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal)) {
				t.Fatalf("Check() = %v; want ok %v (or ErrNoActor, internal)", err, tt.ok)
			}
		})
	}
}

func TestAuditAppendRollbackLeavesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		errChange := errors.New("the change failed")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := audit.Append(ctx, tx, testEntry(0)); err != nil {
				return err
			}
			return errChange
		})
		if !errors.Is(err, errChange) {
			t.Fatalf("InTx: %v", err)
		}
		key := newKey(t)
		cp, err := audit.New(db, key.Signer, nil).Integrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := audit.Pending(ctx, db); err != nil || n != 0 || cp.Size != 0 {
			t.Fatalf("after a rolled-back append: pending %d (%v), tree size %d; want nothing", n, err, cp.Size)
		}
	})
}

func TestAuditIntegrate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		l := filledLog(t, db, key, 60)

		cp, err := l.Integrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != 60 {
			t.Fatalf("checkpoint size %d, want 60", cp.Size)
		}
		// The checkpoint is a C2SP checkpoint signed by the key, over the
		// root RFC 6962 defines for the leaves as the spec defines them.
		parsed, err := audit.ParseCheckpoint(cp.Note, key.Verifier)
		if err != nil {
			t.Fatalf("ParseCheckpoint: %v\n%s", err, cp.Note)
		}
		recs, err := audit.Entries(ctx, db, audit.Filter{AllOrgs: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var leaves [][]byte
		for i, r := range recs {
			if r.Seq != uint64(i) {
				t.Fatalf("entry %d has seq %d", i, r.Seq)
			}
			want := testEntry(i)
			if !r.At.Equal(want.At) || r.Actor != want.Actor || r.OrgID != want.OrgID || r.Target != want.Target {
				t.Fatalf("entry %d reads back as %+v, want %+v", i, r, want)
			}
			if wantDetails := fmt.Sprintf(`{"i":%d,"note":"<ok> & \u2028 done"}`, i); r.Details != wantDetails {
				t.Fatalf("entry %d details %s, want %s", i, r.Details, wantDetails)
			}
			leaf := specLeafHash(r.Seq, r.At.UnixMicro(), r.Actor, r.Action, r.OrgID, r.Target, r.GrantID, []byte(r.Details), orgIndexOf(r))
			if !bytes.Equal(leaf, r.LeafHash) {
				t.Fatalf("entry %d leaf hash %x; the spec gives %x", i, r.LeafHash, leaf)
			}
			leaves = append(leaves, leaf)
		}
		wantText := fmt.Sprintf("%s\n60\n%s\n", testOrigin, base64Std(specRoot(leaves)))
		if !strings.HasPrefix(string(cp.Note), wantText+"\n— "+testOrigin+" ") || !bytes.Equal(parsed.Root, specRoot(leaves)) {
			t.Fatalf("checkpoint\n%s\nwant text\n%s", cp.Note, wantText)
		}
		if rep := mustVerify(t, db, key, audit.VerifyOptions{}); !rep.OK() || rep.Size != 60 || rep.Proven != 60 {
			t.Fatalf("verify: %+v", rep)
		}
		// Nothing queued: integrating again changes nothing.
		again, err := l.Integrate(ctx)
		if err != nil || again.Size != 60 || !bytes.Equal(again.Root, cp.Root) {
			t.Fatalf("second Integrate: %v, size %d", err, again.Size)
		}
	})
}

func TestAuditEmptyLogVerifies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		rep := mustVerify(t, db, key, audit.VerifyOptions{})
		if !rep.OK() || rep.Size != 0 || rep.Latest.Size != 0 {
			t.Fatalf("empty log: %+v", rep)
		}
	})
}

// TestAuditIntegratorRecovers: the tree state row is a cache of the stored
// entries; lost or stale, it is rebuilt, and a replica with another key
// refuses to sign.
func TestAuditIntegratorRecovers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		l := filledLog(t, db, key, 30)
		for _, damage := range []string{`DELETE FROM audit_tree`, `UPDATE audit_tree SET size = 3`} {
			if _, err := db.ExecContext(ctx, damage); err != nil {
				t.Fatal(err)
			}
			appendEntries(t, db, 30, 31)
			if _, err := l.Integrate(ctx); err != nil {
				t.Fatalf("after %q: %v", damage, err)
			}
			if rep := mustVerify(t, db, key, audit.VerifyOptions{}); !rep.OK() {
				t.Fatalf("after %q: %v", damage, rep.Problem)
			}
		}
		appendEntries(t, db, 40, 41)
		_, err := audit.New(db, newKey(t).Signer, nil).Integrate(ctx)
		if fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), "same audit signing key") {
			t.Fatalf("integrating with another key: %v; want a conflict", err)
		}
	})
}

func TestAuditProofs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		// Past 512 entries, so proofs use stored subtrees of levels 8 and 9.
		const n = 700
		l := audit.New(db, key.Signer, nil)
		l.SetBatchSize(97)
		appendEntries(t, db, 0, n)
		if _, err := l.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := audit.Entries(ctx, db, audit.Filter{AllOrgs: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var leaves [][]byte
		for _, r := range recs {
			leaves = append(leaves, r.LeafHash)
		}
		for _, size := range []uint64{1, 2, 3, 255, 256, 257, 511, 512, 513, 600, n} {
			var seqs []uint64
			for s := uint64(0); s < size; s += 1 + s/16 {
				seqs = append(seqs, s)
			}
			seqs = append(seqs, size-1)
			proofs, err := audit.Proofs(ctx, db, seqs, size)
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			root := specRoot(leaves[:size])
			for i, seq := range seqs {
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, size, leaves[seq], proofs[i], root); err != nil {
					t.Fatalf("size %d, entry %d: %v", size, seq, err)
				}
			}
		}
		if _, err := audit.Proofs(ctx, db, []uint64{n}, n); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("proof of an entry outside the tree: %v", err)
		}
		if _, err := audit.Proofs(ctx, db, []uint64{0}, n+1); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("proof in a tree larger than the log: %v", err)
		}
		// A damaged subtree row gives an error, not a wrong proof.
		if _, err := db.ExecContext(ctx, `UPDATE audit_nodes SET hash = leaf_hash FROM audit_entries WHERE seq = 0 AND level = 9 AND idx = 0`); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Proofs(ctx, db, []uint64{600}, n); err == nil || !strings.Contains(err.Error(), "wrong proof") {
			t.Fatalf("proof over a damaged subtree: %v", err)
		}
	})
}

func TestAuditEntriesFilter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		filledLog(t, db, newKey(t), 40)
		seqs := func(f audit.Filter) string {
			recs, err := audit.Entries(ctx, db, f)
			if err != nil {
				return "error: " + err.Error()
			}
			var s []string
			for _, r := range recs {
				s = append(s, fmt.Sprint(r.Seq))
			}
			return strings.Join(s, ",")
		}
		tests := []struct {
			name   string
			filter audit.Filter
			want   string
		}{
			{"ok/one tenant", audit.Filter{OrgIDs: []string{"lg-011002"}}, "1,3,5,7,11,13,15,17,21,23,25,27,31,33,35,37"},
			{"ok/a subtree", audit.Filter{OrgIDs: []string{"lg-011002", "lg-131016"}, Limit: 5}, "0,1,2,3,4"},
			{"ok/next page", audit.Filter{OrgIDs: []string{"lg-011002", "lg-131016"}, Limit: 5, FromSeq: 5}, "5,6,7,8,10"},
			{"ok/time range", audit.Filter{OrgIDs: []string{"lg-131016"}, Since: t0.Add(10 * time.Second), Until: t0.Add(15 * time.Second)}, "10,12,14"},
			{"ok/all with platform entries", audit.Filter{AllOrgs: true, FromSeq: 37}, "37,38,39"},
			{"ok/unknown tenant", audit.Filter{OrgIDs: []string{"lg-999999"}}, ""},
			{"ok/action prefix, newest first", audit.Filter{OrgIDs: []string{"lg-011002"}, ActionPrefix: "env.req", Newest: true, Limit: 3}, "37,35,33"},
			{"ok/no such action", audit.Filter{AllOrgs: true, ActionPrefix: "key."}, ""},
			{"fail/no tenant is not everything", audit.Filter{OrgIDs: []string{}}, "error: audit entries are selected by organisation: name at least one"},
			{"fail/limit", audit.Filter{AllOrgs: true, Limit: 1001}, "error: limit 1001 is outside 1…1000"},
		}
		for _, tt := range tests {
			if got := seqs(tt.filter); got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
			}
		}
	})
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		filledLog(t, db, newKey(t), 30)
		var out bytes.Buffer
		n, err := audit.Export(ctx, db, &out, audit.Filter{OrgIDs: []string{"lg-131016"}, Since: t0.Add(4 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&out)
		lines := 0
		for sc.Scan() {
			lines++
			// Each line alone is enough to recompute its leaf hash.
			var r struct {
				Seq      uint64    `json:"seq"`
				LeafHash string    `json:"leaf_hash"`
				At       time.Time `json:"at"`
				Actor    string    `json:"actor"`
				Action   string    `json:"action"`
				OrgID    string    `json:"org_id"`
				Target   string    `json:"target"`
				GrantID  string    `json:"grant_id"`
				Details  string    `json:"details"`
				OrgIndex *int64    `json:"org_index"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("line %d: %v", lines, err)
			}
			if r.OrgID != "lg-131016" || r.At.Before(t0.Add(4*time.Second)) {
				t.Fatalf("line %d is outside the filter: %s", lines, sc.Bytes())
			}
			if r.OrgIndex == nil {
				t.Fatalf("line %d has no org_index: %s", lines, sc.Bytes())
			}
			leaf := specLeafHash(r.Seq, r.At.UnixMicro(), r.Actor, r.Action, r.OrgID, r.Target, r.GrantID, []byte(r.Details), *r.OrgIndex)
			if fmt.Sprintf("%x", leaf) != r.LeafHash {
				t.Fatalf("line %d: leaf hash %s, recomputed %x: %s", lines, r.LeafHash, leaf, sc.Bytes())
			}
		}
		if lines != n || n != 13 {
			t.Fatalf("export wrote %d lines and reported %d; want 13", lines, n)
		}
	})
}

// TestAuditConcurrentAppends: many writers append while integrators on two
// "replicas" run; every entry is sequenced exactly once.
func TestAuditConcurrentAppends(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		const writers, each = 16, 40
		replicas := []*audit.Log{audit.New(db, key.Signer, nil), audit.New(db, key.Signer, nil)}
		for _, l := range replicas {
			l.SetBatchSize(13)
		}
		done := make(chan struct{})
		var integrators sync.WaitGroup
		for _, l := range replicas {
			integrators.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := l.Integrate(ctx); err != nil {
						t.Errorf("integrate: %v", err)
						return
					}
				}
			})
		}
		var writersWG sync.WaitGroup
		for w := range writers {
			writersWG.Go(func() {
				for i := range each {
					err := db.InTx(ctx, func(tx *store.Tx) error {
						return audit.Append(ctx, tx, audit.Entry{Actor: fmt.Sprintf("w%d", w), Action: "test.write", Target: fmt.Sprintf("%d/%d", w, i)})
					})
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		writersWG.Wait()
		close(done)
		integrators.Wait()
		if _, err := replicas[0].Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for from := uint64(0); ; {
			recs, err := audit.Entries(ctx, db, audit.Filter{AllOrgs: true, FromSeq: from, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				seen[r.Target]++
			}
			from = recs[len(recs)-1].Seq + 1
		}
		if len(seen) != writers*each {
			t.Fatalf("%d distinct entries sequenced, want %d", len(seen), writers*each)
		}
		for target, n := range seen {
			if n != 1 {
				t.Fatalf("entry %s sequenced %d times", target, n)
			}
		}
		if rep := mustVerify(t, db, key, audit.VerifyOptions{AllSignatures: true}); !rep.OK() || rep.Size != writers*each {
			t.Fatalf("verify: %+v", rep)
		}
	})
}

func TestAuditKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.key")
	k1, created, err := audit.LoadOrCreateKey(path, testOrigin)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v); want 0600", info.Mode(), err)
	}
	k2, created, err := audit.LoadOrCreateKey(path, testOrigin)
	if err != nil || created || k2.VerifierKey != k1.VerifierKey {
		t.Fatalf("reload: %v, created %v, key %s then %s", err, created, k1.VerifierKey, k2.VerifierKey)
	}
	if !strings.HasPrefix(k1.VerifierKey, testOrigin+"+") {
		t.Fatalf("verifier key %q does not name the origin", k1.VerifierKey)
	}
	// The derived public key checks what the private key signs.
	sig, err := k1.Signer.Sign([]byte("x\n"))
	if err != nil || !k1.Verifier.Verify([]byte("x\n"), sig) {
		t.Fatalf("derived verifier rejects the signer's signature (%v)", err)
	}
	if _, err := audit.LoadKey(path, "other.example/audit"); err == nil || !strings.Contains(err.Error(), "configured origin") {
		t.Fatalf("load with another origin: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadKey(path, testOrigin); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("load of a world-readable key: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.LoadOrCreateKey(bad, testOrigin); err == nil || !strings.Contains(err.Error(), "not a signing key") {
		t.Fatalf("load of garbage: %v", err)
	}
}

// TestAuditCardConfirmation: entries appended for a request the card
// confirmed say so, next to their own details; others do not.
func TestAuditCardConfirmation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		confirmed := audit.WithCardConfirmation(ctx, "ab12")
		if err := audit.Append(confirmed, db, audit.Entry{Actor: "p-1", Action: "key.create", OrgID: "o", Target: "k1",
			Details: map[string]any{"usage": "encrypt_decrypt", "version": 1}}); err != nil {
			t.Fatal(err)
		}
		if err := audit.Append(confirmed, db, audit.Entry{Actor: "p-1", Action: "key.kill", OrgID: "o"}); err != nil {
			t.Fatal(err)
		}
		if err := audit.Append(ctx, db, audit.Entry{Actor: "p-1", Action: "key.revive", OrgID: "o"}); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.New(db, newKey(t).Signer, nil).Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := audit.Entries(ctx, db, audit.Filter{OrgIDs: []string{"o"}})
		if err != nil || len(recs) != 3 {
			t.Fatalf("entries: %v %v", recs, err)
		}
		want := []string{
			`{"card_statement_sha256":"ab12","confirmed_by":"card","usage":"encrypt_decrypt","version":1}`,
			`{"card_statement_sha256":"ab12","confirmed_by":"card"}`,
			`{}`,
		}
		for i, r := range recs {
			if r.Details != want[i] {
				t.Errorf("%s: details %s, want %s", r.Action, r.Details, want[i])
			}
		}
	})
}

// TestAuditIntegratorAfterRollback: a database restored to an older state
// (entries gone, their subtree hashes left) keeps growing, and its proofs
// verify. Only a checkpoint saved before the rollback shows it (the tamper
// test "rolled back and re-signed").
func TestAuditIntegratorAfterRollback(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key := newKey(t)
		l := audit.New(db, key.Signer, nil)
		appendEntries(t, db, 0, 300)
		if _, err := l.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM audit_entries WHERE seq >= 200`); err != nil {
			t.Fatal(err)
		}
		appendEntries(t, db, 1000, 1100)
		cp, err := l.Integrate(ctx)
		if err != nil || cp.Size != 300 {
			t.Fatalf("integrate after the rollback: size %d, %v", cp.Size, err)
		}
		if rep := mustVerify(t, db, key, audit.VerifyOptions{}); !rep.OK() {
			t.Fatalf("verify: %v", rep.Problem)
		}
		b, err := l.Bundle(ctx, audit.Filter{AllOrgs: true, FromSeq: 250, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyBundle(b, key.VerifierKey); err != nil {
			t.Fatalf("bundle after the rollback: %v", err)
		}
	})
}

// TestAuditAppendAll: a batch appended at once makes the same tree, entry
// for entry, as the same entries appended one by one, across more rows
// than one statement carries; one invalid entry refuses the whole batch.
func TestAuditAppendAll(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		entries := make([]audit.Entry, 150)
		for i := range entries {
			entries[i] = testEntry(i)
		}
		bad := append(slices.Clone(entries[:3]), audit.Entry{Actor: "p1", Action: "Not.An.Action"})
		err := db.InTx(ctx, func(tx *store.Tx) error { return audit.AppendAll(ctx, tx, bad) })
		if fe, ok := fault.As(err); !ok || fe.Kind != fault.Invalid || fe.Field != "action" {
			t.Fatalf("AppendAll with an invalid entry: %v; want an invalid action", err)
		}
		if n, err := audit.Pending(ctx, db); err != nil || n != 0 {
			t.Fatalf("after a refused batch: %d pending (%v); want none", n, err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return audit.AppendAll(ctx, tx, entries) }); err != nil {
			t.Fatal(err)
		}
		key := newKey(t)
		got, err := audit.New(db, key.Signer, nil).Integrate(ctx)
		if err != nil {
			t.Fatal(err)
		}

		one := storetest.Open(t, db.Dialect())
		appendEntries(t, one, 0, len(entries))
		want, err := audit.New(one, key.Signer, nil).Integrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != uint64(len(entries)) || !bytes.Equal(got.Root, want.Root) {
			t.Fatalf("AppendAll: size %d root %x; one by one: size %d root %x", got.Size, got.Root, want.Size, want.Root)
		}
	})
}
