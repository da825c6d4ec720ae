package rapyd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

func TestSignatureVector(t *testing.T) {
	// A vector computed apart from this client, by Rapyd's documented
	// request-signature recipe (docs.rapyd.net, "Request Signatures").
	got := rapyd.Signature("POST", "/v1/checkout", "abcdefgh12345678", 1700000000,
		"ACCESS_KEY_TEST", "SECRET_KEY_TEST", []byte(`{"amount":15000,"country":"KR","currency":"KRW"}`))
	const want = "YzkyYTlmZGFmNmI5MjQ5MDFjYjZmMGY2Mjc3NDQ1MmE5MzhlMzVmNmFiOTdiODViNjNmMmZmMTE4ZTJiYzQwYQ=="
	if got != want {
		t.Fatalf("Signature(POST /v1/checkout …) = %q, want %q", got, want)
	}
	if lower := rapyd.Signature("post", "/v1/checkout", "abcdefgh12345678", 1700000000,
		"ACCESS_KEY_TEST", "SECRET_KEY_TEST", []byte(`{"amount":15000,"country":"KR","currency":"KRW"}`)); lower != want {
		t.Fatalf("Signature(post …) = %q, want %q (the method is lower-cased)", lower, want)
	}
}

func TestWebhookSignatureVector(t *testing.T) {
	// A vector computed apart from this client, by Rapyd's documented
	// webhook-signature recipe (docs.rapyd.net, "Webhook Authentication").
	got := rapyd.WebhookSignature("https://example.com/webhooks/rapyd", "salt1234", 1700000000,
		"ACCESS_KEY_TEST", "SECRET_KEY_TEST", []byte(`{"type":"PAYMENT_COMPLETED"}`))
	const want = "NzRmOTE2NTMzNDRkNzcxNmE2M2YzMmNiYTA4YjFlY2Q2ZWU5OTJiNjA5OGYzMjU2NzRkNWM5MzZmM2Q1ZGExNw=="
	if got != want {
		t.Fatalf("WebhookSignature(…) = %q, want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  rapyd.Config
		ok   bool
	}{
		{"defaults", rapyd.Config{AccessKey: "a", SecretKey: "s"}, true},
		{"simulator base URL", rapyd.Config{AccessKey: "a", SecretKey: "s", BaseURL: "http://127.0.0.1:8080/sandbox/rapyd/"}, true},
		{"no access key", rapyd.Config{SecretKey: "s"}, false},
		{"no secret key", rapyd.Config{AccessKey: "a"}, false},
		{"relative base URL", rapyd.Config{AccessKey: "a", SecretKey: "s", BaseURL: "/v1"}, false},
		{"ftp base URL", rapyd.Config{AccessKey: "a", SecretKey: "s", BaseURL: "ftp://rapyd.net"}, false},
		{"bad webhook URL", rapyd.Config{AccessKey: "a", SecretKey: "s", WebhookURL: "webhooks/rapyd"}, false},
		{"type of any method of the catalog", rapyd.Config{AccessKey: "a", SecretKey: "s",
			MethodTypes: map[providers.Method]string{providers.IDEAL: "nl_ideal_bank"}}, true},
		{"type of an unknown method", rapyd.Config{AccessKey: "a", SecretKey: "s",
			MethodTypes: map[providers.Method]string{"kakao": "kr_kakao_ewallet"}}, false},
		{"country of a method", rapyd.Config{AccessKey: "a", SecretKey: "s",
			Countries: map[providers.Method]string{providers.PayNow: "sg"}}, true},
		{"country that is no code", rapyd.Config{AccessKey: "a", SecretKey: "s",
			Countries: map[providers.Method]string{providers.PayNow: "SGP"}}, false},
		{"empty method type", rapyd.Config{AccessKey: "a", SecretKey: "s",
			MethodTypes: map[providers.Method]string{providers.KakaoPay: ""}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rapyd.New(tc.cfg)
			if tc.ok {
				if err != nil {
					t.Fatalf("New(%+v) = %v, want a client", tc.cfg, err)
				}
				if c.Name() != providers.Rapyd {
					t.Fatalf("Name() = %q, want %q", c.Name(), providers.Rapyd)
				}
				return
			}
			wantCode(t, "New", err, paygate.EINVALID)
		})
	}
}

func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func kakaoRequest() providers.PaymentRequest {
	return providers.PaymentRequest{
		Method:         providers.KakaoPay,
		Amount:         paygate.New(15000, paygate.KRW),
		PaymentOrder:   "P12345678",
		Attempt:        "A-P12345678-1",
		IdempotencyKey: "attempt:A-P12345678-1",
		ReturnURL:      "https://shop.example/checkout/P12345678/return?t=abc&m=kakaopay",
		Description:    "Game items <x3> & more",
	}
}

func TestCreatePayment(t *testing.T) {
	sample := readSample(t, "create_payment_response.json")
	for _, tc := range []struct {
		name     string
		method   providers.Method
		types    map[providers.Method]string
		prefix   string // the simulator-style mount of the API under the base URL
		wantType string
	}{
		{name: "kakaopay", method: providers.KakaoPay, wantType: "kr_kakaopay_ewallet"},
		{name: "samsungpay", method: providers.SamsungPay, wantType: "kr_samsungpay_ewallet"},
		{name: "configured type", method: providers.SamsungPay, wantType: "kr_samsung_pay_ewallet",
			types: map[providers.Method]string{providers.SamsungPay: "kr_samsung_pay_ewallet"}},
		{name: "base URL with a path", method: providers.KakaoPay, prefix: "/sandbox/rapyd", wantType: "kr_kakaopay_ewallet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Rapyd echoes the payment method type of the request.
			reply := strings.Replace(sample, `"payment_method_type":"kr_kakaopay_ewallet"`, `"payment_method_type":"`+tc.wantType+`"`, 1)
			f := newFakeRapydAt(t, tc.prefix, func(call) (int, string) { return http.StatusOK, reply })
			c := newClient(t, rapyd.Config{BaseURL: f.URL() + tc.prefix, MethodTypes: tc.types})
			req := kakaoRequest()
			req.Method = tc.method
			got, err := c.CreatePayment(context.Background(), req)
			if err != nil {
				t.Fatalf("CreatePayment: %v", err)
			}
			want := providers.Payment{
				Ref:    testPaymentID,
				Status: providers.StatusPending,
				Amount: paygate.New(15000, paygate.KRW),
				NextAction: providers.NextAction{Type: providers.ActionRedirect,
					URL: "https://sandboxcheckout.rapyd.net/ewallet?token=" + testPaymentID},
			}
			if got != want {
				t.Fatalf("CreatePayment = %+v, want %+v", got, want)
			}

			calls := f.Calls()
			if len(calls) != 1 {
				t.Fatalf("Rapyd got %d requests, want 1", len(calls))
			}
			r := calls[0]
			if r.Method != http.MethodPost || r.URI != "/v1/payments" {
				t.Fatalf("request %s %s, want POST /v1/payments", r.Method, r.URI)
			}
			if got := r.Header.Get("idempotency"); got != "attempt:A-P12345678-1" {
				t.Fatalf("idempotency header %q, want %q", got, "attempt:A-P12345678-1")
			}
			wantBody := `{"amount":15000,"currency":"KRW","payment_method":{"type":"` + tc.wantType + `"},` +
				`"complete_payment_url":"https://shop.example/checkout/P12345678/return?t=abc&m=kakaopay",` +
				`"error_payment_url":"https://shop.example/checkout/P12345678/return?t=abc&m=kakaopay",` +
				`"merchant_reference_id":"A-P12345678-1","description":"Game items <x3> & more",` +
				`"metadata":{"payment_order":"P12345678","attempt":"A-P12345678-1"}}`
			if string(r.Body) != wantBody {
				t.Fatalf("body\n%s\nwant\n%s", r.Body, wantBody)
			}
		})
	}
}

func TestCreatePaymentAmounts(t *testing.T) {
	// KRW is sent as whole won, whatever its size; never as 15000.0.
	for _, won := range []int64{1, 100, 15000, 2000000, 9007199254740993} {
		t.Run(fmt.Sprint(won), func(t *testing.T) {
			var body string
			f := newFakeRapyd(t, func(c call) (int, string) {
				body = string(c.Body)
				return http.StatusOK, fmt.Sprintf(`{"status":{"status":"SUCCESS"},"data":{"id":"payment_1","status":"ACT","amount":%d,"currency_code":"KRW","redirect_url":"https://r.example/p"}}`, won)
			})
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			req := kakaoRequest()
			req.Amount = paygate.New(won, paygate.KRW)
			p, err := c.CreatePayment(context.Background(), req)
			if err != nil {
				t.Fatalf("CreatePayment(%d KRW): %v", won, err)
			}
			if p.Amount != req.Amount {
				t.Fatalf("CreatePayment(%d KRW).Amount = %#v", won, p.Amount)
			}
			if want := fmt.Sprintf(`{"amount":%d,"currency":"KRW",`, won); !strings.HasPrefix(body, want) {
				t.Fatalf("body %s, want it to start %s", body, want)
			}
		})
	}
}

func TestCreatePaymentExpiration(t *testing.T) {
	var body string
	f := newFakeRapyd(t, func(c call) (int, string) {
		body = string(c.Body)
		return http.StatusOK, readSample(t, "create_payment_response.json")
	})
	c := newClient(t, rapyd.Config{BaseURL: f.URL(), Expiration: 30 * time.Minute})
	before := time.Now().Add(30 * time.Minute).Unix()
	if _, err := c.CreatePayment(context.Background(), kakaoRequest()); err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	after := time.Now().Add(30 * time.Minute).Unix()
	var sent struct{ Expiration int64 }
	if err := json.Unmarshal([]byte(body), &sent); err != nil || sent.Expiration < before || sent.Expiration > after {
		t.Fatalf("body %s: expiration %d, want %d…%d (now + 30 min)", body, sent.Expiration, before, after)
	}
}

func TestCreatePaymentRefusedLocally(t *testing.T) {
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusOK, "{}" })
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	for _, tc := range []struct {
		name   string
		change func(*providers.PaymentRequest)
	}{
		{"euro for kakaopay", func(r *providers.PaymentRequest) { r.Amount = paygate.New(1500, paygate.EUR) }},
		{"dollars for samsungpay", func(r *providers.PaymentRequest) {
			r.Method, r.Amount = providers.SamsungPay, paygate.New(1500, paygate.USD)
		}},
		{"method of stripe", func(r *providers.PaymentRequest) { r.Method = providers.IDEAL }},
		{"unknown method", func(r *providers.PaymentRequest) { r.Method = "kakao" }},
		{"zero amount", func(r *providers.PaymentRequest) { r.Amount = paygate.New(0, paygate.KRW) }},
		{"negative amount", func(r *providers.PaymentRequest) { r.Amount = paygate.New(-1, paygate.KRW) }},
		{"no return URL", func(r *providers.PaymentRequest) { r.ReturnURL = "" }},
		{"no attempt", func(r *providers.PaymentRequest) { r.Attempt = "" }},
		{"attempt over 45 characters", func(r *providers.PaymentRequest) { r.Attempt = strings.Repeat("a", 46) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kakaoRequest()
			tc.change(&req)
			_, err := c.CreatePayment(context.Background(), req)
			wantCode(t, "CreatePayment", err, paygate.EINVALID)
		})
	}
	if n := len(f.Calls()); n != 0 {
		t.Fatalf("Rapyd got %d requests, want none", n)
	}
}

// TestCreatePaymentReplayOfOther: Rapyd replays the first response to an
// idempotency key and amount; a replay that is not the requested payment is
// a conflict, not a success.
func TestCreatePaymentReplayOfOther(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"other amount", `{"id":"payment_1","status":"ACT","amount":20000,"currency_code":"KRW","payment_method_type":"kr_kakaopay_ewallet","redirect_url":"https://r.example/p"}`},
		{"other currency", `{"id":"payment_1","status":"ACT","amount":15000,"currency_code":"USD","payment_method_type":"kr_kakaopay_ewallet","redirect_url":"https://r.example/p"}`},
		{"other method", `{"id":"payment_1","status":"ACT","amount":15000,"currency_code":"KRW","payment_method_type":"kr_samsungpay_ewallet","redirect_url":"https://r.example/p"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) {
				return http.StatusOK, `{"status":{"status":"SUCCESS"},"data":` + tc.data + `}`
			})
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			_, err := c.CreatePayment(context.Background(), kakaoRequest())
			wantCode(t, "CreatePayment", err, paygate.ECONFLICT)
		})
	}
}

func paymentJSON(status, extra string) string {
	return `{"status":{"error_code":"","status":"SUCCESS","message":"","response_code":"","operation_id":"op"},` +
		`"data":{"id":"` + testPaymentID + `","amount":15000,"currency_code":"KRW","status":"` + status + `"` + extra + `}}`
}

func TestGetPaymentStatuses(t *testing.T) {
	won := paygate.New(15000, paygate.KRW)
	none := providers.NextAction{Type: providers.ActionNone}
	for _, tc := range []struct {
		status, extra string
		want          providers.Payment
	}{
		{"ACT", `,"redirect_url":"https://pay.example/p?a=1&b=2"`, providers.Payment{Status: providers.StatusPending,
			NextAction: providers.NextAction{Type: providers.ActionRedirect, URL: "https://pay.example/p?a=1&b=2"}}},
		{"ACT", ``, providers.Payment{Status: providers.StatusPending, NextAction: none}},
		{"CLO", `,"paid":true,"redirect_url":""`, providers.Payment{Status: providers.StatusSucceeded, NextAction: none}},
		{"ERR", `,"failure_code":"ERROR_WALLET","failure_message":"Declined by the wallet"`,
			providers.Payment{Status: providers.StatusFailed, FailureReason: "Declined by the wallet", NextAction: none}},
		{"ERR", `,"failure_code":"ERROR_WALLET"`,
			providers.Payment{Status: providers.StatusFailed, FailureReason: "ERROR_WALLET", NextAction: none}},
		{"CAN", `,"cancel_reason":"merchant"`, providers.Payment{Status: providers.StatusCanceled, FailureReason: "merchant", NextAction: none}},
		{"EXP", ``, providers.Payment{Status: providers.StatusExpired, FailureReason: "the buyer did not pay in time", NextAction: none}},
		{"REV", `,"cancel_reason":"risk"`, providers.Payment{Status: providers.StatusFailed, FailureReason: "reversed by Rapyd: risk", NextAction: none}},
	} {
		t.Run(tc.status+tc.extra, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) { return http.StatusOK, paymentJSON(tc.status, tc.extra) })
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			got, err := c.GetPayment(context.Background(), testPaymentID)
			if err != nil {
				t.Fatalf("GetPayment: %v", err)
			}
			want := tc.want
			want.Ref, want.Amount = testPaymentID, won
			if got != want {
				t.Fatalf("GetPayment = %+v, want %+v", got, want)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].URI != "/v1/payments/"+testPaymentID || len(calls[0].Body) != 0 {
				t.Fatalf("requests %+v, want one GET /v1/payments/%s without a body", calls, testPaymentID)
			}
			if calls[0].Header.Get("idempotency") != "" {
				t.Fatalf("GET sent an idempotency header")
			}
		})
	}
}

func TestGetPaymentBadRef(t *testing.T) {
	c := newClient(t, rapyd.Config{BaseURL: "http://127.0.0.1:1"})
	for _, ref := range []string{"", "payment_1/../../v1/refunds", "payment 1", "payment_1?x=1", strings.Repeat("p", 65)} {
		_, err := c.GetPayment(context.Background(), ref)
		wantCode(t, fmt.Sprintf("GetPayment(%q)", ref), err, paygate.EINVALID)
	}
}

func TestCallErrors(t *testing.T) {
	errorBody := readSample(t, "error_response.json")
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		code    string
		message string // a part of the error's caller-safe message
	}{
		{"400 ERROR", 400, errorBody, paygate.EINVALID, "the amount was invalid"},
		{"422 ERROR", 422, `{"status":{"status":"ERROR","error_code":"INVALID_FIELDS","message":"bad"}}`, paygate.EINVALID, "bad (INVALID_FIELDS)"},
		{"200 ERROR", 200, `{"status":{"status":"ERROR","error_code":"X","message":"refused"}}`, paygate.EINVALID, "refused"},
		{"404", 404, `{"status":{"status":"ERROR","error_code":"ERROR_GET_PAYMENT","message":"not found"}}`, paygate.ENOTFOUND, "not found"},
		{"401 signature", 401, `{"status":{"status":"ERROR","error_code":"UNAUTHENTICATED_API_CALL","message":"signature did not match"}}`, paygate.EUNAVAILABLE, "access and secret keys"},
		{"429", 429, `{"status":{"status":"ERROR","error_code":"TOO_MANY","message":"slow down"}}`, paygate.EUNAVAILABLE, "slow down"},
		{"500 ERROR", 500, `{"status":{"status":"ERROR","error_code":"INTERNAL","message":"oops"}}`, paygate.EUNAVAILABLE, "oops"},
		{"502 HTML", 502, `<html>Bad gateway</html>`, paygate.EUNAVAILABLE, "HTTP 502"},
		{"200 garbage", 200, `<html>`, paygate.EUNAVAILABLE, "unreadable"},
		{"200 no data", 200, `{"status":{"status":"SUCCESS"}}`, paygate.EUNAVAILABLE, "no data"},
		{"unknown status", 200, paymentJSON("DLD", ""), paygate.EUNAVAILABLE, `"DLD"`},
		{"fractional KRW", 200, `{"status":{"status":"SUCCESS"},"data":{"id":"payment_1","status":"ACT","amount":1500.5,"currency_code":"KRW"}}`, paygate.EUNAVAILABLE, "unreadable amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) { return tc.status, tc.body })
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			_, err := c.GetPayment(context.Background(), testPaymentID)
			wantCode(t, "GetPayment", err, tc.code)
			if msg := paygate.ErrorMessage(err); !strings.Contains(msg, tc.message) {
				t.Fatalf("GetPayment error message %q, want it to contain %q", msg, tc.message)
			}
		})
	}

	t.Run("closed server", func(t *testing.T) {
		f := newFakeRapyd(t, func(call) (int, string) { return 200, "" })
		f.srv.Close()
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		_, err := c.CreatePayment(context.Background(), kakaoRequest())
		wantCode(t, "CreatePayment", err, paygate.EUNAVAILABLE)
	})
	t.Run("canceled context", func(t *testing.T) {
		f := newFakeRapyd(t, func(call) (int, string) { return 200, paymentJSON("ACT", "") })
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.GetPayment(ctx, testPaymentID)
		wantCode(t, "GetPayment", err, paygate.EUNAVAILABLE)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("GetPayment error %v, want it to wrap context.Canceled", err)
		}
	})
}

func TestCancelPayment(t *testing.T) {
	refused := `{"status":{"status":"ERROR","error_code":"ERROR_CANCEL_PAYMENT","message":"the payment cannot be canceled"}}`
	for _, tc := range []struct {
		name       string
		deleteResp string // "" = refuse with 400
		getStatus  string
		check      func(t *testing.T, err error)
	}{
		{"active payment", paymentJSON("CAN", ""), "", func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("CancelPayment = %v, want nil", err)
			}
		}},
		{"paid payment", "", "CLO", func(t *testing.T, err error) { wantCode(t, "CancelPayment", err, paygate.ECONFLICT) }},
		{"paid payment answered 200", paymentJSON("CLO", ""), "", func(t *testing.T, err error) {
			wantCode(t, "CancelPayment", err, paygate.ECONFLICT)
		}},
		{"method not cancelable", "", "ACT", func(t *testing.T, err error) {
			if !errors.Is(err, providers.ErrNotCancelable) {
				t.Fatalf("CancelPayment = %v, want ErrNotCancelable", err)
			}
		}},
		{"already canceled", "", "CAN", func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("CancelPayment = %v, want nil", err)
			}
		}},
		{"already expired", "", "EXP", func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("CancelPayment = %v, want nil", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(c call) (int, string) {
				if c.Method == http.MethodDelete {
					if tc.deleteResp == "" {
						return http.StatusBadRequest, refused
					}
					return http.StatusOK, tc.deleteResp
				}
				return http.StatusOK, paymentJSON(tc.getStatus, "")
			})
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			err := c.CancelPayment(context.Background(), testPaymentID)
			tc.check(t, err)
			calls := f.Calls()
			if calls[0].Method != http.MethodDelete || calls[0].URI != "/v1/payments/"+testPaymentID || len(calls[0].Body) != 0 {
				t.Fatalf("first request %s %s %q, want DELETE /v1/payments/%s without a body", calls[0].Method, calls[0].URI, calls[0].Body, testPaymentID)
			}
		})
	}
	t.Run("unknown payment", func(t *testing.T) {
		f := newFakeRapyd(t, func(call) (int, string) {
			return http.StatusNotFound, `{"status":{"status":"ERROR","error_code":"ERROR_GET_PAYMENT","message":"no such payment"}}`
		})
		c := newClient(t, rapyd.Config{BaseURL: f.URL()})
		wantCode(t, "CancelPayment", c.CancelPayment(context.Background(), "payment_x"), paygate.ENOTFOUND)
	})
}

func TestMethodTypes(t *testing.T) {
	list := `[{"type":"kr_kakaopay_ewallet","name":"KakaoPay","category":"ewallet","currencies":["KRW"],"is_cancelable":true},` +
		`{"type":"kr_localcards_redirect_card","name":"Local cards","category":"card","currencies":["KRW"]}]`
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusNotFound, "{}" })
	f.SetLists(func(country, currency string) string { return list })
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	got, err := c.MethodTypes(context.Background())
	if err != nil {
		t.Fatalf("MethodTypes: %v", err)
	}
	if len(got) != 2 || got[0].Type != "kr_kakaopay_ewallet" || !got[0].IsCancelable || got[0].Currencies[0] != "KRW" || !got[0].Listed {
		t.Fatalf("MethodTypes = %+v", got)
	}
	// The query string is part of the signed path (the fake checks it).
	if uri := f.ListCalls()[0].URI; uri != "/v1/payment_methods/countries/KR?currency=KRW" {
		t.Fatalf("request URI %q, want /v1/payment_methods/countries/KR?currency=KRW", uri)
	}

	c = newClient(t, rapyd.Config{BaseURL: f.URL(), MethodTypes: map[providers.Method]string{
		providers.KakaoPay: "kr_kakaopay_ewallet", providers.SamsungPay: "kr_samsungpay_ewallet"}})
	err = c.CheckMethodTypes(context.Background())
	wantCode(t, "CheckMethodTypes", err, paygate.EINVALID)
	if !strings.Contains(err.Error(), "kr_samsungpay_ewallet") || strings.Contains(err.Error(), "kr_kakaopay_ewallet") {
		t.Fatalf("CheckMethodTypes = %v, want it to name kr_samsungpay_ewallet only", err)
	}
	c2 := newClient(t, rapyd.Config{BaseURL: f.URL(), MethodTypes: map[providers.Method]string{providers.SamsungPay: "kr_localcards_redirect_card"}})
	if err := c2.CheckMethodTypes(context.Background()); err != nil {
		t.Fatalf("CheckMethodTypes with offered types = %v, want nil", err)
	}
}
