package checkout

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/statetest"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// sorted returns a sorted copy of a status list, as strings.
func sorted[S ~string](list []S) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	slices.Sort(out)
	return out
}

type movesTest struct {
	s  *Service
	db *storage.DB
}

func newMovesTest(t *testing.T, b storagetest.Backend) movesTest {
	t.Helper()
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations(), Migrations()}})
	s, err := New(context.Background(), Config{DB: db, Ledger: ledger.New(db), PublicURL: "http://127.0.0.1:1",
		Providers: map[string]providers.Provider{providers.Stripe: &fakeProvider{name: providers.Stripe}}})
	if err != nil {
		t.Fatal(err)
	}
	return movesTest{s: s, db: db}
}

// order creates a payment order and puts it in status st, as a test
// fixture (not through the door).
func (mt movesTest) order(t *testing.T, st Status) PaymentOrder {
	t.Helper()
	ctx := context.Background()
	po, err := mt.s.Create(ctx, NewPaymentOrder{BuyerID: "U1", Currency: paygate.EUR,
		Items: []NewItem{{SellerID: "S1", Amount: paygate.New(1000, paygate.EUR), Description: "Shield"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = mt.db.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE payment_orders SET status = ? WHERE number = ?`, string(st), string(po.Number))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	po.Status = st
	return po
}

// attempt inserts the n-th attempt of po, in status st, and reads it.
func (mt movesTest) attempt(t *testing.T, po PaymentOrder, st AttemptStatus, n int) Attempt {
	t.Helper()
	ctx := context.Background()
	var a Attempt
	err := mt.db.Update(ctx, func(tx *storage.Tx) error {
		a = Attempt{ID: "att_" + strconv.Itoa(n), PaymentOrder: po.Number, Method: providers.IDEAL, Provider: providers.Stripe,
			Amount: po.Amount, Status: st, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		if err := insertAttempt(ctx, tx, a, n); err != nil {
			return err
		}
		var err error
		a, err = getAttempt(ctx, tx, "id = ?", a.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// stored reads attempt id as stored.
func (mt movesTest) stored(t *testing.T, id string) Attempt {
	t.Helper()
	var a Attempt
	err := mt.db.Update(context.Background(), func(tx *storage.Tx) error { // getAttempt locks
		var err error
		a, err = getAttempt(context.Background(), tx, "id = ?", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// eventsOf returns the types of the events of a resource, oldest first.
func (mt movesTest) eventsOf(t *testing.T, resource string) []string {
	t.Helper()
	var out []string
	err := mt.db.View(context.Background(), func(tx *storage.Tx) error {
		return tx.Select(context.Background(), &out, `SELECT type FROM events WHERE resource = ? ORDER BY sequence`, resource)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOrderMoves walks every move of a payment order's status, from every
// status to every status: moveOrder makes the moves orderMoves allows,
// with their event (orderEvents), and refuses every other with ECONFLICT,
// changing nothing and writing no event.
func TestOrderMoves(t *testing.T) {
	if got, want := sorted(orderStatuses), statetest.Declared(t, "Status"); !slices.Equal(got, want) {
		t.Fatalf("orderStatuses = %v, want the Status constants %v", got, want)
	}
	for _, st := range orderStatuses {
		if _, ok := orderMoves[st]; !ok {
			t.Errorf("status %s has no entry in orderMoves", st)
		}
		if st.Final() != (len(orderMoves[st]) == 0) {
			t.Errorf("status %s: Final() = %v, but it has moves %v", st, st.Final(), orderMoves[st])
		}
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			mt := newMovesTest(t, b)
			ctx := context.Background()
			for _, from := range orderStatuses {
				for _, to := range orderStatuses {
					po := mt.order(t, from)
					var moveErr error
					err := mt.db.Update(ctx, func(tx *storage.Tx) error {
						_, moveErr = mt.s.moveOrder(ctx, tx, po.Number, orderMove{to: to, paidAttempt: "att_1"})
						return nil // committed either way: a refusal must have changed nothing
					})
					if err != nil {
						t.Fatal(err)
					}
					got, err := mt.s.Get(ctx, po.Number)
					if err != nil {
						t.Fatal(err)
					}
					evs := mt.eventsOf(t, string(po.Number))
					if !from.CanMoveTo(to) {
						if !errors.Is(moveErr, errRefused) || paygate.ErrorCode(moveErr) != paygate.ECONFLICT {
							t.Errorf("%s → %s: err = %v, want a refusal (ECONFLICT)", from, to, moveErr)
						}
						if got.Status != from || got.PaidAttempt != "" || len(evs) != 0 {
							t.Errorf("%s → %s refused: stored %s (paid attempt %q), events %v; want %s, none", from, to, got.Status, got.PaidAttempt, evs, from)
						}
						continue
					}
					var want []string
					if typ, ok := orderEvents[to]; ok {
						want = []string{string(typ)}
					}
					if moveErr != nil || got.Status != to || !slices.Equal(evs, want) {
						t.Errorf("%s → %s: err %v, stored %s, events %v; want nil, %s, %v", from, to, moveErr, got.Status, evs, to, want)
					}
					if (got.PaidAttempt == "att_1") != (to == Paid) {
						t.Errorf("%s → %s: paid attempt %q", from, to, got.PaidAttempt)
					}
				}
			}
			err := mt.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := mt.s.moveOrder(ctx, tx, "P00000000", orderMove{to: Paid})
				return err
			})
			if paygate.ErrorCode(err) != paygate.ENOTFOUND {
				t.Errorf("moving an order that does not exist: err = %v, want ENOTFOUND", err)
			}
		})
	}
}

// TestAttemptMoves walks every move of an attempt's status, from every
// status to every status: moveAttempt makes the moves attemptMoves allows
// (and staying, which writes the other fields) and refuses every other
// with ECONFLICT, changing nothing; an attempt moved since it was read is
// refused too. Attempts have no events.
func TestAttemptMoves(t *testing.T) {
	if got, want := sorted(attemptStatuses), statetest.Declared(t, "AttemptStatus"); !slices.Equal(got, want) {
		t.Fatalf("attemptStatuses = %v, want the AttemptStatus constants %v", got, want)
	}
	for _, st := range attemptStatuses {
		if _, ok := attemptMoves[st]; !ok {
			t.Errorf("status %s has no entry in attemptMoves", st)
		}
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			mt := newMovesTest(t, b)
			ctx := context.Background()
			po := mt.order(t, Pending)
			n := 0
			attempt := func(st AttemptStatus) Attempt { n++; return mt.attempt(t, po, st, n) }
			stored := func(id string) Attempt { return mt.stored(t, id) }
			before := mt.eventsOf(t, string(po.Number))
			for _, from := range attemptStatuses {
				for _, to := range attemptStatuses {
					a := attempt(from)
					a.ProviderRef, a.FailureReason = "pi_"+a.ID, "moved"
					var moveErr error
					err := mt.db.Update(ctx, func(tx *storage.Tx) error {
						_, moveErr = moveAttempt(ctx, tx, a, to)
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					got := stored(a.ID)
					if !from.CanMoveTo(to) {
						if !errors.Is(moveErr, errRefused) || paygate.ErrorCode(moveErr) != paygate.ECONFLICT {
							t.Errorf("%s → %s: err = %v, want a refusal (ECONFLICT)", from, to, moveErr)
						}
						if got.Status != from || got.ProviderRef != "" || got.FailureReason != "" {
							t.Errorf("%s → %s refused: stored %s %q %q; want %s unchanged", from, to, got.Status, got.ProviderRef, got.FailureReason, from)
						}
						continue
					}
					if moveErr != nil || got.Status != to || got.ProviderRef != a.ProviderRef || got.FailureReason != "moved" {
						t.Errorf("%s → %s: err %v, stored %s %q %q; want nil, %s with its fields", from, to, moveErr, got.Status, got.ProviderRef, got.FailureReason, to)
					}
				}
			}
			// An attempt moved since it was read is not moved again.
			a := attempt(AttemptPending)
			err := mt.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = ? WHERE id = ?`, string(AttemptProcessing), a.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			err = mt.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := moveAttempt(ctx, tx, a, AttemptCanceled)
				return err
			})
			if !errors.Is(err, errRefused) {
				t.Errorf("moving an attempt moved meanwhile: err = %v, want a refusal", err)
			}
			if got := stored(a.ID); got.Status != AttemptProcessing {
				t.Errorf("an attempt moved meanwhile: stored %s, want %s", got.Status, AttemptProcessing)
			}
			if after := mt.eventsOf(t, string(po.Number)); !slices.Equal(after, before) {
				t.Errorf("attempt moves wrote events: %v, before %v", after, before)
			}
		})
	}
}
