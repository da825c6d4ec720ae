package simkit

import (
	"slices"
	"time"

	"github.com/paygate/paygate"
)

// Faults make webhook deliveries misbehave the way real providers' do, so
// that tests and load tools can check that paygate copes: duplicates,
// webhooks out of order, late webhooks and lost webhooks; API and APIDelay
// do the same to the simulator's API (Deliverer.API). The zero Faults is
// well-behaved delivery and a well-behaved API.
//
// Faults apply to each batch of webhooks as it is handed to Send. They
// change only what is sent, never a simulator's state: a payment whose
// webhooks were dropped is still retrieved as it really is, which is how
// paygate's janitor (polling GetPayment) recovers it.
type Faults struct {
	// Duplicate sends each webhook this many extra times: the same id and
	// body, each copy signed afresh and posted concurrently with the
	// first. Each copy is retried on failure like any delivery. 0 to 100.
	Duplicate int
	// Reorder sends webhooks out of order. The Deliverer does not apply it:
	// each simulator orders its batches before Send, in its provider's way
	// (stripesim reverses the events of one action; rapydsim holds back a
	// payment's PAYMENT_SUCCEEDED until its next webhook).
	Reorder bool
	// Delay waits this long before each webhook of a batch is sent. A
	// delayed batch is sent in the background, so Send returns before its
	// webhooks arrive (late webhooks, after the buyer is back); Close
	// abandons what is still waiting.
	Delay time.Duration
	// Drop loses the next Drop webhooks entirely: neither they nor their
	// duplicates are posted, and they are never retried. It counts down as
	// webhooks are dropped (see Deliverer.Faults).
	Drop int
	// DropRate loses each webhook that Drop spares with this probability,
	// from 0 to 1, drawn from a generator seeded with Config.Seed: the same
	// seed and the same sequence of webhooks drop the same webhooks.
	DropRate float64
	// API makes the simulator's API misbehave (down, 500s, slow, a create
	// whose answer never arrives); APINormal is a well-behaved API. It
	// applies through Deliverer.API; see APIFault.
	API APIFault
	// APIDelay is how long APISlow waits before each answer (required, up
	// to MaxAPIDelay), and the most APITimeoutAfterCreate holds a
	// connection (0 is DefaultHold).
	APIDelay time.Duration
}

// MaxDuplicate bounds Faults.Duplicate: every copy is a concurrent request.
const MaxDuplicate = 100

// check returns an EINVALID *paygate.Error, its message prefixed with
// name, for faults out of range.
func (f Faults) check(name string) error {
	switch {
	case f.Duplicate < 0 || f.Duplicate > MaxDuplicate:
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.Duplicate %d is outside 0..%d", name, f.Duplicate, MaxDuplicate)
	case f.Delay < 0:
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.Delay %s is negative", name, f.Delay)
	case f.Drop < 0:
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.Drop %d is negative", name, f.Drop)
	case !(f.DropRate >= 0 && f.DropRate <= 1): // NaN too
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.DropRate %v is outside 0..1", name, f.DropRate)
	case !slices.Contains(APIFaults(), f.API):
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.API %q is not one of down, error, slow, timeout_after_create (or empty)", name, paygate.Clip(string(f.API), 32))
	case f.APIDelay < 0 || f.APIDelay > MaxAPIDelay:
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.APIDelay %s is outside 0..%s", name, f.APIDelay, MaxAPIDelay)
	case f.API == APISlow && f.APIDelay == 0:
		return paygate.Errorf(paygate.EINVALID, "%s: Faults.API slow needs an APIDelay", name)
	}
	return nil
}

// SetFaults replaces the faults applied to the batches sent from now on;
// batches already handed to Send (a delayed one, retries) keep the faults
// they had. Faults out of range are an EINVALID *paygate.Error and change
// nothing. SetFaults(Faults{}) restores normal delivery.
func (d *Deliverer) SetFaults(f Faults) error {
	if err := f.check(d.cfg.Name); err != nil {
		return err
	}
	d.mu.Lock()
	d.faults = f
	d.mu.Unlock()
	return nil
}

// Faults returns the faults in force, with Drop counting the webhooks still
// to be dropped.
func (d *Deliverer) Faults() Faults {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults
}

// plan is how one batch is sent: its surviving webhooks in sending order,
// how many copies of each, and the wait before each.
type plan struct {
	webhooks []*Webhook
	copies   int
	delay    time.Duration
}

// plan applies the faults in force to a batch, in sending order.
func (d *Deliverer) plan(batch []*Webhook) plan {
	d.mu.Lock()
	p := plan{copies: 1 + d.faults.Duplicate, delay: d.faults.Delay}
	var dropped []*Webhook
	for _, w := range batch {
		drop := false
		switch {
		case d.faults.Drop > 0:
			d.faults.Drop--
			drop = true
		case d.faults.DropRate > 0:
			drop = d.rng.Float64() < d.faults.DropRate
		}
		if drop {
			dropped = append(dropped, w)
		} else {
			p.webhooks = append(p.webhooks, w)
		}
	}
	d.mu.Unlock()
	for _, w := range dropped {
		d.with(d.log.Info(), w).Msg(d.cfg.Name + ": webhook dropped by fault injection; it will not be retried")
	}
	return p
}
