package keys

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// flakyKey is a master key whose unwrap fails the way a starved HSM does.
type flakyKey struct {
	unwrapErr   error // what unwrap answers
	selfTestErr error // what a wrap (the self-test's first half) answers
}

func (k *flakyKey) wrap(p, _ []byte) ([]byte, error) {
	if k.selfTestErr != nil {
		return nil, k.selfTestErr
	}
	return append([]byte("w:"), p...), nil
}

func (k *flakyKey) unwrap(b, _ []byte) ([]byte, error) {
	if k.unwrapErr != nil && !strings.HasPrefix(string(b), "w:") {
		return nil, k.unwrapErr
	}
	return []byte(strings.TrimPrefix(string(b), "w:")), nil
}

func (k *flakyKey) close() error { return nil }

// A stored secret that does not unwrap is called tampering only when the
// tag fails under a master key that passes its self-test; an I/O or
// resource failure says what it is.
func TestUnwrapStoredNamesTheCause(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{Logger: slog.New(slog.DiscardHandler)})
	tests := []struct {
		name    string
		key     *flakyKey
		tamper  bool
		mention string
	}{
		{"fail/hsm-error", &flakyKey{unwrapErr: errors.New("keys: HSM decrypt failed: CKR_DEVICE_MEMORY")}, false, "CKR_DEVICE_MEMORY"},
		{"fail/tag-but-master-failing", &flakyKey{unwrapErr: ErrInvalidCiphertext, selfTestErr: errors.New("crypto11: no session available")}, false, "no session available"},
		{"fail/tampered", &flakyKey{unwrapErr: ErrInvalidCiphertext}, true, "changed outside the key service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.unwrapStored(ctxBg, tt.key, []byte("stored"), nil, "XKS credential HATOBAAAAA")
			if err == nil || errors.Is(err, ErrStoredMaterial) != tt.tamper || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v; want tampering %v, mentioning %q", err, tt.tamper, tt.mention)
			}
			if !tt.tamper && strings.Contains(err.Error(), "tamper") {
				t.Fatalf("a resource failure reported as tampering: %v", err)
			}
		})
	}
}
