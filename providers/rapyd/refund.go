package rapyd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// maxRefundReferenceLen is the longest merchant_reference_id Rapyd takes
// on a refund (a payment's is 45).
const maxRefundReferenceLen = 255

// maxRefundReason bounds the reason sent to Rapyd, a limit of paygate's:
// Rapyd's own is not documented where we looked.
const maxRefundReason = 255

// Refund refunds req.Amount of payment req.PaymentRef to the payer's
// wallet with POST /v1/refunds: {payment, amount in major units, reason,
// merchant_reference_id = req.Refund, metadata {refund: req.Refund}},
// signed like every request, with req.IdempotencyKey as the idempotency
// header.
//
// Rapyd's default configuration checks the idempotency header on Create
// Payment only, so the header alone does not make a retried refund safe.
// Refund therefore retrieves the payment first (GET /v1/payments/{ref}) and,
// if the payment's refunds list one whose merchant_reference_id is
// req.Refund, returns that refund without creating another: a retry after a
// timeout refunds nothing twice, as long as the payment lists the refund.
// Rapyd's payment object carries its refunds as a list object (refunds.data,
// has_more); how many it includes is unverified, and a refund it leaves out
// is not seen, which leaves the idempotency header as the only guard.
//
// The payment it retrieves also decides, before any refund is created: a
// payment of a method this client does not refund (Config.Refundable, else
// the is_refundable of its type in Rapyd's list, which Refund may fetch)
// is an EINVALID error wrapping providers.ErrUnsupported; a payment that is
// not paid (CLO) is ECONFLICT, since Rapyd refunds only closed payments; an
// amount of another currency, or over the amount not yet refunded
// (refunded_amount), is EINVALID. A malformed request is EINVALID without
// any call; Rapyd's errors are mapped as for the other calls.
//
// The refund's status maps Pending to pending, Completed to succeeded, and
// Rejected, Error and Canceled to failed; an unknown status is pending, and
// logged. A refund answered for another payment or refund id (an
// idempotency key used twice) is ECONFLICT.
//
// The steps: retrieve the payment, check that its method is refunded,
// return a refund already made for req.Refund, check the payment's state
// and what is left of it, then create the refund.
func (c *Client) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	if err := checkRefundRequest(req); err != nil {
		return providers.Refund{}, err
	}
	ref := req.PaymentRef
	raw, p, prior, err := c.refundedPayment(ctx, ref)
	if err != nil {
		return providers.Refund{}, err
	}
	if err := c.checkMethodRefunded(ctx, ref, raw, p); err != nil {
		return providers.Refund{}, err
	}
	if out, ok, err := c.priorRefund(ctx, req, prior); err != nil || ok {
		return out, err
	}
	if err := checkRefundRoom(req, raw, p, prior); err != nil {
		return providers.Refund{}, err
	}
	return c.postRefund(ctx, req)
}

// refundedPayment retrieves payment ref as Rapyd sent it and as a
// providers.Payment, with the refunds it lists. Refunds that cannot be read
// are logged and left out: they are read to find a retry's refund, and
// without them the idempotency header is the only guard.
func (c *Client) refundedPayment(ctx context.Context, ref string) (payment, providers.Payment, paymentRefunds, error) {
	data, err := c.call(ctx, http.MethodGet, "/v1/payments/"+ref, nil, "")
	if err != nil {
		return payment{}, providers.Payment{}, paymentRefunds{}, fmt.Errorf("refund payment %s: %w", ref, err)
	}
	var raw payment
	if err := json.Unmarshal(data, &raw); err != nil {
		return payment{}, providers.Payment{}, paymentRefunds{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable payment in the response", Err: err}
	}
	p, err := toPayment(raw)
	if err != nil {
		return payment{}, providers.Payment{}, paymentRefunds{}, err
	}
	var prior paymentRefunds
	if err := json.Unmarshal(data, &prior); err != nil {
		c.log(ctx).Warn().Err(err).Str(fieldPaymentRef, ref).Msg("rapyd: the payment's refunds are unreadable")
	}
	return raw, p, prior, nil
}

// checkMethodRefunded refuses, with an EINVALID error wrapping
// providers.ErrUnsupported, a payment ref of a method this client does not
// refund (Config.Refundable, else Rapyd's is_refundable of its type).
func (c *Client) checkMethodRefunded(ctx context.Context, ref string, raw payment, p providers.Payment) error {
	m, known, err := c.methodOfType(ctx, raw.PaymentMethodType, p.Amount.Currency)
	if err != nil {
		return fmt.Errorf("refund payment %s: %w", ref, err)
	}
	refundable := true
	if known {
		if refundable, err = c.refundableMethod(ctx, m); err != nil {
			return fmt.Errorf("refund payment %s: %w", ref, err)
		}
	}
	if !refundable {
		mi, _ := providers.Lookup(m)
		return &paygate.Error{
			Code:    paygate.EINVALID,
			Message: fmt.Sprintf("rapyd: refund payment %s: %s payments are not refunded through Rapyd (Rapyd's is_refundable, or rapyd.Config.Refundable); refund the payer another way", ref, mi.Label),
			Err:     providers.ErrUnsupported,
		}
	}
	return nil
}

// priorRefund returns the refund of the payment's refunds prior made for
// req.Refund, and whether there is one. One of another amount than req's is
// ECONFLICT: the refund id was used for another refund.
func (c *Client) priorRefund(ctx context.Context, req providers.RefundRequest, prior paymentRefunds) (providers.Refund, bool, error) {
	if prior.Refunds == nil {
		return providers.Refund{}, false, nil
	}
	for _, r := range prior.Refunds.Data {
		if r.MerchantReferenceID != req.Refund {
			continue
		}
		out, err := c.refundResult(ctx, r)
		if err != nil {
			return providers.Refund{}, false, err
		}
		if out.Amount != req.Amount {
			return providers.Refund{}, false, paygate.Errorf(paygate.ECONFLICT,
				"rapyd: refund payment %s: refund id %q was already used for refund %s of %s, not %s", req.PaymentRef, paygate.Clip(req.Refund, 64), out.Ref, out.Amount, req.Amount)
		}
		c.log(ctx).Debug().Str(fieldPaymentRef, req.PaymentRef).Str(fieldRefund, req.Refund).Str(fieldRefundRef, out.Ref).
			Msg("rapyd: refund already made; not made again")
		return out, true, nil
	}
	return providers.Refund{}, false, nil
}

// checkRefundRoom checks that the payment is paid (ECONFLICT otherwise:
// Rapyd refunds only closed payments), and that req's amount is in its
// currency and at most what is not yet refunded of it (EINVALID otherwise).
func checkRefundRoom(req providers.RefundRequest, raw payment, p providers.Payment, prior paymentRefunds) error {
	ref := req.PaymentRef
	if p.Status != providers.StatusSucceeded {
		return paygate.Errorf(paygate.ECONFLICT,
			"rapyd: refund payment %s: it is not paid (status %s); Rapyd refunds only closed (CLO) payments", ref, paygate.Clip(raw.Status, 64))
	}
	if req.Amount.Currency != p.Amount.Currency {
		return paygate.Errorf(paygate.EINVALID, "rapyd: refund payment %s: the payment is in %s, not %s", ref, p.Amount.Currency, req.Amount.Currency)
	}
	refunded, err := parseAmount(prior.RefundedAmount, string(p.Amount.Currency))
	if err != nil || refunded.Currency == "" {
		refunded = paygate.Money{Currency: p.Amount.Currency}
	}
	if left := p.Amount.Minor - refunded.Minor; req.Amount.Minor > left {
		return paygate.Errorf(paygate.EINVALID, "rapyd: refund payment %s: %s is more than the %s not yet refunded",
			ref, req.Amount, paygate.Money{Minor: max(left, 0), Currency: p.Amount.Currency})
	}
	return nil
}

// postRefund creates the refund req (POST /v1/refunds). A refund answered
// for another payment or refund id (an idempotency key used twice) is
// ECONFLICT.
func (c *Client) postRefund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	ref := req.PaymentRef
	body := createRefund{
		Payment:             ref,
		Amount:              majorUnits(req.Amount),
		Reason:              paygate.Cut(strings.TrimSpace(req.Reason), maxRefundReason),
		MerchantReferenceID: req.Refund,
		Metadata:            refundMetadata{Refund: req.Refund},
	}
	data, err := c.call(ctx, http.MethodPost, "/v1/refunds", body, req.IdempotencyKey)
	if err != nil {
		return providers.Refund{}, fmt.Errorf("refund payment %s: %w", ref, err)
	}
	var r refund
	if err := json.Unmarshal(data, &r); err != nil {
		return providers.Refund{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable refund in the response", Err: err}
	}
	out, err := c.refundResult(ctx, r)
	if err != nil {
		return providers.Refund{}, err
	}
	if (r.Payment != "" && r.Payment != ref) || (r.MerchantReferenceID != "" && r.MerchantReferenceID != req.Refund) {
		return providers.Refund{}, paygate.Errorf(paygate.ECONFLICT,
			"rapyd: refund %s is of payment %s for refund id %q, not %s for %q: the idempotency key %q was used for another refund",
			out.Ref, paygate.Clip(r.Payment, 64), paygate.Clip(r.MerchantReferenceID, 64), ref, paygate.Clip(req.Refund, 64), paygate.Clip(req.IdempotencyKey, 64))
	}
	c.log(ctx).Debug().Str(fieldPaymentRef, ref).Str(fieldRefund, req.Refund).Str(fieldRefundRef, out.Ref).
		Str(fieldRapydStatus, r.Status).Msg("rapyd: refund created")
	return out, nil
}

// checkRefundRequest refuses a request that cannot be sent.
func checkRefundRequest(req providers.RefundRequest) error {
	if err := checkRef(req.PaymentRef); err != nil {
		return err
	}
	if !req.Amount.Currency.Valid() {
		return paygate.Errorf(paygate.EINVALID, "rapyd: refund currency %q is not one paygate knows", req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return paygate.Errorf(paygate.EINVALID, "rapyd: the refund amount %s is not positive", req.Amount)
	}
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return paygate.Errorf(paygate.EINVALID, "rapyd: a refund needs an idempotency key")
	}
	if req.Refund == "" || len(req.Refund) > maxRefundReferenceLen {
		return paygate.Errorf(paygate.EINVALID, "rapyd: the refund id %q must have 1 to %d characters", paygate.Clip(req.Refund, 64), maxRefundReferenceLen)
	}
	return nil
}

// refundResult maps a refund and logs a status it does not know.
func (c *Client) refundResult(ctx context.Context, r refund) (providers.Refund, error) {
	out, known, err := toRefund(r)
	if err != nil {
		return providers.Refund{}, err
	}
	if !known {
		c.log(ctx).Warn().Str(fieldRefundRef, r.ID).Str(fieldRapydStatus, r.Status).Msg("rapyd: unknown refund status taken as pending")
	}
	return out, nil
}

// GetRefund returns refund ref as Rapyd has it now, with
// GET /v1/refunds/{ref}: for the janitor that polls a pending refund whose
// webhook may have been lost. Statuses map as for Refund; a malformed ref
// is EINVALID without any call, and Rapyd's errors are mapped as for the
// other calls (an unknown refund is ENOTFOUND).
func (c *Client) GetRefund(ctx context.Context, ref string) (providers.Refund, error) {
	if err := checkRef(ref); err != nil {
		return providers.Refund{}, paygate.Errorf(paygate.EINVALID, "rapyd: invalid refund id %q", paygate.Clip(ref, 64))
	}
	data, err := c.call(ctx, http.MethodGet, "/v1/refunds/"+ref, nil, "")
	if err != nil {
		return providers.Refund{}, fmt.Errorf("get refund %s: %w", ref, err)
	}
	var r refund
	if err := json.Unmarshal(data, &r); err != nil {
		return providers.Refund{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable refund in the response", Err: err}
	}
	return c.refundResult(ctx, r)
}
