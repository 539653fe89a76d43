package backup_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// The S3 server scripts/s3server.sh starts, and its fixed test credentials.
const (
	defaultS3Endpoint = "http://127.0.0.1:7070"
	testAccessKey     = "hatoba-test"
	testSecretKey     = "hatoba-test-secret-key-0123456789"
)

// s3Config returns a new bucket's configuration on the test S3 server.
// Without the server the test is skipped, unless HATOBA_REQUIRE_S3=1 (set
// by scripts/test.sh), when it fails: CI must not skip these.
func s3Config(t testing.TB) backup.S3Config {
	t.Helper()
	endpoint := os.Getenv("HATOBA_TEST_S3_ENDPOINT")
	if endpoint == "" {
		endpoint = defaultS3Endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("HATOBA_TEST_S3_ENDPOINT: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		msg := fmt.Sprintf("the backup tests need an S3 server with Object Lock at %s (run scripts/s3server.sh): %v", endpoint, err)
		if os.Getenv("HATOBA_REQUIRE_S3") == "1" {
			t.Fatal(msg)
		}
		t.Skip("skipped: " + msg)
	}
	_ = conn.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return backup.S3Config{Endpoint: endpoint, Region: "us-east-1", Bucket: "hatoba-test-" + hex.EncodeToString(b),
		Prefix: "backups/", AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey, Retention: time.Hour}
}

func withPrefix(c backup.S3Config, prefix string) backup.S3Config {
	c.Prefix = prefix
	return c
}

func s3ConfigOf(t *backup.S3) backup.S3Config { return t.Config() }

func s3Target(t testing.TB) *backup.S3 {
	t.Helper()
	tg, err := backup.NewS3(s3Config(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tg
}

const testOrigin = "hatoba.test/audit"

// instance is a hatoba database with data in every kind of table that
// matters to a restore, its unsealed key service and its audit key.
type instance struct {
	db     *store.DB
	keys   *keys.Service
	shares []string
	key    audit.Key
	log    *audit.Log
}

var staff = authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}

func newInstance(t testing.TB, d store.Dialect) *instance {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, d)
	key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{db: db, keys: keys.New(db, keys.Options{}), key: key}
	in.log = audit.New(db, key.Signer, nil)
	if in.shares, err = in.keys.InitSplit(ctx, staff, 3, 2); err != nil {
		t.Fatal(err)
	}
	unseal(t, in.keys, in.shares)
	seed(t, db)
	if err := secrets.New(db, in.keys, nil).Put(ctx, "p-op", "provider/sim", []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")); err != nil {
		t.Fatal(err)
	}
	in.integrate(t)
	return in
}

func unseal(t testing.TB, ks *keys.Service, shares []string) {
	t.Helper()
	for _, sh := range shares[:2] {
		if _, err := ks.SubmitShare(context.Background(), audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
}

func (in *instance) integrate(t testing.TB) {
	t.Helper()
	for {
		n, err := audit.Pending(context.Background(), in.db)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if _, err := in.log.Integrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// seed writes organisations (a child whose id sorts before its parent's,
// so a restore must order rows by reference, not by key), environments
// with booleans and times, their events (a sequence), and audit entries.
func seed(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 30, 0, 123456000, time.UTC)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, o := range []struct{ id, parent string }{{"z-pref", ""}, {"a-city", "z-pref"}, {"m-ward", "a-city"}} {
			var parent any
			if o.parent != "" {
				parent = o.parent
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, kind, name_ja, parent_id, created_at, updated_at)
				VALUES ($1, 'municipality', $2, $3, $4, $4)`, o.id, "組織 "+o.id, parent, now); err != nil {
				return err
			}
			if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: "p-op", Action: "org.create", OrgID: o.id, Target: o.id}); err != nil {
				return err
			}
		}
		for i := range 5 {
			id := fmt.Sprintf("env-%03d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO environments (id, org_id, system_name, purpose, classification, provider, state,
				account_email, unit_move_pending, created_at, updated_at, ready_at)
				VALUES ($1, 'a-city', $2, 'prod', 'level2', 'sim', 'ready', $3, $4, $5, $5, $6)`,
				id, "sys"+id, id+"@example.invalid", i%2 == 0, now, now.Add(time.Minute)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO env_events (env_id, at, kind, message) VALUES ($1, $2, 'state', '準備完了')`, id, now); err != nil {
				return err
			}
			if err := audit.Append(ctx, tx, audit.Entry{At: now, Actor: "p-op", Action: "env.request", OrgID: "a-city", Target: id,
				Details: map[string]any{"i": i}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// service is a backup service over the instance, writing to target.
func (in *instance) service(target backup.Target) *backup.Service {
	return &backup.Service{DB: in.db, Keys: in.keys, Target: target, Signer: in.key.Signer, Verifier: in.key.Verifier,
		Origin: testOrigin, Config: []byte("listen: 127.0.0.1:8443\n"), Version: "test"}
}

// custodiansOpen is what hatoba restore does: a key service over the
// restored database, unsealed by the custodians' shares.
func custodiansOpen(shares []string) func(ctx context.Context, into *store.DB) (backup.KeyService, error) {
	return func(ctx context.Context, into *store.DB) (backup.KeyService, error) {
		ks := keys.New(into, keys.Options{})
		for _, sh := range shares[:2] {
			if _, err := ks.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
				return nil, err
			}
		}
		return ks, nil
	}
}
