package paygate

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
)

// PaymentOrderNumber is a payment order's number: "P" and 8 digits.
type PaymentOrderNumber string

// SalesOrderNumber is a sales order's number: "K" and 7 digits.
type SalesOrderNumber string

// ParsePaymentOrderNumber validates s as a payment order number.
func ParsePaymentOrderNumber(s string) (PaymentOrderNumber, error) {
	if !validNumber(s, 'P', 8) {
		return "", Errorf(EINVALID, "%q is not a payment order number (P and 8 digits)", Clip(s, maxQuoted))
	}
	return PaymentOrderNumber(s), nil
}

// ParseSalesOrderNumber validates s as a sales order number.
func ParseSalesOrderNumber(s string) (SalesOrderNumber, error) {
	if !validNumber(s, 'K', 7) {
		return "", Errorf(EINVALID, "%q is not a sales order number (K and 7 digits)", Clip(s, maxQuoted))
	}
	return SalesOrderNumber(s), nil
}

func validNumber(s string, prefix byte, digits int) bool {
	return len(s) == 1+digits && s[0] == prefix && allDigits(s[1:])
}

// NewPaymentOrderNumber draws a random payment order number from r
// (crypto/rand.Reader if nil). Uniqueness is the database's to enforce.
func NewPaymentOrderNumber(r io.Reader) (PaymentOrderNumber, error) {
	s, err := randomNumber(r, 'P', 8)
	return PaymentOrderNumber(s), err
}

// NewSalesOrderNumber draws a random sales order number from r
// (crypto/rand.Reader if nil).
func NewSalesOrderNumber(r io.Reader) (SalesOrderNumber, error) {
	s, err := randomNumber(r, 'K', 7)
	return SalesOrderNumber(s), err
}

func randomNumber(r io.Reader, prefix byte, digits int) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(r, limit)
	if err != nil {
		return "", fmt.Errorf("paygate: draw a number: %w", err)
	}
	return fmt.Sprintf("%c%0*d", prefix, digits, n), nil
}
