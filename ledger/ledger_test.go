package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

var opts = storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations()}}

func eur(minor int64) paygate.Money { return paygate.New(minor, paygate.EUR) }

// post posts t in its own write transaction.
func post(t testing.TB, db *storage.DB, l *ledger.Ledger, tr ledger.Transaction) (ledger.Result, error) {
	t.Helper()
	var res ledger.Result
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		var err error
		res, err = l.Post(context.Background(), tx, tr)
		return err
	})
	return res, err
}

func mustPost(t testing.TB, db *storage.DB, l *ledger.Ledger, tr ledger.Transaction) ledger.Result {
	t.Helper()
	res, err := post(t, db, l, tr)
	if err != nil {
		t.Fatalf("Post(%q) = %v", tr.Key, err)
	}
	return res
}

func balance(t testing.TB, db *storage.DB, l *ledger.Ledger, name string, c paygate.Currency) paygate.Money {
	t.Helper()
	var b ledger.Balance
	err := db.View(context.Background(), func(tx *storage.Tx) error {
		var err error
		b, err = l.Balance(context.Background(), tx, name, c)
		return err
	})
	if err != nil {
		t.Fatalf("Balance(%s) = %v", name, err)
	}
	return b.Normal()
}

type counts struct{ accounts, transactions, entries int64 }

func count(t testing.TB, db *storage.DB) counts {
	t.Helper()
	var c counts
	err := db.View(context.Background(), func(tx *storage.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT
			(SELECT COUNT(*) FROM ledger_accounts),
			(SELECT COUNT(*) FROM ledger_transactions),
			(SELECT COUNT(*) FROM ledger_entries)`).Scan(&c.accounts, &c.transactions, &c.entries)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustVerify(t testing.TB, l *ledger.Ledger) {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	if !r.OK() {
		t.Fatalf("Verify() found drift:\n%s", reportText(r))
	}
}

func reportText(r ledger.Report) string {
	var b strings.Builder
	r.WriteTo(&b)
	return b.String()
}

// deposit credits a user's balance with money received at Stripe.
func deposit(key, user string, m paygate.Money) ledger.Transaction {
	return ledger.Transfer(key, "deposit", ledger.ProviderClearing("stripe"), ledger.UserBalance(user), m)
}

func TestPostTransfersAndBalances(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		res := mustPost(t, db, l, ledger.Transfer("payment:P10000001:settled", "settle", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000001"), eur(1250)))
		if res.Status != ledger.Created || res.Transaction.ID == 0 {
			t.Fatalf("Post = %+v, want Created with an id", res)
		}
		mustPost(t, db, l, ledger.Transaction{Key: "order:K1000001:completed", Entries: []ledger.Entry{
			{Account: ledger.Escrow("K1000001"), Side: ledger.Debit, Amount: eur(1250)},
			{Account: ledger.UserBalance("S1"), Side: ledger.Credit, Amount: eur(1125)},
			{Account: ledger.PlatformCommission, Side: ledger.Credit, Amount: eur(125)},
		}})
		for _, c := range []struct {
			account string
			want    paygate.Money
		}{
			{ledger.ProviderClearing("stripe"), eur(1250)},
			{ledger.Escrow("K1000001"), eur(0)},
			{ledger.UserBalance("S1"), eur(1125)},
			{ledger.PlatformCommission, eur(125)},
		} {
			if got := balance(t, db, l, c.account, paygate.EUR); got != c.want {
				t.Errorf("balance(%s) = %v, want %v", c.account, got, c.want)
			}
		}
		if got := balance(t, db, l, ledger.UserBalance("nobody"), paygate.EUR); got != eur(0) {
			t.Errorf("balance of an unknown account = %v, want 0", got)
		}
		mustVerify(t, l)
	})
}

func TestPostMultiCurrency(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		krw := paygate.New(15000, paygate.KRW)
		mustPost(t, db, l, ledger.Transaction{Key: "multi", Entries: []ledger.Entry{
			{Account: ledger.ProviderClearing("rapyd"), Side: ledger.Debit, Amount: krw},
			{Account: ledger.UserBalance("U1"), Side: ledger.Credit, Amount: krw},
			{Account: ledger.ProviderClearing("stripe"), Side: ledger.Debit, Amount: eur(5)},
			{Account: ledger.UserBalance("U1"), Side: ledger.Credit, Amount: eur(5)},
		}})
		var bs []ledger.Balance
		db.View(context.Background(), func(tx *storage.Tx) error {
			var err error
			bs, err = l.Balances(context.Background(), tx, ledger.UserBalance("U1"))
			return err
		})
		if len(bs) != 2 || bs[0].Normal() != eur(5) || bs[1].Normal() != krw {
			t.Fatalf("Balances(U1) = %+v, want 0.05 EUR and 15000 KRW", bs)
		}
		mustVerify(t, l)
	})
}

func TestPostRefusesInvalid(t *testing.T) {
	clearing, user := ledger.ProviderClearing("stripe"), ledger.UserBalance("U1")
	tests := []struct {
		name    string
		tr      ledger.Transaction
		message string
	}{
		{"no key", ledger.Transfer("", "", clearing, user, eur(1)), "no idempotency key"},
		{"one entry", ledger.Transaction{Key: "k", Entries: []ledger.Entry{{Account: user, Side: ledger.Credit, Amount: eur(1)}}}, "at least 2"},
		{"unbalanced", ledger.Transaction{Key: "k", Entries: []ledger.Entry{
			{Account: clearing, Side: ledger.Debit, Amount: eur(100)},
			{Account: user, Side: ledger.Credit, Amount: eur(99)},
		}}, "does not balance in EUR"},
		{"balanced across currencies only", ledger.Transaction{Key: "k", Entries: []ledger.Entry{
			{Account: clearing, Side: ledger.Debit, Amount: eur(100)},
			{Account: user, Side: ledger.Credit, Amount: paygate.New(100, paygate.SGD)},
		}}, "does not balance"},
		{"zero amount", ledger.Transfer("k", "", clearing, user, eur(0)), "must be positive"},
		{"negative amount", ledger.Transfer("k", "", clearing, user, eur(-5)), "must be positive"},
		{"unknown currency", ledger.Transfer("k", "", clearing, user, paygate.New(5, "XXX")), "unknown currency"},
		{"bad account", ledger.Transfer("k", "", "cash", user, eur(5)), "outside the naming scheme"},
		{"bad side", ledger.Transaction{Key: "k", Entries: []ledger.Entry{
			{Account: clearing, Side: "X", Amount: eur(1)},
			{Account: user, Side: ledger.Credit, Amount: eur(1)},
		}}, "neither D nor C"},
		{"overflowing sums", ledger.Transaction{Key: "k", Entries: []ledger.Entry{
			{Account: clearing, Side: ledger.Debit, Amount: eur(1 << 62)},
			{Account: clearing, Side: ledger.Debit, Amount: eur(1 << 62)},
			{Account: user, Side: ledger.Credit, Amount: eur(1 << 62)},
			{Account: user, Side: ledger.Credit, Amount: eur(1 << 62)},
		}}, "overflow"},
	}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := post(t, db, l, tt.tr)
				if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), tt.message) {
					t.Fatalf("Post(%s) = %v, want an invalid error saying %q", tt.name, err, tt.message)
				}
				if c := count(t, db); c != (counts{}) {
					t.Fatalf("after a refused posting the ledger holds %+v, want nothing", c)
				}
			})
		}
	})
}

func TestIdempotency(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		tr := ledger.Transfer("payment:P10000002:settled", "settle", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000002"), eur(700))
		first := mustPost(t, db, l, tr)
		before := count(t, db)
		again := mustPost(t, db, l, tr)
		if again.Status != ledger.AlreadyPosted || again.Transaction.ID != first.Transaction.ID {
			t.Fatalf("second Post = %v id %d, want already_posted id %d", again.Status, again.Transaction.ID, first.Transaction.ID)
		}
		if len(again.Transaction.Entries) != 2 || again.Transaction.Entries[0] != tr.Entries[0] {
			t.Errorf("already posted entries = %+v, want %+v", again.Transaction.Entries, tr.Entries)
		}
		if after := count(t, db); after != before {
			t.Fatalf("a repeated key changed the ledger: %+v, want %+v", after, before)
		}
		err := db.View(context.Background(), func(tx *storage.Tx) error {
			got, err := l.Transaction(context.Background(), tx, tr.Key)
			if err != nil || got.ID != first.Transaction.ID || len(got.Entries) != 2 || got.Entries[1] != tr.Entries[1] {
				return fmt.Errorf("Transaction(%q) = %+v, %v; want the first posting", tr.Key, got, err)
			}
			if _, err := l.Transaction(context.Background(), tx, "no-such-key"); paygate.ErrorCode(err) != paygate.ENOTFOUND {
				return fmt.Errorf("Transaction(no-such-key) = %v, want not found", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		conflicts := []struct {
			name   string
			tr     ledger.Transaction
			reason string
		}{
			{"different amount", ledger.Transfer(tr.Key, "", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000002"), eur(701)), ledger.DifferentAmounts},
			{"different account", ledger.Transfer(tr.Key, "", ledger.ProviderClearing("rapyd"), ledger.Escrow("K1000002"), eur(700)), ledger.DifferentAccounts},
			{"different currency", ledger.Transfer(tr.Key, "", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000002"), paygate.New(700, paygate.SGD)), ledger.DifferentAccounts},
			{"different entry count", ledger.Transaction{Key: tr.Key, Entries: append([]ledger.Entry{
				{Account: ledger.ProviderClearing("stripe"), Side: ledger.Debit, Amount: eur(1)},
				{Account: ledger.Escrow("K1000002"), Side: ledger.Credit, Amount: eur(1)},
			}, tr.Entries...)}, ledger.DifferentEntryCount},
		}
		for _, c := range conflicts {
			t.Run(c.name, func(t *testing.T) {
				_, err := post(t, db, l, c.tr)
				var ce *ledger.ConflictError
				if !errors.As(err, &ce) || ce.Reason != c.reason || paygate.ErrorCode(err) != paygate.ECONFLICT {
					t.Fatalf("Post(%s) = %v, want a conflict %s", c.name, err, c.reason)
				}
				if ce.Existing.ID != first.Transaction.ID {
					t.Errorf("conflict names transaction %d, want %d", ce.Existing.ID, first.Transaction.ID)
				}
				if after := count(t, db); after != before {
					t.Fatalf("a conflicting key changed the ledger: %+v, want %+v", after, before)
				}
			})
		}
		mustVerify(t, l)
	})
}

func TestSameKeyRacing(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		tr := ledger.Transfer("payment:P10000003:settled", "", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000003"), eur(999))
		const n = 50
		results := make([]ledger.Result, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = post(t, db, l, tr)
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Post #%d = %v", i, errs[i])
			}
			if results[i].Status == ledger.Created {
				created++
			}
			if results[i].Transaction.ID != results[0].Transaction.ID {
				t.Fatalf("Post #%d returned transaction %d, #0 returned %d", i, results[i].Transaction.ID, results[0].Transaction.ID)
			}
		}
		if created != 1 {
			t.Fatalf("%d of %d racing posts of one key were created, want exactly 1", created, n)
		}
		if got := balance(t, db, l, ledger.Escrow("K1000003"), paygate.EUR); got != eur(999) {
			t.Fatalf("escrow = %v, want 9.99 EUR", got)
		}
		mustVerify(t, l)
	})
}

func TestOverdraftDeclined(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		user := ledger.UserBalance("U7")
		mustPost(t, db, l, deposit("deposit:1", "U7", eur(1000)))
		before := count(t, db)
		ctx := context.Background()
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := l.Post(ctx, tx, ledger.Transfer("pay:1", "", user, ledger.Escrow("K1000007"), eur(1001)))
			var insufficient *ledger.InsufficientFundsError
			if !errors.As(err, &insufficient) || paygate.ErrorCode(err) != paygate.EINSUFFICIENT {
				return fmt.Errorf("Post(10.01 from 10.00) = %v, want insufficient funds", err)
			}
			if insufficient.Available != eur(1000) || insufficient.Needed != eur(1001) || insufficient.Account != user {
				return fmt.Errorf("insufficient funds = %+v, want 10.00 available, 10.01 needed in %s", insufficient, user)
			}
			// The caller's transaction goes on after a decline.
			_, err = l.Post(ctx, tx, ledger.Transfer("pay:2", "", user, ledger.Escrow("K1000007"), eur(1000)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		after := count(t, db)
		if after.transactions != before.transactions+1 || after.entries != before.entries+2 {
			t.Fatalf("ledger went from %+v to %+v, want exactly the second posting", before, after)
		}
		if got := balance(t, db, l, user, paygate.EUR); got != eur(0) {
			t.Fatalf("balance = %v, want 0", got)
		}
		// The declined key was not used up: it can be posted once funds exist.
		mustPost(t, db, l, deposit("deposit:2", "U7", eur(1001)))
		if res := mustPost(t, db, l, ledger.Transfer("pay:1", "", user, ledger.Escrow("K1000007"), eur(1001))); res.Status != ledger.Created {
			t.Fatalf("retry of a declined key = %v, want created", res.Status)
		}
		mustVerify(t, l)
	})
}

func TestOverdraftRacing(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		user := ledger.UserBalance("U8")
		mustPost(t, db, l, deposit("deposit:1", "U8", eur(100)))
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = post(t, db, l, ledger.Transfer(fmt.Sprintf("pay:%d", i), "", user, ledger.Escrow(fmt.Sprintf("K%07d", i)), eur(3)))
			}()
		}
		wg.Wait()
		ok, declined := 0, 0
		for i, err := range errs {
			var insufficient *ledger.InsufficientFundsError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &insufficient):
				declined++
			default:
				t.Fatalf("Post #%d = %v", i, err)
			}
		}
		if ok != 33 || declined != 17 {
			t.Fatalf("%d succeeded and %d were declined, want 33 and 17 (1.00 EUR in 0.03 steps)", ok, declined)
		}
		if got := balance(t, db, l, user, paygate.EUR); got != eur(1) {
			t.Fatalf("balance = %v, want 0.01", got)
		}
		mustVerify(t, l)
	})
}

func TestPostJoinsCallerTransaction(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ctx := context.Background()
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Post(ctx, tx, deposit("deposit:rolled-back", "U9", eur(5))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if c := count(t, db); c != (counts{}) {
			t.Fatalf("a rolled-back posting left %+v", c)
		}
		// The account created in the rolled-back transaction is not cached.
		if res := mustPost(t, db, l, deposit("deposit:rolled-back", "U9", eur(5))); res.Status != ledger.Created {
			t.Fatalf("repost after rollback = %v, want created", res.Status)
		}
		mustVerify(t, l)
	})
}

func TestEntriesAreImmutable(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		mustPost(t, db, l, deposit("deposit:1", "U1", eur(5)))
		ctx := context.Background()
		for _, q := range []string{
			`UPDATE ledger_entries SET amount = amount + 1`,
			`DELETE FROM ledger_entries`,
			`UPDATE ledger_transactions SET description = 'changed'`,
			`DELETE FROM ledger_transactions`,
		} {
			err := db.Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, q)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "immutable") {
				t.Errorf("%s = %v, want an immutable error", q, err)
			}
		}
		mustVerify(t, l)
	})
}

func TestStatement(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		user := ledger.UserBalance("U5")
		for i := 1; i <= 25; i++ {
			mustPost(t, db, l, deposit(fmt.Sprintf("deposit:%d", i), "U5", eur(int64(i))))
			if i%5 == 0 {
				mustPost(t, db, l, ledger.Transfer(fmt.Sprintf("pay:%d", i), "", user, ledger.Escrow("K0000005"), eur(3)))
			}
		}
		ctx := context.Background()
		var lines []ledger.StatementLine
		cursor, pages := "", 0
		for {
			var page ledger.StatementPage
			err := db.View(ctx, func(tx *storage.Tx) error {
				var err error
				page, err = l.Statement(ctx, tx, user, paygate.EUR, cursor, 10)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			lines = append(lines, page.Lines...)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		if len(lines) != 30 || pages != 3 {
			t.Fatalf("statement has %d lines in %d pages, want 30 in 3", len(lines), pages)
		}
		want := balance(t, db, l, user, paygate.EUR)
		for i, line := range lines {
			if line.Balance != want {
				t.Fatalf("line %d (%s) balance = %v, want %v", i, line.TransactionKey, line.Balance, want)
			}
			want, _ = want.Sub(line.Change)
		}
		if !want.IsZero() {
			t.Fatalf("balance before the first entry = %v, want 0", want)
		}
		if lines[0].TransactionKey != "pay:25" || lines[0].Change != eur(-3) {
			t.Errorf("newest line = %+v, want pay:25 of -0.03", lines[0])
		}
		err := db.View(ctx, func(tx *storage.Tx) error {
			_, err := l.Statement(ctx, tx, user, paygate.EUR, "bogus", 10)
			return err
		})
		if paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("Statement(cursor bogus) = %v, want invalid", err)
		}
	})
}

func TestVerifyFindsDrift(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		mustPost(t, db, l, deposit("deposit:1", "U1", eur(500)))
		mustVerify(t, l)
		ctx := context.Background()
		// Corrupt a cached balance behind the ledger's back.
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE ledger_accounts SET credits = credits + 1 WHERE name = ?`, ledger.UserBalance("U1"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Fatal("Verify() = OK after corrupting a cached balance")
		}
		failed := map[string]bool{}
		for _, c := range r.Checks {
			if len(c.Problems) > 0 {
				failed[c.Name] = true
			}
		}
		if !failed["cached balances equal the sum of entries"] || !failed["the ledger sums to zero per currency"] {
			t.Fatalf("failed checks = %v, want the cached-balance and zero-sum checks", failed)
		}
		text := reportText(r)
		if !strings.Contains(text, "user:U1:balance EUR") || !strings.Contains(text, "DRIFT FOUND") {
			t.Errorf("report does not name the account:\n%s", text)
		}
	})
}

func TestDeclinedPostingCreatesNoAccount(t *testing.T) {
	// A declined posting rolls back the accounts it created; the ledger must
	// not remember their ids (SQLite reuses rolled-back row ids, so a stale
	// id would name another account).
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ctx := context.Background()
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := l.Post(ctx, tx, ledger.Transfer("pay:1", "", ledger.UserBalance("U1"), ledger.Escrow("K0000001"), eur(5)))
			if paygate.ErrorCode(err) != paygate.EINSUFFICIENT {
				return fmt.Errorf("Post from an empty balance = %v, want insufficient", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if c := count(t, db); c != (counts{}) {
			t.Fatalf("a declined posting left %+v", c)
		}
		mustPost(t, db, l, deposit("deposit:1", "U2", eur(7)))
		mustPost(t, db, l, ledger.Transfer("pay:2", "", ledger.UserBalance("U2"), ledger.Escrow("K0000001"), eur(7)))
		if got := balance(t, db, l, ledger.Escrow("K0000001"), paygate.EUR); got != eur(7) {
			t.Fatalf("escrow = %v, want 0.07", got)
		}
		if got := balance(t, db, l, ledger.UserBalance("U2"), paygate.EUR); got != eur(0) {
			t.Fatalf("U2 = %v, want 0", got)
		}
		mustVerify(t, l)
	})
}
