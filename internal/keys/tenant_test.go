package keys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// A long TTL: every refusal below must come from this replica
		// dropping its cache on change, not from the cache expiring.
		s, _, _, _ := newSplit(t, db, bigTTL)
		k := mustKey(t, s, "org-a", KeySpec{ID: "alias-1", Description: "payroll"})
		if k.Version != 1 || k.State != StateEnabled || k.Usage != UsageEncryptDecrypt || k.OrgID != "org-a" || k.Killed {
			t.Fatalf("new key %+v", k)
		}
		gen := mustKey(t, s, "org-a", KeySpec{})
		if !strings.HasPrefix(gen.ID, "hk-") {
			t.Fatalf("generated id %q", gen.ID)
		}
		_, err := s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: "alias-1"})
		if fault.KindOf(err) != fault.Conflict {
			t.Fatalf("duplicate key: %v", err)
		}
		// Keys are per tenant: the same id in another store is another key.
		mustKey(t, s, "org-b", KeySpec{ID: "alias-1"})

		aad := []byte("arn:aws:kms:ap-northeast-1:123:key/x")
		c1, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("secret one"), aad)
		if err != nil {
			t.Fatal(err)
		}
		if c1.Version != 1 || len(c1.IV) != 12 || len(c1.Tag) != 16 || len(c1.Metadata) != 5 {
			t.Fatalf("ciphertext shape %+v", c1)
		}
		// The other tenant's key of the same name does not open it.
		_, err = s.Decrypt(ctxBg, "org-b", "alias-1", c1, aad)
		wantErr(t, "decrypt with the other tenant's key", err, ErrInvalidCiphertext)

		// Rotation: new ciphertexts name version 2, old ones still decrypt.
		r, err := s.Rotate(ctxBg, owner, "org-a", k.ID)
		if err != nil || r.Version != 2 {
			t.Fatalf("Rotate: %+v, %v", r, err)
		}
		c2, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("secret two"), aad)
		if err != nil || c2.Version != 2 {
			t.Fatalf("Encrypt after rotate: version %d, %v", c2.Version, err)
		}
		for _, c := range []Ciphertext{c1, c2} {
			if _, err := s.Decrypt(ctxBg, "org-a", k.ID, c, aad); err != nil {
				t.Fatalf("Decrypt version %d: %v", c.Version, err)
			}
		}

		// Usage.
		if _, err := s.SetUsage(ctxBg, owner, "org-a", k.ID, UsageDecryptOnly); err != nil {
			t.Fatal(err)
		}
		_, err = s.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil)
		wantErr(t, "Encrypt with a decrypt-only key", err, ErrUsage)
		_, err = s.GenerateDataKey(ctxBg, "org-a", k.ID, 32, nil)
		wantErr(t, "GenerateDataKey with a decrypt-only key", err, ErrUsage)
		if _, err := s.Decrypt(ctxBg, "org-a", k.ID, c1, aad); err != nil {
			t.Fatalf("Decrypt with a decrypt-only key: %v", err)
		}
		if _, err := s.SetUsage(ctxBg, owner, "org-a", k.ID, UsageEncryptOnly); err != nil {
			t.Fatal(err)
		}
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c1, aad)
		wantErr(t, "Decrypt with an encrypt-only key", err, ErrUsage)
		dk, err := s.GenerateDataKey(ctxBg, "org-a", k.ID, 32, aad)
		if err != nil || len(dk.Plaintext) != 32 {
			t.Fatalf("GenerateDataKey: %v", err)
		}
		// Neither usage: the key stays enabled and refuses everything.
		if k, err := s.SetUsage(ctxBg, owner, "org-a", k.ID, UsageNone); err != nil || k.Usage != UsageNone || k.State != StateEnabled {
			t.Fatalf("SetUsage none: %+v, %v", k, err)
		}
		_, err = s.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil)
		wantErr(t, "Encrypt with a key of no usage", err, ErrUsage)
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c1, aad)
		wantErr(t, "Decrypt with a key of no usage", err, ErrUsage)
		_, err = s.GenerateDataKey(ctxBg, "org-a", k.ID, 32, nil)
		wantErr(t, "GenerateDataKey with a key of no usage", err, ErrUsage)
		if frozen, err := s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: "frozen", Usage: UsageNone}); err != nil || frozen.Usage != UsageNone {
			t.Fatalf("CreateKey with usage none: %+v, %v", frozen, err)
		}
		if _, err := s.SetUsage(ctxBg, owner, "org-a", k.ID, "sign_verify"); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("unknown usage: %v", err)
		}
		if _, err := s.SetUsage(ctxBg, owner, "org-a", k.ID, UsageEncryptDecrypt); err != nil {
			t.Fatal(err)
		}
		got, err := s.Decrypt(ctxBg, "org-a", k.ID, dk.Encrypted, aad)
		if err != nil || !bytes.Equal(got, dk.Plaintext) {
			t.Fatalf("decrypting the data key: %v", err)
		}

		// Disable and enable.
		if _, err := s.Disable(ctxBg, owner, "org-a", k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil)
		wantErr(t, "Encrypt with a disabled key", err, ErrKeyDisabled)
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c1, aad)
		wantErr(t, "Decrypt with a disabled key", err, ErrKeyDisabled)
		if _, err := s.Enable(ctxBg, owner, "org-a", k.ID); err != nil {
			t.Fatal(err)
		}

		// The kill switch stops every key of the tenant, and only its.
		if err := s.Kill(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{k.ID, gen.ID} {
			_, err = s.Encrypt(ctxBg, "org-a", id, []byte("x"), nil)
			wantErr(t, "Encrypt after Kill", err, ErrKillSwitch)
		}
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c1, aad)
		wantErr(t, "Decrypt after Kill", err, ErrKillSwitch)
		if _, err := s.Encrypt(ctxBg, "org-b", "alias-1", []byte("x"), nil); err != nil {
			t.Fatalf("another tenant after Kill: %v", err)
		}
		if km, _ := s.Key(ctxBg, "org-a", k.ID); !km.Killed {
			t.Fatal("metadata does not show the kill switch")
		}
		if err := s.Revive(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(ctxBg, "org-a", k.ID, c1, aad); err != nil {
			t.Fatalf("Decrypt after Revive: %v", err)
		}

		// Unknown keys and tenants.
		_, err = s.Encrypt(ctxBg, "org-a", "nope", []byte("x"), nil)
		wantErr(t, "Encrypt with an unknown key", err, ErrKeyNotFound)
		_, err = s.Key(ctxBg, "org-z", k.ID)
		wantErr(t, "Key of an unknown tenant", err, ErrKeyNotFound)
		_, err = s.Rotate(ctxBg, owner, "org-a", "nope")
		wantErr(t, "Rotate an unknown key", err, ErrKeyNotFound)
		// Whether an organisation exists is the API's check; the key
		// service refuses only an id that cannot be one.
		if _, err := s.CreateKey(ctxBg, owner, "org z\n", KeySpec{}); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("CreateKey for a malformed organisation id: %v", err)
		}
		list, err := s.Keys(ctxBg, "org-a")
		if err != nil || len(list) != 3 {
			t.Fatalf("Keys: %d, %v", len(list), err)
		}

		want := []string{"key.init", "key.unseal", "key.create", "key.create", "key.create", "key.rotate",
			"key.set_usage", "key.set_usage", "key.set_usage", "key.create", "key.set_usage", "key.disable", "key.enable", "key.kill", "key.revive"}
		if got := auditActions(t, db); !slices.Equal(got, want) {
			t.Fatalf("audit %v\nwant  %v", got, want)
		}
	})
}

func TestOwnerOperationsRefused(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s, _, _, _ := newSplit(t, db, 0)
	k := mustKey(t, s, "org-a", KeySpec{ID: "k"})
	before := len(auditActions(t, db))
	for _, by := range []authz.Principal{
		staff,
		{PersonID: "p-aud", Role: authz.CentralAuditor},
		{PersonID: "p-op", Role: authz.CentralOperator, Grants: []authz.Grant{{ID: "g1", OrgID: "org-a", Expiry: t0.Add(time.Hour)}}},
		{Role: authz.TenantAdmin, OrgID: "org-a", KeyOwner: true},
		{PersonID: "p-admin", Role: authz.TenantAdmin, OrgID: "org-a"}, // not key owner
	} {
		ops := map[string]func() error{
			"create":  func() error { _, err := s.CreateKey(ctxBg, by, "org-a", KeySpec{}); return err },
			"usage":   func() error { _, err := s.SetUsage(ctxBg, by, "org-a", k.ID, UsageEncryptOnly); return err },
			"rotate":  func() error { _, err := s.Rotate(ctxBg, by, "org-a", k.ID); return err },
			"disable": func() error { _, err := s.Disable(ctxBg, by, "org-a", k.ID); return err },
			"enable":  func() error { _, err := s.Enable(ctxBg, by, "org-a", k.ID); return err },
			"kill":    func() error { return s.Kill(ctxBg, by, "org-a") },
			"revive":  func() error { return s.Revive(ctxBg, by, "org-a") },
		}
		for name, op := range ops {
			err := op()
			if k := fault.KindOf(err); k != fault.Forbidden && k != fault.Unauthenticated {
				t.Errorf("%s by %s %q: %v; want refused", name, by.Role, by.PersonID, err)
			}
		}
	}
	if after := len(auditActions(t, db)); after != before {
		t.Fatalf("refused operations wrote %d audit entries", after-before)
	}
}

func TestBadCiphertext(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s, _, _, _ := newSplit(t, db, 0)
	k := mustKey(t, s, "org-a", KeySpec{ID: "k"})
	if _, err := s.Rotate(ctxBg, owner, "org-a", k.ID); err != nil {
		t.Fatal(err)
	}
	aad := []byte("aad")
	good, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("plaintext!"), aad)
	if err != nil {
		t.Fatal(err)
	}
	badCiphertext(t, s, "org-a", k.ID, good, aad)
}

// badCiphertext checks that every damaged form of good is refused with
// ErrInvalidCiphertext (good is made with version 2 of a key with two).
func badCiphertext(t *testing.T, s *Service, org, keyID string, good Ciphertext, aad []byte) {
	t.Helper()
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x80; return b }
	withVersion := func(v uint32) []byte {
		m := bytes.Clone(good.Metadata)
		binary.BigEndian.PutUint32(m[1:], v)
		return m
	}
	tests := []struct {
		name string
		c    Ciphertext
		aad  []byte
	}{
		{"fail/ciphertext flipped", Ciphertext{Ciphertext: flip(good.Ciphertext, 0), IV: good.IV, Tag: good.Tag, Metadata: good.Metadata}, aad},
		{"fail/tag flipped", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: flip(good.Tag, 15), Metadata: good.Metadata}, aad},
		{"fail/iv flipped", Ciphertext{Ciphertext: good.Ciphertext, IV: flip(good.IV, 3), Tag: good.Tag, Metadata: good.Metadata}, aad},
		{"fail/other aad", good, []byte("aae")},
		{"fail/no aad", good, nil},
		{"fail/older version named", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag, Metadata: withVersion(1)}, aad},
		{"fail/unknown version", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag, Metadata: withVersion(99)}, aad},
		{"fail/version 0", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag, Metadata: withVersion(0)}, aad},
		{"fail/metadata format", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag, Metadata: flip(good.Metadata, 0)}, aad},
		{"fail/no metadata", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag}, aad},
		{"fail/short tag", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV, Tag: good.Tag[:12], Metadata: good.Metadata}, aad},
		{"fail/short iv", Ciphertext{Ciphertext: good.Ciphertext, IV: good.IV[:8], Tag: good.Tag, Metadata: good.Metadata}, aad},
		{"fail/truncated", Ciphertext{Ciphertext: good.Ciphertext[:3], IV: good.IV, Tag: good.Tag, Metadata: good.Metadata}, aad},
		{"fail/empty", Ciphertext{}, aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Decrypt(ctxBg, org, keyID, tt.c, tt.aad)
			wantErr(t, "Decrypt", err, ErrInvalidCiphertext)
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("kind %s", fault.KindOf(err))
			}
		})
	}
	if got, err := s.Decrypt(ctxBg, org, keyID, good, aad); err != nil || len(got) == 0 {
		t.Fatalf("the good ciphertext: %v", err)
	}
}

// TestStateAcrossReplicas: a change made by one replica reaches another
// within its StateTTL (the injected clock moves), and at once with a
// negative TTL.
func TestStateAcrossReplicas(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, shares, clk, _ := newSplit(t, db, time.Second)
		k := mustKey(t, a, "org-a", KeySpec{ID: "k"})
		b := New(db, Options{Now: clk.Now, StateTTL: time.Second})
		strict := New(db, Options{Now: clk.Now, StateTTL: -1})
		for _, r := range []*Service{b, strict} {
			for _, sh := range shares[:3] {
				if _, err := r.SubmitShare(ctxBg, custodian, sh); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Kill(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		_, err := strict.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil)
		wantErr(t, "strict replica after Kill", err, ErrKillSwitch)
		if _, err := b.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil); err != nil {
			t.Fatalf("replica b within its TTL still uses its cached state: %v", err)
		}
		clk.Add(time.Second)
		_, err = b.Encrypt(ctxBg, "org-a", k.ID, []byte("x"), nil)
		wantErr(t, "replica b after its TTL", err, ErrKillSwitch)
	})
}

func TestInputLimits(t *testing.T) {
	t.Parallel()
	s, _, _, _ := newSplit(t, storetest.Open(t, store.SQLite), 0)
	k := mustKey(t, s, "org-a", KeySpec{ID: "k"})
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"fail/plaintext too long", func() error {
			_, err := s.Encrypt(ctxBg, "org-a", k.ID, make([]byte, MaxPlaintext+1), nil)
			return err
		}, ErrInvalidInput},
		{"fail/aad too long", func() error { _, err := s.Encrypt(ctxBg, "org-a", k.ID, nil, make([]byte, MaxAAD+1)); return err }, ErrInvalidInput},
		{"fail/data key size", func() error { _, err := s.GenerateDataKey(ctxBg, "org-a", k.ID, 20, nil); return err }, ErrInvalidInput},
		{"ok/empty plaintext", func() error { _, err := s.Encrypt(ctxBg, "org-a", k.ID, nil, nil); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("%v; want %v", err, tt.want)
			}
		})
	}
	for _, id := range []string{"has space", strings.Repeat("a", 129), "slash/no"} {
		if _, err := s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: id}); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("key id %q: %v", id, err)
		}
	}
}

// TestCallerBuiltAAD: EncryptAAD/DecryptAAD let the XKS layer build the
// additional data from the metadata; the metadata stays authenticated.
func TestCallerBuiltAAD(t *testing.T) {
	t.Parallel()
	s, _, _, _ := newSplit(t, storetest.Open(t, store.SQLite), 0)
	k := mustKey(t, s, "org-a", KeySpec{ID: "k"})
	build := func(meta []byte) []byte { return append([]byte("xks-aad|"), meta...) }
	c, err := s.EncryptAAD(ctxBg, "org-a", k.ID, []byte("p"), build)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.DecryptAAD(ctxBg, "org-a", k.ID, c, build(c.Metadata)); err != nil || string(got) != "p" {
		t.Fatalf("DecryptAAD: %q, %v", got, err)
	}
	_, err = s.DecryptAAD(ctxBg, "org-a", k.ID, c, build(metadataOf(2)))
	wantErr(t, "DecryptAAD with other metadata in the AAD", err, ErrInvalidCiphertext)
}
