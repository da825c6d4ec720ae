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
		a.FailureReason = clip(redact.String(paygate.ErrorMessage(cause)))
		if a, err = moveAttempt(ctx, tx, a, AttemptFailed); err != nil {
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
		if o.Status.open() && !o.lost() {
			return nil
		}
	}
	_, err = s.moveOrder(ctx, tx, a.PaymentOrder, orderMove{to: Failed})
	return err
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
