package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// sequencerLock is the PostgreSQL advisory lock that makes one sequencer
// run at a time across every instance.
const sequencerLock = 0x70677365 // "pgse"

// sequenceBatch bounds the events one Sequence call positions.
const sequenceBatch = 5000

// DefaultRetention is how long events are kept (at least 30 days).
const DefaultRetention = 30 * 24 * time.Hour

// Store reads events: the events API, the delivery worker, the janitor's
// pruning.
type Store struct {
	DB *storage.DB
	// Retention is how long events are kept; DefaultRetention if zero.
	Retention time.Duration
	// Chain is the journal's hash chain (chain.EventPruning), which Prune
	// asks how far it sealed the events and lets keep the digests of those
	// it prunes; nil: only events with a chain_position (sealed by the
	// chain's older blocks) count as sealed.
	Chain Chain
}

// Chain is the journal's hash chain as Prune sees it. Both are called in
// the transaction that prunes.
type Chain interface {
	// Sealed returns the position up to which the chain has sealed the
	// events.
	Sealed(ctx context.Context, tx *storage.Tx) (int64, error)
	// Keep keeps what the chain needs of the sealed events at positions,
	// which are about to be deleted.
	Keep(ctx context.Context, tx *storage.Tx, positions []int64) error
}

// pruneBatch bounds the events one transaction of Prune deletes.
const pruneBatch = 500

// Sequence gives the committed events that have none a position, in the
// order they were written, and returns how many it positioned.
//
// On PostgreSQL a number taken inside a transaction (an identity, a
// sequence) can become visible after a larger one that committed first: a
// reader paging by it would skip the smaller one. So positions are given
// only here, after commit, one sequencer at a time (an advisory lock): a
// statement sees only committed rows, and each run numbers above the last
// run's positions, so every event's position is larger than those of every
// event that was visible before it. A reader paging by position, after
// Sequence, never misses one. On SQLite Append already gave the position
// (one writer at a time), and Sequence does nothing.
func (s *Store) Sequence(ctx context.Context) (int, error) {
	if s.DB.Dialect() != storage.Postgres {
		return 0, nil
	}
	var n int64
	err := s.DB.Update(ctx, func(tx *storage.Tx) error {
		var pending bool
		if err := tx.Get(ctx, &pending, `SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL)`); err != nil || !pending {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, sequencerLock); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `WITH next AS (
				SELECT id, ROW_NUMBER() OVER (ORDER BY written) AS n
				FROM events WHERE position IS NULL ORDER BY written LIMIT ?),
			base AS (SELECT COALESCE(MAX(position), 0) AS m FROM events)
			UPDATE events SET position = base.m + next.n FROM next, base WHERE events.id = next.id`, sequenceBatch)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("events: sequence: %w", err)
	}
	return int(n), nil
}

// Filter selects events for List.
type Filter struct {
	After    int64     // only events positioned after this cursor
	Types    []Type    // only these types, if any
	Resource string    // only this resource, if set
	Role     string    // the reader's role: finance-only events are left out for others
	Limit    int       // at most this many (1 to 100)
	Patterns []Pattern // only types matching one of these, if any
}

// MaxLimit is the most events one List call returns.
const MaxLimit = 100

// List returns the events after f.After in commit order, and the cursor to
// pass as After for the next page (f.After when there are none).
func (s *Store) List(ctx context.Context, f Filter) ([]Event, int64, error) {
	if f.Limit <= 0 || f.Limit > MaxLimit {
		return nil, 0, paygate.Errorf(paygate.EINVALID, "limit must be 1 to %d", MaxLimit)
	}
	if _, err := s.Sequence(ctx); err != nil {
		return nil, 0, err
	}
	where := []string{"position IS NOT NULL", "position > ?"}
	args := []any{f.After}
	if f.Role != "finance" {
		where = append(where, "audience = ?")
		args = append(args, Everyone)
	}
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN ("+storage.Params(len(f.Types))+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	var evs []Event
	err := s.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &evs, `SELECT id, type, created_at, resource, sequence, data, position, audience FROM events
			WHERE `+strings.Join(where, " AND ")+` ORDER BY position LIMIT ?`, append(args, f.Limit)...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("events: list: %w", err)
	}
	next := f.After
	for i := range evs {
		evs[i].CreatedAt = evs[i].CreatedAt.UTC()
		next = evs[i].Position
	}
	return evs, next, nil
}

// Get returns one event, or ENOTFOUND (also for an event the role may not
// read).
func (s *Store) Get(ctx context.Context, id, role string) (Event, error) {
	var ev Event
	err := s.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &ev, `SELECT id, type, created_at, resource, sequence, data, COALESCE(position, 0) AS position, audience
			FROM events WHERE id = ?`, id)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Event{}, paygate.Errorf(paygate.ENOTFOUND, "no event %s", id)
	case err != nil:
		return Event{}, fmt.Errorf("events: get %s: %w", id, err)
	case !ev.Type.Visible(role):
		return Event{}, paygate.Errorf(paygate.ENOTFOUND, "no event %s", id)
	}
	ev.CreatedAt = ev.CreatedAt.UTC()
	return ev, nil
}

// Prune deletes the events older than the retention, and returns how many.
// A resource's counter stays, so its sequence never restarts.
func (s *Store) Prune(ctx context.Context) (int, error) {
	keep := s.Retention
	if keep <= 0 {
		keep = DefaultRetention
	}
	// An event is pruned only once positioned, so that no reader's cursor
	// can be past a gap it never saw, and once sealed into the journal's
	// hash chain, which keeps its digest (Chain.Keep): up to Sealed's
	// position, or by an older block that wrote its chain_position. The
	// last positioned event is kept, so that positions (taken after the
	// largest) never restart below a cursor.
	if _, err := s.Sequence(ctx); err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := s.pruneSome(ctx, keep)
		total += n
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

// pruneSome prunes up to pruneBatch events older than keep from the
// oldest position on, in one transaction, and returns how many.
func (s *Store) pruneSome(ctx context.Context, keep time.Duration) (int, error) {
	var n int64
	err := s.DB.Update(ctx, func(tx *storage.Tx) error {
		n = 0
		var sealed int64
		if s.Chain != nil {
			var err error
			if sealed, err = s.Chain.Sealed(ctx, tx); err != nil {
				return err
			}
		}
		var first []struct {
			ID       string    `db:"id"`
			Position int64     `db:"position"`
			Created  time.Time `db:"created_at"`
			Cursor   bool      `db:"by_cursor"`
		}
		if err := tx.Select(ctx, &first, `SELECT id, position, created_at, chain_position IS NULL AS by_cursor FROM events
			WHERE position IS NOT NULL AND position < (SELECT MAX(position) FROM events)
			AND (chain_position IS NOT NULL OR position <= ?) ORDER BY position LIMIT ?`, sealed, pruneBatch); err != nil {
			return err
		}
		// The oldest positions, while older than keep: an event's
		// created_at is its transaction's start, so a later position can
		// be a little older than an earlier one, and waits for it.
		cut, aged := tx.Now().Add(-keep), 0
		for aged < len(first) && first[aged].Created.Before(cut) {
			aged++
		}
		old := first[:aged]
		if len(old) == 0 {
			return nil
		}
		ids := make([]any, len(old))
		var byCursor []int64
		for i, e := range old {
			ids[i] = e.ID
			if e.Cursor {
				byCursor = append(byCursor, e.Position)
			}
		}
		if s.Chain != nil {
			if err := s.Chain.Keep(ctx, tx, byCursor); err != nil {
				return err
			}
		}
		if tx.Dialect() == storage.SQLite {
			// SQLite numbers a resource's events from the largest
			// sequence among them (see writeSQLite): the counter keeps a
			// resource's number when its events are pruned.
			if _, err := tx.Exec(ctx, `INSERT INTO event_resources (resource, last_sequence)
				SELECT resource, MAX(sequence) FROM events WHERE id IN (`+storage.Params(len(ids))+`) GROUP BY resource
				ON CONFLICT (resource) DO UPDATE SET last_sequence = MAX(last_sequence, excluded.last_sequence)`, ids...); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, `DELETE FROM events WHERE id IN (`+storage.Params(len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
