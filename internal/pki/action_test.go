package pki_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// sampleStatement is the statement docs/keys.md shows.
func sampleStatement() pki.ActionStatement {
	return pki.ActionStatement{Origin: "https://hatoba.example.go.jp", Method: "POST",
		Path: "/api/v1/organizations/nat-digital/keys", BodySHA256: sha256.Sum256([]byte("test")),
		Time: time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC), Nonce: bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4)}
}

func TestActionStatementFormat(t *testing.T) {
	t.Parallel()
	got, err := sampleStatement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The format is a contract between released CLIs and servers, and
	// docs/keys.md specifies it for other clients: this literal must not
	// change (make a v2 instead).
	want := "hatoba action v1\n" +
		"origin: https://hatoba.example.go.jp\n" +
		"method: POST\n" +
		"path: /api/v1/organizations/nat-digital/keys\n" +
		"body-sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n" +
		"time: 2026-04-01T09:30:00Z\n" +
		"nonce: 3q2-796tvu_erb7v3q2-7w\n"
	if string(got) != want {
		t.Fatalf("statement\n%s\nwant\n%s", got, want)
	}
	st, err := pki.ParseActionStatement(got)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Marshal(); !bytes.Equal(again, got) {
		t.Fatalf("round trip changed the statement:\n%s", again)
	}
	if h := pki.ActionStatementHash(got); len(h) != 64 {
		t.Fatalf("hash %q", h)
	}
}

func TestParseActionStatementRefuses(t *testing.T) {
	t.Parallel()
	good, err := sampleStatement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte { return []byte(strings.Replace(string(good), old, new, 1)) }
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"fail/empty", nil},
		{"fail/login message", []byte("hatoba login v1\nhttps://hatoba.example.go.jp\n0123456789abcdef")},
		{"fail/version 2", replace("v1", "v2")},
		{"fail/CRLF", []byte(strings.ReplaceAll(string(good), "\n", "\r\n"))},
		{"fail/no final newline", good[:len(good)-1]},
		{"fail/trailing bytes", append(append([]byte(nil), good...), "extra: 1\n"...)},
		{"fail/lines swapped", replace("method: POST\npath: /api/v1/organizations/nat-digital/keys\n", "path: /api/v1/organizations/nat-digital/keys\nmethod: POST\n")},
		{"fail/two spaces", replace("method: POST", "method:  POST")},
		{"fail/lower-case method", replace("method: POST", "method: post")},
		{"fail/origin with a path", replace("go.jp\n", "go.jp/\n")},
		{"fail/origin not normalised", replace("https://hatoba", "https://Hatoba")},
		{"fail/origin with default port", replace("go.jp\n", "go.jp:443\n")},
		{"fail/relative path", replace("path: /api", "path: api")},
		{"fail/space in path", replace("/keys", "/ke ys")},
		{"fail/non-ASCII path", replace("/keys", "/鍵")},
		{"fail/upper-case hex", replace("9f86d0", "9F86D0")},
		{"fail/short hash", replace("9f86d0", "9f86d")},
		{"fail/local time", replace("09:30:00Z", "09:30:00+09:00")},
		{"fail/fractional seconds", replace("09:30:00Z", "09:30:00.5Z")},
		{"fail/padded nonce", replace("3q2-796tvu_erb7v3q2-7w", "3q2-796tvu_erb7v3q2-7w==")},
		{"fail/standard base64 nonce", replace("3q2-796tvu_erb7v3q2-7w", "3q2+796tvu/erb7v3q2+7w")},
		{"fail/short nonce", replace("3q2-796tvu_erb7v3q2-7w", "3q2-796tvu_erb7v")},
		{"fail/non-canonical nonce bits", replace("3q2-796tvu_erb7v3q2-7w", "3q2-796tvu_erb7v3q2-7x")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if st, err := pki.ParseActionStatement(tt.in); err == nil {
				t.Fatalf("parsed %q as %+v", tt.in, st)
			}
		})
	}
}

func TestActionSignature(t *testing.T) {
	t.Parallel()
	p, _ := pkitest.New(t, pkitest.Options{})
	stmt, err := sampleStatement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other := []byte(strings.Replace(string(stmt), "/keys", "/keystore/kill", 1))
	for _, tt := range []struct {
		name         string
		signer, cert *pkitest.Leaf
		checked      []byte
		want         *pki.Error
	}{
		{"ok/rsa", p.ValidRSA, p.ValidRSA, stmt, nil},
		{"ok/ecdsa", p.Valid, p.Valid, stmt, nil},
		{"ok/empty subject card", p.EmptySubject, p.EmptySubject, stmt, nil},
		{"fail/another statement", p.ValidRSA, p.ValidRSA, other, pki.ErrBadActionSignature},
		{"fail/another card", p.EmptySubject, p.ValidRSA, stmt, pki.ErrBadActionSignature},
		{"fail/another card ecdsa", p.Revoked, p.Valid, stmt, pki.ErrBadActionSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := pki.SignAction(tt.signer.Key, stmt)
			if err != nil {
				t.Fatal(err)
			}
			wantRefusal(t, pki.VerifyActionSignature(tt.cert.Cert, tt.checked, sig), tt.want)
		})
	}
	t.Run("fail/a login signature is no action signature", func(t *testing.T) {
		sig, err := pki.SignLogin(p.ValidRSA.Key, "https://hatoba.example.go.jp", bytes.Repeat([]byte{1}, 32))
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.VerifyActionSignature(p.ValidRSA.Cert, stmt, sig); !errors.Is(err, pki.ErrBadActionSignature) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fail/only statements are signed", func(t *testing.T) {
		if _, err := pki.SignAction(p.ValidRSA.Key, []byte("anything")); err == nil {
			t.Fatal("signed a non-statement")
		}
	})
}

func TestNewActionStatement(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 4, 1, 9, 30, 0, 123, time.FixedZone("JST", 9*3600))
	a, err := pki.NewActionStatement("https://Hatoba.example.go.jp:443/x", "POST", "/api/v1/x?y=1", []byte(`{"id":"k1"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.NewActionStatement("https://hatoba.example.go.jp", "POST", "/api/v1/x?y=1", []byte(`{"id":"k1"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Origin != "https://hatoba.example.go.jp" || !a.Time.Equal(now.Truncate(time.Second)) || a.Time.Location() != time.UTC {
		t.Fatalf("statement %+v", a)
	}
	if bytes.Equal(a.Nonce, b.Nonce) {
		t.Fatal("two statements share a nonce")
	}
	for _, tt := range []struct{ name, server, method, path string }{
		{"fail/no scheme", "hatoba.example", "POST", "/x"},
		{"fail/method", "https://h", "post", "/x"},
		{"fail/path", "https://h", "POST", "x"},
	} {
		if _, err := pki.NewActionStatement(tt.server, tt.method, tt.path, nil, now); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestActionHeader(t *testing.T) {
	t.Parallel()
	h := pki.FormatActionHeader([]byte("s"), []byte("sig"), []byte("cert"))
	if h != "statement=cw; signature=c2ln; certificate=Y2VydA" {
		t.Fatalf("header %q", h)
	}
	s, sig, cert, err := pki.ParseActionHeader("certificate=Y2VydA;statement=cw ;  signature=c2ln")
	if err != nil || string(s) != "s" || string(sig) != "sig" || string(cert) != "cert" {
		t.Fatalf("parse: %q %q %q %v", s, sig, cert, err)
	}
	for _, bad := range []string{
		"", "statement=cw; signature=c2ln", "statement=cw; signature=c2ln; certificate=Y2VydA; statement=cw",
		"statement=cw; signature=c2ln; certificate=Y2VydA; extra=cw", "statement=cw; signature=c2ln; certificate=Y2VydA==",
		"statement=cw; signature=c2ln; certificate=", "statement; signature=c2ln; certificate=Y2VydA",
		"statement=c+w; signature=c2ln; certificate=Y2VydA",
		"statement=" + strings.Repeat("A", 20000) + "; signature=c2ln; certificate=Y2VydA",
	} {
		if _, _, _, err := pki.ParseActionHeader(bad); err == nil {
			t.Errorf("ParseActionHeader(%.60q) accepted", bad)
		}
	}
}

// FuzzParseActionStatement: the statement is outside input. Whatever it
// accepts is canonical — it marshals back to the same bytes — so one
// action has one statement and one hash.
func FuzzParseActionStatement(f *testing.F) {
	good, err := sampleStatement().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("hatoba action v1\n"))
	f.Add([]byte(strings.Replace(string(good), "POST", "DELETE", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := pki.ParseActionStatement(b)
		if err != nil {
			return
		}
		again, err := st.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %q, which marshals to %q (%v)", b, again, err)
		}
	})
}

// FuzzParseActionHeader: the header is outside input; it never panics and
// what it accepts formats back to an equivalent header.
func FuzzParseActionHeader(f *testing.F) {
	f.Add("statement=cw; signature=c2ln; certificate=Y2VydA")
	f.Add("certificate=Y2VydA;statement=cw;signature=c2ln")
	f.Add("statement=; signature=; certificate=")
	f.Fuzz(func(t *testing.T, v string) {
		s, sig, cert, err := pki.ParseActionHeader(v)
		if err != nil {
			return
		}
		s2, sig2, cert2, err := pki.ParseActionHeader(pki.FormatActionHeader(s, sig, cert))
		if err != nil || !bytes.Equal(s, s2) || !bytes.Equal(sig, sig2) || !bytes.Equal(cert, cert2) {
			t.Fatalf("%q did not survive a round trip: %v", v, err)
		}
		if base64.RawURLEncoding.EncodeToString(s) == "" {
			t.Fatal("accepted an empty statement")
		}
	})
}
