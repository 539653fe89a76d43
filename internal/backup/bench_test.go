package backup_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// discardTarget keeps nothing: the benchmark measures the snapshot, not
// the upload.
type discardTarget struct{}

func (discardTarget) Put(_ context.Context, _ string, body io.ReadSeeker, _ int64, _ time.Time) (string, error) {
	_, err := io.Copy(io.Discard, body)
	return "", err
}
func (discardTarget) Get(context.Context, string, string) (io.ReadCloser, error) {
	return nil, backup.ErrNotFound
}
func (discardTarget) Backups(context.Context) ([]string, error) { return nil, nil }
func (discardTarget) String() string                            { return "discard" }

// BenchmarkSnapshot is the cost of taking and sealing a backup of 20,000
// audit entries, per dialect (bench/backup measures the whole path).
func BenchmarkSnapshot(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			in := newInstance(b, d)
			ctx := context.Background()
			for first := 0; first < 20000; first += 5000 {
				err := in.db.InTx(ctx, func(tx *store.Tx) error {
					for i := first; i < first+5000; i++ {
						if err := audit.Append(ctx, tx, audit.Entry{Actor: "p-1", Action: "env.request", OrgID: "a-city",
							Target: fmt.Sprintf("env-%d", i), Details: map[string]any{"n": i}}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			in.integrate(b)
			svc := in.service(discardTarget{})
			b.ResetTimer()
			for b.Loop() {
				if _, err := svc.Backup(ctx, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
