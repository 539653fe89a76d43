// Package backup makes hatoba's own backups and proves they restore: a
// consistent snapshot of the database (every table, the audit log with its
// signed checkpoints, the key service's wrapped material) and the
// configuration without secrets, as one signed manifest with checksums,
// sealed under a data key that hatoba's own key service wraps (envelope
// encryption), uploaded to an S3-compatible bucket on the domestic tier
// with Object Lock; the restore into an empty database that refuses what
// does not match; and the restore drill that measures RTO and RPO
// (docs/backup.md).
package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Format names the layout of a backup; a restore refuses another.
const Format = "hatoba-backup/1"

// KeyID is the platform key whose versions wrap backups' data keys.
const KeyID = "hatoba-backup"

// The objects of one backup, under "<prefix><id>/".
const (
	manifestObject  = "manifest.json"
	signatureObject = "manifest.sig"
	dataObject      = "data.sealed"
	keysObject      = "keys.jsonl.gz"
)

// ErrNotFound: no such backup or object on the target.
var ErrNotFound = &fault.Error{Kind: fault.NotFound, Message: "no such backup"}

// Manifest describes one backup. It is stored beside the objects it names
// and signed with the audit log's key (manifest.sig).
type Manifest struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Source    Source    `json:"source"`
	// Audit is the log's latest signed checkpoint in the snapshot: a
	// restored log must verify and contain it.
	Audit AuditHead `json:"audit"`
	// Key is the key service's key that wraps the data key.
	Key     KeyRef     `json:"key"`
	Objects []Object   `json:"objects"`
	Tables  []TableSum `json:"tables"`
}

// Source is where a backup came from.
type Source struct {
	Dialect       string `json:"dialect"`
	SchemaVersion int    `json:"schema_version"`
	Hatoba        string `json:"hatoba"`
}

// AuditHead is the audit log's head in a backup.
type AuditHead struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Checkpoint string `json:"checkpoint,omitempty"` // the signed note
	Pending    int64  `json:"pending"`
}

// KeyRef names the key service key and its version that wrapped the data
// key, and carries the wrapped data key (metadata ‖ IV ‖ ciphertext ‖ tag).
type KeyRef struct {
	Org        string `json:"org"`
	ID         string `json:"id"`
	Version    int    `json:"version"`
	WrappedKey []byte `json:"wrapped_key"`
}

// Object is one stored object of a backup.
type Object struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"` // the target's version id
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Sealed  bool   `json:"sealed"`
}

func (m Manifest) object(name string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// Target is where backups are kept; *S3 is the one hatoba ships.
type Target interface {
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, now time.Time) (version string, err error)
	Get(ctx context.Context, key, version string) (io.ReadCloser, error)
	Backups(ctx context.Context) ([]string, error)
	String() string
}

// KeyService wraps and unwraps data keys: *keys.Service.
type KeyService interface {
	EnsurePlatformKey(ctx context.Context, id string) error
	GenerateDataKey(ctx context.Context, org, keyID string, size int, aad []byte) (keys.DataKey, error)
	Decrypt(ctx context.Context, org, keyID string, c keys.Ciphertext, aad []byte) ([]byte, error)
}

// Service makes backups, restores them and runs drills.
type Service struct {
	DB     *store.DB
	Keys   KeyService
	Target Target
	// Signer signs manifests and Verifier checks them: the audit log's key,
	// whose public half auditors already hold.
	Signer   note.Signer
	Verifier note.Verifier
	// Origin is the audit log's origin (its checkpoints' first line).
	Origin string
	// Config is the configuration as YAML without secrets (RedactConfig).
	Config []byte
	// Version is hatoba's version, recorded in the manifest.
	Version string
	Now     func() time.Time
	Logger  *slog.Logger
	// TempDir holds the sealed data while it is uploaded; "" means the
	// system's.
	TempDir string
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Result is what a backup produced.
type Result struct {
	Manifest Manifest
	Bytes    int64
	Took     time.Duration
}

// dataKeyAAD binds a wrapped data key to its backup.
func dataKeyAAD(id string) []byte { return []byte("hatoba backup data key " + id) }

// Backup takes a snapshot and uploads it. id names it; "" makes one from
// the time.
func (s *Service) Backup(ctx context.Context, id string) (Result, error) {
	start := s.now()
	if id == "" {
		id = NewID(start)
	}
	if err := s.Keys.EnsurePlatformKey(ctx, KeyID); err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	dk, err := s.Keys.GenerateDataKey(ctx, keys.PlatformOrg, KeyID, 32, dataKeyAAD(id))
	if err != nil {
		return Result{}, fmt.Errorf("backup %s: data key: %w", id, err)
	}
	defer clear(dk.Plaintext)
	m := Manifest{Format: Format, ID: id, CreatedAt: start, Source: Source{Dialect: string(s.DB.Dialect()), Hatoba: s.Version},
		Key: KeyRef{Org: keys.PlatformOrg, ID: KeyID, Version: dk.Encrypted.Version, WrappedKey: joinCiphertext(dk.Encrypted)}}

	dataFile, err := os.CreateTemp(s.TempDir, "hatoba-backup-data-*")
	if err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	defer os.Remove(dataFile.Name())
	defer dataFile.Close()
	keysFile, err := os.CreateTemp(s.TempDir, "hatoba-backup-keys-*")
	if err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	defer os.Remove(keysFile.Name())
	defer keysFile.Close()

	dataHash, keysHash := sha256.New(), sha256.New()
	sealer, err := newSealWriter(io.MultiWriter(dataFile, dataHash), dk.Plaintext, []byte(id))
	if err != nil {
		return Result{}, err
	}
	dataZ := gzip.NewWriter(sealer)
	dataW := bufio.NewWriterSize(dataZ, 1<<16)
	keysZ := gzip.NewWriter(io.MultiWriter(keysFile, keysHash))
	keysW := bufio.NewWriterSize(keysZ, 1<<16)

	if err := s.snapshot(ctx, &m, dataW, keysW); err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	for _, c := range []io.Closer{flusher{dataW}, dataZ, sealer, flusher{keysW}, keysZ} {
		if err := c.Close(); err != nil {
			return Result{}, fmt.Errorf("backup %s: %w", id, err)
		}
	}
	var total int64
	for _, part := range []struct {
		name   string
		f      *os.File
		sum    []byte
		sealed bool
	}{{dataObject, dataFile, dataHash.Sum(nil), true}, {keysObject, keysFile, keysHash.Sum(nil), false}} {
		size, err := part.f.Seek(0, io.SeekEnd)
		if err != nil {
			return Result{}, err
		}
		if _, err := part.f.Seek(0, io.SeekStart); err != nil {
			return Result{}, err
		}
		v, err := s.Target.Put(ctx, id+"/"+part.name, part.f, size, start)
		if err != nil {
			return Result{}, fmt.Errorf("backup %s: %w", id, err)
		}
		m.Objects = append(m.Objects, Object{Name: part.name, Version: v, Size: size, SHA256: hex.EncodeToString(part.sum), Sealed: part.sealed})
		total += size
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, err
	}
	mj = append(mj, '\n')
	sig, err := signManifest(s.Signer, id, mj)
	if err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	// The manifest first, the signature last: a backup is listed (by its
	// signature object) only once it is whole.
	if _, err := s.Target.Put(ctx, id+"/"+manifestObject, newBytesReader(mj), int64(len(mj)), start); err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	if _, err := s.Target.Put(ctx, id+"/"+signatureObject, newBytesReader(sig), int64(len(sig)), start); err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", id, err)
	}
	total += int64(len(mj) + len(sig))
	took := s.now().Sub(start)
	s.log().Info("backup written", "id", id, "target", s.Target.String(), "bytes", total, "took", took)
	return Result{Manifest: m, Bytes: total, Took: took}, nil
}

type flusher struct{ w *bufio.Writer }

func (f flusher) Close() error { return f.w.Flush() }

// snapshot writes every table, the configuration and the audit head, all
// read in one snapshot transaction.
func (s *Service) snapshot(ctx context.Context, m *Manifest, data, keyPart *bufio.Writer) error {
	return s.DB.ReadSnapshot(ctx, func(tx *store.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		m.Source.SchemaVersion = v
		cp, err := audit.LatestCheckpoint(ctx, tx, s.Origin)
		if err != nil {
			return err
		}
		m.Audit = AuditHead{Origin: s.Origin, Size: cp.Size, Checkpoint: string(cp.Note)}
		if m.Audit.Pending, err = audit.Pending(ctx, tx); err != nil {
			return err
		}
		tables, err := readCatalog(ctx, tx)
		if err != nil {
			return err
		}
		cfg, _ := json.Marshal(struct {
			Config string `json:"config"`
		}{string(s.Config)})
		if _, err := data.Write(append(cfg, '\n')); err != nil {
			return err
		}
		for _, t := range tables {
			w := data
			if keyTables[t.Name] {
				w = keyPart
			}
			sum, err := dumpTable(ctx, tx, t, w)
			if err != nil {
				return err
			}
			m.Tables = append(m.Tables, sum)
		}
		return nil
	})
}

// NewID names a backup by its time: ids sort in time order.
func NewID(t time.Time) string {
	return t.UTC().Format("20060102T150405.000000Z")
}

func joinCiphertext(c keys.Ciphertext) []byte {
	out := make([]byte, 0, len(c.Metadata)+len(c.IV)+len(c.Ciphertext)+len(c.Tag))
	return append(append(append(append(out, c.Metadata...), c.IV...), c.Ciphertext...), c.Tag...)
}

func splitCiphertext(b []byte) (keys.Ciphertext, error) {
	const meta, iv, tag = 5, 12, 16
	if len(b) < meta+iv+tag {
		return keys.Ciphertext{}, errors.New("the wrapped data key is too short")
	}
	return keys.Ciphertext{Metadata: b[:meta], IV: b[meta : meta+iv], Ciphertext: b[meta+iv : len(b)-tag], Tag: b[len(b)-tag:]}, nil
}
