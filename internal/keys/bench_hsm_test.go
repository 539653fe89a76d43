//go:build cgo

package keys

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// BenchmarkHSM: the hot path does not touch the HSM (tenant keys are
// unwrapped once, then cached), so it should match BenchmarkSplit;
// UnwrapInHSM measures what a cache miss costs.
func BenchmarkHSM(b *testing.B) {
	s, _, _ := newHSM(b, storetest.Open(b, store.SQLite))
	benchEncryptDecrypt(b, s)
	b.Run("UnwrapInHSM", func(b *testing.B) {
		mk, _, err := s.masterOrSealed()
		if err != nil {
			b.Fatal(err)
		}
		blob, err := mk.wrap(make([]byte, 32), []byte("aad"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mk.unwrap(blob, []byte("aad")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
