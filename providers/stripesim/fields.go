package stripesim

// Log field names of the simulator. They match the server package's names
// where the meaning is the same.
const (
	fieldRequestID     = "request_id"     // the simulated Stripe request id (req_…)
	fieldMethod        = "http_method"    // the HTTP method
	fieldPath          = "path"           // the URL path, relative to the mount
	fieldStatus        = "http_status"    // an HTTP status
	fieldPaymentIntent = "payment_intent" // a PaymentIntent id (pi_…)
	fieldPaymentMethod = "payment_method" // a payment method type: ideal, paynow or boleto
	fieldIntentStatus  = "intent_status"  // a PaymentIntent status
	fieldEventID       = "event_id"       // a webhook event id (evt_…)
	fieldEventType     = "event_type"     // a webhook event type
	fieldAttempt       = "attempt"        // the webhook delivery attempt, from 1; 0 for a Redeliver
	fieldErrorCode     = "error_code"     // a Stripe error code sent to a client
	fieldParam         = "param"          // the parameter a Stripe error names
	fieldRefund        = "refund"         // a Refund id (re_…)
	fieldRefundStatus  = "refund_status"  // a Refund status
	fieldReason        = "reason"         // why a hosted page refused a form
)
