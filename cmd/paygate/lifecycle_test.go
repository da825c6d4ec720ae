package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

type salesOrderJSON struct {
	Number   string `json:"number"`
	Status   string `json:"status"`
	BuyerID  string `json:"buyer_id"`
	SellerID string `json:"seller_id"`
	Amount   string `json:"amount"`
	Refunded string `json:"refunded"`
	History  []struct {
		Action, Actor, From, To, Reason string
	} `json:"history"`
}

// paidOrder creates a PayNow order of n items of 10.00 SGD, each from its
// own seller, and pays it.
func paidOrder(t *testing.T, ta *testApp, n int) orderJSON {
	t.Helper()
	amounts := make([]string, n)
	for i := range amounts {
		amounts[i] = "10.00"
	}
	po := ta.createOrder(t, methodCase{method: "paynow", currency: paygate.SGD, amounts: amounts})
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "paynow"}, &a)
	ta.pay(t, po, a)
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &po)
	if po.Status != "paid" {
		t.Fatalf("order %s is %s, want paid", po.Number, po.Status)
	}
	return po
}

// act posts an action on a sales order with the marketplace key (finance for
// resolve) and returns the status and the order.
func (ta *testApp) act(t *testing.T, k, action string, body map[string]any) (int, salesOrderJSON) {
	t.Helper()
	key := testAPIKey
	if action == "resolve" {
		key = testFinanceKey
	}
	var so salesOrderJSON
	status := ta.callWith(t, key, fmt.Sprintf("act-%d", ta.key.Add(1)), "POST", "/v1/sales-orders/"+k+"/"+action, body, &so)
	return status, so
}

func (ta *testApp) mustAct(t *testing.T, k, action string, body map[string]any, want string) {
	t.Helper()
	if status, so := ta.act(t, k, action, body); status != 200 || so.Status != want {
		t.Fatalf("%s %s = %d %+v, want 200 and %s", action, k, status, so, want)
	}
}

func (ta *testApp) balance(t *testing.T, user string) string {
	t.Helper()
	var b struct {
		Balances []struct{ Amount, Currency string } `json:"balances"`
	}
	ta.call(t, "GET", "/v1/users/"+user+"/balances", nil, &b)
	for _, x := range b.Balances {
		if x.Currency == "SGD" {
			return x.Amount
		}
	}
	return "0.00"
}

// TestLifecycle walks every path of a sales order's life through the API,
// each timer with an injected clock, on both backends, with a 2.5 %
// commission.
func TestLifecycle(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			ta := startAppClock(t, b.DSN(t), appConfig{rules: orders.Rules{CommissionBasisPoints: 250}}, clk.Now)
			ctx := context.Background()
			po := paidOrder(t, ta, 9)
			k := func(i int) string { return po.Items[i].Number }
			seller := func(i int) string { return fmt.Sprintf("S%d", i+1) }
			sweep := func() {
				t.Helper()
				if _, err := ta.app.sweeper.once(ctx, clk.Now()); err != nil {
					t.Fatal(err)
				}
			}

			// 0: delivered and confirmed: the seller gets 9.75, the platform 0.25.
			ta.mustAct(t, k(0), "deliver", map[string]any{"user_id": seller(0)}, "waiting_confirmation")
			ta.mustAct(t, k(0), "confirm", map[string]any{"user_id": "U1"}, "completed")
			// 1: the seller refunds at once.
			ta.mustAct(t, k(1), "refund", map[string]any{"user_id": seller(1), "reason": "out_of_stock", "description": "sold elsewhere"}, "refunded")
			// 2: the buyer asks, the seller agrees.
			ta.mustAct(t, k(2), "request-refund", map[string]any{"user_id": "U1", "reason": "not_received"}, "refunding")
			ta.mustAct(t, k(2), "agree-refund", map[string]any{"user_id": seller(2)}, "refunded")
			// 3: asked, refused, disputed, resolved 4.00 to the buyer, the rest to the seller.
			ta.mustAct(t, k(3), "deliver", map[string]any{"user_id": seller(3)}, "waiting_confirmation")
			ta.mustAct(t, k(3), "request-refund", map[string]any{"user_id": "U1", "reason": "not_as_described"}, "refunding")
			ta.mustAct(t, k(3), "refuse-refund", map[string]any{"user_id": seller(3), "reason": "delivered_with_proof"}, "refund_refused")
			ta.mustAct(t, k(3), "dispute", map[string]any{"user_id": "U1", "description": "the item is not what was listed"}, "disputed")
			if s, _ := ta.act(t, k(3), "resolve", map[string]any{"refund_amount": "10.01"}); s != 400 {
				t.Fatalf("resolve for more than the amount = %d, want 400", s)
			}
			var e apiError
			if s := ta.callWith(t, testAPIKey, "resolve-as-market", "POST", "/v1/sales-orders/"+k(3)+"/resolve", map[string]any{"refund_amount": "4.00"}, &e); s != 403 {
				t.Fatalf("resolve with the marketplace key = %d, want 403", s)
			}
			ta.mustAct(t, k(3), "resolve", map[string]any{"refund_amount": "4.00"}, "completed")

			// Refused: wrong user, unknown reason, wrong state.
			for _, c := range []struct {
				action string
				body   map[string]any
				status int
			}{
				{"deliver", map[string]any{"user_id": "U1"}, 403},                                  // the buyer cannot deliver
				{"confirm", map[string]any{"user_id": seller(4)}, 403},                             // the seller cannot confirm
				{"refund", map[string]any{"user_id": seller(4), "reason": "bored"}, 400},           // not a seller reason
				{"request-refund", map[string]any{"user_id": "U1", "reason": "out_of_stock"}, 400}, // a seller's reason
				{"confirm", map[string]any{"user_id": "U1"}, 409},                                  // not delivered yet
				{"agree-refund", map[string]any{"user_id": seller(4)}, 409},                        // nothing requested
				{"deliver", map[string]any{}, 400},                                                 // no user
			} {
				var so salesOrderJSON // refused on purpose: only the answer is held to the document
				if s := ta.callWithBad(t, testAPIKey, fmt.Sprintf("act-%d", ta.key.Add(1)), "POST", "/v1/sales-orders/"+k(4)+"/"+c.action, c.body, &so); s != c.status {
					t.Errorf("%s %v on a waiting_delivery order = %d %+v, want %d", c.action, c.body, s, so, c.status)
				}
			}

			// Windows: a refusal after 24 h and a dispute after 72 h are too late.
			ta.mustAct(t, k(5), "request-refund", map[string]any{"user_id": "U1", "reason": "changed_mind"}, "refunding")
			ta.mustAct(t, k(6), "deliver", map[string]any{"user_id": seller(6)}, "waiting_confirmation")
			ta.mustAct(t, k(7), "request-refund", map[string]any{"user_id": "U1", "reason": "other"}, "refunding")
			ta.mustAct(t, k(7), "refuse-refund", map[string]any{"user_id": seller(7), "reason": "other"}, "refund_refused")
			clk.Advance(24*time.Hour + time.Second)
			if s, _ := ta.act(t, k(5), "refuse-refund", map[string]any{"user_id": seller(5), "reason": "other"}); s != 409 {
				t.Fatalf("refusal after 24 h = %d, want 409", s)
			}
			checkMetrics(t, ta.url, map[string]string{`paygate_order_timers_due{status="refunding"}`: "1"})
			// Timers at 24 h: the unanswered request is granted.
			sweep()
			checkMetrics(t, ta.url, map[string]string{
				`paygate_order_timers_due{status="refunding"}`:           "0",
				`paygate_order_timers_applied_total{status="refunding"}`: "1",
			})
			clk.Advance(48 * time.Hour) // 72 h after payment, delivery and refusal
			if s, _ := ta.act(t, k(7), "dispute", map[string]any{"user_id": "U1"}); s != 409 {
				t.Fatalf("dispute after 72 h = %d, want 409", s)
			}
			sweep()
			sweep() // a second sweep changes nothing
			checkMetrics(t, ta.url, map[string]string{
				`paygate_order_timers_due{status="waiting_delivery"}`:     "0",
				`paygate_order_timers_due{status="waiting_confirmation"}`: "0",
				`paygate_order_timers_due{status="refunding"}`:            "0",
				`paygate_order_timers_due{status="refund_refused"}`:       "0",
				`paygate_order_timers_scrape_ok`:                          "1",
			})

			want := map[int]string{0: "completed", 1: "refunded", 2: "refunded", 3: "completed",
				4: "refunded",  // not delivered in 72 h
				5: "refunded",  // request unanswered in 24 h
				6: "completed", // not confirmed in 72 h
				7: "completed", // refusal not disputed in 72 h
				8: "refunded",  // not delivered in 72 h
			}
			for i, w := range want {
				var so salesOrderJSON
				ta.call(t, "GET", "/v1/sales-orders/"+k(i), nil, &so)
				if so.Status != w {
					t.Errorf("sales order %d (%s) is %s, want %s; history %+v", i, k(i), so.Status, w, so.History)
				}
				if len(so.History) < 2 || so.History[0].To != "waiting_delivery" {
					t.Errorf("history of %s = %+v", k(i), so.History)
				}
			}
			var s3 salesOrderJSON
			ta.call(t, "GET", "/v1/sales-orders/"+k(3), nil, &s3)
			if s3.Refunded != "4.00" || s3.History[len(s3.History)-1].Actor != "finance" {
				t.Errorf("resolved order = %+v, want 4.00 refunded by finance", s3)
			}
			var s4 salesOrderJSON
			ta.call(t, "GET", "/v1/sales-orders/"+k(4), nil, &s4)
			if last := s4.History[len(s4.History)-1]; last.Actor != "system" || !strings.Contains(last.Reason, "not delivered") {
				t.Errorf("timer history of %s = %+v", k(4), last)
			}

			// Money: buyer refunds 10 × 5 (1, 2, 4, 5, 8) + 4.00; sellers get
			// the rest less 2.5 %.
			if got := ta.balance(t, "U1"); got != "54.00" {
				t.Errorf("buyer balance = %s, want 54.00", got)
			}
			for i, w := range map[int]string{0: "9.75", 3: "5.85", 6: "9.75", 7: "9.75", 1: "0.00"} {
				if got := ta.balance(t, seller(i)); got != w {
					t.Errorf("seller %s balance = %s, want %s", seller(i), got, w)
				}
			}
			r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
			if err != nil || !r.OK() {
				var b strings.Builder
				r.WriteTo(&b)
				t.Fatalf("verify: %v\n%s", err, b.String())
			}
			var esc struct {
				Lines []struct{ Status, Amount, Held string } `json:"lines"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/escrow", nil, &esc)
			for _, l := range esc.Lines {
				if l.Held != "0.00" {
					t.Errorf("escrow of %s orders holds %s, want 0.00 (all final)", l.Status, l.Held)
				}
			}
			if len(esc.Lines) != 2 {
				t.Errorf("escrow lines = %+v, want completed and refunded", esc.Lines)
			}
			var commission, escrow int64
			ta.db.View(ctx, func(tx *storage.Tx) error {
				tx.Get(ctx, &commission, `SELECT credits - debits FROM ledger_account_totals WHERE name = 'platform:commission' AND currency = 'SGD'`)
				return tx.Get(ctx, &escrow, `SELECT COALESCE(SUM(credits - debits), 0) FROM ledger_account_totals WHERE name LIKE 'escrow:%'`)
			})
			// 3 completions of 10.00 → 0.25 each; the split's 6.00 → 0.15.
			if commission != 90 || escrow != 0 {
				t.Errorf("commission %d, escrow left %d; want 90 and 0", commission, escrow)
			}
		})
	}
}

// TestPaymentOrderExpiry: an order not paid by its expiry is expired by the
// sweep, its sales orders canceled; paying it afterwards credits the buyer.
func TestPaymentOrderExpiry(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			ta := startAppClock(t, b.DSN(t), appConfig{}, clk.Now)
			ctx := context.Background()
			po := ta.createOrder(t, methodCases[0])
			var a attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
			if res, _ := ta.app.sweeper.once(ctx, clk.Now()); res.Expired != 0 {
				t.Fatal("an order was expired before its time")
			}
			clk.Advance(25 * time.Hour)
			if res, err := ta.app.sweeper.once(ctx, clk.Now()); err != nil || res.Expired != 1 {
				t.Fatalf("sweep = %+v, %v; want one expired", res, err)
			}
			var got orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
			if got.Status != "expired" || got.Items[0].Status != "canceled" || got.Attempts[0].Status != "canceled" {
				t.Fatalf("after expiry: %+v", got)
			}
			// The buyer pays at the bank anyway: the money is theirs.
			if s := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/approve", nil, nil); s != 200 {
				t.Fatalf("late approve = %d", s)
			}
			var bal struct {
				Balances []struct{ Amount string } `json:"balances"`
			}
			ta.call(t, "GET", "/v1/users/U1/balances", nil, &bal)
			if len(bal.Balances) != 1 || bal.Balances[0].Amount != "19.75" {
				t.Fatalf("buyer balance after a late payment = %+v, want 19.75", bal)
			}
		})
	}
}

// TestPayWithBalance: refunds make a buyer balance; the checkout offers it
// when it covers an order, pays at once, and never overdraws when payments
// race.
func TestPayWithBalance(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := paidOrder(t, ta, 3)
			for i := range 3 {
				ta.mustAct(t, po.Items[i].Number, "refund", map[string]any{"user_id": fmt.Sprintf("S%d", i+1), "reason": "cannot_deliver"}, "refunded")
			}
			if got := ta.balance(t, "U1"); got != "30.00" {
				t.Fatalf("buyer balance = %s, want 30.00", got)
			}
			// Ten orders of 10.00 race for 30.00: exactly three are paid.
			var orders []orderJSON
			for range 10 {
				o := ta.createOrder(t, methodCase{method: "paynow", currency: paygate.SGD, amounts: []string{"10.00"}})
				var full struct {
					Methods []string `json:"methods"`
				}
				ta.call(t, "GET", "/v1/payment-orders/"+o.Number, nil, &full)
				if !strings.Contains(strings.Join(full.Methods, ","), "balance") {
					t.Fatalf("methods of %s = %v, want balance offered", o.Number, full.Methods)
				}
				orders = append(orders, o)
			}
			statuses := make([]int, len(orders))
			done := make(chan struct{})
			for i, o := range orders {
				go func() {
					defer func() { done <- struct{}{} }()
					statuses[i] = ta.call(t, "POST", "/v1/payment-orders/"+o.Number+"/attempts", map[string]any{"method": "balance"}, nil)
				}()
			}
			for range orders {
				<-done
			}
			paid, refused := 0, 0
			for _, s := range statuses {
				switch s {
				case 201:
					paid++
				case 422:
					refused++
				default:
					t.Fatalf("balance payment = %d, want 201 or 422", s)
				}
			}
			if paid != 3 || refused != 7 || ta.balance(t, "U1") != "0.00" {
				t.Fatalf("%d paid, %d refused, balance %s; want 3, 7, 0.00", paid, refused, ta.balance(t, "U1"))
			}
			var left struct {
				Status  string   `json:"status"`
				Methods []string `json:"methods"`
			}
			for _, o := range orders {
				ta.call(t, "GET", "/v1/payment-orders/"+o.Number, nil, &left)
				if left.Status != "paid" && strings.Contains(strings.Join(left.Methods, ","), "balance") {
					t.Fatalf("an empty balance is still offered for %s", o.Number)
				}
			}
			// The statement: 3 refunds in, 3 payments out, newest first.
			var st struct {
				Lines []struct{ Change, Balance, Transaction string } `json:"lines"`
				Next  string                                          `json:"next"`
			}
			ta.call(t, "GET", "/v1/users/U1/statement?currency=SGD&limit=4", nil, &st)
			if len(st.Lines) != 4 || st.Next == "" || st.Lines[0].Balance != "0.00" || st.Lines[0].Change != "-10.00" {
				t.Fatalf("statement page 1 = %+v", st)
			}
			req, _ := http.NewRequest("GET", ta.url+"/v1/users/U1/statement?currency=SGD&format=csv", nil)
			req.Header.Set("Authorization", "Bearer "+testFinanceKey)
			resp, err := ta.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(resp.Body).ReadAll()
			resp.Body.Close()
			if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 7 || rows[0][0] != "entry" || rows[6][5] != "10.00" {
				t.Fatalf("CSV statement = %v %v %q", rows, err, resp.Header.Get("Content-Type"))
			}
			future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			ta.call(t, "GET", "/v1/users/U1/statement?currency=SGD&from="+future, nil, &st)
			if len(st.Lines) != 0 {
				t.Fatalf("statement from the future = %+v", st.Lines)
			}
			if s := ta.callBad(t, "GET", "/v1/users/U1/statement?currency=SGD&from=yesterday", nil, nil); s != 400 {
				t.Fatalf("bad from = %d, want 400", s)
			}
			// A page size out of 1..500, as on the other paged lists, and a
			// currency no method takes (USD) are 400.
			for _, q := range []string{"currency=SGD&limit=0", "currency=SGD&limit=-1", "currency=SGD&limit=501", "currency=SGD&limit=x", "currency=USD"} {
				var e apiError
				if s := ta.callBad(t, "GET", "/v1/users/U1/statement?"+q, nil, &e); s != 400 || e.Error.Code != "invalid" {
					t.Errorf("statement?%s = %d %+v, want 400 invalid", q, s, e)
				}
			}
			r, err := ledger.New(ta.db).Verify(context.Background(), verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}

// TestSweepCLI applies due timers with the real binary, as of a time.
func TestSweepCLI(t *testing.T) {
	dsn := storagetest.Backends(t)[0].DSN(t)
	ta := startAppOn(t, dsn, appConfig{})
	po := paidOrder(t, ta, 2)
	asOf := time.Now().Add(73 * time.Hour).UTC().Format(time.RFC3339)
	out, err := exec.Command(binary, "sweep", "--db", dsn, "--as-of", asOf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 not delivered (refunded)") {
		t.Fatalf("sweep = %v\n%s", err, out)
	}
	var so salesOrderJSON
	ta.call(t, "GET", "/v1/sales-orders/"+po.Items[0].Number, nil, &so)
	if so.Status != "refunded" {
		t.Fatalf("after the sweep: %s, want refunded", so.Status)
	}
	if out, err := exec.Command(binary, "sweep", "--db", dsn, "--as-of", "tomorrow").CombinedOutput(); err == nil {
		t.Fatalf("sweep with a bad time succeeded:\n%s", out)
	}
}
