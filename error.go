package paygate

import (
	"errors"
	"fmt"
)

// Error codes that callers branch on. Each maps to one HTTP status in the
// server package.
const (
	EINVALID      = "invalid"      // the request or input is malformed
	ENOTFOUND     = "not_found"    // the thing does not exist
	ECONFLICT     = "conflict"     // the state does not allow it, or a key was reused
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // credentials of the wrong role
	EINSUFFICIENT = "insufficient" // a balance would go negative
	ETOOLARGE     = "too_large"    // a request body over the limit
	ELIMIT        = "limit"        // a cap on the thing is reached (attempts per payment order); retrying will not help
	ERATELIMITED  = "rate_limited" // too many requests from this client; retry after the Retry-After header's seconds
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is the project's error type. Code is one of the E* constants; Message
// is safe to show to an API caller. Err, when set, is the cause and is never
// shown to callers.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	default:
		return e.Message
	}
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or "internal error" for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
