package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// clock is a settable clock for the database.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestJanitorRecoversLostWebhooks: the simulator loses the webhooks (the
// buyer paid, or the QR code expired); once the attempts are overdue the
// janitor asks the provider and settles through the inbox, exactly as the
// webhook would have, and the webhooks resent later change nothing.
func TestJanitorRecoversLostWebhooks(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			ta := startAppClock(t, b.DSN(t), appConfig{}, clk.Now)
			ctx := context.Background()
			for _, p := range []string{"stripe", "rapyd"} {
				if err := ta.app.sandbox.SetFaults(p, sandbox.Faults{Drop: 1000}); err != nil {
					t.Fatal(err)
				}
			}
			paid := ta.createOrder(t, methodCases[3]) // KakaoPay
			var pa attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+paid.Number+"/attempts", map[string]any{"method": "kakaopay"}, &pa)
			ta.pay(t, paid, pa)                          // approved at Rapyd; its webhook is lost
			expired := ta.createOrder(t, methodCases[1]) // PayNow
			var ea attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+expired.Number+"/attempts", map[string]any{"method": "paynow"}, &ea)
			if s := ta.call(t, "POST", "/sandbox/payment-orders/"+expired.Number+"/expire", nil, nil); s != 200 {
				t.Fatalf("expire = %d", s)
			}
			status := func(p string) string {
				var po orderJSON
				ta.call(t, "GET", "/v1/payment-orders/"+p, nil, &po)
				return po.Status + "/" + po.Attempts[len(po.Attempts)-1].Status
			}
			if s1, s2 := status(paid.Number), status(expired.Number); s1 != "pending/pending" || s2 != "pending/pending" {
				t.Fatalf("with the webhooks lost: %s, %s; want both pending", s1, s2)
			}
			// Not overdue yet: nothing is polled.
			if res, err := ta.app.janitor.RunOnce(ctx); err != nil || res.Polled != 0 {
				t.Fatalf("janitor before the deadlines = %+v, %v", res, err)
			}
			clk.Advance(2 * time.Hour) // past the redirect deadline and the QR's expiry
			res, err := ta.app.janitor.RunOnce(ctx)
			if err != nil || res.Polled != 2 || res.Applied != 2 {
				t.Fatalf("janitor = %+v, %v; want 2 polled and applied", res, err)
			}
			if s1, s2 := status(paid.Number), status(expired.Number); s1 != "paid/succeeded" || s2 != "failed/expired" {
				t.Fatalf("after the janitor: %s, %s; want paid/succeeded and failed/expired", s1, s2)
			}
			checkMetrics(t, ta.url, map[string]string{
				`paygate_janitor_passes_total`:                  "", // also the serving loop's own passes
				`paygate_janitor_polls_total{result="applied"}`: "2",
				`paygate_janitor_polls_total{result="error"}`:   "0",
			})
			// Polling again finds nothing new; the webhooks, resent at
			// last, change nothing.
			clk.Advance(time.Hour)
			if res, _ := ta.app.janitor.RunOnce(ctx); res.Polled != 0 {
				t.Fatalf("second janitor pass polled %d", res.Polled)
			}
			for _, p := range []string{"stripe", "rapyd"} {
				ta.app.sandbox.SetFaults(p, sandbox.Faults{})
			}
			for _, po := range []orderJSON{paid, expired} {
				if s := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/redeliver", nil, nil); s != 200 {
					t.Fatalf("redeliver = %d", s)
				}
			}
			var settlements int
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &settlements, `SELECT COUNT(*) FROM ledger_transactions`)
			})
			if settlements != 1 {
				t.Fatalf("%d ledger transactions, want the one settlement", settlements)
			}
			var trail struct {
				Events []struct {
					EventID      string `json:"event_id"`
					Verification string `json:"verification"`
					Outcome      string `json:"outcome"`
				} `json:"events"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/webhooks/events?payment_order="+paid.Number, nil, &trail)
			polled := false
			for _, e := range trail.Events {
				if strings.HasPrefix(e.EventID, "poll:") && e.Outcome == "paid" && strings.Contains(e.Verification, "re-fetched from rapyd") {
					polled = true
				}
			}
			if !polled {
				t.Fatalf("trail of %s has no paid poll: %+v", paid.Number, trail.Events)
			}
			r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}
