package stripe

import (
	"context"
	"errors"
	"strings"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

var _ providers.Finder = (*Client)(nil)

// FindPayment returns the PaymentIntent of req's attempt after a create
// whose answer was lost (a timeout, a 5xx, a broken connection), in two
// steps:
//
//  1. It searches for the attempt's PaymentIntent by its metadata
//     (GET /v1/payment_intents/search?query=metadata['attempt']:'…').
//     A hit is certain. A miss is not: Stripe's search is eventually
//     consistent, and a PaymentIntent may take up to a minute to be found
//     (docs.stripe.com/search, "data freshness").
//  2. On a miss, it replays the create, CreatePayment's exact request with
//     req.IdempotencyKey. If the first create reached Stripe, Stripe
//     answers with its saved result, the same PaymentIntent; if it never
//     did, the replay creates it now. Either way the attempt has exactly
//     one PaymentIntent, which FindPayment returns. The replay is the
//     authority that the search is not; the search comes first because
//     Stripe may prune a key after 24 hours (docs.stripe.com/idempotency),
//     and a replay under a pruned key would create a second PaymentIntent:
//     by then, search has long indexed the first one.
//
// A Boleto request without a payer (the janitor's look-up of a lost
// attempt: paygate keeps no payer data) is replayed without the payer's
// details. Stripe refuses such a boleto, which answers all the same: a key
// that made a payment was used with other parameters (an
// idempotency_error: cannot tell now, and the search finds it once
// indexed); a key that made none gets a refusal that makes nothing
// (ENOTFOUND).
//
// Errors: a replay refused as an idempotency_error (the key was used with
// other parameters) is EUNAVAILABLE: it cannot tell. A replay Stripe
// refuses with another 4xx (its saved answer to the first
// create: invalid parameters, a method not activated) means Stripe created
// no PaymentIntent for the key, and is ENOTFOUND wrapping that answer;
// a request that fails validation here before any call (what CreatePayment
// would refuse) is EINVALID. A replay answered 409 (the first create is
// still in flight at Stripe), 429 or 5xx, or that cannot reach Stripe, is
// EUNAVAILABLE: FindPayment cannot tell, and the caller must neither fail
// over nor give up; it asks again later.
func (c *Client) FindPayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	params, err := c.buildParams(req, false)
	if err != nil {
		return providers.Payment{}, err
	}
	if pi, err := c.searchAttempt(ctx, req.Attempt); err != nil {
		return providers.Payment{}, err
	} else if pi != nil {
		return c.payment(ctx, pi)
	}
	params.Context = ctx
	pi, err := c.createIntent(params)
	if err != nil {
		var se *stripego.Error
		if errors.As(err, &se) && se.PaymentIntent != nil && se.PaymentIntent.ID != "" {
			// The create made a PaymentIntent whose confirmation failed:
			// it exists, failed.
			return c.payment(ctx, se.PaymentIntent)
		}
		perr := apiError("find payment of attempt "+req.Attempt, err)
		if errors.As(err, &se) && se.Type == stripego.ErrorTypeIdempotency {
			// The key was used with other parameters: whatever it made
			// is not this request's, and cannot be told from here.
			return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE,
				Message: "stripe: find payment of attempt " + req.Attempt + ": its idempotency key was used with other parameters; cannot tell whether it has a payment", Err: perr}
		}
		switch paygate.ErrorCode(perr) {
		case paygate.EINVALID, paygate.ECONFLICT, paygate.ENOTFOUND:
			return providers.Payment{}, &paygate.Error{Code: paygate.ENOTFOUND,
				Message: "stripe: no payment of attempt " + req.Attempt + ": Stripe refused its create (" + paygate.ErrorMessage(perr) + ")", Err: perr}
		case paygate.EUNAVAILABLE:
			if providers.IsMethodUnavailable(perr) { // a saved refusal, not an outage
				return providers.Payment{}, &paygate.Error{Code: paygate.ENOTFOUND,
					Message: "stripe: no payment of attempt " + req.Attempt + ": Stripe refused its create (" + paygate.ErrorMessage(perr) + ")", Err: perr}
			}
		}
		return providers.Payment{}, perr
	}
	l := c.logger(ctx)
	l.Info().
		Str(FieldPaymentOrder, req.PaymentOrder).
		Str(FieldAttempt, req.Attempt).
		Str(FieldPaymentRef, pi.ID).
		Bool(FieldReplayed, pi.LastResponse != nil && pi.LastResponse.Header.Get("Idempotent-Replayed") == "true").
		Msg("stripe payment found by replaying its create")
	return c.payment(ctx, pi)
}

// searchAttempt returns the attempt's newest PaymentIntent found by
// Stripe's search, or nil. An attempt id that cannot be quoted safely in a
// search query is not searched (nil).
func (c *Client) searchAttempt(ctx context.Context, attempt string) (*stripego.PaymentIntent, error) {
	if !searchable(attempt) {
		return nil, nil
	}
	params := &stripego.PaymentIntentSearchParams{}
	params.Context = ctx
	params.Query = "metadata['" + MetadataAttempt + "']:'" + attempt + "'"
	params.Single = true
	params.Limit = stripego.Int64(10)
	it := c.api.PaymentIntents.Search(params)
	var found *stripego.PaymentIntent
	for it.Next() {
		pi := it.PaymentIntent()
		// The search matches what Stripe indexed; check it ourselves.
		if pi == nil || pi.Metadata[MetadataAttempt] != attempt {
			continue
		}
		if found == nil || pi.Created > found.Created {
			found = pi
		}
	}
	if err := it.Err(); err != nil {
		return nil, apiError("search payment of attempt "+attempt, err)
	}
	return found, nil
}

// searchable reports whether s can be put between single quotes in a
// Stripe search query as it is: letters, digits, "_", "-", ":" and ".".
func searchable(s string) bool {
	return s != "" && len(s) <= 200 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-:.", r))
	})
}
