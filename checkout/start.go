package checkout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
)

// StartAttempt starts paying a payment order with a method: it checks the
// method takes the order's currency and the payer (Boleto), replaces any
// open attempt (canceled at its provider where the provider allows it; a
// boleto voucher stays payable, and its late payment is kept), records the
// new attempt, asks the provider for the payment and returns the attempt
// with its next action. A paid, expired or canceled order is a conflict;
// an order at its cap of attempts (see Config.MaxLiveAttempts and
// MaxAttempts) is ELIMIT, refused before anything changes or any provider
// is asked.
//
// The provider is the first of the method's route (Config.Router) whose
// circuit breaker is not open. A create that fails with an outage (the
// provider unreachable, timed out, a 5xx, or its "method unavailable"
// answer: an EUNAVAILABLE error) fails over to the route's next provider
// as a new attempt (route "failover"), and the buyer gets one answer: the
// first payment taken, or one EUNAVAILABLE error when no provider could
// take it. A create that may have reached its provider (anything but a
// refused connection or a "method unavailable" answer) is first looked up
// there by paygate's reference (providers.Finder): a payment found is used
// and nothing fails over, so no order has two live payments; when the
// provider cannot tell, the attempt is left lost (Attempt.lost) for the
// janitor to look up and cancel (FindLost). Nothing fails over once the
// provider answered: a decline (EINVALID, or a payment returned failed) is
// the buyer's answer.
//
// The buyer's return from a gateway proves nothing: only a verified event
// (ApplyEvent) marks an order paid.
func (s *Service) StartAttempt(ctx context.Context, p paygate.PaymentOrderNumber, method providers.Method, payer providers.Payer) (Attempt, error) {
	if method == MethodBalance {
		return s.payWithBalance(ctx, p)
	}
	mi, ok := providers.Lookup(method)
	if !ok {
		return Attempt{}, paygate.Errorf(paygate.EINVALID, "unknown payment method %q", clip(string(method)))
	}
	payer, err := checkPayer(mi, payer)
	if err != nil {
		return Attempt{}, err
	}
	order, first := []string{mi.Provider}, routing.ReasonPrimary
	if s.cfg.Router != nil {
		order, first = s.cfg.Router.Order(method)
	}
	r := &routeRun{s: s, p: p, mi: mi, payer: payer, why: routing.Decision{Reason: first},
		log: s.cfg.Logger.With().Str(FieldPaymentOrder, string(p)).Str(FieldMethod, string(method)).Logger()}
	for _, name := range order {
		att, done, err := r.try(ctx, name)
		if done {
			return att, err
		}
	}
	return Attempt{}, r.exhausted(ctx)
}

// routeRun is one buyer action walking its method's route: the providers
// tried so far and why each could not take the payment.
type routeRun struct {
	s     *Service
	p     paygate.PaymentOrderNumber
	mi    providers.MethodInfo
	payer providers.Payer
	log   zerolog.Logger

	why     routing.Decision // the route of the next attempt
	started bool             // the action's first attempt is recorded (caps checked, open attempts replaced)
	last    *Attempt         // the latest attempt recorded, when it failed over
	lost    string           // a lost attempt that the next attempt replaces
	causes  []string         // why each provider could not take it
	lastErr error            // the latest provider's error
}

// skip moves the route past provider name, which could not take the
// payment for cause.
func (r *routeRun) skip(name, cause string) {
	r.why = routing.Decision{Reason: routing.ReasonFailover, From: name, Cause: cause}
	r.causes = append(r.causes, cause)
}

// try offers the payment to provider name. done says the buyer's answer is
// att or err; otherwise the route goes on to its next provider.
func (r *routeRun) try(ctx context.Context, name string) (att Attempt, done bool, err error) {
	s := r.s
	prov := s.cfg.Providers[name]
	switch {
	case prov == nil:
		r.skip(name, name+" is not configured")
		r.lastErr = paygate.Errorf(paygate.EUNAVAILABLE, "payment method %s is not available: provider %s is not configured", r.mi.Method, name)
		return Attempt{}, false, nil
	case s.cfg.Router != nil && s.cfg.Router.Open(name, r.mi.Method):
		r.skip(name, name+" circuit breaker open")
		r.lastErr = paygate.Errorf(paygate.EUNAVAILABLE, "payment method %s is not available at %s now: its circuit breaker is open", r.mi.Method, name)
		return Attempt{}, false, nil
	}
	att, replaced, err := r.record(ctx, name)
	if err != nil {
		return Attempt{}, true, err
	}
	for _, a := range replaced {
		s.cancelAtProvider(ctx, a)
	}
	log := r.log.With().Str(FieldAttempt, att.ID).Str(FieldProvider, name).Logger()
	req := s.paymentRequest(att, r.payer)
	pay, err := s.create(ctx, prov, req)
	if err == nil {
		att, err = s.took(ctx, att, pay)
		if err == nil {
			log.Info().Str(FieldProviderRef, pay.Ref).Str("status", string(att.Status)).Str("route", att.Route.String()).Msg("payment attempt started")
		}
		return att, true, err
	}
	if ctx.Err() != nil || !routing.Outage(err) {
		// A decline, a refused request, or a buyer who went away: the
		// answer, never a reason to try elsewhere.
		log.Warn().Err(err).Msg("provider refused the payment")
		if ferr := s.failAttempt(ctx, att.ID, err); ferr != nil {
			return Attempt{}, true, errors.Join(err, ferr)
		}
		return Attempt{}, true, err
	}
	return r.outage(ctx, att, prov, req, err, log)
}

// outage handles a create at att's provider that failed with an outage:
// a payment the provider turns out to hold is the answer; otherwise att
// fails over (or is left lost) and the route goes on.
func (r *routeRun) outage(ctx context.Context, att Attempt, prov providers.Provider, req providers.PaymentRequest, cause error, log zerolog.Logger) (Attempt, bool, error) {
	s := r.s
	r.lastErr = cause
	lost := false
	if mayHaveReached(cause) {
		pay, err := s.find(ctx, prov, req)
		switch {
		case err == nil:
			log.Warn().Err(cause).Str(FieldProviderRef, pay.Ref).Msg("the provider's create failed, but it holds the attempt's payment: using it")
			att, err := s.took(ctx, att, pay)
			return att, true, err
		case paygate.ErrorCode(err) != paygate.ENOTFOUND:
			lost = true
		}
	}
	why := causeOf(att.Provider, cause, s.cfg.CreateTimeout.String())
	r.skip(att.Provider, why)
	if err := s.failOver(ctx, att.ID, why, lost); err != nil {
		return Attempt{}, true, errors.Join(cause, err)
	}
	att.Status = AttemptFailed
	if lost {
		att.Status = AttemptCreating
		r.lost = att.ID
	}
	r.last = &att
	log.Warn().Err(cause).Bool("lost", lost).Msg("provider could not take the payment: failing over")
	return Attempt{}, false, nil
}

// exhausted ends a route no provider could take: a lost attempt that no
// other attempt replaced fails (as a create that never answered always
// did), the order moves on as after any failed attempt, and the buyer gets
// one EUNAVAILABLE error.
func (r *routeRun) exhausted(ctx context.Context) error {
	s := r.s
	if r.last != nil {
		err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
			a, err := getAttempt(ctx, tx, "id = ?", r.last.ID)
			if err != nil {
				return err
			}
			if a.Status == AttemptCreating && a.ID == r.lost {
				if a, err = moveAttempt(ctx, tx, a, AttemptFailed); err != nil {
					return err
				}
			}
			return s.orderAfterAttempt(ctx, tx, a)
		})
		if err != nil {
			return errors.Join(r.lastErr, err)
		}
	}
	if len(r.causes) <= 1 && r.lastErr != nil {
		return r.lastErr
	}
	return paygate.Errorf(paygate.EUNAVAILABLE, "%s is not available now (%s); try again later or choose another method",
		r.mi.Label, strings.Join(r.causes, "; "))
}

// record records the route's next attempt, at provider name. The action's
// first attempt checks the order and its caps and replaces its open
// attempts (returned, to cancel at their providers); a failover attempt
// only follows the one before it, and replaces a lost one.
func (r *routeRun) record(ctx context.Context, name string) (Attempt, []Attempt, error) {
	s := r.s
	id, err := s.newAttemptID()
	if err != nil {
		return Attempt{}, nil, err
	}
	var att Attempt
	var replaced []Attempt
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		replaced = nil
		po, all, err := s.lockForAttempt(ctx, tx, r.p, r.mi, !r.started)
		if err != nil {
			return err
		}
		for _, a := range all {
			switch {
			case a.ID == r.lost:
				a.ReplacedBy = id
				a.FailureReason = paygate.Clip("failed over to "+id+": "+r.why.Cause+"; the janitor looks its payment up", 160)
				if _, err := moveAttempt(ctx, tx, a, a.Status); err != nil {
					return err
				}
			case !r.started && (a.Status == AttemptCreating || a.Status == AttemptPending) && !a.lost():
				a, err := replace(ctx, tx, a, id)
				if err != nil {
					return err
				}
				replaced = append(replaced, a)
			}
		}
		att = Attempt{ID: id, PaymentOrder: r.p, Method: r.mi.Method, Provider: name, Amount: po.Amount, Route: r.why,
			Status: AttemptCreating, NextAction: providers.NextAction{Type: providers.ActionNone}, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		if err := insertAttempt(ctx, tx, att, len(all)+1); err != nil {
			return err
		}
		_, err = s.moveOrder(ctx, tx, r.p, orderMove{to: Pending})
		return err
	})
	if err != nil {
		return Attempt{}, nil, err
	}
	r.started, r.lost = true, ""
	return att, replaced, nil
}

// lockForAttempt locks payment order p and checks that it can take a new
// attempt with method mi: its currency, its state, and (with caps, for a
// buyer's action rather than a failover) its attempt caps. It returns the
// order and its attempts.
func (s *Service) lockForAttempt(ctx context.Context, tx *storage.Tx, p paygate.PaymentOrderNumber, mi providers.MethodInfo, caps bool) (PaymentOrder, []Attempt, error) {
	po, err := getOrder(ctx, tx, p, true)
	if err != nil {
		return PaymentOrder{}, nil, err
	}
	if mi.Currency != po.Amount.Currency {
		return PaymentOrder{}, nil, paygate.Errorf(paygate.EINVALID, "%s takes %s; payment order %s is in %s", mi.Label, mi.Currency, p, po.Amount.Currency)
	}
	if po.Status.Final() {
		return PaymentOrder{}, nil, paygate.Errorf(paygate.ECONFLICT, "payment order %s is %s", p, po.Status)
	}
	if !tx.Now().Before(po.ExpiresAt) {
		return PaymentOrder{}, nil, paygate.Errorf(paygate.ECONFLICT, "payment order %s expired at %s", p, po.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	all, err := attempts(ctx, tx, p)
	if err != nil {
		return PaymentOrder{}, nil, err
	}
	for _, a := range all {
		if a.Status == AttemptProcessing {
			return PaymentOrder{}, nil, paygate.Errorf(paygate.ECONFLICT, "payment order %s has a payment in progress (%s); wait for its result", p, a.Method)
		}
	}
	if caps {
		if err := s.checkAttemptCaps(p, all, tx.Now()); err != nil {
			return PaymentOrder{}, nil, err
		}
	}
	return po, all, nil
}

// insertAttempt inserts a new attempt as the order's seq-th.
func insertAttempt(ctx context.Context, tx *storage.Tx, a Attempt, seq int) error {
	if _, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, payment_order, seq, method, provider, amount, currency, status, next_action, failure_reason,
		route, route_from, route_cause, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', '', ?, ?, ?, ?, ?)`,
		a.ID, string(a.PaymentOrder), seq, string(a.Method), a.Provider, a.Amount.Minor, string(a.Amount.Currency), string(a.Status),
		string(a.Route.Reason), a.Route.From, a.Route.Cause, a.CreatedAt, a.UpdatedAt); err != nil {
		return fmt.Errorf("checkout: insert attempt: %w", err)
	}
	return nil
}

// paymentRequest is the request of attempt a's payment, which also finds
// it again (providers.Finder): its reference is the attempt id and the
// idempotency key derived from it.
func (s *Service) paymentRequest(a Attempt, payer providers.Payer) providers.PaymentRequest {
	return providers.PaymentRequest{
		Method: a.Method, Amount: a.Amount, PaymentOrder: string(a.PaymentOrder), Attempt: a.ID,
		IdempotencyKey: "attempt:" + a.ID, ReturnURL: s.ReturnPageURL(a.PaymentOrder),
		Description: "Payment order " + string(a.PaymentOrder), Payer: payer,
	}
}

// create asks prov for req's payment within Config.CreateTimeout, through
// the provider and method's circuit breaker when there is a Router.
func (s *Service) create(ctx context.Context, prov providers.Provider, req providers.PaymentRequest) (providers.Payment, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CreateTimeout)
	defer cancel()
	call := func() (providers.Payment, error) { return prov.CreatePayment(cctx, req) }
	if s.cfg.Router == nil {
		return call()
	}
	return s.cfg.Router.Call(ctx, prov.Name(), req.Method, call)
}

// find looks req's payment up at prov (providers.Finder) within
// Config.CreateTimeout: ENOTFOUND when prov certainly has none, another
// error when it cannot tell (or cannot be asked: it is no Finder).
func (s *Service) find(ctx context.Context, prov providers.Provider, req providers.PaymentRequest) (providers.Payment, error) {
	f, ok := prov.(providers.Finder)
	if !ok {
		return providers.Payment{}, paygate.Errorf(paygate.EUNAVAILABLE, "%s cannot look a payment up by paygate's reference", prov.Name())
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CreateTimeout)
	defer cancel()
	return f.FindPayment(cctx, req)
}

// mayHaveReached reports whether a create that failed with err may have
// made a payment at the provider: anything but a connection that was never
// made (refused, the dial or the name look-up failed), a provider not
// called (its breaker open), or the provider's "method unavailable"
// answer. When in doubt it says yes: looking a payment up costs a call,
// two live payments cost a buyer.
func mayHaveReached(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case providers.IsMethodUnavailable(err), routing.IsOpen(err), errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dns):
		return false
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return true
}

// causeOf says shortly why provider could not take a payment, for the
// next attempt's route and the failed attempt's reason.
func causeOf(provider string, err error, timeout string) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return provider + " timed out after " + timeout
	case providers.IsMethodUnavailable(err):
		return provider + " method unavailable"
	case routing.IsOpen(err):
		return provider + " circuit breaker open"
	}
	return provider + " unavailable: " + paygate.Clip(redact.String(paygate.ErrorMessage(err)), 100)
}

// failOver records that attempt id's provider could not take its payment
// for cause, without moving its order (the route goes on): failed, or,
// when lost, left creating for the janitor.
func (s *Service) failOver(ctx context.Context, id, cause string, lost bool) error {
	return s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		a, err := getAttempt(ctx, tx, "id = ?", id)
		if err != nil || a.Status != AttemptCreating {
			return err
		}
		a.FailureReason = paygate.Clip("failed over: "+cause, 120)
		to := AttemptFailed
		if lost {
			to = a.Status
		}
		_, err = moveAttempt(ctx, tx, a, to)
		return err
	})
}

// took records the payment the provider took for attempt att and returns
// the attempt as recorded; an attempt replaced meanwhile has its payment
// canceled at the provider.
func (s *Service) took(ctx context.Context, att Attempt, pay providers.Payment) (Attempt, error) {
	var cancel bool
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		a, err := getAttempt(ctx, tx, "id = ?", att.ID)
		if err != nil {
			return err
		}
		a.ProviderRef, a.NextAction = pay.Ref, pay.NextAction
		// An event may have moved the attempt on already; only a creating
		// attempt takes the provider's status. One replaced meanwhile is
		// canceled at the provider below.
		cancel = a.Status == AttemptCanceled
		to := a.Status
		if a.Status == AttemptCreating {
			to, a.FailureReason = attemptStatus(pay.Status), pay.FailureReason
		}
		if att, err = moveAttempt(ctx, tx, a, to); err != nil {
			return err
		}
		// A voucher stays payable until its due date, and the bank takes
		// days to clear it: the order waits for it rather than turning a
		// payment made in time into a late one.
		if na := pay.NextAction; na.Type == providers.ActionVoucher && !na.ExpiresAt.IsZero() {
			if _, err := tx.Exec(ctx, `UPDATE payment_orders SET expires_at = ? WHERE number = ? AND expires_at < ?`,
				na.ExpiresAt.Add(VoucherClearing).UTC(), string(a.PaymentOrder), na.ExpiresAt.Add(VoucherClearing).UTC()); err != nil {
				return fmt.Errorf("checkout: extend %s for its voucher: %w", a.PaymentOrder, err)
			}
		}
		return nil
	})
	if err != nil {
		return Attempt{}, err
	}
	if cancel {
		s.cancelAtProvider(ctx, att)
	}
	return att, nil
}
