// Package janitor finds payment attempts whose webhook is overdue — maybe
// lost — and asks their provider for the payment's status. What it learns
// is applied as an event through the webhook inbox, so a success found by
// polling settles exactly as the webhook would have (same settlement,
// same ledger key) and is recorded with how it was learned. It also drives
// refunds to source that did not reach a final state (finance
// Refunds.Drive), and prunes the events older than their retention.
package janitor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/webhooks"
)

// Janitor polls overdue attempts.
type Janitor struct {
	Checkout *checkout.Service
	Inbox    *webhooks.Inbox
	Rules    checkout.StuckRules
	// Refunds, if not nil, has its unfinished refunds to source driven on
	// (asked again, polled, or handed to finance staff) by every pass.
	Refunds *finance.Refunds
	// Events, if not nil, has the events older than its retention pruned
	// by every pass.
	Events  *events.Store
	Logger  zerolog.Logger
	Metrics *Metrics // nil records nothing
}

// Result counts what one pass did.
type Result struct {
	Polled  int // attempts asked about
	Applied int // events that moved an attempt on
	Errors  int // provider calls that failed (retried next pass)
	// Refunds is what the pass did to refunds to source.
	Refunds finance.DriveResult
	// EventsPruned counts the events deleted for being older than the
	// retention.
	EventsPruned int
}

// RunOnce polls every overdue attempt once, then drives the refunds to
// source that are due (Refunds).
func (j *Janitor) RunOnce(ctx context.Context) (res Result, err error) {
	defer func() { j.Metrics.pass(res) }()
	if err := j.pollAttempts(ctx, &res); err != nil {
		return res, err
	}
	if j.Refunds != nil {
		if res.Refunds, err = j.Refunds.Drive(ctx); err != nil {
			return res, err
		}
	}
	if j.Events != nil {
		res.EventsPruned, err = j.Events.Prune(ctx)
	}
	return res, err
}

// pollAttempts polls every overdue attempt once.
func (j *Janitor) pollAttempts(ctx context.Context, res *Result) error {
	for {
		atts, err := j.Checkout.Overdue(ctx, j.Rules, 100)
		if err != nil {
			return err
		}
		if len(atts) == 0 {
			return nil
		}
		for _, a := range atts {
			res.Polled++
			applied, err := j.Poll(ctx, a)
			switch {
			case err != nil:
				res.Errors++
				j.Logger.Warn().Err(err).Str(checkout.FieldAttempt, a.ID).Msg("janitor: poll provider")
			case applied:
				res.Applied++
			}
		}
	}
}

// Poll asks the provider about one attempt and applies what it says
// through the inbox, as its webhook would have been; it reports whether
// that moved the attempt on. Reconciliation uses it to settle a payment the
// provider reports settled but paygate never heard of.
func (j *Janitor) Poll(ctx context.Context, a checkout.Attempt) (bool, error) {
	return j.PollThen(ctx, a, nil)
}

// PollThen is Poll that runs then, when it is not nil, in the transaction
// that stores (and applies) what the provider said (webhooks.ReceiveThen).
// then does not run when the provider says the payment is still pending:
// nothing is stored then.
func (j *Janitor) PollThen(ctx context.Context, a checkout.Attempt, then func(ctx context.Context, tx *storage.Tx) error) (bool, error) {
	ev := providers.Event{PaymentRef: a.ProviderRef, PaymentOrder: string(a.PaymentOrder), Attempt: a.ID}
	p, found, err := j.payment(ctx, a)
	switch {
	case err != nil:
		return false, err
	case !found:
		// The call that creates the payment never answered, and the
		// provider has no payment for it (or cannot look one up): the
		// buyer was never shown how to pay. A payment made anyway would
		// still arrive by webhook (it carries the attempt id).
		ev.Type, ev.FailureReason = providers.EventPaymentFailed, "the provider did not answer when the payment was created"
		ev.Verification = "janitor: no answer from " + a.Provider + " at creation"
	default:
		switch p.Status {
		case providers.StatusSucceeded:
			ev.Type = providers.EventPaymentSucceeded
		case providers.StatusFailed:
			ev.Type = providers.EventPaymentFailed
		case providers.StatusExpired:
			ev.Type = providers.EventPaymentExpired
		case providers.StatusCanceled:
			ev.Type = providers.EventPaymentCanceled
		default:
			return false, nil // still pending at the provider
		}
		ev.PaymentRef, ev.Amount, ev.FailureReason = p.Ref, p.Amount, p.FailureReason
		if ev.FailureReason == "" && a.ReplacedBy != "" && a.Status == checkout.AttemptCreating {
			ev.FailureReason = "canceled at " + a.Provider + ": the payment failed over to " + a.ReplacedBy
		}
		how := "GET payment " + p.Ref
		if a.ProviderRef == "" {
			how = "found by paygate's reference as " + p.Ref
		}
		ev.Verification = fmt.Sprintf("status re-fetched from %s: %s said %s", a.Provider, how, p.Status)
	}
	// One event id per attempt and outcome: polling again finds it stored.
	ev.ID = "poll:" + a.ID + ":" + string(ev.Type)
	ev.ProviderType = "poll." + string(ev.Type)
	ev.OccurredAt = time.Now().UTC()
	body, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	res, err := j.Inbox.ReceiveThen(ctx, a.Provider, body, []providers.Event{ev}, then)
	if err != nil {
		return false, err
	}
	j.Logger.Info().Str(checkout.FieldAttempt, a.ID).Str(checkout.FieldPaymentOrder, string(a.PaymentOrder)).
		Str("found", string(ev.Type)).Msg("janitor: applied the provider's status")
	return res.Received > 0, nil
}

// payment asks a's provider for a's payment: by its reference, or, for an
// attempt whose create never answered, by paygate's own reference
// (checkout.FindLost, which cancels the payment of a failed-over attempt).
// found is false when the provider has none or cannot look one up.
func (j *Janitor) payment(ctx context.Context, a checkout.Attempt) (p providers.Payment, found bool, err error) {
	if a.ProviderRef == "" {
		p, err := j.Checkout.FindLost(ctx, a)
		switch {
		case err == nil:
			return p, true, nil
		case paygate.ErrorCode(err) == paygate.ENOTFOUND || providers.IsUnsupported(err):
			return providers.Payment{}, false, nil
		}
		return providers.Payment{}, false, fmt.Errorf("janitor: find the payment of %s at %s: %w", a.ID, a.Provider, err)
	}
	prov, err := j.Checkout.Provider(a)
	if err != nil {
		return providers.Payment{}, false, err
	}
	if p, err = prov.GetPayment(ctx, a.ProviderRef); err != nil {
		return providers.Payment{}, false, fmt.Errorf("janitor: get %s payment %s: %w", a.Provider, a.ProviderRef, err)
	}
	return p, true, nil
}

// Run runs a pass every interval until ctx is done.
func (j *Janitor) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.Logger.Error().Err(err).Msg("janitor")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
