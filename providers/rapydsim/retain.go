package rapydsim

import (
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// The kinds of balance change, in the order the report sorts the changes
// of one second.
const (
	balancePayment uint8 = iota
	balanceRefund
)

// balanceChange is one line of the settlement report, kept apart
// from the payment it is about so that it outlives the payment
// (Limits.ReportLines). Its fee is worked out when the report is written.
type balanceChange struct {
	created                 int64 // Unix nanoseconds
	kind                    uint8
	gross                   int64 // signed as the balance moved, minor units of currency
	currency                paygate.Currency
	payment, order, attempt string
}

// final reports whether p's status is one only a test helper or a refund
// changes: every status but ACT.
func (p *payment) final() bool { return p.status != statusActive }

// reportPayment puts p's PAYMENT line in the report, dated when it was
// paid, if it is closed (CLO), and takes it out otherwise. Caller holds
// s.mu.
func (s *Simulator) reportPayment(p *payment) {
	id := report.DerivedID("payment", p.id)
	if p.status != statusClosed {
		s.ledger.Delete(id)
		return
	}
	s.ledger.Put(id, balanceChange{
		created: p.paidAt.UnixNano(), kind: balancePayment, gross: p.amount.Minor, currency: p.amount.Currency,
		payment: p.id, order: paymentOrder(p.metadata), attempt: p.reference,
	}, p.paidAt)
	s.ledger.Trim(s.limits.ReportLines, time.Time{}, nil)
}

// reportRefund puts the REFUND line of rf, a refund of p, in the report if
// it completed: a rejected refund moved no money. Caller holds s.mu.
func (s *Simulator) reportRefund(p *payment, rf *refund) {
	if rf.status != refundCompleted {
		return
	}
	s.ledger.Put(report.DerivedID("refund", rf.id), balanceChange{
		created: rf.updatedAt.UnixNano(), kind: balanceRefund, gross: -rf.minor, currency: p.amount.Currency,
		payment: p.id, order: paymentOrder(p.metadata), attempt: p.reference,
	}, rf.updatedAt)
	s.ledger.Trim(s.limits.ReportLines, time.Time{}, nil)
}

// delivered is simkit's Config.Delivered: the endpoint acknowledged d,
// which may settle its payment.
func (s *Simulator) delivered(d *simkit.Webhook) {
	s.mu.Lock()
	now := s.now()
	s.retain.Delivered(d, now)
	s.trim(now)
	s.mu.Unlock()
}

// trim forgets the payments beyond Limits at now. Caller holds s.mu.
func (s *Simulator) trim(now time.Time) {
	s.retain.Trim(now, func(id string, settled bool) {
		if !settled {
			s.log.Warn().Str(fieldPaymentRef, id).
				Msg("rapydsim: too many payments (Limits.Payments); forgot the least recently changed, which was not settled")
		}
		s.forget(id)
	})
}

// forget drops payment id with its refunds and webhooks. Caller holds s.mu.
func (s *Simulator) forget(id string) {
	p := s.payments[id]
	if p == nil {
		return
	}
	delete(s.payments, id)
	delete(s.history, id)
	delete(s.held, id)
	for _, rf := range p.refunds {
		delete(s.refunds, rf.id)
	}
}

// Usage counts what the simulator keeps in memory now. It is safe to call
// concurrently with everything else.
func (s *Simulator) Usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{
		Payments: len(s.payments), Refunds: len(s.refunds),
		IdempotencyKeys: s.idempotency.Len(), ReportLines: s.ledger.Len(),
	}
	_, u.Settled = s.retain.Len()
	for _, ws := range s.history {
		u.Webhooks += len(ws)
	}
	return u
}
