package main

import (
	"testing"

	"github.com/paygate/paygate/storage/storagetest"
)

// TestSandboxAPIFaults sets the Stripe simulator's API faults through
// PUT /sandbox/faults/stripe and sees paygate's Stripe calls suffer them.
func TestSandboxAPIFaults(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			var f map[string]any
			if status := ta.callBad(t, "PUT", "/sandbox/faults/stripe", map[string]any{"api": "sideways"}, nil); status != 400 {
				t.Fatalf("PUT an unknown api fault = %d, want 400", status)
			}
			if status := ta.callBad(t, "PUT", "/sandbox/faults/stripe", map[string]any{"api": "slow"}, nil); status != 400 {
				t.Fatalf("PUT slow without api_delay = %d, want 400", status)
			}
			if status := ta.call(t, "PUT", "/sandbox/faults/stripe", map[string]any{"api": "slow", "api_delay": "150ms"}, &f); status != 200 ||
				f["api"] != "slow" || f["api_delay"] != float64(150e6) {
				t.Fatalf("PUT slow = %d %v, want api_delay in nanoseconds", status, f)
			}

			if status := ta.call(t, "PUT", "/sandbox/faults/stripe", map[string]any{"api": "error"}, &f); status != 200 {
				t.Fatalf("PUT error = %d", status)
			}
			po := ta.createOrder(t, methodCases[0])
			var fail map[string]any
			if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &fail); status != 503 {
				t.Fatalf("attempt while Stripe answers 500 = %d %v, want 503", status, fail)
			}
			if status := ta.call(t, "PUT", "/sandbox/faults/stripe", map[string]any{"api": "down"}, &f); status != 200 {
				t.Fatalf("PUT down = %d", status)
			}
			if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &fail); status != 503 {
				t.Fatalf("attempt while Stripe is down = %d %v, want 503", status, fail)
			}
			if status := ta.call(t, "PUT", "/sandbox/faults/stripe", map[string]any{}, &f); status != 200 || f["api"] != "" {
				t.Fatalf("PUT {} = %d %v", status, f)
			}
			var a attemptJSON
			if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); status != 201 || a.Status != "pending" {
				t.Fatalf("attempt after the fault = %d %+v, want a pending attempt", status, a)
			}
		})
	}
}
