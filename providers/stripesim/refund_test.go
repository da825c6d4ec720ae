package stripesim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// rawClient is a bare stripe-go client of the simulator, for what
// paygate's client refuses to send.
func (e *faultEnv) rawClient() *client.API {
	sc := &client.API{}
	sc.Init(faultKey, stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL:               stripego.String(e.base),
		HTTPClient:        &http.Client{Timeout: 5 * time.Second},
		MaxNetworkRetries: stripego.Int64(0),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
	}))
	return sc
}

// paid creates an iDEAL payment of 10.50 EUR and approves it.
func (e *faultEnv) paid(t *testing.T) providers.Payment {
	t.Helper()
	p := e.pay(t)
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	eventually(t, "the payment's events", func() bool { return len(e.ep.received()) == 2 })
	return p
}

func refundOf(p providers.Payment, minor int64, id string) providers.RefundRequest {
	return providers.RefundRequest{
		PaymentRef: p.Ref, Amount: paygate.New(minor, p.Amount.Currency),
		IdempotencyKey: "refund:" + id, Reason: "item returned", Refund: id,
	}
}

// hooksAfter returns the events received after the first n, once there
// are n+want of them.
func (e *faultEnv) hooksAfter(t *testing.T, n, want int) []providers.Event {
	t.Helper()
	eventually(t, fmt.Sprintf("%d more events", want), func() bool { return len(e.ep.received()) >= n+want })
	e.idle(t) // and no more
	hooks := e.ep.received()
	if len(hooks) != n+want {
		t.Fatalf("received %d events after the first %d (%q), want %d", len(hooks)-n, n, types(hooks[n:]), want)
	}
	var out []providers.Event
	for _, h := range hooks[n:] {
		out = append(out, h.Event)
	}
	return out
}

func wantStripeError(t *testing.T, what string, err error, status int, code stripego.ErrorCode) {
	t.Helper()
	var se *stripego.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != status || se.Code != code {
		t.Fatalf("%s: error %v, want %d %s", what, err, status, code)
	}
}

// TestRefund refunds an iDEAL payment in two parts with paygate's client
// and checks the simulator's answers and webhooks, verified by ParseWebhook.
func TestRefund(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	p := e.paid(t)

	first, err := e.client.Refund(ctx, refundOf(p, 400, "RF-1"))
	if err != nil {
		t.Fatalf("Refund(4.00) = %v", err)
	}
	if first.Status != providers.RefundSucceeded || first.Amount != paygate.New(400, paygate.EUR) || first.Ref == "" {
		t.Fatalf("Refund(4.00) = %+v, want a succeeded refund of 4.00 EUR", first)
	}
	evs := e.hooksAfter(t, 2, 2)
	want := []providers.Event{
		// charge.refunded: everything refunded so far, no refund id.
		{Type: providers.EventRefunded, ProviderType: "charge.refunded", PaymentRef: p.Ref, PaymentOrder: "P12345678", Attempt: "A-1",
			Amount: paygate.New(400, paygate.EUR), RefundedTotal: true},
		{Type: providers.EventRefunded, ProviderType: "refund.updated", PaymentRef: p.Ref, Refund: "RF-1", Amount: paygate.New(400, paygate.EUR)},
	}
	for i, ev := range evs {
		w := want[i]
		w.ID, w.OccurredAt, w.Verification = ev.ID, ev.OccurredAt, ev.Verification
		if ev != w {
			t.Errorf("event %d = %+v,\nwant %+v", i, ev, w)
		}
	}

	// A retry with the same key is the same refund: nothing more happens.
	again, err := e.client.Refund(ctx, refundOf(p, 400, "RF-1"))
	if err != nil || again != first {
		t.Fatalf("Refund(retry) = %+v, %v, want %+v", again, err, first)
	}

	// More than is left is Stripe's refusal.
	_, err = e.client.Refund(ctx, refundOf(p, 651, "RF-2"))
	wantCode(t, "Refund(6.51 of 6.50 left)", err, paygate.EINVALID)

	second, err := e.client.Refund(ctx, refundOf(p, 650, "RF-3"))
	if err != nil || second.Status != providers.RefundSucceeded || second.Ref == first.Ref {
		t.Fatalf("Refund(the rest) = %+v, %v", second, err)
	}
	evs = e.hooksAfter(t, 4, 2)
	if evs[0].ProviderType != "charge.refunded" || evs[0].Amount != paygate.New(1050, paygate.EUR) ||
		evs[1].Type != providers.EventRefunded || evs[1].Refund != "RF-3" || evs[1].Amount != paygate.New(650, paygate.EUR) {
		t.Fatalf("events of the second refund = %+v", evs)
	}

	// Nothing is left.
	_, err = e.client.Refund(ctx, refundOf(p, 1, "RF-4"))
	wantCode(t, "Refund(of a refunded payment)", err, paygate.ECONFLICT)

	sc := e.rawClient()
	r, err := sc.Refunds.Get(second.Ref, nil)
	if err != nil || r.Status != stripego.RefundStatusSucceeded || r.Amount != 650 || r.PaymentIntent.ID != p.Ref ||
		r.Metadata["refund"] != "RF-3" || r.Metadata["refund_reason"] != "item returned" || r.Reason != stripego.RefundReasonRequestedByCustomer {
		t.Fatalf("refunds.Get = %+v, %v", r, err)
	}
	pi, err := sc.PaymentIntents.Get(p.Ref, &stripego.PaymentIntentParams{Params: stripego.Params{Expand: []*string{stripego.String("latest_charge")}}})
	if err != nil || pi.LatestCharge.AmountRefunded != 1050 || !pi.LatestCharge.Refunded {
		t.Fatalf("latest_charge after refunds = %+v, %v, want 10.50 refunded", pi.LatestCharge, err)
	}
	_, err = sc.Refunds.Get("re_unknown", nil)
	wantStripeError(t, "refunds.Get(unknown)", err, 404, stripego.ErrorCodeResourceMissing)

	// Redeliver resends the refunds' events too.
	before := len(e.ep.received())
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatalf("Redeliver = %v", err)
	}
	if got := types(e.ep.received()[before:]); fmt.Sprint(got) != "[payment_intent.succeeded charge.succeeded charge.refunded refund.updated charge.refunded refund.updated]" {
		t.Fatalf("Redeliver sent %q", got)
	}
}

// TestRefundFailed: FailNextRefund makes the payer's bank refuse a refund;
// the money stays, and can be refunded again.
func TestRefundFailed(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	p := e.paid(t)

	e.sim.FailNextRefund()
	got, err := e.client.Refund(ctx, refundOf(p, 1050, "RF-1"))
	if err != nil || got.Status != providers.RefundPending {
		t.Fatalf("Refund = %+v, %v, want pending", got, err)
	}
	evs := e.hooksAfter(t, 2, 1)
	ev := evs[0]
	if ev.Type != providers.EventRefundFailed || ev.ProviderType != "refund.updated" || ev.Refund != "RF-1" ||
		ev.PaymentRef != p.Ref || ev.FailureReason != "declined" || ev.Amount != paygate.New(1050, paygate.EUR) {
		t.Fatalf("event = %+v, want refund.failed of RF-1, declined", ev)
	}
	r, err := e.rawClient().Refunds.Get(got.Ref, nil)
	if err != nil || r.Status != stripego.RefundStatusFailed || r.FailureReason != "declined" {
		t.Fatalf("refunds.Get = %+v, %v, want failed", r, err)
	}

	// The failure is used up; the whole amount is still refundable.
	again, err := e.client.Refund(ctx, refundOf(p, 1050, "RF-2"))
	if err != nil || again.Status != providers.RefundSucceeded {
		t.Fatalf("Refund after a failed one = %+v, %v, want succeeded", again, err)
	}
}

// TestRefundBoleto: paygate's client never asks; the simulator refuses as
// Stripe would.
func TestRefundBoleto(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	p, err := e.client.CreatePayment(ctx, providers.PaymentRequest{
		Method: providers.Boleto, Amount: paygate.New(15000, paygate.BRL), PaymentOrder: "P12345678",
		Attempt: "A-B", IdempotencyKey: "attempt:A-B",
		Payer: providers.Payer{Name: "Maria da Silva", Email: "maria@example.com", TaxID: "52998224725",
			Address: providers.Address{Line1: "Av. Paulista, 1000", City: "São Paulo", State: "SP", PostalCode: "01310-100", Country: "BR"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Refund(ctx, refundOf(p, 15000, "RF-1"))
	if !providers.IsUnsupported(err) {
		t.Fatalf("Refund(boleto) = %v, want ErrUnsupported", err)
	}
	_, err = e.rawClient().Refunds.New(&stripego.RefundParams{PaymentIntent: stripego.String(p.Ref)})
	wantStripeError(t, "refunds.New(boleto)", err, 400, stripego.ErrorCodeChargeNotRefundable)
}

func TestRefundRefused(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	pending := e.pay(t)
	_, err := e.client.Refund(ctx, refundOf(pending, 100, "RF-1"))
	wantCode(t, "Refund(pending payment)", err, paygate.ECONFLICT)

	sc := e.rawClient()
	_, err = sc.Refunds.New(&stripego.RefundParams{PaymentIntent: stripego.String(pending.Ref)})
	wantStripeError(t, "refunds.New(pending payment)", err, 400, stripego.ErrorCodePaymentIntentUnexpectedState)

	paid := e.paid(t)
	for _, tc := range []struct {
		name   string
		params *stripego.RefundParams
		code   stripego.ErrorCode
	}{
		{"neither payment_intent nor charge", &stripego.RefundParams{Amount: stripego.Int64(100)}, stripego.ErrorCodeParameterMissing},
		{"unknown payment_intent", &stripego.RefundParams{PaymentIntent: stripego.String("pi_unknown")}, stripego.ErrorCodeResourceMissing},
		{"zero amount", &stripego.RefundParams{PaymentIntent: stripego.String(paid.Ref), Amount: stripego.Int64(0)}, stripego.ErrorCodeAmountTooSmall},
		{"over the amount", &stripego.RefundParams{PaymentIntent: stripego.String(paid.Ref), Amount: stripego.Int64(1051)}, stripego.ErrorCodeAmountTooLarge},
		{"free-text reason", &stripego.RefundParams{PaymentIntent: stripego.String(paid.Ref), Reason: stripego.String("because")}, ""},
		{"another currency", &stripego.RefundParams{PaymentIntent: stripego.String(paid.Ref), Currency: stripego.String("sgd")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.Refunds.New(tc.params)
			wantStripeError(t, "refunds.New", err, 400, tc.code)
		})
	}

	// Without an amount, the rest is refunded.
	r, err := sc.Refunds.New(&stripego.RefundParams{PaymentIntent: stripego.String(paid.Ref)})
	if err != nil || r.Amount != 1050 || r.Status != stripego.RefundStatusSucceeded {
		t.Fatalf("refunds.New(no amount) = %+v, %v, want all 10.50 refunded", r, err)
	}
}
