package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

var clearing = ledger.ProviderClearing("stripe")

// shardsOf returns the shards that hold entries of an account, and the
// account's own row's totals.
func shardsOf(t testing.TB, db *storage.DB, name string, c paygate.Currency) (shards []int, rowDebits, rowCredits int64) {
	t.Helper()
	ctx := context.Background()
	err := db.View(ctx, func(tx *storage.Tx) error {
		if err := tx.Select(ctx, &shards, `SELECT DISTINCT e.shard FROM ledger_entries e
			JOIN ledger_accounts a ON a.id = e.account_id WHERE a.name = ? AND a.currency = ? ORDER BY e.shard`, name, string(c)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT debits, credits FROM ledger_accounts WHERE name = ? AND currency = ?`,
			name, string(c)).Scan(&rowDebits, &rowCredits)
	})
	if err != nil {
		t.Fatal(err)
	}
	return shards, rowDebits, rowCredits
}

// TestHotAccountDoesNotSerialize holds one settlement's transaction open on
// PostgreSQL — its lock on the clearing account's shard held — and posts
// another settlement through the same clearing account: it must not wait
// for the first to commit.
func TestHotAccountDoesNotSerialize(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		if db.Dialect() != storage.Postgres {
			t.Skip("SQLite has one writer at a time")
		}
		l := ledger.New(db)
		ctx := context.Background()
		mustPost(t, db, l, ledger.Transfer("payment:P10000000:settled", "", clearing, ledger.Escrow("K1000000"), eur(1)))
		first, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Rollback()
		if _, err := l.Post(ctx, first, ledger.Transfer("payment:P10000001:settled", "", clearing, ledger.Escrow("K1000001"), eur(100))); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := post(t, db, l, ledger.Transfer("payment:P10000002:settled", "", clearing, ledger.Escrow("K1000002"), eur(20)))
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("second settlement = %v", err)
			}
		case <-time.After(10 * time.Second):
			first.Rollback()
			t.Fatal("the second settlement waited for the first one's transaction: the hot account serializes")
		}
		if got := balance(t, db, l, clearing, paygate.EUR); got != eur(21) {
			t.Fatalf("clearing with the first settlement uncommitted = %v, want 0.21", got)
		}
		if err := first.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := balance(t, db, l, clearing, paygate.EUR); got != eur(121) {
			t.Fatalf("clearing = %v, want 1.21", got)
		}
		if shards, _, _ := shardsOf(t, db, clearing, paygate.EUR); len(shards) < 2 {
			t.Fatalf("clearing's entries are in shards %v, want several", shards)
		}
		mustVerify(t, l)
	})
}

// TestHotAccountConcurrentPostings posts from 32 goroutines at once through
// the clearing account and the commission: settlements (one by one and in
// batches), buyers paying from their balances, orders completing with a
// commission and refunds to the clearing account. The balances must be
// exact, the hot accounts' totals spread over several shards (their rows hold
// none), the guarded accounts unsharded, and Verify clean.
func TestHotAccountConcurrentPostings(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ctx := context.Background()
		const goroutines, rounds = 32, 8
		var settled, commission, refunded atomic.Int64
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[g] = func() error {
					buyer := fmt.Sprintf("B%d", g)
					for i := range rounds {
						k := fmt.Sprintf("K%02d%05d", g, i)
						amount := int64(1000 + 10*g + i)
						// The buyer tops up its balance, then pays an order
						// from it (the overdraft guard runs).
						if _, err := post(t, db, l, deposit(fmt.Sprintf("deposit:%d:%d", g, i), buyer, eur(amount))); err != nil {
							return err
						}
						settled.Add(amount)
						if _, err := post(t, db, l, ledger.Transfer("pay:"+k, "", ledger.UserBalance(buyer), ledger.Escrow(k), eur(amount))); err != nil {
							return err
						}
						// Completed with a 10 % commission.
						if _, err := post(t, db, l, ledger.Transaction{Key: "complete:" + k, Entries: []ledger.Entry{
							{Account: ledger.Escrow(k), Side: ledger.Debit, Amount: eur(amount)},
							{Account: ledger.UserBalance("S" + k), Side: ledger.Credit, Amount: eur(amount - amount/10)},
							{Account: ledger.PlatformCommission, Side: ledger.Credit, Amount: eur(amount / 10)},
						}}); err != nil {
							return err
						}
						commission.Add(amount / 10)
						// The seller's money goes back to its bank: from the
						// seller's balance to the clearing account.
						if _, err := post(t, db, l, ledger.Transfer("refund:"+k, "", ledger.UserBalance("S"+k), clearing, eur(amount-amount/10))); err != nil {
							return err
						}
						refunded.Add(amount - amount/10)
						// Three settlements in one batch.
						err := db.Update(ctx, func(tx *storage.Tx) error {
							trs := make([]ledger.Transaction, 3)
							for j := range trs {
								trs[j] = ledger.Transfer(fmt.Sprintf("settle:%s:%d", k, j), "", clearing, ledger.Escrow(fmt.Sprintf("%s%d", k, j)), eur(7))
							}
							rs, err := l.PostBatch(ctx, tx, trs)
							if err != nil {
								return err
							}
							for _, r := range rs {
								if r.Err != nil || r.Status != ledger.Created {
									return fmt.Errorf("batch posting: %+v", r)
								}
							}
							return nil
						})
						if err != nil {
							return err
						}
						settled.Add(21)
					}
					return nil
				}()
			}()
		}
		wg.Wait()
		for g, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", g, err)
			}
		}
		if got, want := balance(t, db, l, clearing, paygate.EUR), eur(settled.Load()-refunded.Load()); got != want {
			t.Errorf("clearing = %v, want %v", got, want)
		}
		if got, want := balance(t, db, l, ledger.PlatformCommission, paygate.EUR), eur(commission.Load()); got != want {
			t.Errorf("commission = %v, want %v", got, want)
		}
		for _, name := range []string{clearing, ledger.PlatformCommission} {
			shards, d, c := shardsOf(t, db, name, paygate.EUR)
			if len(shards) < 2 {
				t.Errorf("%s's entries are in shards %v, want several", name, shards)
			}
			if d != 0 || c != 0 {
				t.Errorf("%s's row holds debits %d credits %d, want 0 (its shards hold them)", name, d, c)
			}
		}
		if shards, _, _ := shardsOf(t, db, ledger.UserBalance("B0"), paygate.EUR); len(shards) != 1 || shards[0] != 0 {
			t.Errorf("a user balance's entries are in shards %v, want [0]", shards)
		}
		var shardRows int
		err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &shardRows, `SELECT COUNT(*) FROM ledger_account_shards s
				JOIN ledger_accounts a ON a.id = s.account_id WHERE a.no_overdraft`)
		})
		if err != nil || shardRows != 0 {
			t.Errorf("guarded accounts have %d shard rows (%v), want 0", shardRows, err)
		}
		mustVerify(t, l)
		err = db.View(ctx, func(tx *storage.Tx) error {
			return statementAddsUp(ctx, tx, l, clearing, paygate.EUR, 37)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// failedChecks runs Verify and returns its problems by check.
func failedChecks(t *testing.T, l *ledger.Ledger) map[string][]string {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, c := range r.Checks {
		if len(c.Problems) > 0 {
			out[c.Name] = c.Problems
		}
	}
	return out
}

// tamper runs statements behind the ledger's back, with the entries'
// immutability triggers off.
func tamper(t *testing.T, db *storage.DB, qs ...string) {
	t.Helper()
	ctx := context.Background()
	err := db.Update(ctx, func(tx *storage.Tx) error {
		off, on := []string{`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_immutable`},
			[]string{`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_immutable`}
		if db.Dialect() == storage.SQLite {
			off = []string{`DROP TRIGGER ledger_entries_no_update`}
			on = []string{`CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
				BEGIN SELECT RAISE(ABORT, 'ledger: entries are immutable'); END`}
		}
		for _, q := range append(append(off, qs...), on...) {
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

func TestVerifyFindsShardDrift(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ctx := context.Background()
		// Settlements in transactions of their own land in several shards.
		for i := range 6 {
			mustPost(t, db, l, ledger.Transfer(fmt.Sprintf("payment:P1000000%d:settled", i), "", clearing, ledger.Escrow(fmt.Sprintf("K100000%d", i)), eur(100)))
			mustPost(t, db, l, ledger.Transfer(fmt.Sprintf("payout:%d", i), "", ledger.BankSettlement, clearing, eur(30)))
		}
		mustVerify(t, l)
		var id int64
		var shards []int
		var entry, entryShard int64
		err := db.View(ctx, func(tx *storage.Tx) error {
			if err := tx.Get(ctx, &id, `SELECT id FROM ledger_accounts WHERE name = ?`, clearing); err != nil {
				return err
			}
			if err := tx.Select(ctx, &shards, `SELECT shard FROM ledger_account_shards WHERE account_id = ? AND debits >= 100 ORDER BY shard`, id); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT id, shard FROM ledger_entries WHERE account_id = ? AND side = 'D' ORDER BY id LIMIT 1`, id).Scan(&entry, &entryShard)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(shards) < 2 {
			t.Fatalf("clearing has shards %v, want several", shards)
		}
		a, b := shards[0], shards[1]
		other := a
		if int64(other) == entryShard {
			other = b
		}
		tests := []struct {
			name          string
			tamper, fix   []string
			checks        []string
			mention       string
			accountIsLeft bool // the account's total is still right
		}{
			{
				name:    "a shard's total",
				tamper:  []string{fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits + 1 WHERE account_id = %d AND shard = %d`, id, a)},
				fix:     []string{fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits - 1 WHERE account_id = %d AND shard = %d`, id, a)},
				checks:  []string{"cached balances equal the sum of entries", "the ledger sums to zero per currency"},
				mention: fmt.Sprintf("account %s EUR shard %d: cached debits", clearing, a),
			},
			{
				name: "totals moved between shards",
				tamper: []string{
					fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits + 5 WHERE account_id = %d AND shard = %d`, id, a),
					fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits - 5 WHERE account_id = %d AND shard = %d`, id, b),
				},
				fix: []string{
					fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits - 5 WHERE account_id = %d AND shard = %d`, id, a),
					fmt.Sprintf(`UPDATE ledger_account_shards SET debits = debits + 5 WHERE account_id = %d AND shard = %d`, id, b),
				},
				checks:  []string{"cached balances equal the sum of entries"},
				mention: fmt.Sprintf("account %s EUR shard %d", clearing, b),
			},
			{
				name:    "an entry's running totals",
				tamper:  []string{fmt.Sprintf(`UPDATE ledger_entries SET account_debits = account_debits + 1 WHERE id = %d`, entry)},
				fix:     []string{fmt.Sprintf(`UPDATE ledger_entries SET account_debits = account_debits - 1 WHERE id = %d`, entry)},
				checks:  []string{"running balances follow entry by entry"},
				mention: fmt.Sprintf("entry %d (account %s EUR, shard %d)", entry, clearing, entryShard),
			},
			{
				name:    "an entry moved to another shard",
				tamper:  []string{fmt.Sprintf(`UPDATE ledger_entries SET shard = %d WHERE id = %d`, other, entry)},
				fix:     []string{fmt.Sprintf(`UPDATE ledger_entries SET shard = %d WHERE id = %d`, entryShard, entry)},
				checks:  []string{"cached balances equal the sum of entries", "running balances follow entry by entry"},
				mention: fmt.Sprintf("shard %d: cached debits", other),
			},
			{
				name:    "a guarded account's entry in a shard",
				tamper:  []string{`UPDATE ledger_entries SET shard = 3 WHERE account_id = (SELECT id FROM ledger_accounts WHERE name = 'escrow:K1000000')`},
				fix:     []string{`UPDATE ledger_entries SET shard = 0 WHERE account_id = (SELECT id FROM ledger_accounts WHERE name = 'escrow:K1000000')`},
				checks:  []string{"accounts keep their totals in their row or in shards, as their class says"},
				mention: "account escrow:K1000000 EUR: has an overdraft guard, but entries outside shard 0",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tamper(t, db, tt.tamper...)
				failed := failedChecks(t, l)
				tamper(t, db, tt.fix...)
				for _, c := range tt.checks {
					if len(failed[c]) == 0 {
						t.Errorf("check %q found nothing; failed: %v", c, failed)
					}
				}
				if !strings.Contains(fmt.Sprint(failed), tt.mention) {
					t.Errorf("problems do not mention %q: %v", tt.mention, failed)
				}
				mustVerify(t, l)
			})
		}
	})
}

// TestShardedAccountRowKeepsZeroTotals: the database refuses totals in the
// row of an account without overdraft guard; they belong in its shards.
func TestShardedAccountRowKeepsZeroTotals(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		mustPost(t, db, l, deposit("deposit:1", "U1", eur(5)))
		ctx := context.Background()
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE ledger_accounts SET debits = debits + 5 WHERE name = ?`, clearing)
			return err
		})
		if err == nil {
			t.Fatal("UPDATE of a sharded account's row totals succeeded")
		}
		mustVerify(t, l)
	})
}

// TestStatementShardedAccount posts through the clearing account from 8
// goroutines, so its entries interleave across shards, with a clock that
// moves a second per transaction, then reads its statement page by page, and
// a window of it by time: every line's balance must be the account's balance
// after that entry in entry order.
func TestStatementShardedAccount(t *testing.T) {
	for _, be := range storagetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var tick atomic.Int64
			db := be.Open(t, storage.Options{Migrations: opts.Migrations, Now: func() time.Time {
				return start.Add(time.Duration(tick.Add(1)) * time.Second)
			}})
			l := ledger.New(db)
			ctx := context.Background()
			const goroutines, each = 8, 12
			var wg sync.WaitGroup
			errs := make([]error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						tr := ledger.Transfer(fmt.Sprintf("payment:%d:%d", g, i), "", clearing, ledger.Escrow(fmt.Sprintf("K%d%06d", g, i)), eur(int64(100+g*each+i)))
						if i%3 == 2 { // a payout: the clearing account goes down
							tr = ledger.Transfer(fmt.Sprintf("payout:%d:%d", g, i), "", ledger.BankSettlement, clearing, eur(int64(50+i)))
						}
						if _, err := post(t, db, l, tr); err != nil {
							errs[g] = err
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if shards, _, _ := shardsOf(t, db, clearing, paygate.EUR); len(shards) < 2 {
				t.Fatalf("clearing's entries are in shards %v, want several", shards)
			}
			err := db.View(ctx, func(tx *storage.Tx) error {
				// The balance after each entry, summed in entry order.
				var entries []struct {
					ID        int64     `db:"id"`
					Side      string    `db:"side"`
					Amount    int64     `db:"amount"`
					CreatedAt time.Time `db:"created_at"`
				}
				if err := tx.Select(ctx, &entries, `SELECT e.id, e.side, e.amount, t.created_at FROM ledger_entries e
					JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_transactions t ON t.id = e.transaction_id
					WHERE a.name = ? ORDER BY e.id`, clearing); err != nil {
					return err
				}
				after := map[int64]paygate.Money{}
				var run int64
				for _, e := range entries {
					if e.Side == "D" {
						run += e.Amount
					} else {
						run -= e.Amount
					}
					after[e.ID] = eur(run)
				}
				if err := statementAddsUp(ctx, tx, l, clearing, paygate.EUR, 7); err != nil {
					return err
				}
				// A window in time: its entries need not be consecutive in
				// the account, and their balances are still the account's.
				from, to := start.Add(20*time.Second), start.Add(60*time.Second)
				want := 0
				for _, e := range entries {
					if !e.CreatedAt.Before(from) && e.CreatedAt.Before(to) {
						want++
					}
				}
				got, cursor := 0, ""
				for {
					page, err := l.StatementBetween(ctx, tx, clearing, paygate.EUR, from, to, cursor, 5)
					if err != nil {
						return err
					}
					for _, line := range page.Lines {
						if line.Balance != after[line.EntryID] {
							return fmt.Errorf("window line %d (entry %d) balance = %v, want %v", got, line.EntryID, line.Balance, after[line.EntryID])
						}
						if line.CreatedAt.Before(from) || !line.CreatedAt.Before(to) {
							return fmt.Errorf("window line %d posted at %v, outside [%v, %v)", got, line.CreatedAt, from, to)
						}
						got++
					}
					if page.Next == "" {
						break
					}
					cursor = page.Next
				}
				if got != want || want == 0 {
					return fmt.Errorf("the window has %d lines, want %d (> 0)", got, want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrationShardsExistingAccounts builds a ledger with the first
// migration only, as the code before sharding wrote it, then opens it with
// every migration: the totals of the accounts without overdraft guard move
// to their shard 0, the entries are in shard 0, the balances and statements
// are unchanged, Verify is clean, and posting goes on.
func TestMigrationShardsExistingAccounts(t *testing.T) {
	first := fstest.MapFS{}
	m := ledger.Migrations()
	err := fs.WalkDir(m.FS, m.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(path, "/0001_") {
			return err
		}
		b, err := fs.ReadFile(m.FS, path)
		first[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil || len(first) != 2 {
		t.Fatalf("first migration: %d files, %v", len(first), err)
	}
	v1 := storage.Options{Migrations: []storage.Migrations{events.Migrations(), {Component: m.Component, FS: first, Dir: m.Dir}}}
	for _, be := range storagetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := be.DSN(t)
			old, err := storage.Open(ctx, dsn, v1)
			if err != nil {
				t.Fatal(err)
			}
			// Two settlements and a completion with commission, with the
			// totals and running totals that the code before sharding kept.
			err = old.Update(ctx, func(tx *storage.Tx) error {
				for _, q := range []string{
					`INSERT INTO ledger_accounts (name, currency, type, no_overdraft, debits, credits, created_at) VALUES
						('provider:stripe:clearing', 'EUR', 'asset', false, 1500, 0, '2026-11-25 12:00:00+00:00'),
						('escrow:K1000001', 'EUR', 'liability', true, 1000, 1000, '2026-11-25 12:00:00+00:00'),
						('escrow:K1000002', 'EUR', 'liability', true, 0, 500, '2026-11-25 12:00:00+00:00'),
						('user:S1:balance', 'EUR', 'liability', true, 0, 900, '2026-11-25 12:00:00+00:00'),
						('platform:commission', 'EUR', 'revenue', false, 0, 100, '2026-11-25 12:00:00+00:00')`,
					`INSERT INTO ledger_transactions (idempotency_key, fingerprint, description, created_at) VALUES
						('settle:1', 'f1', '', '2026-11-25 12:00:00+00:00'), ('complete:1', 'f2', '', '2026-11-25 12:00:00+00:00'), ('settle:2', 'f3', '', '2026-11-25 12:00:00+00:00')`,
					`INSERT INTO ledger_entries (transaction_id, account_id, side, amount, account_debits, account_credits)
						SELECT t.id, a.id, v.column3, v.column4, v.column5, v.column6
						FROM (VALUES ('settle:1', 'provider:stripe:clearing', 'D', 1000, 1000, 0, 1),
							('settle:1', 'escrow:K1000001', 'C', 1000, 0, 1000, 2),
							('complete:1', 'escrow:K1000001', 'D', 1000, 1000, 1000, 3),
							('complete:1', 'user:S1:balance', 'C', 900, 0, 900, 4),
							('complete:1', 'platform:commission', 'C', 100, 0, 100, 5),
							('settle:2', 'provider:stripe:clearing', 'D', 500, 1500, 0, 6),
							('settle:2', 'escrow:K1000002', 'C', 500, 0, 500, 7)) v
						JOIN ledger_transactions t ON t.idempotency_key = v.column1
						JOIN ledger_accounts a ON a.name = v.column2
						ORDER BY v.column7`,
				} {
					if _, err := tx.Exec(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			old.Close()

			db, err := storage.Open(ctx, dsn, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			l := ledger.New(db)
			mustVerify(t, l)
			for _, c := range []struct {
				name string
				want paygate.Money
			}{{clearing, eur(1500)}, {ledger.PlatformCommission, eur(100)}, {ledger.UserBalance("S1"), eur(900)}, {ledger.Escrow("K1000002"), eur(500)}} {
				if got := balance(t, db, l, c.name, paygate.EUR); got != c.want {
					t.Errorf("after the migration %s = %v, want %v", c.name, got, c.want)
				}
			}
			if shards, d, c := shardsOf(t, db, clearing, paygate.EUR); len(shards) != 1 || shards[0] != 0 || d != 0 || c != 0 {
				t.Errorf("after the migration clearing has entries in shards %v and row totals %d, %d; want [0] and 0, 0", shards, d, c)
			}
			if _, d, c := shardsOf(t, db, ledger.UserBalance("S1"), paygate.EUR); d != 0 || c != 900 {
				t.Errorf("after the migration S1's row totals = %d, %d; want 0, 900", d, c)
			}
			// Posting goes on, in other shards.
			for i := range 5 {
				mustPost(t, db, l, ledger.Transfer(fmt.Sprintf("settle:%d", 3+i), "", clearing, ledger.Escrow(fmt.Sprintf("K200000%d", i)), eur(10)))
			}
			if got := balance(t, db, l, clearing, paygate.EUR); got != eur(1550) {
				t.Errorf("clearing = %v, want 15.50", got)
			}
			if shards, _, _ := shardsOf(t, db, clearing, paygate.EUR); len(shards) < 2 {
				t.Errorf("clearing's entries are in shards %v, want several", shards)
			}
			mustVerify(t, l)
			err = db.View(ctx, func(tx *storage.Tx) error {
				return statementAddsUp(ctx, tx, l, clearing, paygate.EUR, 3)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestShardTotalsCannotOverflowTheAccount: a shard holds at most
// MaxInt64/16 of debits or credits, so the sum of an account's shards fits an
// int64. A posting past that is refused as invalid, as any overflow is.
func TestShardTotalsCannotOverflowTheAccount(t *testing.T) {
	const shardCap = math.MaxInt64 / 16
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ctx := context.Background()
		_, err := post(t, db, l, ledger.Transfer("too-much", "", clearing, ledger.Escrow("K1000001"), eur(shardCap+1)))
		if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), "overflow") {
			t.Fatalf("Post(MaxInt64/16 + 1 through clearing) = %v, want an invalid overflow error", err)
		}
		if c := count(t, db); c != (counts{}) {
			t.Fatalf("a refused posting left %+v", c)
		}
		mustPost(t, db, l, ledger.Transfer("just-enough", "", clearing, ledger.Escrow("K1000001"), eur(shardCap)))
		// The next 15 transactions add to the other shards; the 16th comes
		// back to the full one, which refuses even a cent.
		for i := range 15 {
			mustPost(t, db, l, ledger.Transfer(fmt.Sprintf("small:%d", i), "", clearing, ledger.Escrow("K1000001"), eur(1)))
		}
		before := count(t, db)
		if _, err := post(t, db, l, ledger.Transfer("one-more", "", clearing, ledger.Escrow("K1000001"), eur(1))); err == nil {
			t.Fatal("Post of a cent into a full shard succeeded")
		}
		if after := count(t, db); after != before {
			t.Fatalf("a refused posting changed the ledger from %+v to %+v", before, after)
		}
		// In a batch that may be declined (a user pays from a balance), the
		// overflowing posting alone is refused.
		mustPost(t, db, l, deposit("deposit:1", "U1", eur(10)))
		err = db.Update(ctx, func(tx *storage.Tx) error {
			rs, err := l.PostBatch(ctx, tx, []ledger.Transaction{
				ledger.Transfer("pay:1", "", ledger.UserBalance("U1"), ledger.Escrow("K1000002"), eur(5)),
				ledger.Transfer("too-much:2", "", ledger.BankSettlement, clearing, eur(shardCap+1)),
			})
			if err != nil {
				return err
			}
			if rs[0].Err != nil || rs[0].Status != ledger.Created {
				return fmt.Errorf("PostBatch[0] = %+v, want created", rs[0])
			}
			if paygate.ErrorCode(rs[1].Err) != paygate.EINVALID || !strings.Contains(rs[1].Err.Error(), "overflow") {
				return fmt.Errorf("PostBatch[1] = %v, want an invalid overflow error", rs[1].Err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := balance(t, db, l, ledger.Escrow("K1000002"), paygate.EUR); got != eur(5) {
			t.Fatalf("escrow = %v, want 0.05", got)
		}
		if got := balance(t, db, l, clearing, paygate.EUR); got != eur(shardCap+15+10) {
			t.Fatalf("clearing = %v, want MaxInt64/16 + 0.25", got)
		}
		mustVerify(t, l)
	})
}
