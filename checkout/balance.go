package checkout

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// MethodBalance pays from the buyer's own account balance, in any currency,
// at once and without a provider.
const MethodBalance providers.Method = "balance"

// ProviderInternal is the "provider" of balance payments.
const ProviderInternal = "internal"

// BuyerBalance returns what the buyer of an order has in the order's
// currency.
func (s *Service) BuyerBalance(ctx context.Context, tx *storage.Tx, po PaymentOrder) (paygate.Money, error) {
	b, err := s.cfg.Ledger.Balance(ctx, tx, ledger.UserBalance(po.BuyerID), po.Amount.Currency)
	if err != nil {
		return paygate.Money{}, err
	}
	return b.Normal(), nil
}

// CanPayWithBalance reports whether the buyer's balance covers the order.
func (s *Service) CanPayWithBalance(ctx context.Context, po PaymentOrder) bool {
	ok := false
	s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		ok, err = s.balanceCovers(ctx, tx, po)
		return err
	})
	return ok
}

// balanceCovers reports whether po's buyer's balance, as tx sees it,
// covers po's amount.
func (s *Service) balanceCovers(ctx context.Context, tx *storage.Tx, po PaymentOrder) (bool, error) {
	b, err := s.BuyerBalance(ctx, tx, po)
	return err == nil && b.Minor >= po.Amount.Minor, err
}

// payWithBalance pays an order from its buyer's balance in one database
// transaction: the attempt, the order, its sales orders and the posting
// buyer balance → escrows. A balance that does not cover the amount is
// refused atomically (EINSUFFICIENT), also when payments race.
func (s *Service) payWithBalance(ctx context.Context, p paygate.PaymentOrderNumber) (Attempt, error) {
	id, err := s.newAttemptID()
	if err != nil {
		return Attempt{}, err
	}
	var att Attempt
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		po, err := getOrder(ctx, tx, p, true)
		if err != nil {
			return err
		}
		if po.Status.Final() {
			return paygate.Errorf(paygate.ECONFLICT, "payment order %s is %s", p, po.Status)
		}
		if !tx.Now().Before(po.ExpiresAt) {
			return paygate.Errorf(paygate.ECONFLICT, "payment order %s has expired", p)
		}
		all, err := attempts(ctx, tx, p)
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.Status == AttemptProcessing {
				return paygate.Errorf(paygate.ECONFLICT, "payment order %s has a payment in progress (%s); wait for its result", p, a.Method)
			}
		}
		// Open attempts at providers are replaced; canceled at them below.
		for _, a := range all {
			if a.Status.open() {
				if _, err := replace(ctx, tx, a, id); err != nil {
					return err
				}
			}
		}
		att = Attempt{ID: id, PaymentOrder: p, Method: MethodBalance, Provider: ProviderInternal, Amount: po.Amount,
			Status: AttemptSucceeded, NextAction: providers.NextAction{Type: providers.ActionNone}, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, payment_order, seq, method, provider, amount, currency, status, next_action, failure_reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', '', ?, ?)`,
			id, string(p), len(all)+1, string(MethodBalance), ProviderInternal, po.Amount.Minor, string(po.Amount.Currency), string(AttemptSucceeded), tx.Now(), tx.Now()); err != nil {
			return fmt.Errorf("checkout: insert balance attempt: %w", err)
		}
		_, err = s.pay(ctx, tx, att, ledger.UserBalance(po.BuyerID), fmt.Sprintf("payment order %s paid from the buyer's balance (%s)", p, id))
		var short *ledger.InsufficientFundsError
		if errors.As(err, &short) {
			return paygate.Errorf(paygate.EINSUFFICIENT, "the buyer's balance (%s) does not cover %s", short.Available, po.Amount)
		}
		return err
	})
	if err != nil {
		return Attempt{}, err
	}
	s.cfg.Logger.Info().Str(FieldPaymentOrder, string(p)).Str(FieldAttempt, id).Msg("payment order paid from the buyer's balance")
	po, err := s.Get(ctx, p)
	if err == nil {
		for _, a := range po.Attempts {
			if a.Status == AttemptCanceled && a.ReplacedBy == id {
				s.cancelAtProvider(ctx, a)
			}
		}
	}
	return att, nil
}
