package checkout

import (
	"context"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
)

// Defaults of the caps on a payment order's attempts (Config.MaxLiveAttempts
// and Config.MaxAttempts). A buyer who changes their mind a few times stays
// far below them; a script that starts payment after payment does not.
const (
	DefaultMaxLiveAttempts = 5
	DefaultMaxAttempts     = 20
)

// replace cancels a, replaced by the attempt id, and returns it as
// written: its replaced_by column, which the caps read, and a failure
// reason for people.
func replace(ctx context.Context, tx *storage.Tx, a Attempt, id string) (Attempt, error) {
	a.ReplacedBy, a.FailureReason = id, "replaced by "+id
	return moveAttempt(ctx, tx, a, AttemptCanceled)
}

// stillPayable reports whether the provider payment of a may still be paid
// at now: an open attempt, or a voucher that a newer attempt replaced but
// which the provider could not cancel (a boleto stays payable until its due
// date). A voucher whose due date is not known yet (its provider call is in
// flight) counts as payable.
func stillPayable(a Attempt, now time.Time) bool {
	if a.Status.open() {
		return true
	}
	if a.Status != AttemptCanceled || a.ReplacedBy == "" {
		return false
	}
	mi, _ := providers.Lookup(a.Method)
	if mi.Action != providers.ActionVoucher && a.NextAction.Type != providers.ActionVoucher {
		return false
	}
	exp := a.NextAction.ExpiresAt
	return exp.IsZero() || now.Before(exp)
}

// checkAttemptCaps refuses a new provider attempt on order p, whose attempts
// so far are all, when the order already has MaxLiveAttempts payments that
// can still be paid, or MaxAttempts attempts in all. Without the caps a
// script could make any number of provider payments for one order (each
// boleto voucher stays payable), and each one paid would be money to hand
// back. The error is ELIMIT: waiting does not lift the total cap, and the
// live one only lifts as vouchers expire or are paid.
//
// The caps count what buyers do, so a failover chain counts as the one
// action that started it: the total cap counts attempts that are not
// failovers, and StartAttempt checks the caps once per action, before its
// first attempt. A failover is paygate's doing, bounded by the route's
// length, and it leaves nothing payable behind (the attempt it follows
// failed, or is lost: shown to no one, and canceled at its provider by the
// janitor), so a buyer whose first provider is down is not charged an
// attempt per provider tried. Lost attempts still count as live until the
// janitor settles them: they may be payable at their provider.
func (s *Service) checkAttemptCaps(p paygate.PaymentOrderNumber, all []Attempt, now time.Time) error {
	actions := 0
	for _, a := range all {
		if a.Route.Reason != routing.ReasonFailover {
			actions++
		}
	}
	if actions >= s.cfg.MaxAttempts {
		return paygate.Errorf(paygate.ELIMIT,
			"payment order %s has had %d payment attempts, the most allowed; please ask the shop for a new order", p, actions)
	}
	live := 0
	for _, a := range all {
		if stillPayable(a, now) {
			live++
		}
	}
	if live >= s.cfg.MaxLiveAttempts {
		return paygate.Errorf(paygate.ELIMIT,
			"payment order %s has %d payments that can still be paid, the most allowed; pay one of them, or wait until a voucher expires", p, live)
	}
	return nil
}
