package checkout

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
)

// Limits of a payment order.
const (
	MaxItems          = 50
	maxDescriptionLen = 200
	maxIDLen          = 64
	maxURLLen         = 2000
)

// NewItem is one item of a payment order to create.
type NewItem struct {
	SellerID    string
	Amount      paygate.Money
	Description string
}

// NewPaymentOrder is a payment order to create.
type NewPaymentOrder struct {
	BuyerID   string
	Currency  paygate.Currency
	Items     []NewItem
	ReturnURL string
	// RequestKey, if not "", identifies the creating request: creating
	// again with the same key returns the order created the first time.
	RequestKey string
}

// validID accepts what a ledger account name accepts: 1 to 64 characters of
// [A-Za-z0-9_.-].
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validate checks a new payment order and returns its total.
func (s *Service) validate(n NewPaymentOrder) (paygate.Money, error) {
	invalid := func(format string, args ...any) (paygate.Money, error) {
		return paygate.Money{}, paygate.Errorf(paygate.EINVALID, format, args...)
	}
	if !validID(n.BuyerID) {
		return invalid("buyer_id must be 1 to %d characters of letters, digits, '_', '.' or '-'", maxIDLen)
	}
	if !n.Currency.Valid() {
		return invalid("unknown currency %q", n.Currency)
	}
	if len(providers.MethodsFor(n.Currency)) == 0 {
		return invalid("no payment method takes %s", n.Currency)
	}
	if len(n.Items) == 0 || len(n.Items) > MaxItems {
		return invalid("a payment order has 1 to %d items; this one has %d", MaxItems, len(n.Items))
	}
	total := paygate.New(0, n.Currency)
	for i, it := range n.Items {
		if !validID(it.SellerID) {
			return invalid("items[%d].seller_id must be 1 to %d characters of letters, digits, '_', '.' or '-'", i, maxIDLen)
		}
		if it.SellerID == n.BuyerID {
			return invalid("items[%d]: the seller is the buyer", i)
		}
		if it.Amount.Currency != n.Currency {
			return invalid("items[%d].amount is in %s; the order is in %s", i, it.Amount.Currency, n.Currency)
		}
		if it.Amount.Minor <= 0 {
			return invalid("items[%d].amount must be more than zero", i)
		}
		if d := strings.TrimSpace(it.Description); d == "" || len(it.Description) > maxDescriptionLen {
			return invalid("items[%d].description must be 1 to %d characters", i, maxDescriptionLen)
		}
		var err error
		if total, err = total.Add(it.Amount); err != nil {
			return invalid("the items' total is too large")
		}
	}
	if err := s.checkReturnURL(n.ReturnURL); err != nil {
		return paygate.Money{}, err
	}
	return total, nil
}

// Create creates a payment order and one sales order per item, with a fresh
// random P-number.
func (s *Service) Create(ctx context.Context, n NewPaymentOrder) (PaymentOrder, error) {
	total, err := s.validate(n)
	if err != nil {
		return PaymentOrder{}, err
	}
	var p paygate.PaymentOrderNumber
	existed := false
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		if n.RequestKey != "" {
			err := tx.Get(ctx, &p, `SELECT number FROM payment_orders WHERE request_key = ?`, n.RequestKey)
			if err == nil {
				existed = true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var key any
		if n.RequestKey != "" {
			key = n.RequestKey
		}
		for try := 0; ; try++ {
			if p, err = paygate.NewPaymentOrderNumber(s.cfg.Rand); err != nil {
				return err
			}
			res, err := tx.Exec(ctx, `INSERT INTO payment_orders (number, buyer_id, currency, amount, status, return_url, created_at, updated_at, expires_at, request_key)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING`,
				string(p), n.BuyerID, string(n.Currency), total.Minor, string(Created), n.ReturnURL, tx.Now(), tx.Now(), tx.Now().Add(s.cfg.OrderTTL), key)
			if err != nil {
				return fmt.Errorf("checkout: create payment order: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				break
			}
			if try == 10 {
				return errors.New("checkout: no free payment order number after 10 draws")
			}
		}
		items := make([]orders.New, len(n.Items))
		for i, it := range n.Items {
			items[i] = orders.New{SellerID: it.SellerID, Amount: it.Amount, Description: strings.TrimSpace(it.Description)}
		}
		_, err := orders.Create(ctx, tx, s.cfg.Rand, p, n.BuyerID, items)
		return err
	})
	if err != nil {
		return PaymentOrder{}, err
	}
	if !existed {
		s.cfg.Logger.Info().Str(FieldPaymentOrder, string(p)).Str(FieldAmount, total.String()).Int("items", len(n.Items)).Msg("payment order created")
	}
	return s.Get(ctx, p)
}

// Log field names of the checkout package.
const (
	FieldPaymentOrder = "payment_order"
	FieldAttempt      = "attempt"
	FieldAmount       = "amount"
	FieldMethod       = "payment_method" // a payment method (an HTTP method is http_method)
	FieldProvider     = "provider"
	FieldProviderRef  = "provider_ref"
	FieldEvent        = "event"
	FieldOutcome      = "outcome"
)

// Get returns a payment order with its sales orders and attempts, or
// ENOTFOUND.
func (s *Service) Get(ctx context.Context, p paygate.PaymentOrderNumber) (PaymentOrder, error) {
	var po PaymentOrder
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		po, err = wholeOrder(ctx, tx, p)
		return err
	})
	return po, err
}

// wholeOrder reads a payment order with its sales orders and attempts, as
// tx sees it.
func wholeOrder(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) (PaymentOrder, error) {
	po, err := getOrder(ctx, tx, p, false)
	if err != nil {
		return PaymentOrder{}, err
	}
	if po.Items, err = orders.OfPaymentOrder(ctx, tx, p); err != nil {
		return PaymentOrder{}, err
	}
	po.Attempts, err = attempts(ctx, tx, p)
	return po, err
}

// OrderIn returns a payment order's row (without its sales orders and
// attempts) as tx sees it, or ENOTFOUND.
func (s *Service) OrderIn(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) (PaymentOrder, error) {
	return getOrder(ctx, tx, p, false)
}

type orderRow struct {
	Number      string         `db:"number"`
	BuyerID     string         `db:"buyer_id"`
	Currency    string         `db:"currency"`
	Amount      int64          `db:"amount"`
	Status      string         `db:"status"`
	ReturnURL   string         `db:"return_url"`
	PaidAttempt sql.NullString `db:"paid_attempt"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
	ExpiresAt   time.Time      `db:"expires_at"`
}

// getOrder reads a payment order row; lock locks it for the rest of tx.
func getOrder(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber, lock bool) (PaymentOrder, error) {
	q := `SELECT ` + orderColumns + ` FROM payment_orders WHERE number = ?`
	if lock {
		q += tx.ForUpdate()
	}
	var r orderRow
	err := tx.Get(ctx, &r, q, string(p))
	if errors.Is(err, sql.ErrNoRows) {
		return PaymentOrder{}, paygate.Errorf(paygate.ENOTFOUND, "payment order %s not found", p)
	}
	if err != nil {
		return PaymentOrder{}, fmt.Errorf("checkout: read %s: %w", p, err)
	}
	return r.order(), nil
}

// orderColumns are the columns of an orderRow.
const orderColumns = `number, buyer_id, currency, amount, status, return_url, paid_attempt, created_at, updated_at, expires_at`

func (r orderRow) order() PaymentOrder {
	return PaymentOrder{
		Number: paygate.PaymentOrderNumber(r.Number), BuyerID: r.BuyerID,
		Amount: paygate.New(r.Amount, paygate.Currency(r.Currency)), Status: Status(r.Status),
		ReturnURL: r.ReturnURL, PaidAttempt: r.PaidAttempt.String,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}
}

type attemptRow struct {
	ID            string         `db:"id"`
	PaymentOrder  string         `db:"payment_order"`
	Method        string         `db:"method"`
	Provider      string         `db:"provider"`
	Amount        int64          `db:"amount"`
	Currency      string         `db:"currency"`
	Status        string         `db:"status"`
	ProviderRef   sql.NullString `db:"provider_ref"`
	NextAction    string         `db:"next_action"`
	FailureReason string         `db:"failure_reason"`
	ReplacedBy    string         `db:"replaced_by"`
	Route         string         `db:"route"`
	RouteFrom     string         `db:"route_from"`
	RouteCause    string         `db:"route_cause"`
	CreatedAt     time.Time      `db:"created_at"`
	UpdatedAt     time.Time      `db:"updated_at"`
}

const attemptColumns = `id, payment_order, method, provider, amount, currency, status, provider_ref, next_action, failure_reason, replaced_by, route, route_from, route_cause, created_at, updated_at`

func (r attemptRow) attempt() (Attempt, error) {
	a := Attempt{
		ID: r.ID, PaymentOrder: paygate.PaymentOrderNumber(r.PaymentOrder), Method: providers.Method(r.Method),
		Provider: r.Provider, Amount: paygate.New(r.Amount, paygate.Currency(r.Currency)), Status: AttemptStatus(r.Status),
		ProviderRef: r.ProviderRef.String, FailureReason: r.FailureReason, ReplacedBy: r.ReplacedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Route: routing.Decision{Reason: routing.Reason(r.Route), From: r.RouteFrom, Cause: r.RouteCause},
	}
	if err := json.Unmarshal([]byte(r.NextAction), &a.NextAction); err != nil {
		return Attempt{}, fmt.Errorf("checkout: attempt %s: next action: %w", r.ID, err)
	}
	return a, nil
}

func attempts(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber) ([]Attempt, error) {
	var rows []attemptRow
	if err := tx.Select(ctx, &rows, `SELECT `+attemptColumns+` FROM payment_attempts WHERE payment_order = ? ORDER BY seq`, string(p)); err != nil {
		return nil, fmt.Errorf("checkout: attempts of %s: %w", p, err)
	}
	out := make([]Attempt, len(rows))
	for i, r := range rows {
		a, err := r.attempt()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// getAttempt reads one attempt by a condition ("id = ?"), locking it for tx
// on PostgreSQL; sql.ErrNoRows if there is none.
func getAttempt(ctx context.Context, tx *storage.Tx, where string, args ...any) (Attempt, error) {
	var r attemptRow
	if err := tx.Get(ctx, &r, `SELECT `+attemptColumns+` FROM payment_attempts WHERE `+where+tx.ForUpdate(), args...); err != nil {
		return Attempt{}, err
	}
	return r.attempt()
}

// Checks are the payment orders' ledger invariants, for ledger verify: a
// paid payment order was settled exactly once and names the attempt that
// paid it; any other was never settled.
func Checks() []ledger.Check {
	return []ledger.Check{ledger.SQLCheck("every payment order is settled once if paid, never otherwise",
		"payment order %v is %v (paid attempt %v) with %v settlement transaction(s)",
		`SELECT p.number, p.status, COALESCE(p.paid_attempt, '-'), COUNT(t.id)
		FROM payment_orders p
		LEFT JOIN ledger_transactions t ON t.idempotency_key = 'payment:' || p.number || ':settled'
		GROUP BY p.number, p.status, p.paid_attempt
		HAVING (p.status = 'paid' AND (COUNT(t.id) <> 1 OR p.paid_attempt IS NULL))
		    OR (p.status <> 'paid' AND (COUNT(t.id) <> 0 OR p.paid_attempt IS NOT NULL))
		ORDER BY p.number`)}
}

// PaidAttempts lists the payments a buyer made through providers in a
// currency, newest first (for refunds to source).
func (s *Service) PaidAttempts(ctx context.Context, buyerID string, c paygate.Currency) ([]finance.PaidAttempt, error) {
	var rows []struct {
		ID        string    `db:"id"`
		Method    string    `db:"method"`
		Provider  string    `db:"provider"`
		Ref       string    `db:"provider_ref"`
		Amount    int64     `db:"amount"`
		UpdatedAt time.Time `db:"updated_at"`
	}
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &rows, `SELECT a.id, a.method, a.provider, a.provider_ref, a.amount, a.updated_at
			FROM payment_attempts a JOIN payment_orders p ON p.number = a.payment_order
			WHERE p.buyer_id = ? AND a.currency = ? AND a.status = ? AND a.provider <> ? AND a.provider_ref IS NOT NULL
			ORDER BY a.updated_at DESC, a.id`, buyerID, string(c), string(AttemptSucceeded), ProviderInternal)
	})
	if err != nil {
		return nil, fmt.Errorf("checkout: payments of %s: %w", buyerID, err)
	}
	out := make([]finance.PaidAttempt, len(rows))
	for i, r := range rows {
		out[i] = finance.PaidAttempt{Attempt: r.ID, Method: providers.Method(r.Method), Provider: r.Provider,
			PaymentRef: r.Ref, Amount: paygate.New(r.Amount, c), PaidAt: r.UpdatedAt.UTC()}
	}
	return out, nil
}

// AttemptByRef returns the attempt of a provider's payment, or ENOTFOUND.
func (s *Service) AttemptByRef(ctx context.Context, tx *storage.Tx, provider, ref string) (Attempt, error) {
	var r attemptRow
	err := tx.Get(ctx, &r, `SELECT `+attemptColumns+` FROM payment_attempts WHERE provider = ? AND provider_ref = ?`, provider, ref)
	if errors.Is(err, sql.ErrNoRows) {
		return Attempt{}, paygate.Errorf(paygate.ENOTFOUND, "no attempt of %s payment %s", provider, ref)
	}
	if err != nil {
		return Attempt{}, fmt.Errorf("checkout: attempt of %s %s: %w", provider, ref, err)
	}
	return r.attempt()
}

// EachSucceededBetween calls fn with the reference and amount of each of a
// provider's succeeded attempts last updated in [from, to], streaming the
// rows (reconciliation walks a day's payments without holding them).
func (s *Service) EachSucceededBetween(ctx context.Context, tx *storage.Tx, provider string, from, to time.Time, fn func(ref string, m paygate.Money) error) error {
	rows, err := tx.Query(ctx, `SELECT provider_ref, amount, currency FROM payment_attempts
		WHERE provider = ? AND status = ? AND provider_ref IS NOT NULL AND updated_at >= ? AND updated_at <= ?`,
		provider, string(AttemptSucceeded), from, to)
	if err != nil {
		return fmt.Errorf("checkout: succeeded attempts of %s: %w", provider, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref, cur string
		var amount int64
		if err := rows.Scan(&ref, &amount, &cur); err != nil {
			return fmt.Errorf("checkout: succeeded attempts of %s: %w", provider, err)
		}
		if err := fn(ref, paygate.New(amount, paygate.Currency(cur))); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AttemptsByRefs returns the attempts of a provider's payments, by
// reference (refs without an attempt are absent), in one query.
func (s *Service) AttemptsByRefs(ctx context.Context, tx *storage.Tx, provider string, refs []string) (map[string]Attempt, error) {
	out := make(map[string]Attempt, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(refs)+1)
	args = append(args, provider)
	for _, r := range refs {
		args = append(args, r)
	}
	var rows []attemptRow
	if err := tx.Select(ctx, &rows, `SELECT `+attemptColumns+` FROM payment_attempts WHERE provider = ? AND provider_ref IN (`+
		storage.Params(len(refs))+`)`, args...); err != nil {
		return nil, fmt.Errorf("checkout: attempts of %s payments: %w", provider, err)
	}
	for _, r := range rows {
		a, err := r.attempt()
		if err != nil {
			return nil, err
		}
		out[a.ProviderRef] = a
	}
	return out, nil
}
