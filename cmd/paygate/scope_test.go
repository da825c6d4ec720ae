package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestKeyScopes: an issued key does only what its scope allows. A read key
// reads and gets 403 on every POST, which changes nothing; a payments key
// creates payment orders and starts provider attempts, but gets 403 paying
// from the buyer's balance and acting on sales orders; a full key (and the
// static key) does everything. A read finance key cannot refund, pay out or
// sign in to the finance pages.
func TestKeyScopes(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			ctx := context.Background()
			mk := func(role server.Role, scope server.Scope, name string) string {
				t.Helper()
				k, _, err := ta.app.apiKeys.CreateScoped(ctx, role, scope, name)
				if err != nil {
					t.Fatalf("create a %s %s key: %v", scope, role, err)
				}
				return k
			}
			readKey := mk(server.RoleMarketplace, server.ScopeRead, "reporting")
			payKey := mk(server.RoleMarketplace, server.ScopePayments, "storefront")
			fullKey := mk(server.RoleMarketplace, server.ScopeFull, "backend")
			finRead := mk(server.RoleFinance, server.ScopeRead, "auditor")
			if _, _, err := ta.app.apiKeys.CreateScoped(ctx, server.RoleFinance, server.ScopePayments, "x"); paygate.ErrorCode(err) != paygate.EINVALID {
				t.Errorf("a payments-scoped finance key: %v, want EINVALID", err)
			}
			if _, _, err := ta.app.apiKeys.CreateScoped(ctx, server.RoleMarketplace, "admin", "x"); paygate.ErrorCode(err) != paygate.EINVALID {
				t.Errorf("a key of scope admin: %v, want EINVALID", err)
			}
			po := refundedBuyer(t, ta, methodCases[0]) // U1 holds the order's amount as balance
			order := map[string]any{"buyer_id": "U1", "currency": "EUR", "return_url": "https://shop.example/done",
				"items": []map[string]any{{"seller_id": "S9", "amount": "1.00", "description": "a sword"}}}
			countOrders := func() int {
				t.Helper()
				var n int
				if err := ta.db.View(ctx, func(tx *storage.Tx) error {
					return tx.Get(ctx, &n, `SELECT COUNT(*) FROM payment_orders`)
				}); err != nil {
					t.Fatal(err)
				}
				return n
			}
			call := func(key, method, path string, body any, out any) int {
				t.Helper()
				return ta.callWith(t, key, fmt.Sprintf("scope-%d", ta.key.Add(1)), method, path, body, out)
			}

			// read: GET only.
			if s := call(readKey, http.MethodGet, "/v1/users/U1/balances", nil, nil); s != http.StatusOK {
				t.Errorf("read key GET balances = %d, want 200", s)
			}
			before := countOrders()
			var e apiError
			if s := call(readKey, http.MethodPost, "/v1/payment-orders", order, &e); s != http.StatusForbidden || e.Error.Code != "forbidden" {
				t.Errorf("read key POST /v1/payment-orders = %d %+v, want 403", s, e)
			}
			if s := call(readKey, http.MethodPost, "/v1/sales-orders/"+po.Items[0].Number+"/confirm", map[string]any{"user_id": "U1"}, nil); s != http.StatusForbidden {
				t.Errorf("read key POST confirm = %d, want 403", s)
			}
			if n := countOrders(); n != before {
				t.Errorf("a read key's refused POST created %d payment orders", n-before)
			}

			// payments: create an order and start a provider attempt, but
			// not pay from the balance nor act on sales orders.
			var created orderJSON
			if s := call(payKey, http.MethodPost, "/v1/payment-orders", order, &created); s != http.StatusCreated {
				t.Fatalf("payments key POST /v1/payment-orders = %d, want 201", s)
			}
			if s := call(payKey, http.MethodPost, "/v1/payment-orders/"+created.Number+"/attempts", map[string]any{"method": "balance"}, &e); s != http.StatusForbidden {
				t.Errorf("payments key paying with the balance = %d %+v, want 403", s, e)
			}
			if bal := ta.balanceIn(t, "U1", "EUR"); bal != "19.75" {
				t.Errorf("U1's balance after the refused balance payment = %s, want 19.75", bal)
			}
			if s := call(payKey, http.MethodPost, "/v1/payment-orders/"+created.Number+"/attempts", map[string]any{"method": "ideal"}, nil); s != http.StatusCreated {
				t.Errorf("payments key starting an iDEAL attempt = %d, want 201", s)
			}
			if s := call(payKey, http.MethodPost, "/v1/sales-orders/"+po.Items[0].Number+"/confirm", map[string]any{"user_id": "U1"}, nil); s != http.StatusForbidden {
				t.Errorf("payments key POST confirm = %d, want 403", s)
			}
			if s := call(payKey, http.MethodGet, "/v1/payment-orders/"+created.Number, nil, nil); s != http.StatusOK {
				t.Errorf("payments key GET its order = %d, want 200", s)
			}

			// full: the balance payment goes through.
			var second orderJSON
			if s := call(fullKey, http.MethodPost, "/v1/payment-orders", order, &second); s != http.StatusCreated {
				t.Fatalf("full key POST /v1/payment-orders = %d", s)
			}
			if s := call(fullKey, http.MethodPost, "/v1/payment-orders/"+second.Number+"/attempts", map[string]any{"method": "balance"}, nil); s != http.StatusCreated {
				t.Errorf("full key paying with the balance = %d, want 201", s)
			}

			// A read finance key reads, and moves nothing.
			if s := call(finRead, http.MethodGet, "/v1/finance/trial-balance", nil, nil); s != http.StatusOK {
				t.Errorf("read finance key GET trial balance = %d, want 200", s)
			}
			if s := call(finRead, http.MethodPost, "/v1/users/U1/refunds-to-source", map[string]any{"amount": "1.00", "currency": "EUR", "reason": "x"}, nil); s != http.StatusForbidden {
				t.Errorf("read finance key refund to source = %d, want 403", s)
			}
			if s, _ := newFinanceClient(t, ta).loginAs("eve", finRead); s != http.StatusForbidden {
				t.Errorf("finance login with a read key = %d, want 403", s)
			}
		})
	}
}
