package rapyd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// The JSON Rapyd speaks, as far as paygate uses it. Amounts are numbers in
// major units; they are read from the JSON text and written with
// shopspring/decimal, never through float64.

// response is the envelope of every REST response.
type response struct {
	Status responseStatus  `json:"status"`
	Data   json.RawMessage `json:"data"`
}

type responseStatus struct {
	ErrorCode    string `json:"error_code"`
	Status       string `json:"status"` // SUCCESS or ERROR
	Message      string `json:"message"`
	ResponseCode string `json:"response_code"`
	OperationID  string `json:"operation_id"`
}

// createPayment is the body of POST /v1/payments. Its field order is the
// order of the JSON sent, which is the order the tests pin down.
type createPayment struct {
	Amount              json.Number     `json:"amount"`
	Currency            string          `json:"currency"`
	PaymentMethod       paymentMethod   `json:"payment_method"`
	CompletePaymentURL  string          `json:"complete_payment_url,omitempty"`
	ErrorPaymentURL     string          `json:"error_payment_url,omitempty"`
	MerchantReferenceID string          `json:"merchant_reference_id"`
	Description         string          `json:"description,omitempty"`
	Expiration          int64           `json:"expiration,omitempty"`
	Metadata            paymentMetadata `json:"metadata"`
}

type paymentMethod struct {
	Type string `json:"type"`
	// Fields are the fields the type requires (a boleto payer's name,
	// email, address and CPF or CNPJ); encoding/json writes them sorted by
	// name.
	Fields map[string]string `json:"fields,omitempty"`
}

// paymentMetadata is what paygate writes into a payment's free-form
// metadata and reads back from webhooks.
type paymentMetadata struct {
	PaymentOrder string `json:"payment_order"`
	Attempt      string `json:"attempt"`
}

// payment is Rapyd's payment object, the fields paygate reads.
type payment struct {
	ID                  string          `json:"id"`
	Status              string          `json:"status"`
	Amount              json.RawMessage `json:"amount"`
	CurrencyCode        string          `json:"currency_code"`
	Currency            string          `json:"currency"` // a refund's currency
	RedirectURL         string          `json:"redirect_url"`
	MerchantReferenceID string          `json:"merchant_reference_id"`
	Metadata            json.RawMessage `json:"metadata"`
	FailureCode         string          `json:"failure_code"`
	FailureMessage      string          `json:"failure_message"`
	CancelReason        string          `json:"cancel_reason"`
	PaymentMethodType   string          `json:"payment_method_type"`
	// Category is the type's category (bank_redirect, cash, …).
	Category string `json:"payment_method_type_category"`
	// VisualCodes and TextualCodes are what the buyer scans or types to
	// pay (a PayNow QR, a boleto's digitable line), by Rapyd's label.
	VisualCodes  map[string]json.RawMessage `json:"visual_codes"`
	TextualCodes map[string]json.RawMessage `json:"textual_codes"`
	// Expiration is when the payment stops being payable, Unix seconds.
	Expiration json.Number `json:"expiration"`
	CreatedAt  json.Number `json:"created_at"`
	// Payment is a refund's payment id; payment objects do not have it.
	Payment json.RawMessage `json:"payment"`
	// FailureReason is why a refund failed; payment objects do not have it.
	FailureReason string `json:"failure_reason"`
}

// createRefund is the body of POST /v1/refunds. Its field order is the
// order of the JSON sent, which is the order the tests pin down.
type createRefund struct {
	Payment             string         `json:"payment"`
	Amount              json.Number    `json:"amount"`
	Reason              string         `json:"reason,omitempty"`
	MerchantReferenceID string         `json:"merchant_reference_id"`
	Metadata            refundMetadata `json:"metadata"`
}

// refundMetadata is what paygate writes into a refund's metadata.
type refundMetadata struct {
	Refund string `json:"refund"`
}

// refund is Rapyd's refund object, the fields paygate reads. The
// failure_message and failure_code fields are read as third-party clients
// describe them; Rapyd's own schema has failure_reason.
type refund struct {
	ID                  string          `json:"id"`
	Payment             string          `json:"payment"`
	Amount              json.RawMessage `json:"amount"`
	Currency            string          `json:"currency"`
	Status              string          `json:"status"`
	MerchantReferenceID string          `json:"merchant_reference_id"`
	Metadata            json.RawMessage `json:"metadata"`
	FailureReason       string          `json:"failure_reason"`
	FailureMessage      string          `json:"failure_message"`
	FailureCode         string          `json:"failure_code"`
}

// paymentRefunds is what Refund reads of a payment besides toPayment's
// fields: how much was refunded, and the refunds themselves (Rapyd's
// payment object lists them as a list object, data first).
type paymentRefunds struct {
	RefundedAmount json.RawMessage `json:"refunded_amount"`
	Refunds        *struct {
		Data    []refund `json:"data"`
		HasMore bool     `json:"has_more"`
	} `json:"refunds"`
}

// The refund statuses of Rapyd, Title-case words. Canceled is
// unverified.
const (
	refundPending   = "Pending"
	refundCompleted = "Completed"
	refundRejected  = "Rejected"
	refundError     = "Error"
	refundCanceled  = "Canceled"
)

// refundStatus maps a refund's status, ignoring case. known is false for a
// status this version does not know, which is taken as pending: not final,
// so the caller waits for the refund's webhook.
func refundStatus(s string) (status providers.RefundStatus, known bool) {
	switch {
	case strings.EqualFold(s, refundPending):
		return providers.RefundPending, true
	case strings.EqualFold(s, refundCompleted):
		return providers.RefundSucceeded, true
	case strings.EqualFold(s, refundRejected), strings.EqualFold(s, refundError), strings.EqualFold(s, refundCanceled):
		return providers.RefundFailed, true
	}
	return providers.RefundPending, false
}

// toRefund maps Rapyd's refund object to a providers.Refund.
func toRefund(r refund) (providers.Refund, bool, error) {
	if r.ID == "" {
		return providers.Refund{}, false, paygate.Errorf(paygate.EUNAVAILABLE, "rapyd: the response has no refund id")
	}
	amount, err := parseAmount(r.Amount, r.Currency)
	if err != nil {
		return providers.Refund{}, false, &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: fmt.Sprintf("rapyd: refund %s has an unreadable amount", paygate.Clip(r.ID, 64)),
			Err:     err,
		}
	}
	status, known := refundStatus(r.Status)
	out := providers.Refund{Ref: r.ID, Status: status, Amount: amount}
	if status == providers.RefundFailed {
		out.FailureReason = firstOf(r.FailureReason, r.FailureMessage, r.FailureCode, "refund "+strings.ToLower(r.Status)+" at Rapyd")
	}
	return out, known, nil
}

// methodType is one item of List Payment Methods by Country.
type methodType struct {
	Type            string   `json:"type"`
	Name            string   `json:"name"`
	Category        string   `json:"category"`
	Country         string   `json:"country"`
	Currencies      []string `json:"currencies"`
	IsCancelable    bool     `json:"is_cancelable"`
	IsRefundable    bool     `json:"is_refundable"`
	IsExpirable     bool     `json:"is_expirable"`
	PaymentFlowType string   `json:"payment_flow_type"`
	Fields          []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Regex      string `json:"regex"`
		IsRequired bool   `json:"is_required"`
	} `json:"fields"`
}

// public returns the item as a MethodType.
func (t methodType) public() MethodType {
	out := MethodType{
		Type: t.Type, Name: t.Name, Category: t.Category, Country: t.Country, Currencies: t.Currencies,
		IsCancelable: t.IsCancelable, IsRefundable: t.IsRefundable, IsExpirable: t.IsExpirable,
		PaymentFlowType: t.PaymentFlowType, Listed: true,
	}
	for _, f := range t.Fields {
		out.Fields = append(out.Fields, MethodField{Name: f.Name, Type: f.Type, Regex: f.Regex, Required: f.IsRequired})
	}
	return out
}

// webhook is the envelope of a webhook delivery.
type webhook struct {
	ID                 string          `json:"id"`
	Type               string          `json:"type"`
	Data               json.RawMessage `json:"data"`
	TriggerOperationID string          `json:"trigger_operation_id"`
	Status             string          `json:"status"`
	CreatedAt          json.Number     `json:"created_at"`
	ExtendedTimestamp  json.Number     `json:"extended_timestamp"`
}

// encodeJSON returns v as compact JSON without HTML escaping and without
// the encoder's trailing newline: the exact bytes that are signed and sent.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// majorUnits returns money as a JSON number in major units, as Rapyd takes
// it: 15000 KRW is 15000, 10.50 EUR is 10.5 (no trailing zeros, which would
// break Rapyd's signature check).
func majorUnits(m paygate.Money) json.Number {
	return json.Number(m.Decimal().String())
}

// parseAmount reads a Rapyd amount (a JSON number in major units, or a
// string holding one) of currency code. It refuses what the currency cannot
// hold (1500.5 KRW), negative amounts, exponents and unknown currencies, with
// an EINVALID error. A missing or null amount is zero money.
func parseAmount(raw json.RawMessage, code string) (paygate.Money, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return paygate.Money{}, nil
	}
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return paygate.Money{}, paygate.Errorf(paygate.EINVALID, "amount is not a number")
		}
		text = s
	}
	c, err := paygate.ParseCurrency(code)
	if err != nil {
		return paygate.Money{}, err
	}
	return paygate.ParseMoney(text, c)
}

// decodeMetadata reads paygate's keys from a payment's free-form metadata,
// ignoring anything else, including values of another type.
func decodeMetadata(raw json.RawMessage) paymentMetadata {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return paymentMetadata{}
	}
	var md paymentMetadata
	_ = json.Unmarshal(m["payment_order"], &md.PaymentOrder)
	_ = json.Unmarshal(m["attempt"], &md.Attempt)
	return md
}

// decodeRefundMetadata reads our refund id from a refund's metadata,
// ignoring anything else.
func decodeRefundMetadata(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return ""
	}
	var id string
	_ = json.Unmarshal(m["refund"], &id)
	return id
}

// The payment statuses of Rapyd.
const (
	statusActive   = "ACT" // waiting for the buyer (or 3DS, capture)
	statusClosed   = "CLO" // paid
	statusCanceled = "CAN" // canceled by the merchant or the bank
	statusError    = "ERR" // the attempt failed
	statusExpired  = "EXP" // not paid in time
	statusReversed = "REV" // reversed by Rapyd (cancel_reason says why)
	statusCreated  = "CRE" // undocumented; read as not yet active
)

// toPayment maps Rapyd's payment object to a providers.Payment.
func toPayment(p payment) (providers.Payment, error) {
	if p.ID == "" {
		return providers.Payment{}, paygate.Errorf(paygate.EUNAVAILABLE, "rapyd: the response has no payment id")
	}
	amount, err := parseAmount(p.Amount, p.CurrencyCode)
	if err != nil {
		return providers.Payment{}, &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: fmt.Sprintf("rapyd: payment %s has an unreadable amount", p.ID),
			Err:     err,
		}
	}
	out := providers.Payment{Ref: p.ID, Amount: amount}
	switch p.Status {
	case statusActive, statusCreated:
		out.Status = providers.StatusPending
		out.NextAction = nextAction(p)
		return out, nil
	case statusClosed:
		out.Status = providers.StatusSucceeded
	case statusError:
		out.Status = providers.StatusFailed
		out.FailureReason = firstOf(p.FailureMessage, p.FailureCode, "the payment failed at Rapyd")
	case statusCanceled:
		out.Status = providers.StatusCanceled
		out.FailureReason = firstOf(p.CancelReason, p.FailureMessage)
	case statusExpired:
		out.Status = providers.StatusExpired
		out.FailureReason = firstOf(p.FailureMessage, "the buyer did not pay in time")
	case statusReversed:
		// A reversal by Rapyd takes the money back (fraud or risk checks):
		// whatever the payment was, it does not pay the order.
		out.Status = providers.StatusFailed
		out.FailureReason = "reversed by Rapyd"
		if r := firstOf(p.CancelReason, p.FailureMessage); r != "" {
			out.FailureReason += ": " + r
		}
	default:
		return providers.Payment{}, paygate.Errorf(paygate.EUNAVAILABLE,
			"rapyd: payment %s has status %q, which paygate does not know", p.ID, paygate.Clip(p.Status, 64))
	}
	out.NextAction = providers.NextAction{Type: providers.ActionNone}
	return out, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// nextAction is what the buyer of an active payment must do, read from the
// payment's codes: a QR code (PayNow's "PayNow QR": an EMVCo payload in a
// textual or visual code, or an image) is ActionQR; a payment of the cash
// category, or with a digitable line (a boleto's 47 or 48 digits), is
// ActionVoucher with that number and redirect_url as the voucher's page;
// anything else with a redirect_url is ActionRedirect. Both codes expire
// at the payment's expiration.
func nextAction(p payment) providers.NextAction {
	var expires time.Time
	if sec, err := p.Expiration.Int64(); err == nil && sec > 0 {
		expires = time.Unix(sec, 0).UTC()
	}
	payload, image, isQR := qrCode(p)
	if isQR {
		return providers.NextAction{Type: providers.ActionQR, QRData: payload, QRImageURL: image, ExpiresAt: expires}
	}
	if number := voucherNumber(p.TextualCodes); number != "" || strings.EqualFold(p.Category, "cash") {
		return providers.NextAction{Type: providers.ActionVoucher, VoucherNumber: number, URL: p.RedirectURL, ExpiresAt: expires}
	}
	if p.RedirectURL != "" {
		return providers.NextAction{Type: providers.ActionRedirect, URL: p.RedirectURL}
	}
	return providers.NextAction{Type: providers.ActionNone}
}

// emvPrefix starts every EMVCo merchant-presented payload: the payload
// format indicator, tag 00 of length 02, value 01.
const emvPrefix = "000201"

// qrCode finds a payment's QR code: the EMVCo payload of any textual or
// visual code, and the image (a data: or http(s) URL) of a visual code
// labelled QR. isQR is true if either was found.
func qrCode(p payment) (payload, image string, isQR bool) {
	for _, codes := range []map[string]json.RawMessage{p.TextualCodes, p.VisualCodes} {
		for _, label := range sortedKeys(codes) {
			v := codeText(codes[label])
			if strings.HasPrefix(v, emvPrefix) && payload == "" {
				payload = v
			}
		}
	}
	for _, label := range sortedKeys(p.VisualCodes) {
		v := codeText(p.VisualCodes[label])
		if strings.Contains(strings.ToLower(label), "qr") && image == "" &&
			(strings.HasPrefix(v, "data:image/") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://")) {
			image = v
		}
	}
	return payload, image, payload != "" || image != ""
}

// voucherNumber returns the first textual code (by label) that is a
// digitable line: 47 or 48 digits once spaces and dots are removed,
// returned as those digits.
func voucherNumber(codes map[string]json.RawMessage) string {
	for _, label := range sortedKeys(codes) {
		v := strings.NewReplacer(" ", "", ".", "").Replace(codeText(codes[label]))
		if (len(v) == 47 || len(v) == 48) && strings.Trim(v, "0123456789") == "" {
			return v
		}
	}
	return ""
}

// codeText is a code's value if it is a JSON string, trimmed; "" if not.
func codeText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
