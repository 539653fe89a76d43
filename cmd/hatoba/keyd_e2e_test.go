package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

var shareLine = regexp.MustCompile(`(?m)^share \d+: (\S+)$`)

// keydInit runs hatoba keyd init in-process and returns the shares.
func keydInit(t *testing.T, settings ...string) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"keyd", "init", "--shares", "3", "--threshold", "2"}, settings...)
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("keyd init: %v\n%s", err, errOut.String())
	}
	var shares []string
	for _, m := range shareLine.FindAllStringSubmatch(out.String(), -1) {
		shares = append(shares, m[1])
	}
	if len(shares) != 3 {
		t.Fatalf("keyd init printed %d shares:\n%s", len(shares), out.String())
	}
	return shares
}

// unseal submits one share with the CLI, as a custodian would.
func unseal(t *testing.T, server, serverCA, share string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runIO(context.Background(), []string{"keyd", "unseal", "--server", server, "--server-ca", serverCA}, strings.NewReader(share+"\n"), &out, &errOut)
	if err != nil {
		t.Fatalf("keyd unseal: %v\n%s", err, errOut.String())
	}
	return out.String()
}

// makeKeyOwner designates the token's person key owner and confirms its
// session with a second factor, as the console's WebAuthn step would.
func makeKeyOwner(t *testing.T, dbURL, token string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := identity.New(db, identity.Options{}, time.Now)
	p, _, err := ids.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.SetKeyOwner(ctx, p, p.PersonID, true); err != nil {
		t.Fatal(err)
	}
	if err := ids.ConfirmSecondFactor(ctx, token); err != nil {
		t.Fatal(err)
	}
}

// xksCall signs an XKS request as AWS KMS does and returns the status and
// the JSON answer.
func xksCall(t *testing.T, url, akid, secret string, body map[string]any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(b)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req,
		hex.EncodeToString(sum[:]), "kms-xks-proxy", "ap-northeast-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("XKS %s: %d %q", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func xksMetadata(op string) map[string]any {
	return map[string]any{"awsPrincipalArn": "arn:aws:iam::123456789012:role/app", "kmsOperation": op, "kmsRequestId": "req-" + op,
		"kmsKeyArn": "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
}

// TestKeydEmbedded runs the key service inside serve: init on the
// database, unseal with the CLI, a key owner's key and XKS credential, AWS
// KMS's encrypt and decrypt over HTTPS with SigV4, the kill switch, the
// usage record, a provider credential stored through the key service and
// used to vend, and sealing.
func TestKeydEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := filepath.Join(dir, "hatoba.db")
	shares := keydInit(t, "--database-url", dbURL)

	serverCA := filepath.Join(dir, "tls", "server.pem")
	sim, _ := startSim(t, dir, "simcloud.xks_ca_file="+serverCA)
	// A fixed port, so the XKS proxy's public address is known before start.
	port := freePort(t)
	args := serveArgs(dir, dbURL, "--set", "simcloud.embedded=false", "--set", "providers.sim.endpoint="+sim.url,
		"--set", "providers.sim.access_key_id=HATOBASIMULATED", "--set", "providers.sim.secret_access_key=secret:provider/sim",
		"--set", "keyd.xks_public_url=https://127.0.0.1:"+port)
	for i, a := range args {
		if a == "127.0.0.1:0" {
			args[i] = "127.0.0.1:" + port
		}
	}
	srv := start(t, args...)
	op := mintToken(t, dbURL, authz.CentralOperator, "")

	var st map[string]any
	if code := callAs(t, op, "GET", srv.url+"/api/v1/keys/service", nil, &st); code != 200 || st["sealed"] != true || st["mode"] != "split" {
		t.Fatalf("status before unseal: %d %v", code, st)
	}
	if got := unseal(t, srv.url, serverCA, shares[2]); !strings.Contains(got, "1 of 2 shares") {
		t.Fatalf("first share: %q", got)
	}
	if got := unseal(t, srv.url, serverCA, shares[0]); !strings.Contains(got, "unsealed (split mode)") {
		t.Fatalf("second share: %q", got)
	}

	// hatoba's own provider credential, through the key service.
	if code := callAs(t, op, "PUT", srv.url+"/api/v1/secrets/provider/sim", map[string]string{"value": "simulated-secret"}, nil); code != 204 {
		t.Fatalf("secret put: %d", code)
	}
	admin := createOrg(t, dbURL, srv.url)
	ids := requestMany(t, admin, []*proc{srv}, "nat-digital", 1)
	waitAllReady(t, admin, func() string { return srv.url }, ids, 60*time.Second)

	// The key owner's key and credential; AWS KMS's requests.
	makeKeyOwner(t, dbURL, admin)
	keys := srv.url + "/api/v1/organizations/nat-digital"
	if code := callAs(t, admin, "POST", keys+"/keys", map[string]string{"id": "k1"}, nil); code != 201 {
		t.Fatalf("create key: %d", code)
	}
	var cred map[string]any
	if code := callAs(t, admin, "POST", keys+"/keystore/xks-credentials", nil, &cred); code != 201 {
		t.Fatalf("create credential: %d %v", code, cred)
	}
	akid, secret := cred["access_key_id"].(string), cred["secret"].(string)
	xksURL := srv.url + "/xks/nat-digital/kms/xks/v1/keys/k1/"
	plaintext := base64.StdEncoding.EncodeToString([]byte("a 32-byte data key for the e2e!!"))
	code, enc := xksCall(t, xksURL+"encrypt", akid, secret, map[string]any{"requestMetadata": xksMetadata("Encrypt"),
		"plaintext": plaintext, "encryptionAlgorithm": "AES_GCM"})
	if code != 200 {
		t.Fatalf("encrypt: %d %v", code, enc)
	}
	decrypt := map[string]any{"requestMetadata": xksMetadata("Decrypt"), "encryptionAlgorithm": "AES_GCM", "ciphertext": enc["ciphertext"],
		"initializationVector": enc["initializationVector"], "authenticationTag": enc["authenticationTag"], "ciphertextMetadata": enc["ciphertextMetadata"]}
	if code, dec := xksCall(t, xksURL+"decrypt", akid, secret, decrypt); code != 200 || dec["plaintext"] != plaintext {
		t.Fatalf("decrypt: %d %v", code, dec)
	}

	// The kill switch: the next request fails with the specification's error.
	if code := callAs(t, admin, "POST", keys+"/keystore/kill", map[string]string{"confirm": "wrong"}, nil); code != 422 {
		t.Fatalf("kill without the confirmation: %d", code)
	}
	if code := callAs(t, op, "POST", keys+"/keystore/kill", map[string]string{"confirm": "nat-digital"}, nil); code != 403 && code != 404 {
		t.Fatalf("an operator pulled a tenant's kill switch: %d", code)
	}
	if code := callAs(t, admin, "POST", keys+"/keystore/kill", map[string]string{"confirm": "nat-digital"}, nil); code != 200 {
		t.Fatalf("kill: %d", code)
	}
	if code, out := xksCall(t, xksURL+"decrypt", akid, secret, decrypt); code != 400 || out["errorName"] != "InvalidStateException" {
		t.Fatalf("decrypt after the kill switch: %d %v", code, out)
	}
	if code := callAs(t, admin, "POST", keys+"/keystore/revive", nil, nil); code != 200 {
		t.Fatalf("revive: %d", code)
	}
	if code, _ := xksCall(t, xksURL+"decrypt", akid, secret, decrypt); code != 200 {
		t.Fatalf("decrypt after revive: %d", code)
	}

	// The environment's cloud key: the simulated AWS KMS creates the
	// tenant's external key store, connects it to this XKS proxy and makes
	// a KMS key backed by k1; data encrypted with it becomes unreadable in
	// the cloud when the owner pulls the kill switch.
	var xk struct {
		Store struct{ ID, State string } `json:"store"`
		Key   struct{ ARN string }       `json:"key"`
	}
	if code := callAs(t, admin, "POST", srv.url+"/api/v1/environments/"+ids[0]+"/external-keys", map[string]string{"key_id": "k1"}, &xk); code != 201 || xk.Store.State != "CONNECTED" {
		t.Fatalf("external key: %d %+v", code, xk)
	}
	kmsc := kms.New(kms.Options{Region: "ap-northeast-1", BaseEndpoint: aws.String(sim.url),
		Credentials: credentials.NewStaticCredentialsProvider("HATOBASIMULATED", "simulated-secret", "")})
	ctx := context.Background()
	ct, err := kmsc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(xk.Key.ARN), Plaintext: []byte("tenant data key"),
		EncryptionContext: map[string]string{"app": "juminhyo"}})
	if err != nil {
		t.Fatalf("KMS Encrypt with the XKS key: %v", err)
	}
	cloudDecrypt := func() error {
		_, err := kmsc.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(xk.Key.ARN), CiphertextBlob: ct.CiphertextBlob,
			EncryptionContext: map[string]string{"app": "juminhyo"}})
		return err
	}
	if err := cloudDecrypt(); err != nil {
		t.Fatalf("KMS Decrypt: %v", err)
	}
	if code := callAs(t, admin, "POST", keys+"/keystore/kill", map[string]string{"confirm": "nat-digital"}, nil); code != 200 {
		t.Fatalf("kill: %d", code)
	}
	var invalid *kmstypes.KMSInvalidStateException
	if err := cloudDecrypt(); !errors.As(err, &invalid) {
		t.Fatalf("KMS Decrypt after the kill switch: %v, want KMSInvalidStateException", err)
	}
	if code := callAs(t, admin, "POST", keys+"/keystore/revive", nil, nil); code != 200 {
		t.Fatalf("revive: %d", code)
	}
	if err := cloudDecrypt(); err != nil {
		t.Fatalf("KMS Decrypt after revive: %v", err)
	}

	// The usage record, batched into the audit log, shows the tenant the
	// KMS requests with their request ids.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var usage struct {
			Items []struct {
				Action  string `json:"action"`
				Details string `json:"details"`
			} `json:"items"`
		}
		callAs(t, admin, "GET", keys+"/keystore/usage", nil, &usage)
		var seen []string
		for _, it := range usage.Items {
			seen = append(seen, it.Action)
		}
		all := strings.Join(seen, ",")
		if strings.Contains(all, "key.xks.encrypt") && strings.Contains(all, "key.xks.decrypt") && strings.Contains(all, "key.kill") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage record: %s", all)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Sealing stops everything at once.
	if code := callAs(t, op, "POST", srv.url+"/api/v1/keys/service/seal", nil, &st); code != 200 || st["sealed"] != true {
		t.Fatalf("seal: %d %v", code, st)
	}
	if code, out := xksCall(t, xksURL+"decrypt", akid, secret, decrypt); code != 500 || out["errorName"] != "InternalException" {
		t.Fatalf("decrypt while sealed: %d %v", code, out)
	}
}

// TestKeydStandalone runs hatoba keyd on its own listener with its own
// database (SQLite) beside a control plane on PostgreSQL: people's tokens
// from the control plane work there, and AWS KMS reaches the XKS proxy.
func TestKeydStandalone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mainURL := storetest.URL(t, store.Postgres)
	keydDB := filepath.Join(dir, "keyd.db")
	settings := []string{"--database-url", mainURL, "--set", "keyd.database_url=" + keydDB,
		"--set", "keyd.audit_signing_key_file=" + filepath.Join(dir, "keyd-audit.key"),
		"--set", "keyd.tls_dir=" + filepath.Join(dir, "keyd-tls"), "--set", "keyd.listen=127.0.0.1:0", "--set", "keyd.xks_uri_prefix=/tenant-keys"}
	srv := start(t, serveArgs(dir, mainURL, "--set", "keyd.embedded=false", "--set", "simcloud.db_path="+filepath.Join(dir, "sim.db"))...)
	shares := keydInit(t, settings...)
	kd := start(t, append([]string{"keyd", "serve", "--log-level", "warn"}, settings...)...)
	keydCA := filepath.Join(dir, "keyd-tls", "server.pem")

	// The control plane has no key service of its own.
	op := mintToken(t, mainURL, authz.CentralOperator, "")
	if code := callAs(t, op, "GET", srv.url+"/api/v1/keys/service", nil, nil); code != 503 {
		t.Fatalf("serve without the key service: %d", code)
	}
	unseal(t, kd.url, keydCA, shares[0])
	if got := unseal(t, kd.url, keydCA, shares[1]); !strings.Contains(got, "unsealed") {
		t.Fatalf("unseal: %q", got)
	}
	admin := createOrg(t, mainURL, srv.url)
	makeKeyOwner(t, mainURL, admin)
	keys := kd.url + "/api/v1/organizations/nat-digital"
	if code := callAs(t, admin, "POST", keys+"/keys", map[string]string{"id": "k1", "usage": "encrypt_only"}, nil); code != 201 {
		t.Fatalf("create key at keyd: %d", code)
	}
	if code := callAs(t, admin, "POST", kd.url+"/api/v1/organizations/qp-nowhere/keys", map[string]string{"id": "k1"}, nil); code != 403 && code != 404 {
		t.Fatalf("a key for an organisation outside the owner's subtree: %d", code)
	}
	var cred map[string]any
	if code := callAs(t, admin, "POST", keys+"/keystore/xks-credentials", nil, &cred); code != 201 {
		t.Fatalf("credential: %d", code)
	}
	akid, secret := cred["access_key_id"].(string), cred["secret"].(string)
	code, out := xksCall(t, kd.url+"/tenant-keys/nat-digital/kms/xks/v1/health", akid, secret, map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "h", "kmsOperation": "KmsHealthCheck"}})
	if code != 200 || !strings.Contains(func() string { b, _ := json.Marshal(out); return string(b) }(), "ACTIVE") {
		t.Fatalf("health: %d %v", code, out)
	}
	code, out = xksCall(t, kd.url+"/tenant-keys/nat-digital/kms/xks/v1/keys/k1/metadata", akid, secret, map[string]any{"requestMetadata": xksMetadata("DescribeKey")})
	if code != 200 || !strings.Contains(strings.Join(func() []string {
		var s []string
		for _, u := range out["keyUsage"].([]any) {
			s = append(s, u.(string))
		}
		return s
	}(), ","), "ENCRYPT") {
		t.Fatalf("metadata: %d %v", code, out)
	}
	// keyd has its own console for key owners (their second factor is
	// given there): the key pages and signing in, nothing else.
	for path, want := range map[string]int{"/login": 200, "/keys": 200, "/envs": 404, "/people": 404} {
		req, _ := http.NewRequest("GET", kd.url+path, nil)
		resp, err := (&http.Client{Transport: testClient.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.StatusCode
		if got == http.StatusSeeOther && want == 200 {
			got = 200 // to the login page
		}
		if got != want {
			t.Errorf("keyd console GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// The key lives in keyd's database, not the control plane's.
	ctx := context.Background()
	mainDB, err := store.Open(ctx, mainURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mainDB.Close()
	var n int
	if err := mainDB.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenant_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the control plane's database holds %d keys (%v)", n, err)
	}
}

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
