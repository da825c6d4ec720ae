package stripesim

import (
	"net/http"
	"testing"

	stripe "github.com/stripe/stripe-go/v76"
)

func koreanParams(typ string, amount int64, version string) *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{
		Amount: stripe.Int64(amount), Currency: stripe.String("krw"),
		PaymentMethodTypes: []*string{stripe.String(typ)},
		PaymentMethodData:  &stripe.PaymentIntentPaymentMethodDataParams{Type: stripe.String(typ)},
		Confirm:            stripe.Bool(true),
		ReturnURL:          stripe.String("https://shop.example/return"),
	}
	if version != "" {
		p.Headers = http.Header{"Stripe-Version": []string{version}}
	}
	return p
}

func TestKoreanMethods(t *testing.T) {
	env := newEnv(t, 0)
	tests := []struct {
		name    string
		params  *stripe.PaymentIntentParams
		code    string // "" for accepted
		wantURL string
	}{
		{"kakao_pay", koreanParams(typeKakaoPay, 100, "2024-10-28.acacia"), "", "/wallet/"},
		{"samsung_pay", koreanParams(typeSamsungPay, 2_000_000, "2025-03-31.basil"), "", "/wallet/"},
		{"kakao_pay under stripe-go's version", koreanParams(typeKakaoPay, 15000, ""), "", ""},
		{"samsung_pay under 2023-10-16", koreanParams(typeSamsungPay, 15000, "2023-10-16"), "", ""},
		{"kakao_pay 99 KRW", koreanParams(typeKakaoPay, 99, "2024-10-28.acacia"), "amount_too_small", ""},
		{"samsung_pay 99 KRW", koreanParams(typeSamsungPay, 99, "2024-10-28.acacia"), "amount_too_small", ""},
		{"samsung_pay 2,000,001 KRW", koreanParams(typeSamsungPay, 2_000_001, "2024-10-28.acacia"), "amount_too_large", ""},
		{"kakao_pay without return_url", func() *stripe.PaymentIntentParams {
			p := koreanParams(typeKakaoPay, 15000, "2024-10-28.acacia")
			p.ReturnURL = nil
			return p
		}(), "parameter_missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pi, err := env.client.PaymentIntents.New(tt.params)
			if tt.wantURL == "" {
				se := stripeErr(t, err)
				if se.HTTPStatusCode != 400 || string(se.Code) != tt.code {
					t.Fatalf("create = %d %q (%s), want 400 %q", se.HTTPStatusCode, se.Code, se.Msg, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("create = %v", err)
			}
			if pi.Status != stripe.PaymentIntentStatusRequiresAction || pi.NextAction == nil || pi.NextAction.RedirectToURL == nil ||
				pi.NextAction.RedirectToURL.URL != env.base+tt.wantURL+pi.ID || pi.Currency != "krw" {
				t.Errorf("create = %+v, want requires_action redirecting to %s%s%s", pi, env.base, tt.wantURL, pi.ID)
			}
		})
	}
}

func TestSearchByMetadata(t *testing.T) {
	env := newEnv(t, 0)
	var ids []string
	for _, att := range []string{"att_1", "att_2", "att_1"} {
		p := koreanParams(typeKakaoPay, 15000, "2024-10-28.acacia")
		p.AddMetadata("attempt", att)
		pi, err := env.client.PaymentIntents.New(p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pi.ID)
	}
	search := func(q string) []string {
		sp := &stripe.PaymentIntentSearchParams{}
		sp.Query = q
		sp.Single = true
		it := env.client.PaymentIntents.Search(sp)
		var got []string
		for it.Next() {
			got = append(got, it.PaymentIntent().ID)
		}
		if err := it.Err(); err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		return got
	}
	if got := search("metadata['attempt']:'att_1'"); len(got) != 2 || !(got[0] == ids[2] || got[0] == ids[0]) {
		t.Errorf("search att_1 = %v, want %s and %s", got, ids[0], ids[2])
	}
	if got := search("metadata['attempt']:'att_9'"); len(got) != 0 {
		t.Errorf("search att_9 = %v, want none", got)
	}
	sp := &stripe.PaymentIntentSearchParams{}
	sp.Query = "status:'succeeded'"
	sp.Single = true
	it := env.client.PaymentIntents.Search(sp)
	for it.Next() {
	}
	if se := stripeErr(t, it.Err()); se.HTTPStatusCode != 400 {
		t.Errorf("unsupported query: %d, want 400", se.HTTPStatusCode)
	}
}
