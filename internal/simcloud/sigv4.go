package simcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// credentialScope is what a verified Signature Version 4 request says about
// its signer.
type credentialScope struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
}

// signatureError is an authentication failure, carrying the AWS error code
// the real service would answer with.
type signatureError struct {
	code string
	msg  string
}

func (e *signatureError) Error() string { return e.code + ": " + e.msg }

// maxClockSkew is the difference between the signer's clock and ours that
// AWS tolerates before answering SignatureDoesNotMatch / RequestExpired.
const maxClockSkew = 15 * time.Minute

// verifySigV4 checks the request's AWS Signature Version 4 header against
// the one secret this simulated cloud knows. The SDK signs; nobody verifies
// signatures outside AWS, so the canonical form is built here from the
// specification: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
func verifySigV4(r *http.Request, body []byte, accessKeyID, secret string, now time.Time) (credentialScope, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return credentialScope{}, &signatureError{"MissingAuthenticationTokenException", "the request has no Authorization header"}
	}
	const algorithm = "AWS4-HMAC-SHA256"
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return credentialScope{}, &signatureError{"IncompleteSignatureException", "only " + algorithm + " signatures are accepted"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return credentialScope{}, &signatureError{"IncompleteSignatureException", "malformed Authorization header"}
		}
		fields[k] = v
	}
	credential, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if credential == "" || signedHeaders == "" || signature == "" {
		return credentialScope{}, &signatureError{"IncompleteSignatureException", "Authorization needs Credential, SignedHeaders and Signature"}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return credentialScope{}, &signatureError{"IncompleteSignatureException", "malformed Credential " + credential}
	}
	scope := credentialScope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	if scope.AccessKeyID != accessKeyID {
		return scope, &signatureError{"UnrecognizedClientException", "the security token included in the request is invalid"}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return scope, &signatureError{"IncompleteSignatureException", "X-Amz-Date is missing or malformed"}
	}
	if d := now.Sub(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return scope, &signatureError{"InvalidSignatureException", "signature expired: the request was signed at " + amzDate}
	}
	if !strings.HasPrefix(amzDate, scope.Date) {
		return scope, &signatureError{"InvalidSignatureException", "credential date does not match X-Amz-Date"}
	}
	names := strings.Split(signedHeaders, ";")
	if !sort.StringsAreSorted(names) || !contains(names, "host") || !contains(names, "x-amz-date") {
		return scope, &signatureError{"IncompleteSignatureException", "SignedHeaders must be sorted and include host and x-amz-date"}
	}

	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(canonicalPath(r.URL) + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, name := range names {
		canon.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	canon.WriteString("\n" + signedHeaders + "\n")
	payloadHash := sha256.Sum256(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != hex.EncodeToString(payloadHash[:]) {
		return scope, &signatureError{"InvalidSignatureException", "X-Amz-Content-Sha256 does not match the body"}
	}
	canon.WriteString(hex.EncodeToString(payloadHash[:]))

	canonHash := sha256.Sum256([]byte(canon.String()))
	scopeString := strings.Join(parts[1:], "/")
	stringToSign := algorithm + "\n" + amzDate + "\n" + scopeString + "\n" + hex.EncodeToString(canonHash[:])
	key := []byte("AWS4" + secret)
	for _, p := range []string{scope.Date, scope.Region, scope.Service, "aws4_request"} {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return scope, &signatureError{"InvalidSignatureException", "the request signature we calculated does not match the signature you provided"}
	}
	return scope, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// headerValue returns a header as SigV4 canonicalises it. Go's server moves
// Host and Content-Length out of the header map.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		return fmt.Sprint(r.ContentLength)
	}
	vals := r.Header.Values(name)
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return p
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// awsEscape percent-encodes everything but RFC 3986 unreserved characters.
func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
