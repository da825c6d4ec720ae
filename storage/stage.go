package storage

import (
	"context"
	"errors"
	"fmt"
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
