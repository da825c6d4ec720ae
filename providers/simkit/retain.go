package simkit

import (
	"slices"
	"time"
)

// The defaults of Limits, per simulator. The counts keep a simulator's
// memory flat under load, at about 25 MiB each (measured: a Stripe intent with
// its events about 4.7 KiB, a Rapyd payment 3.3 KiB, a saved response
// 1.5 KiB, a report line 0.35 KiB); paybench's soak, at 100 to 150 orders
// a second, reaches them within its first few minutes. At a developer's
// pace they hold weeks of payments. The durations are the providers' own
// (idempotency) or long enough for every flow of paygate's that comes
// back to a payment days later (a refund to the bank after the sales
// order's timers).
const (
	// DefaultSettled is Limits.Settled.
	DefaultSettled = 2_000
	// DefaultSettledFor is Limits.SettledFor.
	DefaultSettledFor = 7 * 24 * time.Hour
	// DefaultPayments is Limits.Payments: about 100 MiB at most, reached
	// only when payments are abandoned or their webhooks lost by the
	// thousand.
	DefaultPayments = 20_000
	// DefaultIdempotencyKeys is Limits.IdempotencyKeys: at the soak's
	// pace, still more than 30 seconds of requests, far longer than a
	// client retries one.
	DefaultIdempotencyKeys = 5_000
	// DefaultIdempotencyFor is Limits.IdempotencyFor: Stripe keeps keys at
	// least 24 hours, and so does Rapyd.
	DefaultIdempotencyFor = 24 * time.Hour
	// DefaultReportLines is Limits.ReportLines.
	DefaultReportLines = 20_000
)

// Limits bound what a simulator keeps in memory, so that a long sandbox run
// (a soak under load) does not grow without end. A zero field is its
// default; a negative one is no limit. Within them the simulator behaves as
// its provider does; beyond them it forgets, oldest first, and answers
// about what it forgot as its provider answers about an unknown object.
//
// A payment is settled once its state is final (nothing but a test helper
// or a refund changes it any more) and every webhook it has sent has been
// acknowledged with a 2xx (or the simulator has no webhook endpoint): the
// merchant has been told. A settled payment is the one kind a simulator
// forgets in the normal course. A payment that is not settled (still
// pending, or with a webhook lost or never acknowledged, which paygate's
// janitor recovers by polling) is forgotten only beyond Payments. A
// payment that changes again (a refund, a late approval) is no longer
// settled until its new webhooks are acknowledged.
type Limits struct {
	// Settled is how many settled payments are kept, the most recently
	// settled; older ones are forgotten with their refunds and webhooks
	// (Redeliver, refunds and retrieval then find no such payment).
	// Default DefaultSettled.
	Settled int
	// SettledFor is how long a settled payment is kept after it settled.
	// Default DefaultSettledFor.
	SettledFor time.Duration
	// Payments caps every payment kept, settled or not; beyond it the
	// least recently changed is forgotten whatever its state, and the
	// simulator logs a warning when that one was not settled. Default
	// DefaultPayments.
	Payments int
	// IdempotencyKeys is how many idempotency keys are kept, the most
	// recent; a request with a key forgotten is executed again, as after
	// IdempotencyFor. Default DefaultIdempotencyKeys.
	IdempotencyKeys int
	// IdempotencyFor is how long an idempotency key replays its first
	// response. Default DefaultIdempotencyFor.
	IdempotencyFor time.Duration
	// ReportLines is how many balance changes (a charge, a refund, a
	// failed refund) the settlement report keeps, the most recent,
	// independently of the payments: a forgotten payment's lines stay in
	// the report until they are among the oldest ReportLines. Default
	// DefaultReportLines.
	ReportLines int
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.Settled, DefaultSettled)
	defDur(&l.SettledFor, DefaultSettledFor)
	def(&l.Payments, DefaultPayments)
	def(&l.IdempotencyKeys, DefaultIdempotencyKeys)
	defDur(&l.IdempotencyFor, DefaultIdempotencyFor)
	def(&l.ReportLines, DefaultReportLines)
	return l
}

// cutoff is the time at or before which something kept for d at now is
// forgotten; zero (no cutoff) for a negative d.
func cutoff(now time.Time, d time.Duration) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return now.Add(-d)
}

// Retainer decides which payments a simulator keeps, under Limits: it
// tracks each payment's last change, whether its state is final and which
// of its webhooks are not yet acknowledged, and Trim names the payments to
// forget. The simulator keeps the payments themselves. A Retainer is not
// safe for concurrent use: a simulator uses it under its own lock.
type Retainer struct {
	limits  Limits
	acks    bool
	changed Store[*retained] // every payment, by its last change
	settled Store[struct{}]  // the settled ones, by when they settled
}

// retained is what a Retainer knows of a payment.
type retained struct {
	final   bool
	pending []*Webhook // sent and not yet acknowledged
}

// NewRetainer returns a Retainer with limits (zero fields are defaults).
// acks says whether the simulator's webhooks are delivered at all: when
// they are not (no webhook endpoint), a payment is settled as soon as its
// state is final.
func NewRetainer(limits Limits, acks bool) *Retainer {
	return &Retainer{limits: limits.WithDefaults(), acks: acks}
}

// Changed records that payment id changed at now: final says whether its
// state is now final, and sent are the webhooks the change produced, which
// it waits for Delivered to acknowledge before the payment is settled. A
// payment Changed for the first time starts being tracked.
func (r *Retainer) Changed(id string, final bool, sent []*Webhook, now time.Time) {
	p, _, ok := r.changed.Get(id)
	if !ok {
		p = &retained{}
	}
	p.final = final
	if r.acks {
		for _, w := range sent {
			if w.Body != nil { // never sent, so never acknowledged
				p.pending = append(p.pending, w)
			}
		}
	}
	r.changed.Put(id, p, now)
	r.settled.Delete(id)
	if p.final && len(p.pending) == 0 {
		r.settled.Put(id, struct{}{}, now)
	}
}

// Delivered records that the endpoint acknowledged w at now (w.Ref is its
// payment). A payment whose state is final settles with its last
// acknowledgement. Acknowledging a webhook again, or one of a payment
// forgotten, does nothing.
func (r *Retainer) Delivered(w *Webhook, now time.Time) {
	p, _, ok := r.changed.Get(w.Ref)
	if !ok {
		return
	}
	i := slices.Index(p.pending, w)
	if i < 0 {
		return
	}
	p.pending = slices.Delete(p.pending, i, i+1)
	if p.final && len(p.pending) == 0 {
		r.settled.Put(w.Ref, struct{}{}, now)
	}
}

// Trim forgets the payments beyond the limits at now, calling forget with
// each one's id and whether it was settled: first the settled ones beyond
// Limits.Settled or settled longer than Limits.SettledFor ago, oldest
// first; then, beyond Limits.Payments, the least recently changed of all.
// It returns how many it forgot, in time proportional to that number.
func (r *Retainer) Trim(now time.Time, forget func(id string, settled bool)) int {
	n := r.settled.Trim(r.limits.Settled, cutoff(now, r.limits.SettledFor), func(id string, _ struct{}) {
		r.changed.Delete(id)
		forget(id, true)
	})
	n += r.changed.Trim(r.limits.Payments, time.Time{}, func(id string, _ *retained) {
		forget(id, r.settled.Delete(id))
	})
	return n
}

// Forget stops tracking payment id, as if Trim had forgotten it.
func (r *Retainer) Forget(id string) {
	r.changed.Delete(id)
	r.settled.Delete(id)
}

// Len returns how many payments are tracked, and how many of them are
// settled.
func (r *Retainer) Len() (payments, settled int) { return r.changed.Len(), r.settled.Len() }

// Idempotency is a simulator's saved responses (of type V) by idempotency
// key, kept for Limits.IdempotencyFor and at most Limits.IdempotencyKeys
// of them: keys are kept in the order they were saved and expire from the
// oldest, each Get and Put forgetting what has expired (in time
// proportional to that). It is not safe for concurrent use: a simulator
// uses it under its own lock.
type Idempotency[V any] struct {
	keys Store[V]
	ttl  time.Duration
	max  int
}

// NewIdempotency returns an empty Idempotency with limits' IdempotencyFor
// and IdempotencyKeys (zero fields are defaults).
func NewIdempotency[V any](limits Limits) *Idempotency[V] {
	l := limits.WithDefaults()
	return &Idempotency[V]{ttl: l.IdempotencyFor, max: l.IdempotencyKeys}
}

// Get returns the response saved with key, if it is kept at now.
func (c *Idempotency[V]) Get(key string, now time.Time) (V, bool) {
	c.expire(now)
	v, at, ok := c.keys.Get(key)
	if !ok || (c.ttl >= 0 && !now.Before(at.Add(c.ttl))) { // a clock set back leaves some unexpired
		var zero V
		return zero, false
	}
	return v, true
}

// Put saves v as key's response at now, replacing any saved before.
func (c *Idempotency[V]) Put(key string, v V, now time.Time) {
	c.keys.Put(key, v, now)
	c.expire(now)
}

// Len returns how many keys are kept.
func (c *Idempotency[V]) Len() int { return c.keys.Len() }

func (c *Idempotency[V]) expire(now time.Time) {
	c.keys.Trim(c.max, cutoff(now, c.ttl), nil)
}
