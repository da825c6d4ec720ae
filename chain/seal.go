package chain

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

// hasherLock is the PostgreSQL advisory lock (with the schema's hash) that
// makes one hasher run at a time across every instance on one schema.
const hasherLock = 0x70676368 // "pgch"

// DefaultBatch is the most rows one block seals.
const DefaultBatch = 5000

// DefaultInterval is how often paygate serve's hasher looks for rows to seal.
const DefaultInterval = 500 * time.Millisecond

// Block is one sealed block.
type Block struct {
	Number        int64     `db:"number" json:"number"`
	FirstPosition int64     `db:"first_position" json:"first_position"`
	LastPosition  int64     `db:"last_position" json:"last_position"`
	Rows          int64     `db:"row_count" json:"rows"`
	Hash          string    `db:"hash" json:"hash"`
	SealedAt      time.Time `db:"sealed_at" json:"sealed_at"`
	// Legacy is a block sealed before cursors: its rows carry their
	// positions in chain_position.
	Legacy bool `db:"legacy" json:"-"`
	// Cursor is how far the block sealed each table (zero for a legacy
	// block).
	Cursor `json:"-"`
}

// Cursor is how far a block sealed each journal table: the last ledger
// transaction and audit entry by (chain_xid, id) (the xids are 0 on
// SQLite), and the last event by position. A block seals the rows after
// the cursor of the block before it, up to and including its own.
type Cursor struct {
	LedgerXID int64 `db:"ledger_xid"`
	LedgerID  int64 `db:"ledger_id"`
	AuditXID  int64 `db:"audit_xid"`
	AuditID   int64 `db:"audit_id"`
	Events    int64 `db:"events_position"`
}

// blockColumns selects a Block.
const blockColumns = `number, first_position, last_position, row_count, hash, sealed_at,
	CASE WHEN ledger_id IS NULL THEN 1 ELSE 0 END AS legacy,
	COALESCE(ledger_xid, 0) AS ledger_xid, COALESCE(ledger_id, 0) AS ledger_id,
	COALESCE(audit_xid, 0) AS audit_xid, COALESCE(audit_id, 0) AS audit_id,
	COALESCE(events_position, 0) AS events_position`

// Hasher seals the committed journal rows into blocks. It is safe for
// concurrent use, and any number of hashers may run on one database (in one
// process or many): one seals at a time, the others find nothing to do.
type Hasher struct {
	DB *storage.DB
	// Batch is the most rows a block seals (DefaultBatch if zero).
	Batch  int
	Logger zerolog.Logger
}

// batch is the most rows a block seals.
func (h *Hasher) batch() int64 {
	if h.Batch <= 0 {
		return DefaultBatch
	}
	return int64(h.Batch)
}

// Seal seals the committed rows after the last block's cursors into the
// next block, writing only the block; it reports
// the block and whether it sealed one (false: nothing to seal, or another
// hasher is sealing or sealed it first). Writers never wait for the
// reading and hashing: on PostgreSQL they do not wait for a reader, and on
// SQLite those run in a read transaction before a short write
// transaction that stores the block.
func (h *Hasher) Seal(ctx context.Context) (Block, bool, error) {
	batch := h.batch()
	if h.DB.Dialect() == storage.Postgres {
		// Events are sealed in their commit order, which the events
		// sequencer gives them on PostgreSQL.
		if _, err := (&events.Store{DB: h.DB}).Sequence(ctx); err != nil {
			return Block{}, false, fmt.Errorf("chain: seal: %w", err)
		}
	}
	var b Block
	var sealed bool
	var err error
	if h.DB.Dialect() == storage.Postgres {
		// Writers do not wait for a PostgreSQL transaction that reads:
		// one transaction, under the lock that keeps other hashers out.
		err = h.DB.Update(ctx, func(tx *storage.Tx) error {
			sealed = false
			var locked bool
			if err := tx.Get(ctx, &locked, `SELECT pg_try_advisory_xact_lock(?::int, hashtext(current_schema()))`, hasherLock); err != nil || !locked {
				return err
			}
			prev, next, rows, err := nextBlock(ctx, tx, batch)
			if err != nil || rows == nil {
				return err
			}
			b, err = insertBlock(ctx, tx, prev, next, rows)
			sealed = err == nil
			return err
		})
	} else {
		// SQLite's one writer would wait for the reading and hashing: they
		// run in a read transaction (the rows up to the cursors are final
		// there: a later write takes larger ids), and the write transaction
		// only stores the block, if no other hasher stored one meanwhile.
		var prev Block
		var next Cursor
		var rows []Row
		err = h.DB.View(ctx, func(tx *storage.Tx) (err error) {
			prev, next, rows, err = nextBlock(ctx, tx, batch)
			return err
		})
		if err == nil && rows != nil {
			err = h.DB.Update(ctx, func(tx *storage.Tx) error {
				sealed = false
				cur, err := last(ctx, tx)
				if err != nil || cur.Number != prev.Number {
					return err
				}
				b, err = insertBlock(ctx, tx, prev, next, rows)
				sealed = err == nil
				return err
			})
		}
	}
	if err != nil {
		return Block{}, false, fmt.Errorf("chain: seal: %w", err)
	}
	return b, sealed, nil
}

// nextBlock reads the rows of the block after the last one: the last block,
// the next cursor and the rows (nil when there is nothing to seal).
func nextBlock(ctx context.Context, tx *storage.Tx, batch int64) (Block, Cursor, []Row, error) {
	prev, err := last(ctx, tx)
	if err != nil {
		return Block{}, Cursor{}, nil, err
	}
	next, rows, err := readNext(ctx, tx, prev, batch)
	if err != nil || len(rows) == 0 {
		return Block{}, Cursor{}, nil, err
	}
	return prev, next, rows, nil
}

// insertBlock stores the block of rows after prev, up to cursor next: one
// row (the events' digests are kept only when the janitor prunes them, see
// EventPruning).
func insertBlock(ctx context.Context, tx *storage.Tx, prev Block, next Cursor, rows []Row) (Block, error) {
	hash, err := BlockHash(prev.Hash, rows)
	if err != nil {
		return Block{}, err
	}
	n := int64(len(rows))
	b := Block{Number: prev.Number + 1, FirstPosition: prev.LastPosition + 1, LastPosition: prev.LastPosition + n, Rows: n,
		Hash: hash, SealedAt: tx.Now(), Cursor: next}
	c := b.Cursor
	if _, err := tx.Exec(ctx, `INSERT INTO chain_blocks (number, first_position, last_position, row_count, hash, sealed_at,
		ledger_xid, ledger_id, audit_xid, audit_id, events_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.Number, b.FirstPosition, b.LastPosition, b.Rows, b.Hash, b.SealedAt,
		c.LedgerXID, c.LedgerID, c.AuditXID, c.AuditID, c.Events); err != nil {
		return Block{}, fmt.Errorf("insert block %d: %w", b.Number, err)
	}
	return b, nil
}

// readNext reads and encodes the next block's rows after block prev: at
// most batch committed rows after its cursors, ledger transactions first,
// then audit entries, then events, each table in one statement that also
// finds how far the block goes; it returns the block's cursor and rows. On
// PostgreSQL only rows whose writing transaction is below the statement's
// snapshot's xmin are taken: every transaction that could still add a row
// before them has ended.
func readNext(ctx context.Context, tx *storage.Tx, prev Block, batch int64) (Cursor, []Row, error) {
	to := prev.Cursor
	base := prev.LastPosition
	txs, err := nextRows[ledgerTx](ctx, tx, "ledger_transactions", `t.id, t.created_at, t.idempotency_key, t.description`,
		&to.LedgerXID, &to.LedgerID, batch)
	if err != nil {
		return Cursor{}, nil, fmt.Errorf("next ledger transactions: %w", err)
	}
	rows, err := transactionRows(ctx, tx, txs, prev.Cursor, to, base)
	if err != nil {
		return Cursor{}, nil, err
	}
	audits, err := nextRows[audit](ctx, tx, "audit_log", `t.id, t.at, t.actor, t.key_id, t.key_name, t.action, t.subject, t.before, t.after, t.reason`,
		&to.AuditXID, &to.AuditID, batch-int64(len(rows)))
	if err != nil {
		return Cursor{}, nil, fmt.Errorf("next audit entries: %w", err)
	}
	for _, a := range audits {
		rows = append(rows, a.row(base+int64(len(rows))+1))
	}
	evs, err := nextEvents(ctx, tx, &to.Events, batch-int64(len(rows)))
	if err != nil {
		return Cursor{}, nil, err
	}
	for _, e := range evs {
		rows = append(rows, e.row(base+int64(len(rows))+1))
	}
	return to, rows, nil
}

// nextRows reads up to limit ledger transactions or audit entries (table,
// alias t, its columns cols scanned into T) sealed by cursor after the one
// at (xid, id), in the chain's order, and moves (xid, id) to the last.
func nextRows[T keyed](ctx context.Context, tx *storage.Tx, table, cols string, xid, id *int64, limit int64) ([]T, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT 0 AS chain_xid, ` + cols + ` FROM ` + table + ` t WHERE t.chain_position IS NULL AND t.id > ? ORDER BY t.id LIMIT ?`
	args := []any{*id, limit}
	if tx.Dialect() == storage.Postgres {
		q = `SELECT t.chain_xid, ` + cols + ` FROM ` + table + ` t WHERE t.chain_position IS NULL AND (t.chain_xid, t.id) > (?, ?)
			AND t.chain_xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY t.chain_xid, t.id LIMIT ?`
		args = []any{*xid, *id, limit}
	}
	var got []T
	if err := tx.Select(ctx, &got, q, args...); err != nil {
		return nil, err
	}
	if len(got) > 0 {
		*xid, *id = got[len(got)-1].key()
	}
	return got, nil
}

// nextEvents reads up to limit events sealed by cursor after position
// *after, in position order, and moves *after to the last.
func nextEvents(ctx context.Context, tx *storage.Tx, after *int64, limit int64) ([]event, error) {
	if limit <= 0 {
		return nil, nil
	}
	evs, err := queryEvents(ctx, tx, `SELECT id, position, created_at, type, resource, sequence, audience, data FROM events
		WHERE chain_position IS NULL AND position > ? ORDER BY position LIMIT ?`, *after, limit)
	if len(evs) > 0 {
		*after = evs[len(evs)-1].Position
	}
	return evs, err
}

// last returns the last block (a zero Block before the first).
func last(ctx context.Context, tx *storage.Tx) (Block, error) {
	var bs []Block
	if err := tx.Select(ctx, &bs, `SELECT `+blockColumns+` FROM chain_blocks ORDER BY number DESC LIMIT 1`); err != nil {
		return Block{}, fmt.Errorf("last block: %w", err)
	}
	if len(bs) == 0 {
		return Block{}, nil
	}
	bs[0].SealedAt = bs[0].SealedAt.UTC()
	return bs[0], nil
}

// SealAll seals blocks until no committed row is left unsealed (or another
// hasher holds the lock), and returns how many it sealed.
func (h *Hasher) SealAll(ctx context.Context) (int, error) {
	n := 0
	for {
		_, sealed, err := h.Seal(ctx)
		if err != nil || !sealed {
			return n, err
		}
		n++
	}
}

// sealDue seals the rows committed before it starts: blocks while they come
// out full (more rows wait), and returns at the first block that is not.
// Unlike SealAll it does not chase the rows that commit while it seals:
// under a steady load there always are some, and sealing them at once
// would seal a small block after another without pause, each with its
// transactions and commits, which the writers' commits queue behind. They
// wait for the next interval, which bounds the sealing lag.
func (h *Hasher) sealDue(ctx context.Context) error {
	batch := h.batch()
	for {
		b, sealed, err := h.Seal(ctx)
		if err != nil || !sealed || b.Rows < batch {
			return err
		}
	}
}

// Run seals every interval until ctx is done, logging failures (the next
// pass retries).
func (h *Hasher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := h.sealDue(ctx); err != nil && ctx.Err() == nil {
			h.Logger.Error().Err(err).Msg("chain: seal")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
