package checkout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/storage"
)

// Outcome says what ApplyEvent did.
type Outcome string

// The outcomes of ApplyEvent.
const (
	OutcomePaid           Outcome = "paid"            // the payment order is paid now
	OutcomeLatePayment    Outcome = "late_payment"    // paid for an order already paid, expired or canceled: credited to the buyer's balance
	OutcomeAmountMismatch Outcome = "amount_mismatch" // paid another amount or currency: held in suspense
	OutcomeUpdated        Outcome = "updated"         // the attempt (and maybe the order) moved on
	OutcomeUnchanged      Outcome = "unchanged"       // nothing to do: a repeat, or an event that does not move the state forward
	OutcomeUnknownPayment Outcome = "unknown_payment" // no attempt of ours has this payment
	OutcomeDeferred       Outcome = "deferred"        // about a payment whose success is not known yet: kept, and applied once it is
	OutcomeForFinance     Outcome = "for_finance"     // a refund or dispute at the provider: an item for finance staff
)

// ApplyEvent applies one verified provider event in tx, the caller's
// transaction (the webhook inbox's), so the event, the state change and the
// ledger posting commit together. A payment's state only moves forward; an
// event that would move it back changes nothing. A refund or dispute of a
// payment whose success is not known yet is OutcomeDeferred: the caller
// keeps it and applies it again once the success is applied. Success is settled once:
// the money moves from the provider's clearing account into one escrow per
// sales order, and the order and its sales orders are paid. Money that does
// not fit is never dropped: a payment for an order that is no longer
// payable is credited to the buyer's balance, a payment of another amount or
// currency goes to platform:suspense (once per amount) and leaves the
// attempt able to take its genuine, full-amount settlement.
func (s *Service) ApplyEvent(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (Outcome, error) {
	if ev.Type == providers.EventOther {
		return OutcomeUnchanged, nil
	}
	att, err := s.findAttempt(ctx, tx, provider, ev)
	if errors.Is(err, sql.ErrNoRows) {
		// Kept in the inbox and shown to finance; never a crash, never money.
		err := finance.OpenItem(ctx, tx, finance.Item{
			Kind: finance.UnknownPayment, Reference: provider + ":" + ev.ID, PaymentOrder: ev.PaymentOrder,
			Attempt: ev.Attempt, Provider: provider, PaymentRef: ev.PaymentRef, Amount: ev.Amount,
			Description: fmt.Sprintf("%s event %s (%s) for payment %q that paygate did not create", provider, ev.ID, ev.ProviderType, ev.PaymentRef),
		})
		return OutcomeUnknownPayment, err
	}
	if err != nil {
		return "", err
	}
	if att.ProviderRef == "" && ev.PaymentRef != "" {
		att.ProviderRef = ev.PaymentRef // the event came before StartAttempt recorded the reference
	}
	switch ev.Type {
	case providers.EventPaymentSucceeded:
		return s.settle(ctx, tx, att, ev)
	case providers.EventPaymentProcessing:
		if att.Status != AttemptCreating && att.Status != AttemptPending {
			return OutcomeUnchanged, nil
		}
		_, err := moveAttempt(ctx, tx, att, AttemptProcessing)
		return OutcomeUpdated, err
	case providers.EventRefunded, providers.EventRefundFailed, providers.EventDisputed:
		return s.refundOrDispute(ctx, tx, provider, att, ev)
	case providers.EventPaymentFailed, providers.EventPaymentExpired, providers.EventPaymentCanceled:
		if !att.Status.open() {
			return OutcomeUnchanged, nil
		}
		to := map[providers.EventType]AttemptStatus{
			providers.EventPaymentFailed:   AttemptFailed,
			providers.EventPaymentExpired:  AttemptExpired,
			providers.EventPaymentCanceled: AttemptCanceled,
		}[ev.Type]
		att.FailureReason = clip(redact.String(ev.FailureReason))
		if att, err = moveAttempt(ctx, tx, att, to); err != nil {
			return "", err
		}
		return OutcomeUpdated, s.orderAfterAttempt(ctx, tx, att)
	}
	return OutcomeUnchanged, nil
}

// refundOrDispute applies a refund, a failed refund or a dispute of att's
// payment: paygate's own refund is confirmed or given back; anything else
// is an item for finance, unless paygate's refunds explain it. Before the
// payment's success is known, it is OutcomeDeferred.
func (s *Service) refundOrDispute(ctx context.Context, tx *storage.Tx, provider string, att Attempt, ev providers.Event) (Outcome, error) {
	if att.Status != AttemptSucceeded {
		return OutcomeDeferred, nil
	}
	if ev.Type != providers.EventDisputed {
		// One of paygate's refunds to source: confirmed, or failed and
		// the buyer's balance given back; or an event that names one but
		// comes from another provider, or is about another payment or
		// amount: an item for finance, and nothing changed.
		res, err := finance.ApplyRefundEvent(ctx, tx, s.cfg.Ledger, finance.RefundPayment{
			Provider: provider, PaymentRef: att.ProviderRef, PaymentOrder: string(att.PaymentOrder), Attempt: att.ID,
		}, ev)
		switch {
		case err != nil:
			return "", err
		case res == finance.RefundEventApplied:
			return OutcomeUpdated, nil
		case res == finance.RefundEventMismatch:
			s.cfg.Logger.Warn().Str(FieldPaymentOrder, string(att.PaymentOrder)).Str(FieldAttempt, att.ID).
				Str("refund", ev.Refund).Str("event", ev.ID).Msg("refund event does not match the refund it names; held for finance")
			return OutcomeForFinance, nil
		}
	}
	// Stripe's charge.refunded names no refund of ours but sums every
	// refund of the payment: when paygate's own refunds explain it, it
	// is not news. An event about one refund that is not paygate's is
	// news whatever its size.
	if ev.Type == providers.EventRefunded && ev.RefundedTotal {
		explained, err := finance.Explained(ctx, tx, provider, att.ProviderRef, ev.Amount)
		if err != nil || explained {
			return OutcomeUnchanged, err
		}
	}
	kind, what := finance.ProviderRefund, "refunded"
	switch ev.Type {
	case providers.EventDisputed:
		kind, what = finance.Dispute, "disputed"
	case providers.EventRefundFailed:
		what = "refund failed"
	}
	return OutcomeForFinance, finance.OpenItem(ctx, tx, finance.Item{
		Kind: kind, Reference: provider + ":" + ev.ID, PaymentOrder: string(att.PaymentOrder), Attempt: att.ID,
		Provider: provider, PaymentRef: att.ProviderRef, Amount: ev.Amount,
		Description: fmt.Sprintf("%s reports payment %s of attempt %s %s (%s)", provider, att.ProviderRef, att.ID, what, ev.ProviderType),
	})
}

// findAttempt finds the attempt of an event by the provider's payment
// reference, or by the attempt id the payment carries in its metadata.
func (s *Service) findAttempt(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (Attempt, error) {
	if ev.PaymentRef != "" {
		a, err := getAttempt(ctx, tx, "provider = ? AND provider_ref = ?", provider, ev.PaymentRef)
		if !errors.Is(err, sql.ErrNoRows) {
			return a, err
		}
	}
	if ev.Attempt != "" {
		a, err := getAttempt(ctx, tx, "provider = ? AND id = ?", provider, ev.Attempt)
		if err != nil {
			return Attempt{}, err
		}
		if a.ProviderRef != "" && ev.PaymentRef != "" && a.ProviderRef != ev.PaymentRef {
			return Attempt{}, sql.ErrNoRows // metadata names our attempt, but another payment is its
		}
		return a, nil
	}
	return Attempt{}, sql.ErrNoRows
}

// settle applies a success.
func (s *Service) settle(ctx context.Context, tx *storage.Tx, att Attempt, ev providers.Event) (Outcome, error) {
	if att.Status == AttemptSucceeded {
		return OutcomeUnchanged, nil // e.g. charge.succeeded after payment_intent.succeeded
	}
	paid := att.Amount
	if !ev.Amount.IsZero() || ev.Amount.Currency != "" {
		paid = ev.Amount
	}
	clearing := ledger.ProviderClearing(att.Provider)

	if paid != att.Amount {
		// Not this attempt's settlement: the money is held in suspense,
		// once per amount however often the event (or another event of the
		// same payment and amount) comes, and the attempt is left as it
		// was, so that its genuine settlement still pays the order.
		what := fmt.Sprintf("%d%s", paid.Minor, paid.Currency)
		_, err := s.cfg.Ledger.Post(ctx, tx, ledger.Transfer("attempt:"+att.ID+":suspense:"+what,
			fmt.Sprintf("%s paid %s for %s", att.ID, paid, att.Amount), clearing, ledger.PlatformSuspense, paid))
		if err != nil {
			return "", fmt.Errorf("checkout: hold mismatched payment of %s: %w", att.ID, err)
		}
		s.cfg.Logger.Warn().Str(FieldPaymentOrder, string(att.PaymentOrder)).Str(FieldAttempt, att.ID).
			Str(FieldAmount, paid.String()).Str("expected", att.Amount.String()).Msg("payment of another amount held in suspense")
		return OutcomeAmountMismatch, finance.OpenItem(ctx, tx, finance.Item{
			Kind: finance.AmountMismatch, Reference: att.ID + ":" + what, PaymentOrder: string(att.PaymentOrder), Attempt: att.ID,
			Provider: att.Provider, PaymentRef: att.ProviderRef, Amount: paid,
			Description: fmt.Sprintf("attempt %s (%s) paid %s for %s; held in %s; the attempt still takes its own settlement", att.ID, att.Method, paid, att.Amount, ledger.PlatformSuspense),
		})
	}
	att.FailureReason = ""
	att, err := moveAttempt(ctx, tx, att, AttemptSucceeded)
	if err != nil {
		return "", err
	}
	// The order is paid, and its row locked and read, in one statement,
	// unless it is final already: then it is only read.
	po, err := s.pay(ctx, tx, att, clearing, fmt.Sprintf("payment order %s paid by %s (%s)", att.PaymentOrder, att.Method, att.ProviderRef))
	if err == nil {
		s.cfg.Logger.Info().Str(FieldPaymentOrder, string(po.Number)).Str(FieldAttempt, att.ID).Str(FieldAmount, paid.String()).Msg("payment order paid")
		return OutcomePaid, nil
	}
	if !errors.Is(err, errRefused) {
		return "", err
	}
	// Paid twice, or after the order expired or was canceled: the money
	// is the buyer's.
	credit := ledger.Transfer("attempt:"+att.ID+":credited",
		fmt.Sprintf("late payment %s of %s (%s)", att.ID, po.Number, po.Status), clearing, ledger.UserBalance(po.BuyerID), paid)
	credit.Source = string(po.Number) // for the buyer's balance.credited event
	if _, err := s.cfg.Ledger.Post(ctx, tx, credit); err != nil {
		return "", fmt.Errorf("checkout: credit late payment %s: %w", att.ID, err)
	}
	s.cfg.Logger.Warn().Str(FieldPaymentOrder, string(po.Number)).Str(FieldAttempt, att.ID).
		Str("order_status", string(po.Status)).Msg("late payment credited to the buyer's balance")
	return OutcomeLatePayment, finance.OpenItem(ctx, tx, finance.Item{
		Kind: finance.LatePayment, Reference: att.ID, PaymentOrder: string(po.Number), Attempt: att.ID,
		Provider: att.Provider, PaymentRef: att.ProviderRef, Amount: paid,
		Description: fmt.Sprintf("attempt %s (%s) paid %s after payment order %s was %s; credited to %s", att.ID, att.Method, paid, po.Number, po.Status, ledger.UserBalance(po.BuyerID)),
	})
}

// pay is the one way an order is paid, by a provider's settlement and
// from the buyer's balance alike: through moveOrder, att's order becomes
// paid by att, its sales orders are paid, and att's amount moves from
// account from (the provider's clearing account, or the buyer's balance)
// into one escrow per sales order, before the order's event is appended.
// An order that can no longer be paid is moveOrder's refusal (errRefused),
// with the order as it is; a balance that does not cover the amount is the
// ledger's *ledger.InsufficientFundsError.
func (s *Service) pay(ctx context.Context, tx *storage.Tx, att Attempt, from, description string) (PaymentOrder, error) {
	return s.moveOrder(ctx, tx, att.PaymentOrder, orderMove{to: Paid, paidAttempt: att.ID, with: func(po PaymentOrder) ([]orders.SalesOrder, error) {
		items, err := orders.MarkPaid(ctx, tx, po.Number)
		if err != nil {
			return nil, err
		}
		t := ledger.Transaction{
			Key:         "payment:" + string(po.Number) + ":settled",
			Description: description,
			Entries:     []ledger.Entry{{Account: from, Side: ledger.Debit, Amount: att.Amount}},
		}
		for _, so := range items {
			t.Entries = append(t.Entries, ledger.Entry{Account: ledger.Escrow(string(so.Number)), Side: ledger.Credit, Amount: so.Amount})
		}
		if _, err := s.cfg.Ledger.Post(ctx, tx, t); err != nil {
			return nil, fmt.Errorf("checkout: settle %s: %w", po.Number, err)
		}
		return items, nil
	}})
}
