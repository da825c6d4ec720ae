package rapydsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

// paid creates a 15000 KRW payment of m and approves it.
func (e *env) paid(t *testing.T, m providers.Method, attempt string) providers.Payment {
	t.Helper()
	p := e.create(t, m, attempt)
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	return p
}

func refundOf(p providers.Payment, won int64, id string) providers.RefundRequest {
	return providers.RefundRequest{
		PaymentRef: p.Ref, Amount: paygate.New(won, paygate.KRW),
		IdempotencyKey: "refund:" + id, Reason: "item returned", Refund: id,
	}
}

// refundEvents waits for n webhooks of type typ and returns their events.
func (e *env) refundEvents(t *testing.T, typ string, n int) []providers.Event {
	t.Helper()
	waitFor(t, typ, func() bool { return len(e.recv.ofType(typ)) >= n })
	var out []providers.Event
	for _, d := range e.recv.ofType(typ) {
		out = append(out, d.Events[0])
	}
	return out
}

// rawRefund posts a refund signed with the test keys, as a client other
// than paygate's might.
func (e *env) rawRefund(t *testing.T, body string) (int, apiResponse) {
	t.Helper()
	return do(t, http.MethodPost, e.base+"/v1/refunds", signedHeader(http.MethodPost, "/v1/refunds", time.Now().Unix(), []byte(body)), []byte(body))
}

func TestRefund(t *testing.T) {
	for _, m := range []providers.Method{providers.KakaoPay, providers.SamsungPay} {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, options{})
			ctx := context.Background()
			p := e.paid(t, m, "A-1")

			first, err := e.client.Refund(ctx, refundOf(p, 5000, "RF-1"))
			if err != nil {
				t.Fatalf("Refund(5000) = %v", err)
			}
			if first.Status != providers.RefundPending || first.Amount != paygate.New(5000, paygate.KRW) || !strings.HasPrefix(first.Ref, "refund_") {
				t.Fatalf("Refund(5000) = %+v, want a pending refund_… of 5000 KRW", first)
			}
			ev := e.refundEvents(t, "REFUND_COMPLETED", 1)[0]
			want := providers.Event{ID: ev.ID, Type: providers.EventRefunded, ProviderType: "REFUND_COMPLETED", PaymentRef: p.Ref,
				Refund: "RF-1", Amount: paygate.New(5000, paygate.KRW), OccurredAt: ev.OccurredAt, Verification: ev.Verification}
			if ev != want || !strings.HasPrefix(ev.ID, "wh_") {
				t.Fatalf("REFUND_COMPLETED event = %+v, want %+v", ev, want)
			}

			// A retry finds the refund in the payment and makes no other:
			// the simulator, like Rapyd by default, does not replay refunds
			// by their idempotency header.
			again, err := e.client.Refund(ctx, refundOf(p, 5000, "RF-1"))
			want2 := providers.Refund{Ref: first.Ref, Status: providers.RefundSucceeded, Amount: first.Amount}
			if err != nil || again != want2 {
				t.Fatalf("Refund(retry) = %+v, %v, want %+v", again, err, want2)
			}

			second, err := e.client.Refund(ctx, refundOf(p, 10000, "RF-2"))
			if err != nil || second.Ref == first.Ref {
				t.Fatalf("Refund(the rest) = %+v, %v", second, err)
			}
			evs := e.refundEvents(t, "REFUND_COMPLETED", 2)
			if evs[1].Refund != "RF-2" || evs[1].Amount != paygate.New(10000, paygate.KRW) {
				t.Fatalf("second REFUND_COMPLETED event = %+v", evs[1])
			}

			// Nothing is left: the client refuses from refunded_amount,
			// the simulator from its refunds.
			_, err = e.client.Refund(ctx, refundOf(p, 1, "RF-3"))
			wantCode(t, "Refund(of a refunded payment)", err, paygate.EINVALID)
			status, out := e.rawRefund(t, `{"payment":"`+p.Ref+`","amount":1}`)
			if status != http.StatusBadRequest || out.Status.ErrorCode != "ERROR_CREATE_REFUND" {
				t.Fatalf("POST /v1/refunds over the amount = %d %+v, want 400 ERROR_CREATE_REFUND", status, out.Status)
			}

			// The payment lists its refunds, newest first, and what they refunded.
			status, out = do(t, http.MethodGet, e.base+"/v1/payments/"+p.Ref, signedHeader(http.MethodGet, "/v1/payments/"+p.Ref, time.Now().Unix(), nil), nil)
			var pay struct {
				Status         string `json:"status"`
				Refunded       bool   `json:"refunded"`
				RefundedAmount int64  `json:"refunded_amount"`
				Refunds        struct {
					Data []struct {
						Status              string `json:"status"`
						MerchantReferenceID string `json:"merchant_reference_id"`
					} `json:"data"`
					TotalCount int `json:"total_count"`
				} `json:"refunds"`
			}
			if err := json.Unmarshal(out.Data, &pay); err != nil || status != http.StatusOK {
				t.Fatalf("GET payment = %d %s: %v", status, out.Data, err)
			}
			if pay.Status != "CLO" || !pay.Refunded || pay.RefundedAmount != 15000 || pay.Refunds.TotalCount != 2 ||
				pay.Refunds.Data[0].MerchantReferenceID != "RF-2" || pay.Refunds.Data[1].MerchantReferenceID != "RF-1" ||
				pay.Refunds.Data[0].Status != "Completed" {
				t.Fatalf("payment after refunds = %+v", pay)
			}
			// GetPayment still says paid: a refund does not unpay it.
			if got, err := e.client.GetPayment(ctx, p.Ref); err != nil || got.Status != providers.StatusSucceeded {
				t.Fatalf("GetPayment = %+v, %v", got, err)
			}

			// Redeliver resends the refunds' webhooks with the payment's.
			before := len(e.recv.ofType("REFUND_COMPLETED"))
			if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
				t.Fatalf("Redeliver = %v", err)
			}
			if got := len(e.recv.ofType("REFUND_COMPLETED")); got != before+2 {
				t.Fatalf("Redeliver sent %d REFUND_COMPLETED, want 2", got-before)
			}
		})
	}
}

func TestRefundRejected(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	p := e.paid(t, providers.KakaoPay, "A-1")

	e.sim.FailNextRefund()
	got, err := e.client.Refund(ctx, refundOf(p, 15000, "RF-1"))
	if err != nil || got.Status != providers.RefundPending {
		t.Fatalf("Refund = %+v, %v, want pending", got, err)
	}
	ev := e.refundEvents(t, "PAYMENT_REFUND_REJECTED", 1)[0]
	if ev.Type != providers.EventRefundFailed || ev.Refund != "RF-1" || ev.PaymentRef != p.Ref ||
		ev.Amount != paygate.New(15000, paygate.KRW) || !strings.Contains(ev.FailureReason, "rejected the refund") {
		t.Fatalf("PAYMENT_REFUND_REJECTED event = %+v", ev)
	}
	if n := len(e.recv.ofType("REFUND_COMPLETED")); n != 0 {
		t.Fatalf("%d REFUND_COMPLETED for a rejected refund", n)
	}

	// A retry of the same refund finds it rejected: it is not made again.
	again, err := e.client.Refund(ctx, refundOf(p, 15000, "RF-1"))
	if err != nil || again.Ref != got.Ref || again.Status != providers.RefundFailed || !strings.Contains(again.FailureReason, "rejected the refund") {
		t.Fatalf("Refund(retry of the rejected one) = %+v, %v", again, err)
	}
	// The money is still there: a new refund of all of it completes.
	other, err := e.client.Refund(ctx, refundOf(p, 15000, "RF-2"))
	if err != nil || other.Ref == got.Ref {
		t.Fatalf("Refund after a rejected one = %+v, %v", other, err)
	}
	if ev := e.refundEvents(t, "REFUND_COMPLETED", 1)[0]; ev.Refund != "RF-2" {
		t.Fatalf("REFUND_COMPLETED event = %+v, want RF-2", ev)
	}
}

func TestRefundRefused(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()

	pending := e.create(t, providers.KakaoPay, "A-1")
	_, err := e.client.Refund(ctx, refundOf(pending, 100, "RF-1"))
	wantCode(t, "Refund(ACT payment)", err, paygate.ECONFLICT)
	status, out := e.rawRefund(t, `{"payment":"`+pending.Ref+`","amount":100}`)
	if status != http.StatusBadRequest || !strings.Contains(out.Status.Message, "Only a closed payment (CLO)") {
		t.Fatalf("POST /v1/refunds of an ACT payment = %d %+v, want 400", status, out.Status)
	}

	paid := e.paid(t, providers.SamsungPay, "A-2")
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"unknown payment", `{"payment":"payment_unknown","amount":100}`, http.StatusNotFound},
		{"fractional won", `{"payment":"` + paid.Ref + `","amount":100.5}`, http.StatusBadRequest},
		{"zero", `{"payment":"` + paid.Ref + `","amount":0}`, http.StatusBadRequest},
		{"another currency", `{"payment":"` + paid.Ref + `","amount":100,"currency":"EUR"}`, http.StatusBadRequest},
		{"reference over 255", `{"payment":"` + paid.Ref + `","amount":100,"merchant_reference_id":"` + strings.Repeat("r", 256) + `"}`, http.StatusBadRequest},
		{"not JSON", `payment=` + paid.Ref, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.rawRefund(t, tc.body)
			if status != tc.status || out.Status.Status != "ERROR" {
				t.Fatalf("POST /v1/refunds = %d %+v, want %d ERROR", status, out.Status, tc.status)
			}
		})
	}

	// Without an amount, the rest of the payment is refunded.
	status, out = e.rawRefund(t, `{"payment":"`+paid.Ref+`"}`)
	var r struct {
		ID     string `json:"id"`
		Amount int64  `json:"amount"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out.Data, &r); err != nil || status != http.StatusOK || r.Amount != 15000 || r.Status != "Pending" {
		t.Fatalf("POST /v1/refunds without an amount = %d %s", status, out.Data)
	}
	status, out = do(t, http.MethodGet, e.base+"/v1/refunds/"+r.ID, signedHeader(http.MethodGet, "/v1/refunds/"+r.ID, time.Now().Unix(), nil), nil)
	if err := json.Unmarshal(out.Data, &r); err != nil || status != http.StatusOK || r.Status != "Completed" {
		t.Fatalf("GET /v1/refunds/%s = %d %s, want Completed", r.ID, status, out.Data)
	}
	status, _ = do(t, http.MethodGet, e.base+"/v1/refunds/refund_unknown", signedHeader(http.MethodGet, "/v1/refunds/refund_unknown", time.Now().Unix(), nil), nil)
	if status != http.StatusNotFound {
		t.Fatalf("GET /v1/refunds/refund_unknown = %d, want 404", status)
	}
}

// TestRefundNotConfigured: a method configured not refundable is refused
// by the client, which never asks the simulator to refund.
func TestRefundNotConfigured(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	p := e.paid(t, providers.KakaoPay, "A-1")
	c, err := rapyd.New(rapyd.Config{AccessKey: testAccess, SecretKey: testSecret, BaseURL: e.base,
		Refundable: map[providers.Method]bool{providers.KakaoPay: false}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refund(ctx, refundOf(p, 100, "RF-1"))
	if !providers.IsUnsupported(err) {
		t.Fatalf("Refund = %v, want ErrUnsupported", err)
	}
	got, _ := e.client.GetPayment(ctx, p.Ref)
	if got.Status != providers.StatusSucceeded {
		t.Fatalf("GetPayment = %+v", got)
	}
	if err := e.client.CheckRefundable(ctx); err != nil {
		t.Fatalf("CheckRefundable = %v, want nil (the simulator refunds both)", err)
	}
}
