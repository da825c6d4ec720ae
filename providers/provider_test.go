package providers_test

import (
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

func TestCatalog(t *testing.T) {
	want := map[providers.Method]struct {
		currency   paygate.Currency
		provider   string
		action     providers.ActionType
		refundable bool
	}{
		providers.IDEAL:  {paygate.EUR, providers.Stripe, providers.ActionRedirect, true},
		providers.PayNow: {paygate.SGD, providers.Stripe, providers.ActionQR, true},
		// Stripe's Boleto has no refunds (docs.stripe.com/payments/boleto:
		// "Refunds / Partial refunds: No / No").
		providers.Boleto: {paygate.BRL, providers.Stripe, providers.ActionVoucher, false},
		// Unverified at Rapyd; the rapyd client's Config can override them.
		providers.KakaoPay:   {paygate.KRW, providers.Rapyd, providers.ActionRedirect, true},
		providers.SamsungPay: {paygate.KRW, providers.Rapyd, providers.ActionRedirect, true},
	}
	if len(providers.Catalog()) != len(want) {
		t.Fatalf("catalog has %d methods, want %d", len(providers.Catalog()), len(want))
	}
	for m, w := range want {
		mi, ok := providers.Lookup(m)
		if !ok || mi.Currency != w.currency || mi.Provider != w.provider || mi.Action != w.action || mi.Refundable != w.refundable {
			t.Errorf("Lookup(%s) = %+v, %v; want %s at %s with %s, refundable %v", m, mi, ok, w.currency, w.provider, w.action, w.refundable)
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
	for s, final := range map[providers.RefundStatus]bool{
		providers.RefundPending: false, providers.RefundSucceeded: true, providers.RefundFailed: true,
	} {
		if s.Final() != final {
			t.Errorf("%s.Final() = %v, want %v", s, s.Final(), final)
		}
	}
}
