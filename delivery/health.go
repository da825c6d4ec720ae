package delivery

import (
	"context"
	"time"

	"github.com/paygate/paygate/storage"
)

// Health is an endpoint with how its deliveries fare, as the finance pages
// show it.
type Health struct {
	Endpoint
	// LastSuccess is the time of the endpoint's latest 2xx; nil without one
	// (among the attempts kept, Keep).
	LastSuccess *time.Time
	// FailingSince is the time of the first attempt that failed after the
	// last success, while the latest attempt failed; nil while it
	// succeeds.
	FailingSince *time.Time
	// Backlog is the deliveries not yet acknowledged (pending or waiting
	// for a retry), OldestWaiting the creation of the oldest of their
	// events.
	Backlog       int64
	OldestWaiting *time.Time
	// Recent are its latest attempts, newest first.
	Recent []Attempt
}

// Health returns every endpoint of every role (finance's, then the
// marketplace's, each oldest first) with its health and its latest recent
// attempts, read in one transaction. It is for finance staff: it shows the
// endpoints of both roles, never their secrets.
func (s *Service) Health(ctx context.Context, recent int) ([]Health, error) {
	var out []Health
	now := s.cfg.Now()
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		out = out[:0]
		var es []Endpoint
		if err := tx.Select(ctx, &es, `SELECT `+endpointCols+` FROM webhook_endpoints ORDER BY role, created_at, id`); err != nil {
			return err
		}
		for _, e := range es {
			if err := e.finish(now); err != nil {
				return err
			}
			h := Health{Endpoint: e}
			if err := endpointHealth(ctx, tx, &h, recent); err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read endpoint health", err)
	}
	return out, nil
}

// endpointHealth fills h's figures. Each query walks one of the endpoint's
// indexes (webhook_attempts_endpoint, webhook_deliveries_order) from its
// newest end.
func endpointHealth(ctx context.Context, tx *storage.Tx, h *Health, recent int) error {
	id := h.ID
	if err := tx.Select(ctx, &h.Recent, `SELECT id, event_id, event_type, attempt, attempted_at, result, status_code, duration_ms, response, error
		FROM webhook_attempts WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?`, id, max(recent, 1)); err != nil {
		return err
	}
	for i := range h.Recent {
		h.Recent[i].AttemptedAt = h.Recent[i].AttemptedAt.UTC()
	}
	var success []struct {
		ID int64     `db:"id"`
		At time.Time `db:"attempted_at"`
	}
	if err := tx.Select(ctx, &success, `SELECT id, attempted_at FROM webhook_attempts WHERE endpoint_id = ? AND result = ?
		ORDER BY id DESC LIMIT 1`, id, ResultSuccess); err != nil {
		return err
	}
	after := int64(0)
	if len(success) == 1 {
		t := success[0].At.UTC()
		h.LastSuccess, after = &t, success[0].ID
	}
	if len(h.Recent) > 0 && h.Recent[0].Result != ResultSuccess {
		var first []time.Time
		if err := tx.Select(ctx, &first, `SELECT attempted_at FROM webhook_attempts WHERE endpoint_id = ? AND id > ?
			ORDER BY id LIMIT 1`, id, after); err != nil {
			return err
		}
		if len(first) == 1 {
			t := first[0].UTC()
			h.FailingSince = &t
		}
	}
	if err := tx.Get(ctx, &h.Backlog, `SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ? AND status = ?`, id, StatusPending); err != nil {
		return err
	}
	var oldest []time.Time
	if err := tx.Select(ctx, &oldest, `SELECT event_created_at FROM webhook_deliveries WHERE endpoint_id = ? AND status = ?
		ORDER BY event_created_at LIMIT 1`, id, StatusPending); err != nil {
		return err
	}
	if len(oldest) == 1 {
		t := oldest[0].UTC()
		h.OldestWaiting = &t
	}
	if len(h.Recent) > recent {
		h.Recent = h.Recent[:recent]
	}
	return nil
}
