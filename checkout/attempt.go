package checkout

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/taxid"
)

// checkPayer validates and normalizes what a method needs of the payer:
// Boleto needs a name, an email, a Brazilian address and a CPF or CNPJ with
// valid check digits.
func checkPayer(mi providers.MethodInfo, payer providers.Payer) (providers.Payer, error) {
	if !mi.NeedsPayer {
		return providers.Payer{Name: strings.TrimSpace(payer.Name), Email: strings.TrimSpace(payer.Email)}, nil
	}
	invalid := func(format string, args ...any) (providers.Payer, error) {
		return providers.Payer{}, paygate.Errorf(paygate.EINVALID, format, args...)
	}
	payer.Name = strings.TrimSpace(payer.Name)
	payer.Email = strings.TrimSpace(payer.Email)
	a := &payer.Address
	a.Line1, a.City, a.State, a.PostalCode = strings.TrimSpace(a.Line1), strings.TrimSpace(a.City), strings.TrimSpace(a.State), strings.TrimSpace(a.PostalCode)
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	if a.Country == "" {
		a.Country = "BR"
	}
	switch {
	case payer.Name == "" || len(payer.Name) > 200:
		return invalid("%s needs the payer's name", mi.Label)
	case !validEmail(payer.Email):
		return invalid("%s needs the payer's email address; the one given is not one", mi.Label)
	case a.Line1 == "" || a.City == "" || a.State == "" || a.PostalCode == "":
		return invalid("%s needs the payer's address: line1, city, state and postal_code", mi.Label)
	case a.Country != "BR":
		return invalid("%s needs an address in Brazil (country BR)", mi.Label)
	}
	a.State = strings.ToUpper(a.State)
	if !brazilianStates[a.State] {
		return invalid("%s needs the payer's state as one of Brazil's 27 two-letter codes (SP, RJ, MG, …); %q is not one", mi.Label, clip(a.State))
	}
	cep := strings.ReplaceAll(a.PostalCode, "-", "")
	if len(cep) != 8 || strings.Trim(cep, "0123456789") != "" {
		return invalid("%s needs the payer's postal code (CEP) as 8 digits, such as 01310-100; %q is not one", mi.Label, clip(a.PostalCode))
	}
	a.PostalCode = cep
	id := taxid.Normalize(payer.TaxID)
	if !taxid.Valid(id) {
		return invalid("%s needs the payer's CPF (11 digits) or CNPJ (14 characters) with valid check digits", mi.Label)
	}
	payer.TaxID = id
	return payer, nil
}

// brazilianStates are the two-letter codes of Brazil's 26 states and its
// federal district, which a boleto's payer address must name.
var brazilianStates = map[string]bool{
	"AC": true, "AL": true, "AP": true, "AM": true, "BA": true, "CE": true, "DF": true, "ES": true, "GO": true,
	"MA": true, "MT": true, "MS": true, "MG": true, "PA": true, "PB": true, "PR": true, "PE": true, "PI": true,
	"RJ": true, "RN": true, "RS": true, "RO": true, "RR": true, "SC": true, "SP": true, "SE": true, "TO": true,
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// clip bounds a stored failure reason or a quoted value, cut on a character
// boundary.
func clip(s string) string { return paygate.Clip(s, 60) }

func (s *Service) newAttemptID() (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("checkout: attempt id: %w", err)
	}
	return "att_" + hex.EncodeToString(b), nil
}

// StartAttempt starts paying a payment order with a method: it checks the
// method takes the order's currency and the payer (Boleto), replaces any
// open attempt (canceled at its provider where the provider allows it; a
// boleto voucher stays payable, and its late payment is kept), records the
// new attempt, asks the provider for the payment and returns the attempt
// with its next action. A paid, expired or canceled order is a conflict;
// an order at its cap of attempts (see Config.MaxLiveAttempts and
// MaxAttempts) is ELIMIT, refused before anything changes or any provider
// is asked.
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
	prov, err := s.provider(mi)
	if err != nil {
		return Attempt{}, err
	}
	payer, err = checkPayer(mi, payer)
	if err != nil {
		return Attempt{}, err
	}
	id, err := s.newAttemptID()
	if err != nil {
		return Attempt{}, err
	}

	var att Attempt
	var replaced []Attempt
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		replaced = nil
		po, err := getOrder(ctx, tx, p, true)
		if err != nil {
			return err
		}
		if mi.Currency != po.Amount.Currency {
			return paygate.Errorf(paygate.EINVALID, "%s takes %s; payment order %s is in %s", mi.Label, mi.Currency, p, po.Amount.Currency)
		}
		if po.Status.Final() {
			return paygate.Errorf(paygate.ECONFLICT, "payment order %s is %s", p, po.Status)
		}
		if !tx.Now().Before(po.ExpiresAt) {
			return paygate.Errorf(paygate.ECONFLICT, "payment order %s expired at %s", p, po.ExpiresAt.Format("2006-01-02 15:04 MST"))
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
		if err := s.checkAttemptCaps(p, all, tx.Now()); err != nil {
			return err
		}
		for _, a := range all {
			switch a.Status {
			case AttemptCreating, AttemptPending:
				a.replace(id)
				if err := setAttempt(ctx, tx, a); err != nil {
					return err
				}
				replaced = append(replaced, a)
			}
		}
		att = Attempt{ID: id, PaymentOrder: p, Method: method, Provider: mi.Provider, Amount: po.Amount,
			Status: AttemptCreating, NextAction: providers.NextAction{Type: providers.ActionNone}, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, payment_order, seq, method, provider, amount, currency, status, next_action, failure_reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', '', ?, ?)`,
			id, string(p), len(all)+1, string(method), mi.Provider, po.Amount.Minor, string(po.Amount.Currency), string(AttemptCreating), tx.Now(), tx.Now()); err != nil {
			return fmt.Errorf("checkout: insert attempt: %w", err)
		}
		return s.setOrderStatus(ctx, tx, p, Pending, "")
	})
	if err != nil {
		return Attempt{}, err
	}
	log := s.cfg.Logger.With().Str(FieldPaymentOrder, string(p)).Str(FieldAttempt, id).Str(FieldMethod, string(method)).Logger()
	for _, r := range replaced {
		s.cancelAtProvider(ctx, r)
	}

	pay, err := prov.CreatePayment(ctx, providers.PaymentRequest{
		Method: method, Amount: att.Amount, PaymentOrder: string(p), Attempt: id,
		IdempotencyKey: "attempt:" + id, ReturnURL: s.ReturnPageURL(p),
		Description: "Payment order " + string(p), Payer: payer,
	})
	if err != nil {
		log.Warn().Err(err).Msg("provider refused the payment")
		if ferr := s.failAttempt(ctx, id, err); ferr != nil {
			return Attempt{}, errors.Join(err, ferr)
		}
		return Attempt{}, err
	}

	var cancel bool
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		a, err := getAttempt(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		a.ProviderRef, a.NextAction = pay.Ref, pay.NextAction
		// An event may have moved the attempt on already; only a creating
		// attempt takes the provider's status. One replaced meanwhile is
		// canceled at the provider below.
		cancel = a.Status == AttemptCanceled
		if a.Status == AttemptCreating {
			a.Status = attemptStatus(pay.Status)
			a.FailureReason = pay.FailureReason
		}
		att = a
		if err := setAttempt(ctx, tx, a); err != nil {
			return err
		}
		// A voucher stays payable until its due date, and the bank takes
		// days to clear it: the order waits for it rather than turning a
		// payment made in time into a late one.
		if na := pay.NextAction; na.Type == providers.ActionVoucher && !na.ExpiresAt.IsZero() {
			if _, err := tx.Exec(ctx, `UPDATE payment_orders SET expires_at = ? WHERE number = ? AND expires_at < ?`,
				na.ExpiresAt.Add(VoucherClearing).UTC(), string(p), na.ExpiresAt.Add(VoucherClearing).UTC()); err != nil {
				return fmt.Errorf("checkout: extend %s for its voucher: %w", p, err)
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
	log.Info().Str(FieldProviderRef, pay.Ref).Str("status", string(att.Status)).Msg("payment attempt started")
	return att, nil
}

// attemptStatus maps a provider status onto an attempt's.
func attemptStatus(st providers.Status) AttemptStatus {
	switch st {
	case providers.StatusProcessing:
		return AttemptProcessing
	case providers.StatusSucceeded:
		// Success is only taken from a verified event, never from an API
		// answer alone; until then the attempt is processing.
		return AttemptProcessing
	case providers.StatusFailed:
		return AttemptFailed
	case providers.StatusCanceled:
		return AttemptCanceled
	case providers.StatusExpired:
		return AttemptExpired
	}
	return AttemptPending
}

// failAttempt records that the provider refused to start the payment.
func (s *Service) failAttempt(ctx context.Context, id string, cause error) error {
	return s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		a, err := getAttempt(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		if a.Status != AttemptCreating {
			return nil
		}
		a.Status, a.FailureReason = AttemptFailed, clip(redact.String(paygate.ErrorMessage(cause)))
		if err := setAttempt(ctx, tx, a); err != nil {
			return err
		}
		return s.orderAfterAttempt(ctx, tx, a)
	})
}

// orderAfterAttempt marks the order failed when its latest attempt ended
// without paying, so the buyer can try again.
func (s *Service) orderAfterAttempt(ctx context.Context, tx *storage.Tx, a Attempt) error {
	po, err := getOrder(ctx, tx, a.PaymentOrder, true)
	if err != nil || po.Status != Pending {
		return err
	}
	all, err := attempts(ctx, tx, a.PaymentOrder)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Status.open() {
			return nil
		}
	}
	return s.setOrderStatus(ctx, tx, a.PaymentOrder, Failed, "")
}

// cancelAtProvider asks the provider to cancel a replaced attempt. It is
// best effort: a payment that cannot be canceled (a boleto voucher) and is
// paid later is settled as a late payment.
func (s *Service) cancelAtProvider(ctx context.Context, a Attempt) {
	if a.ProviderRef == "" {
		return
	}
	prov, err := s.Provider(a)
	if err == nil {
		err = prov.CancelPayment(ctx, a.ProviderRef)
	}
	log := s.cfg.Logger.With().Str(FieldAttempt, a.ID).Str(FieldProviderRef, a.ProviderRef).Logger()
	switch {
	case err == nil:
		log.Info().Msg("replaced attempt canceled at its provider")
	case errors.Is(err, providers.ErrNotCancelable):
		log.Info().Msg("replaced attempt cannot be canceled at its provider; a late payment will be credited")
	default:
		log.Warn().Err(err).Msg("cancel replaced attempt at its provider")
	}
}

// LatestAttempt returns the newest attempt of a payment order, whatever its
// state, or ENOTFOUND.
func (s *Service) LatestAttempt(ctx context.Context, p paygate.PaymentOrderNumber) (Attempt, error) {
	po, err := s.Get(ctx, p)
	if err != nil {
		return Attempt{}, err
	}
	if len(po.Attempts) == 0 {
		return Attempt{}, paygate.Errorf(paygate.ENOTFOUND, "payment order %s has no payment attempt", p)
	}
	return po.Attempts[len(po.Attempts)-1], nil
}
