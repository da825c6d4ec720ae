package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// loseResponse makes the stored response of key as a crash between the
// request's commit and its stored response leaves it: none, and the
// claim's lease run out, so that a retry runs the request again.
func loseResponse(t *testing.T, ta *testApp, key string) {
	t.Helper()
	ctx := context.Background()
	err := ta.db.Update(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE idempotency_requests SET status = NULL, body = NULL, locked_until = ? WHERE key = ?`,
			tx.Now().Add(-time.Second), key)
		if n, _ := res.RowsAffected(); err == nil && n != 1 {
			return fmt.Errorf("no stored request %s", key)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countRows(t *testing.T, ta *testApp, q string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	var n int
	if err := ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, q, args...) }); err != nil {
		t.Fatal(err)
	}
	return n
}

// disputedOrder pays an iDEAL order and takes its first sales order to a
// dispute; it returns the order and that sales order's number.
func disputedOrder(t *testing.T, ta *testApp) (orderJSON, string) {
	t.Helper()
	po := ta.createOrder(t, methodCases[0])
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
	ta.pay(t, po, a)
	ta.waitPaid(t, po.Number)
	k := po.Items[0].Number
	ta.mustAct(t, k, "deliver", map[string]any{"user_id": "S1"}, "waiting_confirmation")
	ta.mustAct(t, k, "request-refund", map[string]any{"user_id": "U1", "reason": "not_as_described"}, "refunding")
	ta.mustAct(t, k, "refuse-refund", map[string]any{"user_id": "S1", "reason": "delivered_with_proof"}, "refund_refused")
	ta.mustAct(t, k, "dispute", map[string]any{"user_id": "U1", "description": "not as listed"}, "disputed")
	return po, k
}

// TestMoneyMovesSurviveACrash: each money-moving API request (refund to
// source, manual payout, dispute resolution) is retried after a crash
// between its commit and its stored response; the retry answers with the
// original result (the same ids), and the money moved once.
func TestMoneyMovesSurviveACrash(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			refundedBuyer(t, ta, methodCases[0]) // 19.75 EUR
			refundedBuyer(t, ta, methodCases[2]) // 100.00 BRL (boleto)

			refund := map[string]any{"amount": "5.00", "currency": "EUR", "reason": "buyer asked"}
			var first, again refundsJSON
			if s := ta.callWith(t, testFinanceKey, "crash-refund", "POST", "/v1/users/U1/refunds-to-source", refund, &first); s != 201 || len(first.Refunds) != 1 {
				t.Fatalf("refund = %d %+v", s, first)
			}
			loseResponse(t, ta, "crash-refund")
			if s := ta.callWith(t, testFinanceKey, "crash-refund", "POST", "/v1/users/U1/refunds-to-source", refund, &again); s != 201 ||
				len(again.Refunds) != 1 || again.Refunds[0].ID != first.Refunds[0].ID || again.Refunds[0].Amount != "5.00" {
				t.Fatalf("refund retried after a crash = %d %+v, want 201 and refund %s", s, again, first.Refunds[0].ID)
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM source_refunds`); n != 1 {
				t.Fatalf("%d refunds after the retry, want 1", n)
			}
			if got := ta.balanceIn(t, "U1", "EUR"); got != "14.75" {
				t.Fatalf("balance after the retried refund = %s, want 14.75", got)
			}

			payout := map[string]any{"amount": "10.00", "currency": "BRL", "beneficiary": "Maria Silva", "bank_reference": "PIX E1"}
			var p1, p2 struct{ ID, Amount string }
			if s := ta.callWith(t, testFinanceKey, "crash-payout", "POST", "/v1/users/U1/payouts", payout, &p1); s != 201 || p1.ID == "" {
				t.Fatalf("payout = %d %+v", s, p1)
			}
			loseResponse(t, ta, "crash-payout")
			if s := ta.callWith(t, testFinanceKey, "crash-payout", "POST", "/v1/users/U1/payouts", payout, &p2); s != 201 || p2 != p1 {
				t.Fatalf("payout retried after a crash = %d %+v, want 201 and %+v", s, p2, p1)
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM manual_payouts`); n != 1 {
				t.Fatalf("%d payouts after the retry, want 1", n)
			}
			if got := ta.balanceIn(t, "U1", "BRL"); got != "90.00" {
				t.Fatalf("BRL balance after the retried payout = %s, want 90.00", got)
			}

			_, k := disputedOrder(t, ta)
			before := ta.balanceIn(t, "U1", "EUR")
			var so1, so2 salesOrderJSON
			resolve := map[string]any{"refund_amount": "4.00"}
			if s := ta.callWith(t, testFinanceKey, "crash-resolve", "POST", "/v1/sales-orders/"+k+"/resolve", resolve, &so1); s != 200 || so1.Status != "completed" {
				t.Fatalf("resolve = %d %+v", s, so1)
			}
			txs := countRows(t, ta, `SELECT COUNT(*) FROM ledger_transactions`)
			loseResponse(t, ta, "crash-resolve")
			if s := ta.callWith(t, testFinanceKey, "crash-resolve", "POST", "/v1/sales-orders/"+k+"/resolve", resolve, &so2); s != 200 || so2.Status != so1.Status {
				t.Fatalf("resolve retried after a crash = %d %+v, want 200 and %s", s, so2, so1.Status)
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM ledger_transactions`); n != txs {
				t.Fatalf("%d ledger transactions after the retried resolve, want %d", n, txs)
			}
			if got, want := ta.balanceIn(t, "U1", "EUR"), paygate.New(1475+400, paygate.EUR).Amount(); before != "14.75" || got != want {
				t.Fatalf("balance after the resolve = %s (before %s), want %s", got, before, want)
			}
		})
	}
}

// itemForm returns the hidden fields of the page's form posting to path.
func itemForm(t *testing.T, page, path string) url.Values {
	t.Helper()
	m := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(path) + `" class="action">(.*?)</form>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form to %s on the page:\n%s", path, page)
	}
	v := url.Values{}
	for _, f := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(m[1], -1) {
		v.Set(f[1], f[2])
	}
	if v.Get("form_key") == "" {
		t.Fatalf("the form to %s has no form_key: %s", path, m[1])
	}
	return v
}

// TestFinanceFormsDoubleSubmit: every finance form submitted twice (a
// double click) acts once, and the second submit shows the first one's
// success, not an error. A refund form whose first submit died after the
// refund was made (before the item was resolved) refunds nothing more.
func TestFinanceFormsDoubleSubmit(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			fc := newFinanceClient(t, ta)
			if status, _ := fc.loginAs("bob@example.com", testFinanceKey); status != http.StatusSeeOther {
				t.Fatalf("login = %d", status)
			}
			ctx := context.Background()
			first, _ := ta.payAndReconcile(t) // opens an amount_mismatch item on first
			disputed, k := disputedOrder(t, ta)
			// A payment the provider took whose webhook was lost.
			if err := ta.app.sandbox.SetFaults("stripe", sandbox.Faults{Drop: 1000}); err != nil {
				t.Fatal(err)
			}
			lost := ta.createOrder(t, methodCases[0])
			var la attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+lost.Number+"/attempts", map[string]any{"method": "ideal"}, &la)
			ta.pay(t, lost, la)
			ta.app.sandbox.SetFaults("stripe", sandbox.Faults{})
			var ref string
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if err := tx.Get(ctx, &ref, `SELECT provider_ref FROM payment_attempts WHERE id = ?`, la.ID); err != nil {
					return err
				}
				late := paygate.New(500, paygate.EUR)
				if _, err := ta.app.refunds.Ledger.Post(ctx, tx, ledgerTransfer("test:late", "U1", late)); err != nil {
					return err
				}
				for _, it := range []finance.Item{
					{Kind: finance.LatePayment, Reference: "att_test_late", PaymentOrder: first.Number, Provider: "stripe", Amount: late, Description: "paid late"},
					{Kind: finance.Dispute, Reference: "dp_test", PaymentOrder: disputed.Number, Provider: "stripe", Amount: paygate.New(1250, paygate.EUR), Description: "dispute"},
					{Kind: finance.UnknownPayment, Reference: "stripe:evt_unknown", Provider: "stripe", PaymentRef: ref, Amount: paygate.New(1975, paygate.EUR),
						Description: fmt.Sprintf(`an event for payment %q`, ref)},
				} {
					if err := finance.OpenItem(ctx, tx, it); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			itemID := func(kind finance.Kind) int64 {
				var id int64
				ta.db.View(ctx, func(tx *storage.Tx) error {
					return tx.Get(ctx, &id, `SELECT id FROM finance_items WHERE kind = ?`, string(kind))
				})
				return id
			}
			flash := func(resp *http.Response) string {
				for _, c := range resp.Cookies() {
					if c.Name == "paygate_finance_flash" {
						return c.Value
					}
				}
				return ""
			}
			// submit posts the form twice, as a double click does, and
			// checks that both succeed with the same message.
			submit := func(path string, extra url.Values, before func(url.Values)) {
				t.Helper()
				form := itemForm(t, fc.page("/finance/items"), path)
				for k, v := range extra {
					form[k] = v
				}
				if before != nil {
					before(form)
				}
				s1, body, r1 := fc.post(path, form)
				s2, _, r2 := fc.post(path, form)
				if s1 != http.StatusSeeOther || s2 != http.StatusSeeOther || flash(r1) == "" || flash(r2) != flash(r1) {
					t.Fatalf("%s twice = %d, %d (flash %q, %q), want 303 twice with the same message:\n%s", path, s1, s2, flash(r1), flash(r2), body)
				}
			}

			// Mark resolved.
			submit(fmt.Sprintf("/finance/items/%d/resolve", itemID(finance.AmountMismatch)), url.Values{"reason": {"checked"}}, nil)
			if n := countRows(t, ta, `SELECT COUNT(*) FROM audit_log WHERE action = 'resolve_item'`); n != 1 {
				t.Fatalf("%d resolve_item audit entries, want 1", n)
			}

			// Refund balance to source, twice; then a form whose first
			// submit made the refund and died.
			buyerBefore := ta.balanceIn(t, "U1", "EUR")
			submit(fmt.Sprintf("/finance/items/%d/refund", itemID(finance.LatePayment)), url.Values{"amount": {"1.00"}, "reason": {"buyer asked"}}, nil)
			if n := countRows(t, ta, `SELECT COUNT(*) FROM source_refunds`); n != 1 {
				t.Fatalf("%d refunds after a double submit, want 1", n)
			}
			if got, want := ta.balanceIn(t, "U1", "EUR"), subtract(t, buyerBefore, 100); got != want {
				t.Fatalf("balance after a double submitted refund = %s, want %s", got, want)
			}

			// Resolve a dispute.
			submit(fmt.Sprintf("/finance/items/%d/resolve-dispute", itemID(finance.Dispute)), url.Values{"amount": {"2.00"}, "reason": {"split"}}, nil)
			if n := countRows(t, ta, `SELECT COUNT(*) FROM audit_log WHERE action = 'resolve_dispute' AND subject = ?`, k); n != 1 {
				t.Fatalf("%d resolve_dispute audit entries of %s, want 1", n, k)
			}

			// Settle from provider.
			submit(fmt.Sprintf("/finance/items/%d/settle", itemID(finance.UnknownPayment)), nil, nil)
			if n := countRows(t, ta, `SELECT COUNT(*) FROM audit_log WHERE action = 'settle_payment' AND subject = ?`, lost.Number); n != 1 {
				t.Fatalf("%d settle_payment audit entries of %s, want 1", n, lost.Number)
			}
			ta.waitPaid(t, lost.Number)

			// A refund form whose first submit died after the refund was
			// made: the second submit finds it and resolves the item.
			late2 := openLateItem(t, ta, first.Number, "att_test_late_2")
			buyerBefore = ta.balanceIn(t, "U1", "EUR")
			submit(fmt.Sprintf("/finance/items/%d/refund", late2), url.Values{"amount": {"1.00"}, "reason": {"buyer asked"}}, func(form url.Values) {
				if _, err := ta.app.refunds.ToSource(ctx, "financeui:"+form.Get("form_key")+":refund", "U1", paygate.New(100, paygate.EUR), "buyer asked"); err != nil {
					t.Fatal(err)
				}
			})
			if n := countRows(t, ta, `SELECT COUNT(*) FROM source_refunds`); n != 2 {
				t.Fatalf("%d refunds after the retried form, want 2", n)
			}
			if got, want := ta.balanceIn(t, "U1", "EUR"), subtract(t, buyerBefore, 100); got != want {
				t.Fatalf("balance after the retried form = %s, want %s", got, want)
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM finance_items WHERE id = ? AND status = 'resolved'`, late2); n != 1 {
				t.Fatalf("item %d not resolved by the retried form", late2)
			}

			// Record a manual payout, twice.
			late3 := openLateItem(t, ta, first.Number, "att_test_late_3")
			buyerBefore = ta.balanceIn(t, "U1", "EUR")
			submit(fmt.Sprintf("/finance/items/%d/payout", late3), url.Values{"amount": {"1.00"}, "beneficiary": {"U1 at ING"}, "bank_reference": {"NL91INGB0001"}}, nil)
			if n := countRows(t, ta, `SELECT COUNT(*) FROM ledger_transactions WHERE idempotency_key LIKE 'payout:%'`); n != 1 {
				t.Fatalf("%d payouts after a double submit, want 1", n)
			}
			if got, want := ta.balanceIn(t, "U1", "EUR"), subtract(t, buyerBefore, 100); got != want {
				t.Fatalf("balance after a double submitted payout = %s, want %s", got, want)
			}
		})
	}
}

func subtract(t *testing.T, amount string, minor int64) string {
	t.Helper()
	m, err := paygate.ParseMoney(amount, paygate.EUR)
	if err != nil {
		t.Fatal(err)
	}
	return paygate.New(m.Minor-minor, paygate.EUR).Amount()
}

// ledgerTransfer credits m to user's balance from Stripe's clearing, as a
// late payment does.
func ledgerTransfer(key, user string, m paygate.Money) ledger.Transaction {
	return ledger.Transfer(key, "late payment", ledger.ProviderClearing("stripe"), ledger.UserBalance(user), m)
}
