package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// Hot accounts. Every settlement passes through its provider's clearing
// account, and much else through the platform's accounts. Were their cached
// totals one row, every posting through them would lock that row until it
// commits, and concurrent postings would queue on it. So an account without
// an overdraft guard keeps its totals in numShards shards (rows of
// ledger_account_shards), and a posting adds to one of them: the shard of its
// database transaction (shardOf), the same for every such account the
// transaction posts to. Concurrent transactions get different shards, so they
// mostly lock different rows. The account's totals are the sum of its shards;
// its ledger_accounts row keeps zero totals.
//
// A guarded account (a user balance, an escrow) keeps its totals in its row:
// the overdraft guard checks and changes them in one atomic statement.
//
// Each entry records its shard; its running totals are that shard's totals
// after it, so they follow entry by entry within (account, shard). Entries
// of a shard are added in id order while the shard's row is locked, which is
// what makes a shard's running totals increase with the entry id.

// numShards is the number of shards a sharded account spreads over.
const numShards = 16

// shardCap bounds a shard's debit and credit totals, so that an account's
// totals, the sum of its shards, fit an int64.
const shardCap = math.MaxInt64 / numShards

// sharded reports whether an account of class c keeps its totals in shards:
// every account without an overdraft guard.
func sharded(c Class) bool { return !c.NoOverdraft }

// maxTotal returns the largest debit or credit total that the row holding
// an account's totals may reach: the account's row, or one of its shards.
func maxTotal(c Class) int64 {
	if sharded(c) {
		return shardCap
	}
	return math.MaxInt64
}

// shardOf returns the shard that tx adds to. It is fixed for the whole
// database transaction, so several postings in one transaction lock one
// shard per account, and round robin over the transactions of a DB, so
// concurrent transactions use different shards.
func shardOf(tx *storage.Tx) int { return int(tx.Seq() % numShards) }

// shardUpsert adds the proposed totals to a shard row "s", creating it if
// missing, unless that would take it past its two parameters, shardCap.
const shardUpsert = `ON CONFLICT (account_id, shard) DO UPDATE
	SET debits = s.debits + excluded.debits, credits = s.credits + excluded.credits
	WHERE s.debits <= ? - excluded.debits AND s.credits <= ? - excluded.credits
	RETURNING account_id, debits, credits`

// addToShards adds sum to the given shard of each sharded account of keys
// (sorted, each sum at most shardCap), creating the accounts and shards that
// do not exist yet, and records each account with its shard's totals after
// the change in after. It locks the shard rows, in the order of keys, and
// not the accounts' rows; it creates accounts before it locks any shard.
func addToShards(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class, sum map[accountKey]*totals, shard int, after map[accountKey]*account) error {
	if len(keys) == 1 {
		// The common case, one sharded account that exists (a settlement
		// through a clearing account): one statement.
		k, c := keys[0], classes[keys[0]]
		a := account{shard: shard}
		err := tx.QueryRow(ctx, `INSERT INTO ledger_account_shards AS s (account_id, shard, debits, credits)
			SELECT id, ?, ?, ? FROM ledger_accounts WHERE name = ? AND currency = ? AND type = ? AND no_overdraft = ?
			`+shardUpsert, shard, sum[k].debits, sum[k].credits, k.name, string(k.currency), string(c.Type), c.NoOverdraft,
			int64(shardCap), int64(shardCap),
		).Scan(&a.id, &a.afterDebits, &a.afterCredits)
		if err == nil {
			after[k] = &a
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ledger: update account shards: %w", err)
		}
		// The account does not exist yet, or the shard refused the change
		// (the statement below refuses it again).
	}
	ids, err := shardedAccounts(ctx, tx, keys, classes)
	if err != nil {
		return err
	}
	byID := make(map[int64]accountKey, len(keys))
	for _, k := range keys {
		byID[ids[k]] = k
	}
	return chunks(len(keys), func(lo, hi int) error {
		args := make([]any, 0, 4*(hi-lo)+2)
		for _, k := range keys[lo:hi] {
			args = append(args, ids[k], shard, sum[k].debits, sum[k].credits)
		}
		rows, err := tx.Query(ctx, `INSERT INTO ledger_account_shards AS s (account_id, shard, debits, credits)
			VALUES `+storage.Rows(hi-lo, 4)+` `+shardUpsert, append(args, int64(shardCap), int64(shardCap))...)
		if err != nil {
			return fmt.Errorf("ledger: update account shards: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			a := account{shard: shard}
			if err := rows.Scan(&a.id, &a.afterDebits, &a.afterCredits); err != nil {
				return fmt.Errorf("ledger: update account shards: %w", err)
			}
			after[byID[a.id]] = &a
		}
		return rows.Err()
	})
}

// shardedAccounts returns the ids of the sharded accounts of keys, creating
// those that do not exist. It does not lock their rows: a sharded account's
// row does not change once created, so postings through the account need not
// wait for each other here. It reads the accounts, creates the missing ones,
// and reads again those a concurrent transaction created in the meantime.
func shardedAccounts(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class) (map[accountKey]int64, error) {
	ids := make(map[accountKey]int64, len(keys))
	missing := func() []accountKey {
		var out []accountKey
		for _, k := range keys {
			if ids[k] == 0 {
				out = append(out, k)
			}
		}
		return out
	}
	if err := readAccountIDs(ctx, tx, keys, classes, ids); err != nil {
		return nil, err
	}
	create := missing()
	if len(create) == 0 {
		return ids, nil
	}
	if err := createAccounts(ctx, tx, create, classes, ids); err != nil {
		return nil, err
	}
	// An account that a concurrent transaction created (and committed) in
	// the meantime.
	if raced := missing(); len(raced) > 0 {
		if err := readAccountIDs(ctx, tx, raced, classes, ids); err != nil {
			return nil, err
		}
		if k := missing(); len(k) > 0 {
			return nil, fmt.Errorf("ledger: account %s %s could not be created", k[0].name, k[0].currency)
		}
	}
	return ids, nil
}

// readAccountIDs sets ids[k] for each account of keys that exists. An
// account stored with another type or overdraft rule than its class in
// classes is an error.
func readAccountIDs(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class, ids map[accountKey]int64) error {
	return chunks(len(keys), func(lo, hi int) error {
		args := make([]any, 0, 2*(hi-lo))
		for _, k := range keys[lo:hi] {
			args = append(args, k.name, string(k.currency))
		}
		var rows []struct {
			ID          int64  `db:"id"`
			Name        string `db:"name"`
			Currency    string `db:"currency"`
			Type        string `db:"type"`
			NoOverdraft bool   `db:"no_overdraft"`
		}
		if err := tx.Select(ctx, &rows, `SELECT id, name, currency, type, no_overdraft FROM ledger_accounts
			WHERE (name, currency) IN (VALUES `+storage.Rows(hi-lo, 2)+`)`, args...); err != nil {
			return fmt.Errorf("ledger: read accounts: %w", err)
		}
		for _, r := range rows {
			k := accountKey{r.Name, paygate.Currency(r.Currency)}
			if c := classes[k]; Type(r.Type) != c.Type || r.NoOverdraft != c.NoOverdraft {
				return fmt.Errorf("ledger: account %s %s is stored as %s (no overdraft: %t), not %s (no overdraft: %t)",
					k.name, k.currency, r.Type, r.NoOverdraft, c.Type, c.NoOverdraft)
			}
			ids[k] = r.ID
		}
		return nil
	})
}

// createAccounts inserts the accounts of keys with their classes and sets
// ids[k] for each it created; one a concurrent transaction created first is
// left out, for the caller to read.
func createAccounts(ctx context.Context, tx *storage.Tx, keys []accountKey, classes map[accountKey]Class, ids map[accountKey]int64) error {
	return chunks(len(keys), func(lo, hi int) error {
		args := make([]any, 0, 5*(hi-lo))
		for _, k := range keys[lo:hi] {
			c := classes[k]
			args = append(args, k.name, string(k.currency), string(c.Type), c.NoOverdraft, tx.Now())
		}
		rows, err := tx.Query(ctx, `INSERT INTO ledger_accounts (name, currency, type, no_overdraft, created_at)
			VALUES `+storage.Rows(hi-lo, 5)+`
			ON CONFLICT (name, currency) DO NOTHING RETURNING id, name, currency`, args...)
		if err != nil {
			return fmt.Errorf("ledger: create accounts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k accountKey
			var id int64
			if err := rows.Scan(&id, &k.name, &k.currency); err != nil {
				return fmt.Errorf("ledger: create accounts: %w", err)
			}
			ids[k] = id
		}
		return rows.Err()
	})
}
