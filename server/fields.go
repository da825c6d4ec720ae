package server

// Log field names used by the server package. They are exported so that other
// packages write the same names for the same things; add a name here rather
// than spelling it inline.
const (
	FieldRequestID  = "request_id"  // the request id, also sent as X-Request-Id
	FieldMethod     = "http_method" // the HTTP method (a payment method is payment_method)
	FieldPath       = "path"        // the URL path, without the query string
	FieldRoute      = "route"       // the matched mux path template, such as /v1/payment-orders/{number}
	FieldStatus     = "http_status" // the HTTP status of the response, an integer (status alone is a state, a string)
	FieldBytes      = "bytes"       // the number of response body bytes written
	FieldDurationMS = "duration_ms" // the handling time in milliseconds, as a float
	FieldRemoteAddr = "remote_addr" // the peer address of the connection
	FieldErrorCode  = "error_code"  // a paygate error code, such as not_found
	FieldPanic      = "panic"       // the value a handler panicked with
	FieldStack      = "stack"       // the goroutine stack of a panic
	FieldAddr       = "addr"        // a listen address
	FieldDBBackend  = "db_backend"  // the database backend: sqlite or postgres
	FieldPID        = "pid"         // the process id
)
