package finance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/statetest"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestRefundMoves walks every move of a source refund's status, from
// every status to every status: moveRefund makes the moves refundMoves
// allows (a failure with its balance reversal) and refuses every other
// with ECONFLICT, changing nothing. Source refunds have no events.
func TestRefundMoves(t *testing.T) {
	listed := slices.Clone(refundStatuses)
	slices.Sort(listed)
	if want := statetest.Declared(t, "RefundStatus"); !slices.Equal(listed, want) {
		t.Fatalf("refundStatuses = %v, want the RefundStatus constants %v", listed, want)
	}
	for _, st := range refundStatuses {
		if _, ok := refundMoves[st]; !ok {
			t.Errorf("status %s has no entry in refundMoves", st)
		}
	}
	opts := storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		n := 0
		for _, from := range refundStatuses {
			for _, to := range refundStatuses {
				n++
				id := fmt.Sprintf("rf_%d", n)
				var moveErr error
				err := db.Update(ctx, func(tx *storage.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO source_refunds (id, user_id, attempt, provider, payment_ref, amount, currency, status,
						created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
						id, "u1", "A1", "stripe", "pi_"+id, 500, "EUR", from, tx.Now(), tx.Now()); err != nil {
						return err
					}
					moveErr = moveRefund(ctx, tx, l, id, to, "re_"+id, "")
					return nil // committed either way: a refusal must have changed nothing
				})
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					Status   string `db:"status"`
					Ref      string `db:"provider_refund"`
					Reversed int    `db:"reversed"`
					Events   int    `db:"events"`
				}
				err = db.View(ctx, func(tx *storage.Tx) error {
					return tx.Get(ctx, &got, `SELECT status, COALESCE(provider_refund, '') AS provider_refund,
						(SELECT COUNT(*) FROM ledger_transactions WHERE idempotency_key = ?) AS reversed,
						(SELECT COUNT(*) FROM events WHERE resource = ?) AS events
						FROM source_refunds WHERE id = ?`, "refund:"+id+":reversed", id, id)
				})
				if err != nil {
					t.Fatal(err)
				}
				if got.Events != 0 {
					t.Errorf("%s → %s wrote %d events of the refund, want none", from, to, got.Events)
				}
				if !refundCanMove(from, to) {
					if !errors.Is(moveErr, errRefused) || paygate.ErrorCode(moveErr) != paygate.ECONFLICT {
						t.Errorf("%s → %s: err = %v, want a refusal (ECONFLICT)", from, to, moveErr)
					}
					if got.Status != from || got.Ref != "" || got.Reversed != 0 {
						t.Errorf("%s → %s refused: stored %s %q, %d reversals; want %s unchanged", from, to, got.Status, got.Ref, got.Reversed, from)
					}
					continue
				}
				wantReversed := 0
				if to == RefundFailed {
					wantReversed = 1
				}
				if moveErr != nil || got.Status != to || got.Ref != "re_"+id || got.Reversed != wantReversed {
					t.Errorf("%s → %s: err %v, stored %s %q, %d reversals; want nil, %s %q, %d", from, to, moveErr, got.Status, got.Ref, got.Reversed, to, "re_"+id, wantReversed)
				}
			}
		}
		err := db.Update(ctx, func(tx *storage.Tx) error { return moveRefund(ctx, tx, l, "rf_none", RefundSucceeded, "", "") })
		if paygate.ErrorCode(err) != paygate.ENOTFOUND {
			t.Errorf("moving a refund that does not exist: err = %v, want ENOTFOUND", err)
		}
	})
}

// TestPayoutRecordedOnce: a manual payout is no state machine (it has no
// status): it is recorded once, and a second request with its key changes
// nothing, neither the payouts nor the balance.
func TestPayoutRecordedOnce(t *testing.T) {
	opts := storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), Migrations(), idempotency.Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := l.Post(ctx, tx, ledger.Transfer("fund:u1", "funds", ledger.ProviderClearing("stripe"), ledger.UserBalance("u1"), paygate.New(1000, paygate.EUR)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		r := &Refunds{DB: db, Ledger: l}
		first, err := r.ManualPayout(ctx, "key-1", "u1", paygate.New(600, paygate.EUR), "Maria Silva", "BANK-1")
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.ManualPayout(ctx, "key-1", "u1", paygate.New(600, paygate.EUR), "Maria Silva", "BANK-1")
		if err != nil || again != first {
			t.Fatalf("second payout with the key = %+v, %v; want the first %+v", again, err, first)
		}
		var payouts int
		var balance paygate.Money
		err = db.View(ctx, func(tx *storage.Tx) error {
			if err := tx.Get(ctx, &payouts, `SELECT COUNT(*) FROM manual_payouts WHERE user_id = ?`, "u1"); err != nil {
				return err
			}
			b, err := l.Balance(ctx, tx, ledger.UserBalance("u1"), paygate.EUR)
			balance = b.Normal()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if payouts != 1 || balance.Minor != 400 {
			t.Errorf("after a payout asked twice: %d payouts, balance %s; want 1, 4.00 EUR", payouts, balance)
		}
	})
}
