package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The benchmarks post what paygate posts most: a payment settled from the
// provider's clearing account (one hot account that every posting touches)
// into a new sales order's escrow (a new account per posting), and a buyer
// paying from a balance (a no-overdraft account, so the overdraft guard
// runs). They report postings/s; run them with
//
//	PAYGATE_TEST_POSTGRES=postgres://... go test -run '^$' -bench . -benchtime 3s ./ledger
//
// "durable" commits each posting in its own database transaction (fsync
// before the next); "batch" posts many per transaction.

// settlement returns the i-th settlement posting of a run.
func settlement(run string, i int64) ledger.Transaction {
	return ledger.Transfer(fmt.Sprintf("bench:%s:%d", run, i), "settle",
		ledger.ProviderClearing("stripe"), ledger.Escrow(fmt.Sprintf("K%s%d", run, i)), paygate.New(1000+i%100, paygate.EUR))
}

// balancePayment returns the i-th posting paying from one of 16 funded
// buyer balances into an escrow.
func balancePayment(run string, i int64) ledger.Transaction {
	return ledger.Transfer(fmt.Sprintf("bench:%s:pay:%d", run, i), "pay with balance",
		ledger.UserBalance(fmt.Sprintf("B%d", i%16)), ledger.Escrow(fmt.Sprintf("K%s%d", run, i)), paygate.New(1, paygate.EUR))
}

func fundBuyers(b *testing.B, db *storage.DB, l *ledger.Ledger) {
	b.Helper()
	for i := range 16 {
		mustPost(b, db, l, deposit(fmt.Sprintf("fund:%d", i), fmt.Sprintf("B%d", i), paygate.New(1<<40, paygate.EUR)))
	}
}

func reportRate(b *testing.B, start time.Time, postings int64) {
	b.ReportMetric(float64(postings)/time.Since(start).Seconds(), "postings/s")
}

func BenchmarkPostDurable(b *testing.B) {
	for _, be := range storagetest.Backends(b) {
		for _, kind := range []struct {
			name string
			tr   func(string, int64) ledger.Transaction
		}{{"settle", settlement}, {"balance", balancePayment}} {
			b.Run(be.Name+"/"+kind.name, func(b *testing.B) {
				db := be.Open(b, opts)
				l := ledger.New(db)
				fundBuyers(b, db, l)
				ctx := context.Background()
				b.ResetTimer()
				start := time.Now()
				for i := range int64(b.N) {
					err := db.Update(ctx, func(tx *storage.Tx) error {
						_, err := l.Post(ctx, tx, kind.tr("d", i))
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b, start, int64(b.N))
			})
		}
	}
}

// BenchmarkPostDurableParallel posts from 8 and from 32 goroutines at once,
// each posting in its own transaction, all through the one hot clearing
// account.
func BenchmarkPostDurableParallel(b *testing.B) {
	for _, be := range storagetest.Backends(b) {
		for _, goroutines := range []int{8, 32} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", be.Name, goroutines), func(b *testing.B) {
				db := be.Open(b, opts)
				l := ledger.New(db)
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							err := db.Update(ctx, func(tx *storage.Tx) error {
								_, err := l.Post(ctx, tx, settlement("p", i))
								return err
							})
							if err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				reportRate(b, start, int64(b.N))
			})
		}
	}
}

// BenchmarkPostBatch posts 1,000 postings per database transaction with
// PostBatch: settlements through the hot clearing account into new escrows,
// and balance payments (the overdraft guard reads and locks the balances).
func BenchmarkPostBatch(b *testing.B) {
	const batch = 1000
	for _, be := range storagetest.Backends(b) {
		for _, kind := range []struct {
			name string
			tr   func(string, int64) ledger.Transaction
		}{{"settle", settlement}, {"balance", balancePayment}} {
			b.Run(be.Name+"/"+kind.name, func(b *testing.B) {
				db := be.Open(b, opts)
				l := ledger.New(db)
				fundBuyers(b, db, l)
				ctx := context.Background()
				trs := make([]ledger.Transaction, batch)
				b.ResetTimer()
				start := time.Now()
				for n := range int64(b.N) {
					for i := range int64(batch) {
						trs[i] = kind.tr("b", n*batch+i)
					}
					err := db.Update(ctx, func(tx *storage.Tx) error {
						rs, err := l.PostBatch(ctx, tx, trs)
						if err != nil {
							return err
						}
						for _, r := range rs {
							if r.Err != nil || r.Status != ledger.Created {
								return fmt.Errorf("posting %+v", r)
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b, start, int64(b.N)*batch)
			})
		}
	}
}

// BenchmarkPostManyInOneTransaction calls Post 1,000 times in one database
// transaction, as a caller that cannot batch its postings would.
func BenchmarkPostManyInOneTransaction(b *testing.B) {
	const batch = 1000
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b, opts)
			l := ledger.New(db)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for n := range int64(b.N) {
				err := db.Update(ctx, func(tx *storage.Tx) error {
					for i := range int64(batch) {
						if _, err := l.Post(ctx, tx, settlement("m", n*batch+i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, start, int64(b.N)*batch)
		})
	}
}
