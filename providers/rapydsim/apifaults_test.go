package rapydsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapydsim"
	"github.com/paygate/paygate/providers/simkit"
)

// TestAPIFaults runs each API fault through the rapyd client.
func TestAPIFaults(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, options{})
	set := func(f rapydsim.Faults) {
		t.Helper()
		if err := e.sim.SetFaults(f); err != nil {
			t.Fatal(err)
		}
	}

	set(rapydsim.Faults{API: simkit.APIDown})
	_, err := e.client.CreatePayment(ctx, request(providers.KakaoPay, "att_down", 15000))
	wantCode(t, "CreatePayment while down", err, paygate.EUNAVAILABLE)

	set(rapydsim.Faults{API: simkit.APIError})
	_, err = e.client.CreatePayment(ctx, request(providers.KakaoPay, "att_error", 15000))
	wantCode(t, "CreatePayment during errors", err, paygate.EUNAVAILABLE)

	set(rapydsim.Faults{API: simkit.APISlow, APIDelay: 200 * time.Millisecond})
	start := time.Now()
	p := e.create(t, providers.SamsungPay, "att_slow")
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("slow create took %s, want at least 200ms", took)
	}

	set(rapydsim.Faults{API: simkit.APITimeoutAfterCreate, APIDelay: 10 * time.Second})
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	req := request(providers.KakaoPay, "att_lost", 15000)
	_, err = e.client.CreatePayment(short, req)
	wantCode(t, "CreatePayment whose answer is lost", err, paygate.EUNAVAILABLE)
	// Lookups answer, and the retry of the create finds the payment made.
	if got, err := e.client.GetPayment(ctx, p.Ref); err != nil || got.Ref != p.Ref {
		t.Fatalf("GetPayment during timeout_after_create = %+v, %v", got, err)
	}
	again, err := e.client.CreatePayment(ctx, req)
	if err != nil || again.Status != providers.StatusPending {
		t.Fatalf("retried create = %+v, %v, want the pending payment", again, err)
	}
	if u := e.sim.Usage(); u.Payments != 2 {
		t.Errorf("the simulator holds %d payments, want 2 (the slow one and the lost one, once)", u.Payments)
	}

	set(rapydsim.Faults{})
	e.create(t, providers.KakaoPay, "att_ok")
}
