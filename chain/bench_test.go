package chain_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// BenchmarkVerify measures `paygate ledger verify` (every ledger check and
// the hash chain) and the chain check alone over a sealed ledger of
// PAYGATE_BENCH_TXS transactions (default 20,000; each a settlement into one
// of 1,000 escrows, 2 entries), and reports the
// transactions verified per second and the peak Go heap. Run with
//
//	PAYGATE_BENCH_TXS=100000 go test -run '^$' -bench Verify -benchtime 1x ./chain
func BenchmarkVerify(b *testing.B) {
	n := 20000
	if v := os.Getenv("PAYGATE_BENCH_TXS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b, storage.Options{Migrations: service.Migrations()})
			ctx := context.Background()
			fill(b, db, n)
			for _, c := range []struct {
				name string
				run  func() error
			}{
				{"ledger-verify", func() error {
					r, err := service.Verify(ctx, db)
					if err == nil && !r.OK() {
						err = fmt.Errorf("verify found drift: %+v", r.Checks)
					}
					return err
				}},
				{"chain-only", func() error {
					return db.View(ctx, func(tx *storage.Tx) error {
						p, err := chain.Check().Run(ctx, tx)
						if err == nil && len(p) > 0 {
							err = fmt.Errorf("chain: %q", p)
						}
						return err
					})
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					peak := watchHeap()
					b.ResetTimer()
					start := time.Now()
					for range b.N {
						if err := c.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "txs/s")
					b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
				})
			}
		})
	}
}

// fill posts n transactions in batches and seals them.
func fill(b *testing.B, db *storage.DB, n int) {
	b.Helper()
	ctx := context.Background()
	l := ledger.New(db)
	const batch = 1000
	for lo := 0; lo < n; lo += batch {
		ts := make([]ledger.Transaction, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			ts = append(ts, ledger.Transfer(fmt.Sprintf("payment:P%08d:settled", i), "payment settled",
				ledger.ProviderClearing("stripe"), ledger.Escrow(fmt.Sprintf("K%07d", i%1000)), paygate.New(int64(1000+i%5000), paygate.EUR)))
		}
		err := db.Update(ctx, func(tx *storage.Tx) error {
			rs, err := l.PostBatch(ctx, tx, ts)
			for _, r := range rs {
				if err == nil && r.Err != nil {
					err = r.Err
				}
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := (&chain.Hasher{DB: db}).SealAll(ctx); err != nil {
		b.Fatal(err)
	}
}

// watchHeap samples the Go heap until the returned function is called,
// which returns the largest HeapInuse seen.
func watchHeap() func() uint64 {
	runtime.GC()
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
