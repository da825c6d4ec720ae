package chain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// clock is a settable database clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time   { return time.Unix(0, c.t.Load()) }
func (c *clock) set(t time.Time)  { c.t.Store(t.UnixNano()) }
func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func options(c *clock) storage.Options {
	return storage.Options{Migrations: service.Migrations(), Now: c.now}
}

// journal writes rounds of 3 ledger transactions, 1 audit entry and 1
// event, and seals each round into a block of its own: block k holds
// positions 5k-4 to 5k.
func journal(t *testing.T, db *storage.DB, rounds int) {
	t.Helper()
	ctx := context.Background()
	h := &chain.Hasher{DB: db}
	for r := 1; r <= rounds; r++ {
		writeRound(t, db, r)
		waitHorizon(t, db)
		b, ok, err := h.Seal(ctx)
		if err != nil || !ok || b.Number != int64(r) || b.FirstPosition != int64(5*r-4) || b.LastPosition != int64(5*r) {
			t.Fatalf("Seal = %+v, %v, %v; want block %d of positions %d to %d", b, ok, err, r, 5*r-4, 5*r)
		}
	}
	if _, ok, err := h.Seal(ctx); ok || err != nil {
		t.Fatalf("Seal with nothing to seal = %v, %v", ok, err)
	}
}

// writeRound writes journal's round r: 3 ledger transactions, then an
// audit entry and an event.
func writeRound(t *testing.T, db *storage.DB, r int) {
	t.Helper()
	ctx := context.Background()
	l := ledger.New(db)
	for i := 1; i <= 3; i++ {
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := l.Post(ctx, tx, ledger.Transfer(fmt.Sprintf("test:%d:%d", r, i), "a sale | with; separators,\nand a newline",
				ledger.ProviderClearing("stripe"), ledger.Escrow(fmt.Sprintf("K%07d", 10*r+i)), paygate.New(int64(100*r+i), paygate.EUR)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := db.Update(ctx, func(tx *storage.Tx) error {
		if err := finance.Audit(ctx, tx, finance.ActionResolveDispute, fmt.Sprintf("K%07d", 10*r), "disputed", "refunded", "round "+fmt.Sprint(r)); err != nil {
			return err
		}
		_, err := events.Append(ctx, tx, events.SalesOrderRefunded, fmt.Sprintf("K%07d", 10*r), map[string]any{"round": r})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chainProblems runs `ledger verify`'s checks and returns the chain check's
// problems.
func chainProblems(t *testing.T, db *storage.DB) []string {
	t.Helper()
	r, err := service.Verify(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if strings.Contains(c.Name, "hash chain") {
			return c.Problems
		}
	}
	t.Fatalf("verify ran no chain check: %+v", r.Checks)
	return nil
}

// tamper runs statements with the journal's append-only triggers out of the
// way, as a database administrator could.
func tamper(t *testing.T, db *storage.DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, func(tx *storage.Tx) error {
		var off []string
		if tx.Dialect() == storage.Postgres {
			for _, table := range []string{"ledger_transactions", "ledger_entries", "audit_log"} {
				off = append(off, `ALTER TABLE `+table+` DISABLE TRIGGER USER`)
			}
		} else {
			for _, tr := range []string{"ledger_entries_no_update", "ledger_entries_no_delete", "ledger_transactions_no_update",
				"ledger_transactions_no_delete", "ledger_transactions_sealed_once", "audit_log_no_update", "audit_log_no_delete", "audit_log_sealed_once"} {
				off = append(off, `DROP TRIGGER `+tr)
			}
		}
		for _, q := range append(off, stmts...) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitHorizon waits until every journal row written so far may be sealed:
// on PostgreSQL, until no transaction older than the last one is running
// in the cluster (other tests' transactions hold the horizon back too).
func waitHorizon(t testing.TB, db *storage.DB) {
	t.Helper()
	if db.Dialect() != storage.Postgres {
		return
	}
	ctx := context.Background()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var ready bool
		err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &ready, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > GREATEST(
				(SELECT COALESCE(MAX(chain_xid), 0) FROM ledger_transactions), (SELECT COALESCE(MAX(chain_xid), 0) FROM audit_log))`)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("after a minute a transaction older than the journal's last row is still running")
		}
	}
}

// sealEverything seals until no committed journal row is left unsealed.
func sealEverything(t testing.TB, db *storage.DB, h *chain.Hasher) {
	t.Helper()
	ctx := context.Background()
	waitHorizon(t, db)
	if _, err := h.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	var lag float64
	err := db.View(ctx, func(tx *storage.Tx) (err error) {
		lag, err = chain.SealingLag(ctx, tx)
		return err
	})
	if err != nil || lag != 0 {
		t.Fatalf("after sealing everything: sealing lag %g s, %v", lag, err)
	}
}

// The rows of journal's rounds: position p is in round r = (p-1)/5+1, at
// rank (p-1)%5 there: ledger transactions at ranks 0 to 2, the audit entry
// at 3, the event at 4.

// txAt is the id of the ledger transaction at a chain position.
func txAt(t *testing.T, db *storage.DB, position int) int64 {
	t.Helper()
	r, rank := (position-1)/5, (position-1)%5
	if rank > 2 {
		t.Fatalf("position %d is no ledger transaction", position)
	}
	return nth[int64](t, db, `SELECT id FROM ledger_transactions ORDER BY id`, 3*r+rank)
}

// auditAt is the id of the audit entry at a chain position.
func auditAt(t *testing.T, db *storage.DB, position int) int64 {
	t.Helper()
	if (position-1)%5 != 3 {
		t.Fatalf("position %d is no audit entry", position)
	}
	return nth[int64](t, db, `SELECT id FROM audit_log ORDER BY id`, (position-1)/5)
}

// eventAt is the id of the event at a chain position.
func eventAt(t *testing.T, db *storage.DB, position int) string {
	t.Helper()
	if (position-1)%5 != 4 {
		t.Fatalf("position %d is no event", position)
	}
	return nth[string](t, db, `SELECT id FROM events ORDER BY position`, (position-1)/5)
}

// nth is the n-th (from 0) value the query selects.
func nth[T any](t *testing.T, db *storage.DB, q string, n int) T {
	t.Helper()
	ctx := context.Background()
	var v T
	err := db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &v, q+fmt.Sprintf(` LIMIT 1 OFFSET %d`, n))
	})
	if err != nil {
		t.Fatalf("%s, row %d: %v", q, n, err)
	}
	return v
}

func TestChainVerifies(t *testing.T) {
	storagetest.Run(t, options(newClock(time.Now())), func(t *testing.T, db *storage.DB) {
		journal(t, db, 4)
		if p := chainProblems(t, db); len(p) > 0 {
			t.Fatalf("untouched chain: %q", p)
		}
		// The append-only triggers still refuse changes, and a sealed
		// position is set once.
		ctx := context.Background()
		const first, audit = `(SELECT MIN(id) FROM ledger_transactions)`, `(SELECT MIN(id) FROM audit_log)`
		refused := []string{
			`UPDATE ledger_transactions SET description = 'x' WHERE id = ` + first,
			`UPDATE ledger_transactions SET chain_position = 99 WHERE id = ` + first,
			`UPDATE audit_log SET reason = 'x' WHERE id = ` + audit,
			`UPDATE audit_log SET chain_position = 99 WHERE id = ` + audit,
			`DELETE FROM ledger_transactions WHERE id = ` + first,
			`UPDATE chain_blocks SET hash = 'x' WHERE number = 1`,
			`UPDATE chain_blocks SET ledger_id = 1 WHERE number = 1`,
		}
		if db.Dialect() == storage.Postgres {
			refused = append(refused, `UPDATE ledger_transactions SET chain_xid = 1 WHERE id = `+first,
				`UPDATE audit_log SET chain_xid = 1 WHERE id = `+audit)
		}
		for _, q := range refused {
			err := db.Update(ctx, func(tx *storage.Tx) error { _, err := tx.Exec(ctx, q); return err })
			if err == nil {
				t.Errorf("%s succeeded; the triggers should refuse it", q)
			}
		}
	})
}

// TestChainTamper changes the database behind paygate's back, one kind of
// change per case, always in block 2 (positions 6 to 10: ledger
// transactions at 6, 7, 8, the audit entry at 9, the event at 10), and
// expects verify to name block 2 first.
func TestChainTamper(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, db *storage.DB) []string
	}{
		{"amount changed", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE ledger_entries SET amount = amount + 1 WHERE transaction_id = %d`, txAt(t, db, 7))}
		}},
		{"row deleted", func(t *testing.T, db *storage.DB) []string {
			id := txAt(t, db, 8)
			return []string{fmt.Sprintf(`DELETE FROM ledger_entries WHERE transaction_id = %d`, id),
				fmt.Sprintf(`DELETE FROM ledger_transactions WHERE id = %d`, id)}
		}},
		{"audit row deleted", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`DELETE FROM audit_log WHERE id = %d`, auditAt(t, db, 9))}
		}},
		{"entry inserted", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`INSERT INTO ledger_entries (transaction_id, account_id, shard, side, amount, account_debits, account_credits)
				SELECT transaction_id, account_id, shard, side, 1, account_debits, account_credits FROM ledger_entries
				WHERE transaction_id = %d ORDER BY id LIMIT 1`, txAt(t, db, 7))}
		}},
		{"row inserted", func(t *testing.T, db *storage.DB) []string {
			// A row inside block 2's range of keys. SQLite's ids there are
			// dense (one writer, no gaps): no room for a row without
			// renumbering the others, which the reordering case covers.
			if db.Dialect() != storage.Postgres {
				t.Skip("SQLite: a sealed range of ids has no gap to insert into")
			}
			return []string{fmt.Sprintf(`INSERT INTO audit_log (id, chain_xid, at, actor, action, subject, before, after, reason)
				OVERRIDING SYSTEM VALUE SELECT -1, chain_xid, at, actor, action, subject, before, after, 'forged'
				FROM audit_log WHERE id = %d`, auditAt(t, db, 9))}
		}},
		{"rows reordered", func(t *testing.T, db *storage.DB) []string {
			a, b := txAt(t, db, 6), txAt(t, db, 7)
			if db.Dialect() == storage.Postgres {
				// Swap the two transactions' places in the chain's order.
				return []string{fmt.Sprintf(`UPDATE ledger_transactions SET chain_xid = CASE id WHEN %d THEN (SELECT chain_xid FROM ledger_transactions WHERE id = %d)
					ELSE (SELECT chain_xid FROM ledger_transactions WHERE id = %d) END WHERE id IN (%d, %d)`, a, b, a, a, b)}
			}
			// Swap the two transactions' ids (and their entries').
			return []string{`PRAGMA defer_foreign_keys = ON`,
				fmt.Sprintf(`UPDATE ledger_entries SET transaction_id = -1 WHERE transaction_id = %d`, a),
				fmt.Sprintf(`UPDATE ledger_transactions SET id = -1 WHERE id = %d`, a),
				fmt.Sprintf(`UPDATE ledger_entries SET transaction_id = %d WHERE transaction_id = %d`, a, b),
				fmt.Sprintf(`UPDATE ledger_transactions SET id = %d WHERE id = %d`, a, b),
				fmt.Sprintf(`UPDATE ledger_entries SET transaction_id = %d WHERE transaction_id = -1`, b),
				fmt.Sprintf(`UPDATE ledger_transactions SET id = %d WHERE id = -1`, b)}
		}},
		{"entry moved to another transaction", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE ledger_entries SET transaction_id = %d
				WHERE id = (SELECT MIN(id) FROM ledger_entries WHERE transaction_id = %d)`, txAt(t, db, 11), txAt(t, db, 6))}
		}},
		{"audit reason changed", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE audit_log SET reason = 'nothing to see' WHERE id = %d`, auditAt(t, db, 9))}
		}},
		{"account renamed", func(t *testing.T, db *storage.DB) []string {
			return []string{`UPDATE ledger_accounts SET name = 'escrow:K9999999' WHERE name = 'escrow:K0000021'`}
		}},
		{"event changed", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE events SET data = '{"round":99}' WHERE id = '%s'`, eventAt(t, db, 10))}
		}},
		{"recent event deleted", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`DELETE FROM events WHERE id = '%s'`, eventAt(t, db, 10))}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storagetest.Run(t, options(newClock(time.Now())), func(t *testing.T, db *storage.DB) {
				journal(t, db, 4)
				tamper(t, db, c.change(t, db)...)
				p := chainProblems(t, db)
				if len(p) == 0 || !strings.HasPrefix(p[0], "block 2 ") {
					t.Fatalf("verify after %s = %q, want block 2 named first", c.name, p)
				}
				t.Logf("verify: %s", p[0])
			})
		})
	}
}

// TestChainPrunedEvents: events the janitor prunes past their retention
// keep their digests in chain_rows, and the chain still verifies; the
// janitor never prunes an event the chain has not sealed.
func TestChainPrunedEvents(t *testing.T) {
	start := time.Now().Add(-72 * time.Hour)
	c := newClock(start)
	storagetest.Run(t, options(c), func(t *testing.T, db *storage.DB) {
		c.set(start)
		ctx := context.Background()
		journal(t, db, 3)
		// An old event not yet sealed.
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := events.Append(ctx, tx, events.SalesOrderDelivered, "K7654321", map[string]any{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		c.set(time.Now())
		// The hasher wrote only its blocks: the digests are kept on pruning.
		if kept := count(t, db, `SELECT COUNT(*) FROM chain_rows`); kept != 0 {
			t.Fatalf("chain_rows holds %d digests before any pruning, want none", kept)
		}
		store := &events.Store{DB: db, Retention: 24 * time.Hour, Chain: chain.EventPruning{}}
		n, err := store.Prune(ctx)
		if err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want the 3 sealed events", n, err)
		}
		if kept := count(t, db, `SELECT COUNT(*) FROM chain_rows`); kept != 3 {
			t.Fatalf("chain_rows holds %d digests after pruning 3 events, want 3", kept)
		}
		var left int
		if err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &left, `SELECT COUNT(*) FROM events`)
		}); err != nil || left != 1 {
			t.Fatalf("events left = %d, %v; want the unsealed one", left, err)
		}
		if p := chainProblems(t, db); len(p) > 0 {
			t.Fatalf("chain with pruned events: %q", p)
		}
		sealEverything(t, db, &chain.Hasher{DB: db})
		// The newest event is always kept (positions go on from it): a
		// newer one lets the old one go.
		if err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := events.Append(ctx, tx, events.SalesOrderDelivered, "K7654322", map[string]any{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n, err := store.Prune(ctx); err != nil || n != 1 {
			t.Fatalf("Prune after sealing = %d, %v; want 1", n, err)
		}
		if p := chainProblems(t, db); len(p) > 0 {
			t.Fatalf("chain with pruned events: %q", p)
		}
	})
}

// TestChainPrunedInPasses: the janitor prunes a block's events over several
// passes, from the oldest position on, as they age: each pass keeps the
// digests at the positions the block gave the events, and the chain
// verifies after each.
func TestChainPrunedInPasses(t *testing.T) {
	now := time.Now()
	c := newClock(now)
	storagetest.Run(t, options(c), func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		c.set(now.Add(-72 * time.Hour))
		writeRound(t, db, 1) // 3 ledger transactions, an audit entry, an event: 72 h old
		for i, age := range []time.Duration{60 * time.Hour, 30 * time.Hour, 0} {
			c.set(now.Add(-age))
			if err := db.Update(ctx, func(tx *storage.Tx) error {
				_, err := events.Append(ctx, tx, events.SalesOrderDelivered, fmt.Sprintf("K800000%d", i), map[string]any{"i": i})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		c.set(now)
		sealEverything(t, db, &chain.Hasher{DB: db})
		if blocks := count(t, db, `SELECT COUNT(*) FROM chain_blocks`); blocks != 1 {
			t.Fatalf("%d blocks, want the 8 rows in one", blocks)
		}
		for i, keep := range []time.Duration{66 * time.Hour, 48 * time.Hour, 24 * time.Hour} {
			store := &events.Store{DB: db, Retention: keep, Chain: chain.EventPruning{}}
			if n, err := store.Prune(ctx); err != nil || n != 1 {
				t.Fatalf("pass %d: Prune = %d, %v; want 1", i+1, n, err)
			}
			if kept := count(t, db, `SELECT COUNT(*) FROM chain_rows`); kept != i+1 {
				t.Fatalf("pass %d: chain_rows holds %d digests, want %d", i+1, kept, i+1)
			}
			if p := chainProblems(t, db); len(p) > 0 {
				t.Fatalf("pass %d: chain with pruned events: %q", i+1, p)
			}
		}
	})
}

// count runs a query that counts.
func count(t *testing.T, db *storage.DB, q string) int {
	t.Helper()
	var n int
	if err := db.View(context.Background(), func(tx *storage.Tx) error {
		return tx.Get(context.Background(), &n, q)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a|b", "a%7Cb"},
		{"50%", "50%25"},
		{"x,y;z", "x%2Cy%3Bz"},
		{"line\nbreak\r\t\x7f", "line%0Abreak%0D%09%7F"},
		{"ünïcode", "ünïcode"},
	} {
		if got := chain.Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A value holding a separator cannot pose as two fields.
	a := chain.AuditLine(1, 1, time.Unix(0, 0), "finance|x", "", "", "a", "b", "c", "d", "e")
	b := chain.AuditLine(1, 1, time.Unix(0, 0), "finance", "x", "", "a", "b", "c", "d", "e")
	if a == b {
		t.Errorf("AuditLine lets a '|' in a value forge a field: %q", a)
	}
}

// TestChainConcurrentWriters: many writers post ledger transactions (with
// audit entries and events) in database transactions that sleep before they
// commit, so that on PostgreSQL rows with smaller ids commit after larger
// ones, while two hashers seal over and over. At the end every row is sealed
// exactly once, the blocks chain, and verify passes.
func TestChainConcurrentWriters(t *testing.T) {
	const writers, each = 12, 8
	storagetest.Run(t, options(newClock(time.Now())), func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		done := make(chan struct{})
		var sealed atomic.Int64
		var hashers sync.WaitGroup
		for range 2 {
			hashers.Add(1)
			go func() {
				defer hashers.Done()
				h := &chain.Hasher{DB: db, Batch: 7}
				for {
					select {
					case <-done:
						return
					default:
					}
					n, err := h.SealAll(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					sealed.Add(int64(n))
					time.Sleep(time.Millisecond) // a sealing round at most every ms, interleaved with the writers' commits
				}
			}()
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var committed []int64 // transaction ids in the order their commits returned
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					var id int64
					err := db.Update(ctx, func(tx *storage.Tx) error {
						key := fmt.Sprintf("w%d:%d", w, i)
						r, err := l.Post(ctx, tx, ledger.Transfer(key, "concurrent", ledger.ProviderClearing("stripe"),
							ledger.Escrow(fmt.Sprintf("K%03d%04d", w, i)), paygate.New(int64(1+i), paygate.EUR)))
						if err != nil {
							return err
						}
						id = r.Transaction.ID
						if i%3 == 0 {
							if _, err := events.Append(ctx, tx, events.SalesOrderPaid, fmt.Sprintf("K%03d%04d", w, i), map[string]any{"i": i}); err != nil {
								return err
							}
						}
						if i%4 == 0 {
							if err := finance.Audit(ctx, tx, finance.ActionResolveItem, key, "", "", "concurrent"); err != nil {
								return err
							}
						}
						time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond) // holds the transaction open: commits come out of order
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					committed = append(committed, id)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(done)
		hashers.Wait()
		sealEverything(t, db, &chain.Hasher{DB: db, Batch: 7})
		var got struct {
			Rows, Last, Blocks, Counted int64
		}
		err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.QueryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM ledger_transactions) + (SELECT COUNT(*) FROM audit_log) + (SELECT COUNT(*) FROM events),
				(SELECT COALESCE(MAX(last_position), 0) FROM chain_blocks),
				(SELECT COUNT(*) FROM chain_blocks),
				(SELECT COALESCE(SUM(row_count), 0) FROM chain_blocks)`).Scan(&got.Rows, &got.Last, &got.Blocks, &got.Counted)
		})
		if err != nil {
			t.Fatal(err)
		}
		// With verify below (which finds a row inside a block's range that
		// the block did not seal), every row is sealed exactly once.
		want := int64(writers*each + writers*3 + writers*2)
		if got.Rows != want || got.Last != want || got.Counted != want {
			t.Fatalf("journal = %+v; want %d rows, the blocks sealing %d, the last ending at %d", got, want, want, want)
		}
		var late int // transactions whose commit returned after that of one with a larger id
		for i, a := range committed {
			for _, b := range committed[:i] {
				if b > a {
					late++
					break
				}
			}
		}
		t.Logf("%d rows in %d blocks (%d sealed while writers ran); %d transactions committed after one with a larger id",
			got.Rows, got.Blocks, sealed.Load(), late)
		if sealed.Load() == 0 {
			t.Errorf("the hashers sealed nothing while the writers ran")
		}
		if p := chainProblems(t, db); len(p) > 0 {
			t.Fatalf("verify: %q", p)
		}
		r, err := service.Verify(ctx, db)
		if err != nil || !r.OK() {
			t.Fatalf("ledger verify = %+v, %v", r, err)
		}
	})
}

// TestChainLegacyBlocks: a database whose first block was sealed before
// cursors (by writing each row's chain_position, as the hasher did until
// migration 0002) keeps verifying; the next block seals only the rows
// after it, and a change to either block is named.
func TestChainLegacyBlocks(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(t *testing.T, db *storage.DB) []string
		want   string
	}{
		{"untouched", nil, ""},
		{"legacy row changed", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE ledger_entries SET amount = amount + 1 WHERE transaction_id = %d`, txAt(t, db, 2))}
		}, "block 1 "},
		{"new row changed", func(t *testing.T, db *storage.DB) []string {
			return []string{fmt.Sprintf(`UPDATE ledger_entries SET amount = amount + 1 WHERE transaction_id = %d`, txAt(t, db, 6))}
		}, "block 2 "},
	} {
		t.Run(c.name, func(t *testing.T) {
			storagetest.Run(t, options(newClock(time.Now())), func(t *testing.T, db *storage.DB) {
				ctx := context.Background()
				writeRound(t, db, 1)
				// The old hasher: positions 1 to 5 in the rows, block 1
				// with NULL cursors, the event's digest in chain_rows.
				err := db.Update(ctx, func(tx *storage.Tx) error {
					stmts := []string{`DROP TRIGGER ledger_transactions_sealed_once`, `DROP TRIGGER audit_log_sealed_once`}
					if tx.Dialect() == storage.Postgres {
						stmts = []string{`ALTER TABLE ledger_transactions DISABLE TRIGGER USER`, `ALTER TABLE audit_log DISABLE TRIGGER USER`}
					}
					stmts = append(stmts,
						`UPDATE ledger_transactions SET chain_position = (SELECT COUNT(*) FROM ledger_transactions b WHERE b.id <= ledger_transactions.id)`,
						`UPDATE audit_log SET chain_position = 4`, `UPDATE events SET chain_position = 5`)
					if tx.Dialect() == storage.Postgres {
						stmts = append(stmts, `ALTER TABLE ledger_transactions ENABLE TRIGGER USER`, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
					} else {
						stmts = append(stmts, `CREATE TRIGGER ledger_transactions_sealed_once BEFORE UPDATE OF chain_position ON ledger_transactions
							BEGIN SELECT RAISE(ABORT, 'ledger: transactions are immutable'); END`,
							`CREATE TRIGGER audit_log_sealed_once BEFORE UPDATE OF chain_position ON audit_log
							BEGIN SELECT RAISE(ABORT, 'finance: the audit log is append-only'); END`)
					}
					for _, q := range stmts {
						if _, err := tx.Exec(ctx, q); err != nil {
							return fmt.Errorf("%s: %w", q, err)
						}
					}
					rows, err := chain.ReadRows(ctx, tx, 1, 5)
					if err != nil || len(rows) != 5 {
						return fmt.Errorf("legacy rows: %d, %v", len(rows), err)
					}
					hash, err := chain.BlockHash("", rows)
					if err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `INSERT INTO chain_blocks (number, first_position, last_position, row_count, hash, sealed_at)
						VALUES (1, 1, 5, 5, ?, ?)`, hash, tx.Now()); err != nil {
						return err
					}
					e := rows[4]
					_, err = tx.Exec(ctx, `INSERT INTO chain_rows (position, block, kind, row_id, at, digest) VALUES (5, 1, 'E', ?, ?, ?)`, e.ID, e.At, e.Digest)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				writeRound(t, db, 2)
				waitHorizon(t, db)
				b, ok, err := (&chain.Hasher{DB: db}).Seal(ctx)
				if err != nil || !ok || b.Number != 2 || b.FirstPosition != 6 || b.LastPosition != 10 {
					t.Fatalf("Seal after a legacy block = %+v, %v, %v; want block 2 of positions 6 to 10", b, ok, err)
				}
				if c.change != nil {
					tamper(t, db, c.change(t, db)...)
				}
				p := chainProblems(t, db)
				switch {
				case c.want == "" && len(p) > 0:
					t.Fatalf("verify = %q, want no problem", p)
				case c.want != "" && (len(p) == 0 || !strings.HasPrefix(p[0], c.want)):
					t.Fatalf("verify = %q, want %q named first", p, c.want)
				}
			})
		})
	}
}

// TestRunPacesItself: serve's hasher seals once an interval under a steady
// load, what committed before the pass, in as many full blocks as that
// takes, and not block after small block chasing the rows that commit
// while it seals (each a pair of transactions whose commits the writers'
// queue behind). When the writers stop, the next passes seal the rest.
func TestRunPacesItself(t *testing.T) {
	const interval = 100 * time.Millisecond
	storagetest.Run(t, options(newClock(time.Now())), func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		const backlog, batch = 120, 50 // the first pass seals blocks of 50, 50 and 20
		for i := range backlog {
			post(t, db, l, fmt.Sprintf("backlog:%d", i))
		}
		waitHorizon(t, db)
		run, stop := context.WithCancel(ctx)
		var running sync.WaitGroup
		running.Go(func() { (&chain.Hasher{DB: db, Batch: batch}).Run(run, interval) })
		start := time.Now()
		for i := 0; time.Since(start) < 10*interval; i++ {
			post(t, db, l, fmt.Sprintf("steady:%d", i))
		}
		passes := int(time.Since(start)/interval) + 1
		rows := count(t, db, `SELECT COUNT(*) FROM ledger_transactions`)
		time.Sleep(3 * interval)
		stop()
		running.Wait()
		blocks := count(t, db, `SELECT COUNT(*) FROM chain_blocks`)
		// A pass seals full blocks and at most one that is not.
		if most := rows/batch + passes + 3; blocks > most {
			t.Errorf("%d blocks for %d rows written over %d passes: want at most %d", blocks, rows, passes, most)
		}
		if sealed := count(t, db, `SELECT COALESCE(MAX(last_position), 0) FROM chain_blocks`); sealed != rows {
			t.Errorf("sealed %d rows of %d", sealed, rows)
		}
		if p := chainProblems(t, db); len(p) > 0 {
			t.Errorf("verify: %v", p)
		}
	})
}

// post posts one ledger transaction under key.
func post(t *testing.T, db *storage.DB, l *ledger.Ledger, key string) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, func(tx *storage.Tx) error {
		_, err := l.Post(ctx, tx, ledger.Transfer(key, "steady", ledger.ProviderClearing("stripe"), ledger.Escrow("K0000001"), paygate.New(1, paygate.EUR)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
