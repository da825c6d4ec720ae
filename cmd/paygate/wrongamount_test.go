package main

import (
	"context"
	"testing"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestWrongAmountThenRightAmount: a success event of another amount goes to
// suspense, once however often it comes (the same event twice, and Stripe's
// charge.succeeded of the same payment and amount), and does not use up the
// attempt: the genuine full-amount event that follows pays the order, and
// the ledger records the full payment once.
func TestWrongAmountThenRightAmount(t *testing.T) {
	const secret = "whsec_test_wrong_then_right"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ta := startAppWith(t, b, appConfig{stripeWebhookSecret: secret})
			po := ta.createOrder(t, methodCases[0]) // 12.50 + 7.25 EUR
			var a attemptJSON
			if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); s != 201 {
				t.Fatalf("attempt = %d", s)
			}
			deliver := func(name, body, sig string) {
				t.Helper()
				if s, out := postWebhook(t, ta.url, body, sig); s != 200 {
					t.Fatalf("%s = %d %s", name, s, out)
				}
			}
			short, shortSig := signedStripeEvent(t, secret, "evt_short", "payment_intent.succeeded", po, a, 1000)
			deliver("the wrong amount", short, shortSig)
			deliver("the wrong amount again", short, shortSig)
			charge, chargeSig := signedStripeCharge(t, secret, "evt_short_charge", po, a, 1000)
			deliver("charge.succeeded of the wrong amount", charge, chargeSig)

			var got orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
			if got.Status == "paid" {
				t.Fatal("an order paid 10.00 of 19.75 was marked paid")
			}
			sum := func(q string, args ...any) (n int64) {
				t.Helper()
				if err := ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, q, args...) }); err != nil {
					t.Fatal(err)
				}
				return n
			}
			const suspense = `SELECT COALESCE(SUM(credits - debits), 0) FROM ledger_account_totals WHERE name = 'platform:suspense' AND currency = 'EUR'`
			if n := sum(suspense); n != 1000 {
				t.Fatalf("suspense holds %d after the wrong amount came three times, want 1000", n)
			}
			items := 0
			for _, it := range ta.financeItems(t) {
				if it.Kind == "amount_mismatch" {
					items++
				}
			}
			if items != 1 {
				t.Fatalf("amount_mismatch items = %d, want 1", items)
			}

			// The genuine settlement, delivered twice.
			full, fullSig := signedStripeEvent(t, secret, "evt_full", "payment_intent.succeeded", po, a, 1975)
			deliver("the full amount", full, fullSig)
			deliver("the full amount again", full, fullSig)
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
			if got.Status != "paid" {
				t.Fatalf("order after its full-amount settlement = %s, want paid", got.Status)
			}
			for _, it := range got.Items {
				if it.Status != "waiting_delivery" {
					t.Fatalf("sales order %s = %s, want waiting_delivery", it.Number, it.Status)
				}
			}
			if n := sum(`SELECT COUNT(*) FROM ledger_transactions WHERE idempotency_key = ?`, "payment:"+po.Number+":settled"); n != 1 {
				t.Fatalf("settlements of %s = %d, want 1", po.Number, n)
			}
			if n := sum(`SELECT COALESCE(SUM(credits - debits), 0) FROM ledger_account_totals WHERE name LIKE 'escrow:%' AND currency = 'EUR'`); n != 1975 {
				t.Fatalf("escrow holds %d, want the full 1975", n)
			}
			if n := sum(suspense); n != 1000 {
				t.Fatalf("suspense holds %d after the settlement, want still 1000", n)
			}
			r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}
