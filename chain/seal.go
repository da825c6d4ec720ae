package chain

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/storage"
)

// hasherLock is the PostgreSQL advisory lock that makes one hasher run at
// a time across every instance.
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
}

// Hasher seals the committed journal rows into blocks. It is safe for
// concurrent use, and any number of hashers may run on one database (in one
// process or many): one seals at a time, the others find nothing to do.
type Hasher struct {
	DB *storage.DB
	// Batch is the most rows a block seals (DefaultBatch if zero).
	Batch  int
	Logger zerolog.Logger
}

// journal is one table of the journal: its key column and the column that
// orders its unsealed rows in the order they were written.
type journal struct {
	table, key, order string
}

// journals are the journal's tables, in the order one block numbers their
// rows.
func journals(d storage.Dialect) []journal {
	events := journal{"events", "id", "written"}
	if d == storage.SQLite {
		// SQLite gives events their position at insert, in commit order.
		events.order = "position"
	}
	return []journal{{"ledger_transactions", "id", "id"}, {"audit_log", "id", "id"}, events}
}

// Seal gives the committed rows that have no position one, numbering on
// from the last block, and seals them into the next block, all in one
// database transaction; it reports the block and whether it sealed one
// (false: nothing to seal, or another hasher is sealing). Writers are not
// blocked on PostgreSQL (the hasher updates only committed rows that no
// writer touches again); on SQLite the block is one short write transaction
// like any other.
func (h *Hasher) Seal(ctx context.Context) (Block, bool, error) {
	batch := h.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	var b Block
	var sealed bool
	err := h.DB.Update(ctx, func(tx *storage.Tx) error {
		sealed = false
		if tx.Dialect() == storage.Postgres {
			var pending bool
			if err := tx.Get(ctx, &pending, `SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE chain_position IS NULL)
				OR EXISTS (SELECT 1 FROM audit_log WHERE chain_position IS NULL)
				OR EXISTS (SELECT 1 FROM events WHERE chain_position IS NULL)`); err != nil || !pending {
				return err
			}
			var locked bool
			if err := tx.Get(ctx, &locked, `SELECT pg_try_advisory_xact_lock(?)`, hasherLock); err != nil || !locked {
				return err
			}
		}
		prev, err := last(ctx, tx)
		if err != nil {
			return err
		}
		base := prev.LastPosition
		var n int64
		for _, j := range journals(tx.Dialect()) {
			if n >= int64(batch) {
				break
			}
			// A statement sees only committed rows: a row that commits
			// after it waits for the next block.
			res, err := tx.Exec(ctx, `UPDATE `+j.table+` SET chain_position = ? + next.n
				FROM (SELECT `+j.key+` AS k, ROW_NUMBER() OVER (ORDER BY `+j.order+`) AS n
					FROM `+j.table+` WHERE chain_position IS NULL ORDER BY `+j.order+` LIMIT ?) next
				WHERE `+j.table+`.`+j.key+` = next.k`, base+n, int64(batch)-n)
			if err != nil {
				return fmt.Errorf("position %s: %w", j.table, err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		if n == 0 {
			return nil
		}
		rows, err := readRows(ctx, tx, base+1, base+n)
		if err != nil {
			return err
		}
		if int64(len(rows)) != n {
			return fmt.Errorf("positioned %d rows, read back %d", n, len(rows))
		}
		hash, err := BlockHash(prev.Hash, rows)
		if err != nil {
			return err
		}
		b = Block{Number: prev.Number + 1, FirstPosition: base + 1, LastPosition: base + n, Rows: n, Hash: hash, SealedAt: tx.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO chain_blocks (number, first_position, last_position, row_count, hash, sealed_at)
			VALUES (?, ?, ?, ?, ?, ?)`, b.Number, b.FirstPosition, b.LastPosition, b.Rows, b.Hash, b.SealedAt); err != nil {
			return fmt.Errorf("insert block %d: %w", b.Number, err)
		}
		if err := storeEvents(ctx, tx, b.Number, rows); err != nil {
			return err
		}
		sealed = true
		return nil
	})
	if err != nil {
		return Block{}, false, fmt.Errorf("chain: seal: %w", err)
	}
	return b, sealed, nil
}

// storeEvents keeps the digests of a block's events in chain_rows.
func storeEvents(ctx context.Context, tx *storage.Tx, block int64, rows []Row) error {
	var evs []Row
	for _, r := range rows {
		if r.Kind == Event {
			evs = append(evs, r)
		}
	}
	const per = 500
	for lo := 0; lo < len(evs); lo += per {
		hi := min(lo+per, len(evs))
		args := make([]any, 0, 6*(hi-lo))
		for _, r := range evs[lo:hi] {
			args = append(args, r.Position, block, string(r.Kind), r.ID, r.At, r.Digest)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO chain_rows (position, block, kind, row_id, at, digest) VALUES `+
			storage.Rows(hi-lo, 6), args...); err != nil {
			return fmt.Errorf("store event digests of block %d: %w", block, err)
		}
	}
	return nil
}

// last returns the last block (a zero Block before the first).
func last(ctx context.Context, tx *storage.Tx) (Block, error) {
	var b Block
	err := tx.Get(ctx, &b, `SELECT number, first_position, last_position, row_count, hash, sealed_at
		FROM chain_blocks ORDER BY number DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, nil
	}
	if err != nil {
		return Block{}, fmt.Errorf("last block: %w", err)
	}
	b.SealedAt = b.SealedAt.UTC()
	return b, nil
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

// Run seals every interval until ctx is done, logging failures (the next
// pass retries).
func (h *Hasher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := h.SealAll(ctx); err != nil && ctx.Err() == nil {
			h.Logger.Error().Err(err).Msg("chain: seal")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
