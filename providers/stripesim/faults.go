package stripesim

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
// well-behaved Stripe. rapydsim.Faults has the same fields, so one converts
// to the other: rapydsim.Faults(f).
//
// Faults apply to each batch of events as it is handed to delivery: the
// events of one Approve, Decline or Expire, or of one cancel request. They
// change only what is sent, never the simulator's state: a payment intent
// whose events were dropped is still retrieved as it really is, which is
// how paygate's janitor (polling GetPayment) recovers it.
type Faults struct {
	// Duplicate sends each event this many extra times: the same event id
	// and body, each copy signed afresh and posted concurrently with the
	// first, as Stripe's at-least-once delivery may. Each copy is retried
	// on failure like any delivery. 0 to 100.
	Duplicate int
	// Reorder sends the events of one batch newest first: Approve's
	// charge.succeeded before its payment_intent.succeeded. A batch of one
	// event is sent as is.
	Reorder bool
	// Delay waits this long before each event of a batch is sent. A delayed
	// batch is sent in the background, so Approve, Decline and Expire
	// return before their events arrive (late webhooks, after the buyer is
	// back); Close abandons what is still waiting.
	Delay time.Duration
	// Drop loses the next Drop events entirely: neither they nor their
	// duplicates are posted, and they are never retried. It counts down as
	// events are dropped (see Simulator.Faults).
	Drop int
	// DropRate loses each event that Drop spares with this probability,
	// from 0 to 1, drawn from a generator seeded with Config.Seed: the same
	// seed and the same sequence of events drop the same events.
	DropRate float64
}

// maxDuplicate bounds Faults.Duplicate: every copy is a concurrent request.
const maxDuplicate = 100

// check returns an EINVALID *paygate.Error for faults out of range.
func (f Faults) check() error {
	switch {
	case f.Duplicate < 0 || f.Duplicate > maxDuplicate:
		return paygate.Errorf(paygate.EINVALID, "stripesim: Faults.Duplicate %d is outside 0..%d", f.Duplicate, maxDuplicate)
	case f.Delay < 0:
		return paygate.Errorf(paygate.EINVALID, "stripesim: Faults.Delay %s is negative", f.Delay)
	case f.Drop < 0:
		return paygate.Errorf(paygate.EINVALID, "stripesim: Faults.Drop %d is negative", f.Drop)
	case !(f.DropRate >= 0 && f.DropRate <= 1): // NaN too
		return paygate.Errorf(paygate.EINVALID, "stripesim: Faults.DropRate %v is outside 0..1", f.DropRate)
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

// SetFaults replaces the faults applied to the batches of events sent from
// now on; batches already handed to delivery (a delayed one, retries) keep
// the faults they had. Faults out of range are an EINVALID *paygate.Error
// and change nothing. SetFaults(Faults{}) restores normal delivery. It is
// safe to call concurrently with everything else.
func (s *Simulator) SetFaults(f Faults) error {
	if err := f.check(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	s.faults.cur = f
	s.faults.mu.Unlock()
	return nil
}

// Faults returns the faults in force, with Drop counting the events still
// to be dropped.
func (s *Simulator) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.cur
}

// reorder reports whether batches are sent newest first.
func (s *Simulator) reorder() bool {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.cur.Reorder
}

// plan is how one batch is sent: its surviving events in sending order,
// how many copies of each, and the wait before each.
type plan struct {
	events []*event
	copies int
	delay  time.Duration
}

// plan applies the faults in force to a batch, in sending order.
func (s *Simulator) plan(batch []*event) plan {
	fs := s.faults
	fs.mu.Lock()
	p := plan{copies: 1 + fs.cur.Duplicate, delay: fs.cur.Delay}
	var dropped []*event
	for _, ev := range batch {
		drop := false
		switch {
		case fs.cur.Drop > 0:
			fs.cur.Drop--
			drop = true
		case fs.cur.DropRate > 0:
			drop = fs.rng.Float64() < fs.cur.DropRate
		}
		if drop {
			dropped = append(dropped, ev)
		} else {
			p.events = append(p.events, ev)
		}
	}
	fs.mu.Unlock()
	for _, ev := range dropped {
		s.log.Info().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Msg("stripesim: webhook dropped by fault injection; it will not be retried")
	}
	return p
}

// record adds the events of one action on a payment intent to its history,
// for Redeliver, and returns them in sending order. Caller holds s.mu.
func (s *Simulator) record(intentID string, events []*event) []*event {
	s.history[intentID] = append(s.history[intentID], events...)
	batch := slices.Clone(events)
	if s.reorder() {
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
	if s.cfg.WebhookURL == "" {
		return nil
	}
	var errs []error
	for _, ev := range events {
		err := s.deliver(ctx, ev)
		if err != nil {
			s.log.Warn().Err(err).Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
				Msg("stripesim: webhook redelivery failed")
			errs = append(errs, err)
			continue
		}
		s.log.Info().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Msg("stripesim: webhook redelivered")
	}
	if len(errs) > 0 {
		return &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: "stripesim: redeliver " + ref + ": the webhook endpoint did not acknowledge every event",
			Err:     errors.Join(errs...),
		}
	}
	return nil
}
