package rapyd_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

// TestResolveMethodType: each method's type comes from the list of its
// country and currency, by the <name> of the type or its display name and
// a category that fits, never from a guess.
func TestResolveMethodType(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method providers.Method
		list   string // the data array of the method's country and currency
		want   string // the type; "" for none
	}{
		{"ideal by the pattern", providers.IDEAL,
			`[{"type":"nl_ideal_bank","name":"iDEAL","category":"bank_redirect","currencies":["EUR"]}]`, "nl_ideal_bank"},
		{"ideal by its display name, the type unlike the pattern", providers.IDEAL,
			`[{"type":"nl_sofort_bank","name":"Sofort","category":"bank_redirect","currencies":["EUR"]},` +
				`{"type":"nl_ibp_bank","name":"iDEAL","category":"bank_redirect","currencies":["EUR"]}]`, "nl_ibp_bank"},
		{"paynow QR", providers.PayNow,
			`[{"type":"sg_fast_bank","name":"FAST","category":"bank_transfer","currencies":["SGD"]},` +
				`{"type":"sg_paynow_bank","name":"PayNow QR","category":"bank_transfer","currencies":["SGD"]}]`, "sg_paynow_bank"},
		{"boleto as cash", providers.Boleto,
			`[{"type":"br_boletobancario_cash","name":"Boleto Bancário","category":"cash","currencies":["BRL"]}]`, "br_boletobancario_cash"},
		{"samsung pay with an underscore", providers.SamsungPay,
			`[{"type":"kr_samsung_pay_ewallet","name":"Samsung Pay ewallet (Korea)","category":"ewallet","currencies":["KRW"]}]`, "kr_samsung_pay_ewallet"},
		{"an exact name beats a longer one", providers.KakaoPay,
			`[{"type":"kr_kakaopaymoney_ewallet","name":"KakaoPay Money","category":"ewallet","currencies":["KRW"]},` +
				`{"type":"kr_kakao_ewallet","name":"KakaoPay","category":"ewallet","currencies":["KRW"]}]`, "kr_kakao_ewallet"},
		{"a boleto of the wrong category", providers.Boleto,
			`[{"type":"br_boleto_card","name":"Boleto","category":"card","currencies":["BRL"]}]`, ""},
		{"ideal in another currency", providers.IDEAL,
			`[{"type":"nl_ideal_bank","name":"iDEAL","category":"bank_redirect","currencies":["USD"]}]`, ""},
		{"two equally good", providers.IDEAL,
			`[{"type":"nl_ideal_bank","name":"iDEAL","category":"bank_redirect"},{"type":"xx_ideal_bank","name":"iDEAL","category":"bank_redirect"}]`, ""},
		{"an empty list", providers.PayNow, `[]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) { return http.StatusNotFound, "{}" })
			f.SetLists(func(country, currency string) string { return tc.list })
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			got, err := c.ResolveMethodType(context.Background(), tc.method)
			if tc.want != "" {
				if err != nil || got.Type != tc.want || !got.Listed {
					t.Fatalf("ResolveMethodType(%s) = %+v, %v, want %s", tc.method, got, err, tc.want)
				}
				return
			}
			wantCode(t, "ResolveMethodType", err, paygate.EUNAVAILABLE)
			if !providers.IsMethodUnavailable(err) {
				t.Fatalf("ResolveMethodType(%s) = %v, want an error wrapping ErrMethodUnavailable", tc.method, err)
			}
		})
	}
}

// TestMethodCountries: each method's list is its own country's, in its
// currency.
func TestMethodCountries(t *testing.T) {
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusNotFound, "{}" })
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	for _, tc := range []struct {
		method providers.Method
		uri    string
	}{
		{providers.IDEAL, "/v1/payment_methods/countries/NL?currency=EUR"},
		{providers.PayNow, "/v1/payment_methods/countries/SG?currency=SGD"},
		{providers.Boleto, "/v1/payment_methods/countries/BR?currency=BRL"},
		{providers.KakaoPay, "/v1/payment_methods/countries/KR?currency=KRW"},
	} {
		n := len(f.ListCalls())
		if _, err := c.ResolveMethodType(context.Background(), tc.method); err != nil {
			t.Fatalf("ResolveMethodType(%s): %v", tc.method, err)
		}
		calls := f.ListCalls()
		if len(calls) != n+1 || calls[n].URI != tc.uri {
			t.Fatalf("ResolveMethodType(%s) listed %v, want one call of %s", tc.method, calls[n:], tc.uri)
		}
	}
	// Samsung Pay shares KakaoPay's list: no call.
	n := len(f.ListCalls())
	if _, err := c.ResolveMethodType(context.Background(), providers.SamsungPay); err != nil || len(f.ListCalls()) != n {
		t.Fatalf("ResolveMethodType(samsungpay) = %v after %d more list calls, want the cached list", err, len(f.ListCalls())-n)
	}
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestMethodListCache: the list is fetched once per TTL, and again on a
// miss only when it is over a minute old.
func TestMethodListCache(t *testing.T) {
	f := newFakeRapyd(t, func(call) (int, string) { return http.StatusOK, readSample(t, "create_payment_response.json") })
	// The clock also stamps the requests, which the fake wants within
	// 10 s of now: it moves 8 s in all, past a TTL of 3 s twice.
	clk := &clock{t: time.Now().Add(-4 * time.Second)}
	c := newClient(t, rapyd.Config{BaseURL: f.URL(), Now: clk.Now, MethodListTTL: 3 * time.Second})
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.CreatePayment(ctx, kakaoRequest()); err != nil {
			t.Fatalf("CreatePayment %d: %v", i, err)
		}
	}
	if n := len(f.ListCalls()); n != 1 {
		t.Fatalf("3 payments made %d list calls, want 1 (cached)", n)
	}
	clk.Add(4 * time.Second)
	if _, err := c.CreatePayment(ctx, kakaoRequest()); err != nil {
		t.Fatalf("CreatePayment after the TTL: %v", err)
	}
	if n := len(f.ListCalls()); n != 2 {
		t.Fatalf("a payment after the TTL made %d list calls in all, want 2", n)
	}

	// A method the list lacks: unavailable, and not listed again within
	// a minute.
	f.SetLists(func(country, currency string) string { return `[]` })
	clk.Add(4 * time.Second)
	for range 2 {
		_, err := c.ResolveMethodType(ctx, providers.IDEAL)
		if !providers.IsMethodUnavailable(err) || paygate.ErrorCode(err) != paygate.EUNAVAILABLE {
			t.Fatalf("ResolveMethodType(ideal) = %v, want EUNAVAILABLE wrapping ErrMethodUnavailable", err)
		}
		if !strings.Contains(err.Error(), "iDEAL") {
			t.Fatalf("ResolveMethodType(ideal) = %v, want it to name iDEAL", err)
		}
	}
	if n := len(f.ListCalls()); n != 3 {
		t.Fatalf("two misses made %d list calls in all, want 3 (one for the NL list)", n)
	}
}

// TestCreatePaymentMethodUnavailable: Rapyd's ERROR_GET_PAYMENT_METHOD_TYPE
// is a method not available to the account, which the orchestrator fails
// over; the next create lists the methods again.
func TestCreatePaymentMethodUnavailable(t *testing.T) {
	f := newFakeRapyd(t, func(call) (int, string) {
		return http.StatusBadRequest, `{"status":{"status":"ERROR","error_code":"ERROR_GET_PAYMENT_METHOD_TYPE",` +
			`"message":"The request attempted an operation that requires a payment method, but the payment method type was not recognized or is not available for this merchant."}}`
	})
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	for i := range 2 {
		_, err := c.CreatePayment(context.Background(), kakaoRequest())
		wantCode(t, "CreatePayment", err, paygate.EUNAVAILABLE)
		if !providers.IsMethodUnavailable(err) || !strings.Contains(err.Error(), "KakaoPay") {
			t.Fatalf("CreatePayment = %v, want an error naming KakaoPay wrapping ErrMethodUnavailable", err)
		}
		if n := len(f.ListCalls()); n != i+1 {
			t.Fatalf("after %d refused creates, %d list calls, want %d: a refusal drops the cached list", i+1, n, i+1)
		}
	}
	// Another refusal is not a method's unavailability.
	f2 := newFakeRapyd(t, func(call) (int, string) {
		return http.StatusBadRequest, `{"status":{"status":"ERROR","error_code":"ERROR_CREATE_PAYMENT","message":"bad amount"}}`
	})
	c = newClient(t, rapyd.Config{BaseURL: f2.URL()})
	_, err := c.CreatePayment(context.Background(), kakaoRequest())
	wantCode(t, "CreatePayment", err, paygate.EINVALID)
	if providers.IsMethodUnavailable(err) {
		t.Fatalf("CreatePayment = %v: ERROR_CREATE_PAYMENT taken for an unavailable method", err)
	}
}

// TestConfiguredTypeWins: a type of Config.MethodTypes is used even if
// the list names another, and needs no list for a method without fields.
func TestConfiguredTypeWins(t *testing.T) {
	var body string
	f := newFakeRapyd(t, func(c call) (int, string) {
		body = string(c.Body)
		return http.StatusOK, `{"status":{"status":"SUCCESS"},"data":{"id":"payment_1","status":"ACT","amount":10.5,"currency_code":"EUR",` +
			`"payment_method_type":"nl_configured_bank","redirect_url":"https://bank.example/p"}}`
	})
	c := newClient(t, rapyd.Config{BaseURL: f.URL(), MethodTypes: map[providers.Method]string{providers.IDEAL: "nl_configured_bank"}})
	p, err := c.CreatePayment(context.Background(), idealRequest())
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	if !strings.Contains(body, `"payment_method":{"type":"nl_configured_bank"}`) || !strings.HasPrefix(body, `{"amount":10.5,"currency":"EUR",`) {
		t.Fatalf("body %s, want the configured type and 10.5 EUR", body)
	}
	if p.NextAction != (providers.NextAction{Type: providers.ActionRedirect, URL: "https://bank.example/p"}) || p.Amount != paygate.New(1050, paygate.EUR) {
		t.Fatalf("CreatePayment = %+v, want a redirect for 10.50 EUR", p)
	}
	if n := len(f.ListCalls()); n != 0 {
		t.Fatalf("CreatePayment of a configured type listed the methods %d times, want 0", n)
	}
	// Resolving it asks the list, and says when Rapyd cannot give it.
	f.SetLists(func(country, currency string) string { return "" })
	_, err = c.ResolveMethodType(context.Background(), providers.IDEAL)
	wantCode(t, "ResolveMethodType with the list failing", err, paygate.EUNAVAILABLE)
	if providers.IsMethodUnavailable(err) {
		t.Fatalf("ResolveMethodType = %v: a failing list taken for an unavailable method", err)
	}
	if _, err := c.CreatePayment(context.Background(), idealRequest()); err != nil {
		t.Fatalf("CreatePayment of a configured type with the list failing: %v", err)
	}
}

func idealRequest() providers.PaymentRequest {
	r := kakaoRequest()
	r.Method, r.Amount = providers.IDEAL, paygate.New(1050, paygate.EUR)
	return r
}

func boletoRequest() providers.PaymentRequest {
	r := kakaoRequest()
	r.Method, r.Amount, r.ReturnURL = providers.Boleto, paygate.New(12345, paygate.BRL), ""
	r.Payer = providers.Payer{Name: "Maria da Silva", Email: "maria@example.com", TaxID: "529.982.247-25",
		Address: providers.Address{Line1: "Av. Paulista 1000", City: "São Paulo", State: "SP", PostalCode: "01310-100", Country: "BR"}}
	return r
}

// TestCreateBoletoFields: a boleto sends the fields its type requires,
// filled from the payer, with the CPF's digits only; a payer without them
// is refused before any payment is created.
func TestCreateBoletoFields(t *testing.T) {
	var body string
	f := newFakeRapyd(t, func(c call) (int, string) {
		body = string(c.Body)
		return http.StatusOK, `{"status":{"status":"SUCCESS"},"data":{"id":"payment_1","status":"ACT","amount":123.45,"currency_code":"BRL",` +
			`"payment_method_type":"br_boleto_cash","payment_method_type_category":"cash","expiration":1765000000,` +
			`"textual_codes":{"Boleto code":"00190.00009 01234.567891 23456.789012 3 12340000012345"},"redirect_url":"https://rapyd.example/boleto/1"}}`
	})
	c := newClient(t, rapyd.Config{BaseURL: f.URL()})
	p, err := c.CreatePayment(context.Background(), boletoRequest())
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	want := `"payment_method":{"type":"br_boleto_cash","fields":{"document_id":"52998224725","name":"Maria da Silva"}}`
	if !strings.Contains(body, want) || strings.Contains(body, "complete_payment_url") {
		t.Fatalf("body %s, want it to contain %s and no return URL", body, want)
	}
	wantAction := providers.NextAction{Type: providers.ActionVoucher, VoucherNumber: "00190000090123456789123456789012312340000012345",
		URL: "https://rapyd.example/boleto/1", ExpiresAt: time.Unix(1765000000, 0).UTC()}
	if p.NextAction != wantAction || p.Amount != paygate.New(12345, paygate.BRL) {
		t.Fatalf("CreatePayment = %+v, want %+v of 123.45 BRL", p, wantAction)
	}

	n := len(f.Calls())
	for _, tc := range []struct {
		name   string
		change func(*providers.Payer)
	}{
		{"no tax id", func(p *providers.Payer) { p.TaxID = "" }},
		{"wrong check digits", func(p *providers.Payer) { p.TaxID = "529.982.247-24" }},
		{"no name", func(p *providers.Payer) { p.Name = "" }},
	} {
		req := boletoRequest()
		tc.change(&req.Payer)
		_, err := c.CreatePayment(context.Background(), req)
		wantCode(t, "CreatePayment("+tc.name+")", err, paygate.EINVALID)
		if strings.Contains(err.Error(), "52998224724") {
			t.Fatalf("CreatePayment(%s) = %v: the error shows the tax id", tc.name, err)
		}
	}
	if len(f.Calls()) != n {
		t.Fatalf("refused boletos reached Rapyd: %d calls, want %d", len(f.Calls()), n)
	}
}

// TestNextActions: a pending payment's next action is read from its
// codes, whether Rapyd puts the PayNow payload in its textual or its
// visual codes.
func TestNextActions(t *testing.T) {
	const payload = "00020101021226490009SG.PAYNOW010120210209900001Z030100408202612085204000053037025405" +
		"10.505802SG5915PAYGATE SANDBOX6009Singapore62170113A-P12345678-16304ABCD"
	exp := time.Unix(1765000000, 0).UTC()
	for _, tc := range []struct {
		name, extra string
		want        providers.NextAction
	}{
		{"payload in the visual codes", `,"visual_codes":{"PayNow QR":"` + payload + `"}`,
			providers.NextAction{Type: providers.ActionQR, QRData: payload, ExpiresAt: exp}},
		{"payload in the textual codes, image in the visual", `,"textual_codes":{"PayNow QR":"` + payload + `"},"visual_codes":{"PayNow QR":"data:image/png;base64,iVBO"}`,
			providers.NextAction{Type: providers.ActionQR, QRData: payload, QRImageURL: "data:image/png;base64,iVBO", ExpiresAt: exp}},
		{"an image only", `,"visual_codes":{"PayNow QR":"https://rapyd.example/qr.png"}`,
			providers.NextAction{Type: providers.ActionQR, QRImageURL: "https://rapyd.example/qr.png", ExpiresAt: exp}},
		{"a redirect", `,"redirect_url":"https://bank.example/p","textual_codes":{},"visual_codes":{}`,
			providers.NextAction{Type: providers.ActionRedirect, URL: "https://bank.example/p"}},
		{"cash without a code", `,"payment_method_type_category":"cash"`,
			providers.NextAction{Type: providers.ActionVoucher, ExpiresAt: exp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) {
				return http.StatusOK, paymentJSON("ACT", `,"expiration":1765000000`+tc.extra)
			})
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			p, err := c.GetPayment(context.Background(), testPaymentID)
			if err != nil || p.NextAction != tc.want {
				t.Fatalf("GetPayment = %+v, %v, want the next action %+v", p, err, tc.want)
			}
		})
	}
}

// TestFindPayment: an attempt's payment is listed by its
// merchant_reference_id; none is ENOTFOUND, Rapyd failing EUNAVAILABLE.
func TestFindPayment(t *testing.T) {
	one := func(ref, status string) string {
		return `{"id":"` + ref + `","status":"` + status + `","amount":15000,"currency_code":"KRW","merchant_reference_id":"A-P12345678-1",` +
			`"metadata":{"payment_order":"P12345678","attempt":"A-P12345678-1"},"redirect_url":"https://r.example/p"}`
	}
	for _, tc := range []struct {
		name    string
		status  int
		data    string
		wantRef string
		code    string
	}{
		{"found", http.StatusOK, `[` + one("payment_1", "ACT") + `]`, "payment_1", ""},
		{"a live one of two", http.StatusOK, `[` + one("payment_2", "ERR") + `,` + one("payment_1", "CLO") + `]`, "payment_1", ""},
		{"none", http.StatusOK, `[]`, "", paygate.ENOTFOUND},
		{"another attempt's only", http.StatusOK, `[` + strings.ReplaceAll(one("payment_1", "ACT"), "A-P12345678-1", "A-P12345678-2") + `]`, "", paygate.ENOTFOUND},
		{"Rapyd failing", http.StatusInternalServerError, ``, "", paygate.EUNAVAILABLE},
		{"Rapyd refusing the query", http.StatusBadRequest, ``, "", paygate.EUNAVAILABLE},
		{"an unreadable list", http.StatusOK, `{"id":"payment_1"}`, "", paygate.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRapyd(t, func(call) (int, string) {
				if tc.status != http.StatusOK {
					return tc.status, `{"status":{"status":"ERROR","error_code":"ERROR_LIST_PAYMENTS","message":"no"}}`
				}
				return http.StatusOK, `{"status":{"status":"SUCCESS"},"data":` + tc.data + `}`
			})
			c := newClient(t, rapyd.Config{BaseURL: f.URL()})
			p, err := c.FindPayment(context.Background(), kakaoRequest())
			if uri := f.Calls()[0].URI; uri != "/v1/payments?limit=100&merchant_reference_id=A-P12345678-1" {
				t.Fatalf("FindPayment asked %s", uri)
			}
			if tc.code != "" {
				wantCode(t, "FindPayment", err, tc.code)
				return
			}
			if err != nil || p.Ref != tc.wantRef {
				t.Fatalf("FindPayment = %+v, %v, want %s", p, err, tc.wantRef)
			}
		})
	}
}
