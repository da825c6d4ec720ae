package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// signedStripeEvent builds a payment_intent event for an attempt, signed as
// Stripe signs it with the app's webhook secret.
func signedStripeEvent(t testing.TB, secret, eventID, typ string, po orderJSON, a attemptJSON, amountMinor int64) (string, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(), "type": typ,
		"livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": a.ProviderRef, "object": "payment_intent", "amount": amountMinor, "amount_received": amountMinor,
			"currency": strings.ToLower(po.Currency), "status": "succeeded", "payment_method_types": []string{a.Method},
			"metadata": map[string]string{"payment_order": po.Number, "attempt": a.ID},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprint(time.Now().Unix())
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return string(body), "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// signedStripeCharge builds a charge.succeeded event for an attempt's
// payment, signed with the webhook secret.
func signedStripeCharge(t testing.TB, secret, eventID string, po orderJSON, a attemptJSON, amountMinor int64) (string, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(), "type": "charge.succeeded",
		"livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": "ch_" + a.ID, "object": "charge", "amount": amountMinor, "amount_captured": amountMinor, "paid": true,
			"captured": true, "status": "succeeded", "currency": strings.ToLower(po.Currency), "payment_intent": a.ProviderRef,
			"metadata": map[string]string{"payment_order": po.Number, "attempt": a.ID},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprint(time.Now().Unix())
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return string(body), "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func postWebhook(t *testing.T, url, body, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/webhooks/stripe", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebhookSettlesOnce delivers one success event 20 times at once and a
// second event for the same payment: the order is paid once, with one
// ledger transaction, and every delivery is acknowledged.
func TestWebhookSettlesOnce(t *testing.T) {
	const secret = "whsec_test_settles_once"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAppWith(t, b, appConfig{stripeWebhookSecret: secret})
			po := ta.createOrder(t, methodCases[0]) // 12.50 + 7.25 EUR
			var a attemptJSON
			if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); status != 201 {
				t.Fatalf("attempt = %d", status)
			}
			body, sig := signedStripeEvent(t, secret, "evt_once_1", "payment_intent.succeeded", po, a, 1975)
			// Stripe also sends charge.succeeded for the same payment; the
			// two race each other, each delivered several times.
			cbody, csig := signedStripeCharge(t, secret, "evt_once_charge", po, a, 1975)
			var wg sync.WaitGroup
			statuses := make([]int, 30)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i%3 == 2 {
						statuses[i], _ = postWebhook(t, ta.url, cbody, csig)
						return
					}
					statuses[i], _ = postWebhook(t, ta.url, body, sig)
				}()
			}
			wg.Wait()
			for i, s := range statuses {
				if s != 200 {
					t.Fatalf("delivery %d = %d, want 200", i, s)
				}
			}
			// Another event for the same payment (Stripe also sends
			// charge.succeeded) settles nothing more.
			body2, sig2 := signedStripeEvent(t, secret, "evt_once_2", "payment_intent.succeeded", po, a, 1975)
			if s, out := postWebhook(t, ta.url, body2, sig2); s != 200 {
				t.Fatalf("second event = %d %s", s, out)
			}
			ctx := context.Background()
			var settled, stored, deliveries int
			ta.db.View(ctx, func(tx *storage.Tx) error {
				tx.Get(ctx, &settled, `SELECT COUNT(*) FROM ledger_transactions`)
				tx.Get(ctx, &stored, `SELECT COUNT(*) FROM webhook_events WHERE provider = 'stripe'`)
				return tx.Get(ctx, &deliveries, `SELECT deliveries FROM webhook_events WHERE event_id = 'evt_once_1'`)
			})
			if settled != 1 || stored != 3 || deliveries != 20 {
				t.Fatalf("ledger transactions %d, stored events %d, deliveries of the first %d; want 1, 3, 20", settled, stored, deliveries)
			}
			var got orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
			if got.Status != "paid" {
				t.Fatalf("order = %s, want paid", got.Status)
			}
		})
	}
}

// TestWebhookWrongAmountGoesToSuspense: a success of another amount does not
// pay the order; the money is held in platform:suspense.
func TestWebhookWrongAmountGoesToSuspense(t *testing.T) {
	const secret = "whsec_test_suspense"
	ta := startAppWith(t, storagetest.Backends(t)[0], appConfig{stripeWebhookSecret: secret})
	po := ta.createOrder(t, methodCases[0])
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
	body, sig := signedStripeEvent(t, secret, "evt_short", "payment_intent.succeeded", po, a, 1000)
	if s, out := postWebhook(t, ta.url, body, sig); s != 200 {
		t.Fatalf("event = %d %s", s, out)
	}
	var got orderJSON
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	if got.Status == "paid" {
		t.Fatal("an order paid 10.00 of 19.75 was marked paid")
	}
	ctx := context.Background()
	var suspense int64
	ta.db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &suspense, `SELECT credits - debits FROM ledger_account_totals WHERE name = 'platform:suspense' AND currency = 'EUR'`)
	})
	if suspense != 1000 {
		t.Fatalf("suspense holds %d, want 1000", suspense)
	}
}

// TestWebhookRefused: bad signatures, stale timestamps and bodies that do not
// parse are 400 and store nothing.
func TestWebhookRefused(t *testing.T) {
	const secret = "whsec_test_refused"
	ta := startAppWith(t, storagetest.Backends(t)[0], appConfig{stripeWebhookSecret: secret})
	po := ta.createOrder(t, methodCases[0])
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
	body, sig := signedStripeEvent(t, secret, "evt_x", "payment_intent.succeeded", po, a, 1975)
	stale := func() string {
		ts := fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + body))
		return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
	}()
	for _, c := range []struct{ name, body, sig string }{
		{"wrong secret", body, strings.Replace(sig, "v1=", "v1=0", 1)[:len(sig)]},
		{"altered body", strings.Replace(body, "1975", "9999", 1), sig},
		{"no signature", body, ""},
		{"stale", body, stale},
		{"over the size limit", `{"pad":"` + strings.Repeat("x", 300<<10) + `"}`, sig},
		{"not JSON", "not json", sig},
	} {
		want := 400
		if c.name == "over the size limit" {
			want = 413
		}
		if s, out := postWebhook(t, ta.url, c.body, c.sig); s != want {
			t.Errorf("%s = %d %s, want %d", c.name, s, out, want)
		}
	}
	ctx := context.Background()
	var stored int
	ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &stored, `SELECT COUNT(*) FROM webhook_events`) })
	if stored != 0 {
		t.Fatalf("refused webhooks stored %d events", stored)
	}
}

// TestLatePaymentGoesToBalance: the buyer switched methods and paid with the
// second; the first is paid as well. The order stays paid once, the second
// payment is credited to the buyer's balance, and finance sees an item.
func TestLatePaymentGoesToBalance(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[0]) // 19.75 EUR
			var first, second attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &first)
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &second)
			ta.pay(t, po, second)
			var out map[string]string
			if s := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/approve?attempt="+first.ID, nil, &out); s != 200 {
				t.Fatalf("late approve of the replaced attempt = %d %v", s, out)
			}
			var bal struct {
				Balances []struct{ Amount, Currency string } `json:"balances"`
			}
			if s := ta.call(t, "GET", "/v1/users/U1/balances", nil, &bal); s != 200 || len(bal.Balances) != 1 || bal.Balances[0].Amount != "19.75" {
				t.Fatalf("buyer balances = %d %+v, want 19.75 EUR", s, bal)
			}
			var items struct {
				Items []struct {
					Kind, Attempt, Amount string
				} `json:"items"`
			}
			if s := ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &items); s != 200 || len(items.Items) != 1 ||
				items.Items[0].Kind != "late_payment" || items.Items[0].Attempt != first.ID || items.Items[0].Amount != "19.75" {
				t.Fatalf("finance items = %d %+v", s, items)
			}
			if s := ta.call(t, "GET", "/v1/finance/items", nil, nil); s != 403 {
				t.Fatalf("finance items with the marketplace key = %d, want 403", s)
			}
			var trail struct {
				Events []struct {
					ProviderType, Outcome, Verification, Status string
				} `json:"events"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/webhooks/events?payment_order="+po.Number, nil, &trail)
			outcomes := map[string]int{}
			for _, e := range trail.Events {
				outcomes[e.Outcome]++
				if e.Status != "processed" {
					t.Errorf("event %+v not processed", e)
				}
			}
			if outcomes["paid"] != 1 || outcomes["late_payment"] != 1 {
				t.Fatalf("trail of %s: %+v, want one paid and one late payment", po.Number, trail.Events)
			}
			r, err := ledger.New(ta.db).Verify(context.Background(), verifyChecks()...)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %v %+v", err, r)
			}
		})
	}
}

// TestReplayCLI replays every stored event with the real binary: nothing
// changes, since each was applied already.
func TestReplayCLI(t *testing.T) {
	b := storagetest.Backends(t)[0]
	dsn := b.DSN(t)
	ta := startAppOn(t, dsn, appConfig{})
	po := ta.createOrder(t, methodCases[1])
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "paynow"}, &a)
	ta.pay(t, po, a)
	ctx := context.Background()
	count := func() (n int) {
		ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, `SELECT COUNT(*) FROM ledger_transactions`) })
		return n
	}
	before := count()
	out, err := exec.Command(binary, "webhooks", "replay", "--db", dsn, "--since", "2000-01-01T00:00:00Z").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "replayed 2 event(s)") {
		t.Fatalf("replay = %v\n%s", err, out)
	}
	if after := count(); after != before {
		t.Fatalf("replay changed the ledger: %d transactions, want %d", after, before)
	}
	if out, err := exec.Command(binary, "webhooks", "replay", "--db", dsn).CombinedOutput(); err == nil {
		t.Fatalf("replay without --id or --since succeeded:\n%s", out)
	}
}

// signStripe signs a body as Stripe does.
func signStripe(secret string, body []byte) string {
	ts := fmt.Sprint(time.Now().Unix())
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// TestRefundBeforeSuccess: Stripe's charge.refunded arrives before the
// payment's success. It is kept (deferred), and applied once the success is:
// finance gets an item, the order is paid once.
func TestRefundBeforeSuccess(t *testing.T) {
	const secret = "whsec_test_refund_order"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAppWith(t, b, appConfig{stripeWebhookSecret: secret})
			po := ta.createOrder(t, methodCases[0])
			var a attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
			refund, _ := json.Marshal(map[string]any{
				"id": "evt_refund_early", "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
				"type": "charge.refunded", "livemode": false,
				"data": map[string]any{"object": map[string]any{
					"id": "ch_1", "object": "charge", "amount": 1975, "amount_refunded": 500, "currency": "eur",
					"payment_intent": a.ProviderRef, "metadata": map[string]string{"payment_order": po.Number, "attempt": a.ID},
				}},
			})
			if s, out := postWebhook(t, ta.url, string(refund), signStripe(secret, refund)); s != 200 {
				t.Fatalf("refund = %d %s", s, out)
			}
			var trail struct {
				Events []struct {
					EventID string `json:"event_id"`
					Status  string `json:"status"`
					Outcome string `json:"outcome"`
				} `json:"events"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/webhooks/events?payment_order="+po.Number, nil, &trail)
			if len(trail.Events) != 1 || trail.Events[0].Status != "deferred" {
				t.Fatalf("refund before the payment: %+v, want it deferred", trail.Events)
			}
			body, sig := signedStripeEvent(t, secret, "evt_paid_after_refund", "payment_intent.succeeded", po, a, 1975)
			if s, out := postWebhook(t, ta.url, body, sig); s != 200 {
				t.Fatalf("success = %d %s", s, out)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				ta.callWith(t, testFinanceKey, "", "GET", "/v1/webhooks/events?payment_order="+po.Number, nil, &trail)
				statuses := map[string]string{}
				for _, e := range trail.Events {
					statuses[e.EventID] = e.Status + "/" + e.Outcome
				}
				if statuses["evt_refund_early"] == "processed/for_finance" && statuses["evt_paid_after_refund"] == "processed/paid" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("events of %s: %v", po.Number, statuses)
				}
				time.Sleep(20 * time.Millisecond)
			}
			var items struct {
				Items []struct{ Kind, Amount string } `json:"items"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &items)
			if len(items.Items) != 1 || items.Items[0].Kind != "provider_refund" || items.Items[0].Amount != "5.00" {
				t.Fatalf("finance items = %+v, want the 5.00 EUR refund", items.Items)
			}
		})
	}
}

// TestUnknownPaymentIsFlagged: a verified event for a payment paygate never
// created is stored and acknowledged, changes no money and is shown to
// finance.
func TestUnknownPaymentIsFlagged(t *testing.T) {
	const secret = "whsec_test_unknown"
	ta := startAppWith(t, storagetest.Backends(t)[0], appConfig{stripeWebhookSecret: secret})
	po := orderJSON{Number: "P99999999", Currency: "EUR"}
	a := attemptJSON{ID: "att_nobody", ProviderRef: "pi_never_created", Method: "ideal"}
	body, sig := signedStripeEvent(t, secret, "evt_unknown", "payment_intent.succeeded", po, a, 5000)
	if s, out := postWebhook(t, ta.url, body, sig); s != 200 {
		t.Fatalf("unknown payment = %d %s, want it acknowledged", s, out)
	}
	var items struct {
		Items []struct{ Kind, Amount, Reference string } `json:"items"`
	}
	ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &items)
	if len(items.Items) != 1 || items.Items[0].Kind != "unknown_payment" || items.Items[0].Reference != "stripe:evt_unknown" {
		t.Fatalf("finance items = %+v", items.Items)
	}
	ctx := context.Background()
	var n int
	ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, `SELECT COUNT(*) FROM ledger_transactions`) })
	if n != 0 {
		t.Fatalf("an unknown payment posted %d ledger transactions", n)
	}
}
