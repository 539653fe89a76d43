package xks

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// TestCDIVSpecExample is the worked example of Appendix C.
func TestCDIVSpecExample(t *testing.T) {
	t.Parallel()
	d := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := Sealed{Ciphertext: d("ghxkK1txeDNn3q8Y"), IV: d("HMrlRw85cAJUd5Ax"), Tag: d("vBxN2ncH1oEkR8WVXpmyYQ=="), Metadata: d("a2V5X3ZlcnNpb249MQ==")}
	got := base64.StdEncoding.EncodeToString(CDIV([]byte("project=nile,department=marketing"), s))
	if got != "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=" {
		t.Fatalf("CDIV = %s", got)
	}
}

func TestAAD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		aad, meta []byte
		want      []byte
	}{
		{"ok/neither", nil, nil, []byte{0, 0, 0}},
		{"ok/aad", []byte("ab"), nil, []byte{0, 2, 'a', 'b', 0}},
		{"ok/meta", nil, []byte("m"), []byte{0, 0, 1, 'm'}},
		{"ok/both", []byte("ab"), []byte("m"), []byte{0, 2, 'a', 'b', 1, 'm'}},
		{"ok/big-endian", make([]byte, 258), nil, append(append([]byte{1, 2}, make([]byte, 258)...), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := AAD(tt.aad, tt.meta); !bytes.Equal(got, tt.want) {
				t.Fatalf("AAD = %x, want %x", got, tt.want)
			}
		})
	}
	if bytes.Equal(AAD(nil, []byte("m")), AAD([]byte("m"), nil)) {
		t.Fatal("moving metadata into the AAD must change the GCM input")
	}
}

// FuzzDecode feeds arbitrary bodies to every request decoder: none may
// panic, and every refusal is an answer from the specification's table.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"requestMetadata":{}}`, `[]`, `null`, `{"requestMetadata":null}`,
		`{"requestMetadata":{"awsPrincipalArn":"a","kmsKeyArn":"k","kmsOperation":"Encrypt","kmsRequestId":"r"},"plaintext":"SGVsbG8=","encryptionAlgorithm":"AES_GCM","additionalAuthenticatedData":"YQ==","ciphertextDataIntegrityValueAlgorithm":"SHA_256"}`,
		`{"requestMetadata":{"awsPrincipalArn":"a","kmsKeyArn":"k","kmsOperation":"Decrypt","kmsRequestId":"r"},"ciphertext":"SGVsbG8=","encryptionAlgorithm":"AES_GCM","initializationVector":"AAAAAAAAAAAAAAAA","authenticationTag":"AAAAAAAAAAAAAAAAAAAAAA==","ciphertextMetadata":"dg=="}`,
		`{"requestMetadata":{"kmsOperation":"KmsHealthCheck","kmsRequestId":"r"}} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			if _, ok := statusOf[e.Name]; !ok {
				t.Fatalf("unknown error name %q", e.Name)
			}
		}
		in, err := decodeEncrypt(body)
		check(err)
		if err == nil && (len(in.plaintext) == 0 || len(in.plaintext) > MaxPlaintext || len(in.aad) > MaxAAD) {
			t.Fatalf("accepted out-of-range encrypt input")
		}
		din, err := decodeDecrypt(body)
		check(err)
		if err == nil && (len(din.sealed.Tag) != 16 || (len(din.sealed.IV) != 12 && len(din.sealed.IV) != 16) || len(din.sealed.Metadata) > MaxCiphertextMetadata) {
			t.Fatalf("accepted out-of-range decrypt input")
		}
		_, err = decodeMetadata(body)
		check(err)
		_, err = decodeHealth(body)
		check(err)
	})
}
