package audit

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// The tiler's tiles are the tiles of an independent implementation: Go's
// checksum database's tlog package (the design C2SP tlog-tiles writes
// down), whose tiles of height 8 hold the same hashes and whose paths are
// C2SP's with the height ("tile/8/…") and "data" for "entries".
func TestTilerMatchesSumdbTlog(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 255, 256, 257, 600, 65536 + 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			files := map[string][]byte{}
			tl := newTiler(func(path string, data []byte) error {
				if _, dup := files[path]; dup {
					return fmt.Errorf("%s written twice", path)
				}
				files[path] = bytes.Clone(data)
				return nil
			})
			var hashes []tlog.Hash // by storage index
			var entries [][]byte
			for i := range n {
				data := fmt.Appendf(nil, "entry %d", i)
				entries = append(entries, data)
				if _, err := tl.add(data); err != nil {
					t.Fatal(err)
				}
				hs, err := tlog.StoredHashes(i, data, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
					out := make([]tlog.Hash, len(idx))
					for j, x := range idx {
						out[j] = hashes[x]
					}
					return out, nil
				}))
				if err != nil {
					t.Fatal(err)
				}
				hashes = append(hashes, hs...)
			}
			size, root, err := tl.finish()
			if err != nil {
				t.Fatal(err)
			}
			reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				out := make([]tlog.Hash, len(idx))
				for j, x := range idx {
					out[j] = hashes[x]
				}
				return out, nil
			})
			want, err := tlog.TreeHash(n, reader)
			if err != nil {
				t.Fatal(err)
			}
			if size != uint64(n) || !bytes.Equal(root, want[:]) {
				t.Fatalf("root of %d: %x, tlog says %x", n, root, want)
			}
			seen := 0
			for _, tile := range tlog.NewTiles(8, 0, n) {
				data, err := tlog.ReadTileData(tile, reader)
				if err != nil {
					t.Fatal(err)
				}
				path := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
				if !bytes.Equal(files[path], data) {
					t.Errorf("%s: %d bytes, tlog's tile has %d", path, len(files[path]), len(data))
				}
				seen++
				if tile.L != 0 {
					continue
				}
				dataPath := strings.Replace(strings.Replace(tile.Path(), "tile/8/0/", "tile/entries/", 1), "tile/8/", "tile/", 1)
				bundle, err := ParseEntryBundle(files[dataPath])
				if err != nil || len(bundle) != tile.W {
					t.Fatalf("%s: %d entries, %v; want %d", dataPath, len(bundle), err, tile.W)
				}
				for j, e := range bundle {
					if !bytes.Equal(e, entries[int(tile.N)*256+j]) {
						t.Fatalf("%s: entry %d differs", dataPath, j)
					}
				}
				seen++
			}
			if seen != len(files) {
				t.Errorf("the tiler wrote %d files, tlog names %d", len(files), seen)
			}
		})
	}
}

func TestTilePath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		level int
		n     uint64
		w     int
		want  string
	}{
		{0, 0, 256, "tile/0/000"},
		{0, 1234067, 256, "tile/0/x001/x234/067"},
		{1, 1000, 256, "tile/1/x001/000"},
		{2, 5, 3, "tile/2/005.p/3"},
		{0, 999, 255, "tile/0/999.p/255"},
	} {
		if got := TilePath(tt.level, tt.n, tt.w); got != tt.want {
			t.Errorf("TilePath(%d, %d, %d) = %s; want %s", tt.level, tt.n, tt.w, got, tt.want)
		}
	}
	if got := EntriesPath(1234067, 7); got != "tile/entries/x001/x234/067.p/7" {
		t.Errorf("EntriesPath = %s", got)
	}
}
