package ledger_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

var (
	seedFlag = flag.Uint64("seed", 0, "seed of the ledger property test (0: from the clock)")
	opsFlag  = flag.Int("ops", 3000, "postings per backend in the ledger property test")
)

// model is the ledger as the property test expects it: balances by account
// and currency (debit positive), and the entries of every posted key.
type model struct {
	balances map[string]int64 // "name|currency" → debits - credits
	posted   map[string]ledger.Transaction
	classes  map[string]ledger.Class
}

func (m *model) clone() *model {
	c := &model{balances: map[string]int64{}, posted: map[string]ledger.Transaction{}, classes: m.classes}
	for k, v := range m.balances {
		c.balances[k] = v
	}
	for k, v := range m.posted {
		c.posted[k] = v
	}
	return c
}

// apply returns what Post should answer for tr and updates the model.
func (m *model) apply(tr ledger.Transaction) (want string) {
	if old, ok := m.posted[tr.Key]; ok {
		if sameEntries(old, tr) {
			return "already_posted"
		}
		return "conflict"
	}
	next := map[string]int64{}
	for _, e := range tr.Entries {
		k := e.Account + "|" + string(e.Amount.Currency)
		if _, ok := next[k]; !ok {
			next[k] = m.balances[k]
		}
		if e.Side == ledger.Debit {
			next[k] += e.Amount.Minor
		} else {
			next[k] -= e.Amount.Minor
		}
	}
	for k, v := range next {
		name := k[:len(k)-4]
		if m.classes[name].NoOverdraft && v > 0 { // liabilities: credit-normal
			return "insufficient"
		}
	}
	for k, v := range next {
		m.balances[k] = v
	}
	m.posted[tr.Key] = tr
	return "created"
}

func sameEntries(a, b ledger.Transaction) bool {
	count := map[ledger.Entry]int{}
	for _, e := range a.Entries {
		count[e]++
	}
	for _, e := range b.Entries {
		count[e]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return len(a.Entries) == len(b.Entries)
}

func outcome(res ledger.Result, err error) string {
	var conflict *ledger.ConflictError
	var insufficient *ledger.InsufficientFundsError
	switch {
	case err == nil:
		return res.Status.String()
	case errors.As(err, &conflict):
		return "conflict"
	case errors.As(err, &insufficient):
		return "insufficient"
	}
	return "error: " + err.Error()
}

// worker posts random transactions (random accounts of its names,
// currencies and amounts, repeated keys with the same and with other entries,
// overdraft attempts, batches that roll back) and checks every answer against
// its model. Workers running at once use keys and guarded accounts of their
// own and share the accounts without overdraft guard (the sharded ones): what
// a posting does to those does not depend on the other workers.
type worker struct {
	db     *storage.DB
	l      *ledger.Ledger
	rng    *rand.Rand
	names  []string
	prefix string
	m      *model
	keys   []string
	stats  map[string]int
}

var currencies = []paygate.Currency{paygate.EUR, paygate.KRW, paygate.SGD}

func newWorker(db *storage.DB, l *ledger.Ledger, seed uint64, prefix string, names []string) (*worker, error) {
	m := &model{balances: map[string]int64{}, posted: map[string]ledger.Transaction{}, classes: map[string]ledger.Class{}}
	for _, n := range names {
		c, err := ledger.Classify(n)
		if err != nil {
			return nil, err
		}
		m.classes[n] = c
	}
	return &worker{db: db, l: l, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), names: names,
		prefix: prefix, m: m, stats: map[string]int{}}, nil
}

func (w *worker) random() ledger.Transaction {
	key := fmt.Sprintf("%sk%d", w.prefix, len(w.keys))
	if len(w.keys) > 0 && w.rng.IntN(8) == 0 {
		key = w.keys[w.rng.IntN(len(w.keys))] // a repeated key
		if old, ok := w.m.posted[key]; ok && w.rng.IntN(2) == 0 {
			return old // with the same entries
		}
	} else {
		w.keys = append(w.keys, key)
	}
	tr := ledger.Transaction{Key: key}
	for range 1 + w.rng.IntN(3) { // 1 to 3 balanced legs, maybe in several currencies
		cur := currencies[w.rng.IntN(len(currencies))]
		amount := paygate.New(1+w.rng.Int64N(5000), cur)
		from, to := w.names[w.rng.IntN(len(w.names))], w.names[w.rng.IntN(len(w.names))]
		tr.Entries = append(tr.Entries,
			ledger.Entry{Account: from, Side: ledger.Debit, Amount: amount},
			ledger.Entry{Account: to, Side: ledger.Credit, Amount: amount})
	}
	return tr
}

// run posts ops random transactions, in batches of 1 to 5 in one database
// transaction, one batch in ten rolled back at the end. A batch that fails
// with a retryable error (PostgreSQL: a deadlock between workers) runs
// again.
func (w *worker) run(ctx context.Context, ops int) error {
	for done := 0; done < ops; {
		n := 1 + w.rng.IntN(5)
		rollback := w.rng.IntN(10) == 0
		batch := w.m.clone()
		trs := make([]ledger.Transaction, n)
		wants := make([]string, n)
		for i := range n {
			trs[i] = w.random()
			wants[i] = batch.apply(trs[i])
		}
		// Half the batches go through PostBatch, half through Post one
		// by one: both must answer as the model does.
		useBatch := w.rng.IntN(2) == 0
		for attempt := 1; ; attempt++ {
			err := w.post(ctx, done, trs, wants, useBatch, rollback)
			if err == nil {
				break
			}
			if !storage.IsRetryable(err) || attempt == 5 {
				return err
			}
			w.stats["retried batches"]++
		}
		done += n
		if !rollback {
			w.m = batch
		}
	}
	return nil
}

func (w *worker) post(ctx context.Context, op int, trs []ledger.Transaction, wants []string, useBatch, rollback bool) error {
	tx, err := w.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	gots := make([]string, len(trs))
	if useBatch {
		rs, err := w.l.PostBatch(ctx, tx, trs)
		if err != nil {
			return fmt.Errorf("op %d: PostBatch = %w", op, err)
		}
		for i, r := range rs {
			gots[i] = outcome(r.Result, r.Err)
		}
	} else {
		for i, tr := range trs {
			res, err := w.l.Post(ctx, tx, tr)
			if storage.IsRetryable(err) {
				return fmt.Errorf("op %d: Post = %w", op+i, err)
			}
			gots[i] = outcome(res, err)
		}
	}
	for i := range trs {
		if gots[i] != wants[i] {
			return fmt.Errorf("op %d: Post(%q, %+v) = %s, model says %s", op+i, trs[i].Key, trs[i].Entries, gots[i], wants[i])
		}
	}
	for _, g := range gots {
		w.stats[g]++
	}
	if useBatch {
		w.stats["batches"]++
	}
	if rollback {
		w.stats["rolled back batches"]++
		return tx.Rollback()
	}
	return tx.Commit()
}

// hotNames are the accounts without overdraft guard that the property tests
// post to: sharded accounts.
var hotNames = []string{ledger.ProviderClearing("stripe"), ledger.ProviderClearing("rapyd"), ledger.BankSettlement,
	ledger.PlatformCommission, ledger.PlatformProviderFees, ledger.PlatformSuspense}

// TestPropertyRandomPostings posts thousands of random transactions (see
// worker) and checks every answer against a model, then the invariants (see
// checkAgainstModels). Reproduce a failure with -seed.
func TestPropertyRandomPostings(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		names := append([]string(nil), hotNames...)
		for i := range 6 {
			names = append(names, ledger.UserBalance(fmt.Sprintf("U%d", i)), ledger.Escrow(fmt.Sprintf("K%07d", i)))
		}
		w, err := newWorker(db, l, seed, "", names)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.run(context.Background(), *opsFlag); err != nil {
			t.Fatal(err)
		}
		checkAgainstModels(t, db, l, []*worker{w})
	})
}

// TestPropertyConcurrentPostings runs 8 workers at once, each with its own
// keys, user balances and escrows, all through the same accounts without
// overdraft guard. Every answer must be its worker's model's, and at the end
// each shared account holds what the workers put in it together, in several
// shards. Reproduce a failure with -seed (the interleaving may differ).
func TestPropertyConcurrentPostings(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	const workers = 8
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		ws := make([]*worker, workers)
		for i := range ws {
			names := append([]string(nil), hotNames...)
			for j := range 2 {
				names = append(names, ledger.UserBalance(fmt.Sprintf("W%dU%d", i, j)), ledger.Escrow(fmt.Sprintf("K%d%06d", i, j)))
			}
			var err error
			if ws[i], err = newWorker(db, l, seed+uint64(i), fmt.Sprintf("w%d:", i), names); err != nil {
				t.Fatal(err)
			}
		}
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.run(context.Background(), max(*opsFlag/workers, 100))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", i, err)
			}
		}
		checkAgainstModels(t, db, l, ws)
	})
}

// checkAgainstModels checks the invariants after the workers ran: every
// outcome was exercised; Verify finds nothing (per currency the ledger sums
// to zero, cached balances and shards equal the entries, running totals
// follow); every balance is the sum of the workers' models; no user balance
// is negative; each key is posted once; the accounts without overdraft guard
// used several shards; their statements add up, page after page.
func checkAgainstModels(t *testing.T, db *storage.DB, l *ledger.Ledger, ws []*worker) {
	t.Helper()
	ctx := context.Background()
	stats := map[string]int{}
	want := map[string]int64{}
	classes := map[string]ledger.Class{}
	posted := 0
	for _, w := range ws {
		for k, v := range w.stats {
			stats[k] += v
		}
		for k, v := range w.m.balances {
			want[k] += v
		}
		for k, v := range w.m.classes {
			classes[k] = v
		}
		posted += len(w.m.posted)
	}
	t.Logf("outcomes: %v", stats)
	if stats["insufficient"] == 0 || stats["conflict"] == 0 || stats["already_posted"] == 0 {
		t.Fatalf("the random sequence did not exercise every outcome: %v", stats)
	}
	mustVerify(t, l)
	err := db.View(ctx, func(tx *storage.Tx) error {
		for n, class := range classes {
			for _, c := range currencies {
				b, err := l.Balance(ctx, tx, n, c)
				if err != nil {
					return err
				}
				if got, want := b.Debits-b.Credits, want[n+"|"+string(c)]; got != want {
					return fmt.Errorf("%s %s: debits-credits = %d, model %d", n, c, got, want)
				}
				if class.NoOverdraft && b.Normal().Minor < 0 {
					return fmt.Errorf("%s %s is negative: %v", n, c, b.Normal())
				}
			}
		}
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM ledger_transactions`); err != nil {
			return err
		}
		if n != posted {
			return fmt.Errorf("%d transactions posted, model %d (each key once)", n, posted)
		}
		if err := tx.Get(ctx, &n, `SELECT COUNT(DISTINCT e.shard) FROM ledger_entries e
			JOIN ledger_accounts a ON a.id = e.account_id WHERE a.name = ?`, ledger.ProviderClearing("stripe")); err != nil {
			return err
		}
		if n < 2 {
			return fmt.Errorf("the entries of %s are in %d shard(s), want several", ledger.ProviderClearing("stripe"), n)
		}
		for _, name := range hotNames {
			for _, c := range currencies {
				if err := statementAddsUp(ctx, tx, l, name, c, 1+len(name)%7); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[paygate.Currency]int64{}
	for k, v := range want {
		sums[paygate.Currency(k[len(k)-3:])] += v
	}
	for c, s := range sums {
		if s != 0 {
			t.Fatalf("model sums to %d in %s", s, c)
		}
	}
}

// statementAddsUp reads an account's whole statement, limit lines a page,
// and checks that the newest line's balance is the account's, that each
// line's balance is the one after it plus its change, that the oldest
// starts from zero, and that it has a line per entry.
func statementAddsUp(ctx context.Context, tx *storage.Tx, l *ledger.Ledger, name string, c paygate.Currency, limit int) error {
	b, err := l.Balance(ctx, tx, name, c)
	if err != nil {
		return err
	}
	want, lines, cursor := b.Normal(), 0, ""
	for {
		page, err := l.Statement(ctx, tx, name, c, cursor, limit)
		if err != nil {
			return err
		}
		for _, line := range page.Lines {
			if line.Balance != want {
				return fmt.Errorf("statement of %s %s: line %d (entry %d, %s) balance = %v, want %v", name, c, lines, line.EntryID, line.TransactionKey, line.Balance, want)
			}
			want, _ = want.Sub(line.Change)
			lines++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if !want.IsZero() {
		return fmt.Errorf("statement of %s %s: balance before the first entry = %v, want 0", name, c, want)
	}
	var entries int
	if err := tx.Get(ctx, &entries, `SELECT COUNT(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE a.name = ? AND a.currency = ?`, name, string(c)); err != nil {
		return err
	}
	if lines != entries {
		return fmt.Errorf("statement of %s %s has %d lines, the account %d entries", name, c, lines, entries)
	}
	return nil
}
