package rapydsim

import (
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// offer is one payment method type the simulator offers, as List Payment
// Methods by Country describes it.
type offer struct {
	method     providers.Method
	typ        string
	name       string
	category   string
	country    string
	currency   paygate.Currency
	flow       string // payment_flow_type
	refundable bool
	cancelable bool
	min, max   int64         // the amount range, minor units
	validity   time.Duration // how long a payment stays payable; 0: Rapyd's default of two weeks
	fields     []fieldObject // what payment_method.fields must hold
}

// fieldObject is one field of a payment method type.
type fieldObject struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Regex        string `json:"regex"`
	IsRequired   bool   `json:"is_required"`
	Instructions string `json:"instructions"`
}

// The sandbox's rules of its methods.
const (
	// maxAmount bounds every type's amounts, in minor units: wide, so that
	// the sandbox takes whatever paygate's own limits let through.
	maxAmount      = 100_000_000_000
	payNowValidity = time.Hour // a PayNow QR, as its expiry date shows
	boletoDays     = 3         // a boleto is payable until the end of the third day after issue
)

// defaultOffers returns the simulator's methods. Their type names follow
// Rapyd's pattern <country>_<name>_<category> but are the simulator's own
// (Rapyd's for iDEAL, Boleto, KakaoPay and Samsung Pay are not published):
// the rapyd client finds them in the list, as it must find Rapyd's.
//
// Boleto is not refundable (is_refundable false): a boleto is cash paid at
// a counter or a bank, and Rapyd's cash methods have no account of the
// payer's to send money back to; paygate refunds such payments another
// way (a manual payout). A boleto, once issued, is not cancelable either.
func defaultOffers() []offer {
	return []offer{
		{method: providers.IDEAL, typ: "nl_ideal_bank", name: "iDEAL", category: "bank_redirect", country: "NL",
			currency: paygate.EUR, flow: "redirect_url", refundable: true, cancelable: true, min: 1, max: maxAmount},
		{method: providers.PayNow, typ: "sg_paynow_bank", name: "PayNow", category: "bank_transfer", country: "SG",
			currency: paygate.SGD, flow: "direct", refundable: true, cancelable: true, min: 1, max: maxAmount, validity: payNowValidity},
		{method: providers.Boleto, typ: "br_boleto_cash", name: "Boleto Bancário", category: "cash", country: "BR",
			currency: paygate.BRL, flow: "direct", refundable: false, cancelable: false, min: 1, max: maxAmount,
			fields: []fieldObject{
				{Name: "name", Type: "string", Regex: "", IsRequired: true, Instructions: "the payer's full name"},
				{Name: "email", Type: "string", Regex: "", IsRequired: true, Instructions: "the payer's email address"},
				{Name: "document_id", Type: "string", Regex: "^[0-9A-Z]{11,14}$", IsRequired: true, Instructions: "the payer's CPF (11 digits) or CNPJ (14 characters)"},
				{Name: "line_1", Type: "string", IsRequired: true, Instructions: "the payer's street address"},
				{Name: "city", Type: "string", IsRequired: true},
				{Name: "state", Type: "string", Regex: "^[A-Z]{2}$", IsRequired: true},
				{Name: "postal_code", Type: "string", Regex: "^[0-9]{5}-?[0-9]{3}$", IsRequired: true},
			}},
		{method: providers.KakaoPay, typ: "kr_kakaopay_ewallet", name: "KakaoPay", category: "ewallet", country: "KR",
			currency: paygate.KRW, flow: "redirect_url", refundable: true, cancelable: true, min: 1, max: maxAmount},
		{method: providers.SamsungPay, typ: "kr_samsungpay_ewallet", name: "Samsung Pay ewallet (Korea)", category: "ewallet", country: "KR",
			currency: paygate.KRW, flow: "redirect_url", refundable: true, cancelable: true, min: 1, max: maxAmount},
	}
}

// redirect reports whether the buyer pays o on a page the payment
// redirects to (a bank or a wallet), rather than with a code.
func (o *offer) redirect() bool { return o.flow == "redirect_url" }
