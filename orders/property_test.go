package orders_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of the lifecycle property test (0: from the clock)")
	stepsFlag = flag.Int("steps", 600, "random steps per backend in the lifecycle property test")
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var final = map[orders.Status]bool{orders.Completed: true, orders.Refunded: true}

// allowed are the actions each state takes.
var allowed = map[orders.Status][]orders.Action{
	orders.WaitingDelivery:     {orders.Deliver, orders.Refund, orders.RequestRefund},
	orders.WaitingConfirmation: {orders.Confirm, orders.Refund, orders.RequestRefund},
	orders.Refunding:           {orders.AgreeRefund, orders.RefuseRefund},
	orders.RefundRefused:       {orders.OpenDispute},
	orders.Disputed:            {orders.Resolve},
}

// TestPropertyLifecycle drives random actions — by the right and the wrong
// users, with valid and invalid reasons — and clock jumps with sweeps over
// many paid sales orders, and checks after every step: ledger verify clean
// with the sales orders' escrow invariant, money conserved (buyers' and
// sellers' balances, commission and escrows add up to what was paid), a
// final order never moves again, and a refused action changes nothing.
// Reproduce a failure with -seed.
func TestPropertyLifecycle(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	clk := &clock{t: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	opts := storage.Options{Now: clk.Now, Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		rng := rand.New(rand.NewPCG(seed, seed>>1|1))
		ctx := context.Background()
		l := ledger.New(db)
		lc := &orders.Lifecycle{DB: db, Ledger: l, Rules: orders.Rules{CommissionBasisPoints: 300}}
		// 120 paid sales orders of random amounts, from 3 buyers and 5 sellers.
		var ks []paygate.SalesOrderNumber
		var paid int64
		for i := range 40 {
			p := paygate.PaymentOrderNumber(fmt.Sprintf("P%08d", i))
			buyer := fmt.Sprintf("B%d", i%3)
			var items []orders.New
			for j := range 3 {
				items = append(items, orders.New{SellerID: fmt.Sprintf("S%d", (i+j)%5), Amount: paygate.New(100+rng.Int64N(10000), paygate.EUR), Description: "x"})
			}
			err := db.Update(ctx, func(tx *storage.Tx) error {
				sos, err := orders.Create(ctx, tx, nil, p, buyer, items)
				if err != nil {
					return err
				}
				tr := ledger.Transaction{Key: "payment:" + string(p) + ":settled"}
				var total int64
				for _, so := range sos {
					tr.Entries = append(tr.Entries, ledger.Entry{Account: ledger.Escrow(string(so.Number)), Side: ledger.Credit, Amount: so.Amount})
					total += so.Amount.Minor
					ks = append(ks, so.Number)
				}
				tr.Entries = append(tr.Entries, ledger.Entry{Account: ledger.ProviderClearing("stripe"), Side: ledger.Debit, Amount: paygate.New(total, paygate.EUR)})
				paid += total
				if _, err := l.Post(ctx, tx, tr); err != nil {
					return err
				}
				_, err = orders.MarkPaid(ctx, tx, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		actions := []orders.Action{orders.Deliver, orders.Confirm, orders.Refund, orders.RequestRefund, orders.AgreeRefund,
			orders.RefuseRefund, orders.OpenDispute, orders.Resolve}
		reasons := []string{"out_of_stock", "not_received", "delivered_with_proof", "other", "bogus"}
		stats := map[string]int{}
		for step := range *stepsFlag {
			if rng.IntN(12) == 0 {
				clk.advance(time.Duration(rng.IntN(6*60)) * time.Minute)
				if _, err := lc.Sweep(ctx, clk.Now()); err != nil {
					t.Fatalf("step %d: sweep: %v", step, err)
				}
				stats["sweeps"]++
			} else {
				k := ks[rng.IntN(len(ks))]
				var before orders.SalesOrder
				db.View(ctx, func(tx *storage.Tx) error {
					var err error
					before, err = orders.Get(ctx, tx, k)
					return err
				})
				req := orders.Request{Action: actions[rng.IntN(len(actions))], Reason: reasons[rng.IntN(len(reasons))]}
				if next := allowed[before.Status]; len(next) > 0 && rng.IntN(10) < 7 {
					req.Action = next[rng.IntN(len(next))] // mostly something the state allows
				}
				// Mostly the user the action is for; sometimes the other party
				// or a stranger.
				req.Actor = before.SellerID
				if req.Action == orders.Confirm || req.Action == orders.RequestRefund || req.Action == orders.OpenDispute {
					req.Actor = before.BuyerID
				}
				switch rng.IntN(10) {
				case 0:
					req.Actor = "someone-else"
				case 1:
					req.Actor = before.BuyerID
				}
				if rng.IntN(2) == 0 { // a reason the action accepts, where it takes one
					switch req.Action {
					case orders.Refund:
						req.Reason = "out_of_stock"
					case orders.RequestRefund:
						req.Reason = "not_received"
					case orders.RefuseRefund:
						req.Reason = "delivered_with_proof"
					}
				}
				if req.Action == orders.Resolve {
					req.Actor = orders.ActorFinance
					req.RefundAmount = paygate.New(rng.Int64N(before.Amount.Minor+1), paygate.EUR)
				}
				after, err := lc.Act(ctx, k, req)
				var pe *paygate.Error
				switch {
				case err == nil:
					stats["moved"]++
					if final[before.Status] {
						t.Fatalf("step %d: final order %s moved %s → %s", step, k, before.Status, after.Status)
					}
				case errors.As(err, &pe):
					stats[pe.Code]++
					var now orders.SalesOrder
					db.View(ctx, func(tx *storage.Tx) error {
						now, err = orders.Get(ctx, tx, k)
						return err
					})
					if now.Status != before.Status || len(now.History) != len(before.History) {
						t.Fatalf("step %d: refused %s (%v) changed %s", step, req.Action, pe, k)
					}
				default:
					t.Fatalf("step %d: %s on %s: %v", step, req.Action, k, err)
				}
			}
			// Invariants.
			r, err := l.Verify(ctx, orders.Checks()...)
			if err != nil || !r.OK() {
				t.Fatalf("step %d: verify: %v %+v", step, err, r)
			}
			var held int64
			err = db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &held, `SELECT COALESCE(SUM(credits - debits), 0) FROM ledger_account_totals
					WHERE name LIKE 'user:%' OR name LIKE 'escrow:%' OR name = 'platform:commission'`)
			})
			if err != nil || held != paid {
				t.Fatalf("step %d: balances + escrows + commission = %d, paid %d (%v)", step, held, paid, err)
			}
		}
		t.Logf("outcomes: %v", stats)
		// Finally every order ends, and its escrow is empty.
		clk.advance(30 * 24 * time.Hour)
		for range 5 {
			if _, err := lc.Sweep(ctx, clk.Now()); err != nil {
				t.Fatal(err)
			}
			clk.advance(4 * 24 * time.Hour)
		}
		for _, k := range ks {
			var so orders.SalesOrder
			db.View(ctx, func(tx *storage.Tx) error {
				var err error
				so, err = orders.Get(ctx, tx, k)
				return err
			})
			if !final[so.Status] && so.Status != orders.Disputed {
				t.Errorf("%s is still %s after every timer", k, so.Status)
			}
		}
		if stats["moved"] == 0 || stats[paygate.ECONFLICT] == 0 || stats[paygate.EFORBIDDEN] == 0 || stats[paygate.EINVALID] == 0 {
			t.Fatalf("the random walk did not exercise every outcome: %v", stats)
		}
	})
}

// TestConcurrentSweeps: several instances sweep one database at once; each
// due timer is applied exactly once.
func TestConcurrentSweeps(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	opts := storage.Options{Now: clk.Now, Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		var ks []paygate.SalesOrderNumber
		for i := range 20 {
			p := paygate.PaymentOrderNumber(fmt.Sprintf("P%08d", 100+i))
			err := db.Update(ctx, func(tx *storage.Tx) error {
				sos, err := orders.Create(ctx, tx, nil, p, "B1", []orders.New{{SellerID: "S1", Amount: paygate.New(500, paygate.EUR), Description: "x"}})
				if err != nil {
					return err
				}
				ks = append(ks, sos[0].Number)
				if _, err := l.Post(ctx, tx, ledger.Transfer("payment:"+string(p)+":settled", "", ledger.ProviderClearing("stripe"),
					ledger.Escrow(string(sos[0].Number)), sos[0].Amount)); err != nil {
					return err
				}
				_, err = orders.MarkPaid(ctx, tx, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		clk.advance(73 * time.Hour) // every delivery window is over
		var wg sync.WaitGroup
		moved := make([]int, 4)
		errs := make([]error, 4)
		for i := range moved {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc := &orders.Lifecycle{DB: db, Ledger: l}
				res, err := lc.Sweep(ctx, clk.Now())
				moved[i], errs[i] = res[orders.WaitingDelivery], err
			}()
		}
		wg.Wait()
		total := 0
		for i := range moved {
			if errs[i] != nil {
				t.Fatalf("sweep %d: %v", i, errs[i])
			}
			total += moved[i]
		}
		if total != len(ks) {
			t.Fatalf("4 concurrent sweeps moved %d orders, want each of %d once", total, len(ks))
		}
		for _, k := range ks {
			var so orders.SalesOrder
			db.View(ctx, func(tx *storage.Tx) error {
				var err error
				so, err = orders.Get(ctx, tx, k)
				return err
			})
			if so.Status != orders.Refunded || len(so.History) != 2 {
				t.Fatalf("%s: %s with history %+v, want refunded once", k, so.Status, so.History)
			}
		}
		if r, err := l.Verify(ctx, orders.Checks()...); err != nil || !r.OK() {
			t.Fatalf("verify: %v %+v", err, r)
		}
	})
}
