package ledger

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/paygate/paygate/storage"
)

// Check is one integrity check of the database, run by Verify in a read
// snapshot. It returns the problems it found, each a sentence.
type Check struct {
	Name string
	Run  func(ctx context.Context, tx *storage.Tx) ([]string, error)
}

// CheckResult is what one check found.
type CheckResult struct {
	Name     string
	Problems []string
}

// Report is the outcome of Verify.
type Report struct {
	Checks       []CheckResult
	Accounts     int64
	Transactions int64
	Entries      int64
}

// OK reports whether no check found a problem.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if len(c.Problems) > 0 {
			return false
		}
	}
	return true
}

// maxProblems bounds the problems one check lists.
const maxProblems = 100

// WriteTo prints the report for a person.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger verify: %d accounts, %d transactions, %d entries\n", r.Accounts, r.Transactions, r.Entries)
	for _, c := range r.Checks {
		if len(c.Problems) == 0 {
			fmt.Fprintf(&b, "  ok    %s\n", c.Name)
			continue
		}
		fmt.Fprintf(&b, "  FAIL  %s: %d problem(s)\n", c.Name, len(c.Problems))
		for _, p := range c.Problems {
			fmt.Fprintf(&b, "        - %s\n", p)
		}
	}
	if r.OK() {
		b.WriteString("ledger verify: OK\n")
	} else {
		b.WriteString("ledger verify: DRIFT FOUND\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Verify re-derives the ledger from its entries in one consistent snapshot:
// every cached account total (a sharded account's: each shard's, and their
// sum) equals the sum of its entries; every account keeps its totals where
// its class says, in its row or in shards; every entry's running totals
// follow from the one before in its account and shard; every transaction has
// at least two entries and balances per currency; the whole ledger sums to
// zero per currency; no no-overdraft account is below zero. Extra checks (other
// packages' invariants, such as "a final order's escrow is zero") run in the
// same snapshot. An error means a check could not run; drift is reported in
// the Report.
func (l *Ledger) Verify(ctx context.Context, extra ...Check) (Report, error) {
	var r Report
	err := l.db.View(ctx, func(tx *storage.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM ledger_accounts),
			(SELECT COUNT(*) FROM ledger_transactions),
			(SELECT COUNT(*) FROM ledger_entries)`).Scan(&r.Accounts, &r.Transactions, &r.Entries); err != nil {
			return fmt.Errorf("ledger: verify: count: %w", err)
		}
		for _, c := range append(checks(), extra...) {
			problems, err := c.Run(ctx, tx)
			if err != nil {
				return fmt.Errorf("ledger: verify %s: %w", c.Name, err)
			}
			r.Checks = append(r.Checks, CheckResult{Name: c.Name, Problems: problems})
		}
		return nil
	})
	return r, err
}

func checks() []Check {
	return []Check{
		{"cached balances equal the sum of entries", checkCached},
		{"accounts keep their totals in their row or in shards, as their class says", checkLayout},
		{"running balances follow entry by entry", checkRunning},
		{"every transaction balances per currency", checkTransactions},
		{"the ledger sums to zero per currency", checkZeroSum},
		{"no-overdraft accounts are not below zero", checkOverdraft},
	}
}

// shardSums is a query of the totals of each sharded account's shards,
// summed by account_id.
const shardSums = `SELECT account_id, SUM(debits) AS debits, SUM(credits) AS credits
	FROM ledger_account_shards GROUP BY account_id`

// entrySums is a query of the debits and credits of the entries, summed by
// account_id and shard.
const entrySums = `SELECT account_id, shard,
		SUM(CASE WHEN side = 'D' THEN amount ELSE 0 END) AS debits,
		SUM(CASE WHEN side = 'C' THEN amount ELSE 0 END) AS credits
	FROM ledger_entries GROUP BY account_id, shard`

// SQLCheck returns a Check whose query selects one row per problem; each
// problem reads as format applied to the row's columns. Other packages use it
// for their invariants.
func SQLCheck(name, format, query string) Check {
	return Check{Name: name, Run: func(ctx context.Context, tx *storage.Tx) ([]string, error) {
		return problems(ctx, tx, format, query)
	}}
}

// problems runs a query whose rows each describe one problem, formatted by
// format from the row's columns.
func problems(ctx context.Context, tx *storage.Tx, format, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, q+fmt.Sprintf(" LIMIT %d", maxProblems), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprintf(format, vals...))
	}
	return out, rows.Err()
}

func checkCached(ctx context.Context, tx *storage.Tx) ([]string, error) {
	accounts, err := problems(ctx, tx, "account %v %v: cached debits %v credits %v, entries sum to debits %v credits %v", `
		SELECT a.name, a.currency, a.debits + COALESCE(h.debits, 0), a.credits + COALESCE(h.credits, 0),
			COALESCE(e.debits, 0), COALESCE(e.credits, 0)
		FROM ledger_accounts a
		LEFT JOIN (`+shardSums+`) h ON h.account_id = a.id
		LEFT JOIN (SELECT account_id, SUM(debits) AS debits, SUM(credits) AS credits
			FROM (`+entrySums+`) x GROUP BY account_id) e ON e.account_id = a.id
		WHERE a.debits + COALESCE(h.debits, 0) <> COALESCE(e.debits, 0)
		   OR a.credits + COALESCE(h.credits, 0) <> COALESCE(e.credits, 0)
		ORDER BY a.id`)
	if err != nil {
		return nil, err
	}
	// Each shard of a sharded account on its own: a change moved from one
	// shard to another leaves the account's sum right.
	shards, err := problems(ctx, tx, "account %v %v shard %v: cached debits %v credits %v, its entries sum to debits %v credits %v", `
		SELECT a.name, a.currency, k.shard, COALESCE(h.debits, 0), COALESCE(h.credits, 0),
			COALESCE(e.debits, 0), COALESCE(e.credits, 0)
		FROM (SELECT account_id, shard FROM ledger_account_shards
			UNION SELECT account_id, shard FROM ledger_entries) k
		JOIN ledger_accounts a ON a.id = k.account_id
		LEFT JOIN ledger_account_shards h ON h.account_id = k.account_id AND h.shard = k.shard
		LEFT JOIN (`+entrySums+`) e ON e.account_id = k.account_id AND e.shard = k.shard
		WHERE NOT a.no_overdraft
		  AND (COALESCE(h.debits, 0) <> COALESCE(e.debits, 0) OR COALESCE(h.credits, 0) <> COALESCE(e.credits, 0))
		ORDER BY a.id, k.shard`)
	return append(accounts, shards...), err
}

// checkLayout finds totals kept in the wrong place: a sharded account (one
// without an overdraft guard) keeps zero totals in its row; a guarded account
// has no shards, and its entries are in shard 0.
func checkLayout(ctx context.Context, tx *storage.Tx) ([]string, error) {
	return problems(ctx, tx, "account %v %v: %v", `
		SELECT name, currency, 'has no overdraft guard, but its row holds totals (its shards should)'
		FROM ledger_accounts WHERE NOT no_overdraft AND (debits <> 0 OR credits <> 0)
		UNION ALL
		SELECT a.name, a.currency, 'has an overdraft guard, but shard rows'
		FROM ledger_accounts a WHERE a.no_overdraft
			AND EXISTS (SELECT 1 FROM ledger_account_shards s WHERE s.account_id = a.id)
		UNION ALL
		SELECT a.name, a.currency, 'has an overdraft guard, but entries outside shard 0'
		FROM ledger_accounts a WHERE a.no_overdraft
			AND EXISTS (SELECT 1 FROM ledger_entries e WHERE e.account_id = a.id AND e.shard <> 0)
		ORDER BY 1, 2, 3`)
}

func checkRunning(ctx context.Context, tx *storage.Tx) ([]string, error) {
	return problems(ctx, tx, "entry %v (account %v %v, shard %v): running totals debits %v credits %v do not follow from the entry before (%v, %v) and its amount", `
		SELECT r.id, a.name, a.currency, r.shard, r.account_debits, r.account_credits, r.prev_debits, r.prev_credits
		FROM (SELECT id, account_id, shard, side, amount, account_debits, account_credits,
				LAG(account_debits, 1, 0) OVER w AS prev_debits,
				LAG(account_credits, 1, 0) OVER w AS prev_credits
			FROM ledger_entries WINDOW w AS (PARTITION BY account_id, shard ORDER BY id)) r
		JOIN ledger_accounts a ON a.id = r.account_id
		WHERE r.account_debits <> r.prev_debits + CASE WHEN r.side = 'D' THEN r.amount ELSE 0 END
		   OR r.account_credits <> r.prev_credits + CASE WHEN r.side = 'C' THEN r.amount ELSE 0 END
		ORDER BY r.id`)
}

func checkTransactions(ctx context.Context, tx *storage.Tx) ([]string, error) {
	unbalanced, err := problems(ctx, tx, "transaction %v: %v debits %v, credits %v", `
		SELECT t.idempotency_key, a.currency,
			SUM(CASE WHEN e.side = 'D' THEN e.amount ELSE 0 END),
			SUM(CASE WHEN e.side = 'C' THEN e.amount ELSE 0 END)
		FROM ledger_entries e
		JOIN ledger_accounts a ON a.id = e.account_id
		JOIN ledger_transactions t ON t.id = e.transaction_id
		GROUP BY t.idempotency_key, a.currency
		HAVING SUM(CASE WHEN e.side = 'D' THEN e.amount ELSE -e.amount END) <> 0
		ORDER BY t.idempotency_key`)
	if err != nil {
		return nil, err
	}
	short, err := problems(ctx, tx, "transaction %v has %v entries; it needs at least 2", `
		SELECT t.idempotency_key, COUNT(e.id)
		FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
		GROUP BY t.id, t.idempotency_key HAVING COUNT(e.id) < 2
		ORDER BY t.id`)
	return append(unbalanced, short...), err
}

func checkZeroSum(ctx context.Context, tx *storage.Tx) ([]string, error) {
	cached, err := problems(ctx, tx, "%v: cached account debits %v, credits %v", `
		SELECT currency, SUM(debits), SUM(credits) FROM (
			SELECT currency, debits, credits FROM ledger_accounts
			UNION ALL
			SELECT a.currency, s.debits, s.credits FROM ledger_account_shards s JOIN ledger_accounts a ON a.id = s.account_id) t
		GROUP BY currency HAVING SUM(debits) <> SUM(credits) ORDER BY currency`)
	if err != nil {
		return nil, err
	}
	entries, err := problems(ctx, tx, "%v: entries debit %v, credit %v", `
		SELECT a.currency,
			SUM(CASE WHEN e.side = 'D' THEN e.amount ELSE 0 END),
			SUM(CASE WHEN e.side = 'C' THEN e.amount ELSE 0 END)
		FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
		GROUP BY a.currency
		HAVING SUM(CASE WHEN e.side = 'D' THEN e.amount ELSE -e.amount END) <> 0
		ORDER BY a.currency`)
	return append(cached, entries...), err
}

func checkOverdraft(ctx context.Context, tx *storage.Tx) ([]string, error) {
	return problems(ctx, tx, "account %v %v (%v) is below zero: debits %v, credits %v", `
		SELECT name, currency, type, debits, credits FROM ledger_account_totals
		WHERE no_overdraft AND (
			(type IN ('liability', 'revenue', 'equity') AND debits > credits) OR
			(type IN ('asset', 'expense') AND credits > debits))
		ORDER BY id`)
}
