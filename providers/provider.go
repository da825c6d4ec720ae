// Package providers is the one contract behind which every payment gateway
// sits, and the catalog of payment methods: which currency each method takes,
// which provider serves it and what the buyer is shown next.
//
// A Provider creates a payment for one attempt of a payment order and says
// what the buyer must do next (go to a URL, scan a QR code, pay a voucher),
// fetches a payment's current status, cancels a pending payment, refunds
// part or all of a paid one to the payer's original method, and verifies
// and parses the provider's webhooks into provider-neutral events.
// Stripe (providers/stripe) serves ideal, paynow and boleto; Rapyd
// (providers/rapyd) serves kakaopay and samsungpay. Their sandbox
// simulators live beside them.
package providers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/paygate/paygate"
)

// Method is a payment method a buyer chooses.
type Method string

// The payment methods.
const (
	IDEAL      Method = "ideal"
	PayNow     Method = "paynow"
	Boleto     Method = "boleto"
	KakaoPay   Method = "kakaopay"
	SamsungPay Method = "samsungpay"
)

// The providers.
const (
	Stripe = "stripe"
	Rapyd  = "rapyd"
)

// ActionType is the kind of thing a buyer is shown after a payment starts.
type ActionType string

// The kinds of next action.
const (
	ActionRedirect ActionType = "redirect" // send the buyer to URL
	ActionQR       ActionType = "qr"       // show a QR code of QRData until ExpiresAt
	ActionVoucher  ActionType = "voucher"  // show a voucher (number, URL) payable until ExpiresAt
	ActionNone     ActionType = "none"     // nothing to do: the payment is final or processing
)

// MethodInfo describes one method of the catalog.
type MethodInfo struct {
	Method   Method
	Label    string // what a buyer reads: "iDEAL"
	Currency paygate.Currency
	Provider string
	Action   ActionType
	// NeedsPayer: the method needs the payer's name, email, address and tax
	// id (Boleto's CPF or CNPJ).
	NeedsPayer bool
	// Refundable: the provider can send the method's payments back to the
	// payer (Provider.Refund). Stripe's Boleto has no refunds at all, so
	// its refunds need another route (a manual payout by finance staff).
	// Rapyd's refunds of KakaoPay and Samsung Pay are unverified: the
	// rapyd client can override them in its configuration.
	Refundable bool
}

// Catalog returns every method, in the order a checkout page lists them.
func Catalog() []MethodInfo {
	return []MethodInfo{
		{Method: IDEAL, Label: "iDEAL", Currency: paygate.EUR, Provider: Stripe, Action: ActionRedirect, Refundable: true},
		{Method: PayNow, Label: "PayNow QR", Currency: paygate.SGD, Provider: Stripe, Action: ActionQR, Refundable: true},
		{Method: Boleto, Label: "Boleto", Currency: paygate.BRL, Provider: Stripe, Action: ActionVoucher, NeedsPayer: true},
		{Method: KakaoPay, Label: "KakaoPay", Currency: paygate.KRW, Provider: Rapyd, Action: ActionRedirect, Refundable: true},
		{Method: SamsungPay, Label: "Samsung Pay", Currency: paygate.KRW, Provider: Rapyd, Action: ActionRedirect, Refundable: true},
	}
}

// Lookup returns the catalog entry of a method.
func Lookup(m Method) (MethodInfo, bool) {
	for _, mi := range Catalog() {
		if mi.Method == m {
			return mi, true
		}
	}
	return MethodInfo{}, false
}

// MethodsFor returns the methods that take currency c.
func MethodsFor(c paygate.Currency) []MethodInfo {
	var out []MethodInfo
	for _, mi := range Catalog() {
		if mi.Currency == c {
			out = append(out, mi)
		}
	}
	return out
}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
}

// Payer is who pays, as far as a method needs to know.
type Payer struct {
	Name    string  `json:"name,omitempty"`
	Email   string  `json:"email,omitempty"`
	Phone   string  `json:"phone,omitempty"`
	TaxID   string  `json:"tax_id,omitempty"` // CPF or CNPJ for Boleto, digits (and letters) only
	Address Address `json:"address"`
}

// PaymentRequest asks a provider to start a payment for one attempt.
type PaymentRequest struct {
	Method       Method
	Amount       paygate.Money
	PaymentOrder string // the P-number; sent to the provider as metadata
	Attempt      string // our attempt id; sent as metadata
	// IdempotencyKey makes the provider call safe to retry; it is derived
	// from the attempt, so a retry after a crash creates nothing twice.
	IdempotencyKey string
	// ReturnURL is where the provider sends the buyer back after a
	// redirect method.
	ReturnURL   string
	Description string
	Payer       Payer
}

// Status is a payment's state at its provider, in provider-neutral terms.
type Status string

// The payment statuses. Pending and Processing are not final.
const (
	StatusPending    Status = "pending"    // waiting for the buyer (redirect, QR, voucher)
	StatusProcessing Status = "processing" // the buyer paid; the provider is confirming
	StatusSucceeded  Status = "succeeded"
	StatusFailed     Status = "failed"
	StatusCanceled   Status = "canceled"
	StatusExpired    Status = "expired"
)

// Final reports whether the status can no longer change.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled || s == StatusExpired
}

// NextAction is what the buyer must do to pay.
type NextAction struct {
	Type          ActionType
	URL           string    // redirect: the gateway page; voucher: the voucher page
	QRData        string    // qr: the payload to encode (an EMVCo SGQR string)
	QRImageURL    string    // qr: the provider's rendering of the code, if any
	VoucherNumber string    // voucher: the number to pay (a boleto's digitable line)
	ExpiresAt     time.Time // qr and voucher: when it stops being payable
}

// Payment is a provider's payment.
type Payment struct {
	Ref           string // the provider's id ("pi_…", "payment_…")
	Status        Status
	Amount        paygate.Money
	NextAction    NextAction
	FailureReason string
}

// RefundRequest asks a provider to send money of a paid payment back to
// the payer's original payment method.
type RefundRequest struct {
	// PaymentRef is the provider's payment to refund ("pi_…", "payment_…").
	PaymentRef string
	// Amount is how much to send back, in the payment's currency: at most
	// what the payment collected minus what was refunded before.
	Amount paygate.Money
	// IdempotencyKey makes the provider call safe to retry; the caller
	// derives it from its own refund id, so a retry after a crash refunds
	// nothing twice.
	IdempotencyKey string
	// Reason is free text for the provider (its dashboard, its reports).
	Reason string
	// Refund is our refund id. It is sent to the provider (Stripe's
	// metadata, Rapyd's merchant_reference_id) and comes back in the
	// refund's webhooks as Event.Refund.
	Refund string
}

// RefundStatus is a refund's state at its provider, in provider-neutral
// terms.
type RefundStatus string

// The refund statuses. Pending is not final: a webhook (EventRefunded or
// EventRefundFailed) says how it ends.
const (
	RefundPending   RefundStatus = "pending"   // accepted; the money is on its way, or waits on the payer's bank
	RefundSucceeded RefundStatus = "succeeded" // the money went back to the payer
	RefundFailed    RefundStatus = "failed"    // the money did not go back (refused, returned, canceled)
)

// Final reports whether the status can no longer change.
func (s RefundStatus) Final() bool { return s == RefundSucceeded || s == RefundFailed }

// Refund is a provider's refund of (part of) a payment.
type Refund struct {
	Ref           string // the provider's id ("re_…", "refund_…")
	Status        RefundStatus
	Amount        paygate.Money
	FailureReason string // why it failed, when Status is RefundFailed
}

// EventType is what happened, in provider-neutral terms.
type EventType string

// The event types paygate acts on. Anything else is EventOther: stored, not
// acted on.
const (
	EventPaymentProcessing EventType = "payment.processing"
	EventPaymentSucceeded  EventType = "payment.succeeded"
	EventPaymentFailed     EventType = "payment.failed"
	EventPaymentCanceled   EventType = "payment.canceled"
	EventPaymentExpired    EventType = "payment.expired"
	// EventRefunded: money of a payment went back to the payer at the
	// provider (Amount says how much). With Event.Refund set, it is about
	// one refund paygate asked for, and Amount is that refund's amount.
	// Without it, it may be about a refund made at the provider's dashboard:
	// Stripe's charge.refunded, whose Amount is everything refunded of the
	// payment so far, and which Stripe also sends for paygate's own refunds.
	EventRefunded EventType = "refund.succeeded"
	// EventRefundFailed: a refund did not reach the payer (the provider or
	// the payer's bank refused or returned it, or it was canceled); the
	// money stays with the merchant. Event.Refund names paygate's refund
	// when it was one of paygate's.
	EventRefundFailed EventType = "refund.failed"
	// EventDisputed: the payer disputed the payment with their bank.
	EventDisputed EventType = "dispute.opened"
	EventOther    EventType = "other"
)

// Event is one verified webhook event.
type Event struct {
	ID           string    // the provider's event id, unique per provider ("evt_…", "wh_…")
	Type         EventType // what it means to paygate
	ProviderType string    // the provider's own name ("payment_intent.succeeded", "PAYMENT_COMPLETED")
	PaymentRef   string    // the provider's payment id
	PaymentOrder string    // the P-number from the payment's metadata, if any
	Attempt      string    // our attempt id from the payment's metadata, if any
	// Refund is our refund id, read back from the provider's refund
	// (Stripe's metadata, Rapyd's merchant_reference_id), for the refund
	// events of refunds paygate asked for; empty otherwise.
	Refund string
	// Amount is what the event says was paid (or attempted, or refunded);
	// zero when the event carries none.
	Amount        paygate.Money
	FailureReason string
	OccurredAt    time.Time
	// Verification says how the event was trusted, without secrets: the
	// signature scheme and key identity, or a status re-fetched from the
	// provider.
	Verification string
}

// Webhook is one delivery to a webhook endpoint, as received.
type Webhook struct {
	Header http.Header
	Body   []byte
	// URL is the public URL the provider posted to (Rapyd signs it).
	URL string
	// ReceivedAt is when it arrived, for the signature's time window.
	ReceivedAt time.Time
}

// ErrUnsupported is returned by operations a provider does not offer (or
// does not offer yet), such as Refund for a method without refunds (a
// Stripe boleto). Providers wrap it in an error that names the operation
// and the method; test for it with IsUnsupported.
var ErrUnsupported = &paygate.Error{Code: paygate.EINVALID, Message: "not supported by this provider"}

// ErrNotCancelable says a pending payment cannot be canceled at its
// provider (a boleto voucher, once issued, stays payable).
var ErrNotCancelable = &paygate.Error{Code: paygate.ECONFLICT, Message: "the payment cannot be canceled at its provider"}

// IsUnsupported reports whether err is ErrUnsupported.
func IsUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }

// Provider is a payment gateway. Implementations are safe for concurrent
// use. Errors are *paygate.Error where the caller branches: EINVALID for a
// request the provider refused, EUNAVAILABLE for a provider that could not
// be reached or failed (retry later).
type Provider interface {
	// Name is the provider's name: Stripe or Rapyd.
	Name() string
	// CreatePayment starts a payment and returns it with its next action.
	// Calling it again with the same IdempotencyKey returns the same
	// payment.
	CreatePayment(ctx context.Context, req PaymentRequest) (Payment, error)
	// GetPayment returns a payment's current state, for the return page and
	// for the janitor that polls stuck payments.
	GetPayment(ctx context.Context, ref string) (Payment, error)
	// CancelPayment cancels a pending payment, or returns ErrNotCancelable.
	CancelPayment(ctx context.Context, ref string) error
	// Refund sends req.Amount of a paid payment back to the payer's
	// original payment method and returns the refund. Calling it again with
	// the same IdempotencyKey (and Refund) returns the same refund, not a
	// second one. A refund the provider accepted but that failed is a
	// Refund with Status RefundFailed, not an error. A payment whose method
	// has no refunds at its provider is an error wrapping ErrUnsupported,
	// returned without asking the provider; a payment that has not
	// succeeded is ECONFLICT; an amount over what is left to refund, or of
	// another currency, is EINVALID; an unknown payment ENOTFOUND.
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// ParseWebhook verifies a webhook's signature and time window and
	// returns its events; a webhook that fails verification or cannot be
	// parsed is an EINVALID error and must not be stored.
	ParseWebhook(ctx context.Context, w Webhook) ([]Event, error)
	// ParseSettlementReport reads a settlement report line by line
	// (reconciliation; ErrUnsupported until then).
	ParseSettlementReport(ctx context.Context, r io.Reader, fn func(ReportLine) error) error
}

// ReportLine is one line of a provider's settlement report. It is filled in
// by the reconciliation work.
type ReportLine struct {
	Line       int
	PaymentRef string
	Category   string
	Gross      paygate.Money
	Fee        paygate.Money
	Net        paygate.Money
}
