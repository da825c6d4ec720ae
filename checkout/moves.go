package checkout

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
)

// The state machines of payment orders and attempts. Each has one door,
// the only code that writes its status column: moveOrder for a payment
// order (the one place its events are appended), moveAttempt for an
// attempt (which has no events). Each door checks the move against its
// table below and refuses any other with ECONFLICT.

// orderMoves are the moves a payment order's status may make. Pending →
// pending is a new attempt while another is pending (a failover, or the
// buyer's next method); no use case cancels an order yet, but the status
// and its event are part of the API.
var orderMoves = map[Status][]Status{
	Created:  {Pending, Paid, Expired, Canceled},
	Pending:  {Pending, Failed, Paid, Expired, Canceled},
	Failed:   {Pending, Paid, Expired, Canceled},
	Paid:     nil,
	Expired:  nil,
	Canceled: nil,
}

// orderStatuses are the payment order statuses, in their order of
// definition.
var orderStatuses = []Status{Created, Pending, Paid, Failed, Expired, Canceled}

// CanMoveTo reports whether a payment order may move from s to t.
func (s Status) CanMoveTo(t Status) bool { return slices.Contains(orderMoves[s], t) }

// attemptMoves are the moves an attempt's status may make. A success
// moves any attempt that did not succeed yet: a payment made anyway (a
// voucher paid after its attempt was replaced or expired) is settled as
// the provider's verified event says.
var attemptMoves = map[AttemptStatus][]AttemptStatus{
	AttemptCreating:   {AttemptPending, AttemptProcessing, AttemptSucceeded, AttemptFailed, AttemptCanceled, AttemptExpired},
	AttemptPending:    {AttemptProcessing, AttemptSucceeded, AttemptFailed, AttemptCanceled, AttemptExpired},
	AttemptProcessing: {AttemptSucceeded, AttemptFailed, AttemptCanceled, AttemptExpired},
	AttemptSucceeded:  nil,
	AttemptFailed:     {AttemptSucceeded},
	AttemptCanceled:   {AttemptSucceeded},
	AttemptExpired:    {AttemptSucceeded},
}

// attemptStatuses are the attempt statuses, in their order of definition.
var attemptStatuses = []AttemptStatus{AttemptCreating, AttemptPending, AttemptProcessing, AttemptSucceeded, AttemptFailed, AttemptCanceled, AttemptExpired}

// CanMoveTo reports whether an attempt may move from s to t. Staying is
// always allowed: the attempt's other fields change (its provider's
// reference and next action, what replaced it).
func (s AttemptStatus) CanMoveTo(t AttemptStatus) bool {
	return s == t || slices.Contains(attemptMoves[s], t)
}

// errRefused is the cause of a door's ECONFLICT for a move its table does
// not allow (errors.Is), which tells it from a conflict of the writes that
// go with a move.
var errRefused = errors.New("checkout: move not allowed")

// refuse is the ECONFLICT error of a move a door refuses.
func refuse(format string, args ...any) error {
	return &paygate.Error{Code: paygate.ECONFLICT, Message: fmt.Sprintf(format, args...), Err: errRefused}
}

// orderMove is a payment order's move, for moveOrder.
type orderMove struct {
	to          Status
	paidAttempt string // for Paid: the attempt that paid
	// with, if not nil, makes the writes that go with the move, once the
	// status is written and before the event is appended, with the order
	// as the move left it; it returns the order's sales orders as they are
	// after them, for the event (nil: they are read for it).
	with func(po PaymentOrder) ([]orders.SalesOrder, error)
}

// moveOrder is the one door of a payment order's status. It moves p to
// m.to (for Paid also recording the attempt that paid) if p's status
// allows it (Status.CanMoveTo), in one statement that also locks p's row
// and returns it as it is now; then runs m.with and appends the move's
// event (orderEvents), made of what it holds, not read back. It returns
// the order's row (without its sales orders and attempts).
//
// A move p's status does not allow changes nothing: the error is ECONFLICT,
// returned with p's row as it is (locked for the rest of tx), which a late
// payment needs (errors.Is(err, errRefused) tells it from a conflict of
// m.with's writes); ENOTFOUND if there is no order p.
func (s *Service) moveOrder(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber, m orderMove) (PaymentOrder, error) {
	var from []any
	for _, st := range orderStatuses {
		if st.CanMoveTo(m.to) {
			from = append(from, string(st))
		}
	}
	if len(from) > 0 {
		set, args := `status = ?, updated_at = ?`, []any{string(m.to), tx.Now()}
		if m.to == Paid {
			set, args = set+`, paid_attempt = ?`, append(args, m.paidAttempt)
		}
		var r orderRow
		err := tx.Get(ctx, &r, `UPDATE payment_orders SET `+set+` WHERE number = ? AND status IN (`+storage.Params(len(from))+`) RETURNING `+orderColumns,
			append(append(args, string(p)), from...)...)
		if err == nil {
			return s.moved(ctx, tx, r.order(), m)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return PaymentOrder{}, fmt.Errorf("checkout: set %s %s: %w", p, m.to, err)
		}
	}
	po, err := getOrder(ctx, tx, p, true)
	if err != nil {
		return PaymentOrder{}, err
	}
	return po, refuse("payment order %s is %s: it cannot become %s", p, po.Status, m.to)
}

// moved finishes moveOrder's move of po: m.with's writes, then the event.
func (s *Service) moved(ctx context.Context, tx *storage.Tx, po PaymentOrder, m orderMove) (PaymentOrder, error) {
	var items []orders.SalesOrder
	if m.with != nil {
		var err error
		if items, err = m.with(po); err != nil {
			return PaymentOrder{}, err
		}
	}
	typ, ok := orderEvents[po.Status]
	if !ok || !events.Writing {
		return po, nil
	}
	ev := po
	var err error
	if ev.Items = items; ev.Items == nil {
		if ev.Items, err = orders.OfPaymentOrder(ctx, tx, po.Number); err != nil {
			return PaymentOrder{}, err
		}
	}
	if ev.Attempts, err = attempts(ctx, tx, po.Number); err != nil {
		return PaymentOrder{}, err
	}
	withBalance := false
	if !po.Status.Final() {
		if withBalance, err = s.balanceCovers(ctx, tx, po); err != nil {
			return PaymentOrder{}, err
		}
	}
	data := s.orderJSON(ev, withBalance)
	data.CheckoutURL = "" // the link is the buyer's key to pay, and events are kept and sent on
	if _, err := events.Append(ctx, tx, typ, string(po.Number), data); err != nil {
		return PaymentOrder{}, err
	}
	return po, nil
}

// orderEvents are the events of a payment order's statuses, each with the
// order as GET /v1/payment-orders/{number} shows it after the move, less
// its checkout_url; created and pending have none.
var orderEvents = map[Status]events.Type{
	Paid: events.PaymentOrderPaid, Failed: events.PaymentOrderFailed,
	Expired: events.PaymentOrderExpired, Canceled: events.PaymentOrderCanceled,
}

// moveAttempt is the one door of an attempt's status. a is the attempt as
// tx read it (a.Status is where it moves from), with the other fields the
// caller changes already changed: its provider reference, next action,
// failure reason and replacement. It moves a to status to if a.Status
// allows it (AttemptStatus.CanMoveTo; staying is a change of the other
// fields), writing every field in one statement that also checks that the
// attempt is still a.Status, and returns the attempt as written. A move
// a.Status does not allow, or an attempt moved meanwhile, changes nothing
// and is ECONFLICT. Attempts have no events.
func moveAttempt(ctx context.Context, tx *storage.Tx, a Attempt, to AttemptStatus) (Attempt, error) {
	if !a.Status.CanMoveTo(to) {
		return Attempt{}, refuse("attempt %s is %s: it cannot become %s", a.ID, a.Status, to)
	}
	na, err := json.Marshal(a.NextAction)
	if err != nil {
		return Attempt{}, err
	}
	var ref any
	if a.ProviderRef != "" {
		ref = a.ProviderRef
	}
	res, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = ?, provider_ref = ?, next_action = ?, failure_reason = ?, replaced_by = ?, updated_at = ?
		WHERE id = ? AND status = ?`,
		string(to), ref, string(na), a.FailureReason, a.ReplacedBy, tx.Now(), a.ID, string(a.Status))
	if err != nil {
		return Attempt{}, fmt.Errorf("checkout: update attempt %s: %w", a.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return Attempt{}, refuse("attempt %s is no longer %s", a.ID, a.Status)
	}
	a.Status, a.UpdatedAt = to, tx.Now()
	return a, nil
}
