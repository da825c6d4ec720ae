package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

const (
	testKey           = "sk_test_51PaygateSecret4242" // stripe-mock takes sk_test_ plus one part without "_"
	testWebhookSecret = "whsec_test_paygate_secret"
	testQRLifetime    = 45 * time.Minute
	testBoletoDays    = 5
)

// recorded is one request the fake Stripe received.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
}

// fakeStripe is an httptest server on loopback that records every request
// and answers with what respond returns.
type fakeStripe struct {
	srv     *httptest.Server
	respond func(r recorded) (status int, body string)

	mu   sync.Mutex
	reqs []recorded
}

func newFakeStripe(t *testing.T, respond func(r recorded) (int, string)) *fakeStripe {
	t.Helper()
	f := &fakeStripe{respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("fake stripe: body %q is not form-encoded: %v", body, err)
		}
		rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		status, out := f.respond(rec)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_fake_1")
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStripe) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func newTestClient(t *testing.T, baseURL string) *Client {
	t.Helper()
	c, err := New(Config{
		SecretKey:              testKey,
		BaseURL:                baseURL,
		WebhookSecret:          testWebhookSecret,
		HTTPClient:             &http.Client{Timeout: 5 * time.Second},
		PayNowQRLifetime:       testQRLifetime,
		BoletoExpiresAfterDays: testBoletoDays,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// intentJSON is a PaymentIntent in the 2023-10-16 shape with fields
// replaced or added.
func intentJSON(t *testing.T, fields map[string]any) string {
	t.Helper()
	pi := map[string]any{
		"id":                   "pi_3TestIntent0001",
		"object":               "payment_intent",
		"amount":               2500,
		"amount_received":      0,
		"currency":             "eur",
		"created":              1764108000,
		"canceled_at":          nil,
		"cancellation_reason":  nil,
		"last_payment_error":   nil,
		"livemode":             false,
		"metadata":             map[string]string{"payment_order": "P12345678", "attempt": "att_1"},
		"next_action":          nil,
		"payment_method_types": []string{"ideal"},
		"status":               "requires_action",
	}
	for k, v := range fields {
		pi[k] = v
	}
	b, err := json.Marshal(pi)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stripeError(typ, code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"type": typ, "code": code, "message": msg}})
	return string(b)
}

// request returns a valid payment request for m.
func request(m providers.Method) providers.PaymentRequest {
	req := providers.PaymentRequest{
		Method:         m,
		PaymentOrder:   "P12345678",
		Attempt:        "att_1",
		IdempotencyKey: "attempt:att_1:create",
		ReturnURL:      "https://shop.test/checkout/P12345678/return",
		Description:    "Payment order P12345678",
	}
	switch m {
	case providers.IDEAL:
		req.Amount = paygate.New(2500, paygate.EUR)
		req.Payer = providers.Payer{Name: "Jan de Vries", Email: "jan@example.nl"}
	case providers.KakaoPay, providers.SamsungPay:
		req.Amount = paygate.New(15000, paygate.KRW)
	case providers.PayNow:
		req.Amount = paygate.New(8800, paygate.SGD)
		req.ReturnURL = ""
	case providers.Boleto:
		req.Amount = paygate.New(15000, paygate.BRL)
		req.ReturnURL = ""
		req.Payer = providers.Payer{
			Name:  "Maria da Silva",
			Email: "maria@example.com.br",
			TaxID: "52998224725",
			Address: providers.Address{
				Line1: "Avenida Paulista, 1000", Line2: "Apto 12", City: "São Paulo",
				State: "SP", PostalCode: "01310-100", Country: "BR",
			},
		}
	}
	return req
}

// wantCode fails unless err is a *paygate.Error of code, and checks that
// the secret key appears nowhere in it.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := paygate.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
	var pe *paygate.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %T is not a *paygate.Error", what, err)
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(paygate.ErrorMessage(err), testKey) {
		t.Fatalf("%s: error %q contains the secret key", what, err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{SecretKey: "sk_test_1"}, true},
		{"restricted key and simulator URL", Config{SecretKey: "rk_test_1", BaseURL: "http://127.0.0.1:8080/sandbox/stripe"}, true},
		{"live key", Config{SecretKey: "sk_live_1", WebhookSecret: "whsec_1", WebhookTolerance: time.Minute, BoletoExpiresAfterDays: 60, PayNowQRLifetime: time.Hour}, true},
		{"no key", Config{}, false},
		{"publishable key", Config{SecretKey: "pk_test_1"}, false},
		{"key with a newline", Config{SecretKey: "sk_test_1\n"}, false},
		{"key of no mode", Config{SecretKey: "sk_1234567890"}, false},
		{"restricted key of no mode", Config{SecretKey: "rk_sandbox_1"}, false},
		{"relative base URL", Config{SecretKey: "sk_test_1", BaseURL: "/sandbox/stripe"}, false},
		{"ftp base URL", Config{SecretKey: "sk_test_1", BaseURL: "ftp://127.0.0.1/"}, false},
		{"base URL with credentials", Config{SecretKey: "sk_test_1", BaseURL: "http://u:p@127.0.0.1/"}, false},
		{"negative tolerance", Config{SecretKey: "sk_test_1", WebhookTolerance: -time.Second}, false},
		{"negative QR lifetime", Config{SecretKey: "sk_test_1", PayNowQRLifetime: -time.Second}, false},
		{"boleto days over 60", Config{SecretKey: "sk_test_1", BoletoExpiresAfterDays: 61}, false},
		{"negative boleto days", Config{SecretKey: "sk_test_1", BoletoExpiresAfterDays: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("New(%s) = %v, want no error", tt.name, err)
				}
				if c.Name() != providers.Stripe {
					t.Fatalf("Name() = %q, want %q", c.Name(), providers.Stripe)
				}
				return
			}
			wantCode(t, "New", err, paygate.EINVALID)
			if tt.cfg.SecretKey != "" && strings.Contains(err.Error(), tt.cfg.SecretKey) {
				t.Fatalf("New: error %q quotes the key", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{SecretKey: "sk_test_1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.tolerance != 300*time.Second || c.boletoDays != 3 || c.qrLifetime != time.Hour {
		t.Fatalf("defaults: tolerance %s, boleto days %d, QR lifetime %s; want 5m0s, 3, 1h0m0s", c.tolerance, c.boletoDays, c.qrLifetime)
	}
}

func TestCreatePaymentRequestShape(t *testing.T) {
	common := func(m providers.Method, amount, cur string) map[string]string {
		return map[string]string{
			"amount":                    amount,
			"currency":                  cur,
			"confirm":                   "true",
			"payment_method_types[0]":   string(m),
			"payment_method_data[type]": string(m),
			"metadata[payment_order]":   "P12345678",
			"metadata[attempt]":         "att_1",
			"description":               "Payment order P12345678",
		}
	}
	tests := []struct {
		method providers.Method
		extra  map[string]string
	}{
		{providers.IDEAL, map[string]string{
			"return_url": "https://shop.test/checkout/P12345678/return",
			"payment_method_data[billing_details][name]":  "Jan de Vries",
			"payment_method_data[billing_details][email]": "jan@example.nl",
		}},
		{providers.PayNow, nil},
		{providers.Boleto, map[string]string{
			"payment_method_data[boleto][tax_id]":                        "52998224725",
			"payment_method_data[billing_details][name]":                 "Maria da Silva",
			"payment_method_data[billing_details][email]":                "maria@example.com.br",
			"payment_method_data[billing_details][address][line1]":       "Avenida Paulista, 1000",
			"payment_method_data[billing_details][address][line2]":       "Apto 12",
			"payment_method_data[billing_details][address][city]":        "São Paulo",
			"payment_method_data[billing_details][address][state]":       "SP",
			"payment_method_data[billing_details][address][postal_code]": "01310-100",
			"payment_method_data[billing_details][address][country]":     "BR",
			"payment_method_options[boleto][expires_after_days]":         fmt.Sprint(testBoletoDays),
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			req := request(tt.method)
			mi, _ := providers.Lookup(tt.method)
			f := newFakeStripe(t, func(recorded) (int, string) {
				return 200, intentJSON(t, map[string]any{
					"amount":               req.Amount.Minor,
					"currency":             strings.ToLower(string(mi.Currency)),
					"payment_method_types": []string{string(tt.method)},
				})
			})
			c := newTestClient(t, f.srv.URL)
			if _, err := c.CreatePayment(context.Background(), req); err != nil {
				t.Fatalf("CreatePayment(%s) = %v", tt.method, err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("CreatePayment(%s) made %d requests, want 1", tt.method, len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/v1/payment_intents" {
				t.Errorf("request = %s %s, want POST /v1/payment_intents", r.Method, r.Path)
			}
			for h, want := range map[string]string{
				"Authorization":   "Bearer " + testKey,
				"Idempotency-Key": "attempt:att_1:create",
				"Stripe-Version":  "2023-10-16",
				"Content-Type":    "application/x-www-form-urlencoded",
			} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			want := common(tt.method, fmt.Sprint(req.Amount.Minor), strings.ToLower(string(mi.Currency)))
			for k, v := range tt.extra {
				want[k] = v
			}
			got := map[string]string{}
			for k, vs := range r.Form {
				if len(vs) != 1 {
					t.Errorf("form field %s sent %d times: %q", k, len(vs), vs)
				}
				got[k] = vs[0]
			}
			if !reflect.DeepEqual(got, want) {
				for k, v := range want {
					if got[k] != v {
						t.Errorf("form %s = %q, want %q", k, got[k], v)
					}
				}
				for k, v := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("form has unexpected %s = %q", k, v)
					}
				}
			}
		})
	}
}

func TestCreatePaymentMapping(t *testing.T) {
	const created = 1764108000
	qr := map[string]any{
		"data":                    "00020101021226510009SG.PAYNOW0101202",
		"hosted_instructions_url": "https://payments.stripe.test/qr/instructions/1",
		"image_url_png":           "https://qr.stripe.test/1.png",
		"image_url_svg":           "https://qr.stripe.test/1.svg",
	}
	qrWithExpiry := map[string]any{"expires_at": 1764109800}
	for k, v := range qr {
		qrWithExpiry[k] = v
	}
	tests := []struct {
		name   string
		method providers.Method
		fields map[string]any
		want   providers.Payment
	}{
		{"ideal redirect", providers.IDEAL, map[string]any{
			"next_action": map[string]any{"type": "redirect_to_url", "redirect_to_url": map[string]any{
				"url": "https://bank.test/ideal/authorize?id=1", "return_url": "https://shop.test/return"}},
		}, providers.Payment{Status: providers.StatusPending, NextAction: providers.NextAction{
			Type: providers.ActionRedirect, URL: "https://bank.test/ideal/authorize?id=1"}}},
		{"paynow QR with its expiry", providers.PayNow, map[string]any{
			"next_action": map[string]any{"type": "paynow_display_qr_code", "paynow_display_qr_code": qrWithExpiry},
		}, providers.Payment{Status: providers.StatusPending, NextAction: providers.NextAction{
			Type: providers.ActionQR, URL: "https://payments.stripe.test/qr/instructions/1",
			QRData: "00020101021226510009SG.PAYNOW0101202", QRImageURL: "https://qr.stripe.test/1.png",
			ExpiresAt: time.Unix(1764109800, 0).UTC()}}},
		{"paynow QR without expiry", providers.PayNow, map[string]any{
			"next_action": map[string]any{"type": "paynow_display_qr_code", "paynow_display_qr_code": qr},
		}, providers.Payment{Status: providers.StatusPending, NextAction: providers.NextAction{
			Type: providers.ActionQR, URL: "https://payments.stripe.test/qr/instructions/1",
			QRData: "00020101021226510009SG.PAYNOW0101202", QRImageURL: "https://qr.stripe.test/1.png",
			ExpiresAt: time.Unix(created, 0).Add(testQRLifetime).UTC()}}},
		{"boleto voucher", providers.Boleto, map[string]any{
			"next_action": map[string]any{"type": "boleto_display_details", "boleto_display_details": map[string]any{
				"number":             "23790.12345 60000.000003 00000.000400 1 99990000015000",
				"hosted_voucher_url": "https://payments.stripe.test/boleto/voucher/1",
				"pdf":                "https://payments.stripe.test/boleto/voucher/1/pdf",
				"expires_at":         1764385199,
			}},
		}, providers.Payment{Status: providers.StatusPending, NextAction: providers.NextAction{
			Type: providers.ActionVoucher, URL: "https://payments.stripe.test/boleto/voucher/1",
			VoucherNumber: "23790.12345 60000.000003 00000.000400 1 99990000015000",
			ExpiresAt:     time.Unix(1764385199, 0).UTC()}}},
		{"processing", providers.Boleto, map[string]any{"status": "processing"},
			providers.Payment{Status: providers.StatusProcessing}},
		{"succeeded", providers.IDEAL, map[string]any{"status": "succeeded", "amount_received": 2500},
			providers.Payment{Status: providers.StatusSucceeded}},
		{"failed attempt", providers.IDEAL, map[string]any{
			"status": "requires_payment_method",
			"last_payment_error": map[string]any{"type": "invalid_request_error",
				"code": "payment_intent_authentication_failure", "message": "The bank declined the authentication."},
		}, providers.Payment{Status: providers.StatusFailed, FailureReason: "The bank declined the authentication."}},
		{"expired attempt", providers.Boleto, map[string]any{
			"status":             "requires_payment_method",
			"last_payment_error": map[string]any{"type": "invalid_request_error", "code": "payment_intent_payment_attempt_expired"},
		}, providers.Payment{Status: providers.StatusExpired, FailureReason: "payment_intent_payment_attempt_expired"}},
		{"canceled", providers.PayNow, map[string]any{
			"status": "canceled", "canceled_at": 1764111600, "cancellation_reason": "abandoned",
		}, providers.Payment{Status: providers.StatusCanceled, FailureReason: "abandoned"}},
		{"stripe-mock fixture: canceled_at is not canceled", providers.IDEAL, map[string]any{
			"status": "requires_payment_method", "canceled_at": 1234567890,
			"last_payment_error": map[string]any{"type": "idempotency_error"},
			"next_action":        map[string]any{"type": "type"},
		}, providers.Payment{Status: providers.StatusFailed, FailureReason: "idempotency_error"}},
		{"canceled_at with requires_action is pending", providers.IDEAL, map[string]any{
			"canceled_at": 1234567890,
			"next_action": map[string]any{"type": "redirect_to_url", "redirect_to_url": map[string]any{"url": "https://bank.test/a"}},
		}, providers.Payment{Status: providers.StatusPending, NextAction: providers.NextAction{Type: providers.ActionRedirect, URL: "https://bank.test/a"}}},
		{"not confirmed yet", providers.IDEAL, map[string]any{"status": "requires_payment_method"},
			providers.Payment{Status: providers.StatusPending}},
		{"requires confirmation", providers.IDEAL, map[string]any{"status": "requires_confirmation"},
			providers.Payment{Status: providers.StatusPending}},
		{"unknown next action", providers.IDEAL, map[string]any{"next_action": map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{}}},
			providers.Payment{Status: providers.StatusPending}},
		{"unknown status is pending", providers.IDEAL, map[string]any{"status": "requires_reticulation"},
			providers.Payment{Status: providers.StatusPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.method)
			mi, _ := providers.Lookup(tt.method)
			fields := map[string]any{"amount": req.Amount.Minor, "currency": strings.ToLower(string(mi.Currency))}
			for k, v := range tt.fields {
				fields[k] = v
			}
			f := newFakeStripe(t, func(recorded) (int, string) { return 200, intentJSON(t, fields) })
			c := newTestClient(t, f.srv.URL)
			got, err := c.CreatePayment(context.Background(), req)
			if err != nil {
				t.Fatalf("CreatePayment = %v", err)
			}
			want := tt.want
			want.Ref = "pi_3TestIntent0001"
			want.Amount = req.Amount
			if want.NextAction.Type == "" {
				want.NextAction.Type = providers.ActionNone
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("CreatePayment(%s) = %+v,\nwant %+v", tt.name, got, want)
			}
		})
	}
}

func TestCreatePaymentRefused(t *testing.T) {
	tests := []struct {
		name   string
		change func(*providers.PaymentRequest)
	}{
		{"KRW for iDEAL", func(r *providers.PaymentRequest) { r.Amount = paygate.New(15000, paygate.KRW) }},
		{"KRW for Boleto", func(r *providers.PaymentRequest) {
			r.Method = providers.Boleto
			r.Amount = paygate.New(15000, paygate.KRW)
		}},
		{"EUR for PayNow", func(r *providers.PaymentRequest) { r.Method = providers.PayNow }},
		{"no currency", func(r *providers.PaymentRequest) { r.Amount = paygate.Money{Minor: 100} }},
		{"EUR for Kakao Pay", func(r *providers.PaymentRequest) { r.Method = providers.KakaoPay }},
		{"Kakao Pay under 100 KRW", func(r *providers.PaymentRequest) { *r = request(providers.KakaoPay); r.Amount.Minor = 99 }},
		{"Kakao Pay without return URL", func(r *providers.PaymentRequest) { *r = request(providers.KakaoPay); r.ReturnURL = "" }},
		{"Samsung Pay under 100 KRW", func(r *providers.PaymentRequest) { *r = request(providers.SamsungPay); r.Amount.Minor = 99 }},
		{"Samsung Pay over 2,000,000 KRW", func(r *providers.PaymentRequest) {
			*r = request(providers.SamsungPay)
			r.Amount.Minor = 2_000_001
		}},
		{"Samsung Pay without return URL", func(r *providers.PaymentRequest) { *r = request(providers.SamsungPay); r.ReturnURL = "" }},
		{"unknown method", func(r *providers.PaymentRequest) { r.Method = "card" }},
		{"zero amount", func(r *providers.PaymentRequest) { r.Amount.Minor = 0 }},
		{"negative amount", func(r *providers.PaymentRequest) { r.Amount.Minor = -100 }},
		{"no idempotency key", func(r *providers.PaymentRequest) { r.IdempotencyKey = "" }},
		{"blank idempotency key", func(r *providers.PaymentRequest) { r.IdempotencyKey = "   " }},
		{"idempotency key over 255", func(r *providers.PaymentRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }},
		{"no payment order", func(r *providers.PaymentRequest) { r.PaymentOrder = "" }},
		{"no attempt", func(r *providers.PaymentRequest) { r.Attempt = "" }},
		{"iDEAL without return URL", func(r *providers.PaymentRequest) { r.ReturnURL = "" }},
		{"relative return URL", func(r *providers.PaymentRequest) { r.ReturnURL = "/checkout/return" }},
		{"javascript return URL", func(r *providers.PaymentRequest) { r.ReturnURL = "javascript:alert(1)" }},
		{"Boleto without tax id", func(r *providers.PaymentRequest) { *r = request(providers.Boleto); r.Payer.TaxID = "" }},
		{"Boleto without address", func(r *providers.PaymentRequest) {
			*r = request(providers.Boleto)
			r.Payer.Address = providers.Address{}
		}},
		{"Boleto without payer", func(r *providers.PaymentRequest) { *r = request(providers.Boleto); r.Payer = providers.Payer{} }},
	}
	f := newFakeStripe(t, func(recorded) (int, string) { return 500, `{}` })
	c := newTestClient(t, f.srv.URL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(providers.IDEAL)
			tt.change(&req)
			_, err := c.CreatePayment(context.Background(), req)
			wantCode(t, "CreatePayment", err, paygate.EINVALID)
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("refused requests reached Stripe %d times, want 0", n)
	}
}

func TestCreatePaymentBoletoNamesMissingFieldsOnly(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	req := request(providers.Boleto)
	req.Payer.Email = ""
	req.Payer.Address.PostalCode = ""
	_, err := c.CreatePayment(context.Background(), req)
	wantCode(t, "CreatePayment", err, paygate.EINVALID)
	msg := paygate.ErrorMessage(err)
	for _, s := range []string{"email", "address.postal_code"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q does not name %s", msg, s)
		}
	}
	if strings.Contains(msg, req.Payer.TaxID) {
		t.Errorf("message %q quotes the CPF", msg)
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		code    string
		message string // part of the caller-safe message
	}{
		{"invalid request", 400, stripeError("invalid_request_error", "parameter_invalid_integer", "Invalid integer: abc"), paygate.EINVALID, "Invalid integer: abc"},
		{"card error", 402, stripeError("card_error", "card_declined", "Your card was declined."), paygate.EINVALID, "Your card was declined."},
		{"idempotency error", 400, stripeError("idempotency_error", "idempotency_key_in_use", "Keys for idempotent requests can only be used with the same parameters they were first used with."), paygate.EINVALID, "same parameters"},
		{"error with only a type", 400, `{"error":{"type":"invalid_request_error"}}`, paygate.EINVALID, "invalid_request_error"},
		{"not found", 404, stripeError("invalid_request_error", "resource_missing", "No such payment_intent: 'pi_x'"), paygate.ENOTFOUND, "No such payment_intent"},
		{"bad key", 401, stripeError("invalid_request_error", "", "Invalid API Key provided: "+testKey), paygate.EINTERNAL, "refused the secret key"},
		{"forbidden key", 403, stripeError("invalid_request_error", "", "The provided key '"+testKey+"' does not have access"), paygate.EINTERNAL, "refused the secret key"},
		{"unexpected state", 400, stripeError("invalid_request_error", "payment_intent_unexpected_state", "This PaymentIntent's status is succeeded."), paygate.ECONFLICT, "status is succeeded"},
		{"conflict", 409, stripeError("invalid_request_error", "", "There is currently another in-progress request using this Stripe API key."), paygate.EUNAVAILABLE, "retry later"},
		{"rate limited", 429, stripeError("invalid_request_error", "rate_limit", "Too many requests"), paygate.EUNAVAILABLE, "retry later"},
		{"500 from Stripe", 500, stripeError("api_error", "", "An unknown error occurred"), paygate.EUNAVAILABLE, "retry later"},
		{"500 not JSON", 500, "internal error", paygate.EUNAVAILABLE, "retry later"},
		{"502 from a proxy", 502, "<html>Bad Gateway</html>", paygate.EUNAVAILABLE, "retry later"},
		{"503", 503, stripeError("api_error", "", "Service unavailable"), paygate.EUNAVAILABLE, "retry later"},
		{"200 not JSON", 200, "{not json", paygate.EUNAVAILABLE, "retry later"},
	}
	ops := []struct {
		name string
		call func(c *Client) error
	}{
		{"CreatePayment", func(c *Client) error {
			_, err := c.CreatePayment(context.Background(), request(providers.IDEAL))
			return err
		}},
		{"GetPayment", func(c *Client) error {
			_, err := c.GetPayment(context.Background(), "pi_3TestIntent0001")
			return err
		}},
	}
	for _, tt := range tests {
		for _, op := range ops {
			t.Run(tt.name+"/"+op.name, func(t *testing.T) {
				f := newFakeStripe(t, func(recorded) (int, string) { return tt.status, tt.body })
				c := newTestClient(t, f.srv.URL)
				err := op.call(c)
				wantCode(t, op.name, err, tt.code)
				if msg := paygate.ErrorMessage(err); tt.code != paygate.EINTERNAL && !strings.Contains(msg, tt.message) {
					t.Errorf("%s: message %q does not contain %q", op.name, msg, tt.message)
				}
				if tt.code == paygate.EINTERNAL && !strings.Contains(err.Error(), tt.message) {
					t.Errorf("%s: error %q does not contain %q", op.name, err, tt.message)
				}
				if n := len(f.requests()); n != 1 {
					t.Errorf("%s: %d requests, want 1 (no retries)", op.name, n)
				}
			})
		}
	}
}

func TestUnreachable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name    string
		baseURL string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{"closed server", closedURL, 5 * time.Second, nil},
		{"client timeout", slow.URL, 100 * time.Millisecond, nil},
		{"context deadline", slow.URL, 5 * time.Second, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{SecretKey: testKey, BaseURL: tt.baseURL, HTTPClient: &http.Client{Timeout: tt.timeout}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			_, err = c.CreatePayment(ctx, request(providers.IDEAL))
			wantCode(t, "CreatePayment", err, paygate.EUNAVAILABLE)
			_, err = c.GetPayment(ctx, "pi_1")
			wantCode(t, "GetPayment", err, paygate.EUNAVAILABLE)
			wantCode(t, "CancelPayment", c.CancelPayment(ctx, "pi_1"), paygate.EUNAVAILABLE)
		})
	}
}

func TestCreatePaymentUnusableResponse(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
	}{
		{"unknown currency", map[string]any{"currency": "zzz"}},
		{"no id", map[string]any{"id": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t, func(recorded) (int, string) { return 200, intentJSON(t, tt.fields) })
			c := newTestClient(t, f.srv.URL)
			_, err := c.CreatePayment(context.Background(), request(providers.IDEAL))
			wantCode(t, "CreatePayment", err, paygate.EINTERNAL)
		})
	}
}

func TestGetPayment(t *testing.T) {
	f := newFakeStripe(t, func(recorded) (int, string) {
		return 200, intentJSON(t, map[string]any{
			"id": "pi_3GetMe", "status": "succeeded", "amount": 15000, "amount_received": 15000, "currency": "brl",
			"payment_method_types": []string{"boleto"},
		})
	})
	c := newTestClient(t, f.srv.URL)
	got, err := c.GetPayment(context.Background(), "pi_3GetMe")
	if err != nil {
		t.Fatalf("GetPayment = %v", err)
	}
	want := providers.Payment{
		Ref: "pi_3GetMe", Status: providers.StatusSucceeded, Amount: paygate.New(15000, paygate.BRL),
		NextAction: providers.NextAction{Type: providers.ActionNone},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetPayment = %+v, want %+v", got, want)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].Path != "/v1/payment_intents/pi_3GetMe" {
		t.Fatalf("requests = %+v, want one GET /v1/payment_intents/pi_3GetMe", reqs)
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
}

func TestBadRef(t *testing.T) {
	f := newFakeStripe(t, func(recorded) (int, string) { return 200, intentJSON(t, nil) })
	c := newTestClient(t, f.srv.URL)
	for _, ref := range []string{"", "pi_", "py_123", "pi_1/cancel", "pi_1?expand[]=x", "../v1/charges", "pi_ 1", "pi_" + strings.Repeat("a", 300)} {
		t.Run(ref, func(t *testing.T) {
			_, err := c.GetPayment(context.Background(), ref)
			wantCode(t, "GetPayment", err, paygate.EINVALID)
			wantCode(t, "CancelPayment", c.CancelPayment(context.Background(), ref), paygate.EINVALID)
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("bad refs reached Stripe %d times", n)
	}
}

func TestCancelPayment(t *testing.T) {
	tests := []struct {
		name      string
		current   map[string]any // the PaymentIntent GET returns
		cancel    func() (int, string)
		wantCode  string
		wantIs    error
		wantCalls []string
	}{
		{"pending iDEAL is canceled", map[string]any{}, nil, "", nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001", "POST /v1/payment_intents/pi_3TestIntent0001/cancel"}},
		{"failed PayNow is canceled", map[string]any{"status": "requires_payment_method", "payment_method_types": []string{"paynow"},
			"last_payment_error": map[string]any{"type": "card_error"}}, nil, "", nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001", "POST /v1/payment_intents/pi_3TestIntent0001/cancel"}},
		{"boleto is not cancelable", map[string]any{"payment_method_types": []string{"boleto"}}, nil, paygate.ECONFLICT, providers.ErrNotCancelable,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001"}},
		{"succeeded is a conflict", map[string]any{"status": "succeeded"}, nil, paygate.ECONFLICT, nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001"}},
		{"already canceled is done", map[string]any{"status": "canceled", "cancellation_reason": "abandoned"}, nil, "", nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001"}},
		{"succeeded meanwhile is a conflict", map[string]any{}, func() (int, string) {
			return 400, stripeError("invalid_request_error", "payment_intent_unexpected_state",
				"You cannot cancel this PaymentIntent because it has a status of succeeded.")
		}, paygate.ECONFLICT, nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001", "POST /v1/payment_intents/pi_3TestIntent0001/cancel"}},
		{"Stripe down", map[string]any{}, func() (int, string) { return 503, stripeError("api_error", "", "down") }, paygate.EUNAVAILABLE, nil,
			[]string{"GET /v1/payment_intents/pi_3TestIntent0001", "POST /v1/payment_intents/pi_3TestIntent0001/cancel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t, func(r recorded) (int, string) {
				if r.Method == http.MethodGet {
					return 200, intentJSON(t, tt.current)
				}
				if got := r.Form.Get("cancellation_reason"); got != "abandoned" || len(r.Form) != 1 {
					t.Errorf("cancel form = %v, want cancellation_reason=abandoned only", r.Form)
				}
				if tt.cancel != nil {
					return tt.cancel()
				}
				return 200, intentJSON(t, map[string]any{"status": "canceled", "cancellation_reason": "abandoned"})
			})
			c := newTestClient(t, f.srv.URL)
			err := c.CancelPayment(context.Background(), "pi_3TestIntent0001")
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("CancelPayment = %v, want nil", err)
				}
			} else {
				wantCode(t, "CancelPayment", err, tt.wantCode)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("CancelPayment = %v, want errors.Is %v", err, tt.wantIs)
			}
			var calls []string
			for _, r := range f.requests() {
				calls = append(calls, r.Method+" "+r.Path)
			}
			if !reflect.DeepEqual(calls, tt.wantCalls) {
				t.Errorf("calls = %q, want %q", calls, tt.wantCalls)
			}
		})
	}
}
