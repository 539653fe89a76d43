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
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Reason says why a restore refused a backup.
type Reason string

const (
	ReasonSignature Reason = "signature" // the manifest is not signed by the audit log's key
	ReasonChecksum  Reason = "checksum"  // an object or the manifest does not match its checksum
	ReasonKey       Reason = "key"       // the data key does not open with this key service
	ReasonFormat    Reason = "format"    // not a backup this hatoba reads
	ReasonNotEmpty  Reason = "not-empty" // the target database already holds data
)

// RefusedError is a restore that refused its backup: nothing was restored
// from it (a partial load is rolled back or removed).
type RefusedError struct {
	Reason  Reason
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("restore refused (%s): %s", e.Reason, e.Message)
}

func refused(r Reason, format string, args ...any) error {
	return &RefusedError{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// maxManifest bounds the manifest and signature read from the target.
const maxManifest = 16 << 20

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	// ID is the backup; "" means the newest on the target.
	ID string
	// Into is the empty database to restore into.
	Into *store.DB
	// OpenKeys returns the key service that unwraps the data key. It is
	// called once the key service's tables are in Into: a restore hands a
	// keys.Service over Into that custodians unseal; a drill hands the
	// running service.
	OpenKeys func(ctx context.Context, into *store.DB) (KeyService, error)
}

// RestoreReport says what a restore found.
type RestoreReport struct {
	Manifest Manifest
	Rows     int64
	Took     time.Duration
	// Config is the configuration stored in the backup (without secrets).
	Config string
	// Audit is the restored log's verification against the manifest's
	// checkpoint.
	Audit audit.Report
	// Mismatches lists the tables whose restored rows differ from the
	// manifest's count or checksum; empty when the restore is exact.
	Mismatches []string
}

// OK reports whether the restored database is the backup, whole.
func (r RestoreReport) OK() bool { return r.Audit.OK() && len(r.Mismatches) == 0 }

// Newest returns the id of the newest backup on the target.
func (s *Service) Newest(ctx context.Context) (string, error) {
	ids, err := s.Target.Backups(ctx)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("backup target %s holds no backup: %w", s.Target, ErrNotFound)
	}
	return ids[len(ids)-1], nil
}

// Manifest fetches and verifies a backup's manifest: its signature by the
// audit log's key.
func (s *Service) Manifest(ctx context.Context, id string) (Manifest, error) {
	mj, err := s.fetchSmall(ctx, id+"/"+manifestObject)
	if err != nil {
		return Manifest{}, err
	}
	sig, err := s.fetchSmall(ctx, id+"/"+signatureObject)
	if err != nil {
		return Manifest{}, err
	}
	if err := checkSignature(s.Verifier, id, mj, sig); err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(mj, &m); err != nil {
		return Manifest{}, refused(ReasonFormat, "the manifest of %s is not JSON: %v", id, err)
	}
	if m.Format != Format {
		return Manifest{}, refused(ReasonFormat, "backup %s is in format %q; this hatoba reads %q", id, m.Format, Format)
	}
	if m.ID != id {
		return Manifest{}, refused(ReasonChecksum, "the manifest stored as %s names backup %s", id, m.ID)
	}
	return m, nil
}

func (s *Service) fetchSmall(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.Target.Get(ctx, key, "")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(b) > maxManifest {
		return nil, refused(ReasonFormat, "%s is larger than %d bytes", key, maxManifest)
	}
	return b, nil
}

// Restore restores a backup into an empty database, then verifies it: the
// audit log against the manifest's checkpoint, every table's count and
// checksum against the manifest's.
func (s *Service) Restore(ctx context.Context, opts RestoreOptions) (RestoreReport, error) {
	start := s.now()
	id := opts.ID
	if id == "" {
		var err error
		if id, err = s.Newest(ctx); err != nil {
			return RestoreReport{}, err
		}
	}
	m, err := s.Manifest(ctx, id)
	if err != nil {
		return RestoreReport{}, err
	}
	rep := RestoreReport{Manifest: m}
	if want := store.Latest(); m.Source.SchemaVersion != want {
		return rep, refused(ReasonFormat, "backup %s has schema version %d; this hatoba's is %d: restore it with hatoba %s",
			id, m.Source.SchemaVersion, want, m.Source.Hatoba)
	}
	into := opts.Into
	if err := checkEmpty(ctx, into); err != nil {
		return rep, err
	}
	if _, err := into.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("restore %s: %w", id, err)
	}
	tables, err := readCatalog(ctx, into)
	if err != nil {
		return rep, err
	}
	byName := map[string]tableInfo{}
	for _, t := range tables {
		byName[t.Name] = t
	}

	// The key service's tables first, in their own transaction, so the
	// key service (over this database, or the running one) can open the
	// data key.
	var loaded []tableInfo
	err = s.loadObject(ctx, into, m, keysObject, nil, func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		byName, nil, nil, &rep.Rows, &loaded)
	if err != nil {
		return rep, err
	}
	undo := func() {
		// The database was empty: leave it so, not half restored (nor
		// with the record of an unseal for a restore that did not happen).
		cleanup := context.WithoutCancel(ctx)
		_ = into.InTx(cleanup, func(tx *store.Tx) error {
			for i := len(tables) - 1; i >= 0; i-- {
				if _, err := tx.ExecContext(cleanup, "DELETE FROM "+quoteAll([]string{tables[i].Name})[0]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	ks, err := opts.OpenKeys(ctx, into)
	if err != nil {
		undo()
		return rep, fmt.Errorf("restore %s: key service: %w", id, err)
	}
	wrapped, err := splitCiphertext(m.Key.WrappedKey)
	if err != nil {
		undo()
		return rep, refused(ReasonKey, "%v", err)
	}
	dataKey, err := ks.Decrypt(ctx, m.Key.Org, m.Key.ID, wrapped, dataKeyAAD(id))
	if err != nil {
		undo()
		return rep, refused(ReasonKey, "the data key of %s does not open with key %s (version %d) of this key service: %v",
			id, m.Key.ID, m.Key.Version, err)
	}
	defer clear(dataKey)
	open := func(r io.Reader) (io.Reader, error) {
		o, err := newOpenReader(r, dataKey, []byte(id))
		if err != nil {
			return nil, err
		}
		return gzip.NewReader(bufio.NewReaderSize(o, 1<<16))
	}
	// Unsealing the restored key service recorded itself in the audit
	// queue; those entries are set aside while the backup's queue is
	// restored, then queued again after it: they happened later.
	var held heldRows
	err = s.loadObject(ctx, into, m, dataObject, &rep.Config, open, byName, func(tx *store.Tx) error {
		return held.take(ctx, tx, byName["audit_queue"])
	}, func(tx *store.Tx, t []tableInfo) error {
		if err := resetSequences(ctx, tx, t); err != nil {
			return err
		}
		sums, err := checksumsIn(ctx, tx)
		if err != nil {
			return err
		}
		rep.Mismatches = compare(m.Tables, sums)
		return held.put(ctx, tx)
	}, &rep.Rows, &loaded)
	if err != nil {
		undo()
		return rep, err
	}
	rep.Took = s.now().Sub(start)
	if rep.Audit, err = s.verifyAudit(ctx, into, m); err != nil {
		return rep, err
	}
	return rep, nil
}

// heldRows are a table's rows set aside during a restore.
type heldRows struct {
	t    tableInfo
	rows [][]any
}

func (h *heldRows) take(ctx context.Context, tx *store.Tx, t tableInfo) error {
	if t.Name == "" {
		return nil
	}
	h.t = t
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(quoteAll(t.Columns), ", ")+" FROM "+quoteAll([]string{t.Name})[0]+" ORDER BY "+t.orderBy())
	if err != nil {
		return fmt.Errorf("restore: set aside %s: %w", t.Name, err)
	}
	for rows.Next() {
		vals := make([]any, len(t.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		h.rows = append(h.rows, vals)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM "+quoteAll([]string{t.Name})[0])
	return err
}

// put inserts the rows again, letting the table's sequence number them
// after the restored ones.
func (h *heldRows) put(ctx context.Context, tx *store.Tx) error {
	if len(h.rows) == 0 {
		return nil
	}
	var cols []int
	for i, c := range h.t.Columns {
		if c != h.t.Serial {
			cols = append(cols, i)
		}
	}
	for _, row := range h.rows {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = row[c]
		}
		if err := insertBatch(ctx, tx, &h.t, cols, [][]any{vals}); err != nil {
			return err
		}
	}
	return nil
}

// loadObject streams one object into the database in one transaction,
// checking its SHA-256 before the commit.
func (s *Service) loadObject(ctx context.Context, into *store.DB, m Manifest, name string, config *string,
	decode func(io.Reader) (io.Reader, error), tables map[string]tableInfo, before func(*store.Tx) error, after func(*store.Tx, []tableInfo) error,
	rows *int64, loaded *[]tableInfo) error {
	obj, ok := m.object(name)
	if !ok {
		return refused(ReasonFormat, "backup %s has no %s", m.ID, name)
	}
	rc, err := s.Target.Get(ctx, m.ID+"/"+name, obj.Version)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(rc, h)}
	return into.InTx(ctx, func(tx *store.Tx) error {
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		}
		l := &loader{tx: tx, tables: tables, config: func(c string) {
			if config != nil {
				*config = c
			}
		}}
		r, err := decode(counted)
		var loadErr error
		if err == nil {
			loadErr = l.load(ctx, r)
		} else {
			loadErr = err
		}
		// Read what is left, so the checksum covers the whole object.
		_, _ = io.Copy(io.Discard, counted)
		if sum := hex.EncodeToString(h.Sum(nil)); sum != obj.SHA256 || counted.n != obj.Size {
			return refused(ReasonChecksum, "%s of backup %s does not match the manifest's checksum (%d bytes, sha256 %s; the manifest says %d bytes, %s)",
				name, m.ID, counted.n, short(sum), obj.Size, short(obj.SHA256))
		}
		if loadErr != nil {
			if errors.Is(loadErr, errSealed) {
				return refused(ReasonKey, "%s of backup %s: %v", name, m.ID, loadErr)
			}
			return fmt.Errorf("restore %s of %s: %w", name, m.ID, loadErr)
		}
		if after != nil {
			if err := after(tx, l.touched); err != nil {
				return err
			}
		}
		*rows += l.rows
		*loaded = append(*loaded, l.touched...)
		return nil
	})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16] + "…"
	}
	return sum
}

// checkEmpty refuses a database that already holds hatoba's data.
func checkEmpty(ctx context.Context, db *store.DB) error {
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v == 0 {
		return nil
	}
	tables, err := readCatalog(ctx, db)
	if err != nil {
		return err
	}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteAll([]string{t.Name})[0]).Scan(&n); err != nil {
			return fmt.Errorf("restore: count %s: %w", t.Name, err)
		}
		if n > 0 {
			return refused(ReasonNotEmpty, "the target database %s is not empty (%s has %d rows): restore into a new database", db, t.Name, n)
		}
	}
	return nil
}

// verifyAudit verifies the restored log and that it contains the
// checkpoint the backup recorded.
func (s *Service) verifyAudit(ctx context.Context, db *store.DB, m Manifest) (audit.Report, error) {
	opts := audit.VerifyOptions{}
	if m.Audit.Checkpoint != "" {
		opts.Checkpoint = []byte(m.Audit.Checkpoint)
	}
	rep, err := audit.Verify(ctx, db, s.Verifier, opts)
	if err != nil {
		return rep, fmt.Errorf("verify the restored audit log: %w", err)
	}
	return rep, nil
}

// Checksums reads every table's count and checksum, in one snapshot.
func Checksums(ctx context.Context, db *store.DB) ([]TableSum, error) {
	var out []TableSum
	err := db.ReadSnapshot(ctx, func(tx *store.Tx) error {
		var err error
		out, err = checksumsIn(ctx, tx)
		return err
	})
	return out, err
}

func checksumsIn(ctx context.Context, q store.Querier) ([]TableSum, error) {
	tables, err := readCatalog(ctx, q)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(io.Discard)
	var out []TableSum
	for _, t := range tables {
		sum, err := dumpTable(ctx, q, t, w)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

func compare(want, got []TableSum) []string {
	byName := map[string]TableSum{}
	for _, g := range got {
		byName[g.Name] = g
	}
	var out []string
	for _, w := range want {
		g, ok := byName[w.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing", w.Name))
		case g.Rows != w.Rows:
			out = append(out, fmt.Sprintf("%s: %d rows, backup has %d", w.Name, g.Rows, w.Rows))
		case g.Checksum != w.Checksum:
			out = append(out, fmt.Sprintf("%s: checksum differs", w.Name))
		}
	}
	return out
}
