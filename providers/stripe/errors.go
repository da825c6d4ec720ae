package stripe

import (
	"errors"
	"fmt"
	"net/http"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
)

// apiError turns an error of a stripe-go call into a *paygate.Error whose
// message starts with "stripe: " and op:
//
//   - 429, 5xx and 409 (a concurrent request with the same idempotency key),
//     network errors, timeouts and responses that are not Stripe's JSON:
//     EUNAVAILABLE, retry later;
//   - 401 and 403: EINTERNAL, the key is wrong or lacks a permission, which
//     is paygate's configuration and not the caller's request; Stripe's
//     message, which quotes part of the key, is dropped;
//   - payment_method_unactivated and payment_method_not_available:
//     EUNAVAILABLE wrapping providers.ErrMethodUnavailable, so that a create
//     fails over to the method's next provider;
//   - 404: ENOTFOUND;
//   - payment_intent_unexpected_state: ECONFLICT, the PaymentIntent's state
//     does not allow it (canceling a succeeded one); likewise a refund of a
//     charge already refunded, disputed or no longer refundable
//     (charge_already_refunded, charge_disputed, refund_disputed_payment,
//     charge_not_refundable);
//   - any other 4xx (invalid_request_error, card_error, idempotency_error):
//     EINVALID with Stripe's message.
//
// The cause stays in the chain for logs, except for 401 and 403. Stripe's
// messages echo request fields ("Invalid email address: …"), so the
// message and the cause are masked (package redact): no payer's email,
// phone or CPF/CNPJ reaches a log, an API answer or the database.
func apiError(op string, err error) error {
	var se *stripego.Error
	cause := redact.Error(err)
	if !errors.As(err, &se) {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "stripe: " + op + ": Stripe could not be reached or answered badly; retry later", Err: cause}
	}
	status := se.HTTPStatusCode
	switch {
	case status == http.StatusTooManyRequests || status >= 500 || status == http.StatusConflict:
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: fmt.Sprintf("stripe: %s: Stripe answered %d; retry later", op, status), Err: cause}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &paygate.Error{
			Code:    paygate.EINTERNAL,
			Message: fmt.Sprintf("stripe: %s: Stripe refused the secret key (%d)", op, status),
			Err:     fmt.Errorf("stripe: %d %s (request %s)", status, se.Type, se.RequestID),
		}
	case methodUnavailableCode(se.Code):
		return &paygate.Error{
			Code:    paygate.EUNAVAILABLE,
			Message: "stripe: " + op + ": " + stripeMessage(se),
			Err:     fmt.Errorf("%w: %w", providers.ErrMethodUnavailable, cause),
		}
	case status == http.StatusNotFound:
		return &paygate.Error{Code: paygate.ENOTFOUND, Message: "stripe: " + op + ": " + stripeMessage(se), Err: cause}
	case conflictCode(se.Code):
		return &paygate.Error{Code: paygate.ECONFLICT, Message: "stripe: " + op + ": " + stripeMessage(se), Err: cause}
	case status >= 400 && status < 500:
		return &paygate.Error{Code: paygate.EINVALID, Message: "stripe: " + op + ": " + stripeMessage(se), Err: cause}
	}
	// A Stripe error object with no or an odd status: not Stripe's usual
	// answer, so retry later.
	return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: fmt.Sprintf("stripe: %s: unexpected answer %d; retry later", op, status), Err: cause}
}

// methodUnavailableCode reports whether a Stripe error code says the
// payment method cannot be used by the account now, whatever the payment:
// payment_method_unactivated (not activated for the account, or not in
// live mode) and payment_method_not_available (the method or its
// processor is not available now). payment_method_provider_decline and
// payment_method_provider_timeout are about one payment and stay as they
// are. The codes are stripe-go v76's ErrorCode values.
func methodUnavailableCode(c stripego.ErrorCode) bool {
	switch c {
	case stripego.ErrorCodePaymentMethodUnactivated, stripego.ErrorCodePaymentMethodNotAvailable:
		return true
	}
	return false
}

// conflictCode reports whether a Stripe error code says the state of the
// PaymentIntent or charge does not allow the request.
func conflictCode(c stripego.ErrorCode) bool {
	switch c {
	case stripego.ErrorCodePaymentIntentUnexpectedState,
		stripego.ErrorCodeChargeAlreadyRefunded,
		stripego.ErrorCodeChargeDisputed,
		stripego.ErrorCodeRefundDisputedPayment,
		stripego.ErrorCodeChargeNotRefundable:
		return true
	}
	return false
}

// stripeMessage is Stripe's message of an error, or its code or type when
// it has none (stripe-mock's errors carry only a type).
func stripeMessage(se *stripego.Error) string {
	switch {
	case se.Msg != "":
		return redact.String(se.Msg)
	case se.Code != "":
		return string(se.Code)
	case se.Type != "":
		return string(se.Type)
	}
	return fmt.Sprintf("error %d", se.HTTPStatusCode)
}
