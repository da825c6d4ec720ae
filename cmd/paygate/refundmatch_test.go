package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// createOrderFor is createOrder for another buyer.
func (ta *testApp) createOrderFor(t *testing.T, buyer string, c methodCase) orderJSON {
	t.Helper()
	items := []map[string]any{}
	for i, a := range c.amounts {
		items = append(items, map[string]any{"seller_id": fmt.Sprintf("S%d", i+1), "amount": a, "description": fmt.Sprintf("item %d", i+1)})
	}
	var po orderJSON
	if status := ta.call(t, "POST", "/v1/payment-orders", map[string]any{
		"buyer_id": buyer, "currency": c.currency, "items": items, "return_url": "https://shop.example/done",
	}, &po); status != 201 {
		t.Fatalf("create payment order = %d %+v", status, po)
	}
	return po
}

// paidAttempt starts an attempt of c's method on po and pays it.
func (ta *testApp) paidAttempt(t *testing.T, po orderJSON, c methodCase) attemptJSON {
	t.Helper()
	var a attemptJSON
	if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": c.method}, &a); s != 201 {
		t.Fatalf("attempt = %d %+v", s, a)
	}
	ta.pay(t, po, a)
	return a
}

type financeItemJSON struct {
	Kind, Reference, Attempt, Amount, Currency, Description string
}

func (ta *testApp) financeItems(t *testing.T) []financeItemJSON {
	t.Helper()
	var out struct {
		Items []financeItemJSON `json:"items"`
	}
	if s := ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &out); s != 200 {
		t.Fatalf("finance items = %d", s)
	}
	return out.Items
}

// waitItem waits for a finance item of kind and returns it.
func (ta *testApp) waitItem(t *testing.T, kind string) financeItemJSON {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, it := range ta.financeItems(t) {
			if it.Kind == kind {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s finance item: %+v", kind, ta.financeItems(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefundEventMustMatchTheRefund reproduces issue 18's cross-provider
// refund event: buyer U2 paid with Samsung Pay (Rapyd) and finance refunds
// part of it to source; Rapyd's webhook of that refund is late, so it is
// pending. A signed Stripe refund.updated (failed) about buyer U1's PayNow
// payment names U2's refund in its metadata. It must not mark the refund
// failed nor give U2's balance back (Rapyd paid it: U2 would be paid
// twice); it opens a finance item. A refund made at Rapyd's dashboard,
// smaller than paygate's own refund of the payment, is an item too. Rapyd's
// own late webhook then confirms the refund.
func TestRefundEventMustMatchTheRefund(t *testing.T) {
	const secret = "whsec_test_refund_match"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ta := startAppWith(t, b, appConfig{stripeWebhookSecret: secret})
			// Buyer U1 pays 30.00 SGD with PayNow through Stripe.
			poA := ta.createOrderFor(t, "U1", methodCases[1])
			payA := ta.paidAttempt(t, poA, methodCases[1])
			// Buyer U2 pays 42000 KRW with Samsung Pay through Rapyd; the
			// seller refunds it to U2's balance.
			poB := ta.createOrderFor(t, "U2", methodCases[4])
			payB := ta.paidAttempt(t, poB, methodCases[4])
			ta.mustAct(t, poB.Items[0].Number, "refund", map[string]any{"user_id": "S1", "reason": "cannot_deliver"}, "refunded")
			if got := ta.balanceIn(t, "U2", "KRW"); got != "42000" {
				t.Fatalf("U2's balance = %s, want 42000", got)
			}
			// Finance refunds 20000 KRW to the Samsung Pay payment; Rapyd's
			// REFUND_COMPLETED is lost for now.
			if err := ta.app.sandbox.SetFaults(providers.Rapyd, sandbox.Faults{Drop: 1}); err != nil {
				t.Fatal(err)
			}
			var out refundsJSON
			if s := ta.callWith(t, testFinanceKey, "rts-u2", "POST", "/v1/users/U2/refunds-to-source",
				map[string]any{"amount": "20000", "currency": "KRW", "reason": "buyer asked"}, &out); s != 201 ||
				len(out.Refunds) != 1 || out.Refunds[0].Status != "pending" || out.Refunds[0].Provider != "rapyd" {
				t.Fatalf("refund to source = %d %+v, want one pending Rapyd refund", s, out)
			}
			ta.app.sandbox.SetFaults(providers.Rapyd, sandbox.Faults{})
			refundB := out.Refunds[0].ID

			// The attack: Stripe's signature, U1's payment, U2's refund id.
			body, _ := json.Marshal(map[string]any{
				"id": "evt_cross_refund", "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
				"type": "refund.updated", "livemode": false, "pending_webhooks": 1,
				"data": map[string]any{"object": map[string]any{
					"id": "re_cross", "object": "refund", "amount": 3000, "currency": "sgd", "status": "failed",
					"failure_reason": "lost_or_stolen_card", "payment_intent": payA.ProviderRef,
					"metadata": map[string]string{"refund": refundB},
				}},
			})
			if s, msg := postWebhook(t, ta.url, string(body), signStripe(secret, body)); s != 200 {
				t.Fatalf("cross-provider refund event = %d %s", s, msg)
			}
			refundStatus := func() string {
				var list refundsJSON
				ta.callWith(t, testFinanceKey, "", "GET", "/v1/users/U2/refunds-to-source", nil, &list)
				if len(list.Refunds) != 1 {
					t.Fatalf("U2's refunds = %+v", list.Refunds)
				}
				return list.Refunds[0].Status
			}
			if st, bal := refundStatus(), ta.balanceIn(t, "U2", "KRW"); st != "pending" || bal != "22000" {
				t.Fatalf("after the cross-provider event: U2's refund %s, balance %s; want pending and 22000", st, bal)
			}
			var reversed int
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &reversed, `SELECT COUNT(*) FROM ledger_transactions WHERE idempotency_key = ?`, "refund:"+refundB+":reversed")
			})
			if reversed != 0 {
				t.Fatalf("the cross-provider event reversed U2's refund in the ledger")
			}
			it := ta.waitItem(t, "refund_mismatch")
			if it.Reference != "stripe:evt_cross_refund" || it.Attempt != payA.ID ||
				!strings.Contains(it.Description, refundB) || !strings.Contains(it.Description, "rapyd") {
				t.Fatalf("refund_mismatch item = %+v", it)
			}
			// The same event again (Stripe retries) opens no second item.
			if s, msg := postWebhook(t, ta.url, string(body), signStripe(secret, body)); s != 200 {
				t.Fatalf("the event again = %d %s", s, msg)
			}

			// A refund made at Rapyd's dashboard (not paygate's), smaller
			// than paygate's own refund of the payment: an item, whatever
			// its size.
			_, err := ta.app.recon.Providers[providers.Rapyd].Refund(ctx, providers.RefundRequest{
				PaymentRef: payB.ProviderRef, Amount: paygate.New(5000, paygate.KRW), IdempotencyKey: "dashboard-1",
				Reason: "refunded at the dashboard", Refund: "dashboard-1",
			})
			if err != nil {
				t.Fatal(err)
			}
			dash := ta.waitItem(t, "provider_refund")
			if dash.Attempt != payB.ID || dash.Amount != "5000" {
				t.Fatalf("dashboard refund item = %+v", dash)
			}

			// Rapyd's own webhook of U2's refund, late: it matches, and the
			// refund succeeds.
			if err := ta.app.rapydSim.Redeliver(ctx, payB.ProviderRef); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for refundStatus() != "succeeded" {
				if time.Now().After(deadline) {
					t.Fatalf("U2's refund after Rapyd's webhook = %s, want succeeded", refundStatus())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if bal := ta.balanceIn(t, "U2", "KRW"); bal != "22000" {
				t.Fatalf("U2's balance = %s, want 22000", bal)
			}
			kinds := map[string]int{}
			for _, it := range ta.financeItems(t) {
				kinds[it.Kind]++
			}
			if kinds["refund_mismatch"] != 1 || kinds["provider_refund"] != 1 || len(kinds) != 2 {
				t.Fatalf("finance items by kind = %v, want one refund_mismatch and one provider_refund", kinds)
			}
			r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}
