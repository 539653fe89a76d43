package keys

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// benchEncryptDecrypt measures the hot path: a cached key whose state is
// within its TTL, a 32-byte data key and a short AAD (what XKS sends).
func benchEncryptDecrypt(b *testing.B, s *Service) {
	k, err := s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 32)
	aad := []byte("arn:aws:kms:ap-northeast-1:111122223333:key/bench")
	c, err := s.Encrypt(ctxBg, "org-a", k.ID, pt, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Encrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Encrypt(ctxBg, "org-a", k.ID, pt, aad); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Decrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Decrypt(ctxBg, "org-a", k.ID, c, aad); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkSplit(b *testing.B) {
	s, _, _, _ := newSplit(b, storetest.Open(b, store.SQLite), DefaultStateTTL)
	benchEncryptDecrypt(b, s)
}
