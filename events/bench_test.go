package events_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// BenchmarkAppend measures what Append costs its writer: each op is one
// transaction with ten orders' five events each (its payment order's, three
// of its sales order's, its seller's balance's), as a SQLite group commit
// holds about ten, with data of the sizes paybench's orders give them, over
// 20,000 events written before the timer. It reports the process's CPU
// time (user + system, the SQLite library's included) per event beside the
// wall time per op; fsync waits are wall time only.
//
//	go test ./events -run '^$' -bench Append -benchtime 2000x
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	pay := map[string]any{"number": "P", "status": "paid", "items": strings.Repeat("x", 900), "attempts": strings.Repeat("y", 300)}
	sale := map[string]any{"number": "K", "status": "paid", "history": strings.Repeat("z", 600)}
	bal := map[string]any{"user_id": "u", "amount": "10.00", "reason": "sales_order_completed"}
	order := func(tx *storage.Tx, i int) error {
		p, k, u := fmt.Sprintf("P%07d", 1000000+i), fmt.Sprintf("K%07d", 1000000+i), fmt.Sprintf("seller-%d", i%500)
		for _, e := range []struct {
			typ      events.Type
			resource string
			data     any
		}{
			{events.PaymentOrderPaid, p, pay}, {events.SalesOrderPaid, k, sale}, {events.SalesOrderDelivered, k, sale},
			{events.SalesOrderCompleted, k, sale}, {events.BalanceCredited, u, bal},
		} {
			if _, err := events.Append(ctx, tx, e.typ, e.resource, e.data); err != nil {
				return err
			}
		}
		return nil
	}
	const perOp = 10
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b, storage.Options{Migrations: []storage.Migrations{events.Migrations()}})
			const before = 4000 // orders, 20,000 events
			for i := 0; i < before; i += 100 {
				if err := db.Update(ctx, func(tx *storage.Tx) error {
					for j := i; j < i+100; j++ {
						if err := order(tx, j); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.Update(ctx, func(tx *storage.Tx) error {
					for j := 0; j < perOp; j++ {
						if err := order(tx, before+perOp*i+j); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(5*perOp*b.N), "cpu-µs/event")
		})
	}
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
