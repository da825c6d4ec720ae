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

func addNote(ctx context.Context, db *storage.DB, id int, hooks *atomic.Int32) error {
	return db.Update(ctx, func(tx *storage.Tx) error {
		if hooks != nil {
			tx.AfterCommit(func() { hooks.Add(1) })
		}
		_, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (?, ?, ?)`, id, fmt.Sprint("note ", id), tx.Now())
		return err
	})
}

func noteIDs(t *testing.T, db *storage.DB) []int {
	t.Helper()
	ctx := context.Background()
	var ids []int
	if err := db.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &ids, `SELECT id FROM notes ORDER BY id`)
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestAtomicJoinsUpdates: the Update and View calls under Atomic's context
// are one transaction — one commit, the joined AfterCommit functions only
// after it, a View that sees the unit's writes — and a joined Update that
// fails undoes only its own writes.
func TestAtomicJoinsUpdates(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var hooks atomic.Int32
		before := db.Stats()
		err := db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
			if err := addNote(ctx, db, 1, &hooks); err != nil {
				return err
			}
			refused := db.Update(ctx, func(tx *storage.Tx) error {
				tx.AfterCommit(func() { hooks.Add(100) })
				if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (2, 'refused', ?)`, tx.Now()); err != nil {
					return err
				}
				return paygate.Errorf(paygate.ECONFLICT, "refused")
			})
			if paygate.ErrorCode(refused) != paygate.ECONFLICT {
				return fmt.Errorf("refused Update = %v", refused)
			}
			if err := addNote(ctx, db, 3, &hooks); err != nil {
				return err
			}
			var n int
			if err := db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &n, `SELECT COUNT(*) FROM notes`)
			}); err != nil || n != 2 {
				return fmt.Errorf("joined View counts %d notes, %v; want 2", n, err)
			}
			if h := hooks.Load(); h != 0 {
				return fmt.Errorf("AfterCommit ran %d times before the commit", h)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if h := hooks.Load(); h != 2 {
			t.Errorf("AfterCommit after the commit: %d, want 2", h)
		}
		if ids := noteIDs(t, db); fmt.Sprint(ids) != "[1 3]" {
			t.Errorf("notes = %v, want [1 3]", ids)
		}
		after := db.Stats()
		if u, c := after.Updates-before.Updates, after.Commits-before.Commits; u != 1 || c != 1 {
			t.Errorf("Atomic with three joined Updates: %d updates in %d commits, want 1 in 1", u, c)
		}
	})
}

// TestAtomicRollsBackAsOne: when Atomic's function fails after joined
// Updates succeeded, none of their writes stay and none of their
// AfterCommit functions run.
func TestAtomicRollsBackAsOne(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var hooks atomic.Int32
		crash := errors.New("crash before the commit")
		err := db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
			if err := addNote(ctx, db, 1, &hooks); err != nil {
				return err
			}
			if err := addNote(ctx, db, 2, &hooks); err != nil {
				return err
			}
			return crash
		})
		if !errors.Is(err, crash) {
			t.Fatalf("Atomic = %v, want %v", err, crash)
		}
		if ids := noteIDs(t, db); len(ids) != 0 {
			t.Errorf("notes after the rollback = %v, want none", ids)
		}
		if h := hooks.Load(); h != 0 {
			t.Errorf("AfterCommit ran %d times after a rollback", h)
		}
	})
}

// TestAtomicRetriesTheWholeUnit: a joined Update that fails with a
// retryable error makes Atomic run its whole function again, even when the
// function swallowed the error (as a handler that answered it does); the
// first run's writes are gone.
func TestAtomicRetriesTheWholeUnit(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		runs := 0
		err := db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
			runs++
			if err := addNote(ctx, db, 10+runs, nil); err != nil {
				return err
			}
			err := db.Update(ctx, func(tx *storage.Tx) error {
				if runs == 1 {
					return storage.Retryable(errors.New("lost a race"))
				}
				return nil
			})
			_ = err // answered, as a handler would: Atomic retries anyway
			return nil
		})
		if err != nil || runs != 2 {
			t.Fatalf("Atomic = %v after %d runs, want nil after 2", err, runs)
		}
		if ids := noteIDs(t, db); fmt.Sprint(ids) != "[12]" {
			t.Errorf("notes = %v, want [12] (the first run's note rolled back)", ids)
		}
	})
}

// TestSavepointUndoesPart: Tx.Savepoint undoes what its function wrote,
// joined Updates and AfterCommit functions included, and the transaction
// goes on to commit the rest.
func TestSavepointUndoesPart(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var hooks atomic.Int32
		refused := errors.New("refused")
		err := db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
			if err := addNote(ctx, db, 1, &hooks); err != nil {
				return err
			}
			err := tx.Savepoint(ctx, func() error {
				if err := addNote(ctx, db, 2, &hooks); err != nil {
					return err
				}
				return refused
			})
			if !errors.Is(err, refused) {
				return fmt.Errorf("Savepoint = %v", err)
			}
			return tx.Savepoint(ctx, func() error { return addNote(ctx, db, 3, &hooks) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if ids := noteIDs(t, db); fmt.Sprint(ids) != "[1 3]" {
			t.Errorf("notes = %v, want [1 3]", ids)
		}
		if h := hooks.Load(); h != 2 {
			t.Errorf("AfterCommit ran %d times, want 2 (the undone part's dropped)", h)
		}
	})
}

// TestConcurrentAtomicUnits: many Atomic units at once, each with joined
// Updates, share SQLite's group commits without deadlock, and each unit's
// writes are all there or (for the failed ones) all gone.
func TestConcurrentAtomicUnits(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
					if err := addNote(ctx, db, 2*i, nil); err != nil {
						return err
					}
					if err := addNote(ctx, db, 2*i+1, nil); err != nil {
						return err
					}
					if i%5 == 0 {
						return paygate.Errorf(paygate.ECONFLICT, "unit %d refused", i)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		want := 0
		for i, err := range errs {
			if (err != nil) != (i%5 == 0) {
				t.Errorf("unit %d: %v", i, err)
			}
			if err == nil {
				want += 2
			}
		}
		ids := noteIDs(t, db)
		if len(ids) != want {
			t.Errorf("%d notes, want %d", len(ids), want)
		}
		for _, id := range ids {
			if (id/2)%5 == 0 {
				t.Errorf("note %d of a refused unit committed", id)
			}
		}
	})
}
