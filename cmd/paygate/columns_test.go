package main

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestFinanceItemPaymentRef: an event for a payment paygate never created
// opens an item whose payment_ref column names the payment; the API shows
// it, and the finance page's "Settle from provider" form takes it from the
// column, not from the description (edited here to name nothing).
func TestFinanceItemPaymentRef(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			const secret = "whsec_test_payment_ref"
			ta := startAppWith(t, b, appConfig{stripeWebhookSecret: secret})
			po := orderJSON{Number: "P99999998", Currency: "EUR"}
			a := attemptJSON{ID: "att_nobody", ProviderRef: "pi_column_ref_1", Method: "ideal"}
			body, sig := signedStripeEvent(t, secret, "evt_column_ref", "payment_intent.succeeded", po, a, 5000)
			if s, out := postWebhook(t, ta.url, body, sig); s != 200 {
				t.Fatalf("unknown payment = %d %s", s, out)
			}
			var items struct {
				Items []struct {
					ID                                int64
					Kind, Reference, Provider, Amount string
					PaymentRef                        string `json:"payment_ref"`
				} `json:"items"`
			}
			ta.callWith(t, testFinanceKey, "", "GET", "/v1/finance/items", nil, &items)
			if len(items.Items) != 1 || items.Items[0].Kind != "unknown_payment" || items.Items[0].PaymentRef != a.ProviderRef {
				t.Fatalf("finance items = %+v, want one unknown_payment with payment_ref %s", items.Items, a.ProviderRef)
			}
			ctx := context.Background()
			var ref string
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if err := tx.Get(ctx, &ref, `SELECT payment_ref FROM finance_items WHERE id = ?`, items.Items[0].ID); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE finance_items SET description = 'an unknown payment' WHERE id = ?`, items.Items[0].ID)
				return err
			})
			if err != nil || ref != a.ProviderRef {
				t.Fatalf("finance_items.payment_ref = %q, %v; want %q", ref, err, a.ProviderRef)
			}
			fc := newFinanceClient(t, ta)
			if status, _ := fc.login(testFinanceKey); status != 303 {
				t.Fatalf("login = %d", status)
			}
			page := fc.page("/finance/items")
			m := regexp.MustCompile(`name="payment_ref" value="([^"]*)"`).FindStringSubmatch(page)
			if m == nil || html.UnescapeString(m[1]) != a.ProviderRef {
				t.Fatalf("the items page's settle form = %v, want payment_ref %s:\n%s", m, a.ProviderRef, page)
			}
			// The action checks the form's reference against the column.
			status, out, _ := fc.post("/finance/items/"+strconv.FormatInt(items.Items[0].ID, 10)+"/settle", url.Values{"csrf": {fc.csrf(page)}, "payment_ref": {"pi_other"}})
			if status != 400 || !strings.Contains(out, "another payment") {
				t.Errorf("settle with another payment's reference = %d, want 400 naming another payment:\n%s", status, out)
			}
		})
	}
}
