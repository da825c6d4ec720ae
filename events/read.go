package events

import (
	"context"
	"fmt"

	"github.com/paygate/paygate/storage"
)

// Scan returns up to limit positioned events after the position after, of
// every audience, in commit order: what the delivery dispatcher fans out to
// the endpoints. Call Sequence first on PostgreSQL.
func (s *Store) Scan(ctx context.Context, after int64, limit int) ([]Event, error) {
	var evs []Event
	err := s.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &evs, `SELECT id, type, created_at, resource, sequence, '' AS data, position, audience FROM events
			WHERE position IS NOT NULL AND position > ? ORDER BY position LIMIT ?`, after, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("events: scan after %d: %w", after, err)
	}
	for i := range evs {
		evs[i].CreatedAt = evs[i].CreatedAt.UTC()
	}
	return evs, nil
}

// Last returns the position of the last positioned event (0 when none).
func (s *Store) Last(ctx context.Context) (int64, error) {
	var n int64
	err := s.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &n, `SELECT COALESCE(MAX(position), 0) FROM events`)
	})
	if err != nil {
		return 0, fmt.Errorf("events: last position: %w", err)
	}
	return n, nil
}

// Lookup returns the events with the given ids that still exist (pruned
// ones are missing from the map), with their data, whatever their
// audience.
func (s *Store) Lookup(ctx context.Context, ids []string) (map[string]Event, error) {
	var out map[string]Event
	err := s.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		out, err = Lookup(ctx, tx, ids)
		return err
	})
	return out, err
}

// Lookup is Store.Lookup in the transaction tx, for a caller that reads
// the events with its own rows (the delivery worker, as it claims them).
func Lookup(ctx context.Context, tx *storage.Tx, ids []string) (map[string]Event, error) {
	out := make(map[string]Event, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var evs []Event
	if err := tx.Select(ctx, &evs, `SELECT id, type, created_at, resource, sequence, data, COALESCE(position, 0) AS position, audience
		FROM events WHERE id IN (`+storage.Params(len(ids))+`)`, args...); err != nil {
		return nil, fmt.Errorf("events: look up %d events: %w", len(ids), err)
	}
	for _, ev := range evs {
		ev.CreatedAt = ev.CreatedAt.UTC()
		out[ev.ID] = ev
	}
	return out, nil
}
