package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers/stripesim"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

type reconJSON struct {
	ID     string        `json:"id"`
	Anchor *chain.Anchor `json:"anchor"`
	Lines  int           `json:"lines"`
	Posted int           `json:"posted"`
	Totals []struct {
		Status, Currency string
		Lines            int
	} `json:"totals"`
	Unmatched []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		PaymentRef string `json:"payment_ref"`
		Detail     string `json:"detail"`
	} `json:"unmatched"`
}

// reconciliationAs reads reconciliation run id as finance staff in format
// (csv, table or html), and returns the status and the body.
func (ta *testApp) reconciliationAs(t *testing.T, id, format string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ta.url+"/v1/reconciliations/"+id+"?format="+format, nil)
	req.Header.Set("Authorization", "Bearer "+testFinanceKey)
	resp, err := ta.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (ta *testApp) reconcile(t *testing.T, report string) reconJSON {
	t.Helper()
	return ta.reconcileAt(t, "stripe", report)
}

// reconcileAt imports provider's settlement report through the API.
func (ta *testApp) reconcileAt(t *testing.T, provider, report string) reconJSON {
	t.Helper()
	req, _ := http.NewRequest("POST", ta.url+"/v1/reconciliations?provider="+provider, strings.NewReader(report))
	req.Header.Set("Authorization", "Bearer "+testFinanceKey)
	req.Header.Set("Idempotency-Key", fmt.Sprintf("recon-%d", ta.key.Add(1)))
	req.Header.Set("Content-Type", "text/csv")
	resp, err := ta.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out reconJSON
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("reconcile = %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(r reconJSON, status string) int {
	n := 0
	for _, t := range r.Totals {
		if t.Status == status {
			n += t.Lines
		}
	}
	return n
}

// TestReconcileStripeReport: three iDEAL payments, one of whose webhooks is
// lost; Stripe's report lists the three, a charge paygate never made, a fee
// and a payout. Matching finds each kind; fees and payouts are posted once
// even when the report is imported twice; the one-command fix settles the
// lost payment through the inbox, after which it matches.
func TestReconcileStripeReport(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			var refs []string
			var lost orderJSON
			for i := range 3 {
				po := ta.createOrder(t, methodCase{method: "ideal", currency: "EUR", amounts: []string{"10.00"}})
				var a attemptJSON
				ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
				if i == 2 { // its webhooks are lost
					ta.app.sandbox.SetFaults("stripe", sandbox.Faults{Drop: 100})
					lost = po
				}
				ta.pay(t, po, a)
				refs = append(refs, a.ProviderRef)
			}
			ta.app.sandbox.SetFaults("stripe", sandbox.Faults{})
			now := time.Now().UTC().Format("2006-01-02 15:04:05")
			report := "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id\r\n"
			for i, ref := range refs {
				report += fmt.Sprintf("txn_c%d,%s,charge,10.00,0.45,9.55,eur,%s\r\n", i, now, ref)
			}
			report += fmt.Sprintf("txn_x,%s,charge,5.00,0.30,4.70,eur,pi_not_ours\r\n", now)
			report += fmt.Sprintf("txn_f,%s,fee,-1.00,0.00,-1.00,eur,\r\n", now)
			report += fmt.Sprintf("txn_p,%s,payout,-25.00,0.00,-25.00,eur,\r\n", now)
			report += "txn_bad,not a time,charge,1.00,0.00,1.00,eur,pi_x\r\n"

			r := ta.reconcile(t, report)
			if count(r, "matched") != 2 || count(r, "missing_in_ledger") != 2 || count(r, "fee") != 1 ||
				count(r, "payout") != 1 || count(r, "invalid") != 1 {
				t.Fatalf("reconciliation = %+v", r)
			}
			fix := ""
			for _, u := range r.Unmatched {
				if u.PaymentRef == refs[2] {
					fix = u.Detail
				}
			}
			if !strings.Contains(fix, "lost webhook") || !strings.Contains(fix, lost.Number) {
				t.Fatalf("the lost payment's line says %q", fix)
			}
			// Fees of 4 charges (0.45 × 3 + 0.30) and the fee line, and the payout.
			if r.Posted != 6 {
				t.Fatalf("posted %d ledger transactions, want 6", r.Posted)
			}
			if again := ta.reconcile(t, report); again.Posted != 0 {
				t.Fatalf("the same report imported twice posted %d more", again.Posted)
			}
			// The one-command fix: settle from the provider's own status.
			var out map[string]any
			if s := ta.callWith(t, testFinanceKey, "settle-1", "POST", "/v1/finance/settle-payment",
				map[string]any{"provider": "stripe", "payment_ref": refs[2]}, &out); s != 200 || out["status"] != "paid" {
				t.Fatalf("settle-payment = %d %v", s, out)
			}
			r = ta.reconcile(t, report)
			if count(r, "matched") != 3 || count(r, "missing_in_ledger") != 1 {
				t.Fatalf("after the fix: %+v", r)
			}
			ctx := context.Background()
			var fees, bank int64
			ta.db.View(ctx, func(tx *storage.Tx) error {
				tx.Get(ctx, &fees, `SELECT debits - credits FROM ledger_account_totals WHERE name = 'platform:provider_fees' AND currency = 'EUR'`)
				return tx.Get(ctx, &bank, `SELECT debits - credits FROM ledger_account_totals WHERE name = 'bank:settlement' AND currency = 'EUR'`)
			})
			if fees != 265 || bank != 2500 {
				t.Fatalf("provider fees %d, bank %d; want 265 and 2500", fees, bank)
			}
			res, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !res.OK() {
				t.Fatalf("verify: %v %+v", err, res)
			}
			// The run is kept: read it again in each format.
			var run struct {
				ID    string `json:"id"`
				Lines int    `json:"lines"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/reconciliations/"+r.ID, nil, &run)
			if run.ID != r.ID || run.Lines != r.Lines {
				t.Fatalf("stored run = %+v, want %s", run, r.ID)
			}
			for format, want := range map[string]string{"csv": "kind,status", "table": "STATUS", "html": "<h1>Reconciliation " + r.ID} {
				status, body := ta.reconciliationAs(t, r.ID, format)
				if status != 200 || !strings.Contains(body, want) {
					t.Fatalf("run as %s = %d %s", format, status, body)
				}
			}
			if s := ta.callWith(t, testFinanceKey, "", "GET", "/v1/reconciliations/rec_nope", nil, nil); s != 404 {
				t.Fatalf("unknown run = %d, want 404", s)
			}
		})
	}
}

// TestReconCLI reconciles a report file with the real binary.
func TestReconCLI(t *testing.T) {
	dsn := storagetest.Backends(t)[0].DSN(t)
	ta := startAppOn(t, dsn, appConfig{})
	po := ta.createOrder(t, methodCase{method: "ideal", currency: "EUR", amounts: []string{"10.00"}})
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
	ta.pay(t, po, a)
	file := t.TempDir() + "/report.csv"
	report := "\ufeffbalance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id\n" +
		fmt.Sprintf("txn_1,%s,charge,10.00,0.45,9.55,eur,%s\n", time.Now().UTC().Format("2006-01-02 15:04:05"), a.ProviderRef)
	if err := os.WriteFile(file, []byte(report), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "csv", "json", "html"} {
		out, err := exec.Command(binary, "recon", "--db", dsn, "--provider", "stripe", "--report", file, "--format", format).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "matched") {
			t.Fatalf("recon --format %s = %v\n%s", format, err, out)
		}
	}
	if out, err := exec.Command(binary, "recon", "--db", dsn, "--provider", "stripe").CombinedOutput(); err == nil {
		t.Fatalf("recon without a report succeeded:\n%s", out)
	}
}

// TestReconcileSandboxDay reconciles the simulators' own report of a day:
// every charge matches, fees and payouts are posted, and the clearing
// account of the fully reconciled day is zero.
func TestReconcileSandboxDay(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			for _, c := range []methodCase{methodCases[0], methodCases[0], methodCases[1]} {
				po := ta.createOrder(t, c)
				var a attemptJSON
				ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": c.method}, &a)
				ta.pay(t, po, a)
			}
			resp, err := ta.client.Get(ta.url + "/sandbox/stripe/reports/settlement.csv")
			if err != nil {
				t.Fatal(err)
			}
			report, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := ta.reconcile(t, string(report))
			if count(r, "matched") != 3 || len(r.Unmatched) != 0 || count(r, "payout") != 2 {
				t.Fatalf("sandbox day = %+v\n%s", r, report)
			}
			ctx := context.Background()
			var clearing []int64
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Select(ctx, &clearing, `SELECT debits - credits FROM ledger_account_totals WHERE name = 'provider:stripe:clearing'`)
			})
			for _, c := range clearing {
				if c != 0 {
					t.Fatalf("clearing after a fully reconciled day = %v, want 0 in every currency", clearing)
				}
			}
			if len(clearing) != 2 {
				t.Fatalf("clearing accounts = %v, want EUR and SGD", clearing)
			}
		})
	}
}

// TestReconcileEveryStatus: the simulator's report with injected
// discrepancies gives each status: matched, missing at the provider (a
// payment the report omits), missing in the ledger (a payment paygate never
// made), amount mismatch, a refund paygate did not make, payout, other; and
// each unmatched line becomes a finance item, once.
func TestReconcileEveryStatus(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			var refs []string
			for range 3 {
				po := ta.createOrder(t, methodCases[0])
				var a attemptJSON
				ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
				ta.pay(t, po, a)
				refs = append(refs, a.ProviderRef)
			}
			var report strings.Builder
			err := ta.app.stripeSim.SettlementReport(&report, stripesim.ReportOptions{
				Payout: true,
				Omit:   []string{refs[0]},
				Extra: []stripesim.ExtraLine{
					{PaymentRef: "pi_never_made", Gross: paygate.New(500, paygate.EUR)},
					{PaymentRef: refs[1], Gross: paygate.New(9900, paygate.EUR)},
					{PaymentRef: refs[2], Category: "refund", Gross: paygate.New(-300, paygate.EUR)},
					{PaymentRef: refs[2], Category: "dispute", Gross: paygate.New(-1975, paygate.EUR)},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := ta.reconcile(t, report.String())
			for status, want := range map[string]int{"matched": 2, "missing_at_provider": 1, "missing_in_ledger": 1,
				"amount_mismatch": 1, "refund_mismatch": 1, "other": 1, "payout": 1} {
				if got := count(r, status); got != want {
					t.Errorf("%s lines = %d, want %d", status, got, want)
				}
			}
			if t.Failed() {
				t.Fatalf("reconciliation = %+v\n%s", r, report.String())
			}
			items := func() int {
				var out struct {
					Items []struct{ Kind string } `json:"items"`
				}
				ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &out)
				n := 0
				for _, it := range out.Items {
					if it.Kind == "unmatched_line" {
						n++
					}
				}
				return n
			}
			// Missing at provider, missing in ledger, mismatch, a refund
			// paygate did not make, other.
			if n := items(); n != 5 {
				t.Fatalf("unmatched-line items = %d, want 5", n)
			}
			ta.reconcile(t, report.String())
			if n := items(); n != 5 {
				t.Fatalf("after a second import: %d unmatched-line items, want still 5", n)
			}
		})
	}
}
