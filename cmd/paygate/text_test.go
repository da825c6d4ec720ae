package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/paygate/paygate/storage/storagetest"
)

// TestControlCharactersRefused: free text with NUL or another control
// character — an item's description, a payout's beneficiary or bank
// reference, a refund's reason — is a 400 naming the field, the same on
// SQLite and PostgreSQL (which cannot store NUL: it was a 500 there), and
// changes nothing.
func TestControlCharactersRefused(t *testing.T) {
	cases := []struct {
		key, path, body, field string
	}{
		{testAPIKey, "/v1/payment-orders", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"sword\u0000"}],"return_url":"https://shop.example/r"}`, "items[0].description"},
		{testAPIKey, "/v1/payment-orders", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"a\u001b[31m"}],"return_url":"https://shop.example/r"}`, "items[0].description"},
		{testFinanceKey, "/v1/users/U1/payouts", `{"amount":"1.00","currency":"EUR","beneficiary":"Kim\u0000","bank_reference":"NL91"}`, "beneficiary"},
		{testFinanceKey, "/v1/users/U1/payouts", `{"amount":"1.00","currency":"EUR","beneficiary":"Kim","bank_reference":"NL\u000091"}`, "bank_reference"},
		{testFinanceKey, "/v1/users/U1/refunds-to-source", `{"amount":"1.00","currency":"EUR","reason":"x\u0000"}`, "reason"},
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			before := readTables(t, ta.db, "idempotency_requests")
			for i, c := range cases {
				var e apiError
				status := ta.callWith(t, c.key, "ctl-"+string(rune('a'+i)), http.MethodPost, c.path, c.body, &e)
				if status != http.StatusBadRequest || e.Error.Code != "invalid" || !strings.HasPrefix(e.Error.Message, c.field+" must not contain control characters") {
					t.Errorf("POST %s %s = %d %+v, want 400 naming %s", c.path, c.body, status, e.Error, c.field)
				}
			}
			after := readTables(t, ta.db, "idempotency_requests")
			for name, tr := range after {
				if len(tr.rows) != len(before[name].rows) {
					t.Errorf("table %s went from %d to %d rows after refused requests", name, len(before[name].rows), len(tr.rows))
				}
			}
		})
	}
}
