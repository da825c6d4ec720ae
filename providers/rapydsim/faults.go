package rapydsim

import (
	"context"
	"slices"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// Faults make webhook deliveries misbehave as Rapyd's may: duplicated, out
// of order, late or lost (simkit.Faults documents each field;
// stripesim.Faults is the same type). The zero Faults is a well-behaved
// Rapyd.
//
// They apply to each batch of webhooks as it is handed to delivery: the
// webhook of one Approve, Decline, Expire, create or cancel request (with
// any webhook Reorder held back). Duplicate's copies carry the same webhook
// id and body, each signed afresh with its own salt. Reorder holds back the
// PAYMENT_SUCCEEDED that a payment's creation sends until the payment's
// next webhook (Approve, Decline, Expire or a cancel), then sends both
// newest first: PAYMENT_COMPLETED before PAYMENT_SUCCEEDED, as a late
// creation webhook would arrive. Every other action sends a single
// webhook, so there is nothing else to reverse. A held webhook is released
// whatever the faults are by then; a payment that never gets another
// webhook keeps it (Redeliver sends it). A delayed batch is sent in the
// background, so Approve, Decline and Expire return before its webhooks
// arrive. Faults never change the simulator's state: a payment whose
// webhooks were dropped is still retrieved as it really is, which is how
// paygate's janitor (polling GetPayment) recovers it.
type Faults = simkit.Faults

// SetFaults replaces the faults applied to the batches of webhooks sent
// from now on; batches already handed to delivery (a delayed one, retries)
// keep the faults they had. Faults out of range are an EINVALID
// *paygate.Error and change nothing. SetFaults(Faults{}) restores normal
// delivery. It is safe to call concurrently with everything else.
func (s *Simulator) SetFaults(f Faults) error { return s.hooks.SetFaults(f) }

// Faults returns the faults in force, with Drop counting the webhooks still
// to be dropped.
func (s *Simulator) Faults() Faults { return s.hooks.Faults() }

// queue adds d, the webhook of a change of p at now, to p's history, for
// Redeliver, and returns the batch to send now. A webhook of a payment
// that is not final (creation's PAYMENT_SUCCEEDED) is held under
// Faults.Reorder and nothing is sent; the next webhook of the payment
// (final) releases it: d first, then the held ones, newest first. Caller
// holds s.mu.
func (s *Simulator) queue(p *payment, d *simkit.Webhook, final bool, now time.Time) []*simkit.Webhook {
	s.history[d.Ref] = append(s.history[d.Ref], d)
	s.retain.Changed(p.id, p.final(), []*simkit.Webhook{d}, now)
	if !final {
		if s.hooks.Faults().Reorder {
			s.held[d.Ref] = append(s.held[d.Ref], d)
			return nil
		}
		return []*simkit.Webhook{d}
	}
	batch := append(s.held[d.Ref], d)
	delete(s.held, d.Ref)
	slices.Reverse(batch)
	return batch
}

// Redeliver sends again every webhook that the payment ref has produced,
// dropped and held ones included, in the order they were produced: the
// same ids and bodies, each signed afresh, as Rapyd's Resend Webhook does
// (Rapyd would also mark a re-sent webhook's status RET; the simulator
// sends the bodies unchanged). It is the recovery for webhooks that were
// lost or never acknowledged; held webhooks are no longer held.
//
// Each webhook gets one attempt, made with ctx before Redeliver returns;
// Faults do not apply and nothing is retried. An unknown ref is an
// ENOTFOUND *paygate.Error; webhooks the endpoint did not acknowledge with a
// 2xx make an EUNAVAILABLE *paygate.Error that wraps each failure. With no
// WebhookURL, nothing is sent. It works after Close too.
func (s *Simulator) Redeliver(ctx context.Context, ref string) error {
	s.mu.Lock()
	if _, ok := s.payments[ref]; !ok {
		s.mu.Unlock()
		return paygate.Errorf(paygate.ENOTFOUND, "rapydsim: no payment %q", paygate.Clip(ref, 64))
	}
	webhooks := slices.Clone(s.history[ref])
	delete(s.held, ref)
	s.mu.Unlock()
	if err := s.hooks.Redeliver(ctx, webhooks); err != nil {
		return &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: "rapydsim: redeliver " + paygate.Clip(ref, 64) + ": the webhook endpoint did not acknowledge every webhook",
			Err:     err,
		}
	}
	return nil
}
