package stripe

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
)

// payment maps a PaymentIntent from an API response to a providers.Payment.
// A PaymentIntent without an id or in a currency paygate does not know is
// an EINTERNAL error: Stripe answered, but not with something usable.
func (c *Client) payment(ctx context.Context, pi *stripego.PaymentIntent) (providers.Payment, error) {
	if pi == nil || pi.ID == "" {
		return providers.Payment{}, paygate.Errorf(paygate.EINTERNAL, "stripe: the response holds no PaymentIntent id")
	}
	cur, err := currency(pi.Currency)
	if err != nil {
		return providers.Payment{}, paygate.Errorf(paygate.EINTERNAL, "stripe: payment %s: %s", paygate.Clip(pi.ID, maxQuoted), paygate.ErrorMessage(err))
	}
	status, reason, known := intentStatus(pi)
	if !known {
		l := c.logger(ctx)
		l.Warn().
			Str(FieldPaymentRef, pi.ID).
			Str(FieldStripeStatus, string(pi.Status)).
			Msg("unknown PaymentIntent status taken as pending")
	}
	p := providers.Payment{
		Ref:           pi.ID,
		Status:        status,
		Amount:        paygate.Money{Minor: pi.Amount, Currency: cur},
		NextAction:    providers.NextAction{Type: providers.ActionNone},
		FailureReason: reason,
	}
	if status == providers.StatusPending {
		p.NextAction = c.nextAction(pi)
	}
	return p, nil
}

// currency reads one of Stripe's lowercase currency codes.
func currency(c stripego.Currency) (paygate.Currency, error) {
	return paygate.ParseCurrency(strings.ToUpper(string(c)))
}

// intentStatus maps a PaymentIntent's status. The status alone decides:
// last_payment_error only says why a requires_payment_method attempt failed
// (or that it expired), and canceled_at is never read, because stripe-mock
// answers every PaymentIntent with both set. known is false for a status
// this version does not know, which is taken as pending.
func intentStatus(pi *stripego.PaymentIntent) (s providers.Status, reason string, known bool) {
	switch pi.Status {
	case stripego.PaymentIntentStatusRequiresPaymentMethod:
		if e := pi.LastPaymentError; e != nil {
			if e.Code == stripego.ErrorCodePaymentIntentPaymentAttemptExpired {
				return providers.StatusExpired, errorReason(e), true
			}
			return providers.StatusFailed, errorReason(e), true
		}
		return providers.StatusPending, "", true
	case stripego.PaymentIntentStatusRequiresConfirmation, stripego.PaymentIntentStatusRequiresAction:
		return providers.StatusPending, "", true
	case stripego.PaymentIntentStatusProcessing, stripego.PaymentIntentStatusRequiresCapture:
		return providers.StatusProcessing, "", true
	case stripego.PaymentIntentStatusSucceeded:
		return providers.StatusSucceeded, "", true
	case stripego.PaymentIntentStatusCanceled:
		return providers.StatusCanceled, string(pi.CancellationReason), true
	}
	return providers.StatusPending, "", false
}

// errorReason is the most readable of a payment error's message, code and
// type.
func errorReason(e *stripego.Error) string {
	switch {
	case e.Msg != "":
		return redact.String(e.Msg)
	case e.Code != "":
		return string(e.Code)
	default:
		return string(e.Type)
	}
}

// nextAction maps a pending PaymentIntent's next_action. stripe-go v76 has
// no constants for the PayNow and Boleto types, so the non-nil sub-object
// decides; anything else (stripe-mock's {"type":"type"}, a PaymentIntent
// not confirmed yet) is ActionNone.
func (c *Client) nextAction(pi *stripego.PaymentIntent) providers.NextAction {
	na := pi.NextAction
	switch {
	case na == nil:
	case na.RedirectToURL != nil && na.RedirectToURL.URL != "":
		return providers.NextAction{Type: providers.ActionRedirect, URL: na.RedirectToURL.URL}
	case na.PayNowDisplayQRCode != nil:
		qr := na.PayNowDisplayQRCode
		return providers.NextAction{
			Type:       providers.ActionQR,
			URL:        qr.HostedInstructionsURL,
			QRData:     qr.Data,
			QRImageURL: qr.ImageURLPNG,
			ExpiresAt:  c.qrExpiry(pi),
		}
	case na.BoletoDisplayDetails != nil:
		b := na.BoletoDisplayDetails
		a := providers.NextAction{
			Type:          providers.ActionVoucher,
			URL:           b.HostedVoucherURL,
			VoucherNumber: b.Number,
		}
		if b.ExpiresAt > 0 {
			a.ExpiresAt = time.Unix(b.ExpiresAt, 0).UTC()
		}
		return a
	}
	return providers.NextAction{Type: providers.ActionNone}
}

// qrExpiry is when a PayNow QR code stops being payable: the expires_at of
// next_action.paynow_display_qr_code when the response has one (v76's
// struct has no such field, so it is read from the raw JSON), else the
// PaymentIntent's creation plus the configured lifetime.
func (c *Client) qrExpiry(pi *stripego.PaymentIntent) time.Time {
	if pi.LastResponse != nil {
		var raw struct {
			NextAction struct {
				PayNow struct {
					ExpiresAt int64 `json:"expires_at"`
				} `json:"paynow_display_qr_code"`
			} `json:"next_action"`
		}
		if json.Unmarshal(pi.LastResponse.RawJSON, &raw) == nil && raw.NextAction.PayNow.ExpiresAt > 0 {
			return time.Unix(raw.NextAction.PayNow.ExpiresAt, 0).UTC()
		}
	}
	created := time.Now()
	if pi.Created > 0 {
		created = time.Unix(pi.Created, 0)
	}
	return created.Add(c.qrLifetime).UTC()
}
