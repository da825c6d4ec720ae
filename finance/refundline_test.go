package finance_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// options is the schema the finance tests need.
func options() storage.Options {
	return storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), finance.Migrations()}}
}

// refundRow is a refund to source as the test records it.
type refundRow struct {
	id, provider, payment string
	amount                paygate.Money
	status                string
	age                   time.Duration // how long before now it was created
}

// line is one refund line given to MatchRefundLine and what it must make
// of it.
type line struct {
	provider, id, payment string
	gross                 paygate.Money
	matched               bool
	refund                string // the refund matched (or compared with); "" for none
	detail                string // a piece of the detail; "" for none at all
}

// TestMatchRefundLine walks settlement report refund lines through
// MatchRefundLine against refunds paygate holds in each status: which
// refund a line matches, which it only compares with, that a refund
// accounts for one line only (a line seen again matches it again, another
// line does not), and why the others do not match.
func TestMatchRefundLine(t *testing.T) {
	eur := func(minor int64) paygate.Money { return paygate.New(minor, "EUR") }
	cases := []struct {
		name    string
		refunds []refundRow
		lines   []line // in order, in one transaction each
	}{
		{
			name: "a line without a payment reference",
			lines: []line{
				{provider: "stripe", id: "txn_1", gross: eur(-500), detail: "without a payment reference"},
			},
		},
		{
			name:    "a line of no amount",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundSucceeded}},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(0), detail: "of no amount"},
			},
		},
		{
			name: "each refund that reached paygate's ledger matches a paid-out line",
			refunds: []refundRow{
				{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundRequested},
				{id: "r2", provider: "stripe", payment: "pi_2", amount: eur(500), status: finance.RefundPending},
				{id: "r3", provider: "stripe", payment: "pi_3", amount: eur(500), status: finance.RefundSucceeded},
			},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-500), matched: true, refund: "r1"},
				{provider: "stripe", id: "txn_2", payment: "pi_2", gross: eur(-500), matched: true, refund: "r2"},
				{provider: "stripe", id: "txn_3", payment: "pi_3", gross: eur(-500), matched: true, refund: "r3"},
			},
		},
		{
			name:    "a line seen again matches its refund again; another line of the same refund does not",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundSucceeded}},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-500), matched: true, refund: "r1"},
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-500), matched: true, refund: "r1"},
				{provider: "stripe", id: "txn_2", payment: "pi_1", gross: eur(-500), detail: "another line's already"},
			},
		},
		{
			name: "two refunds of one amount are claimed oldest first, one line each",
			refunds: []refundRow{
				{id: "r_new", provider: "stripe", payment: "pi_1", amount: eur(300), status: finance.RefundSucceeded, age: time.Minute},
				{id: "r_old", provider: "stripe", payment: "pi_1", amount: eur(300), status: finance.RefundSucceeded, age: time.Hour},
			},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-300), matched: true, refund: "r_old"},
				{provider: "stripe", id: "txn_2", payment: "pi_1", gross: eur(-300), matched: true, refund: "r_new"},
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-300), matched: true, refund: "r_old"},
				{provider: "stripe", id: "txn_3", payment: "pi_1", gross: eur(-300), detail: "another line's already"},
			},
		},
		{
			name: "a refund that paygate holds as succeeded goes before a failed one",
			refunds: []refundRow{
				{id: "r_failed", provider: "stripe", payment: "pi_1", amount: eur(300), status: finance.RefundFailed, age: time.Hour},
				{id: "r_ok", provider: "stripe", payment: "pi_1", amount: eur(300), status: finance.RefundSucceeded, age: time.Minute},
			},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-300), matched: true, refund: "r_ok"},
			},
		},
		{
			name:    "a failed refund paid out without its return line is a mismatch",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundFailed}},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-500), refund: "r1", detail: "which paygate holds as failed"},
			},
		},
		{
			name:    "a failed refund matches its return line, and then the line that paid it out",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundFailed}},
			lines: []line{
				{provider: "stripe", id: "txn_back", payment: "pi_1", gross: eur(500), matched: true, refund: "r1"},
				{provider: "stripe", id: "txn_out", payment: "pi_1", gross: eur(-500), matched: true, refund: "r1"},
				{provider: "stripe", id: "txn_back2", payment: "pi_1", gross: eur(500), detail: "gave back"},
			},
		},
		{
			name:    "a line giving back a refund paygate does not hold as failed",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundSucceeded}},
			lines: []line{
				{provider: "stripe", id: "txn_back", payment: "pi_1", gross: eur(500), detail: "holds no failed refund"},
			},
		},
		{
			name:    "another amount, currency or provider, or a refund paygate did not make",
			refunds: []refundRow{{id: "r1", provider: "stripe", payment: "pi_1", amount: eur(500), status: finance.RefundSucceeded}},
			lines: []line{
				{provider: "stripe", id: "txn_1", payment: "pi_1", gross: eur(-499), detail: "is of 4.99 EUR"},
				{provider: "stripe", id: "txn_2", payment: "pi_1", gross: paygate.New(-500, "USD"), detail: "no refund of paygate's of payment"},
				{provider: "rapyd", id: "txn_3", payment: "pi_1", gross: eur(-500), detail: "paygate made no refund"},
				{provider: "stripe", id: "txn_4", payment: "pi_other", gross: eur(-500), detail: "paygate made no refund"},
				{provider: "stripe", id: "txn_5", payment: "pi_1", gross: eur(-500), matched: true, refund: "r1"},
			},
		},
	}
	storagetest.Run(t, options(), func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// Each case has payments and refunds of its own.
				ns := func(s string) string {
					if s == "" {
						return ""
					}
					return fmt.Sprintf("c%d_%s", i, s)
				}
				err := db.Update(ctx, func(tx *storage.Tx) error {
					for _, r := range c.refunds {
						at := tx.Now().Add(-r.age)
						if _, err := tx.Exec(ctx, `INSERT INTO source_refunds (id, user_id, attempt, provider, payment_ref, amount, currency, status,
							created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
							ns(r.id), "u1", ns("A1"), r.provider, ns(r.payment), r.amount.Minor, string(r.amount.Currency), r.status, at, at); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range c.lines {
					var got finance.RefundLineMatch
					err := db.Update(ctx, func(tx *storage.Tx) (err error) {
						got, err = finance.MatchRefundLine(ctx, tx, l.provider, providers.ReportLine{
							ID: ns(l.id), PaymentRef: ns(l.payment), Category: providers.ReportRefund, Gross: l.gross, Net: l.gross,
						})
						return err
					})
					if err != nil {
						t.Fatalf("line %s: %v", l.id, err)
					}
					what := fmt.Sprintf("line %s (%s of %s at %s)", l.id, l.gross, l.payment, l.provider)
					if got.Matched != l.matched || got.Refund != ns(l.refund) {
						t.Errorf("%s: matched %t to %q, want %t to %q (%s)", what, got.Matched, got.Refund, l.matched, ns(l.refund), got.Detail)
					}
					switch {
					case l.detail == "" && got.Detail != "":
						t.Errorf("%s: detail %q, want none", what, got.Detail)
					case !strings.Contains(got.Detail, l.detail):
						t.Errorf("%s: detail %q, want it to say %q", what, got.Detail, l.detail)
					}
				}
			})
		}
	})
}

// TestApplyRefundEvent gives ApplyRefundEvent refund webhooks of every kind
// against refunds in every status: an event that agrees with its refund
// moves it to its final status (a failed one gives the buyer's balance
// back, once), a final refund never changes, an event that names a refund
// but disagrees with it changes nothing and opens an item, and an event
// about no refund of paygate's is not ours.
func TestApplyRefundEvent(t *testing.T) {
	eur := func(minor int64) paygate.Money { return paygate.New(minor, "EUR") }
	own := finance.RefundPayment{Provider: "stripe", PaymentRef: "pi_1", PaymentOrder: "P1", Attempt: "A1"}
	cases := []struct {
		name   string
		status string // the refund's status before; "" for no refund
		from   finance.RefundPayment
		typ    providers.EventType
		refund string // the refund the event names; "r1" is the test's
		amount paygate.Money
		want   finance.RefundEventResult
		after  string // the refund's status after
		given  int64  // what went back to the buyer's balance
		items  int    // items opened
	}{
		{"a refund succeeded", finance.RefundPending, own, providers.EventRefunded, "r1", eur(500), finance.RefundEventApplied, finance.RefundSucceeded, 0, 0},
		{"a requested refund succeeded", finance.RefundRequested, own, providers.EventRefunded, "r1", eur(500), finance.RefundEventApplied, finance.RefundSucceeded, 0, 0},
		{"a refund failed", finance.RefundPending, own, providers.EventRefundFailed, "r1", eur(500), finance.RefundEventApplied, finance.RefundFailed, 500, 0},
		{"a succeeded refund never fails", finance.RefundSucceeded, own, providers.EventRefundFailed, "r1", eur(500), finance.RefundEventApplied, finance.RefundSucceeded, 0, 0},
		{"a failed refund never succeeds", finance.RefundFailed, own, providers.EventRefunded, "r1", eur(500), finance.RefundEventApplied, finance.RefundFailed, 0, 0},
		{"a failed refund fails once", finance.RefundFailed, own, providers.EventRefundFailed, "r1", eur(500), finance.RefundEventApplied, finance.RefundFailed, 0, 0},
		{"from another provider", finance.RefundPending, finance.RefundPayment{Provider: "rapyd", PaymentRef: "pi_1"}, providers.EventRefunded, "r1", eur(500), finance.RefundEventMismatch, finance.RefundPending, 0, 1},
		{"about another payment", finance.RefundPending, finance.RefundPayment{Provider: "stripe", PaymentRef: "pi_2"}, providers.EventRefundFailed, "r1", eur(500), finance.RefundEventMismatch, finance.RefundPending, 0, 1},
		{"of another amount", finance.RefundPending, own, providers.EventRefundFailed, "r1", eur(501), finance.RefundEventMismatch, finance.RefundPending, 0, 1},
		{"of another currency", finance.RefundPending, own, providers.EventRefunded, "r1", paygate.New(500, "USD"), finance.RefundEventMismatch, finance.RefundPending, 0, 1},
		{"of no amount read", finance.RefundPending, own, providers.EventRefunded, "r1", paygate.Money{}, finance.RefundEventMismatch, finance.RefundPending, 0, 1},
		{"naming no refund", finance.RefundPending, own, providers.EventRefunded, "", eur(500), finance.RefundEventNotOurs, finance.RefundPending, 0, 0},
		{"naming a refund paygate does not have", finance.RefundPending, own, providers.EventRefunded, "r_unknown", eur(500), finance.RefundEventNotOurs, finance.RefundPending, 0, 0},
	}
	storagetest.Run(t, options(), func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id, user := fmt.Sprintf("c%d_r1", i), fmt.Sprintf("u%d", i)
				named := ""
				if c.refund != "" {
					named = fmt.Sprintf("c%d_%s", i, c.refund)
				}
				balance := func(tx *storage.Tx) int64 {
					b, err := l.Balance(ctx, tx, ledger.UserBalance(user), "EUR")
					if err != nil {
						t.Fatal(err)
					}
					return b.Credits - b.Debits
				}
				ev := providers.Event{ID: fmt.Sprintf("evt_%d", i), Type: c.typ, ProviderType: string(c.typ), Refund: named, Amount: c.amount, FailureReason: "declined"}
				// The event is applied twice: a provider sends again what it
				// is not sure arrived, and the second changes nothing more.
				for try := 0; try < 2; try++ {
					err := db.Update(ctx, func(tx *storage.Tx) error {
						if try == 0 {
							if _, err := tx.Exec(ctx, `INSERT INTO source_refunds (id, user_id, attempt, provider, payment_ref, amount, currency, status,
								created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
								id, user, "A1", "stripe", "pi_1", 500, "EUR", c.status, tx.Now(), tx.Now()); err != nil {
								return err
							}
						}
						got, err := finance.ApplyRefundEvent(ctx, tx, l, c.from, ev)
						if err != nil {
							return err
						}
						if got != c.want {
							t.Errorf("try %d: result %d, want %d", try, got, c.want)
						}
						var status string
						if err := tx.Get(ctx, &status, `SELECT status FROM source_refunds WHERE id = ?`, id); err != nil {
							return err
						}
						if status != c.after {
							t.Errorf("try %d: the refund is %s, want %s", try, status, c.after)
						}
						if got := balance(tx); got != c.given {
							t.Errorf("try %d: %d went back to the balance, want %d", try, got, c.given)
						}
						var items int
						if err := tx.Get(ctx, &items, `SELECT COUNT(*) FROM finance_items WHERE kind = ? AND reference = ?`,
							string(finance.MismatchedRefund), c.from.Provider+":"+ev.ID); err != nil {
							return err
						}
						if items != c.items {
							t.Errorf("try %d: %d items opened, want %d", try, items, c.items)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	})
}
