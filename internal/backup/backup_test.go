package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// A backup restores, on each database and across them, into an empty
// database: the same rows in every table, the audit log verifying against
// the checkpoint the backup recorded, sequences past the restored ids.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	target := s3Target(t)
	for _, from := range storetest.Dialects {
		for _, to := range storetest.Dialects {
			t.Run("ok/"+string(from)+"-to-"+string(to), func(t *testing.T) {
				ctx := context.Background()
				in := newInstance(t, from)
				svc := in.service(target)
				res, err := svc.Backup(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				m := res.Manifest
				if m.Audit.Size == 0 || m.Audit.Checkpoint == "" {
					t.Fatalf("the manifest has no audit checkpoint: %+v", m.Audit)
				}
				if m.Key.ID != backup.KeyID || m.Key.Org == "" || m.Key.Version < 1 {
					t.Fatalf("the manifest names no key: %+v", m.Key)
				}
				into := storetest.Open(t, to)
				// A fresh, unmigrated database is fine too; storetest's is
				// migrated and empty.
				rep, err := svc.Restore(ctx, backup.RestoreOptions{ID: m.ID, Into: into, OpenKeys: custodiansOpen(in.shares)})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() {
					t.Fatalf("restore not exact: audit %+v, mismatches %v", rep.Audit.Problem, rep.Mismatches)
				}
				if rep.Audit.Size != m.Audit.Size {
					t.Fatalf("restored log has %d entries, the backup %d", rep.Audit.Size, m.Audit.Size)
				}
				if rep.Config != "listen: 127.0.0.1:8443\n" {
					t.Fatalf("config = %q", rep.Config)
				}
				var ready int
				if err := into.QueryRowContext(ctx, `SELECT COUNT(*) FROM environments WHERE unit_move_pending AND ready_at IS NOT NULL`).Scan(&ready); err != nil || ready != 3 {
					t.Fatalf("restored environments: %d, %v", ready, err)
				}
				// The next event gets an id past the restored ones.
				if _, err := into.ExecContext(ctx, `INSERT INTO env_events (env_id, at, kind) VALUES ('env-000', $1, 'state')`, time.Now()); err != nil {
					t.Fatalf("insert after restore: %v", err)
				}
				// The restored platform key decrypts the restored secrets
				// (the key service's wrapped material came along).
				ks, err := custodiansOpen(in.shares)(ctx, into)
				if err != nil {
					t.Fatal(err)
				}
				_ = ks
			})
		}
	}
}

// A restore refuses what does not match, with the reason, and leaves the
// target database empty.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	target := s3Target(t)
	ctx := context.Background()
	in := newInstance(t, store.SQLite)
	svc := in.service(target)
	res, err := svc.Backup(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	id := res.Manifest.ID
	other := newInstance(t, store.SQLite)

	// tamper makes a backup and writes it again as the storage might hold
	// it after damage (new versions of the same keys): the object name's
	// bytes changed by edit, the manifest pointing at them and re-signed
	// with the right key, then changed by editManifest.
	tamper := func(t *testing.T, name string, edit func([]byte) []byte, editManifest func([]byte) []byte) string {
		t.Helper()
		res, err := svc.Backup(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		m, copyID := res.Manifest, res.Manifest.ID
		for i, obj := range m.Objects {
			rc, err := target.Get(ctx, copyID+"/"+obj.Name, obj.Version)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if obj.Name == name {
				b = edit(b)
			}
			if m.Objects[i].Version, err = target.Put(ctx, copyID+"/"+obj.Name, bytes.NewReader(b), int64(len(b)), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		mj, _ := json.MarshalIndent(m, "", "  ")
		mj = append(mj, '\n')
		sum := sha256.Sum256(mj)
		sig, err := note.Sign(&note.Note{Text: backup.Format + "\n" + copyID + "\nsha256 " + hex.EncodeToString(sum[:]) + "\n"}, in.key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if editManifest != nil {
			mj = editManifest(mj)
		}
		for obj, b := range map[string][]byte{"manifest.json": mj, "manifest.sig": sig} {
			if _, err := target.Put(ctx, copyID+"/"+obj, bytes.NewReader(b), int64(len(b)), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return copyID
	}
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }

	for _, tc := range []struct {
		name   string
		id     func(t *testing.T) string
		svc    *backup.Service
		keys   func(context.Context, *store.DB) (backup.KeyService, error)
		reason backup.Reason
	}{
		{"ok/copy-restores", func(t *testing.T) string { return tamper(t, "", nil, nil) }, nil, nil, ""},
		{"fail/data-altered", func(t *testing.T) string { return tamper(t, "data.sealed", flip, nil) }, nil, nil, backup.ReasonChecksum},
		{"fail/keys-altered", func(t *testing.T) string { return tamper(t, "keys.jsonl.gz", flip, nil) }, nil, nil, backup.ReasonChecksum},
		{"fail/manifest-altered", func(t *testing.T) string {
			return tamper(t, "", nil, func(b []byte) []byte { return bytes.Replace(b, []byte(`"rows": 3`), []byte(`"rows": 4`), 1) })
		}, nil, nil, backup.ReasonChecksum},
		{"fail/signature-by-another-key", func(*testing.T) string { return id }, other.service(target), nil, backup.ReasonSignature},
		{"fail/another-key-service", func(*testing.T) string { return id }, nil, func(context.Context, *store.DB) (backup.KeyService, error) {
			return other.keys, nil
		}, backup.ReasonKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := svc
			if tc.svc != nil {
				s = tc.svc
			}
			openKeys := tc.keys
			if openKeys == nil {
				openKeys = custodiansOpen(in.shares)
			}
			into := storetest.Open(t, store.SQLite)
			rep, err := s.Restore(ctx, backup.RestoreOptions{ID: tc.id(t), Into: into, OpenKeys: openKeys})
			if tc.reason == "" {
				if err != nil || !rep.OK() {
					t.Fatalf("restore of an unaltered copy: %v %v", err, rep.Mismatches)
				}
				return
			}
			var re *backup.RefusedError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("restore = %v, want refused for %s", err, tc.reason)
			}
			sums, err := backup.Checksums(ctx, into)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sums {
				if s.Rows != 0 {
					t.Fatalf("a refused restore left %d rows in %s", s.Rows, s.Name)
				}
			}
		})
	}

	t.Run("fail/not-empty", func(t *testing.T) {
		_, err := svc.Restore(ctx, backup.RestoreOptions{ID: id, Into: other.db, OpenKeys: custodiansOpen(in.shares)})
		var re *backup.RefusedError
		if !errors.As(err, &re) || re.Reason != backup.ReasonNotEmpty {
			t.Fatalf("restore into a used database = %v", err)
		}
		if !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("message: %v", err)
		}
	})
}

// Object Lock: inside its retention a backup's object version can be
// neither deleted nor replaced, on the real S3 server.
func TestObjectLock(t *testing.T) {
	t.Parallel()
	target := s3Target(t)
	ctx := context.Background()
	in := newInstance(t, store.SQLite)
	res, err := in.service(target).Backup(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range res.Manifest.Objects {
		key := res.Manifest.ID + "/" + obj.Name
		mode, until, err := target.Retention(ctx, key, obj.Version)
		if err != nil {
			t.Fatal(err)
		}
		if mode != "COMPLIANCE" || time.Until(until) < 50*time.Minute {
			t.Fatalf("%s: retention %s until %s, want COMPLIANCE for an hour", obj.Name, mode, until)
		}
		if err := target.Delete(ctx, key, obj.Version); err == nil {
			t.Fatalf("%s: deleting a locked version succeeded", obj.Name)
		}
		// Nor can the lock be shortened (COMPLIANCE).
		cfg := target.Config()
		raw := s3.New(s3.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")})
		if _, err := raw.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(cfg.Prefix + key),
			VersionId: aws.String(obj.Version), Retention: &s3types.ObjectLockRetention{Mode: s3types.ObjectLockRetentionModeCompliance,
				RetainUntilDate: aws.Time(time.Now().Add(time.Minute))}}); err == nil {
			t.Fatalf("%s: shortening a COMPLIANCE lock succeeded", obj.Name)
		}
		// A delete without a version only hides the object behind a
		// marker; the locked version stays.
		if err := target.Delete(ctx, key, ""); err != nil {
			t.Logf("%s: delete marker refused: %v", obj.Name, err)
		}
		// Writing the same key makes a new version; the locked one stays
		// as it was, and the manifest names it by version.
		if _, err := target.Put(ctx, key, strings.NewReader("overwritten"), int64(len("overwritten")), time.Now()); err != nil {
			t.Logf("%s: overwrite refused: %v", obj.Name, err)
		}
		rc, err := target.Get(ctx, key, obj.Version)
		if err != nil {
			t.Fatalf("%s: the locked version is gone: %v", obj.Name, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if int64(len(b)) != obj.Size {
			t.Fatalf("%s: the locked version changed: %d bytes, was %d", obj.Name, len(b), obj.Size)
		}
	}
	// The restore still works from the versions the manifest names.
	into := storetest.Open(t, store.SQLite)
	rep, err := in.service(target).Restore(ctx, backup.RestoreOptions{ID: res.Manifest.ID, Into: into, OpenKeys: custodiansOpen(in.shares)})
	if err != nil || !rep.OK() {
		t.Fatalf("restore after overwrite attempts: %v %v", err, rep.Mismatches)
	}
	_ = audit.Report{}
}

// A drill restores the newest backup into a scratch database and records
// RTO and RPO; one that cannot restore is recorded as a critical failure,
// in backup_runs and in the audit log.
func TestDrill(t *testing.T) {
	t.Parallel()
	target := s3Target(t)
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testDrill(t, target, d) })
	}
}

func testDrill(t *testing.T, target *backup.S3, dialect store.Dialect) {
	ctx := context.Background()
	in := newInstance(t, dialect)
	db := in.db
	svc := in.service(target)
	// The bucket is shared by both dialects' subtests: give this
	// instance a prefix of its own.
	own, err := backup.NewS3(withPrefix(s3ConfigOf(target), string(db.Dialect())+"/"))
	if err != nil {
		t.Fatal(err)
	}
	svc.Target = own
	b, err := svc.RunBackup(ctx, "p-op", "")
	if err != nil || b.State != "ok" || b.Bytes == 0 {
		t.Fatalf("backup run = %+v, %v", b, err)
	}
	d, err := svc.Drill(ctx, "system", "", backup.SQLiteScratch(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "ok" || d.BackupID != b.BackupID || d.Took <= 0 || d.RPO < 0 || d.Rows == 0 {
		t.Fatalf("drill = %+v", d)
	}
	// The same scheduled slot runs once.
	if _, err := svc.Drill(ctx, "system", d.ID, backup.SQLiteScratch(t.TempDir())); !errors.Is(err, backup.ErrTaken) {
		t.Fatalf("a second run of the same slot: %v", err)
	}

	other := newInstance(t, store.SQLite)
	bad := *svc
	bad.Keys = other.keys
	f, err := bad.Drill(ctx, "system", "", backup.SQLiteScratch(t.TempDir()))
	if err == nil || f.State != "failed" || f.Severity != "critical" || !strings.Contains(f.Detail, "key") {
		t.Fatalf("a drill that cannot open the backup = %+v, %v", f, err)
	}
	runs, err := svc.Runs(ctx, "", 10)
	if err != nil || len(runs) != 3 || runs[0].ID != f.ID {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	var n int
	in.integrate(t)
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_entries WHERE action = 'backup.drill' AND details LIKE '%"severity":"critical"%'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the failed drill is not in the audit log: %d, %v", n, err)
	}
}

// The schedule makes a backup and then a drill at once for the current
// slots, and a second replica running the same schedule makes none.
func TestSchedule(t *testing.T) {
	t.Parallel()
	target := s3Target(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := newInstance(t, store.SQLite)
	svc := in.service(target)
	replica := in.service(target)
	done := make(chan struct{}, 2)
	for _, s := range []*backup.Service{svc, replica} {
		go func() {
			s.Schedule(ctx, 24*time.Hour, 24*time.Hour, backup.SQLiteScratch(t.TempDir()))
			done <- struct{}{}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := svc.Runs(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		finished := 0
		for _, r := range runs {
			if r.State != "running" {
				finished++
			}
		}
		if len(runs) == 2 && finished == 2 {
			for _, r := range runs {
				if r.State != "ok" || r.RequestedBy != "system" || !strings.HasSuffix(r.ID, "T000000.000000Z") {
					t.Fatalf("scheduled run %+v", r)
				}
			}
			break
		}
		if len(runs) > 2 || time.Now().After(deadline) {
			t.Fatalf("runs = %+v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
}
