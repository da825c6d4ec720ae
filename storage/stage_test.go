package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// noteWriter is a Stager that inserts the staged notes (ids) in one
// statement, and records each Flush's items; fail makes its Flush fail.
type noteWriter struct{ log *flushLog }

type flushLog struct {
	mu      sync.Mutex
	flushes [][]int
	fail    bool
}

func (w noteWriter) Flush(ctx context.Context, tx *storage.Tx, items []any) error {
	w.log.mu.Lock()
	ids := make([]int, len(items))
	for i, it := range items {
		ids[i] = it.(int)
	}
	w.log.flushes = append(w.log.flushes, ids)
	fail := w.log.fail
	w.log.mu.Unlock()
	if fail {
		return errors.New("flush refused")
	}
	q, args := `INSERT INTO notes (id, body, at) VALUES `, []any{}
	for i, id := range ids {
		if i > 0 {
			q += ", "
		}
		q += "(?, 'staged', ?)"
		args = append(args, id, tx.Now())
	}
	_, err := tx.Exec(ctx, q, args...)
	return err
}

// staged returns the ids of the notes in the database.
func stagedNotes(t *testing.T, db *storage.DB) []int {
	t.Helper()
	var ids []int
	if err := db.View(context.Background(), func(tx *storage.Tx) error {
		return tx.Select(context.Background(), &ids, `SELECT id FROM notes ORDER BY id`)
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestStageWritesAtCommit: what a transaction staged is written by one
// Flush just before it commits, in the order staged; nothing of it is
// written if the transaction rolls back; a Savepoint or a joined Update
// that fails takes its staged items with it; a Flush that fails makes the
// commit fail and rolls everything back.
func TestStageWritesAtCommit(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		log := &flushLog{}
		w := noteWriter{log}
		err := db.Atomic(ctx, func(ctx context.Context, tx *storage.Tx) error {
			for _, id := range []int{3, 1} {
				if err := tx.Stage(w, id); err != nil {
					return err
				}
			}
			var n int
			if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM notes`); err != nil || n != 0 {
				return fmt.Errorf("before commit %d notes (%v), want none: staged items are written at commit", n, err)
			}
			_ = tx.Savepoint(ctx, func() error {
				_ = tx.Stage(w, 10)
				return errors.New("this part is refused")
			})
			_ = db.Update(ctx, func(tx *storage.Tx) error {
				_ = tx.Stage(w, 11)
				return errors.New("this joined Update is refused")
			})
			return db.Update(ctx, func(tx *storage.Tx) error { return tx.Stage(w, 2) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := stagedNotes(t, db); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("notes after commit: %v, want 1, 2, 3", got)
		}
		if !slices.EqualFunc(log.flushes, [][]int{{3, 1, 2}}, slices.Equal) {
			t.Errorf("flushes %v, want one of [3 1 2]", log.flushes)
		}

		err = db.Update(ctx, func(tx *storage.Tx) error {
			_ = tx.Stage(w, 20)
			return errors.New("refused")
		})
		if err == nil || len(log.flushes) != 1 {
			t.Errorf("a refused Update: %v, %d flushes; want its error and no flush", err, len(log.flushes))
		}
		log.fail = true
		err = db.Update(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (30, 'direct', ?)`, tx.Now()); err != nil {
				return err
			}
			return tx.Stage(w, 31)
		})
		if err == nil || !strings.Contains(err.Error(), "flush refused") {
			t.Errorf("a failing Flush: commit error %v, want it", err)
		}
		if got := stagedNotes(t, db); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("notes after a failed flush: %v, want the transaction rolled back", got)
		}
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Stage(w, 40) }); err == nil {
			t.Error("staging in a read-only transaction: no error")
		}
	})
}

// TestStageInGroupCommits: many concurrent Updates stage items; each
// committed Update's items are written (on SQLite, the group's items by
// one Flush per commit), a refused one's are not.
func TestStageInGroupCommits(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		log := &flushLog{}
		w := noteWriter{log}
		const n = 200
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = db.Update(ctx, func(tx *storage.Tx) error {
					if err := tx.Stage(w, 2*i); err != nil {
						return err
					}
					if err := tx.Stage(w, 2*i+1); err != nil {
						return err
					}
					if i%5 == 0 {
						return errors.New("refused")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		var want []int
		for i := range n {
			if i%5 != 0 {
				want = append(want, 2*i, 2*i+1)
			}
		}
		if got := stagedNotes(t, db); !slices.Equal(got, want) {
			t.Errorf("notes: %d written, want %d (every committed Update's two, no refused one's)", len(got), len(want))
		}
		var flushed []int
		for _, f := range log.flushes {
			for j := 0; j < len(f); j += 2 {
				if f[j+1] != f[j]+1 {
					t.Fatalf("a flush %v splits or reorders one Update's items", f)
				}
			}
			flushed = append(flushed, f...)
		}
		sort.Ints(flushed)
		if !slices.Equal(flushed, want) {
			t.Errorf("flushed %d items, want exactly the committed ones (%d)", len(flushed), len(want))
		}
		t.Logf("%d Updates committed their items in %d flushes", n-n/5, len(log.flushes))
	})
}

// TestExecAtCommit: on PostgreSQL, writes queued for the commit are sent
// after what the Stagers write, in the order queued, with the COMMIT in one
// round trip; on SQLite they run at once. One queued in a Savepoint that
// fails is dropped (rolled back); one that fails makes the transaction
// fail and roll back whole.
func TestExecAtCommit(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w := noteWriter{&flushLog{}}
		before := db.Stats()
		err := db.Update(ctx, func(tx *storage.Tx) error {
			if err := tx.ExecAtCommit(ctx, `UPDATE notes SET body = 'queued first' WHERE id = 1`); err != nil {
				return err
			}
			if err := tx.Stage(w, 1); err != nil {
				return err
			}
			_ = tx.Savepoint(ctx, func() error {
				_ = tx.ExecAtCommit(ctx, `UPDATE notes SET body = 'dropped' WHERE id = 1`)
				return errors.New("refused")
			})
			return tx.ExecAtCommit(ctx, `UPDATE notes SET body = body || ', then second' WHERE id = 1`)
		})
		if err != nil {
			t.Fatal(err)
		}
		after := db.Stats()
		var body string
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &body, `SELECT body FROM notes WHERE id = 1`) }); err != nil {
			t.Fatal(err)
		}
		// PostgreSQL: the Stager's insert runs at its Flush, before the
		// queued writes are sent: they find its row, and run in the order
		// queued. SQLite: they ran at once, before the row existed.
		want := map[storage.Dialect]string{storage.Postgres: "queued first, then second", storage.SQLite: "staged"}[db.Dialect()]
		if body != want {
			t.Errorf("body %q, want %q", body, want)
		}
		statements, trips := after.Statements-before.Statements, after.RoundTrips-before.RoundTrips
		t.Logf("%d statements in %d round trips", statements, trips)
		if db.Dialect() == storage.Postgres && statements-trips != 2 {
			t.Errorf("PostgreSQL: %d statements in %d round trips, want the two queued writes sent with the COMMIT", statements, trips)
		}

		err = db.Update(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (5, 'direct', ?)`, tx.Now()); err != nil {
				return err
			}
			return tx.ExecAtCommit(ctx, `INSERT INTO notes (id, body, at) VALUES (1, 'a duplicate', ?)`, tx.Now())
		})
		if err == nil {
			t.Fatal("a queued write that fails: the commit succeeded")
		}
		if got := stagedNotes(t, db); !slices.Equal(got, []int{1}) {
			t.Errorf("notes after a failed queued write: %v, want the transaction rolled back", got)
		}
	})
}
