package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ks := keys.New(db, keys.Options{})
		staff := authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
		shares, err := ks.InitSplit(ctx, staff, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		unseal := func() {
			for _, sh := range shares[:2] {
				if _, err := ks.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
					t.Fatal(err)
				}
			}
		}
		unseal()
		s := secrets.New(db, ks, nil)
		value := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		if err := s.Put(ctx, "p-op", "provider/prod", value); err != nil {
			t.Fatal(err)
		}
		var stored []byte
		if err := db.QueryRowContext(ctx, `SELECT ciphertext FROM sealed_secrets WHERE name = 'provider/prod'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored, value) {
			t.Fatal("the secret is stored in the clear")
		}
		got, err := s.Get(ctx, "provider/prod")
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("Get = %q, %v", got, err)
		}
		// A row copied under another name does not decrypt: the name is
		// the AAD.
		if _, err := db.ExecContext(ctx, `INSERT INTO sealed_secrets (name, ciphertext, created_at, updated_at)
			SELECT 'provider/other', ciphertext, created_at, updated_at FROM sealed_secrets WHERE name = 'provider/prod'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "provider/other"); !errors.Is(err, keys.ErrInvalidCiphertext) {
			t.Fatalf("a moved secret: %v", err)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		for _, bad := range []string{"", "Upper", "../x", "a b"} {
			if err := s.Put(ctx, "p-op", bad, value); fault.KindOf(err) != fault.Invalid {
				t.Errorf("Put(%q) = %v, want invalid", bad, err)
			}
		}
		// No tenant's key owner reaches the platform's store.
		owner := authz.Principal{PersonID: "p-o", Role: authz.TenantAdmin, OrgID: keys.PlatformOrg, KeyOwner: true}
		if _, err := ks.CreateKey(ctx, owner, keys.PlatformOrg, keys.KeySpec{}); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("a key in the platform's store: %v", err)
		}
		// Sealed, no secret is readable.
		if err := ks.Seal(ctx, staff); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "provider/prod"); !errors.Is(err, keys.ErrSealed) {
			t.Fatalf("sealed: %v", err)
		}
		unseal()
		if got, err := s.Get(ctx, "provider/prod"); err != nil || !bytes.Equal(got, value) {
			t.Fatalf("after unseal: %q %v", got, err)
		}
	})
}
