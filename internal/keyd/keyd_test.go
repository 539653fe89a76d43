package keyd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

const (
	region    = "ap-northeast-1"
	principal = "arn:aws:iam::123456789012:user/Alice"
)

var (
	ctxBg = context.Background()
	owner = authz.Principal{PersonID: "p-owner", Role: authz.TenantAdmin, OrgID: "org-a", KeyOwner: true}
	staff = authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}
)

// logBuffer is a concurrency-safe buffer for a test's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// client signs XKS requests as AWS KMS does.
type client struct {
	t            *testing.T
	url          string
	akid, secret string
}

func (c client) post(path string, body map[string]any) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.url+"/kms/xks/v1/"+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(b)
	if err := v4.NewSigner().SignHTTP(ctxBg, aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), xks.Service, region, time.Now()); err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s: answer is not JSON: %q", path, raw)
	}
	return resp.StatusCode, out
}

func md(op, reqID string) map[string]any {
	return map[string]any{
		"awsPrincipalArn": principal,
		"kmsKeyArn":       "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"kmsOperation":    op,
		"kmsRequestId":    reqID,
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func wantFail(t *testing.T, what string, status int, out map[string]any, wantStatus int, wantName string) {
	t.Helper()
	if status != wantStatus || out["errorName"] != wantName {
		t.Fatalf("%s: %d %v; want %d %s", what, status, out, wantStatus, wantName)
	}
}

// TestEndToEnd runs AWS KMS's side of XKS against a real key service in
// split-key mode through the HTTP handler, and checks the audit log.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := &logBuffer{}
		logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		svc := keys.New(db, keys.Options{Logger: logger})
		shares, err := svc.InitSplit(ctxBg, staff, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		unseal := func() {
			for _, sh := range shares[1:] {
				if _, err := svc.SubmitShare(ctxBg, audit.Acting{Actor: "custodian"}, sh); err != nil {
					t.Fatal(err)
				}
			}
		}
		unseal()
		if _, err := db.ExecContext(ctxBg, `INSERT INTO organizations (id, kind, name_ja, name_en, created_at, updated_at) VALUES ('org-a', 'ministry', 'a', 'a', $1, $1)`, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateKey(ctxBg, owner, "org-a", keys.KeySpec{ID: "key-1"}); err != nil {
			t.Fatal(err)
		}
		akid, secret, err := svc.CreateXKSCredential(ctxBg, owner, "org-a")
		if err != nil {
			t.Fatal(err)
		}

		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Logger: logger})
		h, err := xks.NewHandler(xks.Config{Region: region, Keys: keyd.New(svc, keyd.Options{NodeID: "test-1"}), Logger: logger, Record: rec.Record})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := client{t: t, url: srv.URL, akid: akid, secret: secret}

		// Health and metadata.
		st, out := c.post("health", map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "h1", "kmsOperation": "KmsHealthCheck"}})
		if st != 200 || !strings.Contains(js(out), `"healthStatus":"ACTIVE"`) {
			t.Fatalf("health: %d %v", st, out)
		}
		st, out = c.post("keys/key-1/metadata", map[string]any{"requestMetadata": md("DescribeKey", "m1")})
		if st != 200 || out["keyStatus"] != "ENABLED" || out["keySpec"] != "AES_256" {
			t.Fatalf("metadata: %d %v", st, out)
		}

		// Encrypt, then decrypt: the round trip, with the largest AAD the
		// specification allows and the integrity value.
		plaintext := []byte("a 32-byte data key for the test!")
		aad := bytes.Repeat([]byte{0xa5}, 8192)
		st, enc := c.post("keys/key-1/encrypt", map[string]any{"requestMetadata": md("Encrypt", "e1"), "plaintext": b64(plaintext),
			"encryptionAlgorithm": "AES_GCM", "additionalAuthenticatedData": b64(aad), "ciphertextDataIntegrityValueAlgorithm": "SHA_256"})
		if st != 200 || enc["ciphertextDataIntegrityValue"] == nil {
			t.Fatalf("encrypt: %d %v", st, enc)
		}
		decBody := func(id string) map[string]any {
			return map[string]any{"requestMetadata": md("Decrypt", id), "encryptionAlgorithm": "AES_GCM",
				"ciphertext": enc["ciphertext"], "initializationVector": enc["initializationVector"], "authenticationTag": enc["authenticationTag"],
				"ciphertextMetadata": enc["ciphertextMetadata"], "additionalAuthenticatedData": b64(aad)}
		}
		st, dec := c.post("keys/key-1/decrypt", decBody("d1"))
		if st != 200 || dec["plaintext"] != b64(plaintext) {
			t.Fatalf("decrypt: %d %v", st, dec)
		}
		bad := decBody("d2")
		bad["additionalAuthenticatedData"] = b64([]byte("other"))
		st, out = c.post("keys/key-1/decrypt", bad)
		wantFail(t, "wrong AAD", st, out, 400, xks.InvalidCiphertext)
		st, out = c.post("keys/nokey/encrypt", map[string]any{"requestMetadata": md("Encrypt", "e2"), "plaintext": b64(plaintext), "encryptionAlgorithm": "AES_GCM"})
		wantFail(t, "unknown key", st, out, 404, xks.KeyNotFound)

		// A disabled key, then the kill switch: the spec's InvalidStateException.
		if _, err := svc.Disable(ctxBg, owner, "org-a", "key-1"); err != nil {
			t.Fatal(err)
		}
		st, out = c.post("keys/key-1/decrypt", decBody("d3"))
		wantFail(t, "disabled", st, out, 400, xks.InvalidState)
		if _, err := svc.Enable(ctxBg, owner, "org-a", "key-1"); err != nil {
			t.Fatal(err)
		}
		if err := svc.Kill(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		st, out = c.post("keys/key-1/decrypt", decBody("d4"))
		wantFail(t, "killed", st, out, 400, xks.InvalidState)
		if err := svc.Revive(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		if st, out := c.post("keys/key-1/decrypt", decBody("d5")); st != 200 {
			t.Fatalf("after revive: %d %v", st, out)
		}

		// Sealed: unavailable (InternalException), then unsealed again.
		if err := svc.Seal(ctxBg, staff); err != nil {
			t.Fatal(err)
		}
		st, out = c.post("keys/key-1/decrypt", decBody("d6"))
		wantFail(t, "sealed", st, out, 500, xks.Internal)
		unseal()
		if st, out := c.post("keys/key-1/decrypt", decBody("d7")); st != 200 || out["plaintext"] != b64(plaintext) {
			t.Fatalf("after unseal: %d %v", st, out)
		}

		// Rotation: a second credential works; the revoked first one fails
		// authentication.
		akid2, secret2, err := svc.CreateXKSCredential(ctxBg, owner, "org-a")
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.RevokeXKSCredential(ctxBg, owner, "org-a", akid); err != nil {
			t.Fatal(err)
		}
		st, out = c.post("keys/key-1/decrypt", decBody("d8"))
		wantFail(t, "revoked credential", st, out, 401, xks.AuthenticationFailed)
		c2 := client{t: t, url: srv.URL, akid: akid2, secret: secret2}
		if st, out := c2.post("keys/key-1/decrypt", decBody("d9")); st != 200 {
			t.Fatalf("new credential: %d %v", st, out)
		}

		// Usage records reach the audit log once the recorder is closed.
		if err := rec.Close(ctxBg); err != nil {
			t.Fatal(err)
		}
		key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test.invalid/audit")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.New(db, key.Signer, nil).Integrate(ctxBg); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctxBg, `SELECT actor, action, org_id, target, details FROM audit_entries WHERE action LIKE 'key.xks.%' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var actor, action, org, target, details string
			if err := rows.Scan(&actor, &action, &org, &target, &details); err != nil {
				t.Fatal(err)
			}
			if actor != principal || org != "org-a" {
				t.Fatalf("record %s by %s for %s", action, actor, org)
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(details), &d); err != nil {
				t.Fatal(err)
			}
			got = append(got, action+" "+target+" "+d["kmsRequestId"].(string)+" "+d["result"].(string))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"key.xks.metadata key-1 m1 OK",
			"key.xks.encrypt key-1 e1 OK",
			"key.xks.decrypt key-1 d1 OK",
			"key.xks.decrypt key-1 d2 " + xks.InvalidCiphertext,
			"key.xks.encrypt nokey e2 " + xks.KeyNotFound,
			"key.xks.decrypt key-1 d3 " + xks.InvalidState,
			"key.xks.decrypt key-1 d5 OK",
			"key.xks.decrypt key-1 d7 OK",
			"key.xks.decrypt key-1 d9 OK",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("usage records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), b64(plaintext)) {
			t.Fatal("a secret or the plaintext reached the log")
		}
	})
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
