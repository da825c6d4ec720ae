package paygate_test

import (
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
