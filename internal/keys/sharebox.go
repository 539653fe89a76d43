package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// A share can be handed out encrypted to its custodian's X25519 public key
// (openssl genpkey -algorithm X25519), so that whoever prints or carries it
// cannot use it: an ephemeral X25519 agreement, HKDF-SHA256 and AES-256-GCM,
// as HPKE's base mode does. The box is sealedSharePrefix then base64 of
// ephemeral public key (32) || nonce (12) || ciphertext || tag (16).
const sealedSharePrefix = "hatoba-sealed-share-v1:"

var shareBoxInfo = []byte("hatoba keyd share box v1")

// ParseCustodianKey reads a custodian's X25519 public key (PEM, PKIX).
func ParseCustodianKey(pemBytes []byte) (*ecdh.PublicKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, fault.Invalidf("keys: a custodian key must be PEM (openssl pkey -pubout of an X25519 key)")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fault.Invalidf("keys: custodian key: %v", err)
	}
	pub, ok := k.(*ecdh.PublicKey)
	if !ok || pub.Curve() != ecdh.X25519() {
		return nil, fault.Invalidf("keys: a custodian key must be X25519, not %T", k)
	}
	return pub, nil
}

// ParseCustodianPrivateKey reads a custodian's X25519 private key (PEM,
// PKCS#8).
func ParseCustodianPrivateKey(pemBytes []byte) (*ecdh.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, fault.Invalidf("keys: a custodian's private key must be PEM (PKCS#8)")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fault.Invalidf("keys: custodian private key: %v", err)
	}
	priv, ok := k.(*ecdh.PrivateKey)
	if !ok || priv.Curve() != ecdh.X25519() {
		return nil, fault.Invalidf("keys: a custodian's private key must be X25519, not %T", k)
	}
	return priv, nil
}

func shareBoxAEAD(shared, ephemeral, recipient []byte) (cipher.AEAD, error) {
	salt := append(append([]byte{}, ephemeral...), recipient...)
	key, err := hkdf.Key(sha256.New, shared, salt, string(shareBoxInfo), 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// SealShare encrypts a share to a custodian's public key.
func SealShare(share string, to *ecdh.PublicKey) (string, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("keys: seal share: %w", err)
	}
	shared, err := eph.ECDH(to)
	if err != nil {
		return "", fmt.Errorf("keys: seal share: %w", err)
	}
	aead, err := shareBoxAEAD(shared, eph.PublicKey().Bytes(), to.Bytes())
	if err != nil {
		return "", fmt.Errorf("keys: seal share: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("keys: seal share: %w", err)
	}
	out := append(eph.PublicKey().Bytes(), nonce...)
	out = aead.Seal(out, nonce, []byte(share), shareBoxInfo)
	return sealedSharePrefix + base64.StdEncoding.EncodeToString(out), nil
}

// IsSealedShare reports whether s is a share encrypted by SealShare.
func IsSealedShare(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), sealedSharePrefix) }

// OpenShare decrypts what SealShare made with the custodian's private key.
func OpenShare(sealed string, with *ecdh.PrivateKey) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(sealed), sealedSharePrefix))
	if err != nil || len(raw) < 32+12+16 {
		return "", fault.Invalidf("keys: not a sealed share")
	}
	ephPub, err := ecdh.X25519().NewPublicKey(raw[:32])
	if err != nil {
		return "", fault.Invalidf("keys: not a sealed share")
	}
	shared, err := with.ECDH(ephPub)
	if err != nil {
		return "", fault.Invalidf("keys: not a sealed share")
	}
	aead, err := shareBoxAEAD(shared, raw[:32], with.PublicKey().Bytes())
	if err != nil {
		return "", fmt.Errorf("keys: open share: %w", err)
	}
	share, err := aead.Open(nil, raw[32:44], raw[44:], shareBoxInfo)
	if err != nil {
		return "", fault.Invalidf("keys: this share was sealed to another custodian's key, or is damaged")
	}
	return string(share), nil
}
