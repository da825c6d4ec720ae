package chain

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/paygate/paygate/storage"
)

// readRows reads the journal rows positioned first to last, from every
// journal table, and encodes them; sorted by position (then kind and id, so
// that two rows claiming one position, which only tampering makes, sort the
// same way every time).
func readRows(ctx context.Context, tx *storage.Tx, first, last int64) ([]Row, error) {
	txs, err := positionedTransactions(ctx, tx, first, last)
	if err != nil {
		return nil, err
	}
	audits, err := positionedAudits(ctx, tx, first, last)
	if err != nil {
		return nil, err
	}
	evs, err := positionedEvents(ctx, tx, first, last)
	if err != nil {
		return nil, err
	}
	out := append(append(txs, audits...), evs...)
	sortRows(out)
	return out, nil
}

// positionedTransactions reads and encodes the ledger transactions, with
// their entries, positioned first to last.
func positionedTransactions(ctx context.Context, tx *storage.Tx, first, last int64) ([]Row, error) {
	var txs []struct {
		Position int64 `db:"chain_position"`
		ledgerTx
	}
	if err := tx.Select(ctx, &txs, `SELECT id, chain_position, created_at, idempotency_key, description
		FROM ledger_transactions WHERE chain_position BETWEEN ? AND ? ORDER BY chain_position`, first, last); err != nil {
		return nil, fmt.Errorf("chain: read ledger transactions %d to %d: %w", first, last, err)
	}
	entries := map[int64][]Entry{}
	if len(txs) > 0 {
		var err error
		entries, err = readEntries(ctx, tx, `SELECT e.transaction_id, e.id, a.name, a.currency, e.side, e.amount
			FROM ledger_transactions t
			JOIN ledger_entries e ON e.transaction_id = t.id
			JOIN ledger_accounts a ON a.id = e.account_id
			WHERE t.chain_position BETWEEN ? AND ?
			ORDER BY e.transaction_id, e.id`, first, last)
		if err != nil {
			return nil, fmt.Errorf("chain: read ledger entries %d to %d: %w", first, last, err)
		}
	}
	out := make([]Row, 0, len(txs))
	for _, t := range txs {
		out = append(out, t.row(t.Position, entries[t.ID]))
	}
	return out, nil
}

// readEntries runs query q, which selects ledger entries as (transaction
// id, entry id, account name, currency, side, amount), and returns the
// entries by transaction id, in the order q gives them.
func readEntries(ctx context.Context, tx *storage.Tx, q string, args ...any) (map[int64][]Entry, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := map[int64][]Entry{}
	for rows.Next() {
		var txID int64
		var e Entry
		if err := rows.Scan(&txID, &e.ID, &e.Account, &e.Currency, &e.Side, &e.Amount); err != nil {
			return nil, err
		}
		entries[txID] = append(entries[txID], e)
	}
	return entries, rows.Err()
}

// positionedAudits reads and encodes the finance audit entries positioned
// first to last.
func positionedAudits(ctx context.Context, tx *storage.Tx, first, last int64) ([]Row, error) {
	var audits []struct {
		Position int64 `db:"chain_position"`
		audit
	}
	if err := tx.Select(ctx, &audits, `SELECT id, chain_position, at, actor, key_id, key_name, action, subject, before, after, reason
		FROM audit_log WHERE chain_position BETWEEN ? AND ? ORDER BY chain_position`, first, last); err != nil {
		return nil, fmt.Errorf("chain: read audit log %d to %d: %w", first, last, err)
	}
	out := make([]Row, 0, len(audits))
	for _, a := range audits {
		out = append(out, a.row(a.Position))
	}
	return out, nil
}

// positionedEvents reads and encodes the events positioned first to last.
func positionedEvents(ctx context.Context, tx *storage.Tx, first, last int64) ([]Row, error) {
	rows, err := tx.Query(ctx, `SELECT id, chain_position, created_at, type, resource, sequence, audience, data
		FROM events WHERE chain_position BETWEEN ? AND ? ORDER BY chain_position`, first, last)
	if err != nil {
		return nil, fmt.Errorf("chain: read events %d to %d: %w", first, last, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var (
			e        event
			position int64
		)
		if err := rows.Scan(&e.ID, &position, &e.CreatedAt, &e.Type, &e.Resource, &e.Sequence, &e.Audience, &e.Data); err != nil {
			return nil, fmt.Errorf("chain: read events: %w", err)
		}
		out = append(out, e.row(position))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chain: read events: %w", err)
	}
	return out, nil
}

// sortRows sorts rs by position, then kind, then id.
func sortRows(rs []Row) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.ID < b.ID
	})
}

// storedEvents reads chain_rows' digests of the events positioned first to
// last.
func storedEvents(ctx context.Context, tx *storage.Tx, first, last int64) ([]Row, error) {
	var stored []struct {
		Position int64     `db:"position"`
		Kind     string    `db:"kind"`
		ID       string    `db:"row_id"`
		At       time.Time `db:"at"`
		Digest   string    `db:"digest"`
	}
	if err := tx.Select(ctx, &stored, `SELECT position, kind, row_id, at, digest FROM chain_rows
		WHERE position BETWEEN ? AND ? ORDER BY position`, first, last); err != nil {
		return nil, fmt.Errorf("chain: read stored digests %d to %d: %w", first, last, err)
	}
	out := make([]Row, 0, len(stored))
	for _, s := range stored {
		k := Kind(0)
		if len(s.Kind) == 1 {
			k = Kind(s.Kind[0])
		}
		out = append(out, Row{Kind: k, Position: s.Position, ID: s.ID, At: s.At.UTC(), Digest: s.Digest})
	}
	return out, nil
}

// keyRange is the condition that a ledger transaction or audit entry
// (alias a) lies after from and up to to, by (chain_xid, id) on
// PostgreSQL and by id on SQLite, and was not sealed by a legacy block.
func keyRange(d storage.Dialect, a string, fromXID, fromID, toXID, toID int64) (string, []any) {
	if d == storage.Postgres {
		return a + `.chain_position IS NULL AND (` + a + `.chain_xid, ` + a + `.id) > (?, ?) AND (` + a + `.chain_xid, ` + a + `.id) <= (?, ?)`,
			[]any{fromXID, fromID, toXID, toID}
	}
	return a + `.chain_position IS NULL AND ` + a + `.id > ? AND ` + a + `.id <= ?`, []any{fromID, toID}
}

// keyOrder orders ledger transactions or audit entries (alias a) as the
// chain does.
func keyOrder(d storage.Dialect, a string) string {
	if d == storage.Postgres {
		return a + `.chain_xid, ` + a + `.id`
	}
	return a + `.id`
}

// event is an event's row, whose line needs its position in the chain.
type event struct {
	ID        string
	Position  int64 // in the events' commit order (not the chain's)
	CreatedAt time.Time
	Type      string
	Resource  string
	Sequence  int64
	Audience  string
	Data      []byte
}

// row is the event's Row at position.
func (e event) row(position int64) Row {
	l := EventLine(position, e.ID, e.CreatedAt, e.Type, e.Resource, e.Sequence, e.Audience, string(e.Data))
	return Row{Kind: Event, Position: position, ID: e.ID, At: e.CreatedAt.UTC(), Digest: Digest(l)}
}

// keyed is a ledger transaction's or audit entry's row, which the chain
// orders by its key.
type keyed interface {
	// key is the row's place in the chain's order: (chain_xid, id) on
	// PostgreSQL, (0, id) on SQLite.
	key() (xid, id int64)
}

// ledgerTx is a ledger transaction's row, whose line needs its position
// and its entries.
type ledgerTx struct {
	XID         int64     `db:"chain_xid"` // when selected (the hasher)
	ID          int64     `db:"id"`
	CreatedAt   time.Time `db:"created_at"`
	Key         string    `db:"idempotency_key"`
	Description string    `db:"description"`
}

// row is the transaction's Row at position, with its entries.
func (t ledgerTx) row(position int64, entries []Entry) Row {
	l := TransactionLine(position, t.ID, t.CreatedAt, t.Key, t.Description, entries)
	return Row{Kind: Transaction, Position: position, ID: strconv.FormatInt(t.ID, 10), At: t.CreatedAt.UTC(), Digest: Digest(l)}
}

func (t ledgerTx) key() (int64, int64) { return t.XID, t.ID }

// audit is a finance audit entry's row, whose line needs its position.
type audit struct {
	XID     int64     `db:"chain_xid"` // when selected (the hasher)
	ID      int64     `db:"id"`
	At      time.Time `db:"at"`
	Actor   string    `db:"actor"`
	KeyID   string    `db:"key_id"`
	KeyName string    `db:"key_name"`
	Action  string    `db:"action"`
	Subject string    `db:"subject"`
	Before  string    `db:"before"`
	After   string    `db:"after"`
	Reason  string    `db:"reason"`
}

func (a audit) key() (int64, int64) { return a.XID, a.ID }

// row is the audit entry's Row at position.
func (a audit) row(position int64) Row {
	l := AuditLine(position, a.ID, a.At, a.Actor, a.KeyID, a.KeyName, a.Action, a.Subject, a.Before, a.After, a.Reason)
	return Row{Kind: Audit, Position: position, ID: strconv.FormatInt(a.ID, 10), At: a.At.UTC(), Digest: Digest(l)}
}

// readRange reads the rows between two cursors: the ledger transactions and
// audit entries as Rows, positioned base+1, base+2, … in the chain's order,
// and the events in position order (their positions in the chain follow).
func readRange(ctx context.Context, tx *storage.Tx, from, to Cursor, base int64) ([]Row, []event, error) {
	var out []Row
	if to.LedgerXID != from.LedgerXID || to.LedgerID != from.LedgerID {
		txs, err := rangeTransactions(ctx, tx, from, to, base)
		if err != nil {
			return nil, nil, err
		}
		out = txs
	}
	if to.AuditXID != from.AuditXID || to.AuditID != from.AuditID {
		audits, err := rangeAudits(ctx, tx, from, to, base+int64(len(out)))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, audits...)
	}
	var evs []event
	if to.Events != from.Events {
		var err error
		if evs, err = rangeEvents(ctx, tx, from, to); err != nil {
			return nil, nil, err
		}
	}
	return out, evs, nil
}

// rangeTransactions reads and encodes the ledger transactions, with their
// entries, between two cursors, positioned base+1, base+2, … in the
// chain's order.
func rangeTransactions(ctx context.Context, tx *storage.Tx, from, to Cursor, base int64) ([]Row, error) {
	d := tx.Dialect()
	cond, args := keyRange(d, "t", from.LedgerXID, from.LedgerID, to.LedgerXID, to.LedgerID)
	var txs []ledgerTx
	if err := tx.Select(ctx, &txs, `SELECT t.id, t.created_at, t.idempotency_key, t.description
		FROM ledger_transactions t WHERE `+cond+` ORDER BY `+keyOrder(d, "t"), args...); err != nil {
		return nil, fmt.Errorf("chain: read ledger transactions: %w", err)
	}
	return transactionRows(ctx, tx, txs, from, to, base)
}

// transactionRows reads the entries of txs, the ledger transactions
// between two cursors in the chain's order, and encodes them positioned
// base+1, base+2, ….
func transactionRows(ctx context.Context, tx *storage.Tx, txs []ledgerTx, from, to Cursor, base int64) ([]Row, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	d := tx.Dialect()
	cond, args := keyRange(d, "t", from.LedgerXID, from.LedgerID, to.LedgerXID, to.LedgerID)
	q := `SELECT e.transaction_id, e.id, a.name, a.currency, e.side, e.amount
		FROM ledger_transactions t
		JOIN ledger_entries e ON e.transaction_id = t.id
		JOIN ledger_accounts a ON a.id = e.account_id
		WHERE ` + cond + ` ORDER BY ` + keyOrder(d, "t") + `, e.id`
	if d == storage.Postgres {
		// By the transactions' ids: an index lookup each, where a join
		// on the range may be planned as a scan of every entry.
		ids := make([]int64, len(txs))
		for i, t := range txs {
			ids[i] = t.ID
		}
		q, args = `SELECT e.transaction_id, e.id, a.name, a.currency, e.side, e.amount
			FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
			WHERE e.transaction_id = ANY(?) ORDER BY e.transaction_id, e.id`, []any{ids}
	}
	entries, err := readEntries(ctx, tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("chain: read ledger entries: %w", err)
	}
	out := make([]Row, 0, len(txs))
	for i, t := range txs {
		out = append(out, t.row(base+int64(i)+1, entries[t.ID]))
	}
	return out, nil
}

// rangeAudits reads and encodes the audit entries between two cursors,
// positioned base+1, base+2, … in the chain's order.
func rangeAudits(ctx context.Context, tx *storage.Tx, from, to Cursor, base int64) ([]Row, error) {
	d := tx.Dialect()
	cond, args := keyRange(d, "l", from.AuditXID, from.AuditID, to.AuditXID, to.AuditID)
	var audits []audit
	if err := tx.Select(ctx, &audits, `SELECT l.id, l.at, l.actor, l.key_id, l.key_name, l.action, l.subject, l.before, l.after, l.reason
		FROM audit_log l WHERE `+cond+` ORDER BY `+keyOrder(d, "l"), args...); err != nil {
		return nil, fmt.Errorf("chain: read audit log: %w", err)
	}
	out := make([]Row, 0, len(audits))
	for i, a := range audits {
		out = append(out, a.row(base+int64(i)+1))
	}
	return out, nil
}

// rangeEvents reads the events between two cursors not yet sealed by a
// legacy block, in position order.
func rangeEvents(ctx context.Context, tx *storage.Tx, from, to Cursor) ([]event, error) {
	return queryEvents(ctx, tx, `SELECT id, position, created_at, type, resource, sequence, audience, data FROM events
		WHERE chain_position IS NULL AND position > ? AND position <= ? ORDER BY position`, from.Events, to.Events)
}

// queryEvents runs q, which selects events' id, position, created_at, type,
// resource, sequence, audience and data.
func queryEvents(ctx context.Context, tx *storage.Tx, q string, args ...any) ([]event, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("chain: read events: %w", err)
	}
	defer rows.Close()
	var evs []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.ID, &e.Position, &e.CreatedAt, &e.Type, &e.Resource, &e.Sequence, &e.Audience, &e.Data); err != nil {
			return nil, fmt.Errorf("chain: read events: %w", err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chain: read events: %w", err)
	}
	return evs, nil
}
