package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// A Stager writes, in one go just before a transaction commits, the items
// its callers staged in the transaction with Tx.Stage: many small writes of
// one kind (events, say) become one statement or two per commit instead of
// one or two each, which on PostgreSQL is also one round trip instead of
// many. Its Flush runs in the transaction, once per commit that holds
// staged items, with them in the order they were staged; its error rolls
// the transaction back and is the commit's error. A Stager must be
// comparable: the staged items are grouped by its value.
type Stager interface {
	Flush(ctx context.Context, tx *Tx, items []any) error
}

// staged is one item waiting for its Stager.
type staged struct {
	by   Stager
	item any
}

// Stage queues item for s to write when the transaction commits. Staged
// items follow the fate of the work that staged them: an Update that
// joined an Atomic transaction, a member of a SQLite group commit or a
// Savepoint that fails takes its items with it, and a transaction that
// rolls back writes none. What is staged is not in the database before the
// commit: the transaction itself does not read it back.
func (tx *Tx) Stage(s Stager, item any) error {
	if tx.readOnly {
		return errors.New("storage: staging a write in a read-only transaction")
	}
	if tx.done {
		return errors.New("storage: staging a write in a finished transaction")
	}
	tx.staged = append(tx.staged, staged{by: s, item: item})
	return nil
}

// flush hands the staged items to their Stagers, each Stager once with
// its items in the order they were staged, Stagers in the order of their
// first item; the items are spent either way.
func (tx *Tx) flush(ctx context.Context) error {
	if len(tx.staged) == 0 {
		return nil
	}
	all := tx.staged
	tx.staged = nil
	tx.flushing = true
	defer func() { tx.flushing = false }()
	var order []Stager
	items := map[Stager][]any{}
	for _, s := range all {
		if _, ok := items[s.by]; !ok {
			order = append(order, s.by)
		}
		items[s.by] = append(items[s.by], s.item)
	}
	for _, s := range order {
		if err := s.Flush(ctx, tx, items[s]); err != nil {
			return fmt.Errorf("storage: write what the transaction staged: %w", err)
		}
	}
	return nil
}

// stmt is a write queued with ExecAtCommit.
type stmt struct {
	q    string
	args []any
}

// atCommit is the Stager of ExecAtCommit's writes: it hands them to the
// commit, after the Stagers staged before them.
type atCommit struct{}

func (atCommit) Flush(_ context.Context, tx *Tx, items []any) error {
	for _, it := range items {
		tx.late = append(tx.late, it.(stmt))
	}
	return nil
}

// ExecAtCommit runs a write whose result nobody reads: on PostgreSQL it is
// queued and sent with the transaction's COMMIT in one round trip (a pgx
// batch of the writes and the COMMIT), its error then the commit's, and
// the transaction rolls back; like a staged item it is dropped with the
// Savepoint or joined Update that queued it, and a Stager's Flush may queue
// its writes with it too, which follow everything staged before. On SQLite
// it runs at once, as Exec: there is no round trip to save, and the
// members of a group commit share one transaction, where a later member
// must see what an earlier one wrote (a duplicate request the stored
// response, say).
func (tx *Tx) ExecAtCommit(ctx context.Context, q string, args ...any) error {
	switch {
	case tx.dialect == SQLite:
		_, err := tx.Exec(ctx, q, args...)
		return err
	case tx.flushing:
		tx.late = append(tx.late, stmt{q: q, args: args})
		return nil
	}
	return tx.Stage(atCommit{}, stmt{q: q, args: args})
}

// sendCommit sends COMMIT, on PostgreSQL in one round trip with the
// writes queued for it (ExecAtCommit).
func (tx *Tx) sendCommit(ctx context.Context) error {
	late := tx.late
	tx.late = nil
	if len(late) > 0 {
		return tx.sendBatch(ctx, append(late, stmt{q: "COMMIT"}))
	}
	tx.db.sent("COMMIT")
	_, err := tx.tx.ExecContext(ctx, "COMMIT")
	return err
}

// sendBatch sends stmts to PostgreSQL in one round trip (a pgx batch on
// the transaction's connection) and reads their results in order; the
// first error ends it. A batch ending in COMMIT that PostgreSQL answers
// with ROLLBACK (the transaction had failed) is an error too.
func (tx *Tx) sendBatch(ctx context.Context, stmts []stmt) error {
	return tx.tx.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("storage: a PostgreSQL connection of type %T, not pgx's", dc)
		}
		b := &pgx.Batch{}
		for i, s := range stmts {
			if i == 0 {
				tx.db.sent(s.q)
			} else {
				tx.db.sentInBatch(s.q)
			}
			b.Queue(sqlx.Rebind(sqlx.DOLLAR, s.q), s.args...)
		}
		res := c.Conn().SendBatch(ctx, b)
		var err error
		for _, s := range stmts {
			var tag pgconn.CommandTag
			if tag, err = res.Exec(); err != nil {
				err = tx.wrapErr("exec", err)
				break
			}
			if s.q == "COMMIT" && tag.String() != "COMMIT" {
				err = fmt.Errorf("storage: COMMIT answered %q: the transaction rolled back", tag.String())
				break
			}
		}
		return errors.Join(err, res.Close())
	})
}
