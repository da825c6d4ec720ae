package rapydsim

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/paygate/paygate"
)

// Faults make webhook deliveries misbehave the way real providers' do, so
// that tests and load tools can check that paygate copes: duplicates, events
// out of order, late events and lost events. The zero Faults is a
// well-behaved Rapyd. stripesim.Faults has the same fields, so one converts
// to the other: stripesim.Faults(f).
//
// Faults apply to each batch of webhooks as it is handed to delivery: the
// webhook of one Approve, Decline, Expire, create or cancel request (with
// any webhook Reorder held back). They change only what is sent, never the
// simulator's state: a payment whose webhooks were dropped is still
// retrieved as it really is, which is how paygate's janitor (polling
// GetPayment) recovers it.
type Faults struct {
	// Duplicate sends each webhook this many extra times: the same webhook
	// id and body, each copy signed afresh (its own salt) and posted
	// concurrently with the first. Each copy is retried on failure like
	// any delivery. 0 to 100.
	Duplicate int
	// Reorder holds back the PAYMENT_SUCCEEDED that a payment's creation
	// sends until the payment's next webhook (Approve, Decline, Expire or a
	// cancel), then sends both newest first: PAYMENT_COMPLETED before
	// PAYMENT_SUCCEEDED, as a late creation webhook would arrive. Every
	// other action sends a single webhook, so there is nothing else to
	// reverse. A held webhook is released whatever the faults are by then;
	// a payment that never gets another webhook keeps it (Redeliver sends
	// it).
	Reorder bool
	// Delay waits this long before each webhook of a batch is sent. A
	// delayed batch is sent in the background, so Approve, Decline and
	// Expire return before their webhooks arrive (late webhooks, after the
	// buyer is back); Close abandons what is still waiting.
	Delay time.Duration
	// Drop loses the next Drop webhooks entirely: neither they nor their
	// duplicates are posted, and they are never retried. It counts down as
	// webhooks are dropped (see Simulator.Faults).
	Drop int
	// DropRate loses each webhook that Drop spares with this probability,
	// from 0 to 1, drawn from a generator seeded with Config.Seed: the same
	// seed and the same sequence of webhooks drop the same webhooks.
	DropRate float64
}

// maxDuplicate bounds Faults.Duplicate: every copy is a concurrent request.
const maxDuplicate = 100

// check returns an EINVALID *paygate.Error for faults out of range.
func (f Faults) check() error {
	switch {
	case f.Duplicate < 0 || f.Duplicate > maxDuplicate:
		return paygate.Errorf(paygate.EINVALID, "rapydsim: Faults.Duplicate %d is outside 0..%d", f.Duplicate, maxDuplicate)
	case f.Delay < 0:
		return paygate.Errorf(paygate.EINVALID, "rapydsim: Faults.Delay %s is negative", f.Delay)
	case f.Drop < 0:
		return paygate.Errorf(paygate.EINVALID, "rapydsim: Faults.Drop %d is negative", f.Drop)
	case !(f.DropRate >= 0 && f.DropRate <= 1): // NaN too
		return paygate.Errorf(paygate.EINVALID, "rapydsim: Faults.DropRate %v is outside 0..1", f.DropRate)
	}
	return nil
}

// faultState is the faults in force and the generator of DropRate.
type faultState struct {
	mu  sync.Mutex
	cur Faults
	rng *rand.Rand
}

func newFaultState(seed uint64) *faultState {
	return &faultState{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetFaults replaces the faults applied to the batches of webhooks sent
// from now on; batches already handed to delivery (a delayed one, retries)
// keep the faults they had. Faults out of range are an EINVALID
// *paygate.Error and change nothing. SetFaults(Faults{}) restores normal
// delivery. It is safe to call concurrently with everything else.
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	s.faults.cur = f
	s.faults.mu.Unlock()
	return nil
}

// Faults returns the faults in force, with Drop counting the webhooks still
// to be dropped.
func (s *Simulator) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.cur
}

// plan is how one batch is sent: its surviving webhooks in sending order,
// how many copies of each, and the wait before each.
type plan struct {
	deliveries []delivery
	copies     int
	delay      time.Duration
}

// plan applies the faults in force to a batch, in sending order.
func (s *Simulator) plan(batch []delivery) plan {
	fs := s.faults
	fs.mu.Lock()
	p := plan{copies: 1 + fs.cur.Duplicate, delay: fs.cur.Delay}
	var dropped []delivery
	for _, d := range batch {
		drop := false
		switch {
		case fs.cur.Drop > 0:
			fs.cur.Drop--
			drop = true
		case fs.cur.DropRate > 0:
			drop = fs.rng.Float64() < fs.cur.DropRate
		}
		if drop {
			dropped = append(dropped, d)
		} else {
			p.deliveries = append(p.deliveries, d)
		}
	}
	fs.mu.Unlock()
	for _, d := range dropped {
		s.log.Info().Str(fieldWebhookID, d.id).Str(fieldWebhookType, d.typ).Str(fieldPaymentRef, d.paymentRef).
			Msg("rapydsim: webhook dropped by fault injection; it will not be retried")
	}
	return p
}

// queue adds d to its payment's history, for Redeliver, and returns the
// batch to send now. A webhook of a payment that is not final (creation's
// PAYMENT_SUCCEEDED) is held under Faults.Reorder and nothing is sent; the
// next webhook of the payment (final) releases it: d first, then the held
// ones, newest first. Caller holds s.mu.
func (s *Simulator) queue(d delivery, final bool) []delivery {
	s.history[d.paymentRef] = append(s.history[d.paymentRef], d)
	if !final {
		s.faults.mu.Lock()
		hold := s.faults.cur.Reorder
		s.faults.mu.Unlock()
		if hold {
			s.held[d.paymentRef] = append(s.held[d.paymentRef], d)
			return nil
		}
		return []delivery{d}
	}
	batch := append(s.held[d.paymentRef], d)
	delete(s.held, d.paymentRef)
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
		return paygate.Errorf(paygate.ENOTFOUND, "rapydsim: no payment %q", truncate(ref))
	}
	deliveries := slices.Clone(s.history[ref])
	delete(s.held, ref)
	s.mu.Unlock()
	if s.cfg.WebhookURL == "" {
		return nil
	}
	var errs []error
	for _, d := range deliveries {
		if d.body == nil {
			continue
		}
		if err := s.post(ctx, d, redelivery); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: "rapydsim: redeliver " + truncate(ref) + ": the webhook endpoint did not acknowledge every webhook",
			Err:     errors.Join(errs...),
		}
	}
	return nil
}
