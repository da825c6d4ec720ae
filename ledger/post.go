package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// BatchResult is the outcome of one transaction of a batch: a Result, or
// the error that refused it — an EINVALID validation error, a
// *ConflictError or an *InsufficientFundsError — in which case that
// transaction posted nothing.
type BatchResult struct {
	Result
	Err error
}

// Post posts t in tx: it validates t (at least two entries, positive amounts,
// accounts of the naming scheme, known currencies, debits equal credits per
// currency), creates missing accounts, adds to their cached totals and
// appends the entries with each account's running totals.
//
// The idempotency key is the arbiter of exactly-once: if the key was posted
// before with the same entries, Post returns AlreadyPosted and the first
// transaction and posts nothing; with other entries it returns a
// *ConflictError. A posting that would take a no-overdraft account (a user
// balance, an escrow) below zero is declined with an
// *InsufficientFundsError, atomically, also under concurrency. After these
// refusals tx is unchanged and may go on.
//
// Any other error leaves tx in an undefined state: roll it back. An error
// for which storage.IsRetryable holds (a concurrent posting of the same key
// on PostgreSQL) succeeds when the whole database transaction is run again;
// storage.DB.Update does that.
func (l *Ledger) Post(ctx context.Context, tx *storage.Tx, t Transaction) (Result, error) {
	rs, err := l.PostBatch(ctx, tx, []Transaction{t})
	if err != nil {
		return Result{}, err
	}
	return rs[0].Result, rs[0].Err
}

// PostBatch posts the transactions in tx with the outcome of posting them
// one after another with Post, in order, but in a few set-wise statements:
// one insert of the transactions, one upsert of every touched account (a hot
// account is written once per batch, not once per posting), one insert of
// the entries. Each transaction gets its own BatchResult; a refused one
// posts nothing and does not stop the others. An error means tx must be
// rolled back, as for Post.
func (l *Ledger) PostBatch(ctx context.Context, tx *storage.Tx, ts []Transaction) ([]BatchResult, error) {
	start := time.Now()
	out, err := l.postBatch(ctx, tx, ts)
	l.metrics.observe(start, len(ts), out, err)
	if err != nil {
		return out, err
	}
	for i, r := range out {
		if r.Err == nil && r.Result.Status == Created {
			if err := balanceEvents(ctx, tx, ts[i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// postBatch posts ts in the steps that PostBatch describes: it validates
// them (prepare), decides which item creates each key (decide), inserts
// those transactions (insertCreated), adds their entries to the accounts
// (applyChanges) and answers each transaction (answer).
func (l *Ledger) postBatch(ctx context.Context, tx *storage.Tx, ts []Transaction) ([]BatchResult, error) {
	out := make([]BatchResult, len(ts))
	items, classes, declinable := prepareBatch(ts, out)
	if len(items) == 0 {
		return out, nil
	}
	shard := shardOf(tx)
	if declinable && len(items) == 1 {
		return out, postOne(ctx, tx, items[0], shard, &out[items[0].index])
	}

	// A batch that can be declined reads the balances it may take money from
	// (and the shards it adds to) under lock (SQLite: the write lock held
	// since BEGIN; PostgreSQL: FOR UPDATE) and the keys posted before, and
	// decides every posting before writing anything. A batch that cannot be
	// declined lets the insert of its transactions find the keys posted
	// before.
	stored := map[string]*storedTx{}
	var balances map[accountKey]*totals
	if declinable {
		var err error
		if balances, err = lockAccounts(ctx, tx, classes, shard); err != nil {
			return nil, err
		}
		if stored, err = loadTransactions(ctx, tx, keysOf(items)); err != nil {
			return nil, err
		}
	}
	decide(items, stored, balances, declinable)
	if err := insertCreated(ctx, tx, items, stored, declinable); err != nil {
		return nil, err
	}
	if create := created(items); len(create) > 0 {
		if err := applyChanges(ctx, tx, create, classes, nil, shard); err != nil {
			return nil, err
		}
	}
	return out, answer(items, stored, out, tx.Now())
}

// prepareBatch validates each transaction (a refused one gets its error in
// out) and returns the valid ones as items, the classes of the accounts
// they touch, and whether any of them may be declined: one that takes from
// a no-overdraft account.
func prepareBatch(ts []Transaction, out []BatchResult) (items []*item, classes map[accountKey]Class, declinable bool) {
	classes = map[accountKey]Class{}
	for i, t := range ts {
		p, err := t.validate()
		if err != nil {
			out[i].Err = err
			continue
		}
		it := &item{index: i, t: t, p: p, net: netChanges(t)}
		items = append(items, it)
		for k, d := range it.net {
			class := p.classes[k]
			classes[k] = class
			if class.NoOverdraft && d.reduces(class.Type) {
				declinable = true
			}
		}
	}
	return items, classes, declinable
}

// decide marks the item that creates each key not stored before: the
// first of the batch with it, unless a declinable batch's simulation on the
// locked balances declines it (then a later posting of the key may
// create it). A later item of the same key points at the first (dupOf).
func decide(items []*item, stored map[string]*storedTx, balances map[accountKey]*totals, declinable bool) {
	first := map[string]*item{} // the item that creates each key
	for _, it := range items {
		if _, ok := stored[it.t.Key]; ok {
			continue
		}
		if f, ok := first[it.t.Key]; ok {
			it.dupOf = f
			continue
		}
		if declinable {
			if it.err = it.simulate(balances); it.err != nil {
				continue // declined: a later posting of the key may succeed
			}
		}
		first[it.t.Key] = it
		it.create = true
	}
}

// created returns the items that create their transactions.
func created(items []*item) []*item {
	var out []*item
	for _, it := range items {
		if it.create {
			out = append(out, it)
		}
	}
	return out
}

// insertCreated inserts the transactions of the creating items and gives
// each its id. A key found posted already (by a concurrent transaction,
// or before a batch that could not be declined, which did not look) makes
// a declinable batch retryable; otherwise the item no longer creates, and
// the stored transaction is loaded into stored for its answer.
func insertCreated(ctx context.Context, tx *storage.Tx, items []*item, stored map[string]*storedTx, declinable bool) error {
	create := created(items)
	ids, err := insertTransactions(ctx, tx, create)
	if err != nil {
		return err
	}
	var lost []string
	for _, it := range create {
		if id, ok := ids[it.t.Key]; ok {
			it.id = id
			continue
		}
		if declinable {
			return storage.Retryable(fmt.Errorf("ledger: idempotency key %q was posted concurrently", it.t.Key))
		}
		it.create = false
		lost = append(lost, it.t.Key)
	}
	if len(lost) == 0 {
		return nil
	}
	more, err := loadTransactions(ctx, tx, lost)
	if err != nil {
		return err
	}
	for k, v := range more {
		stored[k] = v
	}
	return nil
}

// answer gives each item's transaction its BatchResult in out: its
// refusal, its creation, or the answer of the transaction stored (or
// created earlier in the batch) under its key.
func answer(items []*item, stored map[string]*storedTx, out []BatchResult, now time.Time) error {
	for _, it := range items {
		r := &out[it.index]
		switch {
		case it.err != nil:
			r.Err = it.err
		case it.create:
			r.Result = Result{Status: Created, Transaction: it.posted(now)}
		case stored[it.t.Key] != nil:
			r.Result, r.Err = it.against(stored[it.t.Key].fingerprint, stored[it.t.Key].posted)
		case it.dupOf != nil && it.dupOf.create:
			r.Result, r.Err = it.against(it.dupOf.p.fingerprint, it.dupOf.posted(now))
		default:
			return fmt.Errorf("ledger: posting %q has no outcome", it.t.Key) // unreachable
		}
	}
	return nil
}

// postOne posts one transaction that may be declined, in as few statements
// as it can: it first takes the money from the no-overdraft accounts with
// guarded updates (each one atomic check-and-add), then inserts the
// transaction; if a take is refused or the key turns out to be posted
// already, it adds back what it took, so tx is as it was.
func postOne(ctx context.Context, tx *storage.Tx, it *item, shard int, r *BatchResult) error {
	taken := map[accountKey]*account{}
	undo := func() error {
		for k, a := range taken {
			d := it.net[k]
			if _, err := tx.Exec(ctx, `UPDATE ledger_accounts SET debits = debits - ?, credits = credits - ? WHERE id = ?`,
				d.debits, d.credits, a.id); err != nil {
				return fmt.Errorf("ledger: undo take from %s %s: %w", k.name, k.currency, err)
			}
		}
		return nil
	}
	// posted answers with the transaction stored under the key, if any.
	posted := func() (bool, error) {
		stored, err := loadTransactions(ctx, tx, []string{it.t.Key})
		if err != nil || stored[it.t.Key] == nil {
			return false, err
		}
		r.Result, r.Err = it.against(stored[it.t.Key].fingerprint, stored[it.t.Key].posted)
		return true, nil
	}
	for _, k := range sortedKeys(it.net) {
		c, d := it.p.classes[k], it.net[k]
		if !c.NoOverdraft || !d.reduces(c.Type) {
			continue
		}
		a, err := takeGuarded(ctx, tx, k, c, d)
		if err != nil {
			return err
		}
		if a != nil {
			taken[k] = a
			continue
		}
		// Refused. A concurrent posting of the same key may have taken the
		// money first: then the answer is that posting's.
		if err := undo(); err != nil {
			return err
		}
		if ok, err := posted(); ok || err != nil {
			return err
		}
		cur, err := lockAccounts(ctx, tx, it.p.classes, shard)
		if err != nil {
			return err
		}
		r.Err = it.simulate(cur)
		if r.Err == nil {
			return fmt.Errorf("ledger: account %s %s refused a take it can afford", k.name, k.currency) // unreachable
		}
		return nil
	}
	ids, err := insertTransactions(ctx, tx, []*item{it})
	if err != nil {
		return err
	}
	if it.id = ids[it.t.Key]; it.id == 0 {
		if err := undo(); err != nil {
			return err
		}
		if ok, err := posted(); ok || err != nil {
			return err
		}
		return storage.Retryable(fmt.Errorf("ledger: idempotency key %q was posted concurrently", it.t.Key))
	}
	it.create = true
	if err := applyChanges(ctx, tx, []*item{it}, it.p.classes, taken, shard); err != nil {
		return err
	}
	r.Result = Result{Status: Created, Transaction: it.posted(tx.Now())}
	return nil
}

// item is one transaction of a batch on its way through PostBatch.
type item struct {
	index  int
	t      Transaction
	p      prepared
	net    map[accountKey]*totals
	dupOf  *item // an earlier item of the batch with the same key
	create bool  // this item posts its transaction
	id     int64
	err    error
}

func (it *item) posted(now time.Time) Posted {
	return Posted{ID: it.id, Key: it.t.Key, Description: it.t.Description, CreatedAt: now, Entries: it.t.Entries}
}

// against answers an item whose key was posted before as prev.
func (it *item) against(fingerprint string, prev Posted) (Result, error) {
	if fingerprint == it.p.fingerprint {
		return Result{Status: AlreadyPosted, Transaction: prev}, nil
	}
	return Result{}, &ConflictError{Key: it.t.Key, Reason: conflictReason(prev.Entries, it.t.Entries), Existing: prev}
}

// simulate applies the item to the locked balances (a sharded account's:
// the shard's), or returns why it is declined.
func (it *item) simulate(balances map[accountKey]*totals) error {
	for _, k := range sortedKeys(it.net) {
		d, cur := it.net[k], balances[k]
		if cur == nil {
			cur = &totals{}
		}
		class := it.p.classes[k]
		limit := maxTotal(class)
		if cur.debits > limit-d.debits || cur.credits > limit-d.credits {
			return paygate.Errorf(paygate.EINVALID, "ledger: account %s %s would overflow", k.name, k.currency)
		}
		if class.NoOverdraft && normal(class.Type, cur.debits+d.debits, cur.credits+d.credits) < 0 {
			return &InsufficientFundsError{
				Account:   k.name,
				Available: paygate.New(normal(class.Type, cur.debits, cur.credits), k.currency),
				Needed:    paygate.New(-normal(class.Type, d.debits, d.credits), k.currency),
			}
		}
	}
	for k, d := range it.net {
		cur := balances[k]
		if cur == nil {
			cur = &totals{}
			balances[k] = cur
		}
		cur.debits += d.debits
		cur.credits += d.credits
	}
	return nil
}

// totals are debit and credit sums.
type totals struct{ debits, credits int64 }

// reduces reports whether adding t takes an account of type typ down on its
// normal side.
func (t *totals) reduces(typ Type) bool { return normal(typ, t.debits, t.credits) < 0 }

// netChanges sums a validated transaction's entries per account.
func netChanges(t Transaction) map[accountKey]*totals {
	net := map[accountKey]*totals{}
	for _, e := range t.Entries {
		k := accountKey{e.Account, e.Amount.Currency}
		d := net[k]
		if d == nil {
			d = &totals{}
			net[k] = d
		}
		if e.Side == Debit {
			d.debits += e.Amount.Minor
		} else {
			d.credits += e.Amount.Minor
		}
	}
	return net
}

func keysOf(items []*item) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.t.Key
	}
	return keys
}

// sortedKeys orders accounts by name and currency, byte by byte (as SQL's
// ORDER BY byName). Postings lock rows in one order, so that the postings of
// concurrent database transactions (one Post or PostBatch each) cannot
// deadlock: first the rows of guarded accounts, then the shard rows of
// sharded accounts (one shard per account in a database transaction), each
// in this order.
func sortedKeys[V any](m map[accountKey]V) []accountKey {
	ks := make([]accountKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].name != ks[j].name {
			return ks[i].name < ks[j].name
		}
		return ks[i].currency < ks[j].currency
	})
	return ks
}

// byName returns the ORDER BY terms that sort accounts (of table alias
// prefix, "a." or "") as sortedKeys does: byte order, whatever the
// database's collation.
func byName(tx *storage.Tx, prefix string) string {
	if tx.Dialect() == storage.Postgres {
		return prefix + `name COLLATE "C", ` + prefix + `currency COLLATE "C"`
	}
	return prefix + "name, " + prefix + "currency" // SQLite compares text byte by byte
}

// chunkRows bounds the rows of one multi-row statement, well inside
// SQLite's and PostgreSQL's limits on bound parameters.
const chunkRows = 500

// chunks calls fn for consecutive slices of at most chunkRows of n rows.
func chunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += chunkRows {
		if err := fn(lo, min(lo+chunkRows, n)); err != nil {
			return err
		}
	}
	return nil
}

// lockAccounts reads the totals of the accounts that exist, locking their
// rows on PostgreSQL: a guarded account's totals, and the given shard of a
// sharded account (none if the shard has no row yet). It locks the guarded
// accounts first, then the shards, each in name order.
func lockAccounts(ctx context.Context, tx *storage.Tx, classes map[accountKey]Class, shard int) (map[accountKey]*totals, error) {
	var guarded, hot []accountKey
	for _, k := range sortedKeys(classes) {
		if sharded(classes[k]) {
			hot = append(hot, k)
		} else {
			guarded = append(guarded, k)
		}
	}
	out := make(map[accountKey]*totals, len(classes))
	read := func(keys []accountKey, query func(rows int) string, first ...any) error {
		return chunks(len(keys), func(lo, hi int) error {
			args := append(make([]any, 0, len(first)+2*(hi-lo)), first...)
			for _, k := range keys[lo:hi] {
				args = append(args, k.name, string(k.currency))
			}
			rows, err := tx.Query(ctx, query(hi-lo), args...)
			if err != nil {
				return fmt.Errorf("ledger: lock accounts: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var k accountKey
				var t totals
				if err := rows.Scan(&k.name, &k.currency, &t.debits, &t.credits); err != nil {
					return fmt.Errorf("ledger: lock accounts: %w", err)
				}
				out[k] = &t
			}
			return rows.Err()
		})
	}
	err := read(guarded, func(n int) string {
		return `SELECT name, currency, debits, credits FROM ledger_accounts
			WHERE (name, currency) IN (VALUES ` + storage.Rows(n, 2) + `)
			ORDER BY ` + byName(tx, "") + tx.ForUpdate()
	})
	if err != nil {
		return nil, err
	}
	lockShards := ""
	if tx.Dialect() == storage.Postgres {
		lockShards = " FOR UPDATE OF s"
	}
	err = read(hot, func(n int) string {
		return `SELECT a.name, a.currency, s.debits, s.credits
			FROM ledger_accounts a JOIN ledger_account_shards s ON s.account_id = a.id AND s.shard = ?
			WHERE (a.name, a.currency) IN (VALUES ` + storage.Rows(n, 2) + `)
			ORDER BY ` + byName(tx, "a.") + lockShards
	}, shard)
	return out, err
}

// storedTx is a transaction posted before.
type storedTx struct {
	fingerprint string
	posted      Posted
}

// loadTransactions returns the transactions posted under any of keys, with
// their entries.
func loadTransactions(ctx context.Context, tx *storage.Tx, keys []string) (map[string]*storedTx, error) {
	out := map[string]*storedTx{}
	byID := map[int64]*storedTx{}
	err := chunks(len(keys), func(lo, hi int) error {
		args := make([]any, hi-lo)
		for i, k := range keys[lo:hi] {
			args[i] = k
		}
		var rows []struct {
			ID          int64     `db:"id"`
			Key         string    `db:"idempotency_key"`
			Fingerprint string    `db:"fingerprint"`
			Description string    `db:"description"`
			CreatedAt   time.Time `db:"created_at"`
		}
		if err := tx.Select(ctx, &rows, `SELECT id, idempotency_key, fingerprint, description, created_at
			FROM ledger_transactions WHERE idempotency_key IN (`+storage.Params(hi-lo)+`)`, args...); err != nil {
			return fmt.Errorf("ledger: read transactions: %w", err)
		}
		for _, r := range rows {
			s := &storedTx{fingerprint: r.Fingerprint, posted: Posted{ID: r.ID, Key: r.Key, Description: r.Description, CreatedAt: r.CreatedAt.UTC()}}
			out[r.Key] = s
			byID[r.ID] = s
		}
		return nil
	})
	if err != nil || len(byID) == 0 {
		return out, err
	}
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	err = chunks(len(ids), func(lo, hi int) error {
		args := make([]any, hi-lo)
		for i, id := range ids[lo:hi] {
			args[i] = id
		}
		var rows []struct {
			TxID     int64  `db:"transaction_id"`
			Name     string `db:"name"`
			Currency string `db:"currency"`
			Side     string `db:"side"`
			Amount   int64  `db:"amount"`
		}
		if err := tx.Select(ctx, &rows, `SELECT e.transaction_id, a.name, a.currency, e.side, e.amount
			FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
			WHERE e.transaction_id IN (`+storage.Params(hi-lo)+`) ORDER BY e.id`, args...); err != nil {
			return fmt.Errorf("ledger: read entries: %w", err)
		}
		for _, r := range rows {
			s := byID[r.TxID]
			s.posted.Entries = append(s.posted.Entries, Entry{Account: r.Name, Side: Side(r.Side), Amount: paygate.New(r.Amount, paygate.Currency(r.Currency))})
		}
		return nil
	})
	return out, err
}

// insertTransactions inserts the items' transactions and returns the ids of
// those inserted; a key that exists already is skipped, not an error.
func insertTransactions(ctx context.Context, tx *storage.Tx, items []*item) (map[string]int64, error) {
	ids := make(map[string]int64, len(items))
	err := chunks(len(items), func(lo, hi int) error {
		args := make([]any, 0, 4*(hi-lo))
		for _, it := range items[lo:hi] {
			args = append(args, it.t.Key, it.p.fingerprint, it.t.Description, tx.Now())
		}
		rows, err := tx.Query(ctx, `INSERT INTO ledger_transactions (idempotency_key, fingerprint, description, created_at)
			VALUES `+storage.Rows(hi-lo, 4)+` ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`, args...)
		if err != nil {
			return fmt.Errorf("ledger: insert transactions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				return fmt.Errorf("ledger: insert transactions: %w", err)
			}
			ids[key] = id
		}
		return rows.Err()
	})
	return ids, err
}

// upsertGuard is the condition under which the upsert adds the proposed
// row's totals to the stored row "a": the same type, no overflow, and no
// no-overdraft account below zero. Each operand is a non-negative total, so
// no subtraction overflows.
const upsertGuard = `a.type = excluded.type AND a.no_overdraft = excluded.no_overdraft
	AND a.debits <= 9223372036854775807 - excluded.debits
	AND a.credits <= 9223372036854775807 - excluded.credits
	AND (NOT a.no_overdraft OR CASE WHEN a.type IN ('asset', 'expense')
		THEN a.credits - a.debits <= excluded.debits - excluded.credits
		ELSE a.debits - a.credits <= excluded.credits - excluded.debits END)`

// takeGuarded adds t to a no-overdraft account unless that would take it
// below zero or overflow, and returns the account after the change; nil if
// it refused (or the account does not exist).
func takeGuarded(ctx context.Context, tx *storage.Tx, k accountKey, c Class, t *totals) (*account, error) {
	// Below zero on the normal side: for a credit-normal account,
	// debits - credits must stay <= 0 after the change.
	cond := `debits - credits <= ?`
	limit := t.credits - t.debits
	if c.Type.DebitNormal() {
		cond, limit = `credits - debits <= ?`, t.debits-t.credits
	}
	var a account
	err := tx.QueryRow(ctx, `UPDATE ledger_accounts SET debits = debits + ?, credits = credits + ?
		WHERE name = ? AND currency = ? AND debits <= ? AND credits <= ? AND `+cond+`
		RETURNING id, debits, credits`,
		t.debits, t.credits, k.name, string(k.currency), math.MaxInt64-t.debits, math.MaxInt64-t.credits, limit,
	).Scan(&a.id, &a.afterDebits, &a.afterCredits)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: update account %s %s: %w", k.name, k.currency, err)
	}
	return &a, nil
}

// account is an account after a batch's change: its id, and the totals after
// the change of its row (a guarded account) or of the shard the batch added
// to (a sharded account).
type account struct {
	id                        int64
	shard                     int
	afterDebits, afterCredits int64
}

// applyChanges adds the created items' entries to their accounts' cached
// totals — a guarded account's row, one shard of a sharded account — with
// one statement per chunk of accounts, then appends the entries with running
// totals.
func applyChanges(ctx context.Context, tx *storage.Tx, items []*item, classes map[accountKey]Class, taken map[accountKey]*account, shard int) error {
	sum, err := sumChanges(items, classes)
	if err != nil {
		return err
	}
	keys := sortedKeys(sum)
	after, err := updateAccounts(ctx, tx, keys, classes, sum, taken, shard)
	if err != nil {
		return err
	}
	return insertEntries(ctx, tx, items, keys, sum, after)
}

// sumChanges adds up the items' net changes per account, refusing a sum
// that would overflow the row that holds the account's totals.
func sumChanges(items []*item, classes map[accountKey]Class) (map[accountKey]*totals, error) {
	sum := map[accountKey]*totals{}
	for _, it := range items {
		for k, d := range it.net {
			s := sum[k]
			if s == nil {
				s = &totals{}
				sum[k] = s
			}
			limit := maxTotal(classes[k])
			if s.debits > limit-d.debits || s.credits > limit-d.credits {
				return nil, paygate.Errorf(paygate.EINVALID, "ledger: account %s %s would overflow", k.name, k.currency)
			}
			s.debits += d.debits
			s.credits += d.credits
		}
	}
	return sum, nil
}

// updateAccounts adds sum to the accounts of keys (sorted) and returns each
// account with its totals after the change.
//
// Accounts that the batch takes money from under the overdraft guard exist
// (a new account has nothing to take) and are locked already: each gets a
// conditional UPDATE, unless postOne took it already (taken). Every other
// guarded account gets an upsert, which creates it or adds to it in one
// statement; its proposed row holds the change, which satisfies the table's
// CHECK only when nothing is taken from a no-overdraft account. Sharded
// accounts come last: an upsert of one shard each.
func updateAccounts(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class, sum map[accountKey]*totals, taken map[accountKey]*account, shard int) (map[accountKey]*account, error) {
	after := make(map[accountKey]*account, len(keys))
	var upsert, hot []accountKey
	for _, k := range keys {
		c := classes[k]
		switch {
		case sharded(c):
			hot = append(hot, k)
		case taken[k] != nil:
			after[k] = taken[k]
		case !sum[k].reduces(c.Type):
			upsert = append(upsert, k)
		default:
			a, err := takeGuarded(ctx, tx, k, c, sum[k])
			if err != nil {
				return nil, err
			}
			if a == nil {
				return nil, fmt.Errorf("ledger: account %s %s refused debits %d credits %d that the batch allowed", k.name, k.currency, sum[k].debits, sum[k].credits)
			}
			after[k] = a
		}
	}
	if err := upsertAccounts(ctx, tx, upsert, classes, sum, after); err != nil {
		return nil, err
	}
	if len(hot) > 0 {
		if err := addToShards(ctx, tx, hot, classes, sum, shard, after); err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		if after[k] == nil {
			return nil, fmt.Errorf("ledger: account %s %s refused the update (overdraft, overflow or a stored type other than %s)", k.name, k.currency, classes[k].Type)
		}
	}
	return after, nil
}

// upsertAccounts creates the guarded accounts of keys or adds sum to them,
// under upsertGuard, with one statement per chunk, and records in after
// those it changed.
func upsertAccounts(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class, sum map[accountKey]*totals, after map[accountKey]*account) error {
	return chunks(len(keys), func(lo, hi int) error {
		args := make([]any, 0, 7*(hi-lo))
		for _, k := range keys[lo:hi] {
			c, s := classes[k], sum[k]
			args = append(args, k.name, string(k.currency), string(c.Type), c.NoOverdraft, s.debits, s.credits, tx.Now())
		}
		rows, err := tx.Query(ctx, `INSERT INTO ledger_accounts AS a (name, currency, type, no_overdraft, debits, credits, created_at)
			VALUES `+storage.Rows(hi-lo, 7)+`
			ON CONFLICT (name, currency) DO UPDATE
				SET debits = a.debits + excluded.debits, credits = a.credits + excluded.credits
				WHERE `+upsertGuard+`
			RETURNING id, name, currency, debits, credits`, args...)
		if err != nil {
			return fmt.Errorf("ledger: update accounts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k accountKey
			var a account
			if err := rows.Scan(&a.id, &k.name, &k.currency, &a.afterDebits, &a.afterCredits); err != nil {
				return fmt.Errorf("ledger: update accounts: %w", err)
			}
			after[k] = &a
		}
		return rows.Err()
	})
}

// insertEntries appends the items' entries, in posting order, each with
// its account's (shard's) totals after it, counted from after (the totals
// once all of sum is added), with one multi-row INSERT per chunk.
func insertEntries(ctx context.Context, tx *storage.Tx, items []*item, keys []accountKey, sum map[accountKey]*totals, after map[accountKey]*account) error {
	type row struct {
		txID, accountID int64
		shard           int
		side            Side
		amount          int64
		debits, credits int64
	}
	running := make(map[accountKey]*totals, len(keys))
	for _, k := range keys {
		running[k] = &totals{after[k].afterDebits - sum[k].debits, after[k].afterCredits - sum[k].credits}
	}
	var entries []row
	for _, it := range items {
		for _, e := range it.t.Entries {
			k := accountKey{e.Account, e.Amount.Currency}
			r := running[k]
			if e.Side == Debit {
				r.debits += e.Amount.Minor
			} else {
				r.credits += e.Amount.Minor
			}
			entries = append(entries, row{it.id, after[k].id, after[k].shard, e.Side, e.Amount.Minor, r.debits, r.credits})
		}
	}
	return chunks(len(entries), func(lo, hi int) error {
		args := make([]any, 0, 7*(hi-lo))
		for _, r := range entries[lo:hi] {
			args = append(args, r.txID, r.accountID, r.shard, string(r.side), r.amount, r.debits, r.credits)
		}
		_, err := tx.Exec(ctx, `INSERT INTO ledger_entries (transaction_id, account_id, shard, side, amount, account_debits, account_credits)
			VALUES `+storage.Rows(hi-lo, 7), args...)
		if err != nil {
			return fmt.Errorf("ledger: insert entries: %w", err)
		}
		return nil
	})
}
