package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

type refundsJSON struct {
	Refunds []struct {
		ID, Status, Amount, Provider, FailureReason string
	} `json:"refunds"`
}

// refundedBuyer pays an order with c, has its sellers refund every item, and
// returns the order: the buyer's balance then holds the whole amount.
func refundedBuyer(t *testing.T, ta *testApp, c methodCase) orderJSON {
	t.Helper()
	po := ta.createOrder(t, c)
	var a attemptJSON
	body := map[string]any{"method": c.method}
	if c.payer != nil {
		body["payer"] = c.payer
	}
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &a)
	ta.pay(t, po, a)
	for i, it := range po.Items {
		ta.mustAct(t, it.Number, "refund", map[string]any{"user_id": fmt.Sprintf("S%d", i+1), "reason": "cannot_deliver"}, "refunded")
	}
	return po
}

func (ta *testApp) balanceIn(t *testing.T, user, cur string) string {
	t.Helper()
	var b struct {
		Balances []struct{ Amount, Currency string } `json:"balances"`
	}
	ta.call(t, "GET", "/v1/users/"+user+"/balances", nil, &b)
	for _, x := range b.Balances {
		if x.Currency == cur {
			return x.Amount
		}
	}
	return "0"
}

// TestRefundToSource: finance sends part of a buyer's balance back to their
// iDEAL payment through Stripe; a refund the provider fails is given back to
// the balance; more than was paid is refused; Boleto, which Stripe cannot
// refund, takes a manual bank payout.
func TestRefundToSource(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			refundedBuyer(t, ta, methodCases[0]) // 19.75 EUR via iDEAL
			if got := ta.balanceIn(t, "U1", "EUR"); got != "19.75" {
				t.Fatalf("balance = %s, want 19.75", got)
			}
			refund := func(amount string) (int, refundsJSON) {
				var out refundsJSON
				s := ta.callWith(t, testFinanceKey, fmt.Sprintf("r-%d", ta.key.Add(1)), "POST", "/v1/users/U1/refunds-to-source",
					map[string]any{"amount": amount, "currency": "EUR", "reason": "buyer asked for the money"}, &out)
				return s, out
			}
			if s := ta.callWith(t, testAPIKey, "r-market", "POST", "/v1/users/U1/refunds-to-source", map[string]any{"amount": "1.00", "currency": "EUR"}, nil); s != 403 {
				t.Fatalf("refund with the marketplace key = %d, want 403", s)
			}
			s, out := refund("10.00")
			if s != 201 || len(out.Refunds) != 1 || out.Refunds[0].Amount != "10.00" || out.Refunds[0].Provider != "stripe" ||
				(out.Refunds[0].Status != "succeeded" && out.Refunds[0].Status != "pending") {
				t.Fatalf("refund 10.00 = %d %+v", s, out)
			}
			if got := ta.balanceIn(t, "U1", "EUR"); got != "9.75" {
				t.Fatalf("balance after the refund = %s, want 9.75", got)
			}
			// The provider fails the next refund (after accepting it): the
			// balance gets the money back.
			ta.app.stripeSim.FailNextRefund()
			if s, out := refund("5.00"); s != 201 || len(out.Refunds) != 1 {
				t.Fatalf("refund 5.00 = %d %+v", s, out)
			}
			deadline := time.Now().Add(10 * time.Second)
			for ta.balanceIn(t, "U1", "EUR") != "9.75" {
				if time.Now().After(deadline) {
					t.Fatalf("balance after a failed refund = %s, want 9.75 again", ta.balanceIn(t, "U1", "EUR"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			var list refundsJSON
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/users/U1/refunds-to-source", nil, &list)
			statuses := map[string]int{}
			for _, r := range list.Refunds {
				statuses[r.Status]++
			}
			if statuses["failed"] != 1 || statuses["succeeded"] != 1 {
				t.Fatalf("refunds = %+v, want one succeeded and one failed", list.Refunds)
			}
			// 9.75 of the payment is left to refund, and 9.75 in the balance.
			if s, _ := refund("10.00"); s != 409 {
				t.Fatalf("refund beyond the payment = %d, want 409", s)
			}
			// No finance item: every refund event was one of paygate's.
			var items struct {
				Items []struct{ Kind string } `json:"items"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &items)
			if len(items.Items) != 0 {
				t.Fatalf("finance items = %+v, want none", items.Items)
			}

			// Boleto cannot be refunded at Stripe: a manual payout instead.
			refundedBuyer(t, ta, methodCases[2]) // 100.00 BRL
			var e apiError
			if s := ta.callWith(t, testFinanceKey, "r-brl", "POST", "/v1/users/U1/refunds-to-source",
				map[string]any{"amount": "100.00", "currency": "BRL"}, &e); s != 409 {
				t.Fatalf("boleto refund to source = %d %+v, want 409", s, e)
			}
			var p struct{ ID, Amount string }
			if s := ta.callWith(t, testFinanceKey, "payout-1", "POST", "/v1/users/U1/payouts",
				map[string]any{"amount": "100.00", "currency": "BRL", "beneficiary": "Maria Silva", "bank_reference": "PIX E1234"}, &p); s != 201 || p.Amount != "100.00" {
				t.Fatalf("manual payout = %d %+v", s, p)
			}
			if s := ta.callWith(t, testFinanceKey, "payout-2", "POST", "/v1/users/U1/payouts",
				map[string]any{"amount": "0.01", "currency": "BRL", "beneficiary": "Maria Silva", "bank_reference": "PIX E1235"}, &e); s != 422 {
				t.Fatalf("payout beyond the balance = %d, want 422", s)
			}
			ctx := context.Background()
			var bank int64
			ta.db.View(ctx, func(tx *storage.Tx) error {
				// Paid out of the bank: the asset's credits grow.
				return tx.Get(ctx, &bank, `SELECT credits - debits FROM ledger_account_totals WHERE name = 'bank:settlement' AND currency = 'BRL'`)
			})
			if bank != 10000 || ta.balanceIn(t, "U1", "BRL") != "0.00" {
				t.Fatalf("bank:settlement %d, balance %s; want 10000 and 0.00", bank, ta.balanceIn(t, "U1", "BRL"))
			}
			r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}

// TestTrialBalance: after payments, refunds and payouts, every currency sums
// to zero by account type.
func TestTrialBalance(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	refundedBuyer(t, ta, methodCases[0])
	var tb struct {
		Lines []struct {
			Type, Currency, Balance string
		} `json:"lines"`
		Totals []struct {
			Currency string
			Balance  string
			Balanced bool
		} `json:"totals"`
	}
	if s := ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/trial-balance", nil, &tb); s != 200 {
		t.Fatalf("trial balance = %d", s)
	}
	if len(tb.Totals) != 1 || !tb.Totals[0].Balanced || tb.Totals[0].Balance != "0.00" {
		t.Fatalf("totals = %+v", tb.Totals)
	}
	byType := map[string]string{}
	for _, l := range tb.Lines {
		byType[l.Type] = l.Balance
	}
	if byType["asset"] != "19.75" || byType["liability"] != "-19.75" {
		t.Fatalf("lines = %+v, want 19.75 at the provider owed to the buyer", tb.Lines)
	}
	if s := ta.call(t, "GET", "/v1/finance/trial-balance", nil, nil); s != 403 {
		t.Fatalf("trial balance with the marketplace key = %d, want 403", s)
	}
}

// TestAuditLog: finance actions are logged with who did them, before and
// after, and the log cannot be changed.
func TestAuditLog(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	refundedBuyer(t, ta, methodCases[0]) // U1 holds 19.75 EUR
	post := func(path, key string, body any) int {
		t.Helper()
		req, _ := http.NewRequest("POST", ta.url+path, strings.NewReader(mustJSON(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testFinanceKey)
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("X-Actor", "alice@example.com")
		resp, err := ta.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/v1/users/U1/refunds-to-source", "a1", map[string]any{"amount": "5.00", "currency": "EUR", "reason": "asked by phone"}); s != 201 {
		t.Fatalf("refund = %d", s)
	}
	if s := post("/v1/users/U1/payouts", "a2", map[string]any{"amount": "1.00", "currency": "EUR", "beneficiary": "U1", "bank_reference": "SEPA-1"}); s != 201 {
		t.Fatalf("payout = %d", s)
	}
	var log struct {
		Entries []struct {
			Actor, Action, Subject, After, Reason string
		} `json:"entries"`
	}
	ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/audit?subject=U1", nil, &log)
	if len(log.Entries) != 2 || log.Entries[0].Action != "refund_to_source" || log.Entries[0].Actor != "finance:alice@example.com" ||
		log.Entries[0].Reason != "asked by phone" || log.Entries[1].Action != "manual_payout" {
		t.Fatalf("audit log = %+v", log.Entries)
	}
	ctx := context.Background()
	err := ta.db.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE audit_log SET actor = 'mallory'`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("changing the audit log = %v, want refused", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
