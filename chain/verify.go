package chain

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
)

// MinEventRetention is the shortest time events are kept before the janitor
// may prune them (PAYGATE_EVENT_RETENTION is at least a day): a sealed event
// missing from the events table is taken as pruned only if it is older.
const MinEventRetention = 24 * time.Hour

// maxProblems bounds the problems Check lists.
const maxProblems = 100

// Check is `paygate ledger verify`'s check of the chain: it recomputes every
// block from the journal rows and names, first, the first block whose rows
// no longer hash to its hash.
func Check() ledger.Check {
	return ledger.Check{Name: "the journal's hash chain matches its rows", Run: func(ctx context.Context, tx *storage.Tx) ([]string, error) {
		problems, _, err := walk(ctx, tx, "")
		return problems, err
	}}
}

// AnchorCheck is Check that also proves an anchor: the block whose hash is
// anchor must exist, and every block up to it and after it must verify, so
// the history the anchor sealed is unchanged and has only grown since.
func AnchorCheck(anchor string) ledger.Check {
	return ledger.Check{Name: "the journal's hash chain matches its rows and holds anchor " + clip(anchor), Run: func(ctx context.Context, tx *storage.Tx) ([]string, error) {
		problems, found, err := walk(ctx, tx, anchor)
		if err == nil && !found {
			problems = append([]string{fmt.Sprintf("anchor %s: no block has this hash (the chain was rewritten, or the anchor is of another database)", clip(anchor))}, problems...)
		}
		return problems, err
	}}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// walk verifies every block in number order; found reports whether a
// block has the hash anchor. A block is recomputed from the stored hash of
// the block before it, so a change shows at the block whose rows changed
// (and a rewritten chain, whose hashes were all recomputed, is caught by an
// anchor taken before).
func walk(ctx context.Context, tx *storage.Tx, anchor string) (problems []string, found bool, err error) {
	add := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	prev := Block{}
	next := int64(1)
	for {
		var blocks []Block
		if err := tx.Select(ctx, &blocks, `SELECT `+blockColumns+`
			FROM chain_blocks WHERE number >= ? ORDER BY number LIMIT 500`, next); err != nil {
			return nil, false, fmt.Errorf("chain: read blocks: %w", err)
		}
		if len(blocks) == 0 {
			break
		}
		for _, b := range blocks {
			next = b.Number + 1
			if b.Hash == anchor {
				found = true
			}
			if b.Number != prev.Number+1 || b.FirstPosition != prev.LastPosition+1 || b.Rows != b.LastPosition-b.FirstPosition+1 {
				add("block %d: follows block %d (positions to %d) but covers positions %d to %d with %d rows: blocks must be numbered on and cover every position once",
					b.Number, prev.Number, prev.LastPosition, b.FirstPosition, b.LastPosition, b.Rows)
			}
			b.SealedAt = b.SealedAt.UTC()
			verify := verifyBlock
			if !b.Legacy {
				verify = verifyCursors(prev.Cursor)
			}
			msg, err := verify(ctx, tx, prev.Hash, b)
			if err != nil {
				return nil, false, err
			}
			if msg != "" {
				add("%s", msg)
			}
			prev = b
		}
	}
	// No row may claim a position no block covers.
	var stray []struct {
		Table    string `db:"t"`
		Position int64  `db:"chain_position"`
	}
	if err := tx.Select(ctx, &stray, `SELECT 'ledger transaction' AS t, chain_position FROM ledger_transactions WHERE chain_position < 1 OR chain_position > ?
		UNION ALL SELECT 'audit entry', chain_position FROM audit_log WHERE chain_position < 1 OR chain_position > ?
		UNION ALL SELECT 'event', chain_position FROM events WHERE chain_position < 1 OR chain_position > ?
		ORDER BY 2 LIMIT 10`, prev.LastPosition, prev.LastPosition, prev.LastPosition); err != nil {
		return nil, false, fmt.Errorf("chain: stray positions: %w", err)
	}
	for _, s := range stray {
		add("a %s claims position %d, which no block seals (the last block ends at %d)", s.Table, s.Position, prev.LastPosition)
	}
	return problems, found, nil
}

// verifyBlock recomputes block b from its rows; it returns "" if they hash
// to b's hash, or what is wrong.
func verifyBlock(ctx context.Context, tx *storage.Tx, prevHash string, b Block) (string, error) {
	rows, err := readRows(ctx, tx, b.FirstPosition, b.LastPosition)
	if err != nil {
		return "", err
	}
	stored, err := storedEvents(ctx, tx, b.FirstPosition, b.LastPosition)
	if err != nil {
		return "", err
	}
	// Events the janitor pruned: their stored digests stand in for them.
	var detail string
	if len(stored) > 0 {
		have := map[int64]Row{}
		for _, r := range rows {
			if r.Kind == Event {
				have[r.Position] = r
			}
		}
		pruneBefore := tx.Now().Add(-MinEventRetention)
		for _, s := range stored {
			r, ok := have[s.Position]
			switch {
			case ok && (r.ID != s.ID || r.Digest != s.Digest) && detail == "":
				detail = fmt.Sprintf("event %s at position %d no longer matches its digest", s.ID, s.Position)
			case !ok && s.At.Before(pruneBefore):
				rows = append(rows, s)
			case !ok && detail == "":
				detail = fmt.Sprintf("event %s at position %d is missing, and is too recent to have been pruned", s.ID, s.Position)
			}
		}
		sortRows(rows)
	}
	return mismatch(prevHash, rows, b, detail), nil
}

// mismatch recomputes block b's hash over rows, chained to prevHash, and
// returns "" when it is b's, or else what no longer matches: detail if a
// row was already found changed, or describe's account of the rows.
func mismatch(prevHash string, rows []Row, b Block, detail string) string {
	hash, err := BlockHash(prevHash, rows)
	if err != nil {
		return fmt.Sprintf("block %d: %v", b.Number-1, err)
	}
	if hash == b.Hash {
		return ""
	}
	if detail == "" {
		detail = describe(rows, b)
	}
	return fmt.Sprintf("block %d (positions %d to %d, sealed %s): its rows no longer match its hash: %s",
		b.Number, b.FirstPosition, b.LastPosition, formatTime(b.SealedAt), detail)
}

// verifyCursors returns the check of a block sealed by cursors after a
// block whose cursor is from: it recomputes b from the rows between the two
// cursors, and from the digests chain_rows kept of the events the janitor
// pruned. It returns "" if they hash to b's hash, or what is wrong.
func verifyCursors(from Cursor) func(ctx context.Context, tx *storage.Tx, prevHash string, b Block) (string, error) {
	return func(ctx context.Context, tx *storage.Tx, prevHash string, b Block) (string, error) {
		rows, evs, err := readRange(ctx, tx, from, b.Cursor, b.FirstPosition-1)
		if err != nil {
			return "", err
		}
		first := b.FirstPosition + int64(len(rows))
		stored, err := storedEvents(ctx, tx, first, b.LastPosition)
		if err != nil {
			return "", err
		}
		placed, detail := placeEvents(evs, stored, first, b.LastPosition, tx.Now().Add(-MinEventRetention))
		return mismatch(prevHash, append(rows, placed...), b, detail), nil
	}
}

// placeEvents gives a block's events their positions, first to last (the
// block's last): an event whose digest chain_rows kept (stored, by
// position: one the janitor pruned, or any event of a block sealed before
// the digests were kept only on pruning) takes that position, and the other
// events take the free positions in order. A kept digest stands in for its
// event once the event is gone, if it is older than pruneBefore. It returns
// the rows in position order (an event with no position left at -1) and
// what is wrong, if anything is ("" if nothing). The janitor places events
// so before pruning them, and verify after: a block's events hash the same
// before and after pruning.
func placeEvents(evs []event, stored []Row, first, last int64, pruneBefore time.Time) ([]Row, string) {
	var detail string
	problem := func(format string, args ...any) {
		if detail == "" {
			detail = fmt.Sprintf(format, args...)
		}
	}
	kept := make(map[int64]Row, len(stored))
	keptIDs := make(map[string]bool, len(stored))
	for _, s := range stored {
		kept[s.Position], keptIDs[s.ID] = s, true
	}
	live := make(map[string]event, len(evs))
	var free []event // the events with no kept digest, in order
	for _, e := range evs {
		live[e.ID] = e
		if !keptIDs[e.ID] {
			free = append(free, e)
		}
	}
	rows := make([]Row, 0, max(0, last-first+1))
	for p := first; p <= last; p++ {
		s, ok := kept[p]
		switch {
		case ok:
			if e, ok := live[s.ID]; ok {
				r := e.row(p)
				if r.Digest != s.Digest {
					problem("event %s at position %d no longer matches its digest", s.ID, p)
				}
				rows = append(rows, r)
			} else if s.At.Before(pruneBefore) {
				rows = append(rows, s)
			} else {
				problem("event %s at position %d is missing, and is too recent to have been pruned", s.ID, p)
			}
		case len(free) > 0:
			rows = append(rows, free[0].row(p))
			free = free[1:]
		default:
			problem("position %d has no event (one was deleted)", p)
		}
	}
	for _, e := range free {
		problem("event %s was not sealed in this block", e.ID)
		rows = append(rows, e.row(-1))
	}
	return rows, detail
}

// describe says what is visibly wrong with a block's rows: a missing or
// doubled position, or else a changed row.
func describe(rows []Row, b Block) string {
	if int64(len(rows)) != b.Rows {
		return fmt.Sprintf("it sealed %d rows, %d rows claim its positions", b.Rows, len(rows))
	}
	for i, r := range rows {
		if want := b.FirstPosition + int64(i); r.Position != want {
			return fmt.Sprintf("position %d has no row, or two", want)
		}
	}
	return "a row was changed, or rows were reordered or moved"
}

// Latest returns the last sealed block, the anchor of the history so far
// (ok false when nothing is sealed yet).
func Latest(ctx context.Context, db *storage.DB) (b Block, ok bool, err error) {
	err = db.View(ctx, func(tx *storage.Tx) error {
		b, err = last(ctx, tx)
		return err
	})
	if err != nil {
		return Block{}, false, fmt.Errorf("chain: latest block: %w", err)
	}
	return b, b.Number > 0, nil
}

// ByHash returns the block whose hash is hash (ok false if none).
func ByHash(ctx context.Context, db *storage.DB, hash string) (b Block, ok bool, err error) {
	err = db.View(ctx, func(tx *storage.Tx) error {
		var bs []Block
		if err := tx.Select(ctx, &bs, `SELECT `+blockColumns+` FROM chain_blocks WHERE hash = ?`, hash); err != nil {
			return err
		}
		if len(bs) == 1 {
			b, ok = bs[0], true
			b.SealedAt = b.SealedAt.UTC()
		}
		return nil
	})
	if err != nil {
		return Block{}, false, fmt.Errorf("chain: block by hash: %w", err)
	}
	return b, ok, nil
}
