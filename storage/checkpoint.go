package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file.
const checkpointEvery = 200 * time.Millisecond

// startCheckpointer takes WAL checkpoints off the writer: SQLite runs one
// inside the commit that crosses 1,000 WAL pages, which stalls that commit
// and every Update waiting behind the one writing connection. The writer's
// automatic checkpoints are turned off, and a connection of its own copies
// the WAL back every checkpointEvery, PASSIVE: it never blocks the writer
// or the readers. If the writer's connection is ever replaced, the new one
// checkpoints by itself again (the pragma is per connection).
func (db *DB) startCheckpointer(ctx context.Context, u string) error {
	if _, err := db.write.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		return fmt.Errorf("storage: turn off the writer's checkpoints: %w", err)
	}
	c, err := sqlx.Open("sqlite3", u)
	if err != nil {
		return fmt.Errorf("storage: open the checkpointer: %w", err)
	}
	c.SetMaxOpenConns(1)
	db.checkpointer = c
	db.checkpointDone = make(chan struct{})
	go func() {
		defer close(db.checkpointDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-db.closed:
				return
			case <-t.C:
			}
			// A failed checkpoint is retried at the next tick; the WAL
			// keeps every commit meanwhile.
			_, _ = c.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}()
	return nil
}
