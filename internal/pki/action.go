package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A card-signed action confirmation: the CLI signs a canonical statement
// of one API request with the card's key, and the server accepts it in
// place of a recent WebAuthn assertion for that request only
// (docs/keys.md, "Confirming an action with the card"). The statement is
// seven lines, each ending in "\n", in this order and nothing else:
//
//	hatoba action v1
//	origin: https://hatoba.example.go.jp
//	method: POST
//	path: /api/v1/organizations/nat-digital/keys
//	body-sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	time: 2026-04-01T09:30:00Z
//	nonce: 3q2-7wAAAAAAAAAAAAAAAA
//
//	origin       LoginAudience of the server's address (scheme, host, port only when not the default)
//	method       the request's method, upper case
//	path         the request-target exactly as sent on the request line: path and ?query (printable ASCII)
//	body-sha256  lowercase hex SHA-256 of the body bytes exactly as sent (of nothing when there is none)
//	time         when it was signed, UTC, RFC 3339 in whole seconds with "Z"
//	nonce        16 to 64 random bytes, base64url without padding; never used twice
//
// The signature is made like the login's: SHA-256 of the statement's
// bytes, RSASSA-PKCS1-v1_5 for an RSA key, ECDSA (ASN.1 DER) for an EC
// key. The first line differs from the login message's, so neither is
// ever valid as the other. A statement is canonical: ParseActionStatement
// accepts exactly the bytes ActionStatement.Marshal makes, so one action
// has one statement and one hash (ActionStatementHash), which the audit
// entry of the action names.
const actionPrefix = "hatoba action v1\n"

// ActionSignatureHeader carries a confirmation on the request it confirms:
//
//	Hatoba-Action-Signature: statement=<b64>; signature=<b64>; certificate=<b64>
//
// each value base64url without padding: the statement's bytes, the
// signature, and the card's certificate (DER).
const ActionSignatureHeader = "Hatoba-Action-Signature"

// Limits on a statement and the header that carries it.
const (
	MinActionNonceBytes = 16
	MaxActionNonceBytes = 64
	maxActionPath       = 2048
	maxActionStatement  = 4096
	maxActionHeader     = 16 << 10
	actionTimeLayout    = "2006-01-02T15:04:05Z"
)

// CodeBadActionSignature is the refusal of a confirmation whose signature
// does not verify with the certificate it came with.
const CodeBadActionSignature Code = "bad_action_signature"

// ErrBadActionSignature is CodeBadActionSignature's sentinel.
var ErrBadActionSignature = &Error{Code: CodeBadActionSignature,
	Message: "The card's confirmation of this action did not verify. Sign the action again; if this keeps happening, your card may hold a different key than its certificate."}

// ActionStatement is one API request as the person confirms it.
type ActionStatement struct {
	Origin     string
	Method     string
	Path       string
	BodySHA256 [32]byte
	Time       time.Time
	Nonce      []byte
}

// NewActionStatement describes a request to server (its URL, as the
// client connects to it) made now, with a fresh random nonce.
func NewActionStatement(serverURL, method, path string, body []byte, now time.Time) (ActionStatement, error) {
	origin, err := LoginAudience(serverURL)
	if err != nil {
		return ActionStatement{}, err
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return ActionStatement{}, fmt.Errorf("action statement: nonce: %w", err)
	}
	st := ActionStatement{Origin: origin, Method: method, Path: path, BodySHA256: sha256.Sum256(body),
		Time: now.UTC().Truncate(time.Second), Nonce: nonce}
	if err := st.check(); err != nil {
		return ActionStatement{}, err
	}
	return st, nil
}

// Marshal returns the statement's canonical bytes, the ones signed.
func (st ActionStatement) Marshal() ([]byte, error) {
	if err := st.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(actionPrefix)
	b.WriteString("origin: " + st.Origin + "\n")
	b.WriteString("method: " + st.Method + "\n")
	b.WriteString("path: " + st.Path + "\n")
	b.WriteString("body-sha256: " + hex.EncodeToString(st.BodySHA256[:]) + "\n")
	b.WriteString("time: " + st.Time.UTC().Format(actionTimeLayout) + "\n")
	b.WriteString("nonce: " + base64.RawURLEncoding.EncodeToString(st.Nonce) + "\n")
	return b.Bytes(), nil
}

// check validates every field against the format.
func (st ActionStatement) check() error {
	if st.Origin == "" {
		return errors.New("action statement: no origin")
	}
	if norm, err := LoginAudience(st.Origin); err != nil || norm != st.Origin || !printable(st.Origin) {
		return fmt.Errorf("action statement: origin %q is not a normalised https or http origin", st.Origin)
	}
	if st.Method == "" || len(st.Method) > 16 || strings.IndexFunc(st.Method, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return fmt.Errorf("action statement: method %q is not an upper-case HTTP method", st.Method)
	}
	if !strings.HasPrefix(st.Path, "/") || len(st.Path) > maxActionPath || !printable(st.Path) {
		return fmt.Errorf("action statement: path %q is not a request path of printable ASCII (at most %d bytes) starting with /", st.Path, maxActionPath)
	}
	if st.Time.IsZero() || st.Time.Nanosecond() != 0 || st.Time.Year() < 2000 || st.Time.Year() > 9999 {
		return errors.New("action statement: the time must be set, in whole seconds")
	}
	if len(st.Nonce) < MinActionNonceBytes || len(st.Nonce) > MaxActionNonceBytes {
		return fmt.Errorf("action statement: a nonce of %d bytes (want %d to %d)", len(st.Nonce), MinActionNonceBytes, MaxActionNonceBytes)
	}
	return nil
}

// printable reports whether s is visible ASCII, without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ParseActionStatement reads a statement. Only the canonical form is
// accepted: the seven lines in order, no other bytes, values as Marshal
// writes them.
func ParseActionStatement(b []byte) (ActionStatement, error) {
	if len(b) > maxActionStatement {
		return ActionStatement{}, fmt.Errorf("action statement: longer than %d bytes", maxActionStatement)
	}
	rest, ok := bytes.CutPrefix(b, []byte(actionPrefix))
	if !ok {
		return ActionStatement{}, errors.New(`action statement: it must begin with the line "hatoba action v1"`)
	}
	names := []string{"origin", "method", "path", "body-sha256", "time", "nonce"}
	vals := make([]string, len(names))
	for i, name := range names {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return ActionStatement{}, fmt.Errorf("action statement: line %q is missing or does not end in a newline", name)
		}
		v, ok := strings.CutPrefix(string(line), name+": ")
		if !ok {
			return ActionStatement{}, fmt.Errorf("action statement: line %d must be %q", i+2, name+": …")
		}
		vals[i], rest = v, after
	}
	if len(rest) != 0 {
		return ActionStatement{}, errors.New("action statement: bytes after the nonce line")
	}
	st := ActionStatement{Origin: vals[0], Method: vals[1], Path: vals[2]}
	if len(vals[3]) != 64 || strings.ToLower(vals[3]) != vals[3] {
		return ActionStatement{}, errors.New("action statement: body-sha256 must be 64 lowercase hex digits")
	}
	if _, err := hex.Decode(st.BodySHA256[:], []byte(vals[3])); err != nil {
		return ActionStatement{}, errors.New("action statement: body-sha256 must be 64 lowercase hex digits")
	}
	t, err := time.Parse(actionTimeLayout, vals[4])
	if err != nil || t.Format(actionTimeLayout) != vals[4] {
		return ActionStatement{}, fmt.Errorf("action statement: time %q is not UTC RFC 3339 in whole seconds (2006-01-02T15:04:05Z)", vals[4])
	}
	st.Time = t
	if st.Nonce, err = base64.RawURLEncoding.Strict().DecodeString(vals[5]); err != nil {
		return ActionStatement{}, errors.New("action statement: the nonce must be base64url without padding")
	}
	if err := st.check(); err != nil {
		return ActionStatement{}, err
	}
	// Belt and braces: what was read must be what would be written.
	if canon, err := st.Marshal(); err != nil || !bytes.Equal(canon, b) {
		return ActionStatement{}, errors.New("action statement: not in canonical form")
	}
	return st, nil
}

// ActionStatementHash is the hex SHA-256 of a statement's bytes: how the
// audit log names a confirmation.
func ActionStatementHash(statement []byte) string {
	h := sha256.Sum256(statement)
	return hex.EncodeToString(h[:])
}

// SignAction signs a statement (Marshal's bytes) with key: a
// crypto.Signer in memory for tests, or the card's key through PKCS#11
// (smartcard.Card.SignAction). The statement is parsed first, so only a
// well-formed statement is ever signed.
func SignAction(key crypto.Signer, statement []byte) ([]byte, error) {
	if _, err := ParseActionStatement(statement); err != nil {
		return nil, err
	}
	switch key.Public().(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("sign action: a %T key cannot sign (RSA or ECDSA needed)", key.Public())
	}
	digest := sha256.Sum256(statement)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign action: %w", err)
	}
	return sig, nil
}

// VerifyActionSignature checks sig over statement with cert's public key,
// and nothing else: the caller checks the certificate (Verify), whose
// card it is, and that the statement matches the request. A refusal is an
// *Error (ErrBadActionSignature, ErrUnsupportedKey).
func VerifyActionSignature(cert *x509.Certificate, statement, sig []byte) error {
	digest := sha256.Sum256(statement)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return refuse(ErrUnsupportedKey, "", fmt.Errorf("RSA key of %d bits", pub.N.BitLen()))
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			return refuse(ErrBadActionSignature, "", err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return refuse(ErrBadActionSignature, "", errors.New("ECDSA signature does not verify"))
		}
	default:
		return refuse(ErrUnsupportedKey, "", fmt.Errorf("%T key", cert.PublicKey))
	}
	return nil
}

// FormatActionHeader is the value of ActionSignatureHeader.
func FormatActionHeader(statement, sig, certDER []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return "statement=" + enc(statement) + "; signature=" + enc(sig) + "; certificate=" + enc(certDER)
}

// ParseActionHeader reads ActionSignatureHeader's value: the three
// parameters, each exactly once, in any order, separated by ";" and
// optional spaces. It decodes them; it checks none of them.
func ParseActionHeader(v string) (statement, sig, certDER []byte, err error) {
	if len(v) > maxActionHeader {
		return nil, nil, nil, fmt.Errorf("%s: longer than %d bytes", ActionSignatureHeader, maxActionHeader)
	}
	got := map[string][]byte{}
	for part := range strings.SplitSeq(v, ";") {
		name, val, ok := strings.Cut(strings.Trim(part, " \t"), "=")
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s: %q is not name=value", ActionSignatureHeader, clip(part))
		}
		switch name {
		case "statement", "signature", "certificate":
		default:
			return nil, nil, nil, fmt.Errorf("%s: unknown parameter %q (statement, signature, certificate)", ActionSignatureHeader, clip(name))
		}
		if _, dup := got[name]; dup {
			return nil, nil, nil, fmt.Errorf("%s: %s given twice", ActionSignatureHeader, name)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(val)
		if err != nil || len(b) == 0 {
			return nil, nil, nil, fmt.Errorf("%s: %s is not base64url without padding", ActionSignatureHeader, name)
		}
		got[name] = b
	}
	for _, name := range []string{"statement", "signature", "certificate"} {
		if got[name] == nil {
			return nil, nil, nil, fmt.Errorf("%s: %s is missing", ActionSignatureHeader, name)
		}
	}
	return got["statement"], got["signature"], got["certificate"], nil
}

// clip shortens outside input quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
