package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers/stripesim"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestReconcileRefundLines: refund lines of a Stripe report are checked
// against paygate's refunds, not accepted unchecked. The buyer's 19.75 EUR
// iDEAL payment has two refunds to source: 10.00 that succeeded and 5.00
// that failed (its amount given back to the balance). A doctored report
// lists the 10.00 refund twice, the failed 5.00 refund as paid out (the
// buyer paid twice), a 2.50 refund and a refund of a payment paygate does
// not know: only the first 10.00 line matches; each other is a discrepancy
// and a finance item, once however often the report is imported. A later
// report with the 5.00 refund and its refund_failure line matches both.
func TestReconcileRefundLines(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			ref := refundedTwice(t, ta)

			now := time.Now().UTC().Format("2006-01-02 15:04:05")
			line := func(id, category, gross, pi string) string {
				return fmt.Sprintf("%s,%s,%s,%s,0.00,%s,eur,%s\r\n", id, now, category, gross, gross, pi)
			}
			header := "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id\r\n"
			doctored := header + line("txn_ch", "charge", "19.75", ref) +
				line("txn_r1", "refund", "-10.00", ref) +
				line("txn_r1_again", "refund", "-10.00", ref) +
				line("txn_r2", "refund", "-5.00", ref) +
				line("txn_r3", "refund", "-2.50", ref) +
				line("txn_r4", "refund", "-10.00", "pi_not_ours")
			items := func() map[string]bool {
				out := map[string]bool{}
				for _, it := range ta.financeItems(t) {
					if it.Kind == "unmatched_line" {
						out[it.Reference] = true
					}
				}
				return out
			}
			for i := range 2 { // imported twice: the same outcome, no new items
				r := ta.reconcile(t, doctored)
				if count(r, "matched") != 1 || count(r, "refund") != 1 || count(r, "refund_mismatch") != 4 {
					t.Fatalf("import %d: %+v", i+1, r)
				}
				details := map[string]string{}
				for _, u := range r.Unmatched {
					details[u.ID] = u.Detail
				}
				if d := details["txn_r2"]; !strings.Contains(d, "failed") {
					t.Fatalf("the failed refund paid out: %q", d)
				}
				if d := details["txn_r4"]; !strings.Contains(d, "did not make") {
					t.Fatalf("a refund of another payment: %q", d)
				}
				want := map[string]bool{"stripe:txn_r1_again": true, "stripe:txn_r2": true, "stripe:txn_r3": true, "stripe:txn_r4": true}
				if got := items(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("import %d: unmatched-line items %v, want %v", i+1, got, want)
				}
			}

			// Stripe's later report: the failed refund and its failure.
			later := header + line("txn_ch", "charge", "19.75", ref) +
				line("txn_r2", "refund", "-5.00", ref) +
				line("txn_r2_failure", "refund_failure", "5.00", ref)
			r := ta.reconcile(t, later)
			if count(r, "refund") != 2 || count(r, "refund_mismatch") != 0 || count(r, "matched") != 1 {
				t.Fatalf("the failed refund with its failure: %+v", r)
			}
			res, err := ledger.New(ta.db).Verify(context.Background(), verifyChecks()...)
			if err != nil || !res.OK() {
				t.Fatalf("verify: %v %+v", err, res)
			}
		})
	}
}

// refundedTwice pays 19.75 EUR with iDEAL for buyer U1, refunds it to U1's
// balance, then refunds 10.00 of it to source (it succeeds) and 5.00 that
// Stripe fails (given back to the balance). It returns the payment's
// PaymentIntent.
func refundedTwice(t *testing.T, ta *testApp) string {
	t.Helper()
	po := refundedBuyer(t, ta, methodCases[0]) // 19.75 EUR via iDEAL, in U1's balance
	var got orderJSON
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	ref := ""
	for _, a := range got.Attempts {
		if a.Status == "succeeded" {
			ref = a.ProviderRef
		}
	}
	if ref == "" {
		t.Fatalf("no succeeded attempt: %+v", got.Attempts)
	}
	refund := func(amount string) {
		t.Helper()
		var out refundsJSON
		if s := ta.callWith(t, testFinanceKey, fmt.Sprintf("r-%d", ta.key.Add(1)), "POST", "/v1/users/U1/refunds-to-source",
			map[string]any{"amount": amount, "currency": "EUR", "reason": "asked"}, &out); s != 201 || len(out.Refunds) != 1 {
			t.Fatalf("refund %s = %d %+v", amount, s, out)
		}
	}
	refund("10.00")
	ta.app.stripeSim.FailNextRefund()
	refund("5.00")
	deadline := time.Now().Add(10 * time.Second)
	for ta.balanceIn(t, "U1", "EUR") != "9.75" {
		if time.Now().After(deadline) {
			t.Fatalf("balance after the failed refund = %s, want 9.75", ta.balanceIn(t, "U1", "EUR"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ref
}

// TestReconcileSandboxRefunds: the simulator's own report of refunds to
// source (one that succeeded, one that failed and its refund_failure line)
// matches paygate's refunds, imported once or twice.
func TestReconcileSandboxRefunds(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			refundedTwice(t, ta)
			var report strings.Builder
			if err := ta.app.stripeSim.SettlementReport(&report, stripesim.ReportOptions{}); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				r := ta.reconcile(t, report.String())
				if count(r, "refund") != 3 || count(r, "matched") != 1 || len(r.Unmatched) != 0 {
					t.Fatalf("import %d of the sandbox's report = %+v\n%s", i+1, r, report.String())
				}
			}
		})
	}
}
