// Package providers is the one contract behind which every payment gateway
// sits, and the catalog of payment methods: which currency each method takes,
// which provider serves it and what the buyer is shown next.
//
// A Provider creates a payment for one attempt of a payment order and says
// what the buyer must do next (go to a URL, scan a QR code, pay a voucher),
// fetches a payment's current status, cancels a pending payment, refunds
// part or all of a paid one to the payer's original method, and verifies
// and parses the provider's webhooks into provider-neutral events.
// Stripe (providers/stripe) and Rapyd (providers/rapyd) each serve every
// method of the catalog. A method's catalog entry names its default
// provider (Stripe for ideal, paynow and boleto; Rapyd for kakaopay and
// samsungpay); the service's routes (package routing, PAYGATE_ROUTES) may
// give it the other as a second road, and from then on an attempt's own
// provider, not the catalog, is the one that took its money (refunds,
// look-ups, Provider.Refundable). Their sandbox simulators live beside
// them.
package providers

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	// Provider is the method's default provider: its only road unless
	// the service's routes (PAYGATE_ROUTES) give it others.
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
	Amount paygate.Money
	// RefundedTotal says Amount is everything refunded of the payment so
	// far (Stripe's charge.refunded), not one refund's amount.
	RefundedTotal bool
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

// ErrMethodUnavailable says a provider cannot take a payment method now:
// it answered that the method is not enabled, not available or temporarily
// out of service for the account (not a decline of one payment). Providers
// wrap it in an EUNAVAILABLE error that names the method; the orchestrator
// fails such a create over to the method's next provider. Test for it
// with IsMethodUnavailable.
var ErrMethodUnavailable = &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "the payment method is not available at this provider"}

// IsMethodUnavailable reports whether err is ErrMethodUnavailable.
func IsMethodUnavailable(err error) bool { return errors.Is(err, ErrMethodUnavailable) }

// Finder is a Provider that can look up the payment of an attempt by
// paygate's own reference after a create whose answer was lost (a timeout,
// a 5xx, a broken connection): the orchestrator asks it before failing
// over to another provider, so that no payment order ever has two live
// payments.
type Finder interface {
	// FindPayment returns the payment the provider holds for req, the
	// request CreatePayment was given (its Attempt, PaymentOrder and
	// IdempotencyKey are paygate's reference); an ENOTFOUND error when the
	// provider certainly has none, EUNAVAILABLE when it cannot tell.
	FindPayment(ctx context.Context, req PaymentRequest) (Payment, error)
}

// Provider is a payment gateway. Implementations are safe for concurrent
// use. Errors are *paygate.Error where the caller branches: EINVALID for a
// request the provider refused, EUNAVAILABLE for a provider that could not
// be reached or failed (retry later).
type Provider interface {
	// Name is the provider's name: Stripe or Rapyd.
	Name() string
	// Refundable reports whether Refund can send a method's payments at
	// this provider back to the payer (Stripe's Boleto cannot).
	Refundable(m Method) bool
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
	// ParseSettlementReport reads the provider's settlement report from r
	// as it streams, and calls fn once per row, in order. A row it cannot
	// read is a ReportLine with Err set (EINVALID, naming the line), and
	// the parse goes on. It returns an EINVALID error for a report it
	// cannot read at all (no header, a required column missing), r's
	// error, ctx's error, or fn's error, which stops the parse.
	ParseSettlementReport(ctx context.Context, r io.Reader, fn func(ReportLine) error) error
}

// ReportLine is one line of a provider's settlement report, in
// provider-neutral terms. Amounts are signed minor units of the line's
// currency, as the provider's balance moved: a charge has a positive Gross
// and (usually) a positive Fee, a refund a negative Gross; Net = Gross - Fee.
//
// A line the parser could not read has Err set (an EINVALID *paygate.Error
// whose message names the line and the column) and Line, plus whatever
// fields were read before the bad one; its other fields must not be used.
type ReportLine struct {
	// Line is the 1-based line of the file where the row starts (the
	// header is usually line 1; blank lines count).
	Line int
	// ID is the provider's id of the line: Stripe's balance transaction
	// (txn_…), Rapyd's transaction id.
	ID string
	// PaymentRef is the provider's payment ("pi_…", "payment_…"), if the
	// line has one.
	PaymentRef string
	// PaymentOrder and Attempt are paygate's P-number and attempt id, read
	// back from the payment's metadata when the report carries them.
	PaymentOrder string
	Attempt      string
	// Category is provider-neutral: one of the Report* categories.
	// ProviderCategory is the provider's own name for it, as written.
	Category         string
	ProviderCategory string
	Gross            paygate.Money
	Fee              paygate.Money
	Net              paygate.Money
	// CreatedAt is when the balance changed, in UTC.
	CreatedAt time.Time
	// Err is set on a line that could not be read; see ReportLine.
	Err error
}

// The provider-neutral categories of ReportLine.Category. A provider
// category the parser does not know is ReportOther, not an error.
const (
	ReportCharge     = "charge"     // a payment collected
	ReportRefund     = "refund"     // money sent back to a payer (or a failed refund coming back)
	ReportFee        = "fee"        // a fee billed on its own line
	ReportPayout     = "payout"     // money sent to (or returned from) the merchant's bank
	ReportDispute    = "dispute"    // a chargeback, or its reversal
	ReportAdjustment = "adjustment" // a correction by the provider
	ReportOther      = "other"      // anything else
)

// ReportField is a field of ReportLine that a column of a settlement
// report fills.
type ReportField string

// The report fields. ReportPaymentRef, ReportPaymentOrder and ReportAttempt
// are optional: a report without their columns leaves them empty. The
// others are required.
const (
	ReportID           ReportField = "id"
	ReportCreated      ReportField = "created"
	ReportCategory     ReportField = "category"
	ReportGross        ReportField = "gross"
	ReportFeeAmount    ReportField = "fee"
	ReportNet          ReportField = "net"
	ReportCurrency     ReportField = "currency"
	ReportPaymentRef   ReportField = "payment_ref"
	ReportPaymentOrder ReportField = "payment_order"
	ReportAttempt      ReportField = "attempt"
)

// ReportFields returns every report field, required ones first.
func ReportFields() []ReportField {
	return []ReportField{ReportID, ReportCreated, ReportCategory, ReportGross, ReportFeeAmount, ReportNet, ReportCurrency,
		ReportPaymentRef, ReportPaymentOrder, ReportAttempt}
}

// Required reports whether a report must have the field's column.
func (f ReportField) Required() bool {
	switch f {
	case ReportPaymentRef, ReportPaymentOrder, ReportAttempt:
		return false
	}
	return slices.Contains(ReportFields(), f)
}

// ReportFormat says how ParseCSVReport reads one provider's report.
type ReportFormat struct {
	// Provider prefixes error messages ("stripe").
	Provider string
	// Columns maps each field to its column header. Headers are matched
	// ignoring case and surrounding spaces; other columns are ignored, in
	// any order. Every required field must be mapped.
	Columns map[ReportField]string
	// Category maps a provider category (trimmed, as written) to a
	// Report* category; nil makes every line ReportOther.
	Category func(string) string
}

// ParseCSVReport reads a settlement report in CSV, as a provider's
// ParseSettlementReport does, and calls fn once per row, in order. It
// streams: one row is in memory at a time.
//
// It accepts a UTF-8 byte order mark, CRLF line endings, quoted fields
// (with commas, quotes and line breaks), blank lines and rows whose fields
// are all empty (skipped), and extra columns. Amounts are decimal major
// units of the row's currency (case-insensitive ISO code), read with
// paygate.ParseSignedMoney (so "1500" and "1500.0" KRW, not "1500.5").
// Times are "2006-01-02 15:04:05" (UTC), RFC 3339, or Unix seconds.
//
// A bad row does not stop the parse: fn gets a ReportLine with Err set
// (unreadable CSV, a missing or extra field, an empty id, a bad time or
// amount, an unsupported currency, Gross - Fee != Net). ParseCSVReport
// returns an EINVALID error for a report without a header or without a
// required column (or with one twice), the error of r, ctx's error if it is
// done between rows, or fn's error, unchanged, which stops the parse.
func ParseCSVReport(ctx context.Context, r io.Reader, f ReportFormat, fn func(ReportLine) error) error {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	var (
		idx    = map[ReportField]int{}
		width  int
		header bool
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			if !header {
				return paygate.Errorf(paygate.EINVALID, "%s: the report is empty: it has no header", f.Provider)
			}
			return nil
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("%s: read report: %w", f.Provider, err)
		}
		if !header {
			if pe != nil {
				return paygate.Errorf(paygate.EINVALID, "%s: report header (line %d) is not valid CSV: %s", f.Provider, pe.StartLine, pe.Err)
			}
			if blankRecord(rec) {
				continue
			}
			if idx, err = reportColumns(f, rec); err != nil {
				return err
			}
			width, header = len(rec), true
			continue
		}
		var l ReportLine
		switch {
		case pe != nil:
			l = ReportLine{Line: pe.StartLine}
			l.Err = paygate.Errorf(paygate.EINVALID, "%s: report line %d is not valid CSV: %s", f.Provider, pe.StartLine, pe.Err)
		case blankRecord(rec):
			continue
		default:
			line, _ := cr.FieldPos(0)
			l = parseReportRow(f, idx, width, line, rec)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
}

const utf8BOM = "\uFEFF"

func blankRecord(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// reportColumns finds the column of each field in the header.
func reportColumns(f ReportFormat, header []string) (map[ReportField]int, error) {
	idx := map[ReportField]int{}
	for _, field := range ReportFields() {
		name, mapped := f.Columns[field]
		if !mapped || name == "" {
			if field.Required() {
				return nil, paygate.Errorf(paygate.EINVALID, "%s: no column is configured for the report field %q", f.Provider, field)
			}
			continue
		}
		for i, h := range header {
			if !strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(name)) {
				continue
			}
			if _, dup := idx[field]; dup {
				return nil, paygate.Errorf(paygate.EINVALID, "%s: the report header has the column %q twice", f.Provider, paygate.Clip(name, 32))
			}
			idx[field] = i
		}
		if _, ok := idx[field]; !ok && field.Required() {
			return nil, paygate.Errorf(paygate.EINVALID, "%s: the report header has no column %q", f.Provider, paygate.Clip(name, 32))
		}
	}
	return idx, nil
}

// parseReportRow reads one data row; line is where it starts.
func parseReportRow(f ReportFormat, idx map[ReportField]int, width, line int, rec []string) ReportLine {
	l := ReportLine{Line: line}
	bad := func(field ReportField, format string, args ...any) ReportLine {
		l.Err = paygate.Errorf(paygate.EINVALID, "%s: report line %d, column %q: %s",
			f.Provider, line, paygate.Clip(f.Columns[field], 32), fmt.Sprintf(format, args...))
		return l
	}
	if len(rec) != width {
		l.Err = paygate.Errorf(paygate.EINVALID, "%s: report line %d has %d fields, the header %d", f.Provider, line, len(rec), width)
		return l
	}
	get := func(field ReportField) string {
		if i, ok := idx[field]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	if l.ID = get(ReportID); l.ID == "" {
		return bad(ReportID, "the id is empty")
	}
	l.PaymentRef = get(ReportPaymentRef)
	l.PaymentOrder = get(ReportPaymentOrder)
	l.Attempt = get(ReportAttempt)
	l.ProviderCategory = get(ReportCategory)
	if l.ProviderCategory == "" {
		return bad(ReportCategory, "the category is empty")
	}
	l.Category = ReportOther
	if f.Category != nil {
		l.Category = f.Category(l.ProviderCategory)
	}
	t, err := parseReportTime(get(ReportCreated))
	if err != nil {
		return bad(ReportCreated, "%s", paygate.ErrorMessage(err))
	}
	l.CreatedAt = t
	cur, err := paygate.ParseCurrency(strings.ToUpper(get(ReportCurrency)))
	if err != nil {
		return bad(ReportCurrency, "%s", paygate.ErrorMessage(err))
	}
	for _, a := range []struct {
		field ReportField
		m     *paygate.Money
	}{{ReportGross, &l.Gross}, {ReportFeeAmount, &l.Fee}, {ReportNet, &l.Net}} {
		if *a.m, err = paygate.ParseSignedMoney(get(a.field), cur); err != nil {
			return bad(a.field, "%s", paygate.ErrorMessage(err))
		}
	}
	if want, err := l.Gross.Sub(l.Fee); err != nil || want != l.Net {
		return bad(ReportNet, "net %s is not gross %s minus fee %s", l.Net.Amount(), l.Gross.Amount(), l.Fee.Amount())
	}
	return l
}

// reportTimeLayouts are the time layouts ParseCSVReport accepts, besides
// Unix seconds.
var reportTimeLayouts = [...]string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05"}

func parseReportTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, paygate.Errorf(paygate.EINVALID, "the time is empty")
	}
	if len(s) <= 12 && !strings.ContainsAny(s, "-: ") {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil && sec >= 0 {
			return time.Unix(sec, 0).UTC(), nil
		}
	}
	for _, layout := range reportTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, paygate.Errorf(paygate.EINVALID, "time %q is not like \"2006-01-02 15:04:05\"", paygate.Clip(s, 32))
}
