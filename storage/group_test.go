package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestConcurrentUpdatesShareCommits: many Update calls at once each get
// their own outcome — committed work is there when Update returns, a
// failed function's writes are gone and its error comes back unchanged, a
// retryable failure runs again, AfterCommit runs only for committed work —
// and on SQLite they share commits (fewer fsyncs than Updates).
func TestConcurrentUpdatesShareCommits(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		const n = 400
		var afterCommit [n]atomic.Int32
		var retried [n]atomic.Int32
		errs := make([]error, n)
		var wg sync.WaitGroup
		before := db.Stats()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Update(ctx, func(tx *storage.Tx) error {
					tx.AfterCommit(func() { afterCommit[i].Add(1) })
					if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (?, ?, ?)`, i, fmt.Sprint("note ", i), tx.Now()); err != nil {
						return err
					}
					switch i % 4 {
					case 1: // fails after writing: its row must not stay
						return paygate.Errorf(paygate.ECONFLICT, "note %d refused", i)
					case 2: // loses a race once, then succeeds
						if retried[i].Add(1) == 1 {
							return storage.Retryable(errors.New("lost a race"))
						}
					}
					return nil
				})
				if errs[i] == nil {
					// Committed means visible to any reader now.
					var body string
					if err := db.View(ctx, func(tx *storage.Tx) error {
						return tx.Get(ctx, &body, `SELECT body FROM notes WHERE id = ?`, i)
					}); err != nil || body != fmt.Sprint("note ", i) {
						t.Errorf("note %d after its Update returned: %q, %v", i, body, err)
					}
				}
			}()
		}
		wg.Wait()
		var ids []int
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Select(ctx, &ids, `SELECT id FROM notes ORDER BY id`) }); err != nil {
			t.Fatal(err)
		}
		stored := map[int]bool{}
		for _, id := range ids {
			stored[id] = true
		}
		for i := range n {
			failed := i%4 == 1
			switch {
			case failed && (paygate.ErrorCode(errs[i]) != paygate.ECONFLICT || stored[i] || afterCommit[i].Load() != 0):
				t.Errorf("failing update %d: error %v, stored %v, after-commit ran %d times; want ECONFLICT, nothing stored, no run",
					i, errs[i], stored[i], afterCommit[i].Load())
			case !failed && (errs[i] != nil || !stored[i] || afterCommit[i].Load() != 1):
				t.Errorf("update %d: error %v, stored %v, after-commit ran %d times; want committed once", i, errs[i], stored[i], afterCommit[i].Load())
			}
		}
		if len(ids) != n-n/4 {
			t.Errorf("%d notes stored, want %d", len(ids), n-n/4)
		}
		st := db.Stats()
		updates, commits := st.Updates-before.Updates, st.Commits-before.Commits
		if updates != n-n/4 {
			t.Errorf("Stats counts %d committed updates, want %d", updates, n-n/4)
		}
		t.Logf("%d committed updates in %d commits", updates, commits)
		if db.Dialect() == storage.SQLite && commits >= updates {
			t.Errorf("SQLite: %d updates took %d commits; concurrent updates should share commits", updates, commits)
		}
	})
}

// TestUpdateMayNotFinishItsTransaction: a function that commits or rolls
// back Update's transaction itself is refused, and Update still commits or
// rolls back as the function's result says.
func TestUpdateMayNotFinishItsTransaction(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var problems atomic.Int32
		for i := range 20 { // concurrent, so that SQLite groups some of them
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Update(ctx, func(tx *storage.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (?, 'x', ?)`, i, tx.Now()); err != nil {
						return err
					}
					if i%2 == 0 {
						tx.Rollback()
					} else {
						tx.Commit()
					}
					return nil
				})
				if err != nil {
					problems.Add(1)
					t.Errorf("update %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		var n int
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, `SELECT COUNT(*) FROM notes`) }); err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Fatalf("%d notes stored, want 20: Update's own commit decides", n)
		}
	})
}

// TestUpdateAfterClose fails cleanly.
func TestUpdateAfterClose(t *testing.T) {
	db := storagetest.Backends(t)[0].Open(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}})
	db.Close()
	if err := db.Update(context.Background(), func(tx *storage.Tx) error { return nil }); err == nil {
		t.Fatal("Update after Close succeeded")
	}
}
