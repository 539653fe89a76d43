package keys

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestCustodyRefusesNoActor: unsealing needs its entry point to say who
// acts. A share without an actor is refused as an internal error before it
// counts; sealing without one still seals (the safe direction) but reports
// the defect, and neither is recorded in anyone's name.
func TestCustodyRefusesNoActor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, Options{})
		shares, err := s.InitSplit(ctxBg, staff, 5, 3)
		if err != nil {
			t.Fatal(err)
		}
		noActor := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, audit.ErrNoActor) || fault.KindOf(err) != fault.Internal {
				t.Fatalf("%s: %v (kind %s); want audit.ErrNoActor, internal", what, err, fault.KindOf(err))
			}
		}
		for _, sh := range shares[:2] {
			if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.SubmitShare(ctxBg, audit.Acting{}, shares[2])
		noActor("the threshold's share without an actor", err)
		if st, err := s.Status(ctxBg); err != nil || !st.Sealed || st.Submitted != 2 {
			t.Fatalf("after a refused share: %+v, %v; want sealed with 2 shares", st, err)
		}
		if p, err := s.SubmitShare(ctxBg, custodian, shares[2]); err != nil || p.Sealed {
			t.Fatalf("the same share with an actor: %+v, %v; want unsealed", p, err)
		}

		noActor("Seal without a person", s.Seal(ctxBg, authz.Principal{Role: authz.CentralOperator}))
		if _, _, err := s.masterOrSealed(); !errors.Is(err, ErrSealed) {
			t.Fatalf("after Seal without a person: %v; want sealed all the same", err)
		}
		if got, want := auditActors(t, db), []string{"p-op key.init", "custodian@192.0.2.1 key.unseal"}; !slices.Equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
	})
}

func TestSplitSealUnseal(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, Options{})
		st, err := s.Status(ctxBg)
		if err != nil || st.Initialized || !st.Sealed {
			t.Fatalf("fresh status %+v, %v; want uninitialised and sealed", st, err)
		}
		if _, err := s.SubmitShare(ctxBg, custodian, "hatoba-share-1-00"); !errors.Is(err, ErrNotInitialized) {
			t.Fatalf("SubmitShare before Init: %v", err)
		}
		shares, err := s.InitSplit(ctxBg, staff, 5, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(shares) != 5 {
			t.Fatalf("%d shares, want 5", len(shares))
		}
		if _, err := s.InitSplit(ctxBg, staff, 5, 3); !errors.Is(err, ErrAlreadyInitialized) {
			t.Fatalf("second InitSplit: %v", err)
		}
		st, _ = s.Status(ctxBg)
		if !st.Initialized || !st.Sealed || st.Mode != ModeSplit || st.Threshold != 3 || st.Shares != 5 {
			t.Fatalf("status after init %+v", st)
		}
		addOrg(t, db, "org-a")
		// Sealed: nothing is served.
		_, err = s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: "k1"})
		wantErr(t, "CreateKey while sealed", err, ErrSealed)
		_, err = s.Encrypt(ctxBg, "org-a", "k1", []byte("x"), nil)
		wantErr(t, "Encrypt while sealed", err, ErrSealed)
		_, err = s.Key(ctxBg, "org-a", "k1")
		wantErr(t, "Key while sealed", err, ErrSealed)

		p, err := s.SubmitShare(ctxBg, custodian, shares[4])
		if err != nil || p.Submitted != 1 || p.Threshold != 3 || !p.Sealed {
			t.Fatalf("first share: %+v, %v", p, err)
		}
		// The same share again is refused and does not count.
		p, err = s.SubmitShare(ctxBg, custodian, shares[4])
		wantErr(t, "duplicate share", err, ErrInvalidShare)
		if p.Submitted != 1 {
			t.Fatalf("duplicate counted: %+v", p)
		}
		p, err = s.SubmitShare(ctxBg, custodian, shares[1])
		if err != nil || p.Submitted != 2 || !p.Sealed {
			t.Fatalf("second share: %+v, %v", p, err)
		}
		p, err = s.SubmitShare(ctxBg, custodian, shares[2])
		if err != nil || p.Sealed {
			t.Fatalf("third share: %+v, %v; want unsealed", p, err)
		}
		k := mustKey(t, s, "org-a", KeySpec{ID: "k1"})
		c, err := s.Encrypt(ctxBg, "org-a", k.ID, []byte("data key"), []byte("ctx"))
		if err != nil {
			t.Fatal(err)
		}

		if err := s.Seal(ctxBg, staff); err != nil {
			t.Fatal(err)
		}
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c, []byte("ctx"))
		wantErr(t, "Decrypt after Seal", err, ErrSealed)
		s.mu.RLock()
		if s.master != nil || len(s.cache) != 0 {
			t.Error("Seal left the master key or cached tenant keys in memory")
		}
		s.mu.RUnlock()
		// The kill switch works while sealed; reviving needs the service.
		if err := s.Kill(ctxBg, owner, "org-a"); err != nil {
			t.Fatalf("Kill while sealed: %v", err)
		}
		wantErr(t, "Revive while sealed", s.Revive(ctxBg, owner, "org-a"), ErrSealed)

		// Any three others unseal again, and the old ciphertext decrypts.
		for _, sh := range []string{shares[0], shares[3], shares[1]} {
			if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.Decrypt(ctxBg, "org-a", k.ID, c, []byte("ctx"))
		wantErr(t, "Decrypt after unseal, killed", err, ErrKillSwitch)
		if err := s.Revive(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		got, err := s.Decrypt(ctxBg, "org-a", k.ID, c, []byte("ctx"))
		if err != nil || string(got) != "data key" {
			t.Fatalf("Decrypt after unseal: %q, %v", got, err)
		}
		want := []string{"key.init", "key.unseal", "key.create", "key.seal", "key.kill", "key.unseal", "key.revive"}
		if got := auditActions(t, db); !slices.Equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
	})
}

func TestSplitWrongShares(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s := New(db, Options{})
	shares, err := s.InitSplit(ctxBg, staff, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.custody(ctxBg)
	if err != nil {
		t.Fatal(err)
	}
	good, err := decodeShare(shares[1], c.keysetID)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed share (right keyset, right checksum) with a wrong value.
	bad := shamirShare{x: good.x, y: bytes.Clone(good.y)}
	bad.y[0] ^= 1
	forged := encodeShare(c.keysetID, bad)
	// A share of another initialisation.
	other := New(storetest.Open(t, store.SQLite), Options{})
	foreign, err := other.InitSplit(ctxBg, staff, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	mistyped := []byte(shares[2])
	// One hexadecimal digit changed to another.
	if i := len(mistyped) - 10; mistyped[i] == '0' {
		mistyped[i] = '1'
	} else {
		mistyped[i] = '0'
	}

	tests := []struct {
		name  string
		share string
		want  error
	}{
		{"fail/empty", "", ErrInvalidShare},
		{"fail/no prefix", strings.TrimPrefix(shares[0], sharePrefix), ErrInvalidShare},
		{"fail/not hex", sharePrefix + "zz", ErrInvalidShare},
		{"fail/short", shares[0][:len(shares[0])-2], ErrInvalidShare},
		{"fail/mistyped", string(mistyped), ErrInvalidShare},
		{"fail/other initialisation", foreign[0], ErrInvalidShare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.SubmitShare(ctxBg, custodian, tt.share)
			wantErr(t, "SubmitShare", err, tt.want)
			if p.Submitted != 0 {
				t.Fatalf("an invalid share counted: %+v", p)
			}
		})
	}
	// The forged share passes every check on its own, so the mismatch
	// shows only when combined — and must not unseal.
	if _, err := s.SubmitShare(ctxBg, custodian, shares[0]); err != nil {
		t.Fatal(err)
	}
	p, err := s.SubmitShare(ctxBg, custodian, forged)
	wantErr(t, "combining a wrong share", err, ErrSharesMismatch)
	if !p.Sealed || p.Submitted != 0 {
		t.Fatalf("after a mismatch: %+v; want sealed with no shares kept", p)
	}
	if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), "shares do not match") {
		t.Fatalf("mismatch error %q (kind %s)", err, fault.KindOf(err))
	}
	if st, _ := s.Status(ctxBg); !st.Sealed || st.Submitted != 0 {
		t.Fatalf("status after mismatch %+v", st)
	}
	// Starting again with right shares works.
	for _, sh := range shares[1:] {
		if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Status(ctxBg); st.Sealed {
		t.Fatal("right shares did not unseal")
	}
}

func TestInitSplitValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n, k       int
		wantKind   fault.Kind
		wantShares int
	}{
		{name: "ok/2 of 3", n: 3, k: 2, wantShares: 3},
		{name: "ok/5 of 5", n: 5, k: 5, wantShares: 5},
		{name: "fail/threshold 1", n: 3, k: 1, wantKind: fault.Invalid},
		{name: "fail/threshold above shares", n: 2, k: 3, wantKind: fault.Invalid},
		{name: "fail/too many shares", n: 256, k: 2, wantKind: fault.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(storetest.Open(t, store.SQLite), Options{})
			shares, err := s.InitSplit(ctxBg, staff, tt.n, tt.k)
			if tt.wantKind != "" {
				if fault.KindOf(err) != tt.wantKind {
					t.Fatalf("InitSplit(%d, %d): %v; want %s", tt.n, tt.k, err, tt.wantKind)
				}
				return
			}
			if err != nil || len(shares) != tt.wantShares {
				t.Fatalf("InitSplit: %d shares, %v", len(shares), err)
			}
		})
	}
}
