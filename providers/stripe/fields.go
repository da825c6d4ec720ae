package stripe

// Log field names of the Stripe provider, spelled as the server package
// spells its own (request_id, status, …).
const (
	FieldProvider        = "provider"          // providers.Stripe
	FieldPaymentOrder    = "payment_order"     // the P-number
	FieldAttempt         = "attempt"           // paygate's attempt id
	FieldPaymentMethod   = "payment_method"    // ideal, paynow, boleto
	FieldPaymentRef      = "payment_ref"       // the PaymentIntent id, pi_…
	FieldStatus          = "status"            // a providers.Status
	FieldStripeStatus    = "stripe_status"     // a PaymentIntent status as Stripe spells it
	FieldStripeRequestID = "stripe_request_id" // Stripe's Request-Id of a response
	FieldEventID         = "event_id"          // a webhook event id, evt_…
	FieldEventType       = "event_type"        // a webhook event type as Stripe spells it
	FieldAPIVersion      = "api_version"       // a webhook event's Stripe API version
	FieldRefund          = "refund"            // paygate's refund id
	FieldRefundRef       = "refund_ref"        // Stripe's Refund id, re_…
	FieldRefundStatus    = "refund_status"     // a providers.RefundStatus
	FieldReplayed        = "replayed"          // Stripe answered with an idempotent replay
)
