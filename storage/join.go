package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Atomic runs fn in one write transaction, as Update runs its function
// (retries, group commit and durability included), and hands fn a context
// under which every Update and View of db joins that transaction instead of
// opening one of its own: a caller that owns a whole unit of work (an API
// request) makes it commit or roll back as one, while the functions it
// calls keep their own Update calls.
//
// A joined Update runs its function inside a savepoint: if the function
// fails, what it wrote is undone and its AfterCommit functions are
// dropped, and the error comes back as it would from a transaction of its
// own, while the rest of the transaction goes on. It does not commit: its
// AfterCommit functions run after Atomic's commit, and never if that
// transaction rolls back. A joined View reads in the transaction, so it
// sees what the unit has written so far.
//
// fn's error decides, with one exception: if a joined Update failed with a
// retryable error (IsRetryable: a lost race, a PostgreSQL serialization
// failure or deadlock), the whole transaction is rolled back and fn runs
// again from the start, whatever fn made of that error — only a rerun of
// the whole unit can succeed. fn must therefore be re-runnable, as Update's
// function must.
//
// The context carries a join point owned by this package, which nothing
// outside it can read: callers see only that db's Update and View take part
// in the caller's transaction. An Update or View reached after Atomic
// returned (a goroutine that outlived fn) runs on its own as usual. The
// transaction is not safe for concurrent use: fn must not use the context
// from several goroutines at once.
func (db *DB) Atomic(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return db.Update(ctx, func(tx *Tx) error {
		j := &join{db: db, tx: tx}
		defer j.ended.Store(true)
		err := fn(context.WithValue(ctx, joinKey{}, j), tx)
		switch {
		case j.broken != nil:
			return j.broken
		case j.retry != nil:
			return j.retry
		}
		return err
	})
}

// joinKey is the context key of the join point of Atomic.
type joinKey struct{}

// join is the transaction of one Atomic call, as its joined Update and
// View calls find it.
type join struct {
	db    *DB
	tx    *Tx
	n     int         // savepoints taken, for their names
	ended atomic.Bool // Atomic has returned: join no more
	// retry is the first retryable error of a joined Update; broken, an
	// error that left the transaction unusable (a savepoint that could
	// not be rolled back).
	retry, broken error
}

// joined returns the transaction of an Atomic call of db that ctx is
// under, or nil.
func (db *DB) joined(ctx context.Context) *join {
	j, _ := ctx.Value(joinKey{}).(*join)
	if j == nil || j.db != db || j.ended.Load() {
		return nil
	}
	return j
}

// update runs fn in a savepoint of the joined transaction.
func (j *join) update(ctx context.Context, fn func(tx *Tx) error) error {
	if j.broken != nil {
		return j.broken
	}
	j.n++
	sp := fmt.Sprintf("joined_%d", j.n)
	// The savepoint's own statements outlive ctx: a half-done rollback
	// would leave the transaction in no known state.
	sctx := context.WithoutCancel(ctx)
	if _, err := j.tx.Exec(sctx, "SAVEPOINT "+sp); err != nil {
		j.broken = err
		return err
	}
	part := &Tx{tx: j.tx.tx, dialect: j.tx.dialect, now: j.tx.now, seq: j.tx.seq, byUpdate: true, shared: j.tx.shared, db: j.tx.db}
	err := fn(part)
	if err != nil {
		if _, rerr := j.tx.Exec(sctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			j.broken = errors.Join(err, rerr)
			return err
		}
		if IsRetryable(err) && j.retry == nil {
			j.retry = err
		}
	}
	if _, rerr := j.tx.Exec(sctx, "RELEASE SAVEPOINT "+sp); rerr != nil {
		j.broken = rerr
		if err == nil {
			err = rerr
		}
		return err
	}
	if err == nil {
		j.tx.afterCommit = append(j.tx.afterCommit, part.afterCommit...)
		j.tx.staged = append(j.tx.staged, part.staged...)
	}
	return err
}

// view runs fn on the joined transaction, read-only by convention as
// View's functions are.
func (j *join) view(fn func(tx *Tx) error) error {
	if j.broken != nil {
		return j.broken
	}
	return fn(&Tx{tx: j.tx.tx, dialect: j.tx.dialect, now: j.tx.now, readOnly: true, shared: j.tx.shared, db: j.tx.db})
}

// Savepoint runs fn inside a savepoint of tx: if fn fails, everything fn
// wrote (in tx, or in Update calls that joined tx) is undone and its
// AfterCommit functions and staged items dropped, and tx goes on; fn's
// error is returned.
// It is for a unit of work that keeps part of what it did when the rest is
// refused.
func (tx *Tx) Savepoint(ctx context.Context, fn func() error) error {
	tx.savepoints++
	sp := fmt.Sprintf("part_%d", tx.savepoints)
	sctx := context.WithoutCancel(ctx)
	if _, err := tx.Exec(sctx, "SAVEPOINT "+sp); err != nil {
		return err
	}
	hooks, staged := len(tx.afterCommit), len(tx.staged)
	err := fn()
	if err != nil {
		if _, rerr := tx.Exec(sctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			return errors.Join(err, rerr)
		}
		tx.afterCommit, tx.staged = tx.afterCommit[:hooks], tx.staged[:staged]
	}
	if _, rerr := tx.Exec(sctx, "RELEASE SAVEPOINT "+sp); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}
