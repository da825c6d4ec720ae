package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/storage"
)

// DefaultLease is how long a worker holds the events it claimed unless
// Config.Lease says otherwise.
const DefaultLease = 30 * time.Second

// claimBatch is how many due events a worker claims at once: few enough
// that several instances share a backlog, and that a batch is applied well
// within its lease.
const claimBatch = 25

// backoff is the wait after the n-th failed attempt (n ≥ 1).
func (in *Inbox) backoff(n int) time.Duration {
	d := in.cfg.RetryBackoff
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// wake asks the worker to look for due events now.
func (in *Inbox) wake() {
	select {
	case in.wakec <- struct{}{}:
	default:
	}
}

// lastErr records why applying the events of a delivery failed.
func (in *Inbox) lastErr(ctx context.Context, provider string, events []providers.Event, cause error) {
	msg := paygate.Cut(redact.String(cause.Error()), 1000)
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		for _, ev := range events {
			if _, err := tx.Exec(ctx, `UPDATE webhook_events SET last_error = ?, next_attempt_at = ?
				WHERE provider = ? AND event_id = ? AND status = ?`,
				msg, tx.Now().Add(in.backoff(1)), provider, ev.ID, StatusPending); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		in.cfg.Logger.Warn().Err(err).Msg("record webhook processing error")
	}
}

// Run applies pending events until ctx is done: when woken by Receive, and
// every interval (due retries). Several instances may run on one database:
// each claims events under a lease.
func (in *Inbox) Run(ctx context.Context, interval time.Duration) {
	defer in.release(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := in.ProcessDue(ctx); err != nil && ctx.Err() == nil {
			in.cfg.Logger.Error().Err(err).Msg("webhook worker")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-in.wakec:
		}
	}
}

// release gives up the leases this instance still holds as it stops, so
// that other instances need not wait them out.
func (in *Inbox) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Release(ctx, in.lease())
		return err
	})
	if err != nil {
		in.cfg.Logger.Warn().Err(err).Msg("release webhook event leases")
	}
}

// ProcessDue applies every pending event that is due, and returns how many
// it applied.
func (in *Inbox) ProcessDue(ctx context.Context) (int, error) {
	done := 0
	for {
		ids, err := in.claim(ctx, claimBatch)
		if err != nil || len(ids) == 0 {
			return done, err
		}
		for _, id := range ids {
			ok, err := in.processOne(ctx, id)
			if err != nil {
				return done, err
			}
			if ok {
				done++
			}
		}
	}
}

// lease is how the instances share out the pending events: each claims
// the due ones under a lease of Config.Lease in locked_until, naming
// itself in locked_by.
func (in *Inbox) lease() storage.Lease {
	return storage.Lease{Table: "webhook_events", Key: "id", Until: "locked_until", For: in.cfg.Lease,
		By: "locked_by", Holder: in.cfg.Instance}
}

// claim leases up to n due pending events to this instance (those whose
// lease is free or has run out) and returns their ids in the order they
// were received.
func (in *Inbox) claim(ctx context.Context, n int) ([]int64, error) {
	var ids []int64
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		ids = nil
		l := in.lease()
		l.Where, l.Args = `status = ? AND next_attempt_at <= ?`, []any{StatusPending, tx.Now()}
		return tx.Claim(ctx, &ids, l, n)
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: claim due events: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// processOne applies one claimed event. A failure is recorded on the event
// (retried later, or failed after MaxAttempts), not returned: only a
// database that cannot record it is an error.
func (in *Inbox) processOne(ctx context.Context, id int64) (bool, error) {
	var provider, eventID string
	var outcome checkout.Outcome
	applyErr := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		var row struct {
			Provider   string    `db:"provider"`
			EventID    string    `db:"event_id"`
			Event      string    `db:"event"`
			ReceivedAt time.Time `db:"received_at"`
		}
		// One statement counts the attempt and takes the event, locking its
		// row, if it is still pending; none if it was applied meanwhile. A
		// failure rolls the count back with the rest: the failure is
		// counted after the rollback.
		err := tx.Get(ctx, &row, `UPDATE webhook_events SET attempts = attempts + 1 WHERE id = ? AND status = ?
			RETURNING provider, event_id, event, received_at`, id, StatusPending)
		if errors.Is(err, sql.ErrNoRows) {
			outcome = ""
			return nil // applied meanwhile
		}
		if err != nil {
			return err
		}
		provider, eventID = row.Provider, row.EventID
		var ev providers.Event
		if err := json.Unmarshal([]byte(row.Event), &ev); err != nil {
			return fmt.Errorf("decode stored event: %w", err)
		}
		outcome, err = in.apply(ctx, tx, id, row.Provider, ev, row.ReceivedAt)
		return err
	})
	if applyErr == nil {
		if outcome != "" {
			in.cfg.Logger.Info().Str(checkout.FieldProvider, provider).Str(checkout.FieldEvent, eventID).
				Str(checkout.FieldOutcome, string(outcome)).Msg("webhook event applied by the worker")
		}
		return outcome != "", nil
	}
	if errors.Is(applyErr, context.Canceled) {
		return false, applyErr
	}
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		var attempts int
		if err := tx.Get(ctx, &attempts, `SELECT attempts FROM webhook_events WHERE id = ?`, id); err != nil {
			return err
		}
		attempts++
		status := StatusPending
		if attempts >= in.cfg.MaxAttempts {
			status = StatusFailed
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_events SET attempts = ?, status = ?, last_error = ?, next_attempt_at = ?, locked_until = NULL
			WHERE id = ?`, attempts, status, paygate.Cut(redact.String(applyErr.Error()), 1000), tx.Now().Add(in.backoff(attempts)), id)
		return err
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("webhooks: record failure of event %d: %w", id, errors.Join(applyErr, err))
	}
	in.metrics.failures.Inc()
	in.cfg.Logger.Warn().Err(applyErr).Int64("inbox_id", id).Str(checkout.FieldEvent, eventID).Msg("webhook event processing failed; will retry")
	return false, nil
}

// ReplayFilter selects events to replay: by inbox id, or received since a
// time, optionally of one status.
type ReplayFilter struct {
	IDs    []int64
	Since  time.Time
	Status string
}

// Replay makes the selected events pending again and applies them now. An
// event already applied changes nothing the second time: settlement is keyed
// by the payment and the ledger by idempotency keys, so a replay has the
// same exactly-once effect as a redelivery.
func (in *Inbox) Replay(ctx context.Context, f ReplayFilter) (int, error) {
	var where []string
	var args []any
	switch {
	case len(f.IDs) > 0:
		where = append(where, "id IN ("+storage.Params(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	case !f.Since.IsZero():
		where = append(where, "received_at >= ?")
		args = append(args, f.Since.UTC())
	default:
		return 0, fmt.Errorf("webhooks: replay needs ids or a time")
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	var n int64
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE webhook_events SET status = ?, next_attempt_at = ?, locked_until = NULL WHERE `+strings.Join(where, " AND "),
			append([]any{StatusPending, tx.Now()}, args...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("webhooks: replay: %w", err)
	}
	if _, err := in.ProcessDue(ctx); err != nil {
		return int(n), err
	}
	return int(n), nil
}
