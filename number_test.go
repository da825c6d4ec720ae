package paygate_test

import (
	"errors"
	"testing"

	"github.com/paygate/paygate"
)

func TestNumbers(t *testing.T) {
	for _, s := range []string{"P12345678", "P00000000"} {
		if _, err := paygate.ParsePaymentOrderNumber(s); err != nil {
			t.Errorf("ParsePaymentOrderNumber(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range []string{"", "P1234567", "P123456789", "K1234567", "p12345678", "P1234567a", "P１２３４５６７８"} {
		if _, err := paygate.ParsePaymentOrderNumber(s); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("ParsePaymentOrderNumber(%q) = %v, want invalid", s, err)
		}
	}
	if _, err := paygate.ParseSalesOrderNumber("K1234567"); err != nil {
		t.Errorf("ParseSalesOrderNumber(K1234567) = %v", err)
	}
	for _, s := range []string{"K123456", "K12345678", "P1234567", "k1234567"} {
		if _, err := paygate.ParseSalesOrderNumber(s); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("ParseSalesOrderNumber(%q) = %v, want invalid", s, err)
		}
	}
	seen := map[paygate.PaymentOrderNumber]bool{}
	for range 1000 {
		p, err := paygate.NewPaymentOrderNumber(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := paygate.ParsePaymentOrderNumber(string(p)); err != nil {
			t.Fatalf("NewPaymentOrderNumber() = %q, not valid: %v", p, err)
		}
		seen[p] = true
		k, err := paygate.NewSalesOrderNumber(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := paygate.ParseSalesOrderNumber(string(k)); err != nil {
			t.Fatalf("NewSalesOrderNumber() = %q, not valid: %v", k, err)
		}
	}
	if len(seen) < 990 {
		t.Fatalf("1000 draws gave %d distinct numbers", len(seen))
	}
}

// numberRule is the strict rule of a P- or K-number, written independently
// of the parser: the prefix and exactly n ASCII digits.
func numberRule(s string, prefix byte, n int) bool {
	if len(s) != n+1 || s[0] != prefix {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkNumberError checks that a refused number is a short EINVALID
// *paygate.Error that does not echo a long input in full.
func checkNumberError(t *testing.T, fn, s string, err error) {
	t.Helper()
	var pe *paygate.Error
	if !errors.As(err, &pe) || pe.Code != paygate.EINVALID || pe.Message == "" {
		t.Fatalf("%s(%q) error %v (%T), want an EINVALID *paygate.Error with a message", fn, s, err, err)
	}
	if len(pe.Message) > 200 {
		t.Fatalf("%s(%q) error message is %d bytes, want it short", fn, s, len(pe.Message))
	}
}

// FuzzParsePaymentOrderNumber checks that ParsePaymentOrderNumber accepts
// exactly "P" and 8 ASCII digits, returns the input unchanged when it does,
// and refuses everything else with a short EINVALID error.
func FuzzParsePaymentOrderNumber(f *testing.F) {
	for _, s := range []string{"P12345678", "P00000000", "P99999999", "", "P", "P1234567", "P123456789",
		"K1234567", "p12345678", "P1234567a", "P１２３４５６７８", " P12345678", "P12345678\n", "P-1234567", "P+1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := paygate.ParsePaymentOrderNumber(s)
		if want := numberRule(s, 'P', 8); want != (err == nil) {
			t.Fatalf("ParsePaymentOrderNumber(%q) = %q, %v, want accepted %v", s, p, err, want)
		}
		if err != nil {
			checkNumberError(t, "ParsePaymentOrderNumber", s, err)
			return
		}
		if string(p) != s {
			t.Fatalf("ParsePaymentOrderNumber(%q) = %q, want the input unchanged", s, p)
		}
		if _, err := paygate.ParseSalesOrderNumber(s); err == nil {
			t.Fatalf("%q parses both as a payment order and as a sales order number", s)
		}
	})
}

// FuzzParseSalesOrderNumber checks that ParseSalesOrderNumber accepts
// exactly "K" and 7 ASCII digits, returns the input unchanged when it does,
// and refuses everything else with a short EINVALID error.
func FuzzParseSalesOrderNumber(f *testing.F) {
	for _, s := range []string{"K1234567", "K0000000", "K9999999", "", "K", "K123456", "K12345678",
		"P12345678", "k1234567", "K123456x", "K１２３４５６７", "K1234567 ", "K\x001234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := paygate.ParseSalesOrderNumber(s)
		if want := numberRule(s, 'K', 7); want != (err == nil) {
			t.Fatalf("ParseSalesOrderNumber(%q) = %q, %v, want accepted %v", s, k, err, want)
		}
		if err != nil {
			checkNumberError(t, "ParseSalesOrderNumber", s, err)
			return
		}
		if string(k) != s {
			t.Fatalf("ParseSalesOrderNumber(%q) = %q, want the input unchanged", s, k)
		}
	})
}

// FuzzParseCurrency checks that ParseCurrency accepts exactly the codes of
// Currencies, returns them unchanged, and refuses everything else (lower
// case, padding, unknown codes) with a short EINVALID error.
func FuzzParseCurrency(f *testing.F) {
	for _, s := range []string{"EUR", "SGD", "BRL", "KRW", "USD", "eur", "EUR ", "XXX", "", "E", "EURO", "ＥＵＲ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := paygate.ParseCurrency(s)
		known := false
		for _, k := range paygate.Currencies() {
			known = known || string(k) == s
		}
		if known != (err == nil) {
			t.Fatalf("ParseCurrency(%q) = %q, %v, want accepted %v", s, c, err, known)
		}
		if err != nil {
			checkNumberError(t, "ParseCurrency", s, err)
			return
		}
		if string(c) != s || !c.Valid() {
			t.Fatalf("ParseCurrency(%q) = %q, want the same valid currency", s, c)
		}
	})
}
