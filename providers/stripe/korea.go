package stripe

import (
	"net/http"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// KoreanAPIVersion is the Stripe API version sent, as the Stripe-Version
// header, on the requests of Kakao Pay and Samsung Pay payments.
//
// stripe-go v76 pins every request to its API version, 2023-10-16, which
// predates the South Korean payment method types: they arrived with API
// version 2024-10-28.acacia (stripe-go v81.0.0's changelog: "Add support for
// new values … kakao_pay, kr_card, naver_pay, payco, and samsung_pay on
// enums … PaymentMethodType"). Stripe picks each request's version from
// its Stripe-Version header (docs.stripe.com/api-versions, "how the API
// version of a request is chosen"), and stripe-go v76's NewRequest lets
// Params.Headers replace the header it sets (stripe.go: "Use Set to
// override the default value"). So only the requests that name the types
// move to the newer version: the create, and FindPayment's replay of it.
// Every other request (retrieve, cancel, refund, search) and the webhook
// endpoint (its events are checked against 2023-10-16) stays where it
// was; that Stripe renders a kakao_pay or samsung_pay PaymentIntent under
// 2023-10-16 with its type as a plain string, as stripesim does, is
// unverified. The fields paygate reads back (id, status, amount,
// currency, metadata, next_action's redirect_to_url, last_payment_error)
// have the same shape in both versions.
const KoreanAPIVersion = "2024-10-28.acacia"

// Stripe's payment method types of paygate's methods. The others are
// spelled alike.
const (
	typeKakaoPay   = "kakao_pay"
	typeSamsungPay = "samsung_pay"
)

// Amount limits of the South Korean methods, in won (KRW has no minor
// unit: Stripe's amount 15000 is 15,000 KRW). Stripe's pages: Kakao Pay
// takes at least 100 KRW (docs.stripe.com/payments/kakao-pay/accept-a-payment);
// Samsung Pay 100 to 2,000,000 KRW
// (docs.stripe.com/payments/samsung-pay/accept-a-payment).
const (
	MinKakaoPayKRW   = 100
	MinSamsungPayKRW = 100
	MaxSamsungPayKRW = 2_000_000
)

// stripeType is Stripe's payment method type of a paygate method, and
// false for a method the client does not serve.
func stripeType(m providers.Method) (string, bool) {
	switch m {
	case providers.IDEAL, providers.PayNow, providers.Boleto:
		return string(m), true
	case providers.KakaoPay:
		return typeKakaoPay, true
	case providers.SamsungPay:
		return typeSamsungPay, true
	}
	return "", false
}

// methodOf is the paygate method of a Stripe payment method type.
func methodOf(t string) (providers.Method, bool) {
	switch t {
	case string(providers.IDEAL), string(providers.PayNow), string(providers.Boleto):
		return providers.Method(t), true
	case typeKakaoPay:
		return providers.KakaoPay, true
	case typeSamsungPay:
		return providers.SamsungPay, true
	}
	return "", false
}

// korean reports whether m is one of the South Korean methods, whose
// requests carry KoreanAPIVersion.
func korean(m providers.Method) bool {
	return m == providers.KakaoPay || m == providers.SamsungPay
}

// versionHeader returns the headers that move a request of method m to the
// API version it needs, or nil for the client's own version.
func versionHeader(m providers.Method) http.Header {
	if !korean(m) {
		return nil
	}
	return http.Header{"Stripe-Version": []string{KoreanAPIVersion}}
}

// checkAmountLimits refuses, before any request, an amount outside the
// method's limits at Stripe: a limit is the request's fault, not an
// outage, so it is EINVALID and never fails over.
func checkAmountLimits(m providers.Method, a paygate.Money) error {
	switch m {
	case providers.KakaoPay:
		if a.Minor < MinKakaoPayKRW {
			return paygate.Errorf(paygate.EINVALID, "stripe: Kakao Pay takes at least %d KRW, not %s", MinKakaoPayKRW, a)
		}
	case providers.SamsungPay:
		if a.Minor < MinSamsungPayKRW || a.Minor > MaxSamsungPayKRW {
			return paygate.Errorf(paygate.EINVALID, "stripe: Samsung Pay takes %d to %d KRW, not %s", MinSamsungPayKRW, MaxSamsungPayKRW, a)
		}
	}
	return nil
}
