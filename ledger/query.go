package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// Balance returns the cached totals of an account in one currency (of a
// sharded account: the sum of its shards). An account that was never posted
// to has zero totals.
func (l *Ledger) Balance(ctx context.Context, tx *storage.Tx, name string, currency paygate.Currency) (Balance, error) {
	class, err := Classify(name)
	if err != nil {
		return Balance{}, err
	}
	b := Balance{Account: name, Currency: currency, Type: class.Type}
	err = tx.QueryRow(ctx, `SELECT debits, credits FROM ledger_account_totals WHERE name = ? AND currency = ?`,
		name, string(currency)).Scan(&b.Debits, &b.Credits)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Balance{}, fmt.Errorf("ledger: balance of %s %s: %w", name, currency, err)
	}
	return b, nil
}

// Balances returns the cached totals of an account in every currency it
// holds, ordered by currency.
func (l *Ledger) Balances(ctx context.Context, tx *storage.Tx, name string) ([]Balance, error) {
	if _, err := Classify(name); err != nil {
		return nil, err
	}
	var rows []struct {
		Currency string `db:"currency"`
		Type     string `db:"type"`
		Debits   int64  `db:"debits"`
		Credits  int64  `db:"credits"`
	}
	if err := tx.Select(ctx, &rows, `SELECT currency, type, debits, credits FROM ledger_account_totals
		WHERE name = ? ORDER BY currency`, name); err != nil {
		return nil, fmt.Errorf("ledger: balances of %s: %w", name, err)
	}
	out := make([]Balance, len(rows))
	for i, r := range rows {
		out[i] = Balance{Account: name, Currency: paygate.Currency(r.Currency), Type: Type(r.Type), Debits: r.Debits, Credits: r.Credits}
	}
	return out, nil
}

// StatementLine is one entry of an account with the account's balance just
// after it.
type StatementLine struct {
	EntryID        int64
	TransactionKey string
	Description    string
	Side           Side
	Amount         paygate.Money
	// Change is the entry's effect on the normal-side balance: positive when
	// it grows the account.
	Change    paygate.Money
	Balance   paygate.Money
	CreatedAt time.Time
}

// StatementPage is one page of a statement, newest entry first.
type StatementPage struct {
	Lines []StatementLine
	// Next is the cursor of the next (older) page, "" on the last page.
	Next string
}

// MaxStatementLimit bounds a statement page.
const MaxStatementLimit = 500

// Statement returns a page of an account's entries, newest first, each with
// the running balance after it. cursor is "" for the newest page or the Next
// of the previous page; limit is 1 to MaxStatementLimit (0 means 100).
func (l *Ledger) Statement(ctx context.Context, tx *storage.Tx, name string, currency paygate.Currency, cursor string, limit int) (StatementPage, error) {
	return l.StatementBetween(ctx, tx, name, currency, time.Time{}, time.Time{}, cursor, limit)
}

// StatementBetween is Statement restricted to entries posted at or after
// from and before to (either zero: unbounded).
//
// The balance after an entry is the account's balance after every entry of
// the account up to that one, in entry id order. For a sharded account it is
// computed as the pages are read; entries of concurrent transactions through
// a sharded account are not committed in id order, so pages read at
// different times may see an older entry appear. Read every page in one
// read transaction (storage.DB.View) for a statement that adds up.
//
// The steps: check the limit and cursor, find the account and its shards,
// read the page's entries, then turn them into lines with balances.
func (l *Ledger) StatementBetween(ctx context.Context, tx *storage.Tx, name string, currency paygate.Currency, from, to time.Time, cursor string, limit int) (StatementPage, error) {
	class, err := Classify(name)
	if err != nil {
		return StatementPage{}, err
	}
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > MaxStatementLimit {
		return StatementPage{}, paygate.Errorf(paygate.EINVALID, "ledger: statement limit %d is outside 1..%d", limit, MaxStatementLimit)
	}
	before := int64(1<<63 - 1)
	if cursor != "" {
		before, err = strconv.ParseInt(cursor, 10, 64)
		if err != nil || before <= 0 {
			return StatementPage{}, paygate.Errorf(paygate.EINVALID, "ledger: bad statement cursor %q", paygate.Clip(cursor, 80))
		}
	}
	accountID, shards, err := statementShards(ctx, tx, name, currency, class)
	if err != nil {
		return StatementPage{}, fmt.Errorf("ledger: statement of %s %s: %w", name, currency, err)
	}
	if len(shards) == 0 {
		return StatementPage{Lines: []StatementLine{}}, nil
	}
	rows, err := statementRows(ctx, tx, accountID, shards, from, to, before, limit)
	if err != nil {
		return StatementPage{}, fmt.Errorf("ledger: statement of %s %s: %w", name, currency, err)
	}
	var page StatementPage
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	if sharded(class) {
		// A sharded account: an entry's running totals are its shard's; the
		// account's are the sum over the shards of the running totals of
		// each one's last entry up to it.
		ids := make([]any, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		after, err := totalsAfter(ctx, tx, ids)
		if err != nil {
			return StatementPage{}, fmt.Errorf("ledger: statement of %s %s: %w", name, currency, err)
		}
		for i := range rows {
			t := after[rows[i].ID]
			rows[i].Debits, rows[i].Credits = t.debits, t.credits
		}
	}
	page.Lines = statementLines(rows, class, currency)
	return page, nil
}

// statementShards returns the id of account name in currency and the shards
// its entries are in: shard 0 for an account that is not sharded, the
// account's shards otherwise. An account that does not exist, or a sharded
// one without shards, has none.
func statementShards(ctx context.Context, tx *storage.Tx, name string, currency paygate.Currency, class Class) (int64, []int, error) {
	var accountID int64
	err := tx.Get(ctx, &accountID, `SELECT id FROM ledger_accounts WHERE name = ? AND currency = ?`, name, string(currency))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if !sharded(class) {
		return accountID, []int{0}, nil
	}
	var shards []int
	if err := tx.Select(ctx, &shards, `SELECT shard FROM ledger_account_shards WHERE account_id = ? ORDER BY shard`, accountID); err != nil {
		return 0, nil, err
	}
	return accountID, shards, nil
}

// statementRow is one entry of a statement as read, with its shard's
// running totals after it.
type statementRow struct {
	ID          int64     `db:"id"`
	Key         string    `db:"idempotency_key"`
	Description string    `db:"description"`
	Side        string    `db:"side"`
	Amount      int64     `db:"amount"`
	Debits      int64     `db:"account_debits"`
	Credits     int64     `db:"account_credits"`
	CreatedAt   time.Time `db:"created_at"`
}

// statementRows reads up to limit+1 of the newest entries of account
// accountID before entry id before, posted in [from, to) (either zero:
// unbounded), newest first: the newest of each shard, merged, since each
// shard's entries are in the index in id order.
func statementRows(ctx context.Context, tx *storage.Tx, accountID int64, shards []int, from, to time.Time, before int64, limit int) ([]statementRow, error) {
	var q []string
	var args []any
	for i, shard := range shards {
		sq := `SELECT * FROM (SELECT e.id, t.idempotency_key, t.description, e.side, e.amount,
				e.account_debits, e.account_credits, t.created_at
			FROM ledger_entries e
			JOIN ledger_transactions t ON t.id = e.transaction_id
			WHERE e.account_id = ? AND e.shard = ? AND e.id < ?`
		args = append(args, accountID, shard, before)
		if !from.IsZero() {
			sq += ` AND t.created_at >= ?`
			args = append(args, from.UTC())
		}
		if !to.IsZero() {
			sq += ` AND t.created_at < ?`
			args = append(args, to.UTC())
		}
		q = append(q, sq+` ORDER BY e.id DESC LIMIT ?) s`+strconv.Itoa(i))
		args = append(args, limit+1)
	}
	var rows []statementRow
	err := tx.Select(ctx, &rows, strings.Join(q, "\nUNION ALL ")+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	return rows, err
}

// statementLines turns rows of an account of class class into statement
// lines: each entry's change is signed by the account's normal side, and
// its balance is the account's after it.
func statementLines(rows []statementRow, class Class, currency paygate.Currency) []StatementLine {
	lines := make([]StatementLine, len(rows))
	for i, r := range rows {
		change := r.Amount
		if (Side(r.Side) == Debit) != class.Type.DebitNormal() {
			change = -change
		}
		lines[i] = StatementLine{
			EntryID:        r.ID,
			TransactionKey: r.Key,
			Description:    r.Description,
			Side:           Side(r.Side),
			Amount:         paygate.New(r.Amount, currency),
			Change:         paygate.New(change, currency),
			Balance:        paygate.New(normal(class.Type, r.Debits, r.Credits), currency),
			CreatedAt:      r.CreatedAt.UTC(),
		}
	}
	return lines
}

// totalsAfter returns, for entries of one sharded account, the account's
// totals after each: the sum, over the account's shards, of the running
// totals of the shard's last entry up to it.
func totalsAfter(ctx context.Context, tx *storage.Tx, ids []any) (map[int64]totals, error) {
	out := make(map[int64]totals, len(ids))
	err := chunks(len(ids), func(lo, hi int) error {
		var rows []struct {
			ID      int64 `db:"id"`
			Debits  int64 `db:"debits"`
			Credits int64 `db:"credits"`
		}
		if err := tx.Select(ctx, &rows, `SELECT p.id,
				CAST(SUM(x.account_debits) AS BIGINT) AS debits, CAST(SUM(x.account_credits) AS BIGINT) AS credits
			FROM ledger_entries p
			JOIN ledger_account_shards s ON s.account_id = p.account_id
			JOIN ledger_entries x ON x.id = (SELECT y.id FROM ledger_entries y
				WHERE y.account_id = s.account_id AND y.shard = s.shard AND y.id <= p.id
				ORDER BY y.id DESC LIMIT 1)
			WHERE p.id IN (`+storage.Params(hi-lo)+`)
			GROUP BY p.id`, ids[lo:hi]...); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.ID] = totals{r.Debits, r.Credits}
		}
		return nil
	})
	return out, err
}
