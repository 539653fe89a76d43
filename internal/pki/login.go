package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The login signature, made by the CLI with the card's key and checked by
// the server:
//
//	message   = "hatoba login v1\n" + audience + "\n" + challenge
//	digest    = SHA-256(message)
//	signature = RSASSA-PKCS1-v1_5(digest)  for an RSA key (the My Number Card's)
//	          = ECDSA(digest), ASN.1 DER     for an ECDSA key
//
// The prefix keeps a login signature from being valid as anything else the
// key signs (and a signature made for anything else from being a login).
// The audience is the origin of the server the CLI believes it is talking
// to (LoginAudience), so a look-alike server that relays hatoba's challenge
// to a victim's CLI gets a signature hatoba refuses. The challenge is the
// server's one-time random nonce, raw bytes; it ends the message, so no
// length prefix is needed. PKCS#1 v1.5 rather than PSS because smart cards
// (and OpenSC's CKM_RSA_PKCS) do v1.5 everywhere; it is deterministic and
// has no known weakness for signatures.
const loginPrefix = "hatoba login v1\n"

// Challenge length bounds: at least 128 bits of the server's randomness,
// and no more than a card will sign without complaint.
const (
	MinChallengeBytes = 16
	MaxChallengeBytes = 1024
)

// LoginHash is the digest the login signature covers.
const LoginHash = crypto.SHA256

// LoginAudience normalises a server address to the audience both sides
// sign and check: the lowercase scheme and host (with port only when it is
// not the scheme's default), e.g. "https://hatoba.example.go.jp". The
// server passes its public URL; the CLI the URL it connects to.
func LoginAudience(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("login audience: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("login audience: %q is not an http(s) URL", serverURL)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("login audience: %q has no host", serverURL)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	return scheme + "://" + host, nil
}

// LoginMessage is the byte string a login signature covers (before
// hashing). audience must be LoginAudience's output; a newline in it, or a
// challenge of the wrong size, is an error.
func LoginMessage(audience string, challenge []byte) ([]byte, error) {
	if audience == "" || strings.ContainsAny(audience, "\n\r") {
		return nil, fmt.Errorf("login message: audience %q is empty or has a line break", audience)
	}
	if len(challenge) < MinChallengeBytes || len(challenge) > MaxChallengeBytes {
		return nil, fmt.Errorf("login message: challenge of %d bytes (want %d to %d)", len(challenge), MinChallengeBytes, MaxChallengeBytes)
	}
	m := make([]byte, 0, len(loginPrefix)+len(audience)+1+len(challenge))
	m = append(m, loginPrefix...)
	m = append(m, audience...)
	m = append(m, '\n')
	return append(m, challenge...), nil
}

// SignLogin makes the login signature with key: a crypto.Signer in memory
// for tests, or the card's key through PKCS#11 (internal/smartcard).
func SignLogin(key crypto.Signer, audience string, challenge []byte) ([]byte, error) {
	msg, err := LoginMessage(audience, challenge)
	if err != nil {
		return nil, err
	}
	switch key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("sign login: a %T key cannot make a login signature (RSA or ECDSA needed)", key.Public())
	}
	digest := sha256.Sum256(msg)
	// crypto.SHA256 as the options selects PKCS#1 v1.5 for RSA keys.
	sig, err := key.Sign(rand.Reader, digest[:], LoginHash)
	if err != nil {
		return nil, fmt.Errorf("sign login: %w", err)
	}
	return sig, nil
}

// VerifyLoginSignature checks sig over the login message with cert's
// public key. It checks the signature only: the server must have accepted
// the certificate with Verify (or use Verifier.VerifyLogin, which does
// both). A refusal is an *Error (ErrBadLoginSignature, ErrUnsupportedKey).
func VerifyLoginSignature(cert *x509.Certificate, audience string, challenge, sig []byte) error {
	msg, err := LoginMessage(audience, challenge)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(msg)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return refuse(ErrUnsupportedKey, "", fmt.Errorf("RSA key of %d bits", pub.N.BitLen()))
		}
		if err := rsa.VerifyPKCS1v15(pub, LoginHash, digest[:], sig); err != nil {
			return refuse(ErrBadLoginSignature, "", err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return refuse(ErrBadLoginSignature, "", errors.New("ECDSA signature does not verify"))
		}
	default:
		return refuse(ErrUnsupportedKey, "", fmt.Errorf("%T key", cert.PublicKey))
	}
	return nil
}

// VerifyLogin is the server side of a CLI login: the signature over the
// challenge with the key of chain[0] (the certificate read from the card),
// then Verify of the chain. The challenge must be the one the server issued
// and has now marked used; that bookkeeping is the caller's.
func (v *Verifier) VerifyLogin(ctx context.Context, chain []*x509.Certificate, audience string, challenge, sig []byte) (Identity, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Identity{}, refuse(ErrNoCertificate, "", nil)
	}
	// The signature first: it costs no network request, so a stranger's
	// garbage is turned away before any CRL is fetched on its behalf.
	if err := VerifyLoginSignature(chain[0], audience, challenge, sig); err != nil {
		return Identity{}, err
	}
	return v.Verify(ctx, chain)
}
