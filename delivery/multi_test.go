package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestInstancesShareDeliveries: three serve instances (each its own
// connection pool and Service) on one PostgreSQL database deliver every
// event, each resource's in order; the duplicates are counted and logged.
// One instance is stopped midway, as a killed one would be.
func TestInstancesShareDeliveries(t *testing.T) {
	var pg *storagetest.Backend
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			pg = &b
		}
	}
	if pg == nil {
		t.Skip("needs PostgreSQL (" + storagetest.EnvPostgres + ")")
	}
	dsn := pg.DSN(t)
	ctx := context.Background()
	var dbs []*storage.DB
	for range 3 {
		db, err := storage.Open(ctx, dsn, opts())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	rc := newReceiver(t)
	first := newService(dbs[0], func(c *delivery.Config) { c.Instance = "i0" })
	e, err := first.Create(ctx, "marketplace", delivery.NewEndpoint{URL: rc.srv.URL, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	rc.setSecret(e.Secret)
	stop0, cancel := context.WithCancel(ctx)
	defer cancel()
	done0 := make(chan struct{})
	go func() { defer close(done0); first.Run(stop0, 20*time.Millisecond) }()
	for i := 1; i < 3; i++ {
		run(t, newService(dbs[i], func(c *delivery.Config) { c.Instance = fmt.Sprintf("i%d", i) }))
	}
	var want []events.Event
	for i := range 1500 {
		r := fmt.Sprintf("K%07d", 5000000+i%40)
		want = append(want, appendEvent(t, dbs[i%3], events.SalesOrderPaid, r))
		if i == 700 {
			cancel()
			<-done0
		}
	}
	// Every event received (duplicates counted once: they may arrive
	// before the last events are even dispatched), then every delivery
	// marked delivered: no instance holds one, so no send is in flight and
	// every duplicate has arrived.
	waitFor(t, 60*time.Second, "every event by three instances", func() bool { return rc.distinct() >= len(want) })
	waitFor(t, 10*time.Second, "every delivery marked delivered", func() bool {
		var pending int
		err := dbs[1].View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &pending, `SELECT COUNT(*) FROM webhook_deliveries WHERE status <> ?`, delivery.StatusDelivered)
		})
		return err == nil && pending == 0
	})
	dups := checkOrder(t, rc.received(), want)
	t.Logf("three instances delivered %d events with %d duplicates", len(want), dups)
	if rc.bad.Load() != 0 {
		t.Errorf("%d signatures did not verify", rc.bad.Load())
	}
}

// BenchmarkDeliveryThroughput delivers b.N events (over 1,000 resources,
// appended before the timer starts) to a loopback receiver that answers
// 204, and reports events/s from the start of the worker to the last
// acknowledgement. Run with -benchtime=20000x.
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b, opts())
			ctx := context.Background()
			var got atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			s := newService(db, nil)
			if _, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: srv.URL, Events: []string{"*"}}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; {
				err := db.Update(ctx, func(tx *storage.Tx) error {
					for j := 0; j < 500 && i+j < b.N; j++ {
						if _, err := events.Append(ctx, tx, events.SalesOrderPaid, fmt.Sprintf("K%07d", (i+j)%1000), map[string]string{"status": "paid"}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				i += 500
			}
			b.ResetTimer()
			start := time.Now()
			run(b, s)
			for got.Load() < int64(b.N) {
				time.Sleep(2 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
