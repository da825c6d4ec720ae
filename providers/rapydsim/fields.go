package rapydsim

// Log field names written by this package and, for webhooks, by its
// simkit.Deliverer; http_method and path are the server package's names for the
// same things.
const (
	fieldComponent   = "component"        // always "rapydsim"
	fieldMethod      = "http_method"      // the HTTP method of a request
	fieldPath        = "path"             // the path of a request below the mount
	fieldReason      = "reason"           // why a request was refused
	fieldPaymentRef  = "payment_ref"      // a simulated payment's id (payment_…)
	fieldRefundRef   = "refund_ref"       // a simulated refund's id (refund_…)
	fieldWebhookID   = "webhook_id"       // a webhook's id (wh_…)
	fieldWebhookType = "webhook_type"     // a webhook's type, such as PAYMENT_COMPLETED
	fieldAttempt     = "delivery_attempt" // the delivery attempt of a webhook, from 1; 0 for a Redeliver
)
