package checkout

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
)

// ExpireDue expires every payment order not paid by its expiry at asOf: the
// order becomes expired, its sales orders canceled, its open attempts
// canceled (and canceled at their providers where they allow it; a payment
// made anyway is a late payment, credited to the buyer). It returns how
// many orders it expired. Safe with several instances: each order is
// locked and checked again.
func (s *Service) ExpireDue(ctx context.Context, asOf time.Time) (int, error) {
	var due []string
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &due, `SELECT number FROM payment_orders WHERE status IN (?, ?, ?) AND expires_at <= ? ORDER BY expires_at LIMIT 1000`,
			string(Created), string(Pending), string(Failed), asOf)
	})
	if err != nil {
		return 0, fmt.Errorf("checkout: due payment orders: %w", err)
	}
	n := 0
	for _, num := range due {
		p := paygate.PaymentOrderNumber(num)
		var open []Attempt
		expired := false
		err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
			open, expired = nil, false
			po, err := getOrder(ctx, tx, p, true)
			if err != nil {
				return err
			}
			if po.Status.Final() || po.ExpiresAt.After(asOf) {
				return nil
			}
			all, err := attempts(ctx, tx, p)
			if err != nil {
				return err
			}
			for _, a := range all {
				if a.Status.open() {
					a.FailureReason = "payment order expired"
					if a, err = moveAttempt(ctx, tx, a, AttemptCanceled); err != nil {
						return err
					}
					open = append(open, a)
				}
			}
			expired = true
			_, err = s.moveOrder(ctx, tx, p, orderMove{to: Expired, with: func(PaymentOrder) ([]orders.SalesOrder, error) {
				return orders.Cancel(ctx, tx, p)
			}})
			return err
		})
		if err != nil {
			return n, err
		}
		if expired {
			n++
			s.cfg.Logger.Info().Str(FieldPaymentOrder, string(p)).Msg("payment order expired")
			for _, a := range open {
				s.cancelAtProvider(ctx, a)
			}
		}
	}
	return n, nil
}
