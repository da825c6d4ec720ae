package rapyd_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

const testRefundID = "refund_0f1e2d3c4b5a69788796a5b4c3d2e1f0"

func refundRequest() providers.RefundRequest {
	return providers.RefundRequest{
		PaymentRef:     testPaymentID,
		Amount:         paygate.New(5000, paygate.KRW),
		IdempotencyKey: "refund:RF-1",
		Reason:         "item returned <x1> & more",
		Refund:         "RF-1",
	}
}

// paidPayment is a GET /v1/payments response: the 15000 KRW KakaoPay
// payment, CLO, with extra fields (refunded_amount, refunds).
func paidPayment(extra string) string {
	return paymentJSON("CLO", `,"payment_method_type":"kr_kakaopay_ewallet","paid":true`+extra)
}

// refundJSON is a POST /v1/refunds response.
func refundJSON(status, extra string) string {
	return `{"status":{"status":"SUCCESS","operation_id":"op"},"data":{"id":"` + testRefundID + `","amount":5000,"currency":"KRW",` +
		`"payment":"` + testPaymentID + `","status":"` + status + `","merchant_reference_id":"RF-1","metadata":{"refund":"RF-1"}` + extra + `}}`
}

// refundRapyd is a fake Rapyd that answers the GET of the payment with
// payment and the refund POST with refund.
func refundRapyd(t *testing.T, payment string, refund func(c call) (int, string)) *fakeRapyd {
	return newFakeRapyd(t, func(c call) (int, string) {
		if c.Method == http.MethodGet {
			return http.StatusOK, payment
		}
		return refund(c)
	})
}

func uris(f *fakeRapyd) []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Method+" "+c.URI)
	}
	return out
}

func TestRefund(t *testing.T) {
	f := refundRapyd(t, paidPayment(""), func(call) (int, string) { return http.StatusOK, refundJSON("Pending", "") })
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	got, err := c.Refund(context.Background(), refundRequest())
	if err != nil {
		t.Fatalf("Refund = %v", err)
	}
	want := providers.Refund{Ref: testRefundID, Status: providers.RefundPending, Amount: paygate.New(5000, paygate.KRW)}
	if got != want {
		t.Fatalf("Refund = %+v, want %+v", got, want)
	}
	if got, want := strings.Join(uris(f), ", "), "GET /v1/payments/"+testPaymentID+", POST /v1/refunds"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
	// Both are signed (the fake recomputes every signature) and the POST
	// carries the idempotency header and the exact body.
	post := f.Calls()[1]
	if got := post.Header.Get("idempotency"); got != "refund:RF-1" {
		t.Errorf("idempotency header %q, want refund:RF-1", got)
	}
	if f.Calls()[0].Header.Get("idempotency") != "" {
		t.Errorf("the GET sent an idempotency header")
	}
	wantBody := `{"payment":"` + testPaymentID + `","amount":5000,"reason":"item returned <x1> & more",` +
		`"merchant_reference_id":"RF-1","metadata":{"refund":"RF-1"}}`
	if string(post.Body) != wantBody {
		t.Fatalf("body\n%s\nwant\n%s", post.Body, wantBody)
	}
}

func TestRefundAmounts(t *testing.T) {
	// KRW goes as whole won, never 5000.0; the reason is optional.
	for _, won := range []int64{1, 100, 14999, 15000} {
		f := refundRapyd(t, paidPayment(""), func(call) (int, string) {
			return http.StatusOK, strings.Replace(refundJSON("Completed", ""), `"amount":5000`, `"amount":`+itoa(won), 1)
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		req := refundRequest()
		req.Amount, req.Reason = paygate.New(won, paygate.KRW), ""
		got, err := c.Refund(context.Background(), req)
		if err != nil {
			t.Fatalf("Refund(%d KRW) = %v", won, err)
		}
		if got.Amount != req.Amount || got.Status != providers.RefundSucceeded {
			t.Fatalf("Refund(%d KRW) = %+v", won, got)
		}
		want := `{"payment":"` + testPaymentID + `","amount":` + itoa(won) + `,"merchant_reference_id":"RF-1","metadata":{"refund":"RF-1"}}`
		if body := string(f.Calls()[1].Body); body != want {
			t.Fatalf("body %s, want %s", body, want)
		}
	}
}

func itoa(n int64) string { return paygate.New(n, paygate.KRW).Amount() }

func TestRefundStatuses(t *testing.T) {
	for _, tc := range []struct {
		status, extra string
		want          providers.Refund
	}{
		{"Pending", "", providers.Refund{Status: providers.RefundPending}},
		{"Completed", "", providers.Refund{Status: providers.RefundSucceeded}},
		{"completed", "", providers.Refund{Status: providers.RefundSucceeded}},
		{"Rejected", `,"failure_reason":"The wallet refused the refund."`, providers.Refund{Status: providers.RefundFailed, FailureReason: "The wallet refused the refund."}},
		{"Error", `,"failure_message":"Internal error at the wallet"`, providers.Refund{Status: providers.RefundFailed, FailureReason: "Internal error at the wallet"}},
		{"Canceled", "", providers.Refund{Status: providers.RefundFailed, FailureReason: "refund canceled at Rapyd"}},
		{"Reticulating", "", providers.Refund{Status: providers.RefundPending}},
	} {
		t.Run(tc.status+tc.extra, func(t *testing.T) {
			f := refundRapyd(t, paidPayment(""), func(call) (int, string) { return http.StatusOK, refundJSON(tc.status, tc.extra) })
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			got, err := c.Refund(context.Background(), refundRequest())
			if err != nil {
				t.Fatalf("Refund = %v", err)
			}
			want := tc.want
			want.Ref, want.Amount = testRefundID, paygate.New(5000, paygate.KRW)
			if got != want {
				t.Fatalf("Refund(%s) = %+v, want %+v", tc.status, got, want)
			}
		})
	}
}

// TestRefundRetry: Rapyd checks the idempotency header on Create Payment
// only, by default. A retry finds its refund in the payment's refunds and
// creates no second one.
func TestRefundRetry(t *testing.T) {
	earlier := `,"refunded_amount":5000,"refunds":{"data":[` +
		`{"id":"refund_other","amount":1000,"currency":"KRW","payment":"` + testPaymentID + `","status":"Completed","merchant_reference_id":"RF-0"},` +
		`{"id":"` + testRefundID + `","amount":5000,"currency":"KRW","payment":"` + testPaymentID + `","status":"Completed","merchant_reference_id":"RF-1"}` +
		`],"has_more":false,"total_count":2}`
	t.Run("same refund", func(t *testing.T) {
		f := refundRapyd(t, paidPayment(earlier), func(call) (int, string) {
			t.Error("a second refund was created")
			return http.StatusOK, refundJSON("Pending", "")
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		got, err := c.Refund(context.Background(), refundRequest())
		want := providers.Refund{Ref: testRefundID, Status: providers.RefundSucceeded, Amount: paygate.New(5000, paygate.KRW)}
		if err != nil || got != want {
			t.Fatalf("Refund (retry) = %+v, %v, want %+v", got, err, want)
		}
		if n := len(f.Calls()); n != 1 {
			t.Fatalf("Rapyd got %d requests, want the GET only", n)
		}
	})
	t.Run("refund id reused for another amount", func(t *testing.T) {
		f := refundRapyd(t, paidPayment(earlier), func(call) (int, string) {
			t.Error("a second refund was created")
			return http.StatusOK, refundJSON("Pending", "")
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		req := refundRequest()
		req.Amount = paygate.New(6000, paygate.KRW)
		_, err := c.Refund(context.Background(), req)
		wantCode(t, "Refund", err, paygate.ECONFLICT)
	})
	t.Run("answer for another refund", func(t *testing.T) {
		f := refundRapyd(t, paidPayment(""), func(call) (int, string) {
			return http.StatusOK, strings.Replace(refundJSON("Completed", ""), `"merchant_reference_id":"RF-1"`, `"merchant_reference_id":"RF-9"`, 1)
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		_, err := c.Refund(context.Background(), refundRequest())
		wantCode(t, "Refund", err, paygate.ECONFLICT)
	})
}

func TestRefundRefusedBeforeRefunding(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     rapyd.Config
		payment string
		change  func(*providers.RefundRequest)
		code    string
		message string
	}{
		{"not paid", rapyd.Config{}, paymentJSON("ACT", `,"payment_method_type":"kr_kakaopay_ewallet"`), nil, paygate.ECONFLICT, "not paid (status ACT)"},
		{"expired", rapyd.Config{}, paymentJSON("EXP", `,"payment_method_type":"kr_kakaopay_ewallet"`), nil, paygate.ECONFLICT, "not paid"},
		{"reversed", rapyd.Config{}, paymentJSON("REV", `,"payment_method_type":"kr_kakaopay_ewallet"`), nil, paygate.ECONFLICT, "not paid"},
		{"more than paid", rapyd.Config{}, paidPayment(""), func(r *providers.RefundRequest) { r.Amount = paygate.New(15001, paygate.KRW) },
			paygate.EINVALID, "more than the 15000 KRW not yet refunded"},
		{"more than is left", rapyd.Config{}, paidPayment(`,"refunded_amount":12000`), nil, paygate.EINVALID, "more than the 3000 KRW not yet refunded"},
		{"all refunded", rapyd.Config{}, paidPayment(`,"refunded_amount":15000,"refunded":true`), nil, paygate.EINVALID, "more than the 0 KRW"},
		{"another currency", rapyd.Config{}, paidPayment(""), func(r *providers.RefundRequest) { r.Amount = paygate.New(5000, paygate.EUR) },
			paygate.EINVALID, "in KRW, not EUR"},
		{"method configured not refundable", rapyd.Config{Refundable: map[providers.Method]bool{providers.KakaoPay: false}}, paidPayment(""), nil,
			paygate.EINVALID, "KakaoPay payments are not refunded through Rapyd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := refundRapyd(t, tc.payment, func(call) (int, string) {
				t.Error("a refund was created")
				return http.StatusOK, refundJSON("Pending", "")
			})
			cfg := tc.cfg
			cfg.BaseURL = f.URL()
			c := newClient(t, cfg)
			req := refundRequest()
			if tc.change != nil {
				tc.change(&req)
			}
			_, err := c.Refund(context.Background(), req)
			wantCode(t, "Refund", err, tc.code)
			if msg := paygate.ErrorMessage(err); !strings.Contains(msg, tc.message) {
				t.Fatalf("Refund error message %q, want it to contain %q", msg, tc.message)
			}
			if unsupported := strings.Contains(tc.name, "not refundable"); providers.IsUnsupported(err) != unsupported {
				t.Fatalf("IsUnsupported(%v) = %v, want %v", err, !unsupported, unsupported)
			}
		})
	}
	t.Run("Samsung Pay still refundable", func(t *testing.T) {
		f := refundRapyd(t, strings.Replace(paidPayment(""), "kr_kakaopay_ewallet", "kr_samsungpay_ewallet", 1),
			func(call) (int, string) { return http.StatusOK, refundJSON("Pending", "") })
		c := newClient(t, rapyd.Config{BaseURL: f.URL(), Refundable: map[providers.Method]bool{providers.KakaoPay: false}})
		if _, err := c.Refund(context.Background(), refundRequest()); err != nil {
			t.Fatalf("Refund(samsungpay) = %v", err)
		}
	})
}

func TestRefundInvalidRequest(t *testing.T) {
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusOK, "{}" })
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	for _, tc := range []struct {
		name   string
		change func(*providers.RefundRequest)
	}{
		{"no payment", func(r *providers.RefundRequest) { r.PaymentRef = "" }},
		{"path in the payment", func(r *providers.RefundRequest) { r.PaymentRef = "payment_1/../../v1/refunds" }},
		{"zero amount", func(r *providers.RefundRequest) { r.Amount = paygate.New(0, paygate.KRW) }},
		{"negative amount", func(r *providers.RefundRequest) { r.Amount = paygate.New(-1, paygate.KRW) }},
		{"no currency", func(r *providers.RefundRequest) { r.Amount = paygate.Money{Minor: 5000} }},
		{"no idempotency key", func(r *providers.RefundRequest) { r.IdempotencyKey = " " }},
		{"no refund id", func(r *providers.RefundRequest) { r.Refund = "" }},
		{"refund id over 255", func(r *providers.RefundRequest) { r.Refund = strings.Repeat("r", 256) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := refundRequest()
			tc.change(&req)
			_, err := c.Refund(context.Background(), req)
			wantCode(t, "Refund", err, paygate.EINVALID)
		})
	}
	if n := len(f.Calls()); n != 0 {
		t.Fatalf("Rapyd got %d requests, want none", n)
	}
}

func TestRefundErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"refused", 400, `{"status":{"status":"ERROR","error_code":"ERROR_CREATE_REFUND","message":"The refund amount is invalid."}}`, paygate.EINVALID},
		{"Rapyd down", 503, `<html>down</html>`, paygate.EUNAVAILABLE},
		{"no refund id", 200, `{"status":{"status":"SUCCESS"},"data":{"amount":5000,"currency":"KRW","status":"Pending"}}`, paygate.EUNAVAILABLE},
		{"fractional KRW", 200, `{"status":{"status":"SUCCESS"},"data":{"id":"refund_1","amount":5000.5,"currency":"KRW","status":"Pending"}}`, paygate.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := refundRapyd(t, paidPayment(""), func(call) (int, string) { return tc.status, tc.body })
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			_, err := c.Refund(context.Background(), refundRequest())
			wantCode(t, "Refund", err, tc.code)
		})
	}
	t.Run("unknown payment", func(t *testing.T) {
		f := newFakeRapyd(t, func(call) (int, string) {
			return http.StatusNotFound, `{"status":{"status":"ERROR","error_code":"ERROR_GET_PAYMENT","message":"no such payment"}}`
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		_, err := c.Refund(context.Background(), refundRequest())
		wantCode(t, "Refund", err, paygate.ENOTFOUND)
		if n := len(f.Calls()); n != 1 {
			t.Fatalf("Rapyd got %d requests, want the GET only", n)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		f := refundRapyd(t, paidPayment(""), func(call) (int, string) { return http.StatusOK, refundJSON("Pending", "") })
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Refund(ctx, refundRequest())
		wantCode(t, "Refund", err, paygate.EUNAVAILABLE)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Refund error %v, want it to wrap context.Canceled", err)
		}
	})
}

func TestNewRefundable(t *testing.T) {
	_, err := rapyd.New(rapyd.Config{AccessKey: "a", SecretKey: "s", Refundable: map[providers.Method]bool{"kakao": true}})
	wantCode(t, "New(Refundable kakao)", err, paygate.EINVALID)
	if _, err := rapyd.New(rapyd.Config{AccessKey: "a", SecretKey: "s", Refundable: map[providers.Method]bool{providers.Boleto: true}}); err != nil {
		t.Fatalf("New(Refundable boleto) = %v, want a client: Rapyd may take any method", err)
	}
}

func TestCheckRefundable(t *testing.T) {
	list := `[{"type":"kr_kakaopay_ewallet","name":"KakaoPay","category":"ewallet","currencies":["KRW"],"is_refundable":true},` +
		`{"type":"kr_samsungpay_ewallet","name":"Samsung Pay","category":"ewallet","currencies":["KRW"],"is_refundable":false}]`
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusNotFound, "{}" })
	f.SetLists(func(country, currency string) string {
		if country == "KR" {
			return list
		}
		return "[]"
	})
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	if c.Refundable(providers.SamsungPay) || !c.Refundable(providers.KakaoPay) {
		t.Fatalf("Refundable(samsungpay, kakaopay) = %v, %v; want is_refundable: false, true",
			c.Refundable(providers.SamsungPay), c.Refundable(providers.KakaoPay))
	}
	if err := c.CheckRefundable(context.Background()); err != nil {
		t.Fatalf("CheckRefundable without Config.Refundable = %v, want nil: the list decides", err)
	}
	c = newClient(t, rapyd.Config{BaseURL: f.URL(), Refundable: map[providers.Method]bool{providers.KakaoPay: true, providers.SamsungPay: true}})
	err := c.CheckRefundable(context.Background())
	wantCode(t, "CheckRefundable", err, paygate.EINVALID)
	if !strings.Contains(err.Error(), "kr_samsungpay_ewallet") || strings.Contains(err.Error(), "kr_kakaopay_ewallet") {
		t.Fatalf("CheckRefundable = %v, want it to name kr_samsungpay_ewallet only", err)
	}
	c = newClient(t, rapyd.Config{BaseURL: f.URL(), Refundable: map[providers.Method]bool{providers.SamsungPay: false}})
	if err := c.CheckRefundable(context.Background()); err != nil {
		t.Fatalf("CheckRefundable with Samsung Pay not refunded = %v, want nil", err)
	}
}

// TestGetRefund: the janitor's poll of a pending refund reads GET
// /v1/refunds/{id} and maps its status; a malformed id is refused without
// a call.
func TestGetRefund(t *testing.T) {
	for _, c := range []struct {
		status string
		want   providers.RefundStatus
	}{{"Pending", providers.RefundPending}, {"Completed", providers.RefundSucceeded}, {"Rejected", providers.RefundFailed}} {
		f := newFakeRapyd(t, func(call) (int, string) { return http.StatusOK, refundJSON(c.status, "") })
		cl := newClient(t, rapyd.Config{BaseURL: f.URL()})
		got, err := cl.GetRefund(context.Background(), testRefundID)
		if err != nil || got.Ref != testRefundID || got.Status != c.want || got.Amount != paygate.New(5000, paygate.KRW) {
			t.Errorf("GetRefund (%s) = %+v, %v; want %s", c.status, got, err, c.want)
		}
		if got, want := strings.Join(uris(f), ", "), "GET /v1/refunds/"+testRefundID; got != want {
			t.Errorf("requests %s, want %s", got, want)
		}
		if _, err := cl.GetRefund(context.Background(), "../payments/x"); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("GetRefund of a malformed id = %v, want EINVALID", err)
		}
		if len(f.Calls()) != 1 {
			t.Errorf("a malformed id was sent")
		}
	}
}
