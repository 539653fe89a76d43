package aws_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/xks"
	"github.com/hatoba-cloud/hatoba/internal/xks/xkstest"
)

const (
	tenant    = "org-1"
	xksKeyID  = "HATOBAXKSDRIVER234567ABCD"
	xksSecret = "driver/secret/driver/secret/driver/secret/driver"
)

// xksSetup is hatoba's XKS proxy over an in-memory key service (served
// with TLS), a simulated cloud that trusts it, the driver on that cloud and
// a plain KMS client for using the keys the driver makes.
type xksSetup struct {
	keys  *xkstest.Keys
	proxy *httptest.Server
	path  string
	d     *awsdriver.Driver
	kms   *kms.Client
}

func newXKSSetup(t *testing.T) *xksSetup {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &xksSetup{keys: xkstest.New()}
	x.keys.AddCredential(tenant, xksKeyID, xksSecret)
	x.keys.AddKey(tenant, "key-1", xks.UsageEncrypt, xks.UsageDecrypt)
	h, err := xks.NewHandler(xks.Config{URIPrefix: "/xks", Region: "ap-northeast-1", Keys: x.keys, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	x.path = h.Path()
	mux := http.NewServeMux()
	mux.Handle(h.Path(), h)
	x.proxy = httptest.NewTLSServer(mux)
	t.Cleanup(x.proxy.Close)

	// The httptest proxy listens on a port of its own, which AWS would
	// refuse: both sides allow it here (TestXKSProxyPortRefused checks the
	// refusal).
	sim, err := simcloud.Open(simcloud.Config{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Logger: quiet, XKSClient: x.proxy.Client(),
		AllowXKSProxyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	x.d, err = awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", AllowXKSProxyPort: true})
	if err != nil {
		t.Fatal(err)
	}
	x.kms = kms.NewFromConfig(aws.Config{Region: "ap-northeast-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}, func(o *kms.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return x
}

func (x *xksSetup) spec(secret string) provider.ExternalKeyStoreSpec {
	return provider.ExternalKeyStoreSpec{Name: "hatoba-" + tenant, ProxyURL: x.proxy.URL, ProxyPath: x.path, AccessKeyID: xksKeyID, Secret: secret}
}

// TestEnsureExternalKeyStore: a failed connection names AWS's code; a
// corrected secret repairs the same store; repeating the call reuses it;
// a rotated secret is written to the connected store.
func TestEnsureExternalKeyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := newXKSSetup(t)

	_, err := x.d.EnsureExternalKeyStore(ctx, x.spec("wrong/secret/wrong/secret/wrong/secret/wrong/secret"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Code != "INVALID_CREDENTIALS" || pe.Class != provider.Permanent || !strings.Contains(err.Error(), "INVALID_CREDENTIALS") {
		t.Fatalf("wrong secret: %v", err)
	}

	var first provider.ExternalKeyStore
	for round := range 2 {
		got, err := x.d.EnsureExternalKeyStore(ctx, x.spec(xksSecret))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got.State != "CONNECTED" || !strings.HasPrefix(got.ID, "cks-") || got.Name != "hatoba-"+tenant {
			t.Fatalf("round %d: %+v", round, got)
		}
		if round == 0 {
			first = got
		} else if got.ID != first.ID {
			t.Fatalf("second call made store %s, want %s again", got.ID, first.ID)
		}
	}

	// hatoba rotates the tenant's secret; the store must sign with the new
	// one, or the key below could not encrypt.
	const rotated = "rotated/secret/rotated/secret/rotated/secret/rot"
	x.keys.AddCredential(tenant, xksKeyID, rotated)
	got, err := x.d.EnsureExternalKeyStore(ctx, x.spec(rotated))
	if err != nil || got.ID != first.ID {
		t.Fatalf("after rotation: %+v %v", got, err)
	}

	key, err := x.d.CreateExternalKey(ctx, got.ID, "key-1", "env-1 data", map[string]string{"hatoba:environment": "env-1"})
	if err != nil {
		t.Fatal(err)
	}
	if key.ExternalKeyID != "key-1" || !strings.HasPrefix(key.ARN, "arn:aws:kms:ap-northeast-1:") || !strings.HasSuffix(key.ARN, "/"+key.ID) {
		t.Fatalf("key %+v", key)
	}
	ec := map[string]string{"hatoba:environment": "env-1"}
	enc, err := x.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key.ARN), Plaintext: []byte("hello"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := x.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("Decrypt: %+v %v", dec, err)
	}
}

// TestCreateExternalKeyErrors: AWS's refusals reach the caller classified
// and named.
func TestCreateExternalKeyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := newXKSSetup(t)
	store, err := x.d.EnsureExternalKeyStore(ctx, x.spec(xksSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.d.CreateExternalKey(ctx, store.ID, "key-1", "", nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, storeID, keyID string
		code                 string
		class                provider.Class
	}{
		{"fail/no such external key", store.ID, "no-such-key", "XksKeyNotFoundException", provider.Permanent},
		{"fail/external key already used", store.ID, "key-1", "XksKeyAlreadyInUseException", provider.Permanent},
		{"fail/no such store", "cks-00000000000000000", "key-1", "CustomKeyStoreNotFoundException", provider.Permanent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x.d.CreateExternalKey(ctx, tt.storeID, tt.keyID, "", nil)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Class != tt.class {
				t.Fatalf("got %v, want %s (%s)", err, tt.code, tt.class)
			}
		})
	}
	x.proxy.Close()
	_, err = x.d.CreateExternalKey(ctx, store.ID, "key-2", "", nil)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Code != "XksProxyUriUnreachableException" || pe.Class != provider.Transient {
		t.Fatalf("proxy down: %v", err)
	}
}

// TestEnsureExternalKeyStoreMovesEndpoint: AWS changes a store's endpoint
// only while it is disconnected; the driver disconnects, updates and
// connects again when — and only when — the endpoint changed.
func TestEnsureExternalKeyStoreMovesEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := newXKSSetup(t)
	first, err := x.d.EnsureExternalKeyStore(ctx, x.spec(xksSecret))
	if err != nil {
		t.Fatal(err)
	}
	moved := httptest.NewTLSServer(x.proxy.Config.Handler) // same test certificate, another address
	t.Cleanup(moved.Close)
	spec := x.spec(xksSecret)
	spec.ProxyURL = moved.URL
	for round := range 2 {
		got, err := x.d.EnsureExternalKeyStore(ctx, spec)
		if err != nil || got.ID != first.ID || got.State != "CONNECTED" {
			t.Fatalf("round %d after the move: %+v %v", round, got, err)
		}
	}
	out, err := x.kms.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(first.ID)})
	if err != nil || aws.ToString(out.CustomKeyStores[0].XksProxyConfiguration.UriEndpoint) != moved.URL {
		t.Fatalf("store %+v %v, want endpoint %s", out, err, moved.URL)
	}
}

// TestXKSProxyPortRefused: AWS refuses a proxy endpoint with a port (KMS
// calls 443) or a path; the driver says so before calling.
func TestXKSProxyPortRefused(t *testing.T) {
	t.Parallel()
	d, err := awsdriver.New(context.Background(), awsdriver.Config{Region: "ap-northeast-1", Endpoint: "http://127.0.0.1:1",
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://xks.example.jp:8443", "https://xks.example.jp/xks", "http://xks.example.jp", "https://xks.example.jp/"} {
		_, err := d.EnsureExternalKeyStore(context.Background(), provider.ExternalKeyStoreSpec{Name: "hatoba-x", ProxyURL: u, ProxyPath: "/xks/kms/xks/v1",
			AccessKeyID: xksKeyID, Secret: xksSecret})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Class != provider.Permanent || pe.Code != "ValidationException" {
			t.Errorf("%s: %v, want a permanent ValidationException before any call", u, err)
		}
	}
}
