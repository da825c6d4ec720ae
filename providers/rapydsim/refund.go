package rapydsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// The refund statuses.
const (
	refundPending   = "Pending"
	refundCompleted = "Completed"
	refundRejected  = "Rejected"
)

// maxRefundReferenceLen is the longest merchant_reference_id Rapyd takes on
// a refund.
const maxRefundReferenceLen = 255

// rejectedReason is the failure_reason of a refund FailNextRefund rejects.
const rejectedReason = "The wallet provider rejected the refund (Rapyd sandbox: FailNextRefund)."

// refund is a simulated refund of a payment.
type refund struct {
	id            string
	paymentID     string
	minor         int64 // in the payment's currency
	status        string
	reason        string
	reference     string
	metadata      json.RawMessage
	failureReason string
	createdAt     time.Time
	updatedAt     time.Time
}

// refundRequest is the body of POST /v1/refunds.
type refundRequest struct {
	Payment             string          `json:"payment"`
	Amount              json.Number     `json:"amount"`
	Currency            string          `json:"currency"`
	Reason              string          `json:"reason"`
	MerchantReferenceID string          `json:"merchant_reference_id"`
	Metadata            json.RawMessage `json:"metadata"`
}

// refundObject is Rapyd's refund object, the fields the simulator fills.
type refundObject struct {
	ID                      string          `json:"id"`
	Amount                  json.Number     `json:"amount"`
	Payment                 string          `json:"payment"`
	Currency                string          `json:"currency"`
	FailureReason           string          `json:"failure_reason"`
	Metadata                json.RawMessage `json:"metadata"`
	Reason                  string          `json:"reason"`
	Status                  string          `json:"status"`
	CreatedAt               int64           `json:"created_at"`
	UpdatedAt               int64           `json:"updated_at"`
	MerchantReferenceID     string          `json:"merchant_reference_id"`
	PaymentCreatedAt        int64           `json:"payment_created_at"`
	PaymentMethodType       string          `json:"payment_method_type"`
	ProportionalRefund      bool            `json:"proportional_refund"`
	MerchantDebitedAmount   json.Number     `json:"merchant_debited_amount"`
	MerchantDebitedCurrency string          `json:"merchant_debited_currency"`
}

// refundList is the refunds of a payment object, as a Rapyd list object.
type refundList struct {
	Data       []refundObject `json:"data"`
	HasMore    bool           `json:"has_more"`
	TotalCount int            `json:"total_count"`
	URL        string         `json:"url"`
}

// object renders a refund of p as Rapyd does. Call it with s.mu held or on
// copies.
func (r *refund) object(p *payment) refundObject {
	amount := major(paygate.New(r.minor, p.amount.Currency))
	return refundObject{
		ID: r.id, Amount: amount, Payment: p.id, Currency: string(p.amount.Currency), FailureReason: r.failureReason,
		Metadata: r.metadata, Reason: r.reason, Status: r.status,
		CreatedAt: r.createdAt.Unix(), UpdatedAt: r.updatedAt.Unix(), MerchantReferenceID: r.reference,
		PaymentCreatedAt: p.createdAt.Unix(), PaymentMethodType: p.methodType,
		MerchantDebitedAmount: amount, MerchantDebitedCurrency: string(p.amount.Currency),
	}
}

// refunded is how much of p is refunded or being refunded: its refunds
// that are not rejected. Call it with s.mu held.
func (p *payment) refunded() int64 {
	var n int64
	for _, r := range p.refunds {
		if r.status != refundRejected {
			n += r.minor
		}
	}
	return n
}

// FailNextRefund makes the next refund created fail as a wallet may refuse
// it: it is answered Pending, then becomes Rejected at once (with a
// failure_reason) and PAYMENT_REFUND_REJECTED is sent instead of
// REFUND_COMPLETED; it does not count as refunded, so the amount can be
// refunded again. Each call fails one more refund. It is safe to call
// concurrently with everything else.
func (s *Simulator) FailNextRefund() {
	s.mu.Lock()
	s.failRefunds++
	s.mu.Unlock()
}

// createRefund serves POST /v1/refunds: a refund of a CLO payment, of the
// amount given (the rest of the payment when omitted) up to what is not yet
// refunded. It is answered Pending; it then completes at once and
// REFUND_COMPLETED is sent, in the background, as create sends
// PAYMENT_SUCCEEDED. The idempotency header is not checked, as in Rapyd's
// default configuration.
//
// The steps: read the request, find the payment and check what it can
// refund, record the refund, answer, and send its webhook.
func (s *Simulator) createRefund(w http.ResponseWriter, r *http.Request, body []byte) {
	req, rf := readRefundRequest(r, body)
	if rf != nil {
		s.apiError(w, rf.status, rf.code, rf.message)
		return
	}
	now := s.now()
	s.mu.Lock()
	p, ok := s.payments[req.Payment]
	if !ok {
		s.mu.Unlock()
		s.apiError(w, http.StatusNotFound, "ERROR_GET_PAYMENT", "The request tried to refund a payment, but the payment was not found.")
		return
	}
	minor, msg := refundAmount(p, req)
	if msg != "" {
		s.mu.Unlock()
		s.apiError(w, http.StatusBadRequest, "ERROR_CREATE_REFUND", msg)
		return
	}
	out, typ, refundID, batch := s.issueRefund(p, req, minor, now)
	s.trim(now)
	s.mu.Unlock()

	s.log.Info().Str(fieldPaymentRef, p.id).Str(fieldRefundRef, refundID).Str(fieldWebhookType, typ).Msg("rapydsim: refund created")
	s.hooks.Send(r.Context(), batch, false) // in the background, handed over before the answer
	writeJSON(w, http.StatusOK, out)
}

// refusal is an error answer of the API: its HTTP status, error code and
// message.
type refusal struct {
	status        int
	code, message string
}

// readRefundRequest decodes a refund request: a JSON object, with a
// merchant_reference_id of at most maxRefundReferenceLen bytes and metadata
// that is an object (or null) when given.
func readRefundRequest(r *http.Request, body []byte) (refundRequest, *refusal) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return refundRequest{}, &refusal{http.StatusBadRequest, "INVALID_CONTENT_TYPE", "The request must have Content-Type application/json."}
	}
	var req refundRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || dec.More() {
		return refundRequest{}, &refusal{http.StatusBadRequest, "INVALID_REQUEST_BODY", "The request body is not a JSON object of a refund."}
	}
	if len(req.MerchantReferenceID) > maxRefundReferenceLen {
		return refundRequest{}, &refusal{http.StatusBadRequest, "ERROR_CREATE_REFUND", "The merchant_reference_id is longer than 255 characters."}
	}
	if len(req.Metadata) > 0 && req.Metadata[0] != '{' && string(req.Metadata) != "null" {
		return refundRequest{}, &refusal{http.StatusBadRequest, "ERROR_CREATE_REFUND", "The metadata must be a JSON object."}
	}
	return req, nil
}

// refundAmount returns the amount in minor units that req refunds of p:
// the amount given, or all that is not yet refunded. When p cannot refund
// it (another currency, an invalid amount, a method that is not
// refundable, a payment that is not closed, more than is left), it returns
// the message of the refusal instead. Caller holds s.mu.
func refundAmount(p *payment, req refundRequest) (int64, string) {
	cur := p.amount.Currency
	if req.Currency != "" && req.Currency != string(cur) {
		return 0, "The request tried to refund in " + strconv.Quote(paygate.Clip(req.Currency, 64)) + ", but the payment is in " + string(cur) + "."
	}
	var minor int64
	if req.Amount != "" {
		m, err := paygate.ParseMoney(string(req.Amount), cur)
		if err != nil || m.Minor <= 0 {
			return 0, "The request tried to refund an invalid amount. Send a positive amount of " + string(cur) + " in major units."
		}
		minor = m.Minor
	}
	if !p.offer.refundable {
		return 0, "The request tried to refund a payment of " + p.methodType + ", which is not refundable (is_refundable false)."
	}
	if p.status != statusClosed {
		return 0, "The request tried to refund a payment whose status is " + p.status + ". Only a closed payment (CLO) can be refunded."
	}
	left := p.amount.Minor - p.refunded()
	if minor == 0 {
		minor = left
	}
	if minor <= 0 || minor > left {
		return 0, "The request tried to refund " + paygate.New(minor, cur).String() + ", but only " +
			paygate.New(max(left, 0), cur).String() + " of the payment is not refunded."
	}
	return minor, ""
}

// issueRefund records a refund of minor units of p for req, answered
// Pending, then settles it at once (completed, or rejected when
// FailNextRefund asked for it). It returns the answer, the webhook type,
// the refund's id and the queued webhooks. Caller holds s.mu.
func (s *Simulator) issueRefund(p *payment, req refundRequest, minor int64, now time.Time) ([]byte, string, string, []*simkit.Webhook) {
	rf := &refund{
		id: newID("refund_"), paymentID: p.id, minor: minor, status: refundPending, reason: req.Reason,
		reference: req.MerchantReferenceID, metadata: req.Metadata, createdAt: now, updatedAt: now,
	}
	if len(rf.metadata) == 0 || string(rf.metadata) == "null" {
		rf.metadata = json.RawMessage(`{}`)
	}
	p.refunds = append(p.refunds, rf)
	s.refunds[rf.id] = rf
	out := s.response(rf.object(p))

	// The sandbox settles it at once, after the Pending answer.
	typ := typeRefundCompleted
	rf.status = refundCompleted
	if s.failRefunds > 0 {
		s.failRefunds--
		typ, rf.status, rf.failureReason = typeRefundRejected, refundRejected, rejectedReason
	}
	s.reportRefund(p, rf)
	batch := s.queue(p, s.newRefundDelivery(typ, p, rf, now), true, now)
	return out, typ, rf.id, batch
}

// getRefund serves GET /v1/refunds/{id}.
func (s *Simulator) getRefund(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	rf, ok := s.refunds[r.PathValue("id")]
	var out []byte
	if ok {
		out = s.response(rf.object(s.payments[rf.paymentID]))
	}
	s.mu.Unlock()
	if !ok {
		s.apiError(w, http.StatusNotFound, "ERROR_GET_REFUND", "The request tried to retrieve a refund, but the refund was not found.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}
