package stripesim

import (
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// The kinds of balance change, in the order the report sorts the changes
// of one second.
const (
	balanceCharge uint8 = iota
	balanceRefund
	balanceRefundFailure
)

// balanceChange is one line of the settlement report, kept apart from the
// intent it is about so that it outlives the intent (Limits.ReportLines).
// Its fee is worked out when the report is written.
type balanceChange struct {
	created                 int64 // Unix seconds
	kind                    uint8
	gross                   int64 // signed as the balance moved
	currency                paygate.Currency
	payment, order, attempt string
}

// addChange adds a balance change of pi, with balance transaction txn, to
// the report. Caller holds s.mu.
func (s *Simulator) addChange(pi *intent, txn string, kind uint8, gross int64, now time.Time) {
	s.ledger.Put(txn, balanceChange{
		created: now.Unix(), kind: kind, gross: gross, currency: paygate.Currency(strings.ToUpper(pi.Currency)),
		payment: pi.ID, order: pi.Metadata["payment_order"], attempt: pi.Metadata["attempt"],
	}, now)
	s.ledger.Trim(s.limits.ReportLines, time.Time{}, nil)
}

// addInputMethod keeps the payment method of a create or confirm of pi,
// for payment_method=… to find; one made from payment_method_data is
// forgotten with pi. Caller holds s.mu.
func (s *Simulator) addInputMethod(pi *intent, in confirmInput) {
	if in.NewMethod {
		s.addMethod(pi, in.Method)
	}
}

// addMethod keeps pm, made for pi, until pi is forgotten. Caller holds s.mu.
func (s *Simulator) addMethod(pi *intent, pm *paymentMethod) {
	s.methods[pm.ID] = pm
	pi.Methods = append(pi.Methods, pm.ID)
}

// changed tells the retainer that pi changed at now and sent events.
// Caller holds s.mu.
func (s *Simulator) changed(pi *intent, events []*simkit.Webhook, now time.Time) {
	s.retain.Changed(pi.ID, pi.final(), events, now)
}

// delivered is simkit's Config.Delivered: the endpoint acknowledged ev,
// which may settle its intent.
func (s *Simulator) delivered(ev *simkit.Webhook) {
	s.mu.Lock()
	now := s.now()
	s.retain.Delivered(ev, now)
	s.trim(now)
	s.mu.Unlock()
}

// trim forgets the intents beyond Limits at now. Caller holds s.mu.
func (s *Simulator) trim(now time.Time) {
	s.retain.Trim(now, func(id string, settled bool) {
		if !settled {
			s.log.Warn().Str(fieldPaymentIntent, id).
				Msg("stripesim: too many payment intents (Limits.Payments); forgot the least recently changed, which was not settled")
		}
		s.forget(id)
	})
}

// forget drops intent id with its charge, refunds, methods and events.
// Caller holds s.mu.
func (s *Simulator) forget(id string) {
	pi := s.intents[id]
	if pi == nil {
		return
	}
	delete(s.intents, id)
	delete(s.history, id)
	if pi.Charge != nil {
		delete(s.charges, pi.Charge.ID)
	}
	for _, r := range pi.Refunds {
		delete(s.refunds, r)
	}
	for _, m := range pi.Methods {
		delete(s.methods, m)
	}
}

// Usage counts what the simulator keeps in memory now. It is safe to call
// concurrently with everything else.
func (s *Simulator) Usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{
		Intents: len(s.intents), Methods: len(s.methods), Charges: len(s.charges), Refunds: len(s.refunds),
		IdempotencyKeys: s.idem.Len(), ReportLines: s.ledger.Len(),
	}
	_, u.Settled = s.retain.Len()
	for _, evs := range s.history {
		u.Events += len(evs)
	}
	return u
}
