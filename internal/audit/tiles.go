package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The log as C2SP tlog tiles (https://c2sp.org/tlog-tiles), for an export:
// any tlog-tiles client reads it with nothing but the log's public key.
//
//	checkpoint              the signed checkpoint (c2sp.org/tlog-checkpoint)
//	tile/<L>/<N>[.p/<W>]    the hashes of tree level 8·L, 256 to a full tile
//	tile/entries/<N>[.p/<W>] the entries, each a big-endian uint16 length
//	                        and its canonical encoding (docs/audit.md)
//
// An entry's leaf hash is the RFC 6962 leaf hash of those bytes, as it
// always was: the tiles are the same tree, laid out for static serving.
// The hashes above the leaves come from the integrator's compact range
// (rangeFactory), fed the entries again in order.

// tileWidth is the number of hashes or entries in a full tile (height 8).
const tileWidth = 1 << 8

// maxEntryLen bounds an entry's encoding: five text fields of at most
// maxIDLen bytes, the details and the fixed parts fit a uint16 length.
const maxEntryLen = math.MaxUint16

// TilePath is the C2SP path of tile n at level, w hashes wide (tileWidth
// for a full tile): "tile/<L>/<N>[.p/<W>]"; N is written in groups of
// three digits, all but the last prefixed with "x" (1234067 →
// x001/x234/067).
func TilePath(level int, n uint64, w int) string {
	return "tile/" + strconv.Itoa(level) + "/" + tileIndex(n, w)
}

// EntriesPath is the C2SP path of entry bundle n, w entries wide.
func EntriesPath(n uint64, w int) string { return "tile/entries/" + tileIndex(n, w) }

func tileIndex(n uint64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	if w < tileWidth {
		s += ".p/" + strconv.Itoa(w)
	}
	return s
}

// tiler turns entries, in seq order, into tiles: put receives each full
// tile as it fills and, at finish, the partial ones.
type tiler struct {
	rng     *compact.Range
	put     func(path string, data []byte) error
	levels  [][]byte // the hashes of the unfinished tile of each level
	entries []byte   // the unfinished entry bundle
	n       uint64   // entries so far
	err     error
}

func newTiler(put func(string, []byte) error) *tiler {
	return &tiler{rng: rangeFactory.NewEmptyRange(0), put: put}
}

// add appends the entry encoded as data and returns its leaf hash.
func (t *tiler) add(data []byte) ([]byte, error) {
	if len(data) > maxEntryLen {
		return nil, fmt.Errorf("entry %d is %d bytes, more than a tile entry holds", t.n, len(data))
	}
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(data)
	leaf := h.Sum(nil)
	t.entries = binary.BigEndian.AppendUint16(t.entries, uint16(len(data)))
	t.entries = append(t.entries, data...)
	t.n++
	if t.n%tileWidth == 0 {
		if err := t.put(EntriesPath(t.n/tileWidth-1, tileWidth), t.entries); err != nil {
			return nil, err
		}
		t.entries = t.entries[:0]
	}
	if err := t.rng.Append(leaf, t.visit); err != nil {
		return nil, err
	}
	return leaf, t.err
}

// visit collects the hashes of levels 0, 8, 16 …: the tiles' levels.
func (t *tiler) visit(id compact.NodeID, hash []byte) {
	if id.Level%8 != 0 || t.err != nil {
		return
	}
	level := int(id.Level / 8)
	for len(t.levels) <= level {
		t.levels = append(t.levels, nil)
	}
	t.levels[level] = append(t.levels[level], hash...)
	if len(t.levels[level]) == tileWidth*sha256.Size {
		t.err = t.put(TilePath(level, id.Index/tileWidth, tileWidth), t.levels[level])
		t.levels[level] = t.levels[level][:0]
	}
}

// finish writes the partial tiles and returns the tree's size and root.
func (t *tiler) finish() (uint64, []byte, error) {
	if t.err != nil {
		return 0, nil, t.err
	}
	if w := int(t.n % tileWidth); w > 0 {
		if err := t.put(EntriesPath(t.n/tileWidth, w), t.entries); err != nil {
			return 0, nil, err
		}
	}
	for level, hashes := range t.levels {
		if w := len(hashes) / sha256.Size; w > 0 {
			if err := t.put(TilePath(level, (t.n>>(8*level))/tileWidth, w), hashes); err != nil {
				return 0, nil, err
			}
		}
	}
	if t.n == 0 {
		return 0, emptyRoot, nil
	}
	root, err := t.rng.GetRootHash(nil)
	return t.n, root, err
}

// WriteTiles writes the tree of checkpoint cp as C2SP tlog tiles through
// put: the entries' bundles, the hashes of every level and the signed
// checkpoint. It reads the entries of q in one pass and refuses to write
// a tree that is not the checkpoint's (an entry that does not hash to its
// stored leaf, a root that differs): run hatoba audit verify.
func WriteTiles(ctx context.Context, q store.Querier, cp Checkpoint, put func(path string, data []byte) error) error {
	if cp.Size == 0 || cp.Note == nil {
		return fault.Invalidf("audit tiles: the empty log has no tiles")
	}
	t := newTiler(put)
	var buf []byte
	err := eachEntry(ctx, q, Filter{AllOrgs: true}, cp.Size, 0, false, func(e storedEntry) error {
		if uint64(e.seq) != t.n {
			return fmt.Errorf("audit tiles: entry %d is missing (run hatoba audit verify)", t.n)
		}
		buf = e.encode(buf[:0], t.n)
		leaf, err := t.add(buf)
		if err != nil {
			return fmt.Errorf("audit tiles: %w", err)
		}
		if !bytes.Equal(leaf, e.leaf) {
			return fmt.Errorf("audit tiles: entry %d does not hash to its stored leaf hash (run hatoba audit verify)", e.seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	size, root, err := t.finish()
	if err != nil {
		return fmt.Errorf("audit tiles: %w", err)
	}
	if size != cp.Size || !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("audit tiles: the entries give a tree of %d with another root than the checkpoint of %d (run hatoba audit verify)", size, cp.Size)
	}
	return put("checkpoint", cp.Note)
}

// TilesReport is what VerifyTiles proved.
type TilesReport struct {
	Checkpoint Checkpoint
	// Files are the paths it read and found to be the tree's, the
	// checkpoint included.
	Files []string
}

// maxTileFile bounds a tile or bundle read from outside: a full entry
// bundle of the largest entries.
const maxTileFile = tileWidth * (2 + maxEntryLen)

// VerifyTiles checks a C2SP tlog-tiles tree offline (outside input: an
// export's audit/tiles): the checkpoint must be signed by v; the entry
// bundles must hold the checkpoint's entries, in order, each a well-formed
// entry of this log at its seq; every tile at every level must be the
// hashes those entries give; and the root they give must be the
// checkpoint's. each, if not nil, receives every entry, to compare with a
// copy (the export's entries.jsonl).
func VerifyTiles(fsys fs.FS, v note.Verifier, each func(Record) error) (TilesReport, error) {
	msg, err := readTile(fsys, "checkpoint", 64<<10)
	if err != nil {
		return TilesReport{}, err
	}
	cp, err := ParseCheckpoint(msg, v)
	if err != nil {
		return TilesReport{}, err
	}
	rep := TilesReport{Checkpoint: cp, Files: []string{"checkpoint"}}
	t := newTiler(func(path string, want []byte) error {
		got, err := readTile(fsys, path, maxTileFile)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fault.Invalidf("audit tiles: %s is not the tree the entries give: a tile was altered", path)
		}
		rep.Files = append(rep.Files, path)
		return nil
	})
	for n := uint64(0); n*tileWidth < cp.Size; n++ {
		w := int(min(cp.Size-n*tileWidth, tileWidth))
		path := EntriesPath(n, w)
		data, err := readTile(fsys, path, maxTileFile)
		if err != nil {
			return rep, err
		}
		entries, err := ParseEntryBundle(data)
		if err != nil {
			return rep, fault.Invalidf("audit tiles: %s: %v", path, err)
		}
		if len(entries) != w {
			return rep, fault.Invalidf("audit tiles: %s holds %d entries, not %d", path, len(entries), w)
		}
		for _, data := range entries {
			seq := t.n
			r, err := ParseLeaf(data)
			if err != nil {
				return rep, fault.Invalidf("audit tiles: entry %d: %v", seq, err)
			}
			if r.Seq != seq {
				return rep, fault.Invalidf("audit tiles: entry %d is encoded as entry %d: entries were moved", seq, r.Seq)
			}
			if _, err := t.add(data); err != nil {
				return rep, err
			}
			if each != nil {
				if err := each(r); err != nil {
					return rep, err
				}
			}
		}
	}
	size, root, err := t.finish()
	if err != nil {
		return rep, err
	}
	if size != cp.Size || !bytes.Equal(root, cp.Root) {
		return rep, fault.Invalidf("audit tiles: the entries do not reproduce the checkpoint's root of %d entries", cp.Size)
	}
	return rep, nil
}

func readTile(fsys fs.FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fault.Invalidf("audit tiles: %s is missing: %v", path, err)
	}
	defer f.Close() //nolint:errcheck // read only
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("audit tiles: %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fault.Invalidf("audit tiles: %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// ParseEntryBundle splits an entry bundle (outside input) into its
// entries: each a big-endian uint16 length and that many bytes, at most
// tileWidth of them, nothing after the last.
func ParseEntryBundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(out) == tileWidth {
			return nil, fmt.Errorf("more than %d entries", tileWidth)
		}
		if len(data) < 2 {
			return nil, errors.New("a truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < n {
			return nil, fmt.Errorf("entry %d is truncated: %d of %d bytes", len(out), len(data)-2, n)
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}

// ParseLeaf reads an entry's canonical encoding (appendLeaf; outside
// input: an entry bundle) back into a Record, its leaf hash included. It
// accepts only what Append could have written: the v1 or v2 prefix, text
// fields within their limits in UTF-8 without control characters, details
// a JSON object within its limit, and no byte after the last field.
func ParseLeaf(data []byte) (Record, error) {
	rest, ok := bytes.CutPrefix(data, []byte(leafPrefixV2))
	v2 := ok
	if !ok {
		if rest, ok = bytes.CutPrefix(data, []byte(leafPrefixV1)); !ok {
			return Record{}, errors.New("not a hatoba audit entry (no hatoba.audit.v1 or v2 prefix)")
		}
	}
	u64 := func(what string) (uint64, error) {
		if len(rest) < 8 {
			return 0, fmt.Errorf("truncated at %s", what)
		}
		v := binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		return v, nil
	}
	field := func(what string, limit int) (string, error) {
		if len(rest) < 4 {
			return "", fmt.Errorf("truncated at %s", what)
		}
		n := binary.BigEndian.Uint32(rest)
		if n > uint32(limit) || int(n) > len(rest)-4 {
			return "", fmt.Errorf("%s has a bad length %d", what, n)
		}
		s := string(rest[4 : 4+n])
		rest = rest[4+n:]
		return s, nil
	}
	var r Record
	var err error
	if r.Seq, err = u64("seq"); err != nil {
		return Record{}, err
	}
	at, err := u64("time")
	if err != nil {
		return Record{}, err
	}
	r.At = time.UnixMicro(int64(at)).UTC()
	texts := []*string{&r.Actor, &r.Action, &r.OrgID, &r.Target, &r.GrantID}
	for i, name := range []string{"actor", "action", "org_id", "target", "grant_id"} {
		if *texts[i], err = field(name, maxIDLen); err != nil {
			return Record{}, err
		}
	}
	if r.Details, err = field("details", maxDetailsLen); err != nil {
		return Record{}, err
	}
	if v2 {
		idx, err := u64("org_index")
		if err != nil {
			return Record{}, err
		}
		if idx > math.MaxInt64 {
			return Record{}, fmt.Errorf("org_index %d is beyond any log", idx)
		}
		r.OrgIndex = &idx
	}
	if len(rest) > 0 {
		return Record{}, fmt.Errorf("%d bytes after the last field", len(rest))
	}
	c := content{actor: r.Actor, action: r.Action, orgID: r.OrgID, target: r.Target, grantID: r.GrantID}
	if err := c.validate(); err != nil {
		return Record{}, err
	}
	if canon, err := canonicalDetails([]byte(r.Details)); err != nil || string(canon) != r.Details {
		return Record{}, errors.New("details are not a JSON object in the log's canonical form")
	}
	h := sha256.Sum256(append([]byte{rfc6962.RFC6962LeafHashPrefix}, data...))
	r.LeafHash = h[:]
	return r, nil
}
