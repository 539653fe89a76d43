//go:build cgo

package keys

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/smartcard/smartcardtest"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// newHSM returns a service initialised in HSM mode on a fresh SoftHSM2
// token, and the configuration that reaches it. SoftHSM2 reads its
// configuration process-wide, so tests using it are not parallel
// (smartcardtest.New) and close the service's token (Seal) before they end.
func newHSM(t testing.TB, db *store.DB) (*Service, HSMConfig, *logBuffer) {
	t.Helper()
	h := smartcardtest.New(t)
	tok := h.AddToken("hatoba-keys", "1234")
	cfg := HSMConfig{ModulePath: h.Module, TokenLabel: tok.Label, PIN: tok.PIN, KeyLabel: "hatoba-master"}
	logs := &logBuffer{}
	s := New(db, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := s.InitHSM(ctxBg, staff, cfg); err != nil {
		t.Fatalf("InitHSM: %v", err)
	}
	t.Cleanup(func() { _ = s.Seal(ctxBg, staff) })
	addOrg(t, db, "org-a")
	return s, cfg, logs
}

func TestHSM(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, cfg, logs := newHSM(t, db)
		st, err := s.Status(ctxBg)
		if err != nil || st.Mode != ModeHSM || st.Sealed {
			t.Fatalf("status after InitHSM %+v, %v", st, err)
		}
		if err := s.InitHSM(ctxBg, staff, cfg); !errors.Is(err, ErrAlreadyInitialized) {
			t.Fatalf("second InitHSM: %v", err)
		}
		if _, err := s.SubmitShare(ctxBg, custodian, "hatoba-share-1-00"); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("SubmitShare in HSM mode: %v", err)
		}
		k := mustKey(t, s, "org-a", KeySpec{ID: "k"})
		aad := []byte("aad")
		c1, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("hsm one"), aad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxBg, owner, "org-a", k.ID); err != nil {
			t.Fatal(err)
		}
		c2, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("hsm two"), aad)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("bad ciphertext", func(t *testing.T) { badCiphertext(t, s, "org-a", k.ID, c2, aad) })

		// The HSM itself: a wrapped key with a bad tag is an invalid
		// ciphertext (SoftHSM2 says CKR_GENERAL_ERROR), not an internal
		// error.
		mk, _, err := s.masterOrSealed()
		if err != nil {
			t.Fatal(err)
		}
		blob, err := mk.wrap([]byte("material"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		for name, damage := range map[string]func([]byte) []byte{
			"tag":       func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
			"body":      func(b []byte) []byte { b[ivLen] ^= 1; return b },
			"truncated": func(b []byte) []byte { return b[:ivLen+4] },
		} {
			_, err := mk.unwrap(damage(slices.Clone(blob)), []byte("aad"))
			wantErr(t, "HSM unwrap with a damaged "+name, err, ErrInvalidCiphertext)
		}
		// Pin what the token says, so a SoftHSM2 that starts reporting
		// CKR_ENCRYPTED_DATA_INVALID, or another code, is noticed.
		hk := mk.(*hsmKey)
		tampered := slices.Clone(blob)
		tampered[len(tampered)-1] ^= 1
		if _, raw := hk.aead.Open(nil, tampered[:ivLen], tampered[ivLen:], []byte("aad")); raw == nil || !badTag(raw) {
			t.Fatalf("the token's answer to a bad tag, %v, is not recognised as one", raw)
		} else {
			t.Logf("the token's answer to a bad tag: %v", raw)
		}
		_, err = mk.unwrap(blob, []byte("other"))
		wantErr(t, "HSM unwrap with other AAD", err, ErrInvalidCiphertext)
		if got, err := mk.unwrap(blob, []byte("aad")); err != nil || string(got) != "material" {
			t.Fatalf("HSM unwrap: %q, %v", got, err)
		}

		// Seal, then unseal: a wrong PIN and a wrong label are refused.
		if err := s.Seal(ctxBg, staff); err != nil {
			t.Fatal(err)
		}
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c1, aad)
		wantErr(t, "Decrypt while sealed", err, ErrSealed)
		// Without an actor the right PIN is refused too, before the HSM is
		// reached: a defect, not a wrong PIN (no entry, still sealed).
		if err := s.UnsealHSM(ctxBg, audit.Acting{}, cfg); !errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal {
			t.Fatalf("UnsealHSM without an actor: %v; want audit.ErrNoActor (internal)", err)
		}
		if st, _ := s.Status(ctxBg); !st.Sealed {
			t.Fatal("unsealed without an actor")
		}
		wrongPIN := cfg
		wrongPIN.PIN = "9999"
		if err := s.UnsealHSM(ctxBg, custodian, wrongPIN); err == nil {
			t.Fatal("UnsealHSM with a wrong PIN succeeded")
		} else if strings.Contains(err.Error(), "9999") {
			t.Fatalf("the PIN is in the error: %v", err)
		}
		wrongLabel := cfg
		wrongLabel.KeyLabel = "other"
		if err := s.UnsealHSM(ctxBg, custodian, wrongLabel); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("UnsealHSM with another label: %v", err)
		}
		if err := s.UnsealHSM(ctxBg, custodian, cfg); err != nil {
			t.Fatalf("UnsealHSM: %v", err)
		}
		for _, c := range []Ciphertext{c1, c2} {
			if _, err := s.Decrypt(ctxBg, "org-a", k.ID, c, aad); err != nil {
				t.Fatalf("Decrypt version %d after unseal: %v", c.Version, err)
			}
		}
		if strings.Contains(logs.String(), cfg.PIN) || strings.Contains(cfg.String(), cfg.PIN) {
			t.Fatal("the PIN reached the log or HSMConfig.String")
		}
		want := []string{"key.init", "key.create", "key.rotate", "key.seal", "key.unseal"}
		if got := auditActions(t, db); !slices.Equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
	})
}

// TestHSMWrongKey: a token whose key of the right label is not the one
// the service was initialised with is refused by the check value.
func TestHSMWrongKey(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	s, cfg, _ := newHSM(t, db)
	if err := s.Seal(ctxBg, staff); err != nil {
		t.Fatal(err)
	}
	// Another database initialised on the same token with the same label
	// is refused (the label is taken) …
	other := New(storetest.Open(t, store.SQLite), Options{})
	if err := other.InitHSM(ctxBg, staff, cfg); fault.KindOf(err) != fault.Conflict {
		t.Fatalf("InitHSM over an existing label: %v", err)
	}
	// … and a service whose check value is not this key's refuses it.
	if _, err := db.ExecContext(ctxBg, `UPDATE key_custody SET check_value = $1`, make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	err := s.UnsealHSM(ctxBg, custodian, cfg)
	if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "not the master key") {
		t.Fatalf("UnsealHSM with a foreign check value: %v", err)
	}
	if st, _ := s.Status(ctxBg); !st.Sealed {
		t.Fatal("unsealed with the wrong key")
	}
}
