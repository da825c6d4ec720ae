package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// VoucherClearing is how long a bank may take to report a voucher paid on
// its due date.
const VoucherClearing = 72 * time.Hour

// StuckRules say when an open attempt is overdue, so the janitor asks its
// provider instead of waiting for a webhook that may have been lost.
type StuckRules struct {
	Redirect     time.Duration // a buyer sent to a gateway: default 30 min
	QRGrace      time.Duration // after the QR code's expiry: default 5 min
	VoucherGrace time.Duration // after a voucher's due date, for the bank to clear it: default 3 days
	Creating     time.Duration // a provider call that never answered: default 10 min
	PollEvery    time.Duration // how often one attempt is polled: default 15 min
}

func (r StuckRules) withDefaults() StuckRules {
	if r.Redirect == 0 {
		r.Redirect = 30 * time.Minute
	}
	if r.QRGrace == 0 {
		r.QRGrace = 5 * time.Minute
	}
	if r.VoucherGrace == 0 {
		r.VoucherGrace = VoucherClearing
	}
	if r.Creating == 0 {
		r.Creating = 10 * time.Minute
	}
	if r.PollEvery == 0 {
		r.PollEvery = 15 * time.Minute
	}
	return r
}

// overdue reports whether an open attempt should be polled at now.
func (r StuckRules) overdue(a Attempt, now time.Time) bool {
	switch {
	case a.Status == AttemptCreating:
		return now.Sub(a.CreatedAt) >= r.Creating
	case a.NextAction.Type == providers.ActionQR && !a.NextAction.ExpiresAt.IsZero():
		return now.Sub(a.NextAction.ExpiresAt) >= r.QRGrace
	case a.NextAction.Type == providers.ActionVoucher && !a.NextAction.ExpiresAt.IsZero():
		return now.Sub(a.NextAction.ExpiresAt) >= r.VoucherGrace
	}
	return now.Sub(a.CreatedAt) >= r.Redirect
}

// Overdue claims up to n open attempts that are overdue at the database's
// now and were not polled in the last PollEvery, marking them polled (so
// several instances do not poll one attempt at once), and returns them.
//
// It shares attempts out among instances as a storage.Lease claim does
// (polled_at holds an attempt for PollEvery; concurrent claims skip each
// other's rows), but is not one: whether an attempt is overdue depends on
// its next action (a QR code's or a voucher's expiry, inside the
// next_action JSON), which SQL cannot compare alike on both backends, so
// the open attempts are locked and filtered here. A column with the time
// an attempt is next due, written with its next action, would make it a
// Lease claim.
func (s *Service) Overdue(ctx context.Context, rules StuckRules, n int) ([]Attempt, error) {
	rules = rules.withDefaults()
	var out []Attempt
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		out = nil
		q := `SELECT ` + attemptColumns + ` FROM payment_attempts
			WHERE status IN (?, ?, ?) AND (polled_at IS NULL OR polled_at <= ?)
			ORDER BY created_at LIMIT 1000` + tx.SkipLocked()
		var rows []attemptRow
		if err := tx.Select(ctx, &rows, q, string(AttemptCreating), string(AttemptPending), string(AttemptProcessing), tx.Now().Add(-rules.PollEvery)); err != nil {
			return fmt.Errorf("checkout: overdue attempts: %w", err)
		}
		for _, r := range rows {
			a, err := r.attempt()
			if err != nil {
				return err
			}
			if !rules.overdue(a, tx.Now()) {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE payment_attempts SET polled_at = ? WHERE id = ?`, tx.Now(), a.ID); err != nil {
				return err
			}
			out = append(out, a)
			if len(out) == n {
				break
			}
		}
		return nil
	})
	return out, err
}

// Provider returns the provider that took an attempt, as the attempt
// records it (never recomputed from its method: once a method has two
// roads, the attempt's own provider is the truth), for the janitor.
func (s *Service) Provider(a Attempt) (providers.Provider, error) {
	p := s.cfg.Providers[a.Provider]
	if p == nil {
		return nil, paygate.Errorf(paygate.EUNAVAILABLE, "attempt %s: its provider %s is not configured", a.ID, a.Provider)
	}
	return p, nil
}

// FindLost looks up, at its provider (providers.Finder), the payment of an
// attempt whose create never answered (creating, without a provider
// reference): a lost attempt (its buyer's action failed over to another
// provider), or one whose create was cut short. A payment found is
// recorded on the attempt and returned. A lost attempt's payment, which
// its buyer was never shown, is first canceled at the provider (its status
// then canceled), so that no order has two live payments; one the provider
// cannot cancel (a boleto voucher) or already final is kept, and a late
// success is credited as any other. Another attempt's payment is taken as
// a create's answer would have been (its next action, its status).
//
// The error is ENOTFOUND when the provider certainly has no payment for
// the attempt, wraps providers.ErrUnsupported when the provider cannot
// look payments up, and is anything else (EUNAVAILABLE) when it cannot
// tell now: ask again later.
func (s *Service) FindLost(ctx context.Context, a Attempt) (providers.Payment, error) {
	prov, err := s.Provider(a)
	if err != nil {
		return providers.Payment{}, err
	}
	if _, ok := prov.(providers.Finder); !ok {
		return providers.Payment{}, fmt.Errorf("checkout: %s cannot look the payment of %s up: %w", a.Provider, a.ID, providers.ErrUnsupported)
	}
	pay, err := s.find(ctx, prov, s.paymentRequest(a, providers.Payer{}))
	if err != nil {
		return providers.Payment{}, err
	}
	log := s.cfg.Logger.With().Str(FieldAttempt, a.ID).Str(FieldProvider, a.Provider).Str(FieldProviderRef, pay.Ref).Logger()
	if !a.lost() {
		if _, err := s.took(ctx, a, pay); err != nil {
			return providers.Payment{}, err
		}
		log.Info().Msg("the payment of an attempt whose create never answered was found at its provider")
		return pay, nil
	}
	if !pay.Status.Final() {
		switch err := prov.CancelPayment(ctx, pay.Ref); {
		case err == nil:
			pay.Status = providers.StatusCanceled
			log.Info().Str("replaced_by", a.ReplacedBy).Msg("payment of a failed-over attempt canceled at its provider")
		case errors.Is(err, providers.ErrNotCancelable):
			log.Warn().Str("replaced_by", a.ReplacedBy).Msg("payment of a failed-over attempt cannot be canceled at its provider; a late payment will be credited")
		default:
			return providers.Payment{}, fmt.Errorf("checkout: cancel %s payment %s of failed-over attempt %s: %w", a.Provider, pay.Ref, a.ID, err)
		}
	}
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		cur, err := getAttempt(ctx, tx, "id = ?", a.ID)
		if err != nil || cur.ProviderRef != "" {
			return err
		}
		cur.ProviderRef = pay.Ref
		_, err = moveAttempt(ctx, tx, cur, cur.Status)
		return err
	})
	return pay, err
}
