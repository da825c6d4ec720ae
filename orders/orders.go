// Package orders owns sales orders (K1234567): one seller, one buyer, one
// amount, paid as part of a payment order, and their lifecycle from
// awaiting_payment to completed or refunded. It owns the sales_orders table.
// Functions take the caller's transaction: the use cases that change sales
// orders (paying, delivering, refunding) belong to the packages that own
// them.
package orders

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "orders", FS: migrationFiles, Dir: "migrations"}
}

// Status is a sales order's state.
type Status string

// The sales order statuses. docs/walkthrough.md follows one order through
// them, with the actions and timers that move it.
const (
	AwaitingPayment     Status = "awaiting_payment"
	WaitingDelivery     Status = "waiting_delivery"
	WaitingConfirmation Status = "waiting_confirmation"
	Refunding           Status = "refunding"
	RefundRefused       Status = "refund_refused"
	Disputed            Status = "disputed"
	Completed           Status = "completed"
	Refunded            Status = "refunded"
	Canceled            Status = "canceled"
)

// SalesOrder is one sales order.
type SalesOrder struct {
	Number       paygate.SalesOrderNumber
	PaymentOrder paygate.PaymentOrderNumber
	BuyerID      string
	SellerID     string
	Amount       paygate.Money
	Description  string
	Status       Status
	// StatusAt is when the order entered its status; its timer counts
	// from it.
	StatusAt time.Time
	// Refunded is how much of the amount went back to the buyer (all of it
	// when refunded; part of it when a dispute was split).
	Refunded  paygate.Money
	CreatedAt time.Time
	UpdatedAt time.Time
	History   []HistoryEntry // filled by Get
}

// New is a sales order to create.
type New struct {
	SellerID    string
	Amount      paygate.Money
	Description string
}

// Create creates one sales order per item for a payment order, in tx, each
// with a fresh random K-number (redrawn on the rare collision), and returns
// them in item order.
func Create(ctx context.Context, tx *storage.Tx, rnd io.Reader, p paygate.PaymentOrderNumber, buyerID string, items []New) ([]SalesOrder, error) {
	out := make([]SalesOrder, 0, len(items))
	for i, it := range items {
		so := SalesOrder{PaymentOrder: p, BuyerID: buyerID, SellerID: it.SellerID, Amount: it.Amount,
			Description: it.Description, Status: AwaitingPayment, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		for try := 0; ; try++ {
			k, err := paygate.NewSalesOrderNumber(rnd)
			if err != nil {
				return nil, err
			}
			res, err := tx.Exec(ctx, `INSERT INTO sales_orders (number, payment_order, position, buyer_id, seller_id, amount, currency, description, status, created_at, updated_at, status_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING`,
				string(k), string(p), i, buyerID, it.SellerID, it.Amount.Minor, string(it.Amount.Currency), it.Description, string(AwaitingPayment), tx.Now(), tx.Now(), tx.Now())
			if err != nil {
				return nil, fmt.Errorf("orders: create: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				so.Number = k
				break
			}
			if try == 10 {
				return nil, errors.New("orders: no free sales order number after 10 draws")
			}
		}
		out = append(out, so)
	}
	return out, nil
}

type row struct {
	Number       string    `db:"number"`
	PaymentOrder string    `db:"payment_order"`
	BuyerID      string    `db:"buyer_id"`
	SellerID     string    `db:"seller_id"`
	Amount       int64     `db:"amount"`
	Currency     string    `db:"currency"`
	Description  string    `db:"description"`
	Status       string    `db:"status"`
	StatusAt     time.Time `db:"status_at"`
	Refunded     int64     `db:"refunded"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

func (r row) salesOrder() SalesOrder {
	return SalesOrder{
		Number: paygate.SalesOrderNumber(r.Number), PaymentOrder: paygate.PaymentOrderNumber(r.PaymentOrder),
		BuyerID: r.BuyerID, SellerID: r.SellerID, Amount: paygate.New(r.Amount, paygate.Currency(r.Currency)),
		Description: r.Description, Status: Status(r.Status), StatusAt: r.StatusAt.UTC(),
		Refunded:  paygate.New(r.Refunded, paygate.Currency(r.Currency)),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

const columns = `number, payment_order, buyer_id, seller_id, amount, currency, description, status, status_at, refunded, created_at, updated_at`

// Get returns a sales order with its history, or ENOTFOUND.
func Get(ctx context.Context, tx *storage.Tx, k paygate.SalesOrderNumber) (SalesOrder, error) {
	so, err := get(ctx, tx, k, false)
	if err != nil {
		return SalesOrder{}, err
	}
	so.History, err = history(ctx, tx, k)
	return so, err
}

// get reads a sales order; lock locks it for the rest of tx.
func get(ctx context.Context, tx *storage.Tx, k paygate.SalesOrderNumber, lock bool) (SalesOrder, error) {
	q := `SELECT ` + columns + ` FROM sales_orders WHERE number = ?`
	if lock {
		q += tx.ForUpdate()
	}
	var r row
	err := tx.Get(ctx, &r, q, string(k))
	if errors.Is(err, sql.ErrNoRows) {
		return SalesOrder{}, paygate.Errorf(paygate.ENOTFOUND, "sales order %s not found", k)
	}
	if err != nil {
		return SalesOrder{}, fmt.Errorf("orders: get %s: %w", k, err)
	}
	return r.salesOrder(), nil
}

// OfPaymentOrder returns the sales orders of a payment order, in creation
// order.
func OfPaymentOrder(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) ([]SalesOrder, error) {
	var rows []row
	if err := tx.Select(ctx, &rows, `SELECT `+columns+` FROM sales_orders WHERE payment_order = ? ORDER BY position`, string(p)); err != nil {
		return nil, fmt.Errorf("orders: of %s: %w", p, err)
	}
	out := make([]SalesOrder, len(rows))
	for i, r := range rows {
		out[i] = r.salesOrder()
	}
	return out, nil
}

// MarkPaid moves the payment order's sales orders from awaiting_payment to
// waiting_delivery and returns them. Orders in another state are left as
// they are.
func MarkPaid(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) ([]SalesOrder, error) {
	return move(ctx, tx, p, AwaitingPayment, WaitingDelivery)
}

// Cancel moves the payment order's sales orders from awaiting_payment to
// canceled.
func Cancel(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) ([]SalesOrder, error) {
	return move(ctx, tx, p, AwaitingPayment, Canceled)
}

// move moves the payment order's sales orders of status from to status
// to, through transition (one statement of each kind however many they
// are), and returns all of the payment order's sales orders as they are
// now.
func move(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber, from, to Status) ([]SalesOrder, error) {
	all, err := OfPaymentOrder(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	var moving []int
	var sos []SalesOrder
	for i, so := range all {
		if so.Status == from {
			moving = append(moving, i)
			sos = append(sos, so)
		}
	}
	if len(moving) == 0 {
		return all, nil
	}
	if sos, err = transition(ctx, tx, sos, to, step{action: string(to), actor: ActorSystem}); err != nil {
		return nil, fmt.Errorf("orders: sales orders of %s: %w", p, err)
	}
	for j, i := range moving {
		all[i] = sos[j]
		all[i].History = nil // as OfPaymentOrder leaves it
	}
	return all, nil
}

// step is one transition, as the history records it.
type step struct {
	action, actor, reason, description string
	// refunded, if not nil, is the new refunded amount in minor units.
	refunded *int64
}

// moves are the moves a sales order's status may make; docs/walkthrough.md
// tells which action or timer makes each.
var moves = map[Status][]Status{
	AwaitingPayment:     {WaitingDelivery, Canceled},
	WaitingDelivery:     {WaitingConfirmation, Refunding, Refunded},
	WaitingConfirmation: {Completed, Refunding, Refunded},
	Refunding:           {Refunded, RefundRefused},
	RefundRefused:       {Disputed, Completed},
	Disputed:            {Refunded, Completed},
	Completed:           nil,
	Refunded:            nil,
	Canceled:            nil,
}

// statuses are the sales order statuses, in their order of definition.
var statuses = []Status{AwaitingPayment, WaitingDelivery, WaitingConfirmation, Refunding, RefundRefused, Disputed, Completed, Refunded, Canceled}

// CanMoveTo reports whether a sales order may move from s to t.
func (s Status) CanMoveTo(t Status) bool { return slices.Contains(moves[s], t) }

// transition is the one door of sales orders' status: it moves sos, as tx
// read them, to status to, each with the history entry of step st, and
// appends each one's events (eventTypes) with the order as the move left
// it. It takes a fixed number of statements however many they are: one
// read of their histories before (only for a move with events, which are
// made with the new entries added, not read back), one UPDATE of them all
// and one multi-row INSERT of their history entries. A move that a sales
// order's status does not allow (Status.CanMoveTo), or one of an order
// moved since tx read it, changes nothing and is ECONFLICT. It returns the
// orders as moved.
func transition(ctx context.Context, tx *storage.Tx, sos []SalesOrder, to Status, st step) ([]SalesOrder, error) {
	numbers := make([]any, len(sos))
	var from []any
	for i, so := range sos {
		if !so.Status.CanMoveTo(to) {
			return nil, paygate.Errorf(paygate.ECONFLICT, "sales order %s is %s: it cannot become %s", so.Number, so.Status, to)
		}
		numbers[i] = string(so.Number)
		if !slices.Contains(from, any(string(so.Status))) {
			from = append(from, string(so.Status))
		}
	}
	var hs map[paygate.SalesOrderNumber][]HistoryEntry
	withEvents := len(eventTypes(to, st.action)) > 0 && events.Writing
	if withEvents {
		var err error
		if hs, err = histories(ctx, tx, numbers); err != nil {
			return nil, err
		}
	}
	set, args := `status = ?, status_at = ?, updated_at = ?`, []any{string(to), tx.Now(), tx.Now()}
	if st.refunded != nil {
		set, args = set+`, refunded = ?`, append(args, *st.refunded)
	}
	args = append(append(args, numbers...), from...)
	res, err := tx.Exec(ctx, `UPDATE sales_orders SET `+set+` WHERE number IN (`+storage.Params(len(numbers))+`) AND status IN (`+storage.Params(len(from))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("orders: %s → %s: %w", sos[0].Number, to, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(sos)) {
		return nil, paygate.Errorf(paygate.ECONFLICT, "sales order %s moved meanwhile: it cannot become %s", sos[0].Number, to)
	}
	args = make([]any, 0, 8*len(sos))
	for _, so := range sos {
		args = append(args, string(so.Number), st.action, st.actor, string(so.Status), string(to), st.reason, st.description, tx.Now())
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sales_order_history (number, action, actor, from_status, to_status, reason, description, at)
		VALUES `+storage.Rows(len(sos), 8), args...); err != nil {
		return nil, fmt.Errorf("orders: history of %s: %w", sos[0].Number, err)
	}
	out := make([]SalesOrder, len(sos))
	for i, so := range sos {
		entry := HistoryEntry{Action: st.action, Actor: st.actor, From: so.Status, To: to, Reason: st.reason, Description: st.description, At: tx.Now()}
		so.Status, so.StatusAt, so.UpdatedAt = to, tx.Now(), tx.Now()
		if st.refunded != nil {
			so.Refunded = paygate.New(*st.refunded, so.Amount.Currency)
		}
		if withEvents {
			so.History = append(hs[so.Number], entry)
			if err := emit(ctx, tx, so, st.action); err != nil {
				return nil, err
			}
		}
		out[i] = so
	}
	return out, nil
}

// eventTypes are the events of a move to status to by action: a resolution
// is sales_order.resolved, and also sales_order.refunded when it gave the
// buyer everything; a cancellation (the payment order expired or was
// canceled) has none of its own, its payment order's event tells it.
func eventTypes(to Status, action string) []events.Type {
	if action == string(Resolve) {
		if to == Refunded {
			return []events.Type{events.SalesOrderResolved, events.SalesOrderRefunded}
		}
		return []events.Type{events.SalesOrderResolved}
	}
	switch to {
	case WaitingDelivery:
		return []events.Type{events.SalesOrderPaid}
	case WaitingConfirmation:
		return []events.Type{events.SalesOrderDelivered}
	case Refunding:
		return []events.Type{events.SalesOrderRefundRequested}
	case RefundRefused:
		return []events.Type{events.SalesOrderRefundRefused}
	case Disputed:
		return []events.Type{events.SalesOrderDisputed}
	case Refunded:
		return []events.Type{events.SalesOrderRefunded}
	case Completed:
		return []events.Type{events.SalesOrderCompleted}
	}
	return nil
}

// emit appends the events of a move, in its transaction, each with the
// order as GET /v1/sales-orders/{number} shows it after the move (its
// history's last entry says who moved it: the buyer's confirm or the
// timer, say): so is the order as the move left it, its history complete.
func emit(ctx context.Context, tx *storage.Tx, so SalesOrder, action string) error {
	types := eventTypes(so.Status, action)
	if len(types) == 0 || !events.Writing {
		return nil
	}
	data := ToJSON(so)
	for _, t := range types {
		if _, err := events.Append(ctx, tx, t, string(so.Number), data); err != nil {
			return err
		}
	}
	return nil
}

// HistoryEntry is one step of a sales order's life.
type HistoryEntry struct {
	Action      string
	Actor       string
	From, To    Status
	Reason      string
	Description string
	At          time.Time
}

func history(ctx context.Context, tx *storage.Tx, k paygate.SalesOrderNumber) ([]HistoryEntry, error) {
	h, err := histories(ctx, tx, []any{string(k)})
	if err != nil {
		return nil, err
	}
	if h[k] == nil {
		return []HistoryEntry{}, nil
	}
	return h[k], nil
}

// histories returns the histories of the sales orders numbered numbers
// (strings), in one statement.
func histories(ctx context.Context, tx *storage.Tx, numbers []any) (map[paygate.SalesOrderNumber][]HistoryEntry, error) {
	var rows []struct {
		Number      string    `db:"number"`
		Action      string    `db:"action"`
		Actor       string    `db:"actor"`
		From        string    `db:"from_status"`
		To          string    `db:"to_status"`
		Reason      string    `db:"reason"`
		Description string    `db:"description"`
		At          time.Time `db:"at"`
	}
	if err := tx.Select(ctx, &rows, `SELECT number, action, actor, from_status, to_status, reason, description, at
		FROM sales_order_history WHERE number IN (`+storage.Params(len(numbers))+`) ORDER BY id`, numbers...); err != nil {
		return nil, fmt.Errorf("orders: history of %v: %w", numbers, err)
	}
	out := make(map[paygate.SalesOrderNumber][]HistoryEntry, len(numbers))
	for _, r := range rows {
		k := paygate.SalesOrderNumber(r.Number)
		out[k] = append(out[k], HistoryEntry{Action: r.Action, Actor: r.Actor, From: Status(r.From), To: Status(r.To), Reason: r.Reason, Description: r.Description, At: r.At.UTC()})
	}
	return out, nil
}

// Checks are the sales orders' ledger invariants, for ledger verify: a sales
// order's escrow holds exactly its amount while the money is held for it
// (from payment until it is completed or refunded), and nothing before
// payment or once it is final.
func Checks() []ledger.Check {
	return []ledger.Check{ledger.SQLCheck("every sales order's escrow matches its state",
		"sales order %v (%v): escrow holds %v, its amount is %v %v",
		`SELECT s.number, s.status, COALESCE(a.credits - a.debits, 0), s.amount, s.currency
		FROM sales_orders s
		LEFT JOIN ledger_account_totals a ON a.name = 'escrow:' || s.number AND a.currency = s.currency
		WHERE (s.status IN ('waiting_delivery', 'waiting_confirmation', 'refunding', 'refund_refused', 'disputed')
				AND COALESCE(a.credits - a.debits, 0) <> s.amount)
		   OR (s.status NOT IN ('waiting_delivery', 'waiting_confirmation', 'refunding', 'refund_refused', 'disputed')
				AND COALESCE(a.credits - a.debits, 0) <> 0)
		ORDER BY s.number`)}
}

// EscrowLine is the money held for the sales orders of one status and
// currency.
type EscrowLine struct {
	Status Status
	Orders int64
	Amount paygate.Money // the orders' amounts
	Held   paygate.Money // what their escrow accounts hold
}

// EscrowByStatus sums the sales orders and their escrow by status and
// currency: held equals amount while the money is held, and is zero before
// payment and once final.
func EscrowByStatus(ctx context.Context, tx *storage.Tx) ([]EscrowLine, error) {
	var rows []struct {
		Status   string `db:"status"`
		Currency string `db:"currency"`
		Orders   int64  `db:"orders"`
		Amount   int64  `db:"amount"`
		Held     int64  `db:"held"`
	}
	if err := tx.Select(ctx, &rows, `SELECT s.status, s.currency, COUNT(*) AS orders, SUM(s.amount) AS amount,
			COALESCE(SUM(a.credits - a.debits), 0) AS held
		FROM sales_orders s
		LEFT JOIN ledger_account_totals a ON a.name = 'escrow:' || s.number AND a.currency = s.currency
		GROUP BY s.status, s.currency ORDER BY s.currency, s.status`); err != nil {
		return nil, fmt.Errorf("orders: escrow by status: %w", err)
	}
	out := make([]EscrowLine, len(rows))
	for i, r := range rows {
		c := paygate.Currency(r.Currency)
		out[i] = EscrowLine{Status: Status(r.Status), Orders: r.Orders, Amount: paygate.New(r.Amount, c), Held: paygate.New(r.Held, c)}
	}
	return out, nil
}
