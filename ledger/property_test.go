package ledger_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
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

// TestPropertyRandomPostings posts thousands of random transactions (random
// accounts, currencies and amounts, repeated keys with the same and with
// other entries, overdraft attempts, batches that roll back) and checks every
// answer against a model, then the invariants: per currency the ledger sums
// to zero, cached balances equal the entries (Verify), no user balance is
// negative, each key is posted once. Reproduce a failure with -seed.
func TestPropertyRandomPostings(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		l := ledger.New(db)
		ctx := context.Background()
		names := []string{ledger.ProviderClearing("stripe"), ledger.ProviderClearing("rapyd"), ledger.BankSettlement,
			ledger.PlatformCommission, ledger.PlatformProviderFees, ledger.PlatformSuspense}
		for i := range 6 {
			names = append(names, ledger.UserBalance(fmt.Sprintf("U%d", i)), ledger.Escrow(fmt.Sprintf("K%07d", i)))
		}
		m := &model{balances: map[string]int64{}, posted: map[string]ledger.Transaction{}, classes: map[string]ledger.Class{}}
		for _, n := range names {
			c, err := ledger.Classify(n)
			if err != nil {
				t.Fatal(err)
			}
			m.classes[n] = c
		}
		currencies := []paygate.Currency{paygate.EUR, paygate.KRW, paygate.SGD}
		var keys []string
		random := func() ledger.Transaction {
			key := fmt.Sprintf("k%d", len(keys))
			if len(keys) > 0 && rng.IntN(8) == 0 {
				key = keys[rng.IntN(len(keys))] // a repeated key
				if old, ok := m.posted[key]; ok && rng.IntN(2) == 0 {
					return old // with the same entries
				}
			} else {
				keys = append(keys, key)
			}
			tr := ledger.Transaction{Key: key}
			for range 1 + rng.IntN(3) { // 1 to 3 balanced legs, maybe in several currencies
				cur := currencies[rng.IntN(len(currencies))]
				amount := paygate.New(1+rng.Int64N(5000), cur)
				from, to := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
				tr.Entries = append(tr.Entries,
					ledger.Entry{Account: from, Side: ledger.Debit, Amount: amount},
					ledger.Entry{Account: to, Side: ledger.Credit, Amount: amount})
			}
			return tr
		}
		stats := map[string]int{}
		for done := 0; done < *opsFlag; {
			// A batch of 1 to 5 postings in one database transaction, one in
			// ten rolled back at the end.
			n := 1 + rng.IntN(5)
			rollback := rng.IntN(10) == 0
			batch := m.clone()
			tx, err := db.BeginTx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			trs := make([]ledger.Transaction, n)
			wants := make([]string, n)
			for i := range n {
				trs[i] = random()
				wants[i] = batch.apply(trs[i])
			}
			// Half the batches go through PostBatch, half through Post one
			// by one: both must answer as the model does.
			gots := make([]string, n)
			if rng.IntN(2) == 0 {
				rs, err := l.PostBatch(ctx, tx, trs)
				if err != nil {
					tx.Rollback()
					t.Fatalf("op %d: PostBatch = %v", done, err)
				}
				for i, r := range rs {
					gots[i] = outcome(r.Result, r.Err)
				}
				stats["batches"]++
			} else {
				for i, tr := range trs {
					gots[i] = outcome(l.Post(ctx, tx, tr))
				}
			}
			for i := range n {
				if gots[i] != wants[i] {
					tx.Rollback()
					t.Fatalf("op %d: Post(%q, %+v) = %s, model says %s", done+i, trs[i].Key, trs[i].Entries, gots[i], wants[i])
				}
				stats[gots[i]]++
			}
			done += n
			if rollback {
				tx.Rollback()
				stats["rolled back batches"]++
				continue
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			m = batch
		}
		t.Logf("outcomes: %v", stats)
		if stats["insufficient"] == 0 || stats["conflict"] == 0 || stats["already_posted"] == 0 {
			t.Fatalf("the random sequence did not exercise every outcome: %v", stats)
		}

		// Invariants.
		mustVerify(t, l)
		err := db.View(ctx, func(tx *storage.Tx) error {
			for _, n := range names {
				for _, c := range currencies {
					b, err := l.Balance(ctx, tx, n, c)
					if err != nil {
						return err
					}
					if got, want := b.Debits-b.Credits, m.balances[n+"|"+string(c)]; got != want {
						return fmt.Errorf("%s %s: debits-credits = %d, model %d", n, c, got, want)
					}
					if m.classes[n].NoOverdraft && b.Normal().Minor < 0 {
						return fmt.Errorf("%s %s is negative: %v", n, c, b.Normal())
					}
				}
			}
			var posted int
			if err := tx.Get(ctx, &posted, `SELECT COUNT(*) FROM ledger_transactions`); err != nil {
				return err
			}
			if posted != len(m.posted) {
				return fmt.Errorf("%d transactions posted, model %d (each key once)", posted, len(m.posted))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sums := map[paygate.Currency]int64{}
		for k, v := range m.balances {
			sums[paygate.Currency(k[len(k)-3:])] += v
		}
		for c, s := range sums {
			if s != 0 {
				t.Fatalf("model sums to %d in %s", s, c)
			}
		}
	})
}
