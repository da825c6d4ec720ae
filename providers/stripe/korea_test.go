package stripe

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

func TestCreatePaymentKoreanRequest(t *testing.T) {
	for _, tt := range []struct {
		method providers.Method
		typ    string
	}{{providers.KakaoPay, "kakao_pay"}, {providers.SamsungPay, "samsung_pay"}} {
		t.Run(string(tt.method), func(t *testing.T) {
			f := newFakeStripe(t, func(recorded) (int, string) {
				return 200, intentJSON(t, map[string]any{
					"amount": 15000, "currency": "krw", "payment_method_types": []string{tt.typ},
					"next_action": map[string]any{"type": "redirect_to_url",
						"redirect_to_url": map[string]any{"url": "https://pm-redirects.stripe.com/authorize/acct_1/pa_nonce_1", "return_url": "https://shop.test/r"}},
				})
			})
			c := newTestClient(t, f.srv.URL)
			got, err := c.CreatePayment(context.Background(), request(tt.method))
			if err != nil {
				t.Fatalf("CreatePayment(%s) = %v", tt.method, err)
			}
			want := providers.NextAction{Type: providers.ActionRedirect, URL: "https://pm-redirects.stripe.com/authorize/acct_1/pa_nonce_1"}
			if got.NextAction != want || got.Status != providers.StatusPending || got.Amount != paygate.New(15000, paygate.KRW) {
				t.Errorf("CreatePayment(%s) = %+v, want pending, 15000 KRW, %+v", tt.method, got, want)
			}
			r := f.requests()[0]
			if v := r.Header.Get("Stripe-Version"); v != KoreanAPIVersion {
				t.Errorf("Stripe-Version = %q, want %q", v, KoreanAPIVersion)
			}
			for k, v := range map[string]string{
				"payment_method_types[0]": tt.typ, "payment_method_data[type]": tt.typ,
				"currency": "krw", "amount": "15000", "confirm": "true",
				"return_url": request(tt.method).ReturnURL, "metadata[attempt]": "att_1",
			} {
				if got := r.Form.Get(k); got != v {
					t.Errorf("form %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	// Other methods stay on stripe-go's own version.
	f := newFakeStripe(t, func(recorded) (int, string) { return 200, intentJSON(t, nil) })
	c := newTestClient(t, f.srv.URL)
	if _, err := c.CreatePayment(context.Background(), request(providers.IDEAL)); err != nil {
		t.Fatal(err)
	}
	if v := f.requests()[0].Header.Get("Stripe-Version"); v != "2023-10-16" {
		t.Errorf("iDEAL Stripe-Version = %q, want 2023-10-16", v)
	}
}

func TestSamsungPayLimits(t *testing.T) {
	f := newFakeStripe(t, func(recorded) (int, string) {
		return 200, intentJSON(t, map[string]any{"amount": 100, "currency": "krw", "payment_method_types": []string{"samsung_pay"}})
	})
	c := newTestClient(t, f.srv.URL)
	for _, tt := range []struct {
		amount int64
		ok     bool
	}{{99, false}, {100, true}, {2_000_000, true}, {2_000_001, false}} {
		req := request(providers.SamsungPay)
		req.Amount.Minor = tt.amount
		_, err := c.CreatePayment(context.Background(), req)
		if tt.ok && err != nil {
			t.Errorf("CreatePayment(samsungpay, %d KRW) = %v, want accepted", tt.amount, err)
		}
		if !tt.ok {
			wantCode(t, "CreatePayment(samsungpay)", err, paygate.EINVALID)
		}
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests reached Stripe, want 2 (the amounts within limits)", n)
	}
}

func TestCreatePaymentMethodUnavailable(t *testing.T) {
	for _, code := range []string{"payment_method_unactivated", "payment_method_not_available"} {
		t.Run(code, func(t *testing.T) {
			f := newFakeStripe(t, func(recorded) (int, string) {
				return 400, stripeError("invalid_request_error", code, "The payment method type \"kakao_pay\" is invalid.")
			})
			c := newTestClient(t, f.srv.URL)
			_, err := c.CreatePayment(context.Background(), request(providers.KakaoPay))
			wantCode(t, "CreatePayment", err, paygate.EUNAVAILABLE)
			if !providers.IsMethodUnavailable(err) {
				t.Errorf("IsMethodUnavailable(%v) = false, want true", err)
			}
		})
	}
	// A decline of one payment is not the method being unavailable.
	f := newFakeStripe(t, func(recorded) (int, string) {
		return 400, stripeError("invalid_request_error", "payment_method_provider_decline", "declined")
	})
	c := newTestClient(t, f.srv.URL)
	_, err := c.CreatePayment(context.Background(), request(providers.KakaoPay))
	if providers.IsMethodUnavailable(err) {
		t.Errorf("a decline is IsMethodUnavailable: %v", err)
	}
}

func TestFindPayment(t *testing.T) {
	hit := `{"object":"search_result","data":[` + intentJSON(t, map[string]any{"id": "pi_found1"}) + `],"has_more":false,"url":"/v1/payment_intents/search"}`
	miss := `{"object":"search_result","data":[],"has_more":false,"url":"/v1/payment_intents/search"}`
	other := `{"object":"search_result","data":[` + intentJSON(t, map[string]any{"id": "pi_other", "metadata": map[string]string{"attempt": "att_2"}}) + `],"has_more":false}`
	tests := []struct {
		name    string
		search  func() (int, string)
		create  func() (int, string)
		want    string // the ref found, or "" for an error
		code    string
		creates int
	}{
		{"search finds it", func() (int, string) { return 200, hit }, nil, "pi_found1", "", 0},
		{"search misses, replay returns it", func() (int, string) { return 200, miss },
			func() (int, string) { return 200, intentJSON(t, map[string]any{"id": "pi_replayed"}) }, "pi_replayed", "", 1},
		{"search's other attempt is ignored", func() (int, string) { return 200, other },
			func() (int, string) { return 200, intentJSON(t, map[string]any{"id": "pi_replayed"}) }, "pi_replayed", "", 1},
		{"replay refused: none", func() (int, string) { return 200, miss },
			func() (int, string) { return 400, stripeError("invalid_request_error", "parameter_invalid", "bad") }, "", paygate.ENOTFOUND, 1},
		{"replay refused, method unactivated: none", func() (int, string) { return 200, miss },
			func() (int, string) {
				return 400, stripeError("invalid_request_error", "payment_method_unactivated", "no")
			}, "", paygate.ENOTFOUND, 1},
		{"create in flight: cannot tell", func() (int, string) { return 200, miss },
			func() (int, string) { return 409, stripeError("idempotency_error", "", "in flight") }, "", paygate.EUNAVAILABLE, 1},
		{"key used otherwise: cannot tell", func() (int, string) { return 200, miss },
			func() (int, string) {
				return 400, stripeError("idempotency_error", "idempotency_key_in_use", "other params")
			}, "", paygate.EUNAVAILABLE, 1},
		{"Stripe down: cannot tell", func() (int, string) { return 500, stripeError("api_error", "", "down") }, nil, "", paygate.EUNAVAILABLE, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t, func(r recorded) (int, string) {
				if r.Method == http.MethodGet && r.Path == "/v1/payment_intents/search" {
					if q := r.Form.Get("query"); q != "" {
						t.Errorf("query in the body: %q", q)
					}
					return tt.search()
				}
				if r.Method == http.MethodPost && r.Path == "/v1/payment_intents" && tt.create != nil {
					if k := r.Header.Get("Idempotency-Key"); k != request(providers.KakaoPay).IdempotencyKey {
						t.Errorf("replay's Idempotency-Key = %q, want the create's", k)
					}
					return tt.create()
				}
				t.Errorf("unexpected %s %s", r.Method, r.Path)
				return 500, `{}`
			})
			c := newTestClient(t, f.srv.URL)
			got, err := c.FindPayment(context.Background(), request(providers.KakaoPay))
			if tt.code != "" {
				wantCode(t, "FindPayment", err, tt.code)
			} else if err != nil || got.Ref != tt.want {
				t.Fatalf("FindPayment = %+v, %v, want %s", got, err, tt.want)
			}
			creates := 0
			for _, r := range f.requests() {
				if r.Method == http.MethodPost {
					creates++
				}
			}
			if creates != tt.creates {
				t.Errorf("%d creates, want %d", creates, tt.creates)
			}
		})
	}
}

func TestStripeMockKoreanMethods(t *testing.T) {
	c := stripeMock(t)
	for _, m := range []providers.Method{providers.KakaoPay, providers.SamsungPay} {
		t.Run(string(m), func(t *testing.T) {
			req := request(m)
			got, err := c.CreatePayment(context.Background(), req)
			if err != nil {
				t.Fatalf("CreatePayment(%s) = %v", m, err)
			}
			if !strings.HasPrefix(got.Ref, "pi_") || got.Amount != req.Amount {
				t.Errorf("CreatePayment(%s) = %+v, want pi_… echoing %s", m, got, req.Amount)
			}
			// stripe-mock's search fixture is not this attempt's: the
			// replay of the create answers.
			found, err := c.FindPayment(context.Background(), req)
			if err != nil || !strings.HasPrefix(found.Ref, "pi_") || found.Amount != req.Amount {
				t.Errorf("FindPayment(%s) = %+v, %v, want the replayed pi_…", m, found, err)
			}
		})
	}
}
