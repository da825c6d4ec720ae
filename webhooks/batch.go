package webhooks

import (
	"context"
	"fmt"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// maxBatch bounds the deliveries that share one commit.
const maxBatch = 64

// job is one delivery waiting for the group committer.
type job struct {
	ctx      context.Context
	provider string
	body     []byte
	events   []providers.Event
	done     chan struct{}
	res      Result
	err      error
}

// storeApplied stores and applies a delivery's events in one transaction,
// and returns once it is committed. On SQLite, while Run runs, deliveries
// that arrive together share a transaction (group commit: one fsync for
// all), each in its own savepoint, so one that fails is rolled back alone
// and the others still commit; a delivery is acknowledged only after the
// commit that holds it. Otherwise each delivery has its own transaction.
func (in *Inbox) storeApplied(ctx context.Context, provider string, body []byte, events []providers.Event) (Result, error) {
	if in.jobs == nil || !in.committing.Load() {
		return in.store(ctx, provider, body, events, true)
	}
	j := &job{ctx: ctx, provider: provider, body: body, events: events, done: make(chan struct{})}
	select {
	case in.jobs <- j:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	<-j.done // the committer always answers, even when ctx is done
	return j.res, j.err
}

// commitLoop runs the group committer until ctx is done.
func (in *Inbox) commitLoop(ctx context.Context) {
	in.committing.Store(true)
	defer func() {
		in.committing.Store(false)
		// Answer what is still queued, each in its own transaction.
		for {
			select {
			case j := <-in.jobs:
				j.res, j.err = in.store(j.ctx, j.provider, j.body, j.events, true)
				close(j.done)
			default:
				return
			}
		}
	}()
	for {
		var batch []*job
		select {
		case <-ctx.Done():
			return
		case j := <-in.jobs:
			batch = append(batch, j)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case j := <-in.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		in.commitBatch(batch)
	}
}

// commitBatch stores and applies a batch in one transaction. A delivery
// whose application fails is rolled back to its savepoint and answered with
// its error (Receive then stores it pending); if the commit itself fails,
// every delivery of the batch is tried again alone.
func (in *Inbox) commitBatch(batch []*job) {
	if len(batch) == 1 {
		j := batch[0]
		j.res, j.err = in.store(j.ctx, j.provider, j.body, j.events, true)
		close(j.done)
		return
	}
	// The batch's transaction outlives any one request's context.
	ctx := context.WithoutCancel(batch[0].ctx)
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		for i, j := range batch {
			j.res, j.err = Result{}, nil
			sp := fmt.Sprintf("delivery_%d", i)
			if _, err := tx.Exec(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			j.res, j.err = in.storeTx(context.WithoutCancel(j.ctx), tx, j.provider, j.body, j.events, true)
			if j.err != nil {
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+sp); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, j := range batch {
			j.res, j.err = in.store(j.ctx, j.provider, j.body, j.events, true)
		}
	}
	for _, j := range batch {
		close(j.done)
	}
}
