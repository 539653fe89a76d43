package env_test

import (
	"context"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestRequestPrincipal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, by, want string }{
		{"ok/a person", "p-aaaaaaaaaaaaaaaa", "p-aaaaaaaaaaaaaaaa"},
		{"ok/an operator under a grant", "p-aaaaaaaaaaaaaaaa under g-1", "p-aaaaaaaaaaaaaaaa"},
		{"ok/nobody", "", ""},
	} {
		if got := (env.Request{RequestedBy: tt.by}).Principal(); got != tt.want {
			t.Errorf("%s: Principal() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestIdempotencyKeysPerPrincipal: one key is a different key for each
// principal; within one principal a reuse for another request conflicts.
func TestIdempotencyKeysPerPrincipal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := env.NewStore(db, time.Now)
		envA, envB := insertEnv(t, db, s, "p-aaaaaaaaaaaaaaaa"), insertEnv(t, db, s, "p-bbbbbbbbbbbbbbbb")
		if err := s.RememberIdempotency(ctx, db, "p-aaaaaaaaaaaaaaaa", "k-1", "hash-a", envA); err != nil {
			t.Fatal(err)
		}
		// Another principal's first use of the same key is new to it.
		if id, err := s.IdempotentResult(ctx, db, "p-bbbbbbbbbbbbbbbb", "k-1", "hash-b"); err != nil || id != "" {
			t.Fatalf("another principal's lookup: %q, %v; want a new key", id, err)
		}
		if err := s.RememberIdempotency(ctx, db, "p-bbbbbbbbbbbbbbbb", "k-1", "hash-b", envB); err != nil {
			t.Fatalf("another principal's key: %v", err)
		}
		for _, tt := range []struct {
			name, principal, hash, want string
			kind                        fault.Kind
		}{
			{"ok/A's retry", "p-aaaaaaaaaaaaaaaa", "hash-a", envA, ""},
			{"ok/B's retry", "p-bbbbbbbbbbbbbbbb", "hash-b", envB, ""},
			{"fail/A reuses the key for another request", "p-aaaaaaaaaaaaaaaa", "hash-b", "", fault.Conflict},
		} {
			id, err := s.IdempotentResult(ctx, db, tt.principal, "k-1", tt.hash)
			if id != tt.want || fault.KindOf(err) != tt.kind && (err != nil || tt.kind != "") {
				t.Errorf("%s: %q, %v; want %q, kind %q", tt.name, id, err, tt.want, tt.kind)
			}
		}
		// The same principal and key twice: the racing loser collides.
		if err := s.RememberIdempotency(ctx, db, "p-aaaaaaaaaaaaaaaa", "k-1", "hash-a", envA); !store.IsUniqueViolation(err) {
			t.Fatalf("a second row for one principal's key: %v, want a unique violation", err)
		}
	})
}

// TestIdempotencyScopeMigration applies 0013 to keys stored before it: each
// key goes to the person who made its environment, the grant left out.
func TestIdempotencyScopeMigration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := env.NewStore(db, time.Now)
		byPerson := insertEnv(t, db, s, "p-aaaaaaaaaaaaaaaa")
		byGrant := insertEnv(t, db, s, "p-cccccccccccccccc under g-123")
		byRules := insertEnv(t, db, s, "")
		// Back to the shape before 0013, with its rows.
		for _, q := range []string{
			`DROP TABLE idempotency_keys`,
			`CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, env_id TEXT NOT NULL, created_at TIMESTAMP NOT NULL)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for key, envID := range map[string]string{"k-person": byPerson, "k-grant": byGrant, "k-nobody": byRules, "k-gone": "env-gone"} {
			if _, err := db.ExecContext(ctx, `INSERT INTO idempotency_keys (key, request_hash, env_id, created_at) VALUES ($1, 'h', $2, $3)`,
				key, envID, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		up, err := store.Statement(13, db.Dialect())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, up); return err }); err != nil {
			t.Fatalf("migrate 0013: %v", err)
		}
		for _, tt := range []struct{ name, principal, key, want string }{
			{"ok/a person's key", "p-aaaaaaaaaaaaaaaa", "k-person", byPerson},
			{"ok/an operator's key under a grant", "p-cccccccccccccccc", "k-grant", byGrant},
			{"ok/a key of no person", "", "k-nobody", byRules},
			{"ok/a key whose environment is gone", "", "k-gone", "env-gone"},
			{"ok/another principal does not see it", "p-bbbbbbbbbbbbbbbb", "k-person", ""},
		} {
			if id, err := s.IdempotentResult(ctx, db, tt.principal, tt.key, "h"); err != nil || id != tt.want {
				t.Errorf("%s: %q, %v; want %q", tt.name, id, err, tt.want)
			}
		}
	})
}

func insertEnv(t *testing.T, db *store.DB, s *env.Store, by string) string {
	t.Helper()
	if _, err := org.New(db, time.Now).Get(context.Background(), "nat-digital"); fault.KindOf(err) == fault.NotFound {
		if _, err := org.New(db, time.Now).Create(context.Background(), audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	en := env.Environment{ID: env.NewID(now), OrgID: "nat-digital", SystemName: "sys-" + by, Purpose: env.Production,
		Classification: env.Level2, Provider: "sim", State: env.Requested, RequestedBy: by, AccountEmail: "x@example.invalid",
		CreatedAt: now, UpdatedAt: now}
	if err := db.InTx(context.Background(), func(tx *store.Tx) error { return s.Insert(context.Background(), tx, en, nil) }); err != nil {
		t.Fatal(err)
	}
	return en.ID
}
