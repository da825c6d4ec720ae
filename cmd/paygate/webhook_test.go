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
	"strings"
	"sync"
	"testing"
	"time"

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
			var wg sync.WaitGroup
			statuses := make([]int, 20)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
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
			if settled != 1 || stored != 2 || deliveries != 20 {
				t.Fatalf("ledger transactions %d, stored events %d, deliveries of the first %d; want 1, 2, 20", settled, stored, deliveries)
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
		return tx.Get(ctx, &suspense, `SELECT credits - debits FROM ledger_accounts WHERE name = 'platform:suspense' AND currency = 'EUR'`)
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
	} {
		if s, out := postWebhook(t, ta.url, c.body, c.sig); s != 400 {
			t.Errorf("%s = %d %s, want 400", c.name, s, out)
		}
	}
	ctx := context.Background()
	var stored int
	ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &stored, `SELECT COUNT(*) FROM webhook_events`) })
	if stored != 0 {
		t.Fatalf("refused webhooks stored %d events", stored)
	}
}
