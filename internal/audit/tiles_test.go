package audit_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// tiledLog writes a log of n entries as tiles into a map file system.
func tiledLog(t testing.TB, db *store.DB, key audit.Key, n int) (fstest.MapFS, audit.Checkpoint) {
	t.Helper()
	l := filledLog(t, db, key, n)
	cp, err := audit.LatestCheckpoint(context.Background(), db, l.Origin())
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	err = audit.WriteTiles(context.Background(), db, cp, func(path string, data []byte) error {
		fsys[path] = &fstest.MapFile{Data: bytes.Clone(data)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys, cp
}

// The log's tiles reproduce its signed checkpoint and every entry as the
// log holds it, on both databases.
func TestTilesRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := newKey(t)
		fsys, cp := tiledLog(t, db, key, 300)
		want, err := audit.Entries(context.Background(), db, audit.Filter{AllOrgs: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []audit.Record
		rep, err := audit.VerifyTiles(fsys, key.Verifier, func(r audit.Record) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if rep.Checkpoint.Size != 300 || !bytes.Equal(rep.Checkpoint.Root, cp.Root) {
			t.Fatalf("verified a checkpoint of %d, want the log's of 300", rep.Checkpoint.Size)
		}
		// 300 entries: a full and a partial tile of entries and of leaf
		// hashes, a partial level-1 tile of one hash, and the checkpoint.
		for _, p := range []string{"checkpoint", "tile/entries/000", "tile/entries/001.p/44", "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"} {
			if _, ok := fsys[p]; !ok {
				t.Errorf("%s is missing; have %v", p, keys(fsys))
			}
		}
		if len(rep.Files) != len(fsys) {
			t.Errorf("verified %d files of %d", len(rep.Files), len(fsys))
		}
		if len(got) != len(want) {
			t.Fatalf("%d entries from the tiles, %d in the log", len(got), len(want))
		}
		for i := range want {
			a, b := got[i], want[i]
			if a.Seq != b.Seq || !bytes.Equal(a.LeafHash, b.LeafHash) || !a.At.Equal(b.At) || a.Actor != b.Actor || a.Details != b.Details ||
				a.OrgID != b.OrgID || *a.OrgIndex != *b.OrgIndex {
				t.Fatalf("entry %d from the tiles %+v; the log has %+v", i, a, b)
			}
		}
	})
}

func keys(fsys fstest.MapFS) []string {
	var out []string
	for k := range fsys {
		out = append(out, k)
	}
	return out
}

// Every alteration of the tiles is found.
func TestTilesTampered(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	key := newKey(t)
	other := newKey(t)
	fsys, _ := tiledLog(t, db, key, 300)
	clone := func() fstest.MapFS {
		out := fstest.MapFS{}
		for k, v := range fsys {
			out[k] = &fstest.MapFile{Data: bytes.Clone(v.Data)}
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		change func(fstest.MapFS)
		want   string
	}{
		{"fail/a leaf hash flipped", func(f fstest.MapFS) { f["tile/0/000"].Data[5] ^= 1 }, "tile/0/000 is not the tree"},
		{"fail/a level-1 hash flipped", func(f fstest.MapFS) { f["tile/1/000.p/1"].Data[0] ^= 1 }, "tile/1/000.p/1 is not the tree"},
		{"fail/an entry's byte changed", func(f fstest.MapFS) {
			d := f["tile/entries/000"].Data
			i := bytes.Index(d, []byte("env-0003"))
			d[i+7] = '9'
		}, "is not the tree"},
		{"fail/a partial tile missing", func(f fstest.MapFS) { delete(f, "tile/0/001.p/44") }, "missing"},
		{"fail/an entry bundle missing", func(f fstest.MapFS) { delete(f, "tile/entries/001.p/44") }, "missing"},
		{"fail/an entry dropped from a bundle", func(f fstest.MapFS) {
			d := f["tile/entries/001.p/44"].Data
			n := int(binary.BigEndian.Uint16(d))
			f["tile/entries/001.p/44"].Data = d[2+n:]
		}, "holds 43 entries"},
		{"fail/entries swapped", func(f fstest.MapFS) {
			d := f["tile/entries/000"].Data
			n := int(binary.BigEndian.Uint16(d))
			m := int(binary.BigEndian.Uint16(d[2+n:]))
			first, second := bytes.Clone(d[:2+n]), bytes.Clone(d[2+n:4+n+m])
			copy(d, second)
			copy(d[len(second):], first)
		}, "encoded as entry"},
		{"fail/the checkpoint altered", func(f fstest.MapFS) {
			f["checkpoint"].Data = bytes.Replace(f["checkpoint"].Data, []byte("\n300\n"), []byte("\n299\n"), 1)
		}, "does not verify"},
		{"fail/the checkpoint missing", func(f fstest.MapFS) { delete(f, "checkpoint") }, "missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := clone()
			tt.change(f)
			_, err := audit.VerifyTiles(f, key.Verifier, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want one saying %q", err, tt.want)
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("err kind %v, want invalid", fault.KindOf(err))
			}
		})
	}
	if _, err := audit.VerifyTiles(fsys, other.Verifier, nil); err == nil {
		t.Error("tiles verified with another log's key")
	}
	var _ fs.FS = fsys
}

// FuzzParseLeaf feeds arbitrary bytes to ParseLeaf, which reads entries
// from an export's tiles: it must not panic, and what it accepts must be
// an entry whose fields encode back to exactly those bytes (docs/audit.md's
// specification, computed by specLeafHash).
func FuzzParseLeaf(f *testing.F) {
	db := storetest.Open(f, store.SQLite)
	fsys, _ := tiledLog(f, db, newKey(f), 3)
	bundle, err := audit.ParseEntryBundle(fsys["tile/entries/000.p/3"].Data)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range bundle {
		f.Add(e)
	}
	f.Add([]byte("hatoba.audit.v1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := audit.ParseLeaf(data)
		if err != nil {
			return
		}
		idx := int64(-1)
		if r.OrgIndex != nil {
			idx = int64(*r.OrgIndex)
		}
		want := specLeafHash(r.Seq, r.At.UnixMicro(), r.Actor, r.Action, r.OrgID, r.Target, r.GrantID, []byte(r.Details), idx)
		if !bytes.Equal(r.LeafHash, want) {
			t.Fatalf("accepted %q as %+v, whose encoding differs", data, r)
		}
	})
}

// FuzzParseEntryBundle: whatever it accepts re-encodes to the same bytes.
func FuzzParseEntryBundle(f *testing.F) {
	f.Add([]byte{0, 1, 'a', 0, 0})
	f.Add([]byte{0, 5, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := audit.ParseEntryBundle(data)
		if err != nil {
			return
		}
		var back []byte
		for _, e := range entries {
			back = binary.BigEndian.AppendUint16(back, uint16(len(e)))
			back = append(back, e...)
		}
		if !bytes.Equal(back, data) || len(entries) > 256 {
			t.Fatalf("%x parsed into %d entries that encode as %x", data, len(entries), back)
		}
	})
}
