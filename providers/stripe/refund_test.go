package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// refundRequest returns a valid refund of 10.00 of the 25.00 iDEAL
// payment that intentJSON describes once succeeded.
func refundRequest() providers.RefundRequest {
	return providers.RefundRequest{
		PaymentRef:     "pi_3TestIntent0001",
		Amount:         paygate.New(1000, paygate.EUR),
		IdempotencyKey: "refund:RF-1",
		Reason:         "item returned",
		Refund:         "RF-1",
	}
}

// succeededIntent is the PaymentIntent of refundRequest, paid, with fields
// replaced or added.
func succeededIntent(t *testing.T, fields map[string]any) string {
	t.Helper()
	f := map[string]any{"status": "succeeded", "amount_received": 2500}
	for k, v := range fields {
		f[k] = v
	}
	return intentJSON(t, f)
}

// refundJSON is a Refund in the 2023-10-16 shape with fields replaced or
// added.
func refundJSON(t *testing.T, fields map[string]any) string {
	t.Helper()
	r := map[string]any{
		"id":                  "re_3TestRefund0001",
		"object":              "refund",
		"amount":              1000,
		"balance_transaction": "txn_3TestRefund0001",
		"charge":              "ch_3TestCharge0001",
		"created":             1764195000,
		"currency":            "eur",
		"failure_reason":      nil,
		"metadata":            map[string]string{"refund": "RF-1", "refund_reason": "item returned"},
		"payment_intent":      "pi_3TestIntent0001",
		"reason":              "requested_by_customer",
		"status":              "succeeded",
	}
	for k, v := range fields {
		r[k] = v
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// refundStripe is a fake Stripe that answers the GET of the PaymentIntent
// with intent and the refund POST with refund.
func refundStripe(t *testing.T, intent string, refund func() (int, string)) *fakeStripe {
	return newFakeStripe(t, func(r recorded) (int, string) {
		if r.Method == http.MethodGet {
			return 200, intent
		}
		return refund()
	})
}

func calls(f *fakeStripe) []string {
	var out []string
	for _, r := range f.requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func TestRefundRequestShape(t *testing.T) {
	f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return 200, refundJSON(t, nil) })
	c := newTestClient(t, f.srv.URL)
	got, err := c.Refund(context.Background(), refundRequest())
	if err != nil {
		t.Fatalf("Refund = %v", err)
	}
	want := providers.Refund{Ref: "re_3TestRefund0001", Status: providers.RefundSucceeded, Amount: paygate.New(1000, paygate.EUR)}
	if got != want {
		t.Fatalf("Refund = %+v, want %+v", got, want)
	}
	if got, want := calls(f), []string{"GET /v1/payment_intents/pi_3TestIntent0001", "POST /v1/refunds"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
	r := f.requests()[1]
	for h, want := range map[string]string{
		"Authorization":   "Bearer " + testKey,
		"Idempotency-Key": "refund:RF-1",
		"Stripe-Version":  "2023-10-16",
		"Content-Type":    "application/x-www-form-urlencoded",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	wantForm := map[string]string{
		"payment_intent":          "pi_3TestIntent0001",
		"amount":                  "1000",
		"reason":                  "requested_by_customer",
		"metadata[refund]":        "RF-1",
		"metadata[refund_reason]": "item returned",
	}
	gotForm := map[string]string{}
	for k, vs := range r.Form {
		if len(vs) != 1 {
			t.Errorf("form field %s sent %d times: %q", k, len(vs), vs)
		}
		gotForm[k] = vs[0]
	}
	if !reflect.DeepEqual(gotForm, wantForm) {
		t.Errorf("refund form = %v, want %v", gotForm, wantForm)
	}
}

func TestRefundReason(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		want         string // metadata[refund_reason]; "" is none sent
	}{
		{"none", "", ""},
		{"blank", "  \n", ""},
		{"trimmed", "  duplicate order ", "duplicate order"},
		{"cut to 500 bytes on a rune boundary", strings.Repeat("é", 300), strings.Repeat("é", 250)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return 200, refundJSON(t, nil) })
			c := newTestClient(t, f.srv.URL)
			req := refundRequest()
			req.Reason = tc.reason
			if _, err := c.Refund(context.Background(), req); err != nil {
				t.Fatalf("Refund = %v", err)
			}
			form := f.requests()[1].Form
			if got, ok := form["metadata[refund_reason]"]; tc.want == "" && ok || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("metadata[refund_reason] = %q, want %q", got, tc.want)
			}
			if form.Get("reason") != "requested_by_customer" {
				t.Errorf("reason = %q, want requested_by_customer", form.Get("reason"))
			}
		})
	}
}

func TestRefundStatuses(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
		want   providers.Refund
	}{
		{"pending (PayNow refunds are asynchronous)", map[string]any{"status": "pending"},
			providers.Refund{Status: providers.RefundPending}},
		{"requires action", map[string]any{"status": "requires_action"},
			providers.Refund{Status: providers.RefundPending}},
		{"succeeded", map[string]any{"status": "succeeded"},
			providers.Refund{Status: providers.RefundSucceeded}},
		{"failed", map[string]any{"status": "failed", "failure_reason": "expired_or_canceled_card"},
			providers.Refund{Status: providers.RefundFailed, FailureReason: "expired_or_canceled_card"}},
		{"failed without a reason", map[string]any{"status": "failed"},
			providers.Refund{Status: providers.RefundFailed, FailureReason: "unknown"}},
		{"canceled", map[string]any{"status": "canceled"},
			providers.Refund{Status: providers.RefundFailed, FailureReason: "canceled"}},
		{"unknown status is pending", map[string]any{"status": "reticulating"},
			providers.Refund{Status: providers.RefundPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return 200, refundJSON(t, tt.fields) })
			c := newTestClient(t, f.srv.URL)
			got, err := c.Refund(context.Background(), refundRequest())
			if err != nil {
				t.Fatalf("Refund = %v", err)
			}
			want := tt.want
			want.Ref, want.Amount = "re_3TestRefund0001", paygate.New(1000, paygate.EUR)
			if got != want {
				t.Fatalf("Refund(%s) = %+v, want %+v", tt.name, got, want)
			}
		})
	}
}

// TestRefundBoleto: Stripe has no boleto refunds; the refund endpoint is
// never called for one.
func TestRefundBoleto(t *testing.T) {
	f := refundStripe(t, succeededIntent(t, map[string]any{
		"amount": 15000, "amount_received": 15000, "currency": "brl", "payment_method_types": []string{"boleto"},
	}), func() (int, string) {
		t.Error("the refund endpoint was called for a boleto")
		return 500, `{}`
	})
	c := newTestClient(t, f.srv.URL)
	req := refundRequest()
	req.Amount = paygate.New(15000, paygate.BRL)
	_, err := c.Refund(context.Background(), req)
	if !providers.IsUnsupported(err) {
		t.Fatalf("Refund(boleto) = %v, want ErrUnsupported", err)
	}
	wantCode(t, "Refund(boleto)", err, paygate.EINVALID)
	if msg := paygate.ErrorMessage(err); !strings.Contains(msg, "Boleto payments cannot be refunded at Stripe") || !strings.Contains(msg, req.PaymentRef) {
		t.Errorf("message %q does not name the method and the payment", msg)
	}
	if got, want := calls(f), []string{"GET /v1/payment_intents/pi_3TestIntent0001"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
}

// TestRefundRefusedBeforeRefunding: what the PaymentIntent says refuses a
// refund without calling the refund endpoint.
func TestRefundRefusedBeforeRefunding(t *testing.T) {
	tests := []struct {
		name   string
		intent map[string]any
		change func(*providers.RefundRequest)
		code   string
	}{
		{"not paid yet", map[string]any{"status": "requires_action", "amount_received": 0}, nil, paygate.ECONFLICT},
		{"processing", map[string]any{"status": "processing", "amount_received": 0}, nil, paygate.ECONFLICT},
		{"canceled", map[string]any{"status": "canceled", "amount_received": 0}, nil, paygate.ECONFLICT},
		{"another currency", nil, func(r *providers.RefundRequest) { r.Amount = paygate.New(1000, paygate.SGD) }, paygate.EINVALID},
		{"more than received", nil, func(r *providers.RefundRequest) { r.Amount = paygate.New(2501, paygate.EUR) }, paygate.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := refundStripe(t, succeededIntent(t, tt.intent), func() (int, string) {
				t.Error("the refund endpoint was called")
				return 500, `{}`
			})
			c := newTestClient(t, f.srv.URL)
			req := refundRequest()
			if tt.change != nil {
				tt.change(&req)
			}
			_, err := c.Refund(context.Background(), req)
			wantCode(t, "Refund("+tt.name+")", err, tt.code)
			if providers.IsUnsupported(err) {
				t.Errorf("Refund(%s) = %v, which is not an unsupported method", tt.name, err)
			}
		})
	}
	t.Run("the whole amount received", func(t *testing.T) {
		f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return 200, refundJSON(t, map[string]any{"amount": 2500}) })
		c := newTestClient(t, f.srv.URL)
		req := refundRequest()
		req.Amount = paygate.New(2500, paygate.EUR)
		if got, err := c.Refund(context.Background(), req); err != nil || got.Amount != req.Amount {
			t.Fatalf("Refund(all of it) = %+v, %v", got, err)
		}
	})
}

func TestRefundInvalidRequest(t *testing.T) {
	tests := []struct {
		name   string
		change func(*providers.RefundRequest)
	}{
		{"no payment", func(r *providers.RefundRequest) { r.PaymentRef = "" }},
		{"not a PaymentIntent", func(r *providers.RefundRequest) { r.PaymentRef = "ch_3TestCharge0001" }},
		{"path in the ref", func(r *providers.RefundRequest) { r.PaymentRef = "pi_1/../../v1/charges" }},
		{"zero amount", func(r *providers.RefundRequest) { r.Amount.Minor = 0 }},
		{"negative amount", func(r *providers.RefundRequest) { r.Amount.Minor = -1000 }},
		{"no currency", func(r *providers.RefundRequest) { r.Amount = paygate.Money{Minor: 1000} }},
		{"unknown currency", func(r *providers.RefundRequest) { r.Amount = paygate.Money{Minor: 1000, Currency: "XXX"} }},
		{"no idempotency key", func(r *providers.RefundRequest) { r.IdempotencyKey = "" }},
		{"blank idempotency key", func(r *providers.RefundRequest) { r.IdempotencyKey = " " }},
		{"idempotency key over 255", func(r *providers.RefundRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }},
		{"no refund id", func(r *providers.RefundRequest) { r.Refund = "" }},
		{"refund id over 255", func(r *providers.RefundRequest) { r.Refund = strings.Repeat("r", 256) }},
	}
	f := newFakeStripe(t, func(recorded) (int, string) { return 500, `{}` })
	c := newTestClient(t, f.srv.URL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := refundRequest()
			tt.change(&req)
			_, err := c.Refund(context.Background(), req)
			wantCode(t, "Refund", err, paygate.EINVALID)
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("refused requests reached Stripe %d times, want 0", n)
	}
}

func TestRefundAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		code    string
		message string
	}{
		{"more than is left", 400, stripeError("invalid_request_error", "amount_too_large",
			"Refund amount (€20.00) is greater than unrefunded amount on charge (€15.00)"), paygate.EINVALID, "greater than unrefunded amount"},
		{"already refunded", 400, stripeError("invalid_request_error", "charge_already_refunded",
			"Charge ch_1 has already been refunded."), paygate.ECONFLICT, "already been refunded"},
		{"disputed", 400, stripeError("invalid_request_error", "charge_disputed",
			"Charge ch_1 has been charged back; cannot issue a refund."), paygate.ECONFLICT, "charged back"},
		{"no longer refundable", 400, stripeError("invalid_request_error", "charge_not_refundable",
			"This charge cannot be refunded."), paygate.ECONFLICT, "cannot be refunded"},
		{"idempotency key reused for another refund", 400, stripeError("idempotency_error", "idempotency_key_in_use",
			"Keys for idempotent requests can only be used with the same parameters they were first used with."), paygate.EINVALID, "same parameters"},
		{"bad key", 401, stripeError("invalid_request_error", "", "Invalid API Key provided: "+testKey), paygate.EINTERNAL, "refused the secret key"},
		{"rate limited", 429, stripeError("invalid_request_error", "rate_limit", "Too many requests"), paygate.EUNAVAILABLE, "retry later"},
		{"Stripe down", 503, stripeError("api_error", "", "down"), paygate.EUNAVAILABLE, "retry later"},
		{"not JSON", 200, "{not json", paygate.EUNAVAILABLE, "retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return tt.status, tt.body })
			c := newTestClient(t, f.srv.URL)
			_, err := c.Refund(context.Background(), refundRequest())
			wantCode(t, "Refund", err, tt.code)
			text := paygate.ErrorMessage(err)
			if tt.code == paygate.EINTERNAL {
				text = err.Error()
			}
			if !strings.Contains(text, tt.message) {
				t.Errorf("Refund: %q does not contain %q", text, tt.message)
			}
			if n := len(f.requests()); n != 2 {
				t.Errorf("Refund made %d requests, want 2 (no retries)", n)
			}
		})
	}
	t.Run("unknown payment", func(t *testing.T) {
		f := newFakeStripe(t, func(recorded) (int, string) {
			return 404, stripeError("invalid_request_error", "resource_missing", "No such payment_intent: 'pi_3TestIntent0001'")
		})
		c := newTestClient(t, f.srv.URL)
		_, err := c.Refund(context.Background(), refundRequest())
		wantCode(t, "Refund", err, paygate.ENOTFOUND)
	})
	t.Run("unusable answer", func(t *testing.T) {
		for _, fields := range []map[string]any{{"id": ""}, {"currency": "zzz"}} {
			f := refundStripe(t, succeededIntent(t, nil), func() (int, string) { return 200, refundJSON(t, fields) })
			c := newTestClient(t, f.srv.URL)
			_, err := c.Refund(context.Background(), refundRequest())
			wantCode(t, "Refund", err, paygate.EINTERNAL)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		c := newTestClient(t, "http://127.0.0.1:1")
		_, err := c.Refund(context.Background(), refundRequest())
		wantCode(t, "Refund", err, paygate.EUNAVAILABLE)
		var pe *paygate.Error
		if !errors.As(err, &pe) {
			t.Fatal("not a *paygate.Error")
		}
	})
}

// TestGetRefund: the janitor's poll of a pending refund reads GET
// /v1/refunds/{id} and maps its status; a malformed id is refused without
// a call, an unknown one is ENOTFOUND.
func TestGetRefund(t *testing.T) {
	for _, c := range []struct {
		status, failure string
		want            providers.Refund
	}{
		{"pending", "", providers.Refund{Ref: "re_3TestRefund0001", Status: providers.RefundPending, Amount: paygate.New(1000, paygate.EUR)}},
		{"succeeded", "", providers.Refund{Ref: "re_3TestRefund0001", Status: providers.RefundSucceeded, Amount: paygate.New(1000, paygate.EUR)}},
		{"failed", "expired_or_canceled_card", providers.Refund{Ref: "re_3TestRefund0001", Status: providers.RefundFailed,
			Amount: paygate.New(1000, paygate.EUR), FailureReason: "expired_or_canceled_card"}},
	} {
		fields := map[string]any{"status": c.status}
		if c.failure != "" {
			fields["failure_reason"] = c.failure
		}
		f := newFakeStripe(t, func(r recorded) (int, string) { return 200, refundJSON(t, fields) })
		got, err := newTestClient(t, f.srv.URL).GetRefund(context.Background(), "re_3TestRefund0001")
		if err != nil || got != c.want {
			t.Errorf("GetRefund (%s) = %+v, %v; want %+v", c.status, got, err, c.want)
		}
		if got, want := calls(f), []string{"GET /v1/refunds/re_3TestRefund0001"}; !reflect.DeepEqual(got, want) {
			t.Errorf("calls = %q, want %q", got, want)
		}
	}
	f := newFakeStripe(t, func(r recorded) (int, string) {
		return 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such refund"}}`
	})
	c := newTestClient(t, f.srv.URL)
	if _, err := c.GetRefund(context.Background(), "re_missing"); paygate.ErrorCode(err) != paygate.ENOTFOUND {
		t.Errorf("GetRefund of an unknown refund = %v, want ENOTFOUND", err)
	}
	for _, bad := range []string{"", "pi_123", "re_", "re_../x"} {
		if _, err := c.GetRefund(context.Background(), bad); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("GetRefund(%q) = %v, want EINVALID", bad, err)
		}
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d calls, want only the unknown refund's", n)
	}
}
