package rapyd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// The webhook types paygate acts on. PAYMENT_COMPLETED is the one that pays
// an order. PAYMENT_CANCELED's exact spelling is unverified, so the British
// spelling is read too.
const (
	typePaymentSucceeded = "PAYMENT_SUCCEEDED" // created or submitted: the buyer has not paid
	typePaymentCompleted = "PAYMENT_COMPLETED" // the money is collected: fulfil
	typePaymentFailed    = "PAYMENT_FAILED"
	typePaymentExpired   = "PAYMENT_EXPIRED"
	typePaymentCanceled  = "PAYMENT_CANCELED"
	typePaymentCancelled = "PAYMENT_CANCELLED"
	typeRefundCompleted  = "REFUND_COMPLETED"        // money went back to the payer
	typeRefundFailed     = "PAYMENT_REFUND_FAILED"   // the refund failed (its payment is not closed)
	typeRefundRejected   = "PAYMENT_REFUND_REJECTED" // the refund was rejected: status Rejected
)

// refundType reports whether a webhook type is about a refund, whose data
// is the refund (Rapyd's prefixes are inconsistent: REFUND_…, PAYMENT_REFUND_…).
func refundType(rapydType string) bool {
	return strings.HasPrefix(rapydType, "REFUND") || strings.HasPrefix(rapydType, "PAYMENT_REFUND")
}

// MaxWebhookBody is the largest webhook body ParseWebhook reads, 256 KiB:
// Rapyd's webhooks are a few KiB. The webhook endpoint should refuse larger
// bodies before reading them (http.MaxBytesReader); this is the second line.
const MaxWebhookBody = 256 << 10

// eventType maps a Rapyd webhook type to what it means to paygate.
//
// PAYMENT_SUCCEEDED is EventOther, not EventPaymentProcessing: Rapyd sends
// it when a redirect payment is created (status ACT), before the buyer has
// even seen the wallet, while EventPaymentProcessing means "the buyer paid,
// the provider is confirming". Stored, not acted on.
func eventType(rapydType string) providers.EventType {
	switch rapydType {
	case typePaymentCompleted:
		return providers.EventPaymentSucceeded
	case typePaymentFailed:
		return providers.EventPaymentFailed
	case typePaymentExpired:
		return providers.EventPaymentExpired
	case typePaymentCanceled, typePaymentCancelled:
		return providers.EventPaymentCanceled
	case typeRefundCompleted:
		return providers.EventRefunded
	case typeRefundFailed, typeRefundRejected:
		return providers.EventRefundFailed
	default:
		return providers.EventOther
	}
}

// ParseWebhook verifies a Rapyd webhook and returns its one event.
//
// The signature (headers salt, timestamp, signature) is checked, in
// constant time, against WebhookSignature over Config.WebhookURL (or, if
// that is empty, w.URL); the timestamp must be within Config.WebhookTolerance
// of w.ReceivedAt (or of now, if ReceivedAt is zero), in either direction.
//
// The event's ID is the webhook id (wh_…), to deduplicate on; PaymentRef is
// data.id; PaymentOrder and Attempt come from data.metadata (Attempt from
// data.merchant_reference_id if the metadata lacks it); Amount from
// data.amount in major units; OccurredAt from created_at; Verification names
// the scheme, the URL signed over, the access key (its prefix and last 4
// characters), the salt and the timestamp.
//
// A refund webhook's data is the refund: REFUND_COMPLETED is EventRefunded,
// PAYMENT_REFUND_FAILED and PAYMENT_REFUND_REJECTED are EventRefundFailed
// (FailureReason from data.failure_reason), and any other REFUND_… or
// PAYMENT_REFUND_… type (Rapyd's "refund updated", whose name is
// unverified) is EventOther. PaymentRef is then data.payment, Refund is our
// refund id from data.merchant_reference_id (or data.metadata.refund), and
// Amount the refund's data.amount in data.currency, zero if unreadable.
//
// Whose webhook it is rests on the signature alone: Rapyd's webhooks carry
// no documented account or environment field (no merchant id, no
// sandbox/production flag) to check, but the access and secret keys are per
// account and per environment (sandbox keys differ from production keys),
// and both enter the HMAC, so a webhook of another merchant, or of the
// sandbox when the client has production keys, does not verify.
//
// A PAYMENT_COMPLETED webhook is EventPaymentSucceeded only if its payment is
// CLO; it must carry the payment's id, amount and currency. Any failure —
// no body, a body over MaxWebhookBody, a missing header, a bad signature, a timestamp out of the window,
// malformed JSON, an amount the currency cannot hold (1500.5 KRW) — is an
// EINVALID *paygate.Error saying what is wrong.
func (c *Client) ParseWebhook(ctx context.Context, w providers.Webhook) ([]providers.Event, error) {
	if len(w.Body) == 0 {
		return nil, invalid("the webhook has no body")
	}
	if len(w.Body) > MaxWebhookBody {
		return nil, invalid("the webhook body is %d bytes, over the %d-byte limit", len(w.Body), MaxWebhookBody)
	}
	salt, tsText, sig := w.Header.Get("salt"), w.Header.Get("timestamp"), w.Header.Get("signature")
	for _, h := range [...]struct{ name, value string }{{"salt", salt}, {"timestamp", tsText}, {"signature", sig}} {
		if h.value == "" {
			return nil, invalid("the webhook has no %s header", h.name)
		}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return nil, invalid("the webhook's timestamp header %q is not Unix seconds", paygate.Clip(tsText, 64))
	}
	webhookURL := c.webhookURL
	if webhookURL == "" {
		webhookURL = w.URL
	}
	if webhookURL == "" {
		return nil, invalid("no webhook URL to verify the signature over (set Config.WebhookURL)")
	}
	want := WebhookSignature(webhookURL, salt, ts, c.accessKey, c.secretKey, w.Body)
	if !signatureEqual(want, sig) {
		return nil, invalid("the webhook's signature does not match (wrong keys, altered body, or another webhook URL than %s)", webhookURL)
	}
	received := w.ReceivedAt
	if received.IsZero() {
		received = c.now()
	}
	if skew := received.Sub(time.Unix(ts, 0)); skew > c.tolerance || skew < -c.tolerance {
		return nil, invalid("the webhook's timestamp %d is %s away from the time it was received; at most %s is allowed",
			ts, skew.Abs().Truncate(time.Second), c.tolerance)
	}

	var env webhook
	if err := json.Unmarshal(w.Body, &env); err != nil {
		return nil, &paygate.Error{Code: paygate.EINVALID, Message: "rapyd: the webhook body is not a Rapyd webhook", Err: err}
	}
	if env.ID == "" || env.Type == "" {
		return nil, invalid("the webhook has no id or no type")
	}
	ev := providers.Event{
		ID:           env.ID,
		Type:         eventType(env.Type),
		ProviderType: env.Type,
		OccurredAt:   occurredAt(env, ts),
		Verification: fmt.Sprintf("rapyd-signature hmac-sha256 over url+salt+timestamp+access_key+secret_key+body, url %s, access key %s, salt %q, timestamp %d",
			webhookURL, c.accessHint, paygate.Clip(salt, 64), ts),
	}
	if err := c.fillPayment(ctx, &ev, env); err != nil {
		return nil, err
	}
	return []providers.Event{ev}, nil
}

// fillPayment reads the payment of a webhook into ev. For the types paygate
// acts on, a data object that cannot be read is an error; for the others it
// is read as far as it can be, so that they are stored.
func (c *Client) fillPayment(ctx context.Context, ev *providers.Event, env webhook) error {
	acts := ev.Type != providers.EventOther
	var p payment
	if err := json.Unmarshal(env.Data, &p); err != nil || p.ID == "" {
		if acts {
			return invalid("webhook %s (%s) has no payment in data", paygate.Clip(env.ID, 64), paygate.Clip(env.Type, 64))
		}
		return nil
	}
	ev.PaymentRef = p.ID
	md := decodeMetadata(p.Metadata)
	ev.PaymentOrder = md.PaymentOrder
	if refundType(env.Type) {
		// A refund's data is the refund; its payment is data.payment, and
		// its merchant_reference_id (and metadata) our refund id.
		var ref string
		if json.Unmarshal(p.Payment, &ref) == nil && ref != "" {
			ev.PaymentRef = ref
		}
		ev.Refund = firstOf(p.MerchantReferenceID, decodeRefundMetadata(p.Metadata))
		ev.Attempt = md.Attempt
		ev.FailureReason = firstOf(p.FailureReason, p.FailureMessage, p.FailureCode)
		if ev.Type == providers.EventRefundFailed && ev.FailureReason == "" {
			ev.FailureReason = strings.ToLower(strings.TrimPrefix(env.Type, "PAYMENT_")) + " at Rapyd"
		}
	} else {
		ev.Attempt = firstOf(md.Attempt, p.MerchantReferenceID)
		ev.FailureReason = firstOf(p.FailureMessage, p.FailureCode, p.CancelReason)
	}

	cur := p.CurrencyCode
	if cur == "" {
		cur = p.Currency
	}
	amount, err := parseAmount(p.Amount, cur)
	if err != nil && (!acts || ev.Type == providers.EventRefunded || ev.Type == providers.EventRefundFailed) {
		// A refund or another object may spell its currency otherwise:
		// its amount is not paygate's to act on.
		amount, err = paygate.Money{}, nil
	}
	if err != nil {
		return &paygate.Error{
			Code:    paygate.EINVALID,
			Message: "rapyd: webhook " + paygate.Clip(env.ID, 64) + " has an unusable data.amount: " + paygate.ErrorMessage(err),
			Err:     err,
		}
	}
	ev.Amount = amount

	if ev.Type == providers.EventPaymentSucceeded {
		if amount.Currency == "" {
			return invalid("webhook %s (%s) has no amount", paygate.Clip(env.ID, 64), env.Type)
		}
		if p.Status != statusClosed {
			// Money is collected only in CLO; another status here
			// contradicts the type, so nothing is paid on it.
			c.log(ctx).Warn().
				Str(fieldWebhookID, env.ID).
				Str(fieldWebhookType, env.Type).
				Str(fieldPaymentRef, p.ID).
				Str(fieldRapydStatus, p.Status).
				Msg("rapyd: PAYMENT_COMPLETED for a payment that is not CLO; not acting on it")
			ev.Type = providers.EventOther
		}
	}
	return nil
}

// occurredAt is the webhook's created_at (Unix seconds), else its
// extended_timestamp (milliseconds), else its signed timestamp.
func occurredAt(env webhook, ts int64) time.Time {
	if s, err := env.CreatedAt.Int64(); err == nil && s > 0 {
		return time.Unix(s, 0).UTC()
	}
	if ms, err := env.ExtendedTimestamp.Int64(); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Unix(ts, 0).UTC()
}

// invalid returns an EINVALID error with a message prefixed "rapyd: ".
func invalid(format string, args ...any) *paygate.Error {
	return paygate.Errorf(paygate.EINVALID, "rapyd: "+format, args...)
}
