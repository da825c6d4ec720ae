package stripesim

import (
	"encoding/json"
	"strings"
)

// Stripe's names used on the wire.
const (
	apiVersion = "2023-10-16"

	typeIDEAL  = "ideal"
	typePayNow = "paynow"
	typeBoleto = "boleto"

	statusRequiresPaymentMethod = "requires_payment_method"
	statusRequiresConfirmation  = "requires_confirmation"
	statusRequiresAction        = "requires_action"
	statusProcessing            = "processing"
	statusSucceeded             = "succeeded"
	statusCanceled              = "canceled"

	eventSucceeded     = "payment_intent.succeeded"
	eventPaymentFailed = "payment_intent.payment_failed"
	eventCanceled      = "payment_intent.canceled"
	eventChargeSuccess = "charge.succeeded"

	codeProviderDecline = "payment_method_provider_decline"
	codeAttemptExpired  = "payment_intent_payment_attempt_expired"
)

// methodCurrency is the one currency each supported method takes.
func methodCurrency(method string) (string, bool) {
	switch method {
	case typeIDEAL:
		return "eur", true
	case typePayNow:
		return "sgd", true
	case typeBoleto:
		return "brl", true
	case typeKakaoPay, typeSamsungPay:
		return "krw", true
	}
	return "", false
}

// idealBICs are the BICs of the iDEAL banks stripe-go v76 knows.
func idealBIC(bank string) string {
	switch bank {
	case "abn_amro":
		return "ABNANL2A"
	case "asn_bank":
		return "ASNBNL21"
	case "bunq":
		return "BUNQNL2A"
	case "handelsbanken":
		return "HANDNL2A"
	case "ing":
		return "INGBNL2A"
	case "knab":
		return "KNABNL2H"
	case "moneyou":
		return "MOYONL21"
	case "n26":
		return "NTSBDEB1"
	case "nn":
		return "NNBANL2G"
	case "rabobank":
		return "RABONL2U"
	case "regiobank":
		return "RBRBNL21"
	case "revolut":
		return "REVOLT21"
	case "sns_bank":
		return "SNSBNL2A"
	case "triodos_bank":
		return "TRIONL2U"
	case "van_lanschot":
		return "FVLBNL22"
	case "yoursafe":
		return "BITSNL2A"
	}
	return ""
}

// idealBanks lists the banks of the iDEAL page, in the order shown.
func idealBanks() []string {
	return []string{"abn_amro", "asn_bank", "bunq", "handelsbanken", "ing", "knab", "moneyou", "n26",
		"nn", "rabobank", "regiobank", "revolut", "sns_bank", "triodos_bank", "van_lanschot", "yoursafe"}
}

// address is a billing address.
type address struct {
	City       string
	Country    string
	Line1      string
	Line2      string
	PostalCode string
	State      string
}

// paymentMethod is a PaymentMethod made from payment_method_data.
type paymentMethod struct {
	ID      string
	Type    string
	Created int64
	Name    string
	Email   string
	Phone   string
	Address address
	Bank    string // ideal
	TaxID   string // boleto, normalized
}

// payError is a PaymentIntent's last_payment_error.
type payError struct {
	Code    string
	Message string
	Method  *paymentMethod
}

// charge is a succeeded Charge.
type charge struct {
	ID                 string
	Created            int64
	BalanceTransaction string
	Method             *paymentMethod
	MethodType         string
	Reference          string // paynow
	Refunded           int64  // amount_refunded: refunds pending or succeeded
}

// nextAction is what a confirmed intent asks of the buyer, fixed at
// confirmation.
type nextAction struct {
	Type string
	// redirect_to_url
	URL, ReturnURL string
	// paynow_display_qr_code
	QRData, QRPNG, QRSVG, Instructions string
	QRReference                        string
	QRExpiresAt                        int64
	// boleto_display_details
	Number, VoucherURL, PDF string
	ExpiresAt               int64
}

// intent is a PaymentIntent.
type intent struct {
	ID                 string
	ClientSecret       string
	Amount             int64
	AmountReceived     int64
	Currency           string
	Status             string
	MethodTypes        []string
	AutomaticMethods   bool
	Metadata           map[string]string
	Description        string
	ReceiptEmail       string
	ReturnURL          string
	Created            int64
	CanceledAt         int64
	CancellationReason string
	BoletoDays         int64 // payment_method_options[boleto][expires_after_days]
	Method             *paymentMethod
	LastMethod         *paymentMethod // the method of the last attempt, kept after a failure
	NextAction         *nextAction
	// Last is the most recent next action issued, kept after the intent
	// moves on so that the hosted pages can still show it.
	Last      *nextAction
	LastError *payError
	Charge    *charge
	// Methods are the payment methods made for the intent and Refunds
	// the ids of its refunds, forgotten with it.
	Methods []string
	Refunds []string
}

// final reports whether pi is in a state that only a test helper or a
// refund changes: succeeded, canceled, or with its last attempt failed or
// expired (paygate takes the attempt as over).
func (pi *intent) final() bool {
	switch pi.Status {
	case statusSucceeded, statusCanceled:
		return true
	case statusRequiresPaymentMethod:
		return pi.LastError != nil
	}
	return false
}

// expansions says which fields of a response are objects rather than ids.
type expansions struct {
	LatestCharge  bool
	PaymentMethod bool
}

func parseExpand(list []string) expansions {
	var e expansions
	for _, x := range list {
		switch x {
		case "latest_charge":
			e.LatestCharge = true
		case "payment_method":
			e.PaymentMethod = true
		}
	}
	return e
}

// The JSON shapes, in the 2023-10-16 API version. Fields Stripe sends as
// null are pointers or `any` left nil.

type addressJSON struct {
	City       *string `json:"city"`
	Country    *string `json:"country"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
}

type billingJSON struct {
	Address addressJSON `json:"address"`
	Email   *string     `json:"email"`
	Name    *string     `json:"name"`
	Phone   *string     `json:"phone"`
}

type paymentMethodJSON struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	BillingDetails billingJSON       `json:"billing_details"`
	Boleto         any               `json:"boleto,omitempty"`
	Created        int64             `json:"created"`
	Customer       any               `json:"customer"`
	IDEAL          any               `json:"ideal,omitempty"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	KakaoPay       any               `json:"kakao_pay,omitempty"`
	PayNow         any               `json:"paynow,omitempty"`
	SamsungPay     any               `json:"samsung_pay,omitempty"`
	Type           string            `json:"type"`
}

type payErrorJSON struct {
	Code              string             `json:"code"`
	DocURL            string             `json:"doc_url"`
	Message           string             `json:"message"`
	PaymentMethod     *paymentMethodJSON `json:"payment_method,omitempty"`
	PaymentMethodType string             `json:"payment_method_type,omitempty"`
	Type              string             `json:"type"`
}

type redirectJSON struct {
	ReturnURL string `json:"return_url"`
	URL       string `json:"url"`
}

type payNowJSON struct {
	Data                  string `json:"data"`
	HostedInstructionsURL string `json:"hosted_instructions_url"`
	ImageURLPNG           string `json:"image_url_png"`
	ImageURLSVG           string `json:"image_url_svg"`
}

type boletoJSON struct {
	ExpiresAt        int64  `json:"expires_at"`
	HostedVoucherURL string `json:"hosted_voucher_url"`
	Number           string `json:"number"`
	PDF              string `json:"pdf"`
}

type nextActionJSON struct {
	BoletoDisplayDetails *boletoJSON   `json:"boleto_display_details,omitempty"`
	PayNowDisplayQRCode  *payNowJSON   `json:"paynow_display_qr_code,omitempty"`
	RedirectToURL        *redirectJSON `json:"redirect_to_url,omitempty"`
	Type                 string        `json:"type"`
}

type intentJSON struct {
	ID                                string            `json:"id"`
	Object                            string            `json:"object"`
	Amount                            int64             `json:"amount"`
	AmountCapturable                  int64             `json:"amount_capturable"`
	AmountDetails                     map[string]any    `json:"amount_details"`
	AmountReceived                    int64             `json:"amount_received"`
	Application                       any               `json:"application"`
	ApplicationFeeAmount              any               `json:"application_fee_amount"`
	AutomaticPaymentMethods           any               `json:"automatic_payment_methods"`
	CanceledAt                        *int64            `json:"canceled_at"`
	CancellationReason                *string           `json:"cancellation_reason"`
	CaptureMethod                     string            `json:"capture_method"`
	ClientSecret                      string            `json:"client_secret"`
	ConfirmationMethod                string            `json:"confirmation_method"`
	Created                           int64             `json:"created"`
	Currency                          string            `json:"currency"`
	Customer                          any               `json:"customer"`
	Description                       *string           `json:"description"`
	Invoice                           any               `json:"invoice"`
	LastPaymentError                  *payErrorJSON     `json:"last_payment_error"`
	LatestCharge                      any               `json:"latest_charge"`
	Livemode                          bool              `json:"livemode"`
	Metadata                          map[string]string `json:"metadata"`
	NextAction                        *nextActionJSON   `json:"next_action"`
	OnBehalfOf                        any               `json:"on_behalf_of"`
	PaymentMethod                     any               `json:"payment_method"`
	PaymentMethodConfigurationDetails any               `json:"payment_method_configuration_details"`
	PaymentMethodOptions              map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes                []string          `json:"payment_method_types"`
	Processing                        any               `json:"processing"`
	ReceiptEmail                      *string           `json:"receipt_email"`
	Review                            any               `json:"review"`
	SetupFutureUsage                  any               `json:"setup_future_usage"`
	Shipping                          any               `json:"shipping"`
	Source                            any               `json:"source"`
	StatementDescriptor               any               `json:"statement_descriptor"`
	StatementDescriptorSuffix         any               `json:"statement_descriptor_suffix"`
	Status                            string            `json:"status"`
	TransferData                      any               `json:"transfer_data"`
	TransferGroup                     any               `json:"transfer_group"`
}

type chargeJSON struct {
	ID                            string            `json:"id"`
	Object                        string            `json:"object"`
	Amount                        int64             `json:"amount"`
	AmountCaptured                int64             `json:"amount_captured"`
	AmountRefunded                int64             `json:"amount_refunded"`
	Application                   any               `json:"application"`
	ApplicationFee                any               `json:"application_fee"`
	ApplicationFeeAmount          any               `json:"application_fee_amount"`
	BalanceTransaction            string            `json:"balance_transaction"`
	BillingDetails                billingJSON       `json:"billing_details"`
	CalculatedStatementDescriptor any               `json:"calculated_statement_descriptor"`
	Captured                      bool              `json:"captured"`
	Created                       int64             `json:"created"`
	Currency                      string            `json:"currency"`
	Customer                      any               `json:"customer"`
	Description                   *string           `json:"description"`
	Disputed                      bool              `json:"disputed"`
	FailureCode                   any               `json:"failure_code"`
	FailureMessage                any               `json:"failure_message"`
	Livemode                      bool              `json:"livemode"`
	Metadata                      map[string]string `json:"metadata"`
	Outcome                       map[string]any    `json:"outcome"`
	Paid                          bool              `json:"paid"`
	PaymentIntent                 string            `json:"payment_intent"`
	PaymentMethod                 *string           `json:"payment_method"`
	PaymentMethodDetails          map[string]any    `json:"payment_method_details"`
	ReceiptEmail                  *string           `json:"receipt_email"`
	Refunded                      bool              `json:"refunded"`
	Status                        string            `json:"status"`
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func (a address) toJSON() addressJSON {
	return addressJSON{
		City: optStr(a.City), Country: optStr(a.Country), Line1: optStr(a.Line1),
		Line2: optStr(a.Line2), PostalCode: optStr(a.PostalCode), State: optStr(a.State),
	}
}

func (pm *paymentMethod) billing() billingJSON {
	if pm == nil {
		return billingJSON{}
	}
	return billingJSON{Address: pm.Address.toJSON(), Email: optStr(pm.Email), Name: optStr(pm.Name), Phone: optStr(pm.Phone)}
}

func (pm *paymentMethod) toJSON() *paymentMethodJSON {
	j := &paymentMethodJSON{
		ID: pm.ID, Object: "payment_method", BillingDetails: pm.billing(), Created: pm.Created,
		Metadata: map[string]string{}, Type: pm.Type,
	}
	switch pm.Type {
	case typeIDEAL:
		j.IDEAL = map[string]any{"bank": optStr(pm.Bank), "bic": optStr(idealBIC(pm.Bank))}
	case typePayNow:
		j.PayNow = map[string]any{}
	case typeBoleto:
		j.Boleto = map[string]any{"fingerprint": fingerprint(pm.TaxID), "tax_id": pm.TaxID}
	case typeKakaoPay:
		j.KakaoPay = map[string]any{}
	case typeSamsungPay:
		j.SamsungPay = map[string]any{}
	}
	return j
}

func (e *payError) toJSON() *payErrorJSON {
	j := &payErrorJSON{
		Code:    e.Code,
		DocURL:  "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.Code, "_", "-"),
		Message: e.Message,
		Type:    "invalid_request_error",
	}
	if e.Method != nil {
		j.PaymentMethod = e.Method.toJSON()
		j.PaymentMethodType = e.Method.Type
	}
	return j
}

func (na *nextAction) toJSON() *nextActionJSON {
	j := &nextActionJSON{Type: na.Type}
	switch na.Type {
	case "redirect_to_url":
		j.RedirectToURL = &redirectJSON{ReturnURL: na.ReturnURL, URL: na.URL}
	case "paynow_display_qr_code":
		j.PayNowDisplayQRCode = &payNowJSON{Data: na.QRData, HostedInstructionsURL: na.Instructions, ImageURLPNG: na.QRPNG, ImageURLSVG: na.QRSVG}
	case "boleto_display_details":
		j.BoletoDisplayDetails = &boletoJSON{ExpiresAt: na.ExpiresAt, HostedVoucherURL: na.VoucherURL, Number: na.Number, PDF: na.PDF}
	}
	return j
}

// toJSON renders the intent as Stripe does, with the expanded fields as
// objects.
func (pi *intent) toJSON(exp expansions) *intentJSON {
	j := &intentJSON{
		ID: pi.ID, Object: "payment_intent", Amount: pi.Amount,
		AmountDetails:      map[string]any{"tip": map[string]any{}},
		AmountReceived:     pi.AmountReceived,
		CanceledAt:         optInt(pi.CanceledAt),
		CancellationReason: optStr(pi.CancellationReason),
		CaptureMethod:      "automatic", ClientSecret: pi.ClientSecret, ConfirmationMethod: "automatic",
		Created: pi.Created, Currency: pi.Currency, Description: optStr(pi.Description),
		Metadata:           copyMap(pi.Metadata),
		PaymentMethodTypes: append([]string{}, pi.MethodTypes...),
		ReceiptEmail:       optStr(pi.ReceiptEmail),
		Status:             pi.Status,
	}
	if pi.AutomaticMethods {
		j.AutomaticPaymentMethods = map[string]any{"allow_redirects": "always", "enabled": true}
	}
	if pi.LastError != nil {
		j.LastPaymentError = pi.LastError.toJSON()
	}
	if pi.Charge != nil {
		if exp.LatestCharge {
			j.LatestCharge = pi.chargeJSON()
		} else {
			j.LatestCharge = pi.Charge.ID
		}
	}
	if pi.NextAction != nil {
		j.NextAction = pi.NextAction.toJSON()
	}
	if pi.Method != nil {
		if exp.PaymentMethod {
			j.PaymentMethod = pi.Method.toJSON()
		} else {
			j.PaymentMethod = pi.Method.ID
		}
	}
	j.PaymentMethodOptions = map[string]any{}
	for _, t := range pi.MethodTypes {
		switch t {
		case typeBoleto:
			j.PaymentMethodOptions[t] = map[string]any{"expires_after_days": pi.BoletoDays}
		default:
			j.PaymentMethodOptions[t] = map[string]any{}
		}
	}
	return j
}

// chargeJSON renders the intent's charge.
func (pi *intent) chargeJSON() *chargeJSON {
	ch := pi.Charge
	j := &chargeJSON{
		ID: ch.ID, Object: "charge", Amount: pi.Amount, AmountCaptured: pi.Amount, AmountRefunded: ch.Refunded,
		BalanceTransaction: ch.BalanceTransaction, BillingDetails: ch.Method.billing(),
		Captured: true, Created: ch.Created, Currency: pi.Currency, Description: optStr(pi.Description),
		Metadata: copyMap(pi.Metadata),
		Outcome: map[string]any{
			"network_status": "approved_by_network", "reason": nil, "risk_level": "not_assessed",
			"seller_message": "Payment complete.", "type": "authorized",
		},
		Paid: true, PaymentIntent: pi.ID, ReceiptEmail: optStr(pi.ReceiptEmail), Status: "succeeded",
		Refunded: ch.Refunded > 0 && ch.Refunded >= pi.Amount,
	}
	if ch.Method != nil {
		j.PaymentMethod = &ch.Method.ID
	}
	details := map[string]any{}
	switch ch.MethodType {
	case typeIDEAL:
		bank := ""
		if ch.Method != nil {
			bank = ch.Method.Bank
		}
		details[typeIDEAL] = map[string]any{
			"bank": optStr(bank), "bic": optStr(idealBIC(bank)), "generated_sepa_debit": nil,
			"generated_sepa_debit_mandate": nil, "iban_last4": "5264", "verified_name": "Sandbox Buyer",
		}
	case typePayNow:
		details[typePayNow] = map[string]any{"reference": ch.Reference}
	case typeBoleto:
		tax := ""
		if ch.Method != nil {
			tax = ch.Method.TaxID
		}
		details[typeBoleto] = map[string]any{"tax_id": tax}
	case typeKakaoPay, typeSamsungPay:
		details[ch.MethodType] = map[string]any{"buyer_id": nil}
	}
	details["type"] = ch.MethodType
	j.PaymentMethodDetails = details
	return j
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// marshal encodes v as the API does. The shapes here always encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings and plain structs are encoded; this is a bug.
		return []byte(`{"error":{"type":"api_error","message":"stripesim: cannot encode response"}}`)
	}
	return b
}
