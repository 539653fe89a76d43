package keyd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// TestPlainAPI: a tenant's credential encrypts, decrypts and makes data
// keys with its own keys only; every refusal has its code; each request is
// in the tenant's usage record.
func TestPlainAPI(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	svc := keys.New(db, keys.Options{})
	shares, err := svc.InitSplit(ctxBg, staff, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := svc.SubmitShare(ctxBg, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	ownerB := owner
	ownerB.OrgID = "org-b"
	for _, o := range []struct {
		org, key string
	}{{"org-a", "k-a"}, {"org-b", "k-b"}} {
		by := owner
		by.OrgID = o.org
		if _, err := svc.CreateKey(ctxBg, by, o.org, keys.KeySpec{ID: o.key}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateKey(ctxBg, owner, "org-a", keys.KeySpec{ID: "enc-only", Usage: keys.UsageEncryptOnly}); err != nil {
		t.Fatal(err)
	}
	akid, secret, err := svc.CreateXKSCredential(ctxBg, owner, "org-a")
	if err != nil {
		t.Fatal(err)
	}
	rec := keyd.NewRecorder(db, keyd.RecorderOptions{})
	mux := http.NewServeMux()
	mux.Handle(keyd.PlainAPIPath, keyd.NewPlainAPI(keyd.PlainAPIConfig{Keys: svc, Region: region, Record: rec.Record}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(op string, body any, akid, secret, service string) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", srv.URL+keyd.PlainAPIPath+op, bytes.NewReader(b))
		sum := sha256.Sum256(b)
		if err := v4.NewSigner().SignHTTP(ctxBg, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: not JSON: %q", op, raw)
		}
		return resp.StatusCode, out
	}
	as := func(op string, body any) (int, map[string]any) {
		return call(op, body, akid, secret, keyd.PlainAPIService)
	}

	st, enc := as("encrypt", map[string]any{"key_id": "k-a", "plaintext": b64([]byte("provider secret")), "aad": b64([]byte("ctx"))})
	if st != 200 || enc["ciphertext"] == nil || enc["plaintext"] != nil {
		t.Fatalf("encrypt: %d %v", st, enc)
	}
	st, dec := as("decrypt", map[string]any{"key_id": "k-a", "ciphertext": enc["ciphertext"], "aad": b64([]byte("ctx"))})
	if st != 200 || dec["plaintext"] != b64([]byte("provider secret")) {
		t.Fatalf("decrypt: %d %v", st, dec)
	}
	st, dk := as("generate-data-key", map[string]any{"key_id": "k-a"})
	if st != 200 || len(dk["plaintext"].(string)) != 44 {
		t.Fatalf("data key: %d %v", st, dk)
	}
	st, dec = as("decrypt", map[string]any{"key_id": "k-a", "ciphertext": dk["ciphertext"]})
	if st != 200 || dec["plaintext"] != dk["plaintext"] {
		t.Fatalf("data key does not decrypt to itself: %d %v", st, dec)
	}

	tests := []struct {
		name, op   string
		body       any
		akid, sec  string
		service    string
		wantStatus int
		wantCode   string
	}{
		{"another tenant's key", "encrypt", map[string]any{"key_id": "k-b", "plaintext": b64([]byte("x"))}, akid, secret, keyd.PlainAPIService, 404, "KeyNotFound"},
		{"wrong AAD", "decrypt", map[string]any{"key_id": "k-a", "ciphertext": enc["ciphertext"], "aad": b64([]byte("other"))}, akid, secret, keyd.PlainAPIService, 422, "InvalidCiphertext"},
		{"truncated ciphertext", "decrypt", map[string]any{"key_id": "k-a", "ciphertext": b64([]byte("short"))}, akid, secret, keyd.PlainAPIService, 422, "InvalidCiphertext"},
		{"usage", "decrypt", map[string]any{"key_id": "enc-only", "ciphertext": enc["ciphertext"]}, akid, secret, keyd.PlainAPIService, 409, "KeyUsage"},
		{"bad base64", "encrypt", map[string]any{"key_id": "k-a", "plaintext": "***"}, akid, secret, keyd.PlainAPIService, 400, "InvalidRequest"},
		{"data key size", "generate-data-key", map[string]any{"key_id": "k-a", "size": 7}, akid, secret, keyd.PlainAPIService, 422, "InvalidRequest"},
		{"wrong secret", "encrypt", map[string]any{"key_id": "k-a"}, akid, "wrong" + secret, keyd.PlainAPIService, 403, "AuthenticationFailed"},
		{"unknown credential", "encrypt", map[string]any{"key_id": "k-a"}, "HATOBAUNKNOWN0000000", secret, keyd.PlainAPIService, 403, "AuthenticationFailed"},
		{"signed for XKS, not this API", "encrypt", map[string]any{"key_id": "k-a"}, akid, secret, "kms-xks-proxy", 403, "AuthenticationFailed"},
		{"no such operation", "sign", map[string]any{}, akid, secret, keyd.PlainAPIService, 404, "NotFound"},
	}
	for _, tt := range tests {
		st, out := call(tt.op, tt.body, tt.akid, tt.sec, tt.service)
		if st != tt.wantStatus || out["code"] != tt.wantCode {
			t.Errorf("%s: %d %v; want %d %s", tt.name, st, out, tt.wantStatus, tt.wantCode)
		}
	}

	if err := svc.Kill(ctxBg, owner, "org-a"); err != nil {
		t.Fatal(err)
	}
	if st, out := as("decrypt", map[string]any{"key_id": "k-a", "ciphertext": enc["ciphertext"], "aad": b64([]byte("ctx"))}); st != 409 || out["code"] != "KillSwitch" {
		t.Fatalf("killed: %d %v", st, out)
	}
	if err := svc.Revive(ctxBg, owner, "org-a"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Seal(ctxBg, staff); err != nil {
		t.Fatal(err)
	}
	if st, out := as("decrypt", map[string]any{"key_id": "k-a", "ciphertext": enc["ciphertext"]}); st != 503 || out["code"] != "Sealed" {
		t.Fatalf("sealed: %d %v", st, out)
	}

	if err := rec.Close(ctxBg); err != nil {
		t.Fatal(err)
	}
	var actions []string
	rows, err := db.QueryContext(ctxBg, `SELECT action, actor FROM audit_queue WHERE org_id = 'org-a' AND action LIKE 'key.api.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, actor string
		if err := rows.Scan(&a, &actor); err != nil {
			t.Fatal(err)
		}
		if actor != "credential:"+akid {
			t.Fatalf("usage actor %q", actor)
		}
		actions = append(actions, a)
	}
	if got := strings.Join(actions[:4], ","); got != "key.api.encrypt,key.api.decrypt,key.api.generate-data-key,key.api.decrypt" {
		t.Fatalf("usage record: %v", actions)
	}
}

// TestPlainAPIFailsClosed: a request whose usage record cannot be written
// is not served — 503 without the plaintext — and one whose record queue
// is full is throttled.
func TestPlainAPIFailsClosed(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	svc := keys.New(db, keys.Options{})
	shares, err := svc.InitSplit(ctxBg, staff, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := svc.SubmitShare(ctxBg, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateKey(ctxBg, owner, "org-a", keys.KeySpec{ID: "k-a"}); err != nil {
		t.Fatal(err)
	}
	akid, secret, err := svc.CreateXKSCredential(ctxBg, owner, "org-a")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"fail/not-written", fmt.Errorf("%w: disk I/O error", keyd.ErrRecordNotWritten), 503, "Unavailable"},
		{"fail/queue-full", keyd.ErrRecordQueueFull, 429, "Throttled"},
	} {
		api := keyd.NewPlainAPI(keyd.PlainAPIConfig{Keys: svc, Region: region,
			Record: func(context.Context, xks.Usage) error { return tt.err }})
		b, _ := json.Marshal(map[string]any{"key_id": "k-a", "plaintext": b64([]byte("provider secret"))})
		req := httptest.NewRequest("POST", "https://keys.example"+keyd.PlainAPIPath+"encrypt", bytes.NewReader(b))
		sum := sha256.Sum256(b)
		if err := v4.NewSigner().SignHTTP(ctxBg, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]),
			keyd.PlainAPIService, region, time.Now()); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		if w.Code != tt.status || out["code"] != tt.code || out["ciphertext"] != nil {
			t.Errorf("%s: %d %v; want %d %s and no ciphertext", tt.name, w.Code, out, tt.status, tt.code)
		}
	}
}

// TestPlainAPIScopeMismatchLogged: a request signed for another region
// or service gets the usual AuthenticationFailed, and the log names the
// mismatch, so an operator sees a misconfigured client rather than a
// guessed secret.
func TestPlainAPIScopeMismatchLogged(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	svc := keys.New(db, keys.Options{})
	var logs bytes.Buffer // the handler logs before it answers: no concurrency
	api := keyd.NewPlainAPI(keyd.PlainAPIConfig{Keys: svc, Region: region, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Record: func(context.Context, xks.Usage) error { return nil }})
	for _, tt := range []struct{ region, service, part, got string }{
		{"us-east-1", keyd.PlainAPIService, "region", "us-east-1"},
		{region, "kms", "service", "kms"},
	} {
		logs.Reset()
		b := []byte(`{"key_id":"k-a","plaintext":"AAAA"}`)
		req := httptest.NewRequest("POST", "https://keys.example"+keyd.PlainAPIPath+"encrypt", bytes.NewReader(b))
		sum := sha256.Sum256(b)
		if err := v4.NewSigner().SignHTTP(ctxBg, aws.Credentials{AccessKeyID: "HATOBAAAAAAAAAAAAAAA", SecretAccessKey: "s"}, req,
			hex.EncodeToString(sum[:]), tt.service, tt.region, time.Now()); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "AuthenticationFailed") {
			t.Fatalf("%s: %d %s", tt.part, w.Code, w.Body.String())
		}
		if !strings.Contains(logs.String(), `"sigv4_mismatch":"`+tt.part+`"`) || !strings.Contains(logs.String(), `"signed_for":"`+tt.got+`"`) {
			t.Errorf("%s mismatch not logged as such:\n%s", tt.part, logs.String())
		}
	}
}
