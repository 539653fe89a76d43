package audit_test

import (
	"context"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// The figures that matter at scale come from bench/audit (docs/audit.md);
// these are for profiling one piece at a time:
//
//	go test -run XXX -bench . -cpuprofile cpu.out ./internal/audit/

// BenchmarkAppend: one transaction with one append.
func BenchmarkAppend(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				err := db.InTx(ctx, func(tx *store.Tx) error { return audit.Append(ctx, tx, testEntry(i)) })
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIntegrate: entries sequenced, hashed, signed and stored, per op.
func BenchmarkIntegrate(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			l := audit.New(db, newKey(b).Signer, nil)
			ctx := context.Background()
			const batch = 1000
			n := 0
			for b.Loop() {
				b.StopTimer()
				appendEntries(b, db, n, n+batch)
				n += batch
				b.StartTimer()
				if _, err := l.Integrate(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkVerify: a whole log of 20,000 entries per op.
func BenchmarkVerify(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			key := newKey(b)
			const n = 20000
			appendEntries(b, db, 0, n)
			if _, err := audit.New(db, key.Signer, nil).Integrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				rep, err := audit.Verify(context.Background(), db, key.Verifier, audit.VerifyOptions{})
				if err != nil || !rep.OK() {
					b.Fatalf("%v %+v", err, rep.Problem)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
