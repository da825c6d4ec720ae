package stripesim

import (
	"context"
	"slices"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// Faults make the deliveries of events misbehave as Stripe's may:
// duplicated, out of order, late or lost (simkit.Faults documents each
// field; rapydsim.Faults is the same type). The zero Faults is a
// well-behaved Stripe.
//
// They apply to each batch of events as it is handed to delivery: the
// events of one Approve, Decline or Expire, or of one cancel or refund
// request.
// Duplicate's copies carry the same event id and body, each signed afresh,
// as Stripe's at-least-once delivery may send them. Reorder sends the
// events of one batch newest first: Approve's charge.succeeded before its
// payment_intent.succeeded, a refund's refund.updated before its
// charge.refunded; a batch of one event is sent as is. A delayed
// batch is sent in the background, so Approve, Decline and Expire return
// before its events arrive. Faults never change the simulator's state: a
// payment intent whose events were dropped is still retrieved as it really
// is, which is how paygate's janitor (polling GetPayment) recovers it.
type Faults = simkit.Faults

// SetFaults replaces the faults applied to the batches of events sent from
// now on; batches already handed to delivery (a delayed one, retries) keep
// the faults they had. Faults out of range are an EINVALID *paygate.Error
// and change nothing. SetFaults(Faults{}) restores normal delivery. It is
// safe to call concurrently with everything else.
func (s *Simulator) SetFaults(f Faults) error { return s.hooks.SetFaults(f) }

// Faults returns the faults in force, with Drop counting the events still
// to be dropped.
func (s *Simulator) Faults() Faults { return s.hooks.Faults() }

// record adds the events of one action on payment intent pi, at now, to
// its history, for Redeliver, and returns them in sending order: newest
// first under Faults.Reorder. Caller holds s.mu.
func (s *Simulator) record(pi *intent, events []*simkit.Webhook, now time.Time) []*simkit.Webhook {
	s.history[pi.ID] = append(s.history[pi.ID], events...)
	s.changed(pi, events, now)
	batch := slices.Clone(events)
	if s.hooks.Faults().Reorder {
		slices.Reverse(batch)
	}
	return batch
}

// Redeliver sends again every event that the payment intent ref has
// produced, dropped ones included, in the order they were produced: the
// same ids and bodies, each signed afresh, as the "Resend" of Stripe's
// dashboard does. It is the recovery for webhooks that were lost or never
// acknowledged.
//
// Each event gets one attempt, made with ctx before Redeliver returns;
// Faults do not apply and nothing is retried. An unknown ref is an
// ENOTFOUND *paygate.Error; events the endpoint did not acknowledge with a
// 2xx make an EUNAVAILABLE *paygate.Error that wraps each failure. With no
// WebhookURL, nothing is sent. It works after Close too.
func (s *Simulator) Redeliver(ctx context.Context, ref string) error {
	s.mu.Lock()
	if s.intents[ref] == nil {
		s.mu.Unlock()
		return &paygate.Error{Code: paygate.ENOTFOUND, Message: "stripesim: no such payment intent: " + ref}
	}
	events := slices.Clone(s.history[ref])
	s.mu.Unlock()
	if err := s.hooks.Redeliver(ctx, events); err != nil {
		return &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: "stripesim: redeliver " + ref + ": the webhook endpoint did not acknowledge every event",
			Err:     err,
		}
	}
	return nil
}
