package storage

import (
	"context"
	"time"
)

// Lease describes how workers on several instances share the due rows of
// one table without two of them working on one row at once: a worker
// claims rows by writing on them when its lease runs out, and no other
// worker claims a row until then. A worker that dies loses nothing: its
// rows are claimed again once their leases have run out. It is a database
// mechanism only; which rows are due is the caller's (Where).
//
// The fields are SQL of the caller's own (names of its table and columns,
// a condition), never input.
type Lease struct {
	// Table is the table, Key its key column.
	Table, Key string
	// Where is the condition, with "?" placeholders for Args, that a row is
	// due apart from its lease: "status = ? AND next_attempt_at <= ?".
	// Columns in it name Table's columns unqualified, or qualified by the
	// table's name (as in a correlated subquery).
	Where string
	Args  []any
	// Order is the ORDER BY of the claim (Key if empty): which due rows are
	// claimed first when there are more than asked for.
	Order string
	// Until is the lease column, a timestamp: a row is free when it is NULL
	// or not after the transaction's time, and claiming it sets it to that
	// time plus For. It may be the column that says when the row is due
	// (claiming then also postpones the row, and the work done under the
	// lease writes its next due time); Where must then exclude NULL, which
	// is free.
	Until string
	For   time.Duration
	// By is the column that names a row's holder, and Holder the name this
	// worker writes there; both may be empty when the table does not record
	// holders (Release needs them).
	By, Holder string
	// Returning is the columns Claim reads of the rows it claims (Key if
	// empty).
	Returning string
}

// Claim leases up to n free due rows of l.Table to l.Holder until the
// transaction's time plus l.For, and reads l.Returning of them into dest (a
// pointer to a slice, as Select takes), in no particular order. The lease
// holds from tx's commit. Concurrent claims get different rows: on
// PostgreSQL each skips the rows another transaction has locked (FOR UPDATE
// SKIP LOCKED) instead of waiting for them; on SQLite write transactions
// hold the database's write lock and run one at a time.
//
// On PostgreSQL the keys are computed first (an array) and then updated, so
// that the planner cannot choose to scan the whole table and join it with
// them, as it may while the table's statistics are stale.
func (tx *Tx) Claim(ctx context.Context, dest any, l Lease, n int) error {
	order, returning := l.Order, l.Returning
	if order == "" {
		order = l.Key
	}
	if returning == "" {
		returning = l.Key
	}
	where := `(` + l.Until + ` IS NULL OR ` + l.Until + ` <= ?)`
	if l.Where != "" {
		where = `(` + l.Where + `) AND ` + where
	}
	due := `SELECT ` + l.Key + ` FROM ` + l.Table + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ?` + tx.SkipLocked()
	in := l.Key + ` IN (` + due + `)`
	if tx.dialect == Postgres {
		in = l.Key + ` = ANY(ARRAY(` + due + `))`
	}
	set := l.Until + ` = ?`
	args := []any{tx.now.Add(l.For)}
	if l.By != "" {
		set += `, ` + l.By + ` = ?`
		args = append(args, l.Holder)
	}
	args = append(args, l.Args...)
	args = append(args, tx.now, n)
	return tx.Select(ctx, dest, `UPDATE `+l.Table+` SET `+set+` WHERE `+in+` RETURNING `+returning, args...)
}

// Release frees the rows whose lease l.Holder holds and has not run out,
// so that other instances need not wait them out (a worker that stops),
// and returns how many. It needs l.By; Where, Args and Order are not used.
func (tx *Tx) Release(ctx context.Context, l Lease) (int64, error) {
	res, err := tx.Exec(ctx, `UPDATE `+l.Table+` SET `+l.Until+` = NULL, `+l.By+` = ''
		WHERE `+l.By+` = ? AND `+l.Until+` > ?`, l.Holder, tx.now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SkipLocked returns " FOR UPDATE SKIP LOCKED" on PostgreSQL and "" on
// SQLite, to end a SELECT of rows that concurrent transactions share out
// among themselves: each locks what it selects and skips what another has
// locked, instead of waiting for it.
func (tx *Tx) SkipLocked() string {
	if tx.dialect == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}
