package checkout

import (
	"context"
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
func (s *Service) Overdue(ctx context.Context, rules StuckRules, n int) ([]Attempt, error) {
	rules = rules.withDefaults()
	var out []Attempt
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		out = nil
		q := `SELECT ` + attemptColumns + ` FROM payment_attempts
			WHERE status IN (?, ?, ?) AND (polled_at IS NULL OR polled_at <= ?)
			ORDER BY created_at LIMIT 1000`
		if tx.Dialect() == storage.Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
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
