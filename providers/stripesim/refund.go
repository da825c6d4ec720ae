package stripesim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers/simkit"
)

// The refund statuses and events of Stripe the simulator uses.
const (
	refundSucceeded = "succeeded"
	refundPending   = "pending"
	refundFailed    = "failed"

	eventChargeRefunded = "charge.refunded"
	eventRefundUpdated  = "refund.updated"

	// failedRefundReason is the failure_reason of a refund FailNextRefund
	// fails, one of the values Stripe documents.
	failedRefundReason = "declined"
)

// refund is a Refund of a PaymentIntent's charge.
type refund struct {
	ID                 string
	Intent             *intent
	Amount             int64
	Status             string
	FailureReason      string
	Reason             string
	Metadata           map[string]string
	Created            int64
	BalanceTransaction string
	FailureTransaction string // failure_balance_transaction, once failed
}

type refundJSON struct {
	ID                        string            `json:"id"`
	Object                    string            `json:"object"`
	Amount                    int64             `json:"amount"`
	BalanceTransaction        *string           `json:"balance_transaction"`
	Charge                    string            `json:"charge"`
	Created                   int64             `json:"created"`
	Currency                  string            `json:"currency"`
	DestinationDetails        map[string]any    `json:"destination_details"`
	FailureBalanceTransaction *string           `json:"failure_balance_transaction,omitempty"`
	FailureReason             *string           `json:"failure_reason,omitempty"`
	Metadata                  map[string]string `json:"metadata"`
	PaymentIntent             string            `json:"payment_intent"`
	Reason                    *string           `json:"reason"`
	ReceiptNumber             *string           `json:"receipt_number"`
	SourceTransferReversal    any               `json:"source_transfer_reversal"`
	Status                    string            `json:"status"`
	TransferReversal          any               `json:"transfer_reversal"`
}

// toJSON renders the refund as Stripe does.
func (r *refund) toJSON() *refundJSON {
	pi := r.Intent
	j := &refundJSON{
		ID: r.ID, Object: "refund", Amount: r.Amount, BalanceTransaction: optStr(r.BalanceTransaction),
		Charge: pi.Charge.ID, Created: r.Created, Currency: pi.Currency,
		DestinationDetails: map[string]any{"type": pi.Charge.MethodType, pi.Charge.MethodType: map[string]any{}},
		Metadata:           copyMap(r.Metadata), PaymentIntent: pi.ID, Reason: optStr(r.Reason), Status: r.Status,
	}
	if r.Status == refundFailed {
		j.FailureReason = optStr(r.FailureReason)
		j.FailureBalanceTransaction = optStr(r.FailureTransaction)
	}
	return j
}

func refundCreateParams() []string {
	return []string{"amount", "charge", "currency", "customer", "expand", "instructions_email", "metadata",
		"origin", "payment_intent", "reason", "refund_application_fee", "reverse_transfer"}
}

// FailNextRefund makes the next refund created (an idempotent replay does
// not count) fail as the payer's bank would refuse it: the API answers it
// pending, it becomes failed at once (failure_reason declined), and
// refund.updated is sent with status failed; the charge's amount_refunded
// does not count it, so the amount can be refunded again. Each call fails
// one more refund. It is safe to call concurrently with everything else.
func (s *Simulator) FailNextRefund() {
	s.mu.Lock()
	s.failRefunds++
	s.mu.Unlock()
}

// createRefund handles POST /v1/refunds: it returns the response body and
// the events to send, in sending order. Caller holds s.mu.
//
// A refund needs a succeeded PaymentIntent (payment_intent, or its charge)
// that is not a boleto (Stripe has no boleto refunds), and an amount, the
// rest of what was received when omitted, of at most what was received
// minus what was refunded (failed refunds excepted). It succeeds at once:
// the answer is succeeded, and charge.refunded then refund.updated
// (succeeded) are sent; FailNextRefund makes one fail instead.
//
// The steps: the refunded PaymentIntent, the request's own parameters, the
// state checks (whose refusals count as executed), then the refund itself.
func (s *Simulator) createRefund(f *form, now time.Time, reqID, key string) ([]byte, []*simkit.Webhook, *apiError) {
	if aerr := checkParams(f, refundCreateParams()); aerr != nil {
		return nil, nil, aerr
	}
	pi, aerr := s.refundedIntent(f)
	if aerr != nil {
		return nil, nil, aerr
	}
	p, aerr := refundParamsOf(f, pi)
	if aerr != nil {
		return nil, nil, aerr
	}
	// The state checks: the request is executed from here, so an
	// idempotency key saves their refusals, as Stripe saves them.
	if p.amount, aerr = refundableAmount(pi, p.amount); aerr != nil {
		aerr.Executed = true
		return nil, nil, aerr
	}
	body, events := s.issueRefund(pi, p, now, reqID, key)
	return body, events, nil
}

// refundedIntent returns the PaymentIntent a refund request names, by its
// payment_intent or its charge; when both are given, the charge must be the
// PaymentIntent's. Caller holds s.mu.
func (s *Simulator) refundedIntent(f *form) (*intent, *apiError) {
	piID, aerr := optionalString(f, "payment_intent")
	if aerr != nil {
		return nil, aerr
	}
	chID, aerr := optionalString(f, "charge")
	if aerr != nil {
		return nil, aerr
	}
	var pi *intent
	switch {
	case piID == "" && chID == "":
		return nil, invalid("parameter_missing", "payment_intent", "One of `charge` or `payment_intent` is required.")
	case piID != "":
		if pi = s.intents[piID]; pi == nil {
			return nil, invalid("resource_missing", "payment_intent", "No such payment_intent: '%s'", piID)
		}
		if chID != "" && (pi.Charge == nil || pi.Charge.ID != chID) {
			return nil, invalid("", "charge", "The charge %s is not the charge of PaymentIntent %s.", chID, piID)
		}
	default:
		if pi = s.charges[chID]; pi == nil {
			return nil, invalid("resource_missing", "charge", "No such charge: '%s'", chID)
		}
	}
	return pi, nil
}

// refundParams are a refund request's own parameters. An amount of 0 means
// none was given.
type refundParams struct {
	reason string
	meta   map[string]string
	amount int64
}

// refundParamsOf reads and checks a refund request's reason, metadata,
// currency (which must be pi's) and amount (at least 1 when given).
func refundParamsOf(f *form, pi *intent) (refundParams, *apiError) {
	reason, aerr := optionalString(f, "reason")
	if aerr != nil {
		return refundParams{}, aerr
	}
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer":
	default:
		return refundParams{}, invalid("", "reason", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer")
	}
	meta, ok := f.strMap("metadata")
	if !ok {
		return refundParams{}, invalid("", "metadata", "Invalid hash")
	}
	if aerr := checkMetadata(meta); aerr != nil {
		return refundParams{}, aerr
	}
	if cur, _ := f.str("currency"); f.has("currency") && strings.ToLower(cur) != pi.Currency {
		return refundParams{}, invalid("", "currency", "The currency %s is not the currency of the charge (%s).", cur, pi.Currency)
	}
	var amount int64
	if f.has("amount") {
		av, _ := f.str("amount")
		n, err := strconv.ParseInt(av, 10, 64)
		if err != nil {
			return refundParams{}, invalid("parameter_invalid_integer", "amount", "Invalid integer: %s", av)
		}
		if n < 1 {
			return refundParams{}, invalid("amount_too_small", "amount", "Refund amount must be at least 1 (in the currency's smallest unit).")
		}
		amount = n
	}
	return refundParams{reason: reason, meta: meta, amount: amount}, nil
}

// refundableAmount checks that pi has a successful charge, not a boleto,
// with something left to refund, and returns the amount to refund: amount,
// or all that is left when amount is 0. An amount over what is left is
// refused.
func refundableAmount(pi *intent, amount int64) (int64, *apiError) {
	if pi.Status != statusSucceeded || pi.Charge == nil {
		return 0, invalid("payment_intent_unexpected_state", "payment_intent",
			"This PaymentIntent (%s) does not have a successful charge to refund: its status is %s.", pi.ID, pi.Status)
	}
	if pi.Charge.MethodType == typeBoleto {
		// The exact code and message of Stripe's refusal are not known:
		// Stripe documents that boleto has no refunds.
		return 0, invalid("charge_not_refundable", "",
			"Charge %s cannot be refunded: boleto payments do not support refunds.", pi.Charge.ID)
	}
	left := pi.AmountReceived - pi.Charge.Refunded
	if left <= 0 {
		return 0, invalid("charge_already_refunded", "", "Charge %s has already been refunded.", pi.Charge.ID)
	}
	if amount == 0 {
		amount = left
	}
	if amount > left {
		return 0, invalid("amount_too_large", "amount",
			"Refund amount (%s) is greater than unrefunded amount on charge (%s)",
			formatAmount(amount, pi.Currency), formatAmount(left, pi.Currency))
	}
	return amount, nil
}

// issueRefund creates the refund p of pi and its balance changes, and
// returns the answer's body and the recorded webhooks: charge.refunded
// then refund.updated (succeeded), or, when FailNextRefund asked for it,
// an answer pending and refund.updated (failed). Caller holds s.mu.
func (s *Simulator) issueRefund(pi *intent, p refundParams, now time.Time, reqID, key string) ([]byte, []*simkit.Webhook) {
	amount := p.amount
	r := &refund{
		ID: newID("re", 24), Intent: pi, Amount: amount, Status: refundSucceeded, Reason: p.reason,
		Metadata: p.meta, Created: now.Unix(), BalanceTransaction: newID("txn", 24),
	}
	s.refunds[r.ID] = r
	pi.Refunds = append(pi.Refunds, r.ID)
	s.addChange(pi, r.BalanceTransaction, balanceRefund, -amount, now)
	var body []byte
	var events []*simkit.Webhook
	if s.failRefunds > 0 {
		s.failRefunds--
		// Answered pending; the payer's bank refuses it at once.
		r.Status = refundPending
		body = marshal(r.toJSON())
		r.Status, r.FailureReason, r.FailureTransaction = refundFailed, failedRefundReason, newID("txn", 24)
		s.addChange(pi, r.FailureTransaction, balanceRefundFailure, amount, now)
		events = append(events, newEvent(eventRefundUpdated, pi.ID, r.toJSON(), now, reqID, key))
	} else {
		pi.Charge.Refunded += amount
		body = marshal(r.toJSON())
		events = append(events,
			newEvent(eventChargeRefunded, pi.ID, pi.chargeJSON(), now, reqID, key),
			newEvent(eventRefundUpdated, pi.ID, r.toJSON(), now, reqID, key))
	}
	s.log.Info().Str(fieldPaymentIntent, pi.ID).Str(fieldRefund, r.ID).Str(fieldRefundStatus, r.Status).
		Msg("stripesim: refund created")
	return body, s.record(pi, events, now)
}

// getRefund handles GET /v1/refunds/{id}. Caller holds s.mu.
func (s *Simulator) getRefund(id string, f *form) ([]byte, *apiError) {
	if aerr := checkParams(f, []string{"expand"}); aerr != nil {
		return nil, aerr
	}
	r := s.refunds[id]
	if r == nil {
		return nil, &apiError{Status: 404, Type: "invalid_request_error", Code: "resource_missing", Param: "id",
			Message: fmt.Sprintf("No such refund: '%s'", id)}
	}
	return marshal(r.toJSON()), nil
}
