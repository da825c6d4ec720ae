package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/paygate/paygate/storage/storagetest"
)

// TestCarefulUser: what a careful user hit (issue 16, point 6), on both
// backends: a null or non-object body is a 400 saying a JSON object is
// wanted; the Bearer scheme's name is case-insensitive; a boleto payer's
// state must be Brazilian and the CEP 8 digits; declining or expiring a
// paid order at the sandbox is a 409 that changes nothing.
func TestCarefulUser(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			for _, body := range []string{`null`, `[]`, `"x"`, `7`} {
				var e apiError
				if s := ta.callBad(t, "POST", "/v1/payment-orders", body, &e); s != 400 || !strings.Contains(e.Error.Message, "must be a JSON object") {
					t.Errorf("POST /v1/payment-orders %s = %d %+v, want 400 saying a JSON object is wanted", body, s, e.Error)
				}
			}
			for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
				req, _ := http.NewRequest("GET", ta.url+"/v1/users/U1/balances", nil)
				req.Header.Set("Authorization", scheme+" "+testAPIKey)
				resp, err := ta.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("Authorization: %s <key> = %d, want 200", scheme, resp.StatusCode)
				}
			}
			po := ta.createOrder(t, methodCase{method: "boleto", currency: "BRL", amounts: []string{"50.00"}})
			for _, c := range []struct{ state, cep, want string }{
				{"XX", "01310-100", "state"}, {"São Paulo", "01310-100", "state"}, {"SP", "1", "postal code"}, {"SP", "0131-0100x", "postal code"},
			} {
				var e apiError
				body := map[string]any{"method": "boleto", "payer": map[string]any{"name": "Maria Silva", "email": "maria@example.com", "tax_id": "529.982.247-25",
					"address": map[string]any{"line1": "Av. Paulista 1000", "city": "São Paulo", "state": c.state, "postal_code": c.cep, "country": "BR"}}}
				if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &e); s != 400 || !strings.Contains(e.Error.Message, c.want) {
					t.Errorf("boleto payer state %q CEP %q = %d %+v, want 400 naming the %s", c.state, c.cep, s, e.Error, c.want)
				}
			}
			paid := paidOrder(t, ta, 1)
			for _, action := range []string{"decline", "expire"} {
				var e apiError
				if s := ta.call(t, "POST", "/sandbox/payment-orders/"+paid.Number+"/"+action, nil, &e); s != 409 {
					t.Errorf("%s of a paid order = %d %+v, want 409", action, s, e.Error)
				}
			}
			var after orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+paid.Number, nil, &after)
			if after.Status != "paid" {
				t.Errorf("the paid order is %s after the refused decline and expire", after.Status)
			}
		})
	}
}
