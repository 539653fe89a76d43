package simcloud_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/xks"
	"github.com/hatoba-cloud/hatoba/internal/xks/xkstest"
)

// A tenant's XKS credential in the shapes KMS accepts: 20-30 characters of
// A-Z2-7, and a secret of 43-64 characters.
const (
	xksTenant    = "tenant-1"
	xksAccessKey = "HATOBAXKSTEST2345ABCDEFG"
	xksSecret    = "s3cr3t/s3cr3t/s3cr3t/s3cr3t/s3cr3t/s3cr3t/s3cr3t"
	wrongSecret  = "wr0ng+wr0ng+wr0ng+wr0ng+wr0ng+wr0ng+wr0ng+wr0ng"
	xksPath      = "/xks/kms/xks/v1"
)

// proxy is hatoba's real XKS handler over an in-memory key service, served
// with TLS as AWS requires.
type proxy struct {
	keys *xkstest.Keys
	srv  *httptest.Server
	mu   sync.Mutex
	seen []xks.Usage
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	p := &proxy{keys: xkstest.New()}
	p.keys.AddCredential(xksTenant, xksAccessKey, xksSecret)
	p.keys.AddKey(xksTenant, "key-1", xks.UsageEncrypt, xks.UsageDecrypt)
	p.keys.AddKey(xksTenant, "key-2", xks.UsageEncrypt, xks.UsageDecrypt)
	p.keys.AddKey(xksTenant, "encrypt-only", xks.UsageEncrypt)
	h, err := xks.NewHandler(xks.Config{URIPrefix: "/xks", Region: "ap-northeast-1", Keys: p.keys, Logger: quiet,
		Record: func(_ context.Context, u xks.Usage) error {
			p.mu.Lock()
			p.seen = append(p.seen, u)
			p.mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(h.Path(), h)
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) last() xks.Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[len(p.seen)-1]
}

// kmsClient is the SDK's KMS client on a simulated cloud that trusts the
// proxy's certificate.
func kmsClient(t *testing.T, cfg simcloud.Config) *kms.Client {
	t.Helper()
	cfg.AllowXKSProxyPort = true // httptest proxies listen on ports of their own
	return kmsClientStrict(t, cfg)
}

// kmsClientStrict is kmsClient with the simulated cloud as strict as AWS
// about the proxy's port.
func kmsClientStrict(t *testing.T, cfg simcloud.Config) *kms.Client {
	t.Helper()
	sim := open(t, cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return kms.NewFromConfig(aws.Config{Region: "ap-northeast-1", Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}, func(o *kms.Options) { o.BaseEndpoint = aws.String(srv.URL) })
}

func errCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func createStore(ctx context.Context, c *kms.Client, name, endpoint, secret string) (string, error) {
	out, err := c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
		CustomKeyStoreType: kmstypes.CustomKeyStoreTypeExternalKeyStore, XksProxyConnectivity: kmstypes.XksProxyConnectivityTypePublicEndpoint,
		XksProxyUriEndpoint: aws.String(endpoint), XksProxyUriPath: aws.String(xksPath),
		XksProxyAuthenticationCredential: &kmstypes.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(xksAccessKey), RawSecretAccessKey: aws.String(secret)}})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.CustomKeyStoreId), nil
}

func storeState(t *testing.T, c *kms.Client, id string) (kmstypes.ConnectionStateType, kmstypes.ConnectionErrorCodeType) {
	t.Helper()
	out, err := c.DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil || len(out.CustomKeyStores) != 1 {
		t.Fatalf("DescribeCustomKeyStores %s: %v %+v", id, err, out)
	}
	return out.CustomKeyStores[0].ConnectionState, out.CustomKeyStores[0].ConnectionErrorCode
}

// TestKMSExternalKeyStore walks an external key store's life the way AWS
// KMS runs it, against hatoba's real XKS proxy: every connection, key
// creation and cryptographic operation reaches the proxy signed with the
// store's credential.
func TestKMSExternalKeyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newProxy(t)
	c := kmsClient(t, simcloud.Config{XKSClient: p.srv.Client()})

	// A wrong secret: the store is created, and its connection fails.
	id, err := createStore(ctx, c, "hatoba-org-1", p.srv.URL, wrongSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, code := storeState(t, c, id); st != kmstypes.ConnectionStateTypeFailed || code != kmstypes.ConnectionErrorCodeTypeInvalidCredentials {
		t.Fatalf("wrong secret: %s %s, want FAILED INVALID_CREDENTIALS", st, code)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); errCode(err) != "CustomKeyStoreInvalidStateException" {
		t.Fatalf("connecting a FAILED store: %v", err)
	}
	// The fix AWS asks for: disconnect, correct the credential, connect.
	if _, err := c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: &id,
		XksProxyAuthenticationCredential: &kmstypes.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(xksAccessKey), RawSecretAccessKey: aws.String(xksSecret)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, code := storeState(t, c, id); st != kmstypes.ConnectionStateTypeConnected || code != "" {
		t.Fatalf("right secret: %s %s, want CONNECTED", st, code)
	}

	// Management errors.
	for _, tt := range []struct {
		name string
		run  func() error
		want string
	}{
		{"fail/name in use", func() error {
			_, err := createStore(ctx, c, "hatoba-org-1", "https://other.example", xksSecret)
			return err
		}, "CustomKeyStoreNameInUseException"},
		{"fail/proxy address in use", func() error { _, err := createStore(ctx, c, "hatoba-org-2", p.srv.URL, xksSecret); return err }, "XksProxyUriInUseException"},
		{"fail/short secret", func() error {
			_, err := createStore(ctx, c, "hatoba-org-3", "https://other.example", "short")
			return err
		}, "ValidationException"},
		{"fail/store not found", func() error {
			_, err := c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("nobody")})
			return err
		}, "CustomKeyStoreNotFoundException"},
		{"fail/key not found", func() error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
			return err
		}, "NotFoundException"},
		{"fail/external key not found", func() error { _, err := createKey(ctx, c, id, "no-such-key"); return err }, "XksKeyNotFoundException"},
		{"fail/external key cannot decrypt", func() error { _, err := createKey(ctx, c, id, "encrypt-only"); return err }, "XksKeyInvalidConfigurationException"},
		{"fail/AWS_KMS key", func() error { _, err := c.CreateKey(ctx, &kms.CreateKeyInput{}); return err }, "UnsupportedOperationException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errCode(tt.run()); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}

	key, err := createKey(ctx, c, id, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if u := p.last(); u.Operation != xks.OpGetKeyMetadata || u.KMSOperation != "CreateKey" || u.Result != xks.ResultOK {
		t.Fatalf("CreateKey sent %+v", u)
	}
	if _, err := createKey(ctx, c, id, "key-1"); errCode(err) != "XksKeyAlreadyInUseException" {
		t.Fatalf("second key for key-1: %v", err)
	}
	other, err := createKey(ctx, c, id, "key-2")
	if err != nil {
		t.Fatal(err)
	}

	ec := map[string]string{"hatoba:environment": "env-1", "purpose": "test"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("住民データ"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if u := p.last(); u.Operation != xks.OpEncrypt || u.KMSOperation != "Encrypt" || u.KMSKeyARN != aws.ToString(key.Arn) ||
		u.KMSRequestID == "" || !strings.HasPrefix(u.AWSPrincipalARN, "arn:aws:iam::") {
		t.Fatalf("Encrypt sent %+v", u)
	}
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyId, KeySpec: kmstypes.DataKeySpecAes256})
	if err != nil || len(dk.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	decrypt := func(blob []byte, ec map[string]string, keyID *string) ([]byte, error) {
		out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: keyID})
		if err != nil {
			return nil, err
		}
		return out.Plaintext, nil
	}
	for _, tt := range []struct {
		name  string
		blob  []byte
		ec    map[string]string
		keyID *string
		want  []byte
		code  string
	}{
		{name: "ok/round trip", blob: enc.CiphertextBlob, ec: map[string]string{"purpose": "test", "hatoba:environment": "env-1"}, want: []byte("住民データ")},
		{name: "ok/data key", blob: dk.CiphertextBlob, want: dk.Plaintext, keyID: key.KeyId},
		{name: "fail/wrong context", blob: enc.CiphertextBlob, ec: map[string]string{"hatoba:environment": "env-2", "purpose": "test"}, code: "InvalidCiphertextException"},
		{name: "fail/no context", blob: enc.CiphertextBlob, code: "InvalidCiphertextException"},
		{name: "fail/not a ciphertext", blob: []byte("garbage"), code: "InvalidCiphertextException"},
		{name: "fail/tampered", blob: append(bytes.Clone(enc.CiphertextBlob[:len(enc.CiphertextBlob)-1]), enc.CiphertextBlob[len(enc.CiphertextBlob)-1]^1), ec: ec, code: "InvalidCiphertextException"},
		{name: "fail/other key named", blob: enc.CiphertextBlob, ec: ec, keyID: other.KeyId, code: "IncorrectKeyException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decrypt(tt.blob, tt.ec, tt.keyID)
			if errCode(err) != tt.code || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q %v, want %q %s", got, err, tt.want, tt.code)
			}
		})
	}

	// What the tenant's side looks like from the cloud: a disabled key and
	// the kill switch both make the key unusable.
	for _, tt := range []struct {
		name       string
		set, reset func()
	}{
		{"fail/key disabled", func() { p.keys.SetEnabled(xksTenant, "key-1", false) }, func() { p.keys.SetEnabled(xksTenant, "key-1", true) }},
		{"fail/kill switch", func() { p.keys.Kill(xksTenant, true) }, func() { p.keys.Kill(xksTenant, false) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.set()
			defer tt.reset()
			if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")}); errCode(err) != "KMSInvalidStateException" {
				t.Fatalf("Encrypt: %v", err)
			}
			if _, err := decrypt(enc.CiphertextBlob, ec, nil); errCode(err) != "KMSInvalidStateException" {
				t.Fatalf("Decrypt: %v", err)
			}
		})
	}
	if _, err := decrypt(enc.CiphertextBlob, ec, nil); err != nil {
		t.Fatalf("after the switches are reset: %v", err)
	}

	// The proxy goes away.
	p.srv.Close()
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")}); errCode(err) != "KMSInvalidStateException" {
		t.Fatalf("Encrypt with the proxy down: %v", err)
	}
	if _, err := createKey(ctx, c, id, "key-3"); errCode(err) != "XksProxyUriUnreachableException" {
		t.Fatalf("CreateKey with the proxy down: %v", err)
	}
	if _, err := c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyId})
	if err != nil || desc.KeyMetadata.KeyState != kmstypes.KeyStateUnavailable {
		t.Fatalf("key of a disconnected store: %v %+v", err, desc)
	}
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")}); errCode(err) != "KMSInvalidStateException" {
		t.Fatalf("Encrypt with the store disconnected: %v", err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, code := storeState(t, c, id); st != kmstypes.ConnectionStateTypeFailed || code != kmstypes.ConnectionErrorCodeTypeXksProxyNotReachable {
		t.Fatalf("proxy down: %s %s, want FAILED XKS_PROXY_NOT_REACHABLE", st, code)
	}
}

func createKey(ctx context.Context, c *kms.Client, storeID, xksKeyID string) (*kmstypes.KeyMetadata, error) {
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: kmstypes.OriginTypeExternalKeyStore, CustomKeyStoreId: aws.String(storeID),
		XksKeyId: aws.String(xksKeyID), KeySpec: kmstypes.KeySpecSymmetricDefault, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt,
		Tags: []kmstypes.Tag{{TagKey: aws.String("hatoba:environment"), TagValue: aws.String("env-1")}}})
	if err != nil {
		return nil, err
	}
	return out.KeyMetadata, nil
}

// TestKMSUntrustedProxyCertificate: with the default XKS client a proxy
// whose certificate no public authority signed cannot connect, as on AWS.
func TestKMSUntrustedProxyCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newProxy(t)
	c := kmsClient(t, simcloud.Config{})
	id, err := createStore(ctx, c, "hatoba-org-1", p.srv.URL, xksSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, code := storeState(t, c, id); st != kmstypes.ConnectionStateTypeFailed || code != kmstypes.ConnectionErrorCodeTypeXksProxyInvalidTlsConfiguration {
		t.Fatalf("%s %s, want FAILED XKS_PROXY_INVALID_TLS_CONFIGURATION", st, code)
	}
}

// TestKMSProxyTimeout: a proxy that does not answer within KMS's 250 ms
// leaves the store FAILED with XKS_PROXY_TIMED_OUT.
func TestKMSProxyTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stop := make(chan struct{})
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop: // Close waits for handlers; the client's departure may go unnoticed
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(stop) }) // runs first
	client := hung.Client()
	client.Timeout = 250 * time.Millisecond
	c := kmsClient(t, simcloud.Config{XKSClient: client})
	id, err := createStore(ctx, c, "hatoba-org-1", hung.URL, xksSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, code := storeState(t, c, id); st != kmstypes.ConnectionStateTypeFailed || code != kmstypes.ConnectionErrorCodeTypeXksProxyTimedOut {
		t.Fatalf("%s %s, want FAILED XKS_PROXY_TIMED_OUT", st, code)
	}
}
