package rapyd

// Log field names written by this package. They use the server package's
// names for the same things (http_method, path, http_status, duration_ms,
// error_code) without importing it: providers sit below the HTTP server.
const (
	fieldProvider      = "provider"           // always "rapyd"
	fieldMethod        = "http_method"        // the HTTP method of an API call
	fieldPath          = "path"               // the API path of a call, without the query string
	fieldStatus        = "http_status"        // the HTTP status of Rapyd's response
	fieldDurationMS    = "duration_ms"        // the duration of an API call in milliseconds
	fieldErrorCode     = "error_code"         // Rapyd's error_code, such as UNAUTHENTICATED_API_CALL
	fieldOperationID   = "rapyd_operation_id" // Rapyd's operation_id of a response, for its support
	fieldPaymentRef    = "payment_ref"        // Rapyd's payment id (payment_…)
	fieldWebhookID     = "webhook_id"         // Rapyd's webhook id (wh_…)
	fieldWebhookType   = "webhook_type"       // Rapyd's webhook type, such as PAYMENT_COMPLETED
	fieldRapydStatus   = "rapyd_status"       // a payment's or refund's status at Rapyd: ACT, CLO, Pending, …
	fieldRefund        = "refund"             // paygate's refund id
	fieldRefundRef     = "refund_ref"         // Rapyd's refund id (refund_…)
	fieldPaymentMethod = "payment_method"     // paygate's payment method, such as ideal
	fieldAttempt       = "attempt"            // paygate's attempt id, a payment's merchant_reference_id
)
