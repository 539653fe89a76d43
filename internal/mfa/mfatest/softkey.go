// Package mfatest is a software security key for tests that exercise the
// WebAuthn ceremonies without a browser. It is imported by tests only.
package mfatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// SoftKey is a software security key for the tests without a browser: it
// answers go-webauthn's Options the way a CTAP2 authenticator and a browser
// together would, with "none" attestation and an ES256 key, and its
// signature counter is whatever the test sets.
type SoftKey struct {
	t testing.TB
	// Origin is the page origin the answers name; a test sets another to
	// play a phishing site.
	Origin  string
	id      []byte
	key     *ecdsa.PrivateKey
	handle  []byte
	Counter uint32
	// Challenge, when set, replaces the server's challenge (a forged answer).
	Challenge string
}

// NewSoftKey makes a key for a relying party at origin.
func NewSoftKey(t testing.TB, origin string) *SoftKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &SoftKey{t: t, Origin: origin, id: id, key: key}
}

// ID is the credential ID as Credential.ID shows it.
func (k *SoftKey) ID() string { return B64(k.id) }

// Options is the part of go-webauthn's options the key reads.
type Options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials   []struct{ ID string } `json:"allowCredentials"`
		ExcludeCredentials []struct{ ID string } `json:"excludeCredentials"`
	} `json:"publicKey"`
}

// ParseOptions reads a begin call's options.
func ParseOptions(t testing.TB, raw json.RawMessage) Options {
	t.Helper()
	var o Options
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("Options %s: %v", raw, err)
	}
	if o.PublicKey.Challenge == "" {
		t.Fatalf("Options without a challenge: %s", raw)
	}
	return o
}

func (k *SoftKey) clientData(typ, challenge string) []byte {
	if k.Challenge != "" {
		challenge = k.Challenge
	}
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

func (k *SoftKey) authData(rpID string, flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.Counter)
	return append(out, attested...)
}

// Create answers registration Options as navigator.credentials.create would.
func (k *SoftKey) Create(raw json.RawMessage) []byte {
	k.t.Helper()
	o := ParseOptions(k.t, raw)
	handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		k.t.Fatalf("user.id %q: %v", o.PublicKey.User.ID, err)
	}
	k.handle = handle
	pub, err := k.key.PublicKey.ECDH()
	if err != nil {
		k.t.Fatal(err)
	}
	xy := pub.Bytes() // 0x04 ‖ X ‖ Y
	cose := cborMap(
		cborInt(1), cborInt(2), // kty: EC2
		cborInt(3), cborInt(-7), // alg: ES256
		cborInt(-1), cborInt(1), // crv: P-256
		cborInt(-2), cborBytes(xy[1:33]),
		cborInt(-3), cborBytes(xy[33:65]),
	)
	attested := make([]byte, 16) // AAGUID: zeros, as without attestation
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(attested, k.id...)
	attested = append(attested, cose...)
	const up, uv, at = 0x01, 0x04, 0x40
	attObj := cborMap(
		cborText("fmt"), cborText("none"),
		cborText("attStmt"), cborMap(),
		cborText("authData"), cborBytes(k.authData(o.PublicKey.RP.ID, up|uv|at, attested)),
	)
	return k.marshal(map[string]any{
		"clientDataJSON":    B64(k.clientData("webauthn.create", o.PublicKey.Challenge)),
		"attestationObject": B64(attObj),
		"transports":        []string{"usb"},
	})
}

// Get answers assertion Options as navigator.credentials.get would.
func (k *SoftKey) Get(raw json.RawMessage) []byte {
	k.t.Helper()
	o := ParseOptions(k.t, raw)
	const up, uv = 0x01, 0x04
	ad := k.authData(o.PublicKey.RPID, up|uv, nil)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return k.marshal(map[string]any{
		"clientDataJSON":    B64(cd),
		"authenticatorData": B64(ad),
		"signature":         B64(sig),
		"userHandle":        B64(k.handle),
	})
}

func (k *SoftKey) marshal(response map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": B64(k.id), "rawId": B64(k.id), "type": "public-key",
		"response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

// B64 is base64url without padding, as WebAuthn writes bytes.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// The few CBOR forms an attestation object needs (RFC 8949).

func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 1<<8:
		return []byte{major<<5 | 24, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	default:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
}

func cborInt(n int64) []byte {
	if n < 0 {
		return cborHead(1, uint64(-1-n))
	}
	return cborHead(0, uint64(n))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }

// cborMap takes keys and values in turn.
func cborMap(kv ...[]byte) []byte {
	out := cborHead(5, uint64(len(kv)/2))
	for _, item := range kv {
		out = append(out, item...)
	}
	return out
}
