package rapyd

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// findLimit is how many payments FindPayment asks for: Rapyd's largest
// page. An attempt has one payment (CreatePayment sends its idempotency
// key); more are kept only to be reported.
const findLimit = 100

// FindPayment returns the payment Rapyd holds for req's attempt, after a
// CreatePayment whose answer was lost: List Payments filtered by
// merchant_reference_id (GET /v1/payments?merchant_reference_id=…), which
// CreatePayment sets to req.Attempt, keeping only payments of that
// reference whose metadata, if it names an attempt, names req.Attempt.
//
// It returns an ENOTFOUND error when Rapyd lists none. That is certain
// only of payments Rapyd had created when it answered: a create still in
// flight (sent, not yet processed) is not listed, so the caller should
// ask after its create's timeout has passed. Any failure to ask — Rapyd
// unreachable, failing, refusing the query or answering something
// unreadable — is an EUNAVAILABLE error: Rapyd could not tell. An attempt
// that is empty or longer than 45 characters, which CreatePayment never
// sends, is EINVALID.
//
// Should Rapyd list several payments for the attempt, it returns one that
// is still payable (pending) or paid, else the newest, and logs the
// others.
func (c *Client) FindPayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	if req.Attempt == "" || len(req.Attempt) > maxReferenceLen {
		return providers.Payment{}, paygate.Errorf(paygate.EINVALID,
			"rapyd: the attempt id %q must have 1 to %d characters", paygate.Clip(req.Attempt, 64), maxReferenceLen)
	}
	q := url.Values{}
	q.Set("merchant_reference_id", req.Attempt)
	q.Set("limit", strconv.Itoa(findLimit))
	data, err := c.call(ctx, http.MethodGet, "/v1/payments?"+q.Encode(), nil, "")
	if err != nil {
		return providers.Payment{}, cannotTell(req.Attempt, err)
	}
	var raws []payment
	if err := json.Unmarshal(data, &raws); err != nil {
		return providers.Payment{}, cannotTell(req.Attempt, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable list of payments", Err: err})
	}
	var found []providers.Payment
	for _, raw := range raws {
		if raw.MerchantReferenceID != req.Attempt {
			continue // Rapyd filtered loosely; not this attempt's
		}
		if md := decodeMetadata(raw.Metadata); md.Attempt != "" && md.Attempt != req.Attempt {
			continue
		}
		p, err := toPayment(raw)
		if err != nil {
			return providers.Payment{}, cannotTell(req.Attempt, err)
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		return providers.Payment{}, paygate.Errorf(paygate.ENOTFOUND, "rapyd: no payment of attempt %s", paygate.Clip(req.Attempt, 64))
	}
	best := found[0] // Rapyd lists the newest first
	for _, p := range found {
		if p.Status == providers.StatusPending || p.Status == providers.StatusProcessing || p.Status == providers.StatusSucceeded {
			best = p
			break
		}
	}
	if len(found) > 1 {
		for _, p := range found {
			if p.Ref != best.Ref {
				c.log(ctx).Warn().Str(fieldPaymentRef, p.Ref).Str(fieldAttempt, req.Attempt).
					Msg("rapyd: another payment of the same attempt")
			}
		}
	}
	return best, nil
}

// cannotTell is FindPayment's error when Rapyd could not say: always
// EUNAVAILABLE, wrapping the cause.
func cannotTell(attempt string, err error) error {
	var pe *paygate.Error
	msg := "rapyd: cannot tell whether attempt " + paygate.Clip(attempt, 64) + " has a payment"
	if errors.As(err, &pe) && pe.Code == paygate.EUNAVAILABLE {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: msg, Err: err}
	}
	return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: msg + ": " + paygate.ErrorMessage(err), Err: err}
}
