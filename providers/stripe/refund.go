package stripe

import (
	"context"
	"fmt"
	"strings"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// Metadata keys of every Refund paygate creates; refund webhooks read
// MetadataRefund back into Event.Refund.
const (
	MetadataRefund       = "refund"        // our refund id
	MetadataRefundReason = "refund_reason" // RefundRequest.Reason, free text
)

// refundReason is the reason Refund tells Stripe. Stripe takes only
// duplicate, fraudulent and requested_by_customer; paygate's own reason,
// free text, goes in the metadata.
const refundReason = stripego.RefundReasonRequestedByCustomer

// Stripe's metadata limits: a value has at most 500 characters.
const maxMetadataValue = 500

// maxRefundIDLen bounds our refund id, which becomes a metadata value (and,
// at Rapyd, a merchant_reference_id of at most 255 characters).
const maxRefundIDLen = 255

// Refund refunds req.Amount of PaymentIntent req.PaymentRef to the
// payer's original payment method with Stripe's POST /v1/refunds:
// payment_intent, amount in minor units, reason requested_by_customer,
// metadata refund=<req.Refund> (and refund_reason=<req.Reason>, cut to
// Stripe's 500 characters), and req.IdempotencyKey as the Idempotency-Key,
// so a retry returns the first refund.
//
// It first retrieves the PaymentIntent, so that the method is Stripe's
// word, not the caller's: a PaymentIntent of a method the catalog marks not
// refundable (boleto: Stripe has no boleto refunds) is an EINVALID error
// wrapping providers.ErrUnsupported, and Stripe's refund endpoint is never
// called for it. A PaymentIntent that has not succeeded is ECONFLICT; an
// amount of another currency than the payment's, or over what it received,
// EINVALID; both without asking Stripe to refund.
//
// Stripe's answer maps to a providers.Refund: pending and requires_action
// are pending, succeeded is succeeded, failed and canceled are failed (with
// Stripe's failure_reason, or "canceled"). Errors are mapped as for the
// other calls (see apiError); a refund Stripe refuses because the charge is
// already refunded, disputed or no longer refundable is ECONFLICT; a
// malformed request (no idempotency key, no refund id, a bad ref or amount)
// is EINVALID without any call.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	params, err := refundParams(req)
	if err != nil {
		return providers.Refund{}, err
	}
	pi, err := c.getIntent(ctx, req.PaymentRef)
	if err != nil {
		return providers.Refund{}, err
	}
	if err := checkRefundable(pi, req); err != nil {
		return providers.Refund{}, err
	}
	params.Context = ctx
	r, err := c.createRefund(params)
	if err != nil {
		return providers.Refund{}, apiError("refund payment "+req.PaymentRef, err)
	}
	out, err := c.refund(ctx, r)
	if err != nil {
		return providers.Refund{}, err
	}
	l := c.logger(ctx)
	l.Debug().
		Str(FieldPaymentRef, req.PaymentRef).
		Str(FieldRefund, req.Refund).
		Str(FieldRefundRef, out.Ref).
		Str(FieldRefundStatus, string(out.Status)).
		Str(FieldStripeRequestID, requestID(r.LastResponse)).
		Msg("stripe refund created")
	return out, nil
}

// createRefund is the one refund call of Refund, apart so that tests can
// send it to stripe-mock, whose PaymentIntents never succeed.
func (c *Client) createRefund(params *stripego.RefundParams) (*stripego.Refund, error) {
	return c.api.Refunds.New(params)
}

// refundParams validates req and builds the refund parameters.
func refundParams(req providers.RefundRequest) (*stripego.RefundParams, error) {
	if err := validRef(req.PaymentRef); err != nil {
		return nil, err
	}
	if !req.Amount.Currency.Valid() {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: refund currency %q is not one paygate knows", req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: refund amount %s is not positive", req.Amount)
	}
	key := strings.TrimSpace(req.IdempotencyKey)
	if key == "" || len(key) > maxIdempotencyKeyLen {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: an idempotency key of 1 to %d characters is required", maxIdempotencyKeyLen)
	}
	if req.Refund == "" || len(req.Refund) > maxRefundIDLen {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: a refund id of 1 to %d characters is required", maxRefundIDLen)
	}
	params := &stripego.RefundParams{
		PaymentIntent: stripego.String(req.PaymentRef),
		Amount:        stripego.Int64(req.Amount.Minor),
		Reason:        stripego.String(string(refundReason)),
	}
	params.SetIdempotencyKey(key)
	params.AddMetadata(MetadataRefund, req.Refund)
	if reason := strings.TrimSpace(req.Reason); reason != "" {
		params.AddMetadata(MetadataRefundReason, paygate.Cut(reason, maxMetadataValue))
	}
	return params, nil
}

// checkRefundable refuses, before any refund call, what Stripe cannot or
// must not refund: a method without refunds, a PaymentIntent that has not
// succeeded, another currency, more than was received.
func checkRefundable(pi *stripego.PaymentIntent, req providers.RefundRequest) error {
	ref := req.PaymentRef
	// paygate creates every PaymentIntent with exactly one method type;
	// one of several that is not refundable refuses the whole, to be safe.
	for _, t := range pi.PaymentMethodTypes {
		m, ok := methodOf(t)
		if mi, known := providers.Lookup(m); ok && known && !refundable(m) {
			return &paygate.Error{
				Code:    paygate.EINVALID,
				Message: fmt.Sprintf("stripe: refund payment %s: %s payments cannot be refunded at Stripe; refund the payer another way", ref, mi.Label),
				Err:     providers.ErrUnsupported,
			}
		}
	}
	if pi.Status != stripego.PaymentIntentStatusSucceeded {
		return paygate.Errorf(paygate.ECONFLICT, "stripe: refund payment %s: it has not succeeded (status %s); there is nothing to refund", ref, paygate.Clip(string(pi.Status), maxQuoted))
	}
	cur, err := currency(pi.Currency)
	if err != nil || cur != req.Amount.Currency {
		return paygate.Errorf(paygate.EINVALID, "stripe: refund payment %s: the payment is in %s, not %s", ref, paygate.Clip(strings.ToUpper(string(pi.Currency)), maxQuoted), req.Amount.Currency)
	}
	if req.Amount.Minor > pi.AmountReceived {
		return paygate.Errorf(paygate.EINVALID, "stripe: refund payment %s: %s is more than the %s it received",
			ref, req.Amount, paygate.Money{Minor: pi.AmountReceived, Currency: cur})
	}
	return nil
}

// refund maps a Refund from an API response. A refund without an id or in
// a currency paygate does not know is an EINTERNAL error: Stripe answered,
// but not with something usable.
func (c *Client) refund(ctx context.Context, r *stripego.Refund) (providers.Refund, error) {
	if r == nil || r.ID == "" {
		return providers.Refund{}, paygate.Errorf(paygate.EINTERNAL, "stripe: the response holds no refund id")
	}
	cur, err := currency(r.Currency)
	if err != nil {
		return providers.Refund{}, paygate.Errorf(paygate.EINTERNAL, "stripe: refund %s: %s", paygate.Clip(r.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	status, reason, known := refundStatus(r.Status, string(r.FailureReason))
	if !known {
		l := c.logger(ctx)
		l.Warn().
			Str(FieldRefundRef, r.ID).
			Str(FieldStripeStatus, string(r.Status)).
			Msg("unknown refund status taken as pending")
	}
	return providers.Refund{Ref: r.ID, Status: status, Amount: paygate.Money{Minor: r.Amount, Currency: cur}, FailureReason: reason}, nil
}

// refundStatus maps a Refund's status and failure_reason. known is false
// for a status this version does not know, which is taken as pending: not
// final, so the caller waits for the refund's webhook.
func refundStatus(s stripego.RefundStatus, failureReason string) (status providers.RefundStatus, reason string, known bool) {
	switch s {
	case stripego.RefundStatusPending, stripego.RefundStatusRequiresAction:
		return providers.RefundPending, "", true
	case stripego.RefundStatusSucceeded:
		return providers.RefundSucceeded, "", true
	case stripego.RefundStatusFailed:
		if failureReason == "" {
			failureReason = string(stripego.RefundFailureReasonUnknown)
		}
		return providers.RefundFailed, failureReason, true
	case stripego.RefundStatusCanceled:
		if failureReason == "" {
			failureReason = "canceled"
		}
		return providers.RefundFailed, failureReason, true
	}
	return providers.RefundPending, "", false
}

// GetRefund returns refund ref ("re_…") as Stripe has it now, with
// GET /v1/refunds/{ref}: for the janitor that polls a pending refund whose
// webhook may have been lost. Statuses map as for Refund; a malformed ref
// is EINVALID without any call, an unknown one ENOTFOUND, and an
// unreachable or failing Stripe EUNAVAILABLE.
func (c *Client) GetRefund(ctx context.Context, ref string) (providers.Refund, error) {
	if rest, ok := strings.CutPrefix(ref, "re_"); !ok || rest == "" || !validID(ref) {
		if rest, ok := strings.CutPrefix(ref, "pyr_"); !ok || rest == "" || !validID(ref) {
			return providers.Refund{}, paygate.Errorf(paygate.EINVALID, "stripe: %q is not a Refund id (re_…)", paygate.Clip(ref, maxQuoted))
		}
	}
	params := &stripego.RefundParams{}
	params.Context = ctx
	r, err := c.api.Refunds.Get(ref, params)
	if err != nil {
		return providers.Refund{}, apiError("get refund "+ref, err)
	}
	return c.refund(ctx, r)
}
