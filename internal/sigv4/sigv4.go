// Package sigv4 verifies AWS Signature Version 4 requests on the server side.
//
// The SDKs only sign; nobody verifies signatures outside AWS, so the
// canonical form is built here from the specification:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// Both the simulated cloud (many AWS services, one credential) and the XKS
// proxy (service kms-xks-proxy, one credential per tenant key store) use it.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Scope is what a request's Credential says about its signer.
type Scope struct {
	AccessKeyID string
	Date        string // yyyymmdd
	Region      string
	Service     string
}

// ErrUnknownAccessKey is returned by a secret lookup for an access key id it
// does not know. Verify turns it into an UnrecognizedClientException.
var ErrUnknownAccessKey = errors.New("unknown access key id")

// Error is an authentication failure, carrying the AWS error code the real
// service would answer with. Every other error Verify returns comes from the
// secret lookup and is a server-side failure, not the caller's.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ScopeMismatch is a refusal because the credential's scope names another
// service or region than the verifier's: most often a client configured
// for the wrong region or endpoint rather than a forged request, so
// servers log it as such. It wraps the *Error the client is answered
// with (errors.As finds both).
type ScopeMismatch struct {
	Part string // "service" or "region"
	Got  string // what the request is signed for
	Want string // what this verifier accepts
	Err  *Error
}

func (e *ScopeMismatch) Error() string {
	return fmt.Sprintf("%s (the request is signed for %s %q, this server verifies %q)", e.Err.Error(), e.Part, e.Got, e.Want)
}

func (e *ScopeMismatch) Unwrap() error { return e.Err }

// Verifier checks signatures. The zero Service and Region accept any value,
// for servers (the simulated cloud) that check the scope themselves.
type Verifier struct {
	Service string
	Region  string
	// MaxSkew is how far the signer's clock may be from ours, either way.
	MaxSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify checks r's Authorization header against body and the secret that
// lookup returns for the credential's access key id. lookup is called at
// most once, after the header has been parsed, so a caller can capture what
// else it learns about the key (its tenant) in the closure.
func (v Verifier) Verify(r *http.Request, body []byte, lookup func(accessKeyID string) (secret string, err error)) (Scope, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return Scope{}, &Error{"MissingAuthenticationTokenException", "the request has no Authorization header"}
	}
	rest, ok := strings.CutPrefix(auth, Algorithm+" ")
	if !ok {
		return Scope{}, &Error{"IncompleteSignatureException", "only " + Algorithm + " signatures are accepted"}
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Scope{}, &Error{"IncompleteSignatureException", "malformed Authorization header"}
		}
		fields[k] = val
	}
	credential, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if credential == "" || signedHeaders == "" || signature == "" {
		return Scope{}, &Error{"IncompleteSignatureException", "Authorization needs Credential, SignedHeaders and Signature"}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return Scope{}, &Error{"IncompleteSignatureException", "malformed Credential"}
	}
	scope := Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	if v.Service != "" && scope.Service != v.Service {
		return scope, &ScopeMismatch{Part: "service", Got: scope.Service, Want: v.Service,
			Err: &Error{"InvalidSignatureException", "credential should be scoped to service " + v.Service}}
	}
	if v.Region != "" && scope.Region != v.Region {
		return scope, &ScopeMismatch{Part: "region", Got: scope.Region, Want: v.Region,
			Err: &Error{"InvalidSignatureException", "credential should be scoped to region " + v.Region}}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return scope, &Error{"IncompleteSignatureException", "X-Amz-Date is missing or malformed"}
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	if d := now.Sub(signedAt); d > v.MaxSkew || d < -v.MaxSkew {
		return scope, &Error{"InvalidSignatureException", "signature expired: the request was signed at " + amzDate}
	}
	if !strings.HasPrefix(amzDate, scope.Date) {
		return scope, &Error{"InvalidSignatureException", "credential date does not match X-Amz-Date"}
	}
	names := strings.Split(signedHeaders, ";")
	if !sort.StringsAreSorted(names) || !slices.Contains(names, "host") || !slices.Contains(names, "x-amz-date") {
		return scope, &Error{"IncompleteSignatureException", "SignedHeaders must be sorted and include host and x-amz-date"}
	}
	payloadHash := sha256.Sum256(body)
	payloadHex := hex.EncodeToString(payloadHash[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHex {
		return scope, &Error{"InvalidSignatureException", "X-Amz-Content-Sha256 does not match the body"}
	}

	secret, err := lookup(scope.AccessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return scope, &Error{"UnrecognizedClientException", "the security token included in the request is invalid"}
	}
	if err != nil {
		return scope, err
	}

	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(canonicalPath(r.URL) + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, name := range names {
		canon.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	canon.WriteString("\n" + signedHeaders + "\n")
	canon.WriteString(payloadHex)

	canonHash := sha256.Sum256([]byte(canon.String()))
	stringToSign := Algorithm + "\n" + amzDate + "\n" + strings.Join(parts[1:], "/") + "\n" + hex.EncodeToString(canonHash[:])
	key := []byte("AWS4" + secret)
	for _, p := range []string{scope.Date, scope.Region, scope.Service, "aws4_request"} {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return scope, &Error{"InvalidSignatureException", "the request signature we calculated does not match the signature you provided"}
	}
	return scope, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// headerValue returns a header as SigV4 canonicalises it. Go's server moves
// Host and Content-Length out of the header map.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalPath is the path as AWS SDKs sign it for every service but S3:
// the already escaped path, URI-encoded once more (so "!" and "%" differ
// from Go's escaping, which leaves sub-delimiters alone).
func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == '-' || c == '_' || c == '.' || c == '~' ||
			c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := slices.Clone(q[k])
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes everything but RFC 3986 unreserved characters.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
