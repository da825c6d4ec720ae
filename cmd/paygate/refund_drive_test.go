package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// interrupting is a provider client between paygate and the real one (the
// simulator's) that interrupts refunds as a network or a crash would.
type interrupting struct {
	providers.Provider
	// lose: the refund reaches the provider, but its answer is lost (the
	// connection drops, or paygate dies before recording it).
	lose bool
	// down: the provider cannot be reached at all.
	down bool
	// hold, if not nil, holds each refund call until it is closed, after
	// closing entered.
	hold, entered chan struct{}
	calls         atomic.Int64
}

func (p *interrupting) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	p.calls.Add(1)
	if p.hold != nil {
		close(p.entered)
		<-p.hold
	}
	if p.down {
		return providers.Refund{}, paygate.Errorf(paygate.EUNAVAILABLE, "test: connection refused")
	}
	r, err := p.Provider.Refund(ctx, req)
	if p.lose && err == nil {
		return providers.Refund{}, paygate.Errorf(paygate.EUNAVAILABLE, "test: connection reset before the answer")
	}
	return r, err
}

func (p *interrupting) GetRefund(ctx context.Context, ref string) (providers.Refund, error) {
	return p.Provider.(finance.RefundGetter).GetRefund(ctx, ref)
}

// refundsVia is the app's Refunds with each provider's client wrapped.
func refundsVia(ta *testApp, wrap func(providers.Provider) providers.Provider) *finance.Refunds {
	rs := *ta.app.refunds
	rs.Providers = map[string]providers.Provider{}
	for name, p := range ta.app.refunds.Providers {
		rs.Providers[name] = wrap(p)
	}
	return &rs
}

func refundStatus(t *testing.T, db *storage.DB, id string) string {
	t.Helper()
	ctx := context.Background()
	var s string
	if err := db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &s, `SELECT status FROM source_refunds WHERE id = ?`, id)
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRefundOutlivesItsRequest: the finance client hangs up while the
// provider is still working on the refund; the refund is still made and
// recorded, not left requested.
func TestRefundOutlivesItsRequest(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			refundedBuyer(t, ta, methodCases[0]) // 19.75 EUR via iDEAL
			slow := &interrupting{Provider: ta.app.refunds.Providers["stripe"], hold: make(chan struct{}), entered: make(chan struct{})}
			rs := refundsVia(ta, func(p providers.Provider) providers.Provider { return p })
			rs.Providers["stripe"] = slow
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-slow.entered
				cancel() // the client hangs up while the provider works
				close(slow.hold)
			}()
			got, err := rs.ToSource(ctx, "", "U1", paygate.New(500, paygate.EUR), "buyer asked")
			if err != nil || len(got) != 1 {
				t.Fatalf("ToSource = %+v, %v", got, err)
			}
			if got[0].Status != finance.RefundSucceeded || refundStatus(t, ta.db, got[0].ID) != finance.RefundSucceeded {
				t.Fatalf("refund after the client hung up = %s (stored %s), want succeeded", got[0].Status, refundStatus(t, ta.db, got[0].ID))
			}
		})
	}
}

// TestJanitorDrivesInterruptedRefunds: refunds whose provider answer was
// lost (the connection dropped, or paygate died before recording it) are
// asked again by the janitor with the same idempotency key and end
// succeeded, made once at the provider; a pending refund whose webhook was
// lost is polled and ends failed with the balance given back; a refund
// the provider never answered by the deadline opens a finance item. Two
// janitors at once ask the provider once per refund.
func TestJanitorDrivesInterruptedRefunds(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			ta := startAppClock(t, b.DSN(t), appConfig{}, clk.Now)
			ctx := context.Background()
			refundedBuyer(t, ta, methodCases[0]) // 19.75 EUR via iDEAL at Stripe
			refundedBuyer(t, ta, methodCases[3]) // 17500 KRW via KakaoPay at Rapyd
			// The answers are lost, and so are the webhooks (paygate is
			// down while they are sent).
			for _, p := range []string{"stripe", "rapyd"} {
				if err := ta.app.sandbox.SetFaults(p, sandbox.Faults{Drop: 1000}); err != nil {
					t.Fatal(err)
				}
			}
			lost := refundsVia(ta, func(p providers.Provider) providers.Provider { return &interrupting{Provider: p, lose: true} })
			var ids []string
			for _, m := range []paygate.Money{paygate.New(500, paygate.EUR), paygate.New(5000, paygate.KRW)} {
				got, err := lost.ToSource(ctx, "", "U1", m, "buyer asked")
				if err != nil || len(got) != 1 || got[0].Status != finance.RefundRequested {
					t.Fatalf("ToSource %s with the answer lost = %+v, %v; want one requested", m, got, err)
				}
				ids = append(ids, got[0].ID)
			}
			if eur, krw := ta.balanceIn(t, "U1", "EUR"), ta.balanceIn(t, "U1", "KRW"); eur != "14.75" || krw != "12500" {
				t.Fatalf("balances = %s EUR, %s KRW; want the refunds debited", eur, krw)
			}
			// Not due yet.
			if res, err := ta.app.janitor.RunOnce(ctx); err != nil || res.Refunds.Checked != 0 {
				t.Fatalf("janitor before the retry = %+v, %v", res.Refunds, err)
			}
			// Two janitors (two instances) at once, each with its own
			// connection to the providers: each refund is asked once.
			clk.Advance(finance.RefundRetryAfter + time.Second)
			var wrapped []*interrupting
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 2 {
				rs := refundsVia(ta, func(p providers.Provider) providers.Provider {
					w := &interrupting{Provider: p}
					mu.Lock()
					wrapped = append(wrapped, w)
					mu.Unlock()
					return w
				})
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := rs.Drive(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			var asked int64
			for _, w := range wrapped {
				asked += w.calls.Load()
			}
			if asked != 2 {
				t.Fatalf("two janitors asked the providers %d times, want once per refund (2)", asked)
			}
			for _, id := range ids {
				if s := refundStatus(t, ta.db, id); s != finance.RefundSucceeded {
					t.Fatalf("refund %s after the janitor = %s, want succeeded", id, s)
				}
			}
			for _, p := range []string{"stripe", "rapyd"} {
				ta.app.sandbox.SetFaults(p, sandbox.Faults{})
			}
			// Made once at each provider: the rest of each payment can still
			// be refunded (a second refund made by a retry would leave less).
			for _, m := range []paygate.Money{paygate.New(1475, paygate.EUR), paygate.New(12500, paygate.KRW)} {
				got, err := ta.app.refunds.ToSource(ctx, "", "U1", m, "the rest")
				if err != nil || len(got) != 1 || got[0].Status == finance.RefundFailed || got[0].Status == finance.RefundRequested {
					t.Fatalf("refund of the rest, %s = %+v, %v; want it accepted", m, got, err)
				}
				waitFor(t, func() bool { return refundStatus(t, ta.db, got[0].ID) == finance.RefundSucceeded }, "the rest refunded")
			}

			// A pending refund whose webhook is lost: polled, it has failed;
			// the balance is given back.
			refundedBuyer(t, ta, methodCases[0])
			if err := ta.app.sandbox.SetFaults("stripe", sandbox.Faults{Drop: 1000}); err != nil {
				t.Fatal(err)
			}
			ta.app.stripeSim.FailNextRefund()
			got, err := ta.app.refunds.ToSource(ctx, "", "U1", paygate.New(1975, paygate.EUR), "buyer asked")
			if err != nil || len(got) != 1 || got[0].Status != finance.RefundPending {
				t.Fatalf("refund answered pending = %+v, %v", got, err)
			}
			if eur := ta.balanceIn(t, "U1", "EUR"); eur != "0.00" {
				t.Fatalf("balance with the refund pending = %s, want 0.00", eur)
			}
			clk.Advance(finance.RefundPollEvery + time.Second)
			if res, err := ta.app.janitor.RunOnce(ctx); err != nil || res.Refunds.Final != 1 {
				t.Fatalf("janitor = %+v, %v; want the pending refund polled to its end", res.Refunds, err)
			}
			if s := refundStatus(t, ta.db, got[0].ID); s != finance.RefundFailed {
				t.Fatalf("polled refund = %s, want failed", s)
			}
			if eur := ta.balanceIn(t, "U1", "EUR"); eur != "19.75" {
				t.Fatalf("balance after the failed refund = %s, want 19.75 back", eur)
			}
			ta.app.sandbox.SetFaults("stripe", sandbox.Faults{})

			// The provider cannot be reached until the deadline: the
			// outcome is unknown, a finance item says so, and the janitor
			// stops asking.
			down := refundsVia(ta, func(p providers.Provider) providers.Provider { return &interrupting{Provider: p, down: true} })
			stuck, err := down.ToSource(ctx, "", "U1", paygate.New(100, paygate.EUR), "buyer asked")
			if err != nil || len(stuck) != 1 || stuck[0].Status != finance.RefundRequested {
				t.Fatalf("refund with the provider down = %+v, %v", stuck, err)
			}
			clk.Advance(finance.RefundRetryAfter + time.Second)
			if res, err := down.Drive(ctx); err != nil || res.Errors != 1 {
				t.Fatalf("drive with the provider down = %+v, %v; want one error", res, err)
			}
			clk.Advance(finance.RefundAskDeadline)
			if res, err := down.Drive(ctx); err != nil || res.Escalated != 1 {
				t.Fatalf("drive past the deadline = %+v, %v; want one escalated", res, err)
			}
			var items []finance.Item
			ta.db.View(ctx, func(tx *storage.Tx) error {
				items, err = finance.Items(ctx, tx, finance.Open, 0, 100)
				return err
			})
			if len(items) != 1 || items[0].Kind != finance.StuckRefund || items[0].Reference != stuck[0].ID {
				t.Fatalf("finance items = %+v, want one stuck_refund of %s", items, stuck[0].ID)
			}
			clk.Advance(finance.RefundLease + time.Hour)
			if res, err := down.Drive(ctx); err != nil || res.Checked != 0 {
				t.Fatalf("drive after escalating = %+v, %v; want nothing", res, err)
			}
			if r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...); err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentRefundsToSource: many refunds of one buyer's balance at
// once (on PostgreSQL they used to pick the same payment, and one answered
// 500) each get a 201 or a clean 4xx, never refund more of a payment than
// it collected, and never fail at the provider for it.
func TestConcurrentRefundsToSource(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			refundedBuyer(t, ta, methodCases[0]) // two iDEAL payments of 19.75 EUR
			refundedBuyer(t, ta, methodCases[0])
			const n = 10
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = ta.callWith(t, testFinanceKey, fmt.Sprintf("conc-%d", i), "POST", "/v1/users/U1/refunds-to-source",
						map[string]any{"amount": "6.00", "currency": "EUR", "reason": "at once"}, nil)
				}()
			}
			wg.Wait()
			created := 0
			for i, s := range statuses {
				switch {
				case s == 201:
					created++
				case s >= 400 && s < 500:
				default:
					t.Errorf("refund %d = %d, want 201 or a 4xx", i, s)
				}
			}
			if created != 6 { // 6 × 6.00 of 39.50
				t.Errorf("%d refunds created, want 6 (statuses %v)", created, statuses)
			}
			ctx := context.Background()
			var rows []struct {
				Attempt string `db:"attempt"`
				Total   int64  `db:"total"`
				Failed  int64  `db:"failed"`
			}
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Select(ctx, &rows, `SELECT attempt, SUM(CASE WHEN status <> 'failed' THEN amount ELSE 0 END) AS total,
					SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed FROM source_refunds GROUP BY attempt`)
			})
			for _, r := range rows {
				if r.Total > 1975 || r.Failed != 0 {
					t.Errorf("payment %s: %d refunded, %d refunds failed; want at most 1975 and none failed", r.Attempt, r.Total, r.Failed)
				}
			}
			if got := ta.balanceIn(t, "U1", "EUR"); got != "3.50" {
				t.Errorf("balance = %s, want 3.50", got)
			}
		})
	}
}
