package xks_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/xks"
	"github.com/hatoba-cloud/hatoba/internal/xks/xkstest"
)

const (
	region    = "ap-northeast-1"
	prefix    = "/tenant-stores"
	accessKey = "AKIAXKSTESTTENANTAAAA"
	secret    = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
)

var b64 = base64.StdEncoding.EncodeToString

// harness is one handler over an xkstest key service with keys:
// both (ENCRYPT+DECRYPT), enc-only, dec-only, none (no usage), off (disabled).
type harness struct {
	t    *testing.T
	keys *xkstest.Keys
	h    *xks.Handler
	now  time.Time
	wall bool

	mu    sync.Mutex
	usage []xks.Usage
}

type option func(*xks.Config)

// clock is the handler's time: fixed, or the wall clock for tests whose
// signer (a real server, curl) cannot be given ours.
func (hs *harness) clock() time.Time {
	if hs.wall {
		return time.Now()
	}
	return hs.now
}

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	k := xkstest.New()
	k.AddCredential("tenant-a", accessKey, secret)
	k.AddCredential("tenant-b", "AKIAXKSTESTTENANTBBBB", "other-secret-other-secret-other-secret-xx")
	k.AddKey("tenant-a", "both", xks.UsageEncrypt, xks.UsageDecrypt)
	k.AddKey("tenant-a", "enc-only", xks.UsageEncrypt)
	k.AddKey("tenant-a", "dec-only", xks.UsageDecrypt)
	k.AddKey("tenant-a", "none")
	k.AddKey("tenant-a", "off", xks.UsageEncrypt, xks.UsageDecrypt)
	k.SetEnabled("tenant-a", "off", false)
	k.AddKey("tenant-b", "b-key", xks.UsageEncrypt, xks.UsageDecrypt)
	hs := &harness{t: t, keys: k, now: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)}
	cfg := xks.Config{
		URIPrefix: prefix, Region: region, Keys: k, Now: func() time.Time { return hs.clock() },
		Record: func(_ context.Context, u xks.Usage) error {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.usage = append(hs.usage, u)
			return nil
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := xks.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	return hs
}

// call signs body with creds and sends it to path (relative to the prefix
// unless it starts with "/").
type creds struct{ key, secret, region string }

var good = creds{accessKey, secret, region}

func (hs *harness) do(method, path string, body []byte, c creds) (int, map[string]any) {
	hs.t.Helper()
	if !strings.HasPrefix(path, "/") {
		path = prefix + "/kms/xks/v1/" + path
	}
	r := httptest.NewRequest(method, "https://xks.hatoba.example"+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.key, SecretAccessKey: c.secret},
			r, hex.EncodeToString(sum[:]), xks.Service, c.region, hs.now); err != nil {
			hs.t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		hs.t.Fatalf("%s %s: answer is not JSON: %q", method, path, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		hs.t.Fatalf("Content-Type %q", ct)
	}
	return w.Code, out
}

func md(op string) map[string]any {
	return map[string]any{
		"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
		"kmsKeyArn":       "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"kmsOperation":    op,
		"kmsRequestId":    "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
		"kmsViaService":   "ebs",
	}
}

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func encBody(pt []byte, aad []byte, cdiv bool) map[string]any {
	m := map[string]any{"requestMetadata": md("Encrypt"), "plaintext": b64(pt), "encryptionAlgorithm": "AES_GCM"}
	if aad != nil {
		m["additionalAuthenticatedData"] = b64(aad)
	}
	if cdiv {
		m["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
	}
	return m
}

// decBody turns an encrypt answer into a decrypt request.
func decBody(enc map[string]any, aad []byte) map[string]any {
	m := map[string]any{"requestMetadata": md("Decrypt"), "encryptionAlgorithm": "AES_GCM",
		"ciphertext": enc["ciphertext"], "initializationVector": enc["initializationVector"], "authenticationTag": enc["authenticationTag"]}
	if v, ok := enc["ciphertextMetadata"]; ok {
		m["ciphertextMetadata"] = v
	}
	if aad != nil {
		m["additionalAuthenticatedData"] = b64(aad)
	}
	return m
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestErrors(t *testing.T) {
	t.Parallel()
	pt := []byte("a 32-byte data key, not really.")
	enc := encBody(pt, nil, false)
	metaReq := js(map[string]any{"requestMetadata": md("DescribeKey")})
	health := js(map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "r1", "kmsOperation": "KmsHealthCheck"}})
	timeout := func(c *xks.Config) { c.Keys = slowKeys{c.Keys} }
	deny := func(c *xks.Config) {
		c.Authorize = func(_ context.Context, _, _, _ string, md xks.RequestMetadata) error {
			if strings.HasSuffix(md.AWSPrincipalARN, "/Alice") {
				return errors.New("Alice may not")
			}
			return nil
		}
	}
	throttle := func(c *xks.Config) { c.Throttle = func(string) bool { return false } }
	tests := []struct {
		name   string
		opts   []option
		setup  func(*xkstest.Keys)
		method string
		path   string
		body   []byte
		creds  creds
		status int
		want   string // errorName
	}{
		{"fail/metadata-no-requestMetadata", nil, nil, "POST", "keys/both/metadata", []byte(`{}`), good, 400, xks.Validation},
		{"fail/metadata-empty-requestMetadata", nil, nil, "POST", "keys/both/metadata", []byte(`{"requestMetadata":{}}`), good, 400, xks.Validation},
		{"fail/metadata-no-principal", nil, nil, "POST", "keys/both/metadata", js(map[string]any{"requestMetadata": with(md("CreateKey"), "awsPrincipalArn", nil)}), good, 400, xks.Validation},
		{"fail/metadata-unknown-key", nil, nil, "POST", "keys/non_existing_key/metadata", metaReq, good, 404, xks.KeyNotFound},
		{"fail/other-tenants-key", nil, nil, "POST", "keys/b-key/metadata", metaReq, good, 404, xks.KeyNotFound},
		{"fail/key-id-characters", nil, nil, "POST", "keys/bad!key/metadata", metaReq, good, 400, xks.Validation},
		{"fail/key-id-too-long", nil, nil, "POST", "keys/" + strings.Repeat("k", 129) + "/metadata", metaReq, good, 400, xks.Validation},
		{"fail/unknown-access-key", nil, nil, "POST", "keys/both/metadata", metaReq, creds{"Invalid" + accessKey, secret, region}, 401, xks.AuthenticationFailed},
		{"fail/wrong-secret", nil, nil, "POST", "keys/both/encrypt", js(enc), creds{accessKey, "Invalid" + secret, region}, 401, xks.AuthenticationFailed},
		{"fail/wrong-region", nil, nil, "POST", "health", health, creds{accessKey, secret, "us-east-1"}, 401, xks.AuthenticationFailed},
		{"fail/unsigned", nil, nil, "POST", "health", health, creds{}, 401, xks.AuthenticationFailed},
		{"fail/health-wrong-secret", nil, nil, "POST", "health", health, creds{accessKey, "x", region}, 401, xks.AuthenticationFailed},
		{"fail/wrong-prefix", nil, nil, "POST", prefix + "/invalid/kms/xks/v1/keys/both/encrypt", js(enc), good, 404, xks.InvalidURIPath},
		{"fail/health-wrong-prefix", nil, nil, "POST", "/other/kms/xks/v1/health", health, good, 404, xks.InvalidURIPath},
		{"fail/unknown-operation", nil, nil, "POST", "keys/both/sign", js(enc), good, 404, xks.InvalidURIPath},
		{"fail/v2", nil, nil, "POST", prefix + "/kms/xks/v2/health", health, good, 404, xks.InvalidURIPath},
		{"fail/get", nil, nil, "GET", "keys/both/metadata", nil, good, 405, xks.Validation},
		{"fail/health-no-requestMetadata", nil, nil, "POST", "health", []byte(`{}`), good, 400, xks.Validation},
		{"fail/health-empty-requestMetadata", nil, nil, "POST", "health", []byte(`{"requestMetadata":{}}`), good, 400, xks.Validation},
		{"fail/encrypt-missing-plaintext", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", nil)), good, 400, xks.Validation},
		{"fail/encrypt-bad-base64", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", "not base64!")), good, 400, xks.Validation},
		{"fail/encrypt-url-base64", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", "-_-_")), good, 400, xks.Validation},
		{"fail/encrypt-unpadded-base64", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", "SGVsbG8")), good, 400, xks.Validation},
		{"fail/encrypt-newline-in-base64", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", "SGVs\nbG8=")), good, 400, xks.Validation},
		{"fail/encrypt-bad-aad-base64", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "additionalAuthenticatedData", "%%%")), good, 400, xks.Validation},
		{"fail/encrypt-algorithm", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "encryptionAlgorithm", "AES_CBC")), good, 400, xks.Validation},
		{"fail/encrypt-no-algorithm", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "encryptionAlgorithm", nil)), good, 400, xks.Validation},
		{"fail/encrypt-cdiv-algorithm", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "ciphertextDataIntegrityValueAlgorithm", "MD5")), good, 400, xks.Validation},
		{"fail/encrypt-no-key-arn", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "requestMetadata", with(md("Encrypt"), "kmsKeyArn", nil))), good, 400, xks.Validation},
		{"fail/encrypt-no-request-id", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "requestMetadata", with(md("Encrypt"), "kmsRequestId", nil))), good, 400, xks.Validation},
		{"fail/encrypt-wrong-type", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", 42)), good, 400, xks.Validation},
		{"fail/malformed-json", nil, nil, "POST", "keys/both/encrypt", []byte(`{"requestMetadata":`), good, 400, xks.Validation},
		{"fail/not-an-object", nil, nil, "POST", "keys/both/encrypt", []byte(`[1,2]`), good, 400, xks.Validation},
		{"fail/trailing-data", nil, nil, "POST", "keys/both/encrypt", append(js(enc), []byte(` {}`)...), good, 400, xks.Validation},
		{"fail/unknown-field", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "keyId", "x")), good, 400, xks.Validation},
		{"fail/plaintext-over-4300", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "plaintext", b64(make([]byte, 4301)))), good, 501, xks.UnsupportedOperation},
		{"fail/aad-over-8192", nil, nil, "POST", "keys/both/encrypt", js(encBody(pt, make([]byte, 8193), false)), good, 501, xks.UnsupportedOperation},
		{"fail/body-over-limit", nil, nil, "POST", "keys/both/encrypt", js(with(enc, "requestMetadata", with(md("Encrypt"), "kmsViaService", strings.Repeat("x", xks.MaxBody)))), good, 501, xks.UnsupportedOperation},
		{"fail/encrypt-decrypt-only-key", nil, nil, "POST", "keys/dec-only/encrypt", js(enc), good, 400, xks.InvalidKeyUsage},
		{"fail/encrypt-no-usage-key", nil, nil, "POST", "keys/none/encrypt", js(enc), good, 400, xks.InvalidKeyUsage},
		{"fail/encrypt-disabled-key", nil, nil, "POST", "keys/off/encrypt", js(enc), good, 400, xks.InvalidState},
		{"fail/encrypt-unknown-key", nil, nil, "POST", "keys/nope/encrypt", js(enc), good, 404, xks.KeyNotFound},
		{"fail/killed-store", nil, func(k *xkstest.Keys) { k.Kill("tenant-a", true) }, "POST", "keys/both/encrypt", js(enc), good, 400, xks.InvalidState},
		{"fail/killed-store-health", nil, func(k *xkstest.Keys) { k.Kill("tenant-a", true) }, "POST", "health", health, good, 400, xks.InvalidState},
		{"fail/killed-store-metadata", nil, func(k *xkstest.Keys) { k.Kill("tenant-a", true) }, "POST", "keys/both/metadata", metaReq, good, 400, xks.InvalidState},
		{"fail/sealed", nil, func(k *xkstest.Keys) { k.Seal(true) }, "POST", "keys/both/encrypt", js(enc), good, 500, xks.Internal},
		{"fail/sealed-health", nil, func(k *xkstest.Keys) { k.Seal(true) }, "POST", "health", health, good, 500, xks.Internal},
		{"fail/timeout", []option{timeout}, nil, "POST", "keys/both/encrypt", js(enc), good, 503, xks.DependencyTimeout},
		{"fail/access-denied", []option{deny}, nil, "POST", "keys/both/encrypt", js(enc), good, 403, xks.AccessDenied},
		{"fail/throttled", []option{throttle}, nil, "POST", "keys/both/encrypt", js(enc), good, 429, xks.Throttling},
		{"ok/health-not-authorized", []option{deny}, nil, "POST", "health", health, good, 200, ""},
		{"ok/unknown-metadata-field", nil, nil, "POST", "keys/both/metadata", js(map[string]any{"requestMetadata": with(md("BulkDescribeKey"), "kmsFutureField", "x")}), good, 200, ""},
		{"ok/double-slash-empty-prefix", nil, nil, "POST", "/" + prefix + "/kms/xks/v1/keys/both/metadata", metaReq, good, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, tt.opts...)
			if tt.setup != nil {
				tt.setup(hs.keys)
			}
			status, out := hs.do(tt.method, tt.path, tt.body, tt.creds)
			if status != tt.status || (tt.want != "" && out["errorName"] != tt.want) {
				t.Fatalf("got %d %v, want %d %s", status, out, tt.status, tt.want)
			}
			if msg, ok := out["errorMessage"].(string); ok && (len(msg) >= 512 || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r > 0x7e })) {
				t.Fatalf("errorMessage breaks the spec: %q", msg)
			}
		})
	}
}

// slowKeys answers every key operation as a dependency that timed out.
type slowKeys struct{ xks.Keys }

func (slowKeys) Encrypt(context.Context, string, string, []byte, func([]byte) []byte) (xks.Sealed, error) {
	return xks.Sealed{}, fmt.Errorf("hsm: %w", context.DeadlineExceeded)
}

func TestMetadataAndHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key string
		usage     []any
		status    string
	}{
		{"ok/both", "both", []any{"ENCRYPT", "DECRYPT"}, "ENABLED"},
		{"ok/encrypt-only", "enc-only", []any{"ENCRYPT"}, "ENABLED"},
		{"ok/no-usage", "none", []any{}, "ENABLED"},
		{"ok/disabled", "off", []any{"ENCRYPT", "DECRYPT"}, "DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			code, out := hs.do("POST", "keys/"+tt.key+"/metadata", js(map[string]any{"requestMetadata": with(md("CreateKey"), "kmsKeyArn", nil)}), good)
			if code != 200 || out["keySpec"] != "AES_256" || out["keyStatus"] != tt.status || fmt.Sprint(out["keyUsage"]) != fmt.Sprint(tt.usage) {
				t.Fatalf("got %d %v", code, out)
			}
		})
	}
	t.Run("ok/health", func(t *testing.T) {
		t.Parallel()
		hs := newHarness(t)
		hs.keys.SetHealth([]xks.NodeHealth{{ID: "n1", Model: "m", Status: xks.HealthActive}, {ID: "n2", Model: "m", Status: xks.HealthDegraded}}, nil)
		code, out := hs.do("POST", "health", js(map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "r", "kmsOperation": "CreateCustomKeyStore"}}), good)
		nodes, _ := out["ekmFleetDetails"].([]any)
		if code != 200 || out["xksProxyFleetSize"] != float64(1) || out["xksProxyVendor"] == "" || out["ekmVendor"] == "" || len(nodes) != 2 ||
			nodes[1].(map[string]any)["healthStatus"] != "DEGRADED" {
			t.Fatalf("got %d %v", code, out)
		}
	})
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	aad := []byte("project=nile,department=marketing")
	other := []byte("project=blue,department=finance")
	big := bytes.Repeat([]byte{0xa5}, xks.MaxPlaintext)
	bigAAD := bytes.Repeat([]byte{0x5a}, xks.MaxAAD)
	tests := []struct {
		name        string
		pt, encAAD  []byte
		cdiv        bool
		tamper      func(dec map[string]any) map[string]any
		decAAD      []byte
		key, decKey string
		rotate      bool
		wantCode    int
		wantErr     string
	}{
		{name: "ok/no-aad", pt: []byte("Hello World!"), wantCode: 200},
		{name: "ok/aad", pt: []byte("Hello World!"), encAAD: aad, decAAD: aad, wantCode: 200},
		{name: "ok/cdiv-aad", pt: []byte("Hello World!"), encAAD: aad, decAAD: aad, cdiv: true, wantCode: 200},
		{name: "ok/cdiv-no-aad", pt: []byte("Hello World!"), cdiv: true, wantCode: 200},
		{name: "ok/maximum-sizes", pt: big, encAAD: bigAAD, decAAD: bigAAD, cdiv: true, wantCode: 200},
		{name: "ok/after-rotation", pt: []byte("k"), rotate: true, wantCode: 200},
		{name: "ok/encrypt-only-then-decrypt-only-key-fails", pt: []byte("x"), key: "enc-only", decKey: "enc-only", wantCode: 400, wantErr: xks.InvalidKeyUsage},
		{name: "fail/decrypt-missing-aad", pt: []byte("x"), encAAD: aad, wantCode: 400, wantErr: xks.InvalidCiphertext},
		{name: "fail/decrypt-unexpected-aad", pt: []byte("x"), decAAD: aad, wantCode: 400, wantErr: xks.InvalidCiphertext},
		{name: "fail/decrypt-other-aad", pt: []byte("x"), encAAD: aad, decAAD: other, wantCode: 400, wantErr: xks.InvalidCiphertext},
		{name: "fail/decrypt-other-key", pt: []byte("x"), decKey: "dec-only", wantCode: 400, wantErr: xks.InvalidCiphertext},
		{name: "fail/decrypt-disabled-key", pt: []byte("x"), decKey: "off", wantCode: 400, wantErr: xks.InvalidState},
		{name: "fail/metadata-moved-into-aad", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			// The spec's reason for the length prefixes: the metadata passed
			// as AAD, and no metadata, must not decrypt.
			tamper: func(d map[string]any) map[string]any {
				return with(d, "additionalAuthenticatedData", d["ciphertextMetadata"], "ciphertextMetadata", nil)
			}},
		{name: "fail/metadata-changed", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any {
				return with(d, "ciphertextMetadata", b64([]byte("v\x00\x00\x00\x02")))
			}},
		{name: "fail/metadata-over-20-bytes", pt: []byte("x"), wantCode: 400, wantErr: xks.Validation,
			tamper: func(d map[string]any) map[string]any { return with(d, "ciphertextMetadata", b64(make([]byte, 21))) }},
		{name: "fail/tag-changed", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any { return with(d, "authenticationTag", b64(make([]byte, 16))) }},
		{name: "fail/tag-short", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any { return with(d, "authenticationTag", b64(make([]byte, 12))) }},
		{name: "fail/iv-wrong-size", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any { return with(d, "initializationVector", b64(make([]byte, 8))) }},
		{name: "fail/iv-16-bytes-never-issued", pt: []byte("x"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any { return with(d, "initializationVector", b64(make([]byte, 16))) }},
		{name: "fail/ciphertext-changed", pt: []byte("xy"), wantCode: 400, wantErr: xks.InvalidCiphertext,
			tamper: func(d map[string]any) map[string]any { return with(d, "ciphertext", b64([]byte("zz"))) }},
		{name: "fail/ciphertext-missing", pt: []byte("x"), wantCode: 400, wantErr: xks.Validation,
			tamper: func(d map[string]any) map[string]any { return with(d, "ciphertext", nil) }},
		{name: "fail/iv-missing", pt: []byte("x"), wantCode: 400, wantErr: xks.Validation,
			tamper: func(d map[string]any) map[string]any { return with(d, "initializationVector", nil) }},
		{name: "fail/ciphertext-bad-base64", pt: []byte("x"), wantCode: 400, wantErr: xks.Validation,
			tamper: func(d map[string]any) map[string]any { return with(d, "ciphertext", "@@") }},
		{name: "fail/ciphertext-over-4300", pt: []byte("x"), wantCode: 501, wantErr: xks.UnsupportedOperation,
			tamper: func(d map[string]any) map[string]any { return with(d, "ciphertext", b64(make([]byte, 4301))) }},
		{name: "fail/decrypt-algorithm", pt: []byte("x"), wantCode: 400, wantErr: xks.Validation,
			tamper: func(d map[string]any) map[string]any { return with(d, "encryptionAlgorithm", "AES_GCM_256") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t)
			key, decKey := "both", "both"
			if tt.key != "" {
				key = tt.key
			}
			if tt.decKey != "" {
				decKey = tt.decKey
			}
			code, enc := hs.do("POST", "keys/"+key+"/encrypt", js(encBody(tt.pt, tt.encAAD, tt.cdiv)), good)
			if code != 200 {
				t.Fatalf("encrypt: %d %v", code, enc)
			}
			ct, _ := base64.StdEncoding.DecodeString(enc["ciphertext"].(string))
			iv, _ := base64.StdEncoding.DecodeString(enc["initializationVector"].(string))
			tag, _ := base64.StdEncoding.DecodeString(enc["authenticationTag"].(string))
			meta, _ := base64.StdEncoding.DecodeString(fmt.Sprint(enc["ciphertextMetadata"]))
			if len(ct) != len(tt.pt) || len(iv) != 12 || len(tag) != 16 || len(meta) > 20 {
				t.Fatalf("encrypt answer sizes: ct %d iv %d tag %d meta %d", len(ct), len(iv), len(tag), len(meta))
			}
			_, hasCDIV := enc["ciphertextDataIntegrityValue"]
			if hasCDIV != tt.cdiv {
				t.Fatalf("ciphertextDataIntegrityValue present %v, want %v", hasCDIV, tt.cdiv)
			}
			if tt.cdiv {
				var all []byte
				for _, b := range [][]byte{tt.encAAD, meta, iv, ct, tag} {
					all = append(all, b...)
				}
				sum := sha256.Sum256(all)
				if enc["ciphertextDataIntegrityValue"] != b64(sum[:]) {
					t.Fatalf("CDIV %v, want %s", enc["ciphertextDataIntegrityValue"], b64(sum[:]))
				}
			}
			if tt.rotate {
				hs.keys.Rotate("tenant-a", "both")
			}
			dec := decBody(enc, tt.decAAD)
			if tt.tamper != nil {
				dec = tt.tamper(dec)
			}
			code, out := hs.do("POST", "keys/"+decKey+"/decrypt", js(dec), good)
			if code != tt.wantCode || (tt.wantErr != "" && out["errorName"] != tt.wantErr) {
				t.Fatalf("decrypt: got %d %v, want %d %s", code, out, tt.wantCode, tt.wantErr)
			}
			if code == 200 && out["plaintext"] != b64(tt.pt) {
				t.Fatalf("decrypt: plaintext differs")
			}
		})
	}
}

// An encrypt-only key cannot give the CDIV's assurance that a later
// decrypt succeeds: Appendix C's self-check decrypt fails, and so does the
// request (AWS's reference proxy answers the same). Without a CDIV the key
// encrypts.
func TestEncryptOnlyKeyWithCDIV(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	code, out := hs.do("POST", "keys/enc-only/encrypt", js(encBody([]byte("x"), nil, true)), good)
	if code != 400 || out["errorName"] != xks.InvalidKeyUsage || out["ciphertext"] != nil || out["ciphertextDataIntegrityValue"] != nil {
		t.Fatalf("with CDIV: got %d %v, want 400 %s and no ciphertext", code, out, xks.InvalidKeyUsage)
	}
	if code, out := hs.do("POST", "keys/enc-only/encrypt", js(encBody([]byte("x"), nil, false)), good); code != 200 {
		t.Fatalf("without CDIV: got %d %v", code, out)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.usage) != 2 || hs.usage[0].Result != xks.InvalidKeyUsage || hs.usage[1].Result != xks.ResultOK {
		t.Fatalf("usage records %+v", hs.usage)
	}
}

// A key with neither usage ("none") is refused every cryptographic
// operation with InvalidKeyUsageException; its metadata lists no usage.
func TestNoUsageKey(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	code, sealed := hs.do("POST", "keys/both/encrypt", js(encBody([]byte("x"), nil, false)), good)
	if code != 200 {
		t.Fatalf("encrypt: %d %v", code, sealed)
	}
	dec := decBody(sealed, nil)
	for _, tt := range []struct {
		name, path string
		body       []byte
	}{
		{"fail/encrypt", "keys/none/encrypt", js(encBody([]byte("x"), nil, false))},
		{"fail/encrypt-cdiv", "keys/none/encrypt", js(encBody([]byte("x"), nil, true))},
		{"fail/decrypt", "keys/none/decrypt", js(dec)},
	} {
		if code, out := hs.do("POST", tt.path, tt.body, good); code != 400 || out["errorName"] != xks.InvalidKeyUsage {
			t.Errorf("%s: got %d %v, want 400 %s", tt.name, code, out, xks.InvalidKeyUsage)
		}
	}
}

func TestUsageRecords(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.do("POST", "keys/both/encrypt", js(encBody([]byte("secret data key"), []byte("aad"), false)), good)
	hs.do("POST", "keys/dec-only/encrypt", js(encBody([]byte("x"), nil, false)), good)
	hs.do("POST", "keys/both/metadata", []byte(`{"requestMetadata":{}}`), good)
	hs.do("POST", "health", js(map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}), good)
	hs.do("POST", "keys/both/encrypt", js(encBody([]byte("x"), nil, false)), creds{accessKey, "bad", region})
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.usage) != 3 {
		t.Fatalf("want 3 usage records (no health, no unauthenticated), got %+v", hs.usage)
	}
	want := xks.Usage{At: hs.now, Tenant: "tenant-a", ExternalKeyID: "both", Operation: xks.OpEncrypt, KMSOperation: "Encrypt",
		KMSRequestID: "4112f4d6-db54-4af4-ae30-c55a22a8dfae", AWSPrincipalARN: "arn:aws:iam::123456789012:user/Alice",
		KMSKeyARN: md("")["kmsKeyArn"].(string), Result: xks.ResultOK}
	if hs.usage[0] != want {
		t.Fatalf("record 0 = %+v, want %+v", hs.usage[0], want)
	}
	if hs.usage[1].Result != xks.InvalidKeyUsage || hs.usage[2].Result != xks.Validation || hs.usage[2].Operation != xks.OpGetKeyMetadata {
		t.Fatalf("records = %+v", hs.usage)
	}
}

// TestOverHTTP runs a request through a real server: the Host header and
// the body reach the verifier as the wire carries them.
func TestOverHTTP(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.wall = true
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	body := js(encBody([]byte("over the wire"), nil, true))
	req, err := http.NewRequest("POST", srv.URL+prefix+"/kms/xks/v1/keys/both/encrypt", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), xks.Service, region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"ciphertextDataIntegrityValue"`)) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestNewHandlerConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  xks.Config
		ok   bool
	}{
		{"ok/no-prefix", xks.Config{Region: region, Keys: xkstest.New()}, true},
		{"ok/prefix", xks.Config{URIPrefix: "/keystores/4a0d79d6-1d1b_49fd", Region: region, Keys: xkstest.New()}, true},
		{"fail/no-keys", xks.Config{Region: region}, false},
		{"fail/no-region", xks.Config{Keys: xkstest.New()}, false},
		{"fail/prefix-characters", xks.Config{URIPrefix: "/a.b", Region: region, Keys: xkstest.New()}, false},
		{"fail/prefix-too-long", xks.Config{URIPrefix: "/" + strings.Repeat("a", 120), Region: region, Keys: xkstest.New()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := xks.NewHandler(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// With TenantPaths each key store has its own path (AWS needs a distinct
// endpoint and path per store); a path naming another tenant than the
// credential's is an invalid URI path.
func TestTenantPaths(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, func(c *xks.Config) { c.TenantPaths = true })
	if got, want := hs.h.StorePath("tenant-a"), prefix+"/tenant-a/kms/xks/v1"; got != want {
		t.Fatalf("StorePath = %q, want %q", got, want)
	}
	health := js(map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "h", "kmsOperation": "KmsHealthCheck"}})
	tests := []struct {
		name, path string
		want       int
		errName    string
	}{
		{"ok/own store", prefix + "/tenant-a/kms/xks/v1/health", 200, ""},
		{"ok/own key", prefix + "/tenant-a/kms/xks/v1/keys/both/metadata", 200, ""},
		{"fail/another tenant's store", prefix + "/tenant-b/kms/xks/v1/health", 404, xks.InvalidURIPath},
		{"fail/no tenant", prefix + "/kms/xks/v1/health", 404, xks.InvalidURIPath},
		{"fail/nested tenant", prefix + "/a/b/kms/xks/v1/health", 404, xks.InvalidURIPath},
	}
	for _, tt := range tests {
		body := health
		if strings.Contains(tt.path, "metadata") {
			body = js(map[string]any{"requestMetadata": md("DescribeKey")})
		}
		st, out := hs.do("POST", tt.path, body, good)
		if st != tt.want || (tt.errName != "" && out["errorName"] != tt.errName) {
			t.Errorf("%s: %d %v, want %d %s", tt.name, st, out, tt.want, tt.errName)
		}
	}
}

// TestScopeMismatchLogged: a request signed for another region is
// answered as every bad signature is (the specification's error), and
// the log says it was a region mismatch and which region was used.
func TestScopeMismatchLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer // the handler logs before it answers: no concurrency
	hs := newHarness(t, func(c *xks.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	body := js(map[string]any{"requestMetadata": md("DescribeKey")})
	code, out := hs.do("POST", "keys/both/metadata", body, creds{accessKey, secret, "us-east-1"})
	if out["errorName"] != xks.AuthenticationFailed {
		t.Fatalf("%d %v, want %s", code, out, xks.AuthenticationFailed)
	}
	for _, want := range []string{`"sigv4_mismatch":"region"`, `"signed_for":"us-east-1"`, `"expected":"ap-northeast-1"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	logs.Reset()
	hs.do("POST", "keys/both/metadata", body, creds{accessKey, "wrong-secret", region})
	if strings.Contains(logs.String(), "sigv4_mismatch") || !strings.Contains(logs.String(), "AuthenticationFailed") {
		t.Errorf("a wrong secret:\n%s", logs.String())
	}
}
