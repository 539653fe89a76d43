//go:build cgo

package smartcard_test

// These tests share one process-wide PKCS#11 module (crypto11 keeps one
// instance per module path) and point SoftHSM2 at each test's own token
// directory through SOFTHSM2_CONF, so none of them is parallel and every
// card is closed before its test ends.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/smartcard"
	"github.com/hatoba-cloud/hatoba/internal/smartcard/smartcardtest"
)

const (
	pin      = "1234"
	audience = "https://hatoba.example"
)

func challenge(t *testing.T) []byte {
	t.Helper()
	c := make([]byte, 32)
	if _, err := rand.Read(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func open(t *testing.T, o smartcard.Options) *smartcard.Card {
	t.Helper()
	c, err := smartcard.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestSignAndVerifyLogin(t *testing.T) {
	h := smartcardtest.New(t)
	p, files := pkitest.New(t, pkitest.Options{})
	h.AddToken("card-rsa", pin, smartcardtest.Key{Leaf: p.EmptySubject, Label: "User Authentication Key", ID: []byte{0x01}})
	h.AddToken("card-ec", pin, smartcardtest.Key{Leaf: p.Valid, Label: "login", ID: []byte{0x02}})
	h.AddToken("card-two", pin,
		smartcardtest.Key{Leaf: p.ValidRSA, Label: "auth", ID: []byte{0x0a}},
		smartcardtest.Key{Leaf: p.Valid, Label: "sign", ID: []byte{0x0b}})
	v, err := pki.New(pki.Options{ClientCAFiles: []string{files.CAs}, Now: func() time.Time { return p.Now }})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		opts smartcard.Options
		leaf *pkitest.Leaf
	}{
		{"ok/rsa card, the only key", smartcard.Options{TokenLabel: "card-rsa"}, p.EmptySubject},
		{"ok/rsa card by key label", smartcard.Options{TokenLabel: "card-rsa", KeyLabel: "User Authentication Key"}, p.EmptySubject},
		{"ok/ecdsa by key id", smartcard.Options{TokenLabel: "card-ec", KeyID: []byte{0x02}}, p.Valid},
		{"ok/one of two keys by label", smartcard.Options{TokenLabel: "card-two", KeyLabel: "auth"}, p.ValidRSA},
		{"ok/one of two keys by id", smartcard.Options{TokenLabel: "card-two", KeyID: []byte{0x0b}}, p.Valid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.ModulePath, o.PIN = h.Module, pin
			card := open(t, o)
			cert, err := card.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			if !cert.Equal(tt.leaf.Cert) {
				t.Fatalf("certificate %s, want %s", cert.Subject, tt.leaf.Cert.Subject)
			}
			ch := challenge(t)
			sig, err := card.Sign(audience, ch)
			if err != nil {
				t.Fatal(err)
			}
			// What the server does with the certificate and signature
			// the CLI sends.
			chain := append([]*x509.Certificate{cert}, tt.leaf.Chain[1:]...)
			id, err := v.VerifyLogin(context.Background(), chain, audience, ch, sig)
			if err != nil {
				t.Fatalf("the server refused the card's login: %v", err)
			}
			if id.Serial != pki.SerialText(cert.SerialNumber) {
				t.Fatalf("identity %+v", id)
			}
			if err := pki.VerifyLoginSignature(cert, "https://elsewhere.example", ch, sig); !errors.Is(err, pki.ErrBadLoginSignature) {
				t.Fatalf("a signature for one server verified for another: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	h := smartcardtest.New(t)
	p, _ := pkitest.New(t, pkitest.Options{})
	h.AddToken("card", pin, smartcardtest.Key{Leaf: p.ValidRSA, Label: "auth", ID: []byte{1}})
	h.AddToken("two-keys", pin,
		smartcardtest.Key{Leaf: p.ValidRSA, Label: "auth", ID: []byte{1}},
		smartcardtest.Key{Leaf: p.Valid, Label: "sign", ID: []byte{2}})
	slot := 0
	for _, tt := range []struct {
		name string
		opts smartcard.Options
		want error
	}{
		{"fail/wrong pin", smartcard.Options{TokenLabel: "card", PIN: "9999"}, smartcard.ErrWrongPIN},
		{"fail/no pin", smartcard.Options{TokenLabel: "card"}, smartcard.ErrInvalidOptions},
		{"fail/missing token", smartcard.Options{TokenLabel: "no-such-card", PIN: pin}, smartcard.ErrTokenNotFound},
		{"fail/missing module", smartcard.Options{ModulePath: "/nonexistent/opensc-pkcs11.so", TokenLabel: "card", PIN: pin}, smartcard.ErrModuleNotFound},
		{"fail/token label and slot", smartcard.Options{TokenLabel: "card", SlotNumber: &slot, PIN: pin}, smartcard.ErrInvalidOptions},
		{"fail/no token chosen", smartcard.Options{PIN: pin}, smartcard.ErrInvalidOptions},
		{"fail/missing key", smartcard.Options{TokenLabel: "card", PIN: pin, KeyLabel: "nope"}, smartcard.ErrKeyNotFound},
		{"fail/two keys, none chosen", smartcard.Options{TokenLabel: "two-keys", PIN: pin}, smartcard.ErrAmbiguousKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.ModulePath == "" {
				o.ModulePath = h.Module
			}
			c, err := smartcard.Open(o)
			if err == nil {
				_ = c.Close()
				t.Fatal("opened")
			}
			t.Logf("err: %v", err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if bytes.Contains([]byte(err.Error()), []byte(pin)) && tt.opts.PIN != "" {
				t.Fatalf("the error shows the PIN: %v", err)
			}
		})
	}

	t.Run("fail/token already open", func(t *testing.T) {
		o := smartcard.Options{ModulePath: h.Module, TokenLabel: "card", PIN: pin}
		open(t, o)
		o.PIN = "9999"
		if _, err := smartcard.Open(o); !errors.Is(err, smartcard.ErrInUse) {
			t.Fatalf("second open with a wrong PIN: err = %v, want ErrInUse (not a silent success)", err)
		}
	})
	t.Run("ok/reopened after close", func(t *testing.T) {
		o := smartcard.Options{ModulePath: h.Module, TokenLabel: "card", PIN: pin}
		c, err := smartcard.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if _, err := c.Sign(audience, challenge(t)); !errors.Is(err, smartcard.ErrClosed) {
			t.Fatalf("sign after close: %v", err)
		}
		open(t, o)
	})
}

func TestKeyWithoutCertificate(t *testing.T) {
	h := smartcardtest.New(t)
	p, _ := pkitest.New(t, pkitest.Options{})
	h.AddToken("bare", pin, smartcardtest.Key{Leaf: p.Valid, Label: "auth", ID: []byte{7}, NoCertificate: true})
	card := open(t, smartcard.Options{ModulePath: h.Module, TokenLabel: "bare", PIN: pin})
	if _, err := card.Certificate(); !errors.Is(err, smartcard.ErrNoCertificate) {
		t.Fatalf("Certificate() err = %v, want ErrNoCertificate", err)
	}
	// The key still signs; the CLI could send a certificate from a file.
	ch := challenge(t)
	sig, err := card.Sign(audience, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.VerifyLoginSignature(p.Valid.Cert, audience, ch, sig); err != nil {
		t.Fatal(err)
	}
}

func TestSignConcurrently(t *testing.T) {
	h := smartcardtest.New(t)
	p, _ := pkitest.New(t, pkitest.Options{})
	h.AddToken("card", pin, smartcardtest.Key{Leaf: p.Valid, Label: "auth", ID: []byte{1}})
	card := open(t, smartcard.Options{ModulePath: h.Module, TokenLabel: "card", PIN: pin})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			ch := make([]byte, 32)
			_, _ = rand.Read(ch)
			sig, err := card.Sign(audience, ch)
			if err == nil {
				err = pki.VerifyLoginSignature(p.Valid.Cert, audience, ch, sig)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
