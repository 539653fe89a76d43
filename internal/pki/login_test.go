package pki_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

func TestLoginAudience(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string // want "" for an error
	}{
		{"https://hatoba.example.go.jp", "https://hatoba.example.go.jp"},
		{"https://Hatoba.Example.GO.JP:443/login?x=1", "https://hatoba.example.go.jp"},
		{"HTTPS://localhost:8443/", "https://localhost:8443"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"hatoba.example", ""},
		{"ftp://hatoba.example", ""},
		{"https://", ""},
		{"://", ""},
	} {
		got, err := pki.LoginAudience(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("LoginAudience(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("LoginAudience(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoginMessage(t *testing.T) {
	t.Parallel()
	challenge := bytes.Repeat([]byte{0xa5}, 32)
	got, err := pki.LoginMessage("https://hatoba.example", challenge)
	if err != nil {
		t.Fatal(err)
	}
	// The wire format is a contract between released CLIs and servers:
	// this literal must not change (make a v2 instead).
	want := append([]byte("hatoba login v1\nhttps://hatoba.example\n"), challenge...)
	if !bytes.Equal(got, want) {
		t.Fatalf("message %q, want %q", got, want)
	}
	for _, tt := range []struct {
		name      string
		audience  string
		challenge []byte
	}{
		{"fail/empty audience", "", challenge},
		{"fail/line break in audience", "https://a\nhttps://b", challenge},
		{"fail/short challenge", "https://a", challenge[:pki.MinChallengeBytes-1]},
		{"fail/long challenge", "https://a", make([]byte, pki.MaxChallengeBytes+1)},
	} {
		if _, err := pki.LoginMessage(tt.audience, tt.challenge); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestLoginSignature(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	const aud = "https://hatoba.example"
	challenge := make([]byte, 32)
	_, _ = rand.Read(challenge)
	other := append([]byte(nil), challenge...)
	other[0] ^= 1

	for _, tt := range []struct {
		name              string
		signer            *pkitest.Leaf // whose key signs
		cert              *pkitest.Leaf // whose certificate checks
		signAud, checkAud string
		checkChallenge    []byte
		want              *pki.Error
	}{
		{"ok/rsa", p.ValidRSA, p.ValidRSA, aud, aud, challenge, nil},
		{"ok/ecdsa", p.Valid, p.Valid, aud, aud, challenge, nil},
		{"ok/empty subject card", p.EmptySubject, p.EmptySubject, aud, aud, challenge, nil},
		{"fail/another audience", p.ValidRSA, p.ValidRSA, "https://hatoba.evil.example", aud, challenge, pki.ErrBadLoginSignature},
		{"fail/another challenge", p.Valid, p.Valid, aud, aud, other, pki.ErrBadLoginSignature},
		{"fail/another key rsa", p.EmptySubject, p.ValidRSA, aud, aud, challenge, pki.ErrBadLoginSignature},
		{"fail/another key ecdsa", p.Revoked, p.Valid, aud, aud, challenge, pki.ErrBadLoginSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := pki.SignLogin(tt.signer.Key, tt.signAud, challenge)
			if err != nil {
				t.Fatal(err)
			}
			err = pki.VerifyLoginSignature(tt.cert.Cert, tt.checkAud, tt.checkChallenge, sig)
			wantRefusal(t, err, tt.want)
		})
	}

	t.Run("ok/verify login checks the certificate too", func(t *testing.T) {
		v := newVerifier(t, p, files, nil)
		sig := must[[]byte](t)(pki.SignLogin(p.ValidRSA.Key, aud, challenge))
		id, err := v.VerifyLogin(context.Background(), p.ValidRSA.Chain, aud, challenge, sig)
		if err != nil || id.Serial != pki.SerialText(p.ValidRSA.Cert.SerialNumber) {
			t.Fatalf("VerifyLogin = %+v, %v", id, err)
		}
		sig = must[[]byte](t)(pki.SignLogin(p.Revoked.Key, aud, challenge))
		_, err = v.VerifyLogin(context.Background(), p.Revoked.Chain, aud, challenge, sig)
		wantRefusal(t, err, pki.ErrRevoked)
		_, err = v.VerifyLogin(context.Background(), nil, aud, challenge, sig)
		wantRefusal(t, err, pki.ErrNoCertificate)
	})

	t.Run("fail/ed25519 is not a card key", func(t *testing.T) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pki.SignLogin(priv, aud, challenge); err == nil {
			t.Fatal("SignLogin with an Ed25519 key: no error")
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ed"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der := must[[]byte](t)(x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv))
		cert := must[*x509.Certificate](t)(x509.ParseCertificate(der))
		err = pki.VerifyLoginSignature(cert, aud, challenge, ed25519.Sign(priv, challenge))
		if !errors.Is(err, pki.ErrUnsupportedKey) {
			t.Fatalf("err = %v, want unsupported key", err)
		}
	})
}
