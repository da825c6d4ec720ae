package chain

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paygate/paygate/storage"
)

// EventPruning is the chain's part in the janitor's pruning of events
// (events.Store.Chain). A block's hash covers its events' digests, and the
// hasher writes nothing but the block: before the janitor deletes sealed
// events, Keep stores their digests in chain_rows, each at the position its
// block gave it, where verify finds them standing in for the events.
type EventPruning struct{}

// Sealed returns the position up to which the chain has sealed the events
// by cursor: the janitor may prune those.
func (EventPruning) Sealed(ctx context.Context, tx *storage.Tx) (int64, error) {
	b, err := last(ctx, tx)
	return b.Events, err
}

// Keep stores in chain_rows the digests of the events at positions (the
// events' own positions, of events sealed by cursor), which the janitor
// prunes in tx. A digest already kept stays as it is.
func (EventPruning) Keep(ctx context.Context, tx *storage.Tx, positions []int64) error {
	if len(positions) == 0 {
		return nil
	}
	want := make(map[int64]bool, len(positions))
	lo, hi := positions[0], positions[0]
	for _, p := range positions {
		want[p] = true
		lo, hi = min(lo, p), max(hi, p)
	}
	blocks, err := eventBlocks(ctx, tx, lo, hi)
	if err != nil {
		return fmt.Errorf("chain: keep pruned events' digests: %w", err)
	}
	for i := 1; i < len(blocks); i++ {
		prev, b := blocks[i-1], blocks[i]
		if b.Legacy || b.Events == prev.Events {
			continue
		}
		if err := keepBlock(ctx, tx, prev.Cursor, b, want); err != nil {
			return fmt.Errorf("chain: keep the digests of block %d's pruned events: %w", b.Number, err)
		}
	}
	return nil
}

// eventBlocks returns the blocks that sealed the events positioned lo to
// hi, after the block before the first of them (a zero Block before block
// 1), in number order.
func eventBlocks(ctx context.Context, tx *storage.Tx, lo, hi int64) ([]Block, error) {
	var first, last sql.NullInt64
	q := `SELECT MIN(number) FROM chain_blocks WHERE events_position >= ?`
	if err := tx.Get(ctx, &first, q, lo); err != nil {
		return nil, err
	}
	if err := tx.Get(ctx, &last, q, hi); err != nil {
		return nil, err
	}
	if !first.Valid || !last.Valid {
		return nil, fmt.Errorf("events positioned %d to %d are not all sealed", lo, hi)
	}
	var blocks []Block
	if err := tx.Select(ctx, &blocks, `SELECT `+blockColumns+` FROM chain_blocks WHERE number >= ? AND number <= ?
		ORDER BY number`, first.Int64-1, last.Int64); err != nil {
		return nil, err
	}
	if len(blocks) > 0 && blocks[0].Number == first.Int64 {
		blocks = append([]Block{{}}, blocks...)
	}
	return blocks, nil
}

// keepBlock stores the digests of block b's events whose positions want
// holds, placed as verify places them (placeEvents); from is the cursor of
// the block before.
func keepBlock(ctx context.Context, tx *storage.Tx, from Cursor, b Block, want map[int64]bool) error {
	n, err := countRange(ctx, tx, from, b.Cursor)
	if err != nil {
		return err
	}
	evs, err := rangeEvents(ctx, tx, from, b.Cursor)
	if err != nil {
		return err
	}
	first := b.FirstPosition + n
	stored, err := storedEvents(ctx, tx, first, b.LastPosition)
	if err != nil {
		return err
	}
	placed, _ := placeEvents(evs, stored, first, b.LastPosition, time.Time{})
	at := make(map[string]Row, len(placed))
	for _, r := range placed {
		if r.Position >= first {
			at[r.ID] = r
		}
	}
	var keep []Row
	for _, e := range evs {
		if r, ok := at[e.ID]; ok && want[e.Position] {
			keep = append(keep, r)
		}
	}
	return storeDigests(ctx, tx, b.Number, keep)
}

// countRange counts the ledger transactions and audit entries between two
// cursors.
func countRange(ctx context.Context, tx *storage.Tx, from, to Cursor) (int64, error) {
	var total int64
	for _, t := range []struct {
		table            string
		fx, fi, tox, toi int64
	}{
		{"ledger_transactions", from.LedgerXID, from.LedgerID, to.LedgerXID, to.LedgerID},
		{"audit_log", from.AuditXID, from.AuditID, to.AuditXID, to.AuditID},
	} {
		if t.fx == t.tox && t.fi == t.toi {
			continue
		}
		cond, args := keyRange(tx.Dialect(), "t", t.fx, t.fi, t.tox, t.toi)
		var n int64
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM `+t.table+` t WHERE `+cond, args...); err != nil {
			return 0, fmt.Errorf("count %s: %w", t.table, err)
		}
		total += n
	}
	return total, nil
}

// storeDigests keeps the digests of events of block in chain_rows (a
// position already kept stays as it is).
func storeDigests(ctx context.Context, tx *storage.Tx, block int64, rows []Row) error {
	const per = 500
	for lo := 0; lo < len(rows); lo += per {
		hi := min(lo+per, len(rows))
		args := make([]any, 0, 6*(hi-lo))
		for _, r := range rows[lo:hi] {
			args = append(args, r.Position, block, string(r.Kind), r.ID, r.At, r.Digest)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO chain_rows (position, block, kind, row_id, at, digest) VALUES `+
			storage.Rows(hi-lo, 6)+` ON CONFLICT (position) DO NOTHING`, args...); err != nil {
			return fmt.Errorf("store event digests: %w", err)
		}
	}
	return nil
}
