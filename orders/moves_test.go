package orders

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/statetest"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// movesFixture makes and reads the sales orders of TestMoves.
type movesFixture struct {
	db *storage.DB
	n  int
}

// order creates a sales order and puts it in status st, as a test fixture
// (not through the door).
func (f *movesFixture) order(t *testing.T, st Status) paygate.SalesOrderNumber {
	t.Helper()
	ctx := context.Background()
	f.n++
	var k paygate.SalesOrderNumber
	err := f.db.Update(ctx, func(tx *storage.Tx) error {
		sos, err := Create(ctx, tx, nil, paygate.PaymentOrderNumber(fmt.Sprintf("P%08d", f.n)), "B1",
			[]New{{SellerID: "S1", Amount: paygate.New(1000, paygate.EUR), Description: "Shield"}})
		if err != nil {
			return err
		}
		k = sos[0].Number
		_, err = tx.Exec(ctx, `UPDATE sales_orders SET status = ? WHERE number = ?`, string(st), string(k))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// stored reads sales order k as stored, with the types of its events.
func (f *movesFixture) stored(t *testing.T, k paygate.SalesOrderNumber) (SalesOrder, []string) {
	t.Helper()
	ctx := context.Background()
	var so SalesOrder
	var evs []string
	err := f.db.View(ctx, func(tx *storage.Tx) error {
		var err error
		if so, err = Get(ctx, tx, k); err != nil {
			return err
		}
		return tx.Select(ctx, &evs, `SELECT type FROM events WHERE resource = ? ORDER BY sequence`, string(k))
	})
	if err != nil {
		t.Fatal(err)
	}
	return so, evs
}

// TestMoves walks every move of a sales order's status, from every status
// to every status: transition makes the moves the table allows, with one
// history entry and the move's event (none for a cancellation), and
// refuses every other with ECONFLICT, changing nothing and writing no
// event; a sales order moved since it was read is refused too.
func TestMoves(t *testing.T) {
	var listed []string
	for _, st := range statuses {
		listed = append(listed, string(st))
		if _, ok := moves[st]; !ok {
			t.Errorf("status %s has no entry in moves", st)
		}
	}
	slices.Sort(listed)
	if want := statetest.Declared(t, "Status"); !slices.Equal(listed, want) {
		t.Fatalf("statuses = %v, want the Status constants %v", listed, want)
	}
	opts := storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := &movesFixture{db: db}
		order := func(st Status) paygate.SalesOrderNumber { return f.order(t, st) }
		var got SalesOrder
		var evs []string
		stored := func(k paygate.SalesOrderNumber) { got, evs = f.stored(t, k) }
		st := step{action: "walk", actor: ActorSystem, reason: "a walk"}
		for _, from := range statuses {
			for _, to := range statuses {
				k := order(from)
				stored(k)
				history := len(got.History)
				var moveErr error
				err := db.Update(ctx, func(tx *storage.Tx) error {
					so, err := get(ctx, tx, k, true)
					if err != nil {
						return err
					}
					_, moveErr = transition(ctx, tx, []SalesOrder{so}, to, st)
					return nil // committed either way: a refusal must have changed nothing
				})
				if err != nil {
					t.Fatal(err)
				}
				stored(k)
				if !from.CanMoveTo(to) {
					if paygate.ErrorCode(moveErr) != paygate.ECONFLICT {
						t.Errorf("%s → %s: err = %v, want ECONFLICT", from, to, moveErr)
					}
					if got.Status != from || len(got.History) != history || len(evs) != 0 {
						t.Errorf("%s → %s refused: stored %s, %d history entries (had %d), events %v; want it unchanged", from, to, got.Status, len(got.History), history, evs)
					}
					continue
				}
				var want []string
				for _, typ := range eventTypes(to, st.action) {
					want = append(want, string(typ))
				}
				if moveErr != nil || got.Status != to || len(got.History) != history+1 || !slices.Equal(evs, want) {
					t.Errorf("%s → %s: err %v, stored %s, %d history entries (had %d), events %v; want nil, %s, one more, %v",
						from, to, moveErr, got.Status, len(got.History), history, evs, to, want)
				}
				if len(want) > 1 {
					t.Errorf("%s → %s wrote %d events, want at most one", from, to, len(want))
				}
			}
		}
		// A sales order moved since it was read is not moved again.
		k := order(WaitingDelivery)
		err := db.Update(ctx, func(tx *storage.Tx) error {
			so, err := get(ctx, tx, k, true)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE sales_orders SET status = ? WHERE number = ?`, string(Refunding), string(k)); err != nil {
				return err
			}
			_, err = transition(ctx, tx, []SalesOrder{so}, WaitingConfirmation, st)
			return err
		})
		if paygate.ErrorCode(err) != paygate.ECONFLICT {
			t.Errorf("moving a sales order moved meanwhile: err = %v, want ECONFLICT", err)
		}
	})
}

// TestTimersFollowMoves checks that every timer makes a move the table
// allows, so that the door never refuses what a due timer does.
func TestTimersFollowMoves(t *testing.T) {
	for _, tm := range timers() {
		to := Completed
		if tm.refund {
			to = Refunded
		}
		if !tm.status.CanMoveTo(to) {
			t.Errorf("the timer of %s moves it to %s, but the table refuses it", tm.status, to)
		}
	}
}
