package storage

import (
	"context"
	"errors"
	"fmt"
)

// maxGroup bounds the Update calls that share one SQLite commit.
const maxGroup = 64

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("storage: database closed")

// commitReq is one Update call waiting for the group committer.
type commitReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error // answered once, always
}

// groupUpdate hands fn to the group committer and waits for its answer:
// SQLite's group commit. Update calls that arrive while a commit is under
// way share the next transaction, each in its own savepoint, so that many
// callers pay for one fsync; each caller returns only after the commit that
// holds its work is durable (synchronous=FULL), with fn's own error if fn
// failed (its savepoint rolled back, the others unaffected). The answer is
// awaited even when ctx ends, for the work may be committing.
func (db *DB) groupUpdate(ctx context.Context, fn func(tx *Tx) error) error {
	select {
	case db.writeTurn <- struct{}{}:
		// The writer is idle: nothing to share a commit with, so run now
		// rather than hand fn to the committer (whose writes take the same
		// turn, so they still never overlap).
		<-db.writeTurn
		return db.updateRetrying(ctx, fn)
	default:
	}
	req := &commitReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.queue <- req:
	case <-ctx.Done():
		return db.wrapErr("begin", ctx.Err())
	case <-db.closed:
		return ErrClosed
	}
	return <-req.done
}

// commitLoop is the group committer: it takes the next waiting Update, and
// every other one waiting by then, up to maxGroup, and commits them together.
func (db *DB) commitLoop() {
	defer close(db.loopDone)
	for {
		var group []*commitReq
		select {
		case r := <-db.queue:
			group = append(group, r)
		case <-db.closed:
			return
		}
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-db.queue:
				group = append(group, r)
			default:
				break drain
			}
		}
		db.commitGroup(group)
	}
}

// commitGroup runs a group's functions in one transaction and commits it.
// A lone Update runs as it would without the committer. In a group, a
// function that fails is rolled back to its savepoint and answered with its
// error; one whose error is retryable runs again alone. If the shared
// transaction cannot go on (a savepoint or the commit fails), it is rolled
// back and every function runs again alone: functions may run more than
// once, as Update's retries already allow.
func (db *DB) commitGroup(group []*commitReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- db.wrapErr("begin", err)
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].done <- db.updateRetrying(live[0].ctx, live[0].fn)
		return
	}
	errs, members, err := db.runGroup(live)
	for i, r := range live {
		switch {
		case err != nil || IsRetryable(errs[i]):
			r.done <- db.updateRetrying(r.ctx, r.fn)
		case errs[i] != nil:
			r.done <- errs[i]
		default:
			for _, fn := range members[i].afterCommit {
				fn()
			}
			r.done <- nil
		}
	}
}

// runGroup runs the functions in one transaction, each in a savepoint, and
// commits. It returns each function's error and transaction; err reports a
// shared transaction that did not commit.
func (db *DB) runGroup(group []*commitReq) (errs []error, members []*Tx, err error) {
	// The shared transaction outlives any one caller's context: a statement
	// cancelled half-way could make SQLite roll the whole transaction back.
	ctx := context.Background()
	base, err := db.BeginTx(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer base.Rollback()
	errs, members = make([]error, len(group)), make([]*Tx, len(group))
	for i, r := range group {
		sp := fmt.Sprintf("group_%d", i)
		if _, err := base.Exec(ctx, "SAVEPOINT "+sp); err != nil {
			return nil, nil, err
		}
		m := &Tx{tx: base.tx, dialect: db.dialect, now: db.Now(), seq: base.seq, byUpdate: true, shared: true, db: db}
		members[i] = m
		if errs[i] = r.fn(m); errs[i] != nil {
			if _, err := base.Exec(ctx, "ROLLBACK TO SAVEPOINT "+sp); err != nil {
				return nil, nil, err
			}
		}
		if _, err := base.Exec(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
			return nil, nil, err
		}
	}
	// The members' AfterCommit functions run in commitGroup, after this;
	// what the members that succeeded staged is written by base's commit,
	// all of it together.
	for i, m := range members {
		if errs[i] == nil {
			base.staged = append(base.staged, m.staged...)
		}
	}
	if err := base.Commit(); err != nil {
		return nil, nil, err
	}
	db.commits.Add(1)
	for _, err := range errs {
		if err == nil {
			db.updates.Add(1)
		}
	}
	return errs, members, nil
}
