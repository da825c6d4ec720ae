package paygate_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paygate/paygate"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("disk full"), paygate.EINTERNAL},
		{"Error", paygate.Errorf(paygate.ENOTFOUND, "payment order %s not found", "P12345678"), paygate.ENOTFOUND},
		{"wrapped Error", fmt.Errorf("wrap: %w", paygate.Errorf(paygate.ECONFLICT, "key reused")), paygate.ECONFLICT},
		{"twice wrapped Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", paygate.Errorf(paygate.EUNAVAILABLE, "retry later"))), paygate.EUNAVAILABLE},
		{"Error with a cause", &paygate.Error{Code: paygate.EINSUFFICIENT, Err: paygate.Errorf(paygate.EINVALID, "inner")}, paygate.EINSUFFICIENT},
		{"Error with no code", &paygate.Error{Message: "no code"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paygate.ErrorCode(tt.err); got != tt.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("pq: password authentication failed"), "internal error"},
		{"wrapped plain error", fmt.Errorf("open: %w", errors.New("secret path")), "internal error"},
		{"Error", paygate.Errorf(paygate.EINVALID, "amount %q is negative", "-1"), `amount "-1" is negative`},
		{"wrapped Error", fmt.Errorf("checkout: %w", paygate.Errorf(paygate.ECONFLICT, "key reused")), "key reused"},
		{"internal Error", paygate.Errorf(paygate.EINTERNAL, "ledger: unbalanced entry"), "internal error"},
		{"Error hides its cause", &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "provider unavailable", Err: errors.New("dial tcp 10.0.0.1:443")}, "provider unavailable"},
		{"Error with only a cause", &paygate.Error{Code: paygate.EUNAVAILABLE, Err: errors.New("dial tcp 10.0.0.1:443")}, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paygate.ErrorMessage(tt.err); got != tt.want {
				t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorError(t *testing.T) {
	cause := errors.New("disk full")
	tests := []struct {
		name string
		err  *paygate.Error
		want string
	}{
		{"message", &paygate.Error{Code: paygate.EINVALID, Message: "amount is empty"}, "amount is empty"},
		{"message and cause", &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "storage: write", Err: cause}, "storage: write: disk full"},
		{"cause", &paygate.Error{Code: paygate.EINTERNAL, Err: cause}, "disk full"},
		{"Errorf", paygate.Errorf(paygate.ENOTFOUND, "sales order %s not found", "K1234567"), "sales order K1234567 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("disk full")
	err := &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "storage: write", Err: fmt.Errorf("sqlite: %w", cause)}

	if got := err.Unwrap(); got == nil || !errors.Is(got, cause) {
		t.Errorf("Unwrap() = %v, want an error wrapping %v", got, cause)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, %v) = false, want true", err, cause)
	}
	wrapped := fmt.Errorf("settle P12345678: %w", err)
	if !errors.Is(wrapped, cause) {
		t.Errorf("errors.Is(%v, %v) = false, want true", wrapped, cause)
	}
	var e *paygate.Error
	if !errors.As(wrapped, &e) || e != err {
		t.Errorf("errors.As(%v) = %v, want %v", wrapped, e, err)
	}
	if got := paygate.Errorf(paygate.EINVALID, "amount is empty").Unwrap(); got != nil {
		t.Errorf("Errorf(...).Unwrap() = %v, want nil", got)
	}
	if errors.Is(paygate.Errorf(paygate.EINVALID, "disk full"), cause) {
		t.Errorf("errors.Is(Errorf(%q), %v) = true, want false", "disk full", cause)
	}
}
