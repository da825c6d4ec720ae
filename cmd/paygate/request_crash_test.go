package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestOneTransactionRequestCrash kills the real binary (SIGKILL) while
// senders create payment orders, a one-transaction route, each with an
// Idempotency-Key of its own. After each kill, with the process dead, every
// key is all or nothing: an order and its stored response, or neither —
// never a claim without a response, nor an order whose response was lost —
// and every 201 the senders received is there. After the last restart,
// every key without an answer is retried and ends with exactly one order,
// the one its answer names.
func TestOneTransactionRequestCrash(t *testing.T) {
	cycles := 4
	if testing.Short() {
		cycles = 2
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			h := &crashHarness{t: t, dsn: b.DSN(t), seed: seed, warnings: map[string]int{},
				rng:    rand.New(rand.NewPCG(uint64(seed), 1)),
				client: &http.Client{Timeout: crashRequestTimeout}}
			var (
				mu     sync.Mutex
				answer = map[string]string{} // key → the order number of its 201
				sent   []string              // every key sent
			)
			next := atomic.Int64{}
			body := map[string]any{"buyer_id": "U1", "currency": "EUR", "return_url": "https://shop.example/done",
				"items": []map[string]any{{"seller_id": "S1", "amount": "10.00", "description": "crash item"}}}
			for c := 1; c <= cycles; c++ {
				h.srv = h.start()
				base := h.srv.url()
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range crashSenders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-stop:
								return
							default:
							}
							key := fmt.Sprintf("atomic-%d", next.Add(1))
							mu.Lock()
							sent = append(sent, key)
							mu.Unlock()
							var po orderJSON
							if status, err := h.call(http.MethodPost, base+"/v1/payment-orders", key, body, &po); err == nil && status == http.StatusCreated {
								mu.Lock()
								answer[key] = po.Number
								mu.Unlock()
							}
						}
					}()
				}
				time.Sleep(time.Duration(50+h.rng.IntN(250)) * time.Millisecond) // a kill at a random moment of the requests: that is the test
				h.srv.kill(t)
				close(stop)
				wg.Wait()
				mu.Lock()
				problems := requestCrashProblems(t, h.dsn, sent, answer)
				mu.Unlock()
				h.report(problems, fmt.Sprintf("after kill %d of %d (%d keys sent)", c, cycles, len(sent)))
			}
			h.srv = h.start()
			for _, key := range sent {
				if _, ok := answer[key]; ok {
					continue
				}
				var po orderJSON
				if status, err := h.call(http.MethodPost, h.srv.url()+"/v1/payment-orders", key, body, &po); err != nil || status != http.StatusCreated {
					t.Fatalf("retry of %s = %d %v, want 201", key, status, err)
				}
				answer[key] = po.Number
			}
			h.srv.stop(t)
			h.report(requestCrashProblems(t, h.dsn, sent, answer), "after the retries")
			t.Logf("%d kills, %d keys, every one all or nothing", cycles, len(sent))
		})
	}
}

// requestCrashProblems checks the database after a kill: each key sent is
// an order with its stored 201 or nothing, and each answered key's order
// is the one its answer named.
func requestCrashProblems(t *testing.T, dsn string, sent []string, answer map[string]string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type row struct {
		Key    string  `db:"key"`
		Status *int    `db:"status"`
		Orders int     `db:"orders"`
		Number *string `db:"number"`
	}
	var rows []row
	err = db.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &rows, `SELECT i.key, i.status, COUNT(p.number) AS orders, MIN(p.number) AS number
			FROM idempotency_requests i LEFT JOIN payment_orders p ON p.request_key = i.role || ':' || i.key
			WHERE i.role = 'marketplace' AND i.key LIKE 'atomic-%'
			GROUP BY i.key, i.status`)
	})
	if err != nil {
		t.Fatal(err)
	}
	var orphans int
	err = db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &orphans, `SELECT COUNT(*) FROM payment_orders p WHERE p.request_key LIKE 'marketplace:atomic-%'
			AND NOT EXISTS (SELECT 1 FROM idempotency_requests i WHERE i.role || ':' || i.key = p.request_key)`)
	})
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	if orphans > 0 {
		problems = append(problems, fmt.Sprintf("%d payment orders whose request has no claim", orphans))
	}
	stored := map[string]row{}
	for _, r := range rows {
		stored[r.Key] = r
		switch {
		case r.Status == nil:
			problems = append(problems, fmt.Sprintf("%s: a claim without a response (%d orders)", r.Key, r.Orders))
		case *r.Status != http.StatusCreated || r.Orders != 1:
			problems = append(problems, fmt.Sprintf("%s: stored %d with %d orders, want 201 with 1", r.Key, *r.Status, r.Orders))
		}
	}
	for key, number := range answer {
		r, ok := stored[key]
		if !ok || r.Number == nil || *r.Number != number {
			problems = append(problems, fmt.Sprintf("%s: answered 201 %s, but the database holds %+v", key, number, r))
		}
	}
	return problems
}
