package xks_test

import (
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// TestCurl sends requests signed by curl's --aws-sigv4, as the
// specification's troubleshooting appendix and the AWS test client do: the
// proxy SHOULD accept them. curl canonicalises independently of the AWS
// SDK, so this catches verifier differences the SDK-signed tests cannot.
// Skipped where curl is missing or older than 7.75.
func TestCurl(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	hs := newHarness(t)
	hs.wall = true
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	tests := []struct {
		name, path, body, key, want string
	}{
		{"ok/health", "health", `{"requestMetadata":{"kmsRequestId":"r","kmsOperation":"KmsHealthCheck"}}`, accessKey, `"healthStatus":"ACTIVE"`},
		{"ok/encrypt", "keys/both/encrypt", string(js(encBody([]byte("Hello World!"), []byte("aad"), true))), accessKey, `"ciphertextDataIntegrityValue"`},
		{"fail/wrong-key", "keys/both/metadata", string(js(map[string]any{"requestMetadata": md("DescribeKey")})), "Invalid" + accessKey, `AuthenticationFailedException`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("curl", "--silent", "--show-error",
				"--aws-sigv4", "aws:amz:"+region+":kms-xks-proxy", "--user", tt.key+":"+secret,
				"-X", "POST", "-H", "Content-Type:application/json", "--data-binary", tt.body,
				srv.URL+prefix+"/kms/xks/v1/"+tt.path).CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "aws-sigv4") {
					t.Skipf("curl without --aws-sigv4: %s", out)
				}
				t.Fatalf("curl: %v: %s", err, out)
			}
			if !json.Valid(out) || !strings.Contains(string(out), tt.want) {
				t.Fatalf("curl got %s, want %s", out, tt.want)
			}
		})
	}
}
