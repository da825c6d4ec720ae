package stripesim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/providers/simkit"
	stripe "github.com/stripe/stripe-go/v76"
)

// methodCase is one payment method as the production client would send it.
type methodCase struct {
	method   string
	currency string
	amount   int64
	params   func() *stripe.PaymentIntentParams
	check    func(t *testing.T, env *testEnv, pi *stripe.PaymentIntent)
}

func boletoParams() *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(12345),
		Currency:           stripe.String("brl"),
		PaymentMethodTypes: []*string{stripe.String("boleto")},
		PaymentMethodData: &stripe.PaymentIntentPaymentMethodDataParams{
			Type: stripe.String("boleto"),
			BillingDetails: &stripe.PaymentIntentPaymentMethodDataBillingDetailsParams{
				Name:  stripe.String("Maria da Silva"),
				Email: stripe.String("maria@example.com"),
				Address: &stripe.AddressParams{
					Line1: stripe.String("Av. Paulista, 1000"), City: stripe.String("São Paulo"),
					State: stripe.String("SP"), PostalCode: stripe.String("01310-100"), Country: stripe.String("BR"),
				},
			},
			Boleto: &stripe.PaymentMethodBoletoParams{TaxID: stripe.String("529.982.247-25")},
		},
		PaymentMethodOptions: &stripe.PaymentIntentPaymentMethodOptionsParams{
			Boleto: &stripe.PaymentIntentPaymentMethodOptionsBoletoParams{ExpiresAfterDays: stripe.Int64(5)},
		},
		Confirm: stripe.Bool(true),
	}
	p.AddMetadata("payment_order", "P12345678")
	p.AddMetadata("attempt", "A1")
	return p
}

func methodCases() []methodCase {
	return []methodCase{
		{
			method: "ideal", currency: "eur", amount: 1050,
			params: func() *stripe.PaymentIntentParams {
				p := &stripe.PaymentIntentParams{
					Amount: stripe.Int64(1050), Currency: stripe.String(string(stripe.CurrencyEUR)),
					PaymentMethodTypes: []*string{stripe.String("ideal")},
					PaymentMethodData: &stripe.PaymentIntentPaymentMethodDataParams{
						Type:  stripe.String("ideal"),
						IDEAL: &stripe.PaymentMethodIDEALParams{Bank: stripe.String("ing")},
						BillingDetails: &stripe.PaymentIntentPaymentMethodDataBillingDetailsParams{
							Name: stripe.String("Jan de Vries"),
						},
					},
					ReturnURL: stripe.String("https://shop.example/return?order=P12345678"),
					Confirm:   stripe.Bool(true),
				}
				p.AddMetadata("payment_order", "P12345678")
				p.AddMetadata("attempt", "A1")
				return p
			},
			check: func(t *testing.T, env *testEnv, pi *stripe.PaymentIntent) {
				na := pi.NextAction
				if na.Type != stripe.PaymentIntentNextActionTypeRedirectToURL || na.RedirectToURL == nil {
					t.Fatalf("next_action = %+v, want redirect_to_url", na)
				}
				if want := env.base + "/ideal/" + pi.ID; na.RedirectToURL.URL != want {
					t.Errorf("redirect url = %q, want %q", na.RedirectToURL.URL, want)
				}
				if na.RedirectToURL.ReturnURL != "https://shop.example/return?order=P12345678" {
					t.Errorf("return_url = %q", na.RedirectToURL.ReturnURL)
				}
			},
		},
		{
			method: "paynow", currency: "sgd", amount: 2599,
			params: func() *stripe.PaymentIntentParams {
				p := &stripe.PaymentIntentParams{
					Amount: stripe.Int64(2599), Currency: stripe.String("sgd"),
					PaymentMethodTypes: []*string{stripe.String("paynow")},
					PaymentMethodData: &stripe.PaymentIntentPaymentMethodDataParams{
						Type: stripe.String("paynow"), PayNow: &stripe.PaymentIntentPaymentMethodDataPayNowParams{},
					},
					Confirm: stripe.Bool(true),
				}
				p.AddMetadata("payment_order", "P12345678")
				p.AddMetadata("attempt", "A1")
				return p
			},
			check: func(t *testing.T, env *testEnv, pi *stripe.PaymentIntent) {
				na := pi.NextAction
				if na.Type != "paynow_display_qr_code" || na.PayNowDisplayQRCode == nil {
					t.Fatalf("next_action = %+v, want paynow_display_qr_code", na)
				}
				qr := na.PayNowDisplayQRCode
				if !strings.HasPrefix(qr.Data, "000201") || !strings.Contains(qr.Data, "SG.PAYNOW") || !strings.Contains(qr.Data, "540525.99") {
					t.Errorf("data = %q, want an SGQR PayNow payload of 25.99", qr.Data)
				}
				if qr.ImageURLPNG != env.base+"/qr/"+pi.ID+".png" || qr.ImageURLSVG != env.base+"/qr/"+pi.ID+".svg" ||
					qr.HostedInstructionsURL != env.base+"/paynow/"+pi.ID {
					t.Errorf("urls = %+v", qr)
				}
			},
		},
		{
			method: "boleto", currency: "brl", amount: 12345,
			params: boletoParams,
			check: func(t *testing.T, env *testEnv, pi *stripe.PaymentIntent) {
				na := pi.NextAction
				if na.Type != "boleto_display_details" || na.BoletoDisplayDetails == nil {
					t.Fatalf("next_action = %+v, want boleto_display_details", na)
				}
				b := na.BoletoDisplayDetails
				if !simkit.ValidBoletoLine(b.Number) {
					t.Errorf("number = %q, want a 47-digit line with valid check digits", b.Number)
				}
				if b.HostedVoucherURL != env.base+"/boleto/"+pi.ID || b.PDF != env.base+"/boleto/"+pi.ID+"/voucher.pdf" {
					t.Errorf("urls = %+v", b)
				}
				want := simkit.BoletoExpiry(time.Unix(pi.Created, 0), 5).Unix()
				if b.ExpiresAt != want {
					t.Errorf("expires_at = %d, want %d (5 days, end of day in São Paulo)", b.ExpiresAt, want)
				}
				if got := pi.PaymentMethodOptions.Boleto.ExpiresAfterDays; got != 5 {
					t.Errorf("expires_after_days = %d, want 5", got)
				}
			},
		},
	}
}

func TestClientRoundTrip(t *testing.T) {
	for _, tc := range methodCases() {
		t.Run(tc.method, func(t *testing.T) {
			env := newEnv(t, 0)
			sc := env.client

			pi, err := sc.PaymentIntents.New(tc.params())
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if pi.Status != stripe.PaymentIntentStatusRequiresAction {
				t.Fatalf("create status = %q, want requires_action", pi.Status)
			}
			if !strings.HasPrefix(pi.ID, "pi_") || !strings.HasPrefix(pi.ClientSecret, pi.ID+"_secret_") {
				t.Errorf("id %q, client_secret %q", pi.ID, pi.ClientSecret)
			}
			if pi.Amount != tc.amount || string(pi.Currency) != tc.currency || pi.AmountReceived != 0 {
				t.Errorf("amount %d %s received %d, want %d %s received 0", pi.Amount, pi.Currency, pi.AmountReceived, tc.amount, tc.currency)
			}
			if len(pi.PaymentMethodTypes) != 1 || pi.PaymentMethodTypes[0] != tc.method {
				t.Errorf("payment_method_types = %v", pi.PaymentMethodTypes)
			}
			if pi.Metadata["payment_order"] != "P12345678" || pi.Metadata["attempt"] != "A1" {
				t.Errorf("metadata = %v", pi.Metadata)
			}
			if pi.PaymentMethod == nil || !strings.HasPrefix(pi.PaymentMethod.ID, "pm_") {
				t.Errorf("payment_method = %+v", pi.PaymentMethod)
			}
			if pi.LastPaymentError != nil || pi.LatestCharge != nil {
				t.Errorf("last_payment_error %v latest_charge %v, want none", pi.LastPaymentError, pi.LatestCharge)
			}
			tc.check(t, env, pi)

			got, err := sc.PaymentIntents.Get(pi.ID, nil)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got.ID != pi.ID || got.Status != pi.Status || got.Amount != pi.Amount {
				t.Errorf("get = %s %s %d, want %s %s %d", got.ID, got.Status, got.Amount, pi.ID, pi.Status, pi.Amount)
			}
			tc.check(t, env, got)

			// Confirming again (a new QR code / voucher / redirect) is allowed.
			again, err := sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{})
			if err != nil {
				t.Fatalf("re-confirm: %v", err)
			}
			tc.check(t, env, again)

			canceled, err := sc.PaymentIntents.Cancel(pi.ID, &stripe.PaymentIntentCancelParams{
				CancellationReason: stripe.String("abandoned"),
			})
			if err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if canceled.Status != stripe.PaymentIntentStatusCanceled || canceled.CancellationReason != "abandoned" ||
				canceled.CanceledAt == 0 || canceled.NextAction != nil {
				t.Errorf("cancel = status %q reason %q at %d next %v", canceled.Status, canceled.CancellationReason, canceled.CanceledAt, canceled.NextAction)
			}
			// Stripe sends payment_intent.canceled.
			evs := env.hooks.wait(1, 5*time.Second)
			if evs[0].Type != "payment_intent.canceled" {
				t.Errorf("event = %s, want payment_intent.canceled", evs[0].Type)
			}
			_, err = sc.PaymentIntents.Cancel(pi.ID, nil)
			if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
				t.Errorf("cancel twice = %d %s, want 400 payment_intent_unexpected_state", se.HTTPStatusCode, se.Code)
			}
		})
	}
}

func TestCreateThenConfirm(t *testing.T) {
	for _, tc := range methodCases() {
		t.Run(tc.method, func(t *testing.T) {
			env := newEnv(t, 0)
			p := tc.params()
			p.Confirm = nil
			data := p.PaymentMethodData
			p.PaymentMethodData = nil
			ret := p.ReturnURL
			p.ReturnURL = nil
			opts := p.PaymentMethodOptions
			p.PaymentMethodOptions = nil
			pi, err := env.client.PaymentIntents.New(p)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || pi.NextAction != nil {
				t.Fatalf("create without confirm = %q %v, want requires_payment_method", pi.Status, pi.NextAction)
			}
			// Confirming without a payment method is refused.
			_, err = env.client.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{})
			if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
				t.Errorf("confirm without method = %d, want 400", se.HTTPStatusCode)
			}
			cp := &stripe.PaymentIntentConfirmParams{ReturnURL: ret, PaymentMethodOptions: opts}
			cp.PaymentMethodData = data
			pi, err = env.client.PaymentIntents.Confirm(pi.ID, cp)
			if err != nil {
				t.Fatalf("confirm: %v", err)
			}
			if pi.Status != stripe.PaymentIntentStatusRequiresAction {
				t.Fatalf("confirm status = %q", pi.Status)
			}
			tc.check(t, env, pi)
		})
	}
}

func TestIdempotency(t *testing.T) {
	for _, tc := range methodCases() {
		t.Run(tc.method, func(t *testing.T) {
			env := newEnv(t, 0)
			p := tc.params()
			p.SetIdempotencyKey("attempt-A1-create")
			first, err := env.client.PaymentIntents.New(p)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if got := first.LastResponse.Header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("first Idempotent-Replayed = %q, want none", got)
			}

			p = tc.params()
			p.SetIdempotencyKey("attempt-A1-create")
			replay, err := env.client.PaymentIntents.New(p)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if replay.ID != first.ID || string(replay.LastResponse.RawJSON) != string(first.LastResponse.RawJSON) {
				t.Errorf("replay = %s, want %s with the same body", replay.ID, first.ID)
			}
			if got := replay.LastResponse.Header.Get("Idempotent-Replayed"); got != "true" {
				t.Errorf("replay Idempotent-Replayed = %q, want true", got)
			}

			p = tc.params()
			p.Amount = stripe.Int64(tc.amount + 1)
			p.SetIdempotencyKey("attempt-A1-create")
			_, err = env.client.PaymentIntents.New(p)
			se := stripeErr(t, err)
			if se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeIdempotency || se.Code != stripe.ErrorCodeIdempotencyKeyInUse {
				t.Errorf("mismatch = %d %s %s, want 400 idempotency_error idempotency_key_in_use", se.HTTPStatusCode, se.Type, se.Code)
			}
			var ie *stripe.IdempotencyError
			if !errorsAs(err, &ie) {
				t.Errorf("mismatch error does not unwrap to *stripe.IdempotencyError")
			}

			// A key used on another endpoint is refused too.
			cp := &stripe.PaymentIntentCancelParams{}
			cp.SetIdempotencyKey("attempt-A1-create")
			_, err = env.client.PaymentIntents.Cancel(first.ID, cp)
			if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency {
				t.Errorf("key on another endpoint = %s, want idempotency_error", se.Type)
			}

			// Only one intent was created.
			env.sim.mu.Lock()
			n := len(env.sim.intents)
			env.sim.mu.Unlock()
			if n != 1 {
				t.Errorf("intents = %d, want 1", n)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	type errCase struct {
		name      string
		params    func() *stripe.PaymentIntentParams
		wantParam string
		wantCode  stripe.ErrorCode
	}
	withBoleto := func(mut func(p *stripe.PaymentIntentParams)) func() *stripe.PaymentIntentParams {
		return func() *stripe.PaymentIntentParams {
			p := boletoParams()
			mut(p)
			return p
		}
	}
	cases := []errCase{
		{"ideal in sgd", func() *stripe.PaymentIntentParams {
			p := methodCases()[0].params()
			p.Currency = stripe.String("sgd")
			return p
		}, "currency", stripe.ErrorCodePaymentIntentInvalidParameter},
		{"paynow in usd", func() *stripe.PaymentIntentParams {
			p := methodCases()[1].params()
			p.Currency = stripe.String("usd")
			return p
		}, "currency", stripe.ErrorCodePaymentIntentInvalidParameter},
		{"boleto in eur", withBoleto(func(p *stripe.PaymentIntentParams) { p.Currency = stripe.String("eur") }),
			"currency", stripe.ErrorCodePaymentIntentInvalidParameter},
		{"zero amount", withBoleto(func(p *stripe.PaymentIntentParams) { p.Amount = stripe.Int64(0) }),
			"amount", stripe.ErrorCodeAmountTooSmall},
		{"negative amount", withBoleto(func(p *stripe.PaymentIntentParams) { p.Amount = stripe.Int64(-5) }),
			"amount", stripe.ErrorCodeAmountTooSmall},
		{"missing amount", withBoleto(func(p *stripe.PaymentIntentParams) { p.Amount = nil }),
			"amount", stripe.ErrorCodeParameterMissing},
		{"card", withBoleto(func(p *stripe.PaymentIntentParams) {
			p.PaymentMethodTypes = []*string{stripe.String("card")}
		}), "payment_method_types", stripe.ErrorCodePaymentIntentInvalidParameter},
		{"ideal without return_url", func() *stripe.PaymentIntentParams {
			p := methodCases()[0].params()
			p.ReturnURL = nil
			return p
		}, "return_url", stripe.ErrorCodeParameterMissing},
		{"ideal with a bad return_url", func() *stripe.PaymentIntentParams {
			p := methodCases()[0].params()
			p.ReturnURL = stripe.String("not a url")
			return p
		}, "return_url", stripe.ErrorCodeURLInvalid},
		{"boleto without name", withBoleto(func(p *stripe.PaymentIntentParams) { p.PaymentMethodData.BillingDetails.Name = nil }),
			"payment_method_data[billing_details][name]", stripe.ErrorCodeParameterMissing},
		{"boleto without email", withBoleto(func(p *stripe.PaymentIntentParams) { p.PaymentMethodData.BillingDetails.Email = nil }),
			"payment_method_data[billing_details][email]", stripe.ErrorCodeParameterMissing},
		{"boleto without address", withBoleto(func(p *stripe.PaymentIntentParams) { p.PaymentMethodData.BillingDetails.Address = nil }),
			"payment_method_data[billing_details][address][line1]", stripe.ErrorCodeParameterMissing},
		{"boleto without city", withBoleto(func(p *stripe.PaymentIntentParams) { p.PaymentMethodData.BillingDetails.Address.City = nil }),
			"payment_method_data[billing_details][address][city]", stripe.ErrorCodeParameterMissing},
		{"boleto without postal code", withBoleto(func(p *stripe.PaymentIntentParams) {
			p.PaymentMethodData.BillingDetails.Address.PostalCode = nil
		}), "payment_method_data[billing_details][address][postal_code]", stripe.ErrorCodeParameterMissing},
		{"boleto without tax id", withBoleto(func(p *stripe.PaymentIntentParams) { p.PaymentMethodData.Boleto = nil }),
			"payment_method_data[boleto][tax_id]", stripe.ErrorCodeParameterMissing},
		{"boleto with a bad CPF", withBoleto(func(p *stripe.PaymentIntentParams) {
			p.PaymentMethodData.Boleto.TaxID = stripe.String("529.982.247-26")
		}), "payment_method_data[boleto][tax_id]", stripe.ErrorCodeTaxIDInvalid},
		{"boleto with a bad email", withBoleto(func(p *stripe.PaymentIntentParams) {
			p.PaymentMethodData.BillingDetails.Email = stripe.String("maria")
		}), "payment_method_data[billing_details][email]", stripe.ErrorCodeEmailInvalid},
		{"boleto expiring in 61 days", withBoleto(func(p *stripe.PaymentIntentParams) {
			p.PaymentMethodOptions.Boleto.ExpiresAfterDays = stripe.Int64(61)
		}), "payment_method_options[boleto][expires_after_days]", ""},
		{"unknown parameter", withBoleto(func(p *stripe.PaymentIntentParams) { p.AddExtra("colour", "blue") }),
			"colour", stripe.ErrorCodeParameterUnknown},
	}
	env := newEnv(t, 0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.client.PaymentIntents.New(tc.params())
			se := stripeErr(t, err)
			if se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeInvalidRequest || se.Param != tc.wantParam || se.Code != tc.wantCode {
				t.Errorf("New = %d %s param %q code %q (%s), want 400 invalid_request_error param %q code %q",
					se.HTTPStatusCode, se.Type, se.Param, se.Code, se.Msg, tc.wantParam, tc.wantCode)
			}
			if se.RequestID == "" {
				t.Errorf("no Request-Id")
			}
		})
	}
	env.sim.mu.Lock()
	defer env.sim.mu.Unlock()
	if n := len(env.sim.intents); n != 0 {
		t.Errorf("refused requests created %d intents", n)
	}
}

func TestAuthAndNotFound(t *testing.T) {
	env := newEnv(t, 0)
	tests := []struct {
		name       string
		key        string
		id         string
		wantStatus int
		wantCode   stripe.ErrorCode
	}{
		{"wrong key", "sk_test_wrong_key_123456", "pi_x", 401, ""},
		{"unknown intent", testKey, "pi_unknown", 404, stripe.ErrorCodeResourceMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stripeClient(env.srv, tc.key).PaymentIntents.Get(tc.id, nil)
			se := stripeErr(t, err)
			if se.HTTPStatusCode != tc.wantStatus || se.Code != tc.wantCode || se.Type != stripe.ErrorTypeInvalidRequest {
				t.Errorf("Get = %d %s %s, want %d invalid_request_error %s", se.HTTPStatusCode, se.Type, se.Code, tc.wantStatus, tc.wantCode)
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		resp, err := http.Get(env.base + "/v1/payment_intents/pi_x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Type, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, "API key") {
			t.Errorf("no key = %d %+v, want 401 JSON error", resp.StatusCode, body)
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, env.base+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("unknown route = %d %s, want 404 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

func TestExpandLatestCharge(t *testing.T) {
	env := newEnv(t, 0)
	pi, err := env.client.PaymentIntents.New(methodCases()[0].params())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Approve(t.Context(), pi.ID); err != nil {
		t.Fatal(err)
	}
	p := &stripe.PaymentIntentParams{}
	p.AddExpand("latest_charge")
	p.AddExpand("payment_method")
	got, err := env.client.PaymentIntents.Get(pi.ID, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != stripe.PaymentIntentStatusSucceeded || got.AmountReceived != 1050 {
		t.Errorf("status %s received %d, want succeeded 1050", got.Status, got.AmountReceived)
	}
	ch := got.LatestCharge
	if ch == nil || ch.Status != stripe.ChargeStatusSucceeded || ch.Amount != 1050 || ch.PaymentIntent.ID != pi.ID ||
		ch.PaymentMethodDetails == nil || ch.PaymentMethodDetails.IDEAL == nil || ch.PaymentMethodDetails.IDEAL.Bank != "ing" {
		t.Fatalf("latest_charge = %+v", ch)
	}
	if got.PaymentMethod == nil || got.PaymentMethod.Type != "ideal" || got.PaymentMethod.BillingDetails.Name != "Jan de Vries" {
		t.Errorf("payment_method = %+v", got.PaymentMethod)
	}
	c, err := env.client.Charges.Get(ch.ID, nil)
	if err != nil || c.ID != ch.ID {
		t.Errorf("charges.Get = %v, %v", c, err)
	}
	_, err = env.client.PaymentIntents.Cancel(pi.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Errorf("cancel succeeded = %d %s, want 400 payment_intent_unexpected_state", se.HTTPStatusCode, se.Code)
	}
}

func TestConcurrentIdempotentCreates(t *testing.T) {
	env := newEnv(t, 0)
	const n = 16
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := boletoParams()
			p.SetIdempotencyKey("attempt-A7-create")
			pi, err := env.client.PaymentIntents.New(p)
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			ids <- pi.ID
			if err := env.sim.Approve(t.Context(), pi.ID); err != nil {
				t.Errorf("approve: %v", err)
			}
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Errorf("ids %s and %s, want one intent", first, id)
		}
	}
	env.sim.mu.Lock()
	defer env.sim.mu.Unlock()
	if len(env.sim.intents) != 1 || len(env.sim.charges) != 1 {
		t.Errorf("intents %d charges %d, want 1 and 1", len(env.sim.intents), len(env.sim.charges))
	}
}
