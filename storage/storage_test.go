package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func notes(files map[string]string) storage.Migrations {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return storage.Migrations{Component: "notes", FS: fsys}
}

var notesV1 = map[string]string{
	"0001_notes.sql":         `CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL, at TIMESTAMP NOT NULL);`,
	"0002_tags.sqlite.sql":   `CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL); CREATE INDEX tags_tag ON tags (tag);`,
	"0002_tags.postgres.sql": `CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL); CREATE INDEX tags_tag ON tags (tag);`,
	"README.txt":             "not a migration",
}

func TestMigrationsApplyOnce(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db := b.Open(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}})
			var versions []int
			err := db.View(ctx, func(tx *storage.Tx) error {
				return tx.Select(ctx, &versions, `SELECT version FROM schema_migrations WHERE component = 'notes' ORDER BY version`)
			})
			if err != nil || len(versions) != 2 || versions[0] != 1 || versions[1] != 2 {
				t.Fatalf("applied versions = %v, %v; want [1 2]", versions, err)
			}
			// Applying the same set again is a no-op; a new version is applied alone.
			v2 := map[string]string{"0003_more.sql": `ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''`}
			for k, v := range notesV1 {
				v2[k] = v
			}
			if err := storage.Migrate(ctx, db, []storage.Migrations{notes(v2)}); err != nil {
				t.Fatalf("Migrate(v2) = %v", err)
			}
			if err := storage.Migrate(ctx, db, []storage.Migrations{notes(v2)}); err != nil {
				t.Fatalf("Migrate(v2) again = %v", err)
			}
			var n int
			err = db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &n, `SELECT COUNT(*) FROM schema_migrations WHERE component = 'notes'`)
			})
			if err != nil || n != 3 {
				t.Fatalf("schema_migrations has %d rows (%v), want 3", n, err)
			}
		})
	}
}

func TestMigrationErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"bad name", map[string]string{"notes.sql": "SELECT 1"}},
		{"zero version", map[string]string{"0000_x.sql": "SELECT 1"}},
		{"duplicate version", map[string]string{"0001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 1"}},
		{"bad SQL", map[string]string{"0001_a.sql": "CREATE TABLEX nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			db, err := storage.Open(context.Background(), path, storage.Options{Migrations: []storage.Migrations{notes(tt.files)}})
			if err == nil {
				db.Close()
				t.Fatalf("Open with %s migrations succeeded, want an error", tt.name)
			}
		})
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	// Several processes starting at once on one database: each version is
	// applied exactly once (a second CREATE TABLE would fail).
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			first := b.Open(t, storage.Options{})
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = storage.Migrate(ctx, first, []storage.Migrations{notes(notesV1)})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Migrate #%d = %v", i, err)
				}
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(t.TempDir(), "p.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"}
	for pragma, w := range want {
		var got string
		err := db.Update(ctx, func(tx *storage.Tx) error {
			return tx.QueryRow(ctx, "PRAGMA "+pragma).Scan(&got)
		})
		if err != nil || got != w {
			t.Errorf("PRAGMA %s = %q (%v), want %q", pragma, got, err, w)
		}
	}
}

// TestPostgresCommitsAreDurable: paygate's PostgreSQL sessions commit with
// synchronous_commit on and fsync on: a commit is on disk before it
// returns (PostgreSQL shares one WAL flush among concurrent commits).
func TestPostgresCommitsAreDurable(t *testing.T) {
	storagetest.Run(t, storage.Options{}, func(t *testing.T, db *storage.DB) {
		if db.Dialect() != storage.Postgres {
			return
		}
		ctx := context.Background()
		for setting, want := range map[string]string{"synchronous_commit": "on", "fsync": "on"} {
			var got string
			err := db.Update(ctx, func(tx *storage.Tx) error { return tx.QueryRow(ctx, "SHOW "+setting).Scan(&got) })
			if err != nil || got != want {
				t.Errorf("SHOW %s = %q (%v), want %q", setting, got, err, want)
			}
		}
	})
}

func TestForeignKeysEnforced(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO tags (note_id, tag) VALUES (42, 'x')`)
			return err
		})
		if err == nil {
			t.Fatal("inserting a tag of a missing note succeeded, want a foreign key error")
		}
	})
}

func TestSQLiteWriteLockTakenAtBegin(t *testing.T) {
	// Two handles on one file, as a serving process and a CLI would be: the
	// second writer waits at BEGIN until the first commits.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lock.db")
	m := []storage.Migrations{notes(notesV1)}
	a, err := storage.Open(ctx, path, storage.Options{Migrations: m})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := storage.Open(ctx, path, storage.Options{Migrations: m})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	txA, err := a.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	began := make(chan error, 1)
	go func() {
		txB, err := b.BeginTx(ctx)
		if err == nil {
			txB.Rollback()
		}
		began <- err
	}()
	select {
	case err := <-began:
		t.Fatalf("a second writer began (%v) while the first held the lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := txA.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (1, 'a', ?)`, txA.Now()); err != nil {
		t.Fatal(err)
	}
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-began; err != nil {
		t.Fatalf("second writer after commit: %v", err)
	}
}

func TestReadTransactionsCannotWrite(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		err := db.View(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (1, 'x', ?)`, tx.Now())
			return err
		})
		if err == nil {
			t.Fatal("a write in a read transaction succeeded")
		}
	})
}

func TestTxTimeAndAfterCommit(t *testing.T) {
	fixed := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	storagetest.Run(t, storage.Options{Now: func() time.Time { return fixed }, Migrations: []storage.Migrations{notes(notesV1)}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		ran := 0
		err := db.Update(ctx, func(tx *storage.Tx) error {
			tx.AfterCommit(func() { ran++ })
			_, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (1, 'x', ?)`, tx.Now())
			return err
		})
		if err != nil || ran != 1 {
			t.Fatalf("Update = %v, after-commit ran %d times, want once", err, ran)
		}
		err = db.Update(ctx, func(tx *storage.Tx) error {
			tx.AfterCommit(func() { ran++ })
			return paygate.Errorf(paygate.ECONFLICT, "no")
		})
		if paygate.ErrorCode(err) != paygate.ECONFLICT || ran != 1 {
			t.Fatalf("failed Update = %v, after-commit ran %d times, want the error and no run", err, ran)
		}
		var at time.Time
		err = db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &at, `SELECT at FROM notes`)
		})
		want := fixed.UTC().Truncate(time.Microsecond)
		if err != nil || !at.Equal(want) {
			t.Fatalf("stored time = %v (%v), want %v", at, err, want)
		}
	})
}

func TestPostgresUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := storage.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", storage.Options{})
	if paygate.ErrorCode(err) != paygate.EUNAVAILABLE {
		t.Fatalf("Open(unreachable postgres) = %v, want unavailable", err)
	}
}

// TestSQLiteCheckpointsBesideTheWriter: the writer does not checkpoint,
// the checkpointer does: rows written reach the database file (not only
// the WAL) while the database stays open.
func TestSQLiteCheckpointsBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := storage.Open(ctx, path, storage.Options{Migrations: []storage.Migrations{notes(notesV1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	if err := db.Update(ctx, func(tx *storage.Tx) error { return tx.QueryRow(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto) }); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	body := strings.Repeat("x", 4000)
	for i := range 1000 { // about 4 MB, one page or more per row
		if err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (id, body, at) VALUES (?, ?, ?)`, i, body, tx.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 4_000_000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 30 s after 4 MB were committed: nothing checkpointed", st.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTxSeq(t *testing.T) {
	storagetest.Run(t, storage.Options{}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var seqs []uint64
		for range 3 {
			err := db.Update(ctx, func(tx *storage.Tx) error {
				seqs = append(seqs, tx.Seq())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		db.View(ctx, func(tx *storage.Tx) error {
			if tx.Seq() != 0 {
				t.Errorf("read transaction Seq() = %d, want 0", tx.Seq())
			}
			return nil
		})
		if seqs[0] == 0 || seqs[1] != seqs[0]+1 || seqs[2] != seqs[1]+1 {
			t.Fatalf("Seq() of three write transactions = %v, want consecutive numbers above 0", seqs)
		}
	})
}

// TestSQLiteFilesPrivate: a new SQLite database, its -wal and its -shm are
// readable by their owner only (0600), whatever the umask lets through.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "paygate.db")
	db, err := storage.Open(context.Background(), path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(context.Background(), func(tx *storage.Tx) error {
		_, err := tx.Exec(context.Background(), `CREATE TABLE t (x INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), perm)
		}
	}
}
