// Package webhooks takes the providers' signed webhooks: it verifies each
// delivery with its provider, stores every event in the inbox and applies it
// in the same database transaction, so an event is settled exactly once
// however often it is delivered, and is acknowledged (2xx) only once it is
// durably stored. It owns the webhook_events table.
package webhooks

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "webhooks", FS: migrationFiles, Dir: "migrations"}
}

// Applier applies a verified event in the inbox's transaction.
type Applier interface {
	ApplyEvent(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (checkout.Outcome, error)
}

// MaxBodyBytes bounds a webhook body.
const MaxBodyBytes = 256 << 10

// Config configures the webhook endpoints.
type Config struct {
	DB        *storage.DB
	Providers map[string]providers.Provider
	Applier   Applier
	// PublicURL is the base URL providers post to; a provider that signs
	// its webhook URL (Rapyd) is given PublicURL + the path.
	PublicURL string
	Logger    zerolog.Logger
	// MaxAttempts is how often the worker tries an event before it is
	// failed (default 12); RetryBackoff the first wait, doubled after each
	// failure up to an hour (default 1 s).
	MaxAttempts  int
	RetryBackoff time.Duration
	// Lease is how long the worker holds the events it claims (default
	// 30 s): another instance takes them over once it has run out, so an
	// instance that dies holding events delays them by at most this. A
	// lease that runs out while its holder still works costs nothing but
	// work: applying an event locks its row and re-checks its status.
	Lease time.Duration
	// Instance names this process in the events it claims (locked_by);
	// default host:pid.
	Instance string
}

// Inbox receives webhooks, and its worker applies the events whose
// processing failed.
type Inbox struct {
	cfg     Config
	wakec   chan struct{}
	metrics *metrics
}

// New returns the inbox.
func New(cfg Config) *Inbox {
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Second
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	in := &Inbox{cfg: cfg, wakec: make(chan struct{}, 1), metrics: newMetrics()}
	return in
}

// Routes registers POST /webhooks/{provider} for each configured provider.
func (in *Inbox) Routes(r *mux.Router) {
	for name := range in.cfg.Providers {
		r.Handle("/webhooks/"+name, in.handler(name)).Methods(http.MethodPost)
	}
}

func (in *Inbox) handler(name string) http.Handler {
	prov := in.cfg.Providers[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				server.WriteError(w, r, paygate.Errorf(paygate.ETOOLARGE, "webhook body is larger than %d bytes", MaxBodyBytes))
				return
			}
			server.WriteError(w, r, &paygate.Error{Code: paygate.EINVALID, Message: "cannot read the webhook body", Err: err})
			return
		}
		events, err := prov.ParseWebhook(r.Context(), providers.Webhook{
			Header: r.Header, Body: body, URL: in.cfg.PublicURL + r.URL.Path, ReceivedAt: time.Now(), // signatures are checked against the wall clock
		})
		if err != nil {
			log := server.Logger(r.Context())
			log.Warn().Str(checkout.FieldProvider, name).Str(server.FieldErrorCode, paygate.ErrorCode(err)).Msg("webhook refused")
			if paygate.ErrorCode(err) == paygate.EINTERNAL {
				err = paygate.Errorf(paygate.EINVALID, "webhook refused")
			}
			server.WriteError(w, r, err)
			return
		}
		res, err := in.Receive(r.Context(), name, body, events)
		if err != nil {
			server.WriteError(w, r, err)
			return
		}
		server.WriteJSON(w, http.StatusOK, res)
	})
}

// Result is the answer to a delivery.
type Result struct {
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	// Deferred counts new events stored but not yet applied: their
	// processing failed and the worker retries it.
	Deferred int `json:"deferred,omitempty"`
}

// Event statuses in the inbox.
const (
	StatusProcessed = "processed"
	StatusPending   = "pending"  // stored, to be (re)applied by the worker
	StatusFailed    = "failed"   // gave up after MaxAttempts; finance replays it
	StatusDeferred  = "deferred" // waits for its payment's success (a refund before the payment)
)

// Receive stores the verified events of one delivery and applies the new
// ones, all in one database transaction; an event seen before is counted as
// a duplicate and changes nothing. If applying fails, the new events are
// stored as pending instead, in a transaction of their own, and the worker
// retries them: either way they are durable when Receive returns nil, which
// is when the delivery may be acknowledged.
func (in *Inbox) Receive(ctx context.Context, provider string, body []byte, events []providers.Event) (Result, error) {
	return in.ReceiveThen(ctx, provider, body, events, nil)
}

// ReceiveThen is Receive that also runs then, when it is not nil, in the
// transaction that stores the events (the one that applies them, or the
// one that leaves them pending): a caller's record of what it asked for
// (a finance audit entry) commits with the events or not at all.
func (in *Inbox) ReceiveThen(ctx context.Context, provider string, body []byte, events []providers.Event, then func(ctx context.Context, tx *storage.Tx) error) (Result, error) {
	for _, ev := range events {
		if ev.ID == "" {
			return Result{}, paygate.Errorf(paygate.EINVALID, "webhook event without an id")
		}
	}
	// The inbox keeps the provider's document for finance and audits, but
	// not the payer's data in it (billing details, the boleto's CPF/CNPJ)
	// nor Stripe's client_secret: those are masked, so the stored body is not
	// the signed one byte for byte; the signature was checked before, and
	// Verification says how. Replay applies the stored event, not the body.
	body = redact.JSON(body)
	res, err := in.store(ctx, provider, body, events, true, then)
	if err == nil {
		return res, nil
	}
	log := server.Logger(ctx)
	log.Warn().Err(err).Str(checkout.FieldProvider, provider).Msg("apply webhook events failed; storing them for the worker")
	res, serr := in.store(ctx, provider, body, events, false, then)
	if serr != nil {
		return Result{}, errors.Join(err, serr)
	}
	in.lastErr(ctx, provider, events, err)
	in.metrics.failures.Add(float64(res.Received))
	in.wake()
	return res, nil
}

// store inserts the events; with apply, it applies the new ones in the same
// transaction, otherwise it leaves them pending.
func (in *Inbox) store(ctx context.Context, provider string, body []byte, events []providers.Event, apply bool, then func(context.Context, *storage.Tx) error) (Result, error) {
	var res Result
	err := in.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		var err error
		if res, err = in.storeTx(ctx, tx, provider, body, events, apply); err != nil || then == nil {
			return err
		}
		return then(ctx, tx)
	})
	return res, err
}

// storeTx is store in the caller's transaction.
func (in *Inbox) storeTx(ctx context.Context, tx *storage.Tx, provider string, body []byte, events []providers.Event, apply bool) (Result, error) {
	var res Result
	log := server.Logger(ctx)
	err := func() error {
		for _, ev := range events {
			evJSON, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("webhooks: encode %s %s: %w", provider, ev.ID, err)
			}
			status := StatusPending
			if apply {
				status = StatusProcessed
			}
			var id int64
			err = tx.QueryRow(ctx, `INSERT INTO webhook_events (provider, event_id, type, provider_type, payment_ref, payment_order, body,
					received_at, status, next_attempt_at, event, verification)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING RETURNING id`,
				provider, ev.ID, string(ev.Type), ev.ProviderType, ev.PaymentRef, ev.PaymentOrder, body,
				tx.Now(), status, tx.Now(), string(evJSON), ev.Verification).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				res.Duplicates++
				if _, err := tx.Exec(ctx, `UPDATE webhook_events SET deliveries = deliveries + 1 WHERE provider = ? AND event_id = ?`, provider, ev.ID); err != nil {
					return fmt.Errorf("webhooks: count delivery of %s %s: %w", provider, ev.ID, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("webhooks: store %s %s: %w", provider, ev.ID, err)
			}
			res.Received++
			if !apply {
				res.Deferred++
				continue
			}
			outcome, err := in.apply(ctx, tx, id, provider, ev, tx.Now())
			if err != nil {
				return err
			}
			log.Info().Str(checkout.FieldProvider, provider).Str(checkout.FieldEvent, ev.ID).Str("type", ev.ProviderType).
				Str(checkout.FieldPaymentOrder, ev.PaymentOrder).Str(checkout.FieldOutcome, string(outcome)).Msg("webhook event applied")
		}
		return nil
	}()
	return res, err
}

// apply applies a stored event in tx and records its outcome: processed, or
// deferred until its payment's success is known. A success releases the
// events deferred for the same payment to the worker.
func (in *Inbox) apply(ctx context.Context, tx *storage.Tx, id int64, provider string, ev providers.Event, receivedAt time.Time) (checkout.Outcome, error) {
	outcome, err := in.cfg.Applier.ApplyEvent(ctx, tx, provider, ev)
	if err != nil {
		return "", fmt.Errorf("webhooks: apply %s %s: %w", provider, ev.ID, err)
	}
	status := StatusProcessed
	if outcome == checkout.OutcomeDeferred {
		status = StatusDeferred
	}
	// One statement marks the event and, when its attempt succeeded (another
	// amount leaves it open), releases the events deferred for the same
	// payment to the worker. A replay that changes nothing keeps the outcome
	// of the first application, the one finance needs to read.
	release := outcome == checkout.OutcomePaid || outcome == checkout.OutcomeLatePayment
	q := `UPDATE webhook_events SET status = ?, processed_at = ?,
			outcome = CASE WHEN outcome <> '' AND ? = 'unchanged' THEN outcome ELSE ? END,
			locked_until = NULL
		WHERE id = ?`
	args := []any{status, tx.Now(), string(outcome), string(outcome), id}
	if release {
		q = `UPDATE webhook_events SET
				status = CASE WHEN id = ? THEN ? ELSE ? END,
				processed_at = CASE WHEN id = ? THEN ? ELSE processed_at END,
				outcome = CASE WHEN id = ? THEN ? ELSE outcome END,
				locked_until = CASE WHEN id = ? THEN NULL ELSE locked_until END,
				next_attempt_at = CASE WHEN id = ? THEN next_attempt_at ELSE ? END
			WHERE id = ? OR (status = ? AND provider = ? AND payment_ref = ?)`
		args = []any{id, status, StatusPending, id, tx.Now(), id, string(outcome), id, id, tx.Now(),
			id, StatusDeferred, provider, ev.PaymentRef}
	}
	// Nothing reads the mark back in this transaction: it goes with the
	// COMMIT (on PostgreSQL in the same round trip).
	if err := tx.ExecAtCommit(ctx, q, args...); err != nil {
		return "", fmt.Errorf("webhooks: mark %s %s %s: %w", provider, ev.ID, status, err)
	}
	in.metrics.applied(tx, receivedAt, string(outcome))
	if release {
		tx.AfterCommit(in.wake) // deferred events may have been released
	}
	return outcome, nil
}
