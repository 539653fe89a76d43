//go:build cgo

package smartcard_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/smartcard"
	"github.com/hatoba-cloud/hatoba/internal/smartcard/smartcardtest"
)

// TestSignAction: the card signs an action statement the way the server
// checks it, RSA (the My Number Card's) and ECDSA, and refuses to sign
// what is not a statement.
func TestSignAction(t *testing.T) {
	h := smartcardtest.New(t)
	p, _ := pkitest.New(t, pkitest.Options{})
	h.AddToken("rsa", pin, smartcardtest.Key{Leaf: p.EmptySubject, Label: "auth", ID: []byte{1}})
	h.AddToken("ec", pin, smartcardtest.Key{Leaf: p.Valid, Label: "auth", ID: []byte{2}})
	st, err := pki.NewActionStatement(audience, "POST", "/api/v1/organizations/nat-digital/keys", []byte(`{"id":"k1"}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for token, leaf := range map[string]*pkitest.Leaf{"rsa": p.EmptySubject, "ec": p.Valid} {
		card := open(t, smartcard.Options{ModulePath: h.Module, TokenLabel: token, PIN: pin})
		sig, err := card.SignAction(stmt)
		if err != nil {
			t.Fatalf("%s: %v", token, err)
		}
		if err := pki.VerifyActionSignature(leaf.Cert, stmt, sig); err != nil {
			t.Fatalf("%s: the server would refuse the card's confirmation: %v", token, err)
		}
		if _, err := card.SignAction([]byte("hatoba login v1\n")); err == nil {
			t.Fatalf("%s: the card signed something that is not a statement", token)
		}
		if err := card.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := card.SignAction(stmt); !errors.Is(err, smartcard.ErrClosed) {
			t.Fatalf("%s: sign after close: %v", token, err)
		}
	}
}
