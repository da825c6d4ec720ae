package finance

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// How refunds to source are driven to a final state (Refunds.Drive). The
// "Refunds that do not finish" section of docs/operations.md explains them
// to operators.
const (
	// RefundCallTimeout bounds one provider call of a refund, whoever
	// makes it (a request, or the janitor).
	RefundCallTimeout = 30 * time.Second
	// RefundRetryAfter is how long after it was made (or last asked about)
	// a refund the provider never answered is asked again, with the same
	// idempotency key and request. It is longer than RefundCallTimeout, so
	// the janitor never asks while the first call may still be running.
	RefundRetryAfter = 2 * RefundCallTimeout
	// RefundPollEvery is how often a pending refund is looked up at its
	// provider (GET refund) in case its webhook was lost.
	RefundPollEvery = 15 * time.Minute
	// RefundLease is how long a janitor holds a refund it claimed: another
	// instance takes it over after that (the holder died).
	RefundLease = 2 * time.Minute
	// RefundAskDeadline is how long after it was made a refund the provider
	// never answered is asked again. It is under Stripe's 24 hours of
	// idempotency keys: later, asking again could refund twice. A refund
	// still unanswered then has an unknown outcome: it opens a finance
	// item (StuckRefund) and the balance stays debited until finance
	// staff settle it by hand.
	RefundAskDeadline = 12 * time.Hour
	// RefundPendingDeadline is how long after it was made a refund may stay
	// pending at its provider (banks take days; Stripe documents up to 30
	// for some methods). One still pending then opens a finance item; its
	// webhook may still end it.
	RefundPendingDeadline = 30 * 24 * time.Hour
)

// StuckRefund is an item about a refund to source that did not reach a
// final state by its deadline (RefundAskDeadline, RefundPendingDeadline):
// the buyer's balance is debited and whether the money went back is not
// known. Finance staff check the provider's dashboard and settle it.
const StuckRefund Kind = "stuck_refund"

// RefundGetter is what Drive needs of a provider to poll a pending refund:
// the refund as the provider has it now (Stripe's and Rapyd's clients have
// it). A provider without it leaves pending refunds to their webhooks.
type RefundGetter interface {
	GetRefund(ctx context.Context, ref string) (providers.Refund, error)
}

// DriveResult counts what one Drive did.
type DriveResult struct {
	Checked   int // refunds claimed and looked at
	Final     int // refunds that reached succeeded or failed
	Escalated int // refunds past their deadline, handed to finance staff (a finance item)
	Errors    int // provider calls that failed (tried again later)
}

// Drive brings every refund to source that left ToSource's transaction
// without a final state one step further: one the provider never answered
// (requested) is asked again with the same idempotency key and request, a
// pending one is looked up at its provider (a lost webhook), and one past
// its deadline opens a finance item. A refusal or a failed refund reverses
// the debit as ToSource does.
//
// It is safe on several instances at once: each refund is claimed (claim)
// just before the provider is asked, so only one instance drives it; a
// holder that dies leaves it to the next pass after the lease. Its time is
// the database clock's.
func (r *Refunds) Drive(ctx context.Context) (DriveResult, error) {
	var res DriveResult
	for {
		sr, ok, err := r.claim(ctx)
		if err != nil || !ok {
			return res, err
		}
		res.Checked++
		sr.CreatedAt = sr.CreatedAt.UTC()
		if err := r.driveOne(ctx, sr, &res); err != nil {
			res.Errors++
			r.Logger.Warn().Err(err).Str("refund", sr.ID).Str("provider", sr.Provider).Msg("drive refund")
		}
	}
}

// claim takes the refund due first for RefundLease, and reports false
// when none is due. The lease is kept in next_check_at, the column that
// says when a refund is due (NULL: never): claiming postpones the refund
// by RefundLease, and driving it writes when it is due next. One refund
// is claimed at a time, right before it is driven, so that a lease never
// runs out while its refund waits behind others driven before it.
func (r *Refunds) claim(ctx context.Context) (SourceRefund, bool, error) {
	var due []SourceRefund
	err := r.DB.Update(ctx, func(tx *storage.Tx) error {
		due = nil
		return tx.Claim(ctx, &due, storage.Lease{
			Table: "source_refunds", Key: "id",
			Where: `next_check_at IS NOT NULL AND status IN (?, ?)`, Args: []any{RefundRequested, RefundPending},
			Order: "next_check_at, id", Until: "next_check_at", For: RefundLease,
			Returning: `id, user_id, attempt, provider, payment_ref, amount, currency, status, provider_refund,
				failure_reason, reason, created_at`,
		}, 1)
	})
	if err != nil {
		return SourceRefund{}, false, fmt.Errorf("finance: claim a due refund: %w", err)
	}
	if len(due) == 0 {
		return SourceRefund{}, false, nil
	}
	return due[0], true, nil
}

// driveOne takes one claimed refund a step further.
func (r *Refunds) driveOne(ctx context.Context, sr SourceRefund, res *DriveResult) error {
	now := r.DB.Now()
	age := now.Sub(sr.CreatedAt)
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	final := func(s string) bool { return s == RefundSucceeded || s == RefundFailed }

	if sr.Status == RefundRequested || sr.ProviderRefund == "" {
		if age > RefundAskDeadline {
			res.Escalated++
			return r.escalate(ctx, sr, fmt.Sprintf("refund %s of %s %s to %s payment %s: the provider never answered within %s; "+
				"it was not asked again (its idempotency key may have expired). Check the provider's dashboard for a refund with metadata refund=%s",
				sr.ID, paygate.New(sr.Minor, paygate.Currency(sr.Currency)), sr.UserID, sr.Provider, sr.PaymentRef, RefundAskDeadline, sr.ID))
		}
		got := r.ask(cctx, sr)
		switch {
		case final(got.Status):
			res.Final++
		case got.Status == RefundRequested:
			return fmt.Errorf("finance: refund %s: %s still does not answer", sr.ID, sr.Provider)
		}
		return nil
	}

	// Pending: look it up, in case its webhook was lost.
	g, ok := r.Providers[sr.Provider].(RefundGetter)
	if !ok {
		return fmt.Errorf("finance: refund %s: no way to look up a %s refund", sr.ID, sr.Provider)
	}
	got, err := g.GetRefund(cctx, sr.ProviderRefund)
	if err != nil {
		return fmt.Errorf("finance: look up refund %s (%s %s): %w", sr.ID, sr.Provider, sr.ProviderRefund, err)
	}
	if got.Amount.Minor != sr.Minor || got.Amount.Currency != paygate.Currency(sr.Currency) {
		res.Escalated++
		return r.escalate(ctx, sr, fmt.Sprintf("refund %s of %s: %s says its refund %s is of %s", sr.ID,
			paygate.New(sr.Minor, paygate.Currency(sr.Currency)), sr.Provider, sr.ProviderRefund, got.Amount))
	}
	switch got.Status {
	case providers.RefundSucceeded, providers.RefundFailed:
		status := RefundSucceeded
		if got.Status == providers.RefundFailed {
			status = RefundFailed
		}
		if err := r.settle(ctx, sr.ID, status, got.Ref, got.FailureReason); err != nil {
			return err
		}
		res.Final++
		return nil
	}
	if age > RefundPendingDeadline {
		res.Escalated++
		return r.escalate(ctx, sr, fmt.Sprintf("refund %s of %s %s to %s payment %s is still pending at %s (%s) after %s",
			sr.ID, paygate.New(sr.Minor, paygate.Currency(sr.Currency)), sr.UserID, sr.Provider, sr.PaymentRef, sr.Provider, sr.ProviderRefund, RefundPendingDeadline))
	}
	return r.DB.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE source_refunds SET next_check_at = ? WHERE id = ? AND status = ?`,
			tx.Now().Add(RefundPollEvery), sr.ID, RefundPending)
		return err
	})
}

// escalate opens a finance item about a refund past its deadline and stops
// driving it, in one transaction. The refund keeps its status: a webhook
// that arrives later still ends it.
func (r *Refunds) escalate(ctx context.Context, sr SourceRefund, why string) error {
	return r.DB.Update(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE source_refunds SET next_check_at = NULL WHERE id = ? AND status IN (?, ?)`,
			sr.ID, RefundRequested, RefundPending)
		if err != nil {
			return fmt.Errorf("finance: stop driving refund %s: %w", sr.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // ended meanwhile
		}
		return OpenItem(ctx, tx, Item{Kind: StuckRefund, Reference: sr.ID, Attempt: sr.Attempt, Provider: sr.Provider,
			Amount: paygate.New(sr.Minor, paygate.Currency(sr.Currency)), Description: why})
	})
}
