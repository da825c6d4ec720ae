package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// timer is what happens to an order that stays too long in a status.
type timer struct {
	status Status
	window func(Rules) time.Duration
	refund bool   // refund the buyer (else complete for the seller)
	reason string // for the history
}

func timers() []timer {
	return []timer{
		{WaitingDelivery, func(r Rules) time.Duration { return r.DeliveryWindow }, true, "not delivered in time"},
		{WaitingConfirmation, func(r Rules) time.Duration { return r.ConfirmWindow }, false, "not confirmed in time: completed automatically"},
		{Refunding, func(r Rules) time.Duration { return r.RefuseWindow }, true, "refund request not answered in time: granted"},
		{RefundRefused, func(r Rules) time.Duration { return r.DisputeWindow }, false, "refusal not disputed in time: completed"},
	}
}

// SweepResult counts the timers applied, by the status they ended.
type SweepResult map[Status]int

// Sweep applies every timer due at asOf: each order whose status has lasted
// its window is refunded or completed by the system, once — an order
// another instance moved meanwhile is left alone (the row is locked and its
// state checked again). It returns how many orders each timer moved.
func (l *Lifecycle) Sweep(ctx context.Context, asOf time.Time) (SweepResult, error) {
	rules := l.Rules.WithDefaults()
	res := SweepResult{}
	for _, tm := range timers() {
		deadline := asOf.Add(-tm.window(rules))
		for {
			var due []string
			err := l.DB.View(ctx, func(tx *storage.Tx) error {
				return tx.Select(ctx, &due, `SELECT number FROM sales_orders WHERE status = ? AND status_at <= ? ORDER BY status_at LIMIT 100`,
					string(tm.status), deadline)
			})
			if err != nil {
				return res, fmt.Errorf("orders: sweep %s: %w", tm.status, err)
			}
			moved := 0
			for _, k := range due {
				ok, err := l.fire(ctx, paygate.SalesOrderNumber(k), tm, deadline)
				if err != nil {
					return res, err
				}
				if ok {
					moved++
					res[tm.status]++
				}
			}
			if len(due) < 100 || moved == 0 {
				break
			}
		}
	}
	return res, nil
}

// fire applies one timer to one order if it is still due.
func (l *Lifecycle) fire(ctx context.Context, k paygate.SalesOrderNumber, tm timer, deadline time.Time) (bool, error) {
	fired := false
	err := l.DB.Update(ctx, func(tx *storage.Tx) error {
		so, err := get(ctx, tx, k, true)
		if err != nil {
			return err
		}
		if so.Status != tm.status || so.StatusAt.After(deadline) {
			fired = false
			return nil // moved meanwhile
		}
		st := step{action: "timer", actor: ActorSystem, reason: tm.reason}
		refund := paygate.New(0, so.Amount.Currency)
		if tm.refund {
			refund = so.Amount
		}
		fired = true
		return l.settle(ctx, tx, so, refund, st)
	})
	if err != nil {
		return false, fmt.Errorf("orders: timer of %s: %w", k, err)
	}
	if fired {
		l.Logger.Info().Str("sales_order", string(k)).Str("from", string(tm.status)).Str("reason", tm.reason).Msg("timer applied")
	}
	return fired, nil
}
