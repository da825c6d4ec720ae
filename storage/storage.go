// Package storage opens paygate's database — an embedded SQLite file by
// default, or PostgreSQL for deployments that outgrow one machine — applies
// the migrations that the other packages embed, and hands out transactions
// that fix one "now" for everything they write.
//
// Queries are written once with "?" placeholders; a Tx rebinds them for the
// backend. Business rules live in the packages that own the tables, never
// here.
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/redact"
)

// Dialect names the SQL backend.
type Dialect string

// The supported backends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options configure Open.
type Options struct {
	// Now is the clock that fixes each transaction's time; time.Now if nil.
	Now func() time.Time
	// Migrations are applied in order (and, within one set, by version) at
	// Open. A set may depend on the tables of the sets before it.
	Migrations []Migrations
	// MaxConns bounds PostgreSQL connections (default 16). SQLite always
	// uses one writing connection: SQLite admits one writer at a time, and
	// queueing in the pool is cheaper than spinning on the busy handler.
	MaxConns int
	// MustExist refuses to create a database: Open answers a *MissingError
	// when the SQLite file does not exist, or when the database (either
	// backend) has no paygate schema yet. Only the server, or a command
	// told to create one, makes a new database.
	MustExist bool
}

// MissingError is Open's answer, under Options.MustExist, for a database
// that does not exist or holds no paygate schema.
type MissingError struct {
	Name string // the SQLite path, or the PostgreSQL URL with its password masked
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("storage: database %s does not exist or has no paygate schema", e.Name)
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	write   *sqlx.DB
	read    *sqlx.DB // the same pool as write on PostgreSQL
	now     func() time.Time
	// writeTurn orders SQLite's writers first come, first served: the one
	// writing connection is a token in this channel, and goroutines blocked
	// on a channel are woken in the order they came (database/sql's pool
	// hands a freed connection to a random waiter, which makes the tail
	// latency of a busy writer grow with the queue). Nil on PostgreSQL.
	writeTurn chan struct{}
	// queue feeds SQLite's group committer (nil on PostgreSQL, whose
	// concurrent commits share WAL flushes by themselves); closed stops
	// it, loopDone tells it has stopped.
	queue     chan *commitReq
	closed    chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	// checkpointer copies SQLite's WAL into the database file beside the
	// writer (see startCheckpointer); checkpointDone tells it has stopped.
	checkpointer   *sqlx.DB
	checkpointDone chan struct{}
	// updates counts the Update calls committed, commits the write
	// transactions committed (fewer, when Updates share commits).
	updates, commits atomic.Int64
	// statements counts the statements sent through transactions (see
	// Stats.Statements); trace, when set, sees each of them.
	statements, roundTrips atomic.Int64
	trace                  atomic.Pointer[func(query string)]
	// seq numbers the write transactions, for Tx.Seq.
	seq atomic.Uint64
}

// IsPostgresDSN reports whether dsn selects PostgreSQL (a postgres:// or
// postgresql:// URL); anything else is a SQLite file path.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn and applies the pending migrations.
// A postgres:// URL opens PostgreSQL; anything else is the path of a SQLite
// file, created if missing, in WAL mode with synchronous=FULL (a commit is
// on disk before it returns), foreign keys on, a busy timeout for other
// processes, and write transactions that take the write lock at BEGIN.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	db := &DB{now: opts.Now}
	if db.now == nil {
		db.now = time.Now
	}
	var err error
	if IsPostgresDSN(dsn) {
		err = db.openPostgres(ctx, dsn, opts)
	} else {
		if opts.MustExist {
			if _, serr := os.Stat(dsn); errors.Is(serr, fs.ErrNotExist) {
				return nil, &MissingError{Name: dsn}
			}
		}
		err = db.openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	if opts.MustExist {
		if err := db.requireSchema(ctx, dsn); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := Migrate(ctx, db, opts.Migrations); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// requireSchema answers a *MissingError when the database has no
// schema_migrations table: it exists, but paygate never made it.
func (db *DB) requireSchema(ctx context.Context, dsn string) error {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if db.dialect == Postgres {
		q = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	var n int
	if err := db.read.GetContext(ctx, &n, q); err != nil {
		return fmt.Errorf("storage: look for the schema: %w", err)
	}
	if n == 0 {
		name := dsn
		if db.dialect == Postgres {
			name = redact.DSN(dsn)
		}
		return &MissingError{Name: name}
	}
	return nil
}

func (db *DB) openSQLite(ctx context.Context, path string) error {
	if path == "" {
		return paygate.Errorf(paygate.EINVALID, "storage: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		return paygate.Errorf(paygate.EINVALID, "storage: SQLite path %q must not contain '?' or '#'", path)
	}
	db.dialect = SQLite
	if err := createPrivate(path); err != nil {
		return err
	}
	const pragmas = "_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=10000&_stmt_cache_size=64"
	u := "file:" + path + "?" + pragmas
	// Page caches are per connection: the writer keeps up to 64 MiB (the
	// pages every write touches stay hot), each reader 8 MiB, so that the
	// nine connections' caches stay under 128 MiB however large the file
	// grows; the operating system caches the file beside them.
	w, err := sqlx.Open("sqlite3", u+"&_cache_size=-65536&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writing connection is made first: it creates the file and turns
	// on WAL, which the read-only connections rely on.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	r, err := sqlx.Open("sqlite3", u+"&_cache_size=-8192&_txlock=deferred&_query_only=true")
	if err != nil {
		w.Close()
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.write, db.read = w, r
	db.writeTurn = make(chan struct{}, 1)
	db.queue, db.closed, db.loopDone = make(chan *commitReq), make(chan struct{}), make(chan struct{})
	if err := db.startCheckpointer(ctx, u+"&_cache_size=-2048"); err != nil {
		w.Close()
		r.Close()
		return err
	}
	go db.commitLoop()
	return nil
}

// createPrivate creates the SQLite file at path, empty and readable by its
// owner only (0600), unless it exists. SQLite gives the -wal and -shm files
// the database file's mode, so they are 0600 too: a database holds payment
// data and the checkout link secret, and no other user of the machine may
// read it. An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	return nil
}

func (db *DB) openPostgres(ctx context.Context, dsn string, opts Options) error {
	db.dialect = Postgres
	p, err := sqlx.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("storage: open postgres: %w", err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 16
	}
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
	p.SetConnMaxIdleTime(5 * time.Minute)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return paygate.Errorf(paygate.EUNAVAILABLE, "storage: connect to postgres at %s: %v", redact.DSN(dsn), err)
	}
	db.write, db.read = p, p
	return nil
}

// Params returns "?, ?, ?" for n parameters, for an IN list.
func Params(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// Rows returns "(?, ?), (?, ?)" for rows of width parameters each, for a
// multi-row VALUES list.
func Rows(rows, width int) string {
	return strings.TrimSuffix(strings.Repeat("("+Params(width)+"), ", rows), ", ")
}

// Dialect returns the backend.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes every connection.
func (db *DB) Close() error {
	if db.queue != nil {
		db.closeOnce.Do(func() { close(db.closed) })
		<-db.loopDone
		<-db.checkpointDone
		db.checkpointer.Close()
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	return nil
}

// Now returns the database clock's current time in UTC at microsecond
// precision (what both backends store).
func (db *DB) Now() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// Tx is one database transaction with its fixed time. It is not safe for
// concurrent use. Queries use "?" placeholders.
//
// A Tx holds a connection of its own and sends BEGIN, COMMIT and ROLLBACK
// on it itself, rather than using database/sql's transactions: those start
// a goroutine for every query (to roll back if the transaction's context
// ends), which nearly doubles a point query's CPU on SQLite (6.3 against
// 3.5 µs, measured), and they hide the connection from PostgreSQL's pgx
// batches.
type Tx struct {
	tx          *sqlx.Conn
	dialect     Dialect
	now         time.Time
	readOnly    bool
	afterCommit []func()
	staged      []staged // written by their Stagers at commit (Stage)
	late        []stmt   // sent with COMMIT (ExecAtCommit)
	flushing    bool     // the Stagers are writing: ExecAtCommit queues directly
	seq         uint64
	done        bool
	savepoints  int // taken by Savepoint, for their names
	// byUpdate marks a transaction that Update commits or rolls back: the
	// function it runs may not. shared marks one Update's part of a group
	// commit, whose statements ignore cancellation.
	byUpdate, shared bool
	release          func() // gives the writer's turn to the next one
	db               *DB    // counts the statements
}

// BeginTx starts a write transaction. On SQLite it holds the database's
// write lock from BEGIN (no upgrade deadlocks); on PostgreSQL it is READ
// COMMITTED, and writers serialize on the rows they update. The caller must
// Commit or Rollback it.
func (db *DB) BeginTx(ctx context.Context) (*Tx, error) {
	release := func() {}
	if db.writeTurn != nil {
		select {
		case db.writeTurn <- struct{}{}:
			release = func() { <-db.writeTurn }
		case <-ctx.Done():
			return nil, db.wrapErr("begin", ctx.Err())
		}
	}
	begin := "BEGIN"
	if db.dialect == SQLite {
		begin = "BEGIN IMMEDIATE"
	}
	c, err := db.begin(ctx, db.write, begin)
	if err != nil {
		release()
		return nil, err
	}
	return &Tx{tx: c, dialect: db.dialect, now: db.Now(), release: release, seq: db.seq.Add(1), db: db}, nil
}

// BeginRead starts a read-only transaction that sees one consistent
// snapshot of the database.
func (db *DB) BeginRead(ctx context.Context) (*Tx, error) {
	begin := "BEGIN"
	if db.dialect == Postgres {
		begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
	}
	c, err := db.begin(ctx, db.read, begin)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: c, dialect: db.dialect, now: db.Now(), readOnly: true, db: db}, nil
}

// begin takes a connection of pool and begins a transaction on it.
func (db *DB) begin(ctx context.Context, pool *sqlx.DB, begin string) (*sqlx.Conn, error) {
	c, err := pool.Connx(ctx)
	if err != nil {
		return nil, db.wrapErr("begin", err)
	}
	db.sent("BEGIN")
	if _, err := c.ExecContext(ctx, begin); err != nil {
		discard(c)
		return nil, db.wrapErr("begin", err)
	}
	return c, nil
}

// discard closes c and makes its pool drop the connection rather than
// reuse it: a connection whose transaction could not be ended cleanly
// (a failed BEGIN, ROLLBACK or COMMIT) may still be in one.
func discard(c *sqlx.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

// Update runs fn in a write transaction and commits it if fn returns nil;
// it returns once the commit is durable. A transaction that fails with a
// retryable error (IsRetryable: a lost race, a PostgreSQL serialization
// failure or deadlock) is run again from the start, up to 3 attempts in all,
// so fn must have no effects outside the transaction other than those
// registered with AfterCommit. fn must not commit or roll back tx itself.
//
// On SQLite, concurrent Update calls share commits (group commit, see
// groupUpdate): fn then runs inside a savepoint of a shared transaction, and
// its statements are not cancelled by ctx once it has started.
//
// Under the context of an Atomic call of db, Update joins that transaction
// instead (see Atomic).
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if j := db.joined(ctx); j != nil {
		return j.update(ctx, fn)
	}
	if db.queue != nil {
		return db.groupUpdate(ctx, fn)
	}
	return db.updateRetrying(ctx, fn)
}

// updateRetrying runs fn in a transaction of its own, retrying it as
// Update says.
func (db *DB) updateRetrying(ctx context.Context, fn func(tx *Tx) error) error {
	const attempts = 3
	for i := 1; ; i++ {
		err := db.update(ctx, fn)
		if err == nil || i == attempts || !IsRetryable(err) {
			return err
		}
	}
}

func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.rollback()
	tx.byUpdate = true
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.commit(); err != nil {
		return err
	}
	db.updates.Add(1)
	db.commits.Add(1)
	return nil
}

// Stats counts the work Update has committed.
type Stats struct {
	Updates int64 // Update calls whose work committed
	Commits int64 // the write transactions that held them
	// Statements counts the statements sent to the database in
	// transactions (read and write), BEGIN, COMMIT, ROLLBACK and savepoints
	// included.
	Statements int64
	// RoundTrips counts the times those statements were sent: each on its
	// own, but on PostgreSQL the writes a transaction queued for its commit
	// (Tx.ExecAtCommit) go with the COMMIT in one round trip to the server.
	RoundTrips int64
}

// Stats returns the counts since Open. On SQLite, Updates/Commits is the
// average group commit size.
func (db *DB) Stats() Stats {
	return Stats{Updates: db.updates.Load(), Commits: db.commits.Load(), Statements: db.statements.Load(), RoundTrips: db.roundTrips.Load()}
}

// Trace makes fn see the text of every statement counted in
// Stats.Statements, as it is sent ("?" placeholders); nil stops it. It is
// for tests that look at the statements a piece of work runs: fn is called
// from every goroutine that uses db, and must be safe for that.
func (db *DB) Trace(fn func(query string)) {
	if fn == nil {
		db.trace.Store(nil)
		return
	}
	db.trace.Store(&fn)
}

// sent counts a statement about to be sent.
func (db *DB) sent(q string) {
	db.roundTrips.Add(1)
	db.sentInBatch(q)
}

// sentInBatch counts a statement about to be sent in a round trip that
// its batch counts once.
func (db *DB) sentInBatch(q string) {
	db.statements.Add(1)
	if fn := db.trace.Load(); fn != nil {
		(*fn)(q)
	}
}

// View runs fn in a read-only snapshot transaction. Under the context of
// an Atomic call of db, fn reads in that transaction instead, and sees what
// it has written.
func (db *DB) View(ctx context.Context, fn func(tx *Tx) error) error {
	if j := db.joined(ctx); j != nil {
		return j.view(fn)
	}
	tx, err := db.BeginRead(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Now returns the transaction's fixed time (UTC, microseconds).
func (tx *Tx) Now() time.Time { return tx.now }

// Dialect returns the backend, for the rare query that must differ.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Seq returns the number of a write transaction among those its DB began:
// 1, 2, 3, … in the order of BeginTx (0 for a read transaction). Concurrent
// transactions of one DB have different numbers, and transactions begun one
// after another have consecutive ones, which makes Seq a cheap way to spread
// concurrent writers over rows (the ledger picks an account shard with it).
// Numbers are not unique across processes or across Open.
func (tx *Tx) Seq() uint64 { return tx.seq }

// ForUpdate returns " FOR UPDATE" on PostgreSQL and "" on SQLite (whose
// write transactions hold the database's write lock from BEGIN), to end a
// SELECT of rows the transaction is about to change.
func (tx *Tx) ForUpdate() string {
	if tx.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// AfterCommit registers fn to run once the transaction has committed; it
// never runs if the transaction rolls back. Use it for caches of committed
// state.
func (tx *Tx) AfterCommit(fn func()) { tx.afterCommit = append(tx.afterCommit, fn) }

// Commit commits the transaction and then runs the AfterCommit functions.
func (tx *Tx) Commit() error {
	if tx.byUpdate {
		return errors.New("storage: an Update's transaction is committed by Update")
	}
	return tx.commit()
}

func (tx *Tx) commit() error {
	if tx.done {
		return errors.New("storage: transaction already finished")
	}
	// The staged writes belong to the transaction: written before COMMIT,
	// under no caller's cancellation (a write cut short would roll it back).
	if err := tx.flush(context.Background()); err != nil {
		return err
	}
	tx.done = true
	err := tx.sendCommit(context.Background())
	if err != nil {
		// SQLite keeps the transaction open after a failed COMMIT (a busy
		// reader); PostgreSQL has ended it. Either way it is over now.
		// (PostgreSQL answers this ROLLBACK with a warning, not an error.)
		if _, rerr := tx.tx.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			discard(tx.tx)
		} else {
			_ = tx.tx.Close()
		}
		tx.finish()
		return tx.wrapErr("commit", err)
	}
	_ = tx.tx.Close()
	tx.finish()
	for _, fn := range tx.afterCommit {
		fn()
	}
	return nil
}

// Rollback aborts the transaction. It is a no-op after Commit or Rollback,
// so it can be deferred.
func (tx *Tx) Rollback() error {
	if tx.byUpdate {
		return errors.New("storage: an Update's transaction is rolled back by Update when its function fails")
	}
	return tx.rollback()
}

func (tx *Tx) rollback() error {
	if tx.done {
		return nil
	}
	tx.done = true
	tx.db.sent("ROLLBACK")
	_, err := tx.tx.ExecContext(context.Background(), "ROLLBACK")
	if err != nil {
		discard(tx.tx)
	} else {
		err = tx.tx.Close()
	}
	tx.finish()
	return err
}

// finish gives up the writer's turn, once.
func (tx *Tx) finish() {
	if tx.release != nil {
		tx.release()
		tx.release = nil
	}
}

// stmtCtx is the context a statement runs under: ctx, without its
// cancellation in SQLite's write transactions. Their statements take
// microseconds in process while holding the one writer, and SQLite may
// roll back a whole transaction (a shared group commit's too) when one is
// interrupted; and a query under a context that can end costs a goroutine
// to watch it. A PostgreSQL statement may wait for a row lock, which the
// caller's deadline must be able to end; reads may be long reports.
func (tx *Tx) stmtCtx(ctx context.Context) context.Context {
	if tx.shared || (tx.dialect == SQLite && !tx.readOnly) {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// rebind counts the statement and returns it in the backend's placeholders.
func (tx *Tx) rebind(q string) string {
	tx.db.sent(q)
	if tx.dialect == Postgres {
		return sqlx.Rebind(sqlx.DOLLAR, q)
	}
	return q
}

// Exec runs a statement.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := tx.tx.ExecContext(tx.stmtCtx(ctx), tx.rebind(q), args...)
	if err != nil {
		return nil, tx.wrapErr("exec", err)
	}
	return res, nil
}

// Get scans the single row of a query into dest (sql.ErrNoRows if none).
func (tx *Tx) Get(ctx context.Context, dest any, q string, args ...any) error {
	if err := tx.tx.GetContext(tx.stmtCtx(ctx), dest, tx.rebind(q), args...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.wrapErr("query", err)
	}
	return nil
}

// Select scans every row of a query into the slice dest.
func (tx *Tx) Select(ctx context.Context, dest any, q string, args ...any) error {
	if err := tx.tx.SelectContext(tx.stmtCtx(ctx), dest, tx.rebind(q), args...); err != nil {
		return tx.wrapErr("query", err)
	}
	return nil
}

// QueryRow runs a query that returns at most one row; its errors, including
// sql.ErrNoRows, come from Scan.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.stmtCtx(ctx), tx.rebind(q), args...)
}

// Query runs a query for rows to iterate; the caller closes them.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	rows, err := tx.tx.QueryxContext(tx.stmtCtx(ctx), tx.rebind(q), args...)
	if err != nil {
		return nil, tx.wrapErr("query", err)
	}
	return rows, nil
}

func (db *DB) wrapErr(op string, err error) error { return wrap(db.dialect, op, err) }
func (tx *Tx) wrapErr(op string, err error) error { return wrap(tx.dialect, op, err) }

// wrap classifies driver errors: lock contention and lost connections are
// EUNAVAILABLE (retry later); everything else stays internal.
func wrap(d Dialect, op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "database busy", Err: fmt.Errorf("storage: %s: %w", op, err)}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	return fmt.Errorf("storage: %s (%s): %w", op, d, err)
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsCheckViolation reports whether err is a CHECK-constraint violation.
func IsCheckViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintCheck
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514"
}

// Retryable marks err as one after which the whole database transaction may
// succeed if run again from the start (a race that another transaction won).
func Retryable(err error) error { return &retryableError{err} }

type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// IsRetryable reports whether running the whole transaction again may
// succeed: an error marked by Retryable, or a PostgreSQL serialization
// failure or deadlock.
func IsRetryable(err error) bool {
	var re *retryableError
	if errors.As(err, &re) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
