package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// HeaderSignature is the header that carries a webhook's signature.
const HeaderSignature = "Stripe-Signature"

// MaxWebhookBody is the largest webhook body ParseWebhook reads, 256 KiB:
// Stripe's events are a few KiB. The webhook endpoint should refuse larger
// bodies before reading them (http.MaxBytesReader); this is the second line.
const MaxWebhookBody = 256 << 10

// ParseWebhook verifies a Stripe webhook and returns its one event.
//
// The Stripe-Signature header must hold one t= timestamp and a v1 HMAC of
// "t.body" under the webhook secret (any one of several v1 signatures may
// match: Stripe sends two while a secret is rolled), and the timestamp must
// lie within the tolerance of w.ReceivedAt (time.Now() when zero) on either
// side: stripe-go checks only the past, and against its own clock, so the
// window is checked here. Events of any API version are accepted (stripe-go
// would refuse all but 2023-10-16); a version other than that is logged.
//
// The event must be for this account in this key's mode: an event with a
// top-level "account" (a Connect event about a connected account; paygate
// is not a Connect platform) is refused, and so is one whose "livemode" is
// missing or differs from the secret key's mode (sk_live_/rk_live_ take
// only livemode true, sk_test_/rk_test_ only false). Each event's
// Verification names the scheme, the webhook secret (its prefix and last 4
// characters) and the signed timestamp.
//
// Events map to paygate's types: payment_intent.succeeded and
// charge.succeeded to EventPaymentSucceeded, payment_intent.processing to
// EventPaymentProcessing, payment_intent.payment_failed to
// EventPaymentFailed (EventPaymentExpired when the attempt expired),
// payment_intent.canceled to EventPaymentCanceled, charge.refunded to
// EventRefunded (Amount: everything refunded of the charge so far; no
// Event.Refund, since the charge does not say which refund it was),
// charge.dispute.created to EventDisputed, refund.created, refund.updated
// and charge.refund.updated by the refund's status (see refundEvent: a
// succeeded one is EventRefunded, a failed or canceled one
// EventRefundFailed, with Event.Refund from the refund's metadata), and
// every other type to EventOther. A body over MaxWebhookBody, a missing, malformed or
// non-matching signature, a timestamp outside the window, a body that is
// not an event, an event of another account or mode, or a payment or
// refund event whose object is malformed or in an unknown currency is an
// EINVALID error.
func (c *Client) ParseWebhook(ctx context.Context, w providers.Webhook) ([]providers.Event, error) {
	if c.webhookSecret == "" {
		return nil, paygate.Errorf(paygate.EINTERNAL, "stripe webhook: no webhook secret is configured")
	}
	if len(w.Body) > MaxWebhookBody {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: the body is %d bytes, over the %d-byte limit", len(w.Body), MaxWebhookBody)
	}
	headers := w.Header.Values(HeaderSignature)
	switch {
	case len(headers) == 0 || headers[0] == "":
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: missing %s header", HeaderSignature)
	case len(headers) > 1:
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: more than one %s header", HeaderSignature)
	}
	header := headers[0]
	signed, err := signedAt(header)
	if err != nil {
		return nil, err
	}

	e, err := webhook.ConstructEventWithOptions(w.Body, header, c.webhookSecret, webhook.ConstructEventOptions{
		IgnoreTolerance:          true, // checked below, against ReceivedAt, both ways
		IgnoreAPIVersionMismatch: true,
	})
	var parseErr error
	switch {
	case errors.Is(err, webhook.ErrNoValidSignature):
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: no signature matches the body and the webhook secret")
	case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader):
		return nil, &paygate.Error{Code: paygate.EINVALID, Message: "stripe webhook: malformed " + HeaderSignature + " header", Err: err}
	case errors.Is(err, webhook.ErrTooOld):
		// Not returned with IgnoreTolerance; here for a future stripe-go.
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: timestamp is too old")
	case err != nil:
		parseErr = err // the signature is good; report the body after the time window
	}

	now := w.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	if age := now.Sub(signed); age > c.tolerance {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: signed %s before it was received, more than the %s tolerance", age.Truncate(time.Second), c.tolerance)
	}
	if ahead := signed.Sub(now); ahead > c.tolerance {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: signed %s in the future of its receipt, more than the %s tolerance", ahead.Truncate(time.Second), c.tolerance)
	}
	if parseErr != nil {
		return nil, &paygate.Error{Code: paygate.EINVALID, Message: "stripe webhook: the body is not a JSON event", Err: parseErr}
	}

	ev, err := event(e)
	if err != nil {
		return nil, err
	}
	if err := c.checkAccount(e, w.Body); err != nil {
		return nil, err
	}
	ev.Verification = fmt.Sprintf("stripe-signature v1 hmac-sha256, secret %s, t=%d", c.secretHint, signed.Unix())
	l := c.logger(ctx)
	if e.APIVersion != stripego.APIVersion {
		l.Warn().
			Str(FieldEventID, ev.ID).
			Str(FieldEventType, ev.ProviderType).
			Str(FieldAPIVersion, e.APIVersion).
			Msg("stripe event of another API version than stripe-go's; set the webhook endpoint's version to " + stripego.APIVersion)
	}
	l.Debug().
		Str(FieldEventID, ev.ID).
		Str(FieldEventType, ev.ProviderType).
		Str(FieldPaymentRef, ev.PaymentRef).
		Msg("stripe webhook verified")
	return []providers.Event{ev}, nil
}

// checkAccount refuses a verified event that is not for this account in
// this key's mode: a Connect event about a connected account, or an event
// whose livemode is missing or is not the key's.
func (c *Client) checkAccount(e stripego.Event, body []byte) error {
	if e.Account != "" {
		return paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s is about connected account %q; paygate is not a Connect platform and takes only its own account's events", e.ID, paygate.Clip(e.Account, maxQuoted))
	}
	var mode struct {
		Livemode *bool `json:"livemode"`
	}
	if err := json.Unmarshal(body, &mode); err != nil || mode.Livemode == nil {
		return paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s has no livemode to check against the key's mode", e.ID)
	}
	if *mode.Livemode != c.livemode {
		return paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s is a %s event but the secret key is a %s key", e.ID, modeName(*mode.Livemode), modeName(c.livemode))
	}
	return nil
}

func modeName(live bool) string {
	if live {
		return "live-mode"
	}
	return "test-mode"
}

// signedAt reads a Stripe-Signature header ("t=1495999758,v1=ab…,v1=cd…")
// as stripe-go does, more strictly: exactly one integer t, at least one v1,
// every part key=value, no whitespace. It returns the signed time.
func signedAt(header string) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: malformed %s header: %s", HeaderSignature, why)
	}
	if strings.ContainsAny(header, " \t\r\n") {
		return bad("it contains whitespace (a space after a comma hides the signature)")
	}
	var (
		t          int64
		haveT      bool
		signatures int
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.Contains(v, "=") {
			return bad("a part is not key=value")
		}
		switch k {
		case "t":
			if haveT {
				return bad("more than one timestamp")
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return bad("the timestamp is not a number of seconds")
			}
			t, haveT = n, true
		case "v1":
			signatures++
		}
	}
	switch {
	case !haveT:
		return bad("no timestamp (t=)")
	case signatures == 0:
		return bad("no v1 signature")
	}
	return time.Unix(t, 0), nil
}

// event maps a verified Stripe event. It checks the envelope, then hands
// the event to the mapper of its family: PaymentIntent events, a charge's
// success, a charge's refund or dispute, a Refund's own events, and, for
// any other type, a best-effort lookup of the PaymentIntent it names.
func event(e stripego.Event) (providers.Event, error) {
	ev, err := eventEnvelope(e)
	if err != nil {
		return providers.Event{}, err
	}
	switch e.Type {
	case stripego.EventTypePaymentIntentSucceeded,
		stripego.EventTypePaymentIntentProcessing,
		stripego.EventTypePaymentIntentPaymentFailed,
		stripego.EventTypePaymentIntentCanceled:
		return intentEvent(ev, e)
	case stripego.EventTypeChargeSucceeded:
		return chargeSucceededEvent(ev, e)
	case stripego.EventTypeChargeRefunded, stripego.EventTypeChargeDisputeCreated:
		return chargeRefundOrDisputeEvent(ev, e)
	case stripego.EventTypeRefundCreated, stripego.EventTypeRefundUpdated, stripego.EventTypeChargeRefundUpdated:
		return refundEvent(ev, e)
	}
	return otherEvent(ev, e), nil
}

// eventEnvelope checks that e has an id, a type and data, and that its id
// is in Stripe's alphabet, and returns the Event every mapper starts from:
// EventOther with the id, Stripe's type and the time it occurred.
func eventEnvelope(e stripego.Event) (providers.Event, error) {
	if e.ID == "" || e.Type == "" || e.Data == nil {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: the event has no id, type or data")
	}
	if !validID(e.ID) {
		// Event ids become inbox keys: only Stripe's alphabet is taken.
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event id %q is not an id like evt_…", paygate.Clip(e.ID, maxQuoted))
	}
	ev := providers.Event{ID: e.ID, Type: providers.EventOther, ProviderType: string(e.Type)}
	if e.Created > 0 {
		ev.OccurredAt = time.Unix(e.Created, 0).UTC()
	}
	return ev, nil
}

// intentEvent maps payment_intent.succeeded, .processing, .payment_failed
// and .canceled. A failure whose last error is an expired attempt is
// EventPaymentExpired; a failure or cancellation carries its reason.
func intentEvent(ev providers.Event, e stripego.Event) (providers.Event, error) {
	pi, err := eventIntent(e)
	if err != nil {
		return providers.Event{}, err
	}
	if err := fillFromIntent(&ev, pi); err != nil {
		return providers.Event{}, err
	}
	switch e.Type {
	case stripego.EventTypePaymentIntentSucceeded:
		ev.Type = providers.EventPaymentSucceeded
	case stripego.EventTypePaymentIntentProcessing:
		ev.Type = providers.EventPaymentProcessing
	case stripego.EventTypePaymentIntentPaymentFailed:
		ev.Type = providers.EventPaymentFailed
		if le := pi.LastPaymentError; le != nil {
			if le.Code == stripego.ErrorCodePaymentIntentPaymentAttemptExpired {
				ev.Type = providers.EventPaymentExpired
			}
			ev.FailureReason = errorReason(le)
		}
	case stripego.EventTypePaymentIntentCanceled:
		ev.Type = providers.EventPaymentCanceled
		ev.FailureReason = string(pi.CancellationReason)
	}
	return ev, nil
}

// chargeSucceededEvent maps charge.succeeded to EventPaymentSucceeded of the
// charge's PaymentIntent, for the amount captured (or, when none is
// recorded, the charge's amount). A charge made without a PaymentIntent is
// none of paygate's and stays EventOther.
func chargeSucceededEvent(ev providers.Event, e stripego.Event) (providers.Event, error) {
	var ch stripego.Charge
	if err := json.Unmarshal(e.Data.Raw, &ch); err != nil || ch.Object != "charge" || ch.ID == "" {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s (%s) does not hold a charge", paygate.Clip(e.ID, maxQuoted), e.Type)
	}
	if ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
		return ev, nil
	}
	cur, err := currency(ch.Currency)
	if err != nil {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s: %s", paygate.Clip(e.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	amount := ch.AmountCaptured
	if amount == 0 {
		amount = ch.Amount
	}
	if amount < 0 {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s has a negative amount", paygate.Clip(e.ID, maxQuoted))
	}
	ev.Type = providers.EventPaymentSucceeded
	ev.PaymentRef = ch.PaymentIntent.ID
	ev.Amount = paygate.Money{Minor: amount, Currency: cur}
	// A charge carries its own metadata; an expanded payment_intent
	// carries the one paygate set.
	ev.PaymentOrder, ev.Attempt = metadata(ch.Metadata)
	if ev.PaymentOrder == "" && ev.Attempt == "" {
		ev.PaymentOrder, ev.Attempt = metadata(ch.PaymentIntent.Metadata)
	}
	return ev, nil
}

// chargeRefundOrDisputeEvent maps charge.refunded to EventRefunded for the
// charge's total refunded so far, and charge.dispute.created to
// EventDisputed for the dispute's amount. Either names its payment;
// paygate keeps it until that payment's success is known. An object that
// names no PaymentIntent is none of paygate's and stays EventOther.
func chargeRefundOrDisputeEvent(ev providers.Event, e stripego.Event) (providers.Event, error) {
	var obj struct {
		Object         string            `json:"object"`
		PaymentIntent  json.RawMessage   `json:"payment_intent"`
		Amount         int64             `json:"amount"`
		AmountRefunded int64             `json:"amount_refunded"`
		Currency       string            `json:"currency"`
		Metadata       map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(e.Data.Raw, &obj); err != nil {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s (%s) is malformed", paygate.Clip(e.ID, maxQuoted), e.Type)
	}
	pi := objectID(obj.PaymentIntent)
	if pi == "" {
		return ev, nil
	}
	cur, err := currency(stripego.Currency(obj.Currency))
	if err != nil {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s: %s", paygate.Clip(e.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	amount := obj.Amount
	ev.Type = providers.EventDisputed
	if e.Type == stripego.EventTypeChargeRefunded {
		amount, ev.Type, ev.RefundedTotal = obj.AmountRefunded, providers.EventRefunded, true
	}
	if amount < 0 {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s has a negative amount", paygate.Clip(e.ID, maxQuoted))
	}
	ev.PaymentRef, ev.Amount = pi, paygate.Money{Minor: amount, Currency: cur}
	ev.PaymentOrder, ev.Attempt = metadata(obj.Metadata)
	return ev, nil
}

// otherEvent maps any other event type to EventOther. One about a
// PaymentIntent still names it, best effort, so that it can be looked up;
// nothing about it is an error.
func otherEvent(ev providers.Event, e stripego.Event) providers.Event {
	var pi stripego.PaymentIntent
	if json.Unmarshal(e.Data.Raw, &pi) == nil && pi.Object == "payment_intent" && pi.ID != "" {
		other := ev
		if fillFromIntent(&other, &pi) == nil {
			ev = other
		} else {
			ev.PaymentRef = pi.ID
			ev.PaymentOrder, ev.Attempt = metadata(pi.Metadata)
		}
	}
	return ev
}

// refundEvent maps refund.created, refund.updated and charge.refund.updated,
// whose object is a Refund, by the refund's status: succeeded is
// EventRefunded, failed and canceled are EventRefundFailed (with the
// refund's failure_reason, or "canceled"), and pending or requires_action
// is EventOther, still naming the payment and the refund. Event.Refund is
// the refund's metadata refund (our refund id), Amount the refund's own
// amount. A refund of a charge without a PaymentIntent is none of
// paygate's: EventOther.
func refundEvent(ev providers.Event, e stripego.Event) (providers.Event, error) {
	var r struct {
		Object        string            `json:"object"`
		ID            string            `json:"id"`
		Amount        int64             `json:"amount"`
		Currency      string            `json:"currency"`
		Status        string            `json:"status"`
		FailureReason string            `json:"failure_reason"`
		PaymentIntent json.RawMessage   `json:"payment_intent"`
		Metadata      map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(e.Data.Raw, &r); err != nil || r.Object != "refund" || r.ID == "" {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s (%s) does not hold a refund", paygate.Clip(e.ID, maxQuoted), e.Type)
	}
	pi := objectID(r.PaymentIntent)
	if pi == "" {
		return ev, nil // not about a PaymentIntent of paygate's
	}
	cur, err := currency(stripego.Currency(r.Currency))
	if err != nil {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s: %s", paygate.Clip(e.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	if r.Amount < 0 {
		return providers.Event{}, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s has a negative amount", paygate.Clip(e.ID, maxQuoted))
	}
	ev.PaymentRef, ev.Amount = pi, paygate.Money{Minor: r.Amount, Currency: cur}
	ev.Refund = r.Metadata[MetadataRefund]
	status, reason, _ := refundStatus(stripego.RefundStatus(r.Status), r.FailureReason)
	switch status {
	case providers.RefundSucceeded:
		ev.Type = providers.EventRefunded
	case providers.RefundFailed:
		ev.Type, ev.FailureReason = providers.EventRefundFailed, reason
	}
	return ev, nil
}

// objectID reads a field that holds an object's id, or the object itself
// when expanded; "" when it holds neither.
func objectID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var expanded struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &expanded) == nil {
		return expanded.ID
	}
	return ""
}

// eventIntent decodes the PaymentIntent of a payment_intent.* event.
func eventIntent(e stripego.Event) (*stripego.PaymentIntent, error) {
	var pi stripego.PaymentIntent
	if err := json.Unmarshal(e.Data.Raw, &pi); err != nil || pi.Object != "payment_intent" || pi.ID == "" {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s (%s) does not hold a payment_intent", paygate.Clip(e.ID, maxQuoted), e.Type)
	}
	return &pi, nil
}

// fillFromIntent sets the event's payment reference, metadata and amount
// (amount_received once money arrived, else amount) from pi.
func fillFromIntent(ev *providers.Event, pi *stripego.PaymentIntent) error {
	cur, err := currency(pi.Currency)
	if err != nil {
		return paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s: %s", paygate.Clip(ev.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	amount := pi.AmountReceived
	if amount == 0 {
		amount = pi.Amount
	}
	if amount < 0 {
		return paygate.Errorf(paygate.EINVALID, "stripe webhook: event %s has a negative amount", paygate.Clip(ev.ID, maxQuoted))
	}
	ev.PaymentRef = pi.ID
	ev.PaymentOrder, ev.Attempt = metadata(pi.Metadata)
	ev.Amount = paygate.Money{Minor: amount, Currency: cur}
	return nil
}

func metadata(m map[string]string) (paymentOrder, attempt string) {
	return m[MetadataPaymentOrder], m[MetadataAttempt]
}

// validID reports whether s is a Stripe-style id: 1 to 255 ASCII letters,
// digits, "_" or "-".
func validID(s string) bool {
	return s != "" && len(s) <= maxRefLen && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}
