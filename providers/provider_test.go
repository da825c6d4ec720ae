package providers_test

import (
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

func TestCatalog(t *testing.T) {
	want := map[providers.Method]struct {
		currency paygate.Currency
		provider string
		action   providers.ActionType
	}{
		providers.IDEAL:      {paygate.EUR, providers.Stripe, providers.ActionRedirect},
		providers.PayNow:     {paygate.SGD, providers.Stripe, providers.ActionQR},
		providers.Boleto:     {paygate.BRL, providers.Stripe, providers.ActionVoucher},
		providers.KakaoPay:   {paygate.KRW, providers.Rapyd, providers.ActionRedirect},
		providers.SamsungPay: {paygate.KRW, providers.Rapyd, providers.ActionRedirect},
	}
	if len(providers.Catalog()) != len(want) {
		t.Fatalf("catalog has %d methods, want %d", len(providers.Catalog()), len(want))
	}
	for m, w := range want {
		mi, ok := providers.Lookup(m)
		if !ok || mi.Currency != w.currency || mi.Provider != w.provider || mi.Action != w.action {
			t.Errorf("Lookup(%s) = %+v, %v; want %s at %s with %s", m, mi, ok, w.currency, w.provider, w.action)
		}
	}
	if _, ok := providers.Lookup("bitcoin"); ok {
		t.Error("Lookup(bitcoin) found a method")
	}
	if got := providers.MethodsFor(paygate.KRW); len(got) != 2 || got[0].Method != providers.KakaoPay {
		t.Errorf("MethodsFor(KRW) = %+v, want KakaoPay and Samsung Pay", got)
	}
	if got := providers.MethodsFor(paygate.USD); len(got) != 0 {
		t.Errorf("MethodsFor(USD) = %+v, want none", got)
	}
	for _, s := range []providers.Status{providers.StatusSucceeded, providers.StatusFailed, providers.StatusCanceled, providers.StatusExpired} {
		if !s.Final() {
			t.Errorf("%s.Final() = false", s)
		}
	}
	if providers.StatusPending.Final() || providers.StatusProcessing.Final() {
		t.Error("pending or processing is final")
	}
}
