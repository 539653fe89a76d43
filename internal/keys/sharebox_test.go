package keys

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func custodianPEM(t *testing.T) (*ecdh.PrivateKey, []byte, []byte) {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
}

// A share sealed to a custodian opens with that custodian's key only, and
// the sealed form unseals the service once opened.
func TestShareBox(t *testing.T) {
	t.Parallel()
	s := New(storetest.Open(t, store.SQLite), Options{})
	shares, err := s.InitSplit(ctxBg, staff, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, alicePub, alicePriv := custodianPEM(t)
	_, _, bobPriv := custodianPEM(t)
	pub, err := ParseCustodianKey(alicePub)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealShare(shares[0], pub)
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealedShare(sealed) || strings.Contains(sealed, shares[0]) {
		t.Fatalf("sealed share %q shows the share", sealed)
	}
	alice, err := ParseCustodianPrivateKey(alicePriv)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ParseCustodianPrivateKey(bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShare(sealed, bob); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("another custodian opened the share: %v", err)
	}
	tampered := sealed[:len(sealed)-4] + "AAA="
	if _, err := OpenShare(tampered, alice); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a damaged share opened: %v", err)
	}
	opened, err := OpenShare(sealed, alice)
	if err != nil || opened != shares[0] {
		t.Fatalf("open: %q %v", opened, err)
	}
	for _, sh := range []string{opened, shares[1]} {
		if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Status(ctxBg); st.Sealed {
		t.Fatal("still sealed")
	}
	for _, bad := range [][]byte{[]byte("not pem"), alicePriv} {
		if _, err := ParseCustodianKey(bad); fault.KindOf(err) != fault.Invalid {
			t.Errorf("ParseCustodianKey(%.20q) = %v, want invalid", bad, err)
		}
	}
}

// A sealed share from outside (a custodian's file) is opened or refused,
// never a panic.
func FuzzOpenShare(f *testing.F) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := SealShare("hatoba-share-1-00", k.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add("hatoba-sealed-share-v1:")
	f.Add("hatoba-sealed-share-v1:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = OpenShare(s, k)
		_, _ = ParseCustodianKey([]byte(s))
	})
}
