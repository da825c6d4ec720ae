// Package finance is what finance staff see: the items that need a person
// (money that arrived but did not fit an order), and the users' balances and
// statements. It owns the finance_items table; balances are read from the
// ledger.
package finance

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "finance", FS: migrationFiles, Dir: "migrations"}
}

// Kind is what an item is about.
type Kind string

// The kinds of items.
const (
	LatePayment    Kind = "late_payment"    // paid after the order was paid, expired or canceled: credited to the buyer's balance
	AmountMismatch Kind = "amount_mismatch" // paid another amount or currency: held in platform:suspense
	UnknownPayment Kind = "unknown_payment" // an event for a payment paygate never created
	ProviderRefund Kind = "provider_refund" // a refund the provider reports
	Dispute        Kind = "dispute"         // a payer disputed a payment with their bank
	UnmatchedLine  Kind = "unmatched_line"  // a settlement report line that does not match the ledger

	// MismatchedRefund: a refund event or settlement report line that names
	// (or looks like) one of paygate's refunds but disagrees with it
	// (provider, payment, amount, currency or status); nothing was changed.
	MismatchedRefund Kind = "refund_mismatch"
)

// Status of an item.
type Status string

// The statuses of an item.
const (
	Open     Status = "open"
	Resolved Status = "resolved"
)

// Item is one thing for finance staff to look at.
type Item struct {
	ID           int64
	Kind         Kind
	Reference    string
	PaymentOrder string
	Attempt      string
	Provider     string
	// PaymentRef is the provider's payment the item is about ("" when there
	// is none, or for items opened before the column existed).
	PaymentRef  string
	Amount      paygate.Money
	Description string
	Status      Status
	CreatedAt   time.Time
}

// OpenItem records an item in tx, once per kind and reference: opening the
// same item again (a replayed event) changes nothing.
func OpenItem(ctx context.Context, tx *storage.Tx, it Item) error {
	if it.Reference == "" {
		return fmt.Errorf("finance: item of kind %s without a reference", it.Kind)
	}
	it.PaymentRef, it.Description, it.Status, it.CreatedAt = paygate.Cut(it.PaymentRef, 255), paygate.Cut(it.Description, 500), Open, tx.Now()
	err := tx.Get(ctx, &it.ID, `INSERT INTO finance_items (kind, reference, payment_order, attempt, provider, payment_ref, amount, currency, description, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, reference) DO NOTHING RETURNING id`,
		string(it.Kind), it.Reference, it.PaymentOrder, it.Attempt, it.Provider, it.PaymentRef, it.Amount.Minor, string(it.Amount.Currency),
		it.Description, string(Open), it.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // opened before: its event was written then
	}
	if err != nil {
		return fmt.Errorf("finance: open %s item %s: %w", it.Kind, it.Reference, err)
	}
	// Finance staff are told, with the item as GET /v1/finance/items
	// shows it.
	_, err = events.Append(ctx, tx, events.FinanceItemOpened, "fi_"+strconv.FormatInt(it.ID, 10), itemJSONOf(it))
	return err
}

// itemColumns are the columns of finance_items an itemRow reads.
const itemColumns = `id, kind, reference, payment_order, attempt, provider, payment_ref, amount, currency, description, status, created_at`

// itemRow is a row of finance_items.
type itemRow struct {
	ID           int64     `db:"id"`
	Kind         string    `db:"kind"`
	Reference    string    `db:"reference"`
	PaymentOrder string    `db:"payment_order"`
	Attempt      string    `db:"attempt"`
	Provider     string    `db:"provider"`
	PaymentRef   string    `db:"payment_ref"`
	Amount       int64     `db:"amount"`
	Currency     string    `db:"currency"`
	Description  string    `db:"description"`
	Status       string    `db:"status"`
	CreatedAt    time.Time `db:"created_at"`
}

func (r itemRow) item() Item {
	return Item{ID: r.ID, Kind: Kind(r.Kind), Reference: r.Reference, PaymentOrder: r.PaymentOrder, Attempt: r.Attempt,
		Provider: r.Provider, PaymentRef: r.PaymentRef, Amount: paygate.New(r.Amount, paygate.Currency(r.Currency)),
		Description: r.Description, Status: Status(r.Status), CreatedAt: r.CreatedAt.UTC()}
}

// Items lists items of a status ("" for all), oldest first, after the id
// cursor (0 for the first page), at most limit.
func Items(ctx context.Context, tx *storage.Tx, status Status, after int64, limit int) ([]Item, error) {
	q := `SELECT ` + itemColumns + ` FROM finance_items WHERE id > ?`
	args := []any{after}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, string(status))
	}
	q += ` ORDER BY id LIMIT ` + strconv.Itoa(limit)
	var rows []itemRow
	if err := tx.Select(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("finance: list items: %w", err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}
