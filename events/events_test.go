package events_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func open(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{events.Migrations()}}, fn)
}

func appendOne(t *testing.T, db *storage.DB, typ events.Type, resource string, data any) events.Event {
	t.Helper()
	var ev events.Event
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		var err error
		ev, err = events.Append(context.Background(), tx, typ, resource, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The sequence is given at commit: the event as stored has it.
	stored, err := (&events.Store{DB: db}).Get(context.Background(), ev.ID, "finance")
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// TestAppendSequencesPerResource: each resource numbers its events 1, 2, 3
// without gaps, also when a transaction that took a number rolls back; the
// events API lists them in order, with the data as written.
func TestAppendSequencesPerResource(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		appendOne(t, db, events.SalesOrderPaid, "K1000001", map[string]string{"status": "paid"})
		appendOne(t, db, events.SalesOrderPaid, "K1000002", map[string]string{"status": "paid"})
		// A transaction that fails after its event rolls the number back.
		err := db.Update(ctx, func(tx *storage.Tx) error {
			if _, err := events.Append(ctx, tx, events.SalesOrderDelivered, "K1000001", nil); err != nil {
				return err
			}
			return fmt.Errorf("the change failed")
		})
		if err == nil {
			t.Fatal("the failing transaction committed")
		}
		appendOne(t, db, events.SalesOrderDelivered, "K1000001", map[string]string{"status": "delivered"})
		appendOne(t, db, events.FinanceItemOpened, "fi_1", map[string]string{"kind": "late_payment"})

		s := &events.Store{DB: db}
		got, next, err := s.List(ctx, events.Filter{Role: "finance", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			typ      events.Type
			resource string
			seq      int64
		}{{events.SalesOrderPaid, "K1000001", 1}, {events.SalesOrderPaid, "K1000002", 1}, {events.SalesOrderDelivered, "K1000001", 2}, {events.FinanceItemOpened, "fi_1", 1}}
		if len(got) != len(want) {
			t.Fatalf("listed %d events, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			if got[i].Type != w.typ || got[i].Resource != w.resource || got[i].Sequence != w.seq || !events.ValidID(got[i].ID) {
				t.Errorf("event %d = %s %s #%d (%s), want %s %s #%d", i, got[i].Type, got[i].Resource, got[i].Sequence, got[i].ID, w.typ, w.resource, w.seq)
			}
		}
		if string(got[2].Data) != `{"status":"delivered"}` {
			t.Errorf("data = %s", got[2].Data)
		}
		// The marketplace does not see finance items; a filter by resource
		// and by type; the cursor pages on.
		mk, _, _ := s.List(ctx, events.Filter{Role: "marketplace", Limit: 100})
		if len(mk) != 3 {
			t.Errorf("the marketplace listed %d events, want 3 (no finance item)", len(mk))
		}
		byRes, _, _ := s.List(ctx, events.Filter{Role: "marketplace", Resource: "K1000001", Limit: 100})
		byType, _, _ := s.List(ctx, events.Filter{Role: "marketplace", Types: []events.Type{events.SalesOrderPaid}, Limit: 100})
		if len(byRes) != 2 || len(byType) != 2 {
			t.Errorf("by resource %d, by type %d events, want 2 and 2", len(byRes), len(byType))
		}
		page1, cur, _ := s.List(ctx, events.Filter{Role: "finance", Limit: 3})
		page2, cur2, _ := s.List(ctx, events.Filter{Role: "finance", After: cur, Limit: 3})
		page3, cur3, _ := s.List(ctx, events.Filter{Role: "finance", After: cur2, Limit: 3})
		if len(page1) != 3 || len(page2) != 1 || len(page3) != 0 || cur3 != cur2 || cur2 != next {
			t.Errorf("pages of 3: %d, %d, %d events (cursors %d %d %d, next %d)", len(page1), len(page2), len(page3), cur, cur2, cur3, next)
		}
		if _, err := s.Get(ctx, got[3].ID, "marketplace"); err == nil {
			t.Error("the marketplace read a finance item's event")
		}
		if ev, err := s.Get(ctx, got[0].ID, "marketplace"); err != nil || ev.Resource != "K1000001" {
			t.Errorf("Get = %+v, %v", ev, err)
		}
		if _, err := events.Append(ctx, nil, "sales_order.shipped", "K1", nil); err == nil {
			t.Error("an unknown type was appended")
		}
	})
}

// TestAppendManyInOneTransaction: the events of one transaction, several
// of one resource among others', are written together at commit and keep
// the order they were appended in: each resource's numbers go on from its
// last without gaps, and their positions follow the appends.
func TestAppendManyInOneTransaction(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		appendOne(t, db, events.SalesOrderPaid, "K2000001", map[string]int{"n": 0})
		appended := []struct {
			resource string
			seq      int64
		}{{"K2000001", 2}, {"U7", 1}, {"K2000001", 3}, {"K2000002", 1}, {"U7", 2}, {"K2000001", 4}}
		err := db.Update(ctx, func(tx *storage.Tx) error {
			for i, a := range appended {
				if _, err := events.Append(ctx, tx, events.BalanceCredited, a.resource, map[string]int{"n": i + 1}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s := &events.Store{DB: db}
		if _, err := s.Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.List(ctx, events.Filter{Role: "finance", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1+len(appended) {
			t.Fatalf("listed %d events, want %d", len(got), 1+len(appended))
		}
		for i, a := range appended {
			g := got[i+1]
			if g.Resource != a.resource || g.Sequence != a.seq || string(g.Data) != fmt.Sprintf(`{"n":%d}`, i+1) {
				t.Errorf("event %d in commit order: %s #%d %s, want %s #%d {\"n\":%d}", i+1, g.Resource, g.Sequence, g.Data, a.resource, a.seq, i+1)
			}
		}
	})
}

// TestListUnderConcurrentWriters: writers commit events in transactions that
// take their time (so that, on PostgreSQL, numbers taken inside them become
// visible out of order) while a reader pages with the cursor: the reader
// sees every event exactly once, and each resource's events in sequence
// order.
func TestListUnderConcurrentWriters(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s := &events.Store{DB: db}
		const writers, perWriter = 8, 40
		var wg sync.WaitGroup
		done := make(chan struct{})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(w)))
				for i := 0; i < perWriter; i++ {
					err := db.Update(ctx, func(tx *storage.Tx) error {
						if _, err := events.Append(ctx, tx, events.BalanceCredited, fmt.Sprintf("U%d", rng.Intn(5)), map[string]int{"w": w, "i": i}); err != nil {
							return err
						}
						time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond) // holds the transaction open: commits come out of order
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}(w)
		}
		go func() { wg.Wait(); close(done) }()
		seen := map[string]int{}
		lastSeq := map[string]int64{}
		var cursor int64
		read := func() {
			evs, next, err := s.List(ctx, events.Filter{After: cursor, Role: "marketplace", Limit: 7})
			if err != nil {
				t.Error(err)
				return
			}
			for _, ev := range evs {
				seen[ev.ID]++
				if ev.Sequence != lastSeq[ev.Resource]+1 {
					t.Errorf("%s: sequence %d after %d", ev.Resource, ev.Sequence, lastSeq[ev.Resource])
				}
				lastSeq[ev.Resource] = ev.Sequence
			}
			cursor = next
		}
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				read()
			}
		}
		wg.Wait()
		for i := 0; i < writers*perWriter; i++ {
			read()
		}
		if len(seen) != writers*perWriter {
			t.Errorf("the reader saw %d events, want %d", len(seen), writers*perWriter)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("event %s seen %d times", id, n)
			}
		}
	})
}

// seal gives every event a chain position, as the journal's hasher
// (package chain) does once they have committed.
func seal(t *testing.T, db *storage.DB) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE events SET chain_position = (SELECT COALESCE(MAX(chain_position), 0) FROM events) + position WHERE chain_position IS NULL`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPruneFromTheOldestPosition: pruning goes by position, the commit
// order, while the events are older than the retention: an event whose
// transaction started earlier but committed later (an older created_at at a
// later position) waits for the events before it, and goes with them.
func TestPruneFromTheOldestPosition(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clk := func() time.Time { return now }
	storagetest.Run(t, storage.Options{Now: clk, Migrations: []storage.Migrations{events.Migrations()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now = start
		appendOne(t, db, events.BalanceCredited, "U1", nil)
		now = start.Add(-2 * time.Hour)
		appendOne(t, db, events.BalanceCredited, "U2", nil) // positioned after U1's, two hours older
		now = start.Add(25 * time.Hour)
		appendOne(t, db, events.BalanceCredited, "U3", nil) // the newest, always kept
		if _, err := (&events.Store{DB: db}).Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		seal(t, db)
		s := &events.Store{DB: db, Retention: 26 * time.Hour}
		if n, err := s.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("Prune = %d, %v; want none: U1's event is 25 h old, U2's (27 h) waits behind it", n, err)
		}
		now = start.Add(27 * time.Hour)
		if n, err := s.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want U1's and U2's events", n, err)
		}
	})
}

// TestPrune: the janitor's pruning deletes the sealed events older than
// the retention and keeps the newer (and those not sealed yet); a resource's sequence goes on where it
// was, never restarting at 1.
func TestPrune(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	storagetest.Run(t, storage.Options{Now: clk, Migrations: []storage.Migrations{events.Migrations()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		appendOne(t, db, events.BalanceCredited, "U1", nil)
		now = now.Add(20 * 24 * time.Hour)
		appendOne(t, db, events.BalanceCredited, "U1", nil)
		now = now.Add(11 * 24 * time.Hour) // the first is 31 days old, the second 11
		s := &events.Store{DB: db}
		if n, err := s.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("Prune = %d, %v; want none: no event is sealed into the journal's hash chain yet", n, err)
		}
		seal(t, db)
		if n, err := s.Prune(ctx); err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want the 31-day-old event", n, err)
		}
		left, _, _ := s.List(ctx, events.Filter{Role: "finance", Limit: 100})
		if len(left) != 1 || left[0].Sequence != 2 {
			t.Fatalf("after pruning: %+v, want the second event only", left)
		}
		if ev := appendOne(t, db, events.BalanceDebited, "U1", nil); ev.Sequence != 3 {
			t.Errorf("the next event of U1 has sequence %d, want 3", ev.Sequence)
		}
		seal(t, db)
		short := &events.Store{DB: db, Retention: 24 * time.Hour}
		if n, err := short.Prune(ctx); err != nil || n != 1 {
			t.Errorf("a 24 h retention pruned %d (%v), want the 11-day-old event", n, err)
		}
		// Once every event of U1 is pruned, its sequence still goes on. (The
		// newest event of all, U2's here, is always kept, so that positions
		// never restart below a reader's cursor.)
		now = now.Add(48 * time.Hour)
		if ev := appendOne(t, db, events.BalanceCredited, "U2", nil); ev.Sequence != 1 {
			t.Errorf("the first event of U2 has sequence %d, want 1", ev.Sequence)
		}
		if _, err := s.Sequence(ctx); err != nil {
			t.Fatal(err)
		}
		seal(t, db)
		if n, err := short.Prune(ctx); err != nil || n != 1 {
			t.Errorf("a 24 h retention pruned %d (%v) two days on, want U1's last event", n, err)
		}
		if left, _, _ := s.List(ctx, events.Filter{Role: "finance", Limit: 100}); len(left) != 1 || left[0].Resource != "U2" {
			t.Fatalf("after pruning every event of U1: %+v, want U2's only", left)
		}
		if ev := appendOne(t, db, events.BalanceCredited, "U1", nil); ev.Sequence != 4 {
			t.Errorf("the next event of U1 after all were pruned has sequence %d, want 4", ev.Sequence)
		}
	})
}
