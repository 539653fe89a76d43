package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/sigv4"
)

var now = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func signed(t *testing.T, key, secret, region, service string, at time.Time, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://xks.example.jp/tenant-a/kms/xks/v1/health", bytes.NewReader(body))
	h := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		r, hex.EncodeToString(h[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"requestMetadata":{}}`)
	lookup := func(id string) (string, error) {
		switch id {
		case "AKIAGOOD":
			return "s3cret", nil
		case "AKIABROKEN":
			return "", errors.New("store down")
		}
		return "", sigv4.ErrUnknownAccessKey
	}
	v := sigv4.Verifier{Service: "kms-xks-proxy", Region: "ap-northeast-1", MaxSkew: 5 * time.Minute, Now: func() time.Time { return now }}
	tests := []struct {
		name     string
		req      func() *http.Request
		wantCode string // "" ok; "-" a non-signature error
	}{
		{"ok/signed", func() *http.Request {
			return signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms-xks-proxy", now, body)
		}, ""},
		{"ok/skew-within", func() *http.Request {
			return signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms-xks-proxy", now.Add(-4*time.Minute), body)
		}, ""},
		{"fail/wrong-secret", func() *http.Request {
			return signed(t, "AKIAGOOD", "other", "ap-northeast-1", "kms-xks-proxy", now, body)
		}, "InvalidSignatureException"},
		{"fail/unknown-key", func() *http.Request {
			return signed(t, "AKIANOPE", "s3cret", "ap-northeast-1", "kms-xks-proxy", now, body)
		}, "UnrecognizedClientException"},
		{"fail/wrong-service", func() *http.Request { return signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms", now, body) }, "InvalidSignatureException"},
		{"fail/wrong-region", func() *http.Request { return signed(t, "AKIAGOOD", "s3cret", "us-east-1", "kms-xks-proxy", now, body) }, "InvalidSignatureException"},
		{"fail/expired", func() *http.Request {
			return signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms-xks-proxy", now.Add(-6*time.Minute), body)
		}, "InvalidSignatureException"},
		{"fail/future", func() *http.Request {
			return signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms-xks-proxy", now.Add(6*time.Minute), body)
		}, "InvalidSignatureException"},
		{"fail/body-changed", func() *http.Request {
			r := signed(t, "AKIAGOOD", "s3cret", "ap-northeast-1", "kms-xks-proxy", now, []byte(`{}`))
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}, "InvalidSignatureException"},
		{"fail/no-header", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/x", nil)
		}, "MissingAuthenticationTokenException"},
		{"fail/other-algorithm", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/x", nil)
			r.Header.Set("Authorization", "AWS3 foo")
			return r
		}, "IncompleteSignatureException"},
		{"fail/lookup-error", func() *http.Request {
			return signed(t, "AKIABROKEN", "s3cret", "ap-northeast-1", "kms-xks-proxy", now, body)
		}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(tt.req(), body, lookup)
			var se *sigv4.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.wantCode == "-":
				if err == nil || errors.As(err, &se) {
					t.Fatalf("want a lookup error, got %v", err)
				}
			case tt.wantCode != "":
				if !errors.As(err, &se) || se.Code != tt.wantCode {
					t.Fatalf("want %s, got %v", tt.wantCode, err)
				}
			}
		})
	}
}

// TestScopeMismatch: a request signed for another region or service is
// refused with the client's usual error, and says which part differs, so
// the server can log a misconfigured client as such.
func TestScopeMismatch(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	v := sigv4.Verifier{Service: "kms-xks-proxy", Region: "ap-northeast-1", MaxSkew: 5 * time.Minute, Now: func() time.Time { return now }}
	lookup := func(string) (string, error) { return "s3cret", nil }
	for _, tt := range []struct {
		name, region, service, part, got string
	}{
		{"fail/region", "us-east-1", "kms-xks-proxy", "region", "us-east-1"},
		{"fail/service", "ap-northeast-1", "kms", "service", "kms"},
	} {
		_, err := v.Verify(signed(t, "AKIAGOOD", "s3cret", tt.region, tt.service, now, body), body, lookup)
		var m *sigv4.ScopeMismatch
		var se *sigv4.Error
		if !errors.As(err, &m) || m.Part != tt.part || m.Got != tt.got || !errors.As(err, &se) || se.Code != "InvalidSignatureException" {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	_, err := v.Verify(signed(t, "AKIAGOOD", "other", "ap-northeast-1", "kms-xks-proxy", now, body), body, lookup)
	var m *sigv4.ScopeMismatch
	if errors.As(err, &m) {
		t.Fatalf("a wrong secret is no scope mismatch: %v", err)
	}
}
