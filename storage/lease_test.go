package storage_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// jobsFiles make a table of work shared out under leases: due at due_at
// while pending, leased with locked_until and locked_by.
var jobsFiles = map[string]string{
	"0001_jobs.sqlite.sql": `CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT NOT NULL, due_at TIMESTAMP,
		locked_until TIMESTAMP, locked_by TEXT NOT NULL DEFAULT '')`,
	"0001_jobs.postgres.sql": `CREATE TABLE jobs (id BIGINT PRIMARY KEY, status TEXT NOT NULL, due_at TIMESTAMPTZ,
		locked_until TIMESTAMPTZ, locked_by TEXT NOT NULL DEFAULT '')`,
}

func jobs() storage.Migrations {
	m := notes(jobsFiles)
	m.Component = "jobs"
	return m
}

// clock is a settable time for storage.Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// leaseOf is the lease of the jobs table that holder takes.
func leaseOf(holder string) storage.Lease {
	return storage.Lease{Table: "jobs", Key: "id", Where: "status = ? AND due_at <= ?", Order: "due_at, id",
		Until: "locked_until", For: time.Minute, By: "locked_by", Holder: holder}
}

func claim(t *testing.T, db *storage.DB, l storage.Lease, n int) []int64 {
	t.Helper()
	var ids []int64
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		ids = nil
		l.Args = []any{"pending", tx.Now()}
		return tx.Claim(context.Background(), &ids, l, n)
	})
	if err != nil {
		t.Fatalf("Claim(%s, %d) = %v", l.Holder, n, err)
	}
	slices.Sort(ids)
	return ids
}

func TestLeaseClaim(t *testing.T) {
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := newClock(start)
	storagetest.Run(t, storage.Options{Now: clk.now, Migrations: []storage.Migrations{jobs()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk.ns.Store(start.UnixNano())
		// 1–4 due, 5 due later, 6 done, 7 never due (NULL).
		err := db.Update(ctx, func(tx *storage.Tx) error {
			for id := 1; id <= 7; id++ {
				status, due := "pending", any(start.Add(-time.Duration(10-id)*time.Second))
				switch id {
				case 5:
					due = start.Add(time.Hour)
				case 6:
					status = "done"
				case 7:
					due = nil
				}
				if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, status, due_at) VALUES (?, ?, ?)`, id, status, due); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := claim(t, db, leaseOf("a"), 3); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("first claim = %v, want the 3 first due [1 2 3]", got)
		}
		if got := claim(t, db, leaseOf("b"), 10); !slices.Equal(got, []int64{4}) {
			t.Fatalf("second claim = %v, want the one due row not leased [4]", got)
		}
		if got := claim(t, db, leaseOf("b"), 10); len(got) != 0 {
			t.Fatalf("third claim = %v, want none (all due rows leased)", got)
		}
		var holders []string
		err = db.View(ctx, func(tx *storage.Tx) error {
			return tx.Select(ctx, &holders, `SELECT locked_by FROM jobs ORDER BY id`)
		})
		if want := []string{"a", "a", "a", "b", "", "", ""}; err != nil || !slices.Equal(holders, want) {
			t.Fatalf("holders = %v (%v), want %v", holders, err, want)
		}

		// a stops: its leases are freed at once, b's stay.
		var freed int64
		err = db.Update(ctx, func(tx *storage.Tx) error {
			var err error
			freed, err = tx.Release(ctx, leaseOf("a"))
			return err
		})
		if err != nil || freed != 3 {
			t.Fatalf("Release(a) = %d, %v; want 3", freed, err)
		}
		if got := claim(t, db, leaseOf("c"), 10); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("claim after release = %v, want [1 2 3]", got)
		}

		// c dies: its leases run out after For, and then everything due
		// is claimed again (5 has become due meanwhile).
		clk.add(time.Minute - time.Second)
		if got := claim(t, db, leaseOf("d"), 10); len(got) != 0 {
			t.Fatalf("claim before the leases run out = %v, want none", got)
		}
		clk.add(2 * time.Hour)
		if got := claim(t, db, leaseOf("d"), 10); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
			t.Fatalf("claim after the leases ran out = %v, want [1 2 3 4 5]", got)
		}
	})
}

// TestLeaseInDueColumn checks a lease kept in the column that says when a
// row is due: claiming postpones the row by For.
func TestLeaseInDueColumn(t *testing.T) {
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clk := newClock(start)
	storagetest.Run(t, storage.Options{Now: clk.now, Migrations: []storage.Migrations{jobs()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		clk.ns.Store(start.UnixNano())
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO jobs (id, status, due_at) VALUES (1, 'pending', ?), (2, 'pending', NULL)`, start)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		l := storage.Lease{Table: "jobs", Key: "id", Where: "status = ? AND due_at IS NOT NULL", Until: "due_at", For: time.Minute}
		claimDue := func() []int64 {
			var ids []int64
			err := db.Update(ctx, func(tx *storage.Tx) error {
				ids = nil
				l.Args = []any{"pending"}
				return tx.Claim(ctx, &ids, l, 10)
			})
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		if got := claimDue(); !slices.Equal(got, []int64{1}) {
			t.Fatalf("claim = %v, want [1]", got)
		}
		var due time.Time
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &due, `SELECT due_at FROM jobs WHERE id = 1`) }); err != nil || !due.Equal(start.Add(time.Minute)) {
			t.Fatalf("due_at = %v (%v), want %v", due, err, start.Add(time.Minute))
		}
		if got := claimDue(); len(got) != 0 {
			t.Fatalf("claim again = %v, want none", got)
		}
		clk.add(time.Minute)
		if got := claimDue(); !slices.Equal(got, []int64{1}) {
			t.Fatalf("claim after the lease = %v, want [1]", got)
		}
	})
}

// TestLeaseConcurrentClaims has two instances (two connection pools on one
// database) claim at once: every due row is claimed exactly once.
func TestLeaseConcurrentClaims(t *testing.T) {
	const rows, workers = 200, 8
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			opts := storage.Options{Migrations: []storage.Migrations{jobs()}}
			var dbs []*storage.DB
			for range 2 {
				db, err := storage.Open(ctx, dsn, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs = append(dbs, db)
			}
			err := dbs[0].Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO jobs (id, status, due_at) SELECT n, 'pending', ? FROM (
					WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200) SELECT n FROM c) s`, tx.Now().Add(-time.Second))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[int64]int{}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db := dbs[w%2]
					for {
						var ids []int64
						err := db.Update(ctx, func(tx *storage.Tx) error {
							ids = nil
							l := leaseOf(string(rune('a' + w)))
							l.Args = []any{"pending", tx.Now()}
							return tx.Claim(ctx, &ids, l, 7)
						})
						if err != nil {
							t.Errorf("worker %d: Claim = %v", w, err)
							return
						}
						if len(ids) == 0 {
							return
						}
						mu.Lock()
						for _, id := range ids {
							seen[id]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(seen) != rows {
				t.Errorf("%d rows claimed, want %d", len(seen), rows)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("row %d claimed %d times, want once", id, n)
				}
			}
		})
	}
}
