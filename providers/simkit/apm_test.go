package simkit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers/simkit"
)

func TestCRC16CCITT(t *testing.T) {
	// The check value of CRC-16/CCITT-FALSE.
	if got := simkit.CRC16CCITT("123456789"); got != 0x29B1 {
		t.Fatalf("CRC16CCITT(%q) = %#04x, want 0x29b1", "123456789", got)
	}
}

func TestPayNowQRPayload(t *testing.T) {
	q := simkit.PayNowQR{UEN: "209900001Z", Merchant: "PAYGATE SANDBOX", City: "Singapore", Amount: 1050,
		Reference: "A-P12345678-1", Expires: time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)}
	p := q.Payload()
	for _, want := range []string{"000201", "010212", "0009SG.PAYNOW", "010120210209900001Z", "040820261208", "5303702", "540510.50", "5802SG", "5915PAYGATE SANDBOX"} {
		if !strings.Contains(p, want) {
			t.Errorf("Payload() = %q, want it to contain %q", p, want)
		}
	}
	body, crc := p[:len(p)-4], p[len(p)-4:]
	if !strings.HasSuffix(body, "6304") {
		t.Fatalf("Payload() = %q: no CRC tag before the checksum", p)
	}
	if want := fmt.Sprintf("%04X", simkit.CRC16CCITT(body)); crc != want {
		t.Fatalf("Payload() CRC %s, want %s", crc, want)
	}
}

func TestBoletoLine(t *testing.T) {
	due := simkit.BoletoExpiry(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), 3)
	if want := time.Date(2026, 12, 10, 23, 59, 59, 0, simkit.Brasilia()); !due.Equal(want) {
		t.Fatalf("BoletoExpiry = %v, want %v", due, want)
	}
	l := simkit.BoletoLine("payment_1", 12345, due)
	if !simkit.ValidBoletoLine(l) {
		t.Fatalf("BoletoLine = %q, not a valid digitable line", l)
	}
	if !strings.HasSuffix(l, "0000012345") {
		t.Fatalf("BoletoLine = %q, want it to end with the amount 0000012345", l)
	}
	bad := []byte(l)
	bad[12] = '0' + (bad[12]-'0'+1)%10
	if simkit.ValidBoletoLine(string(bad)) {
		t.Fatalf("ValidBoletoLine(%q) = true for a line with a changed digit", bad)
	}
	if got := simkit.FormatBoletoLine(l); len(got) != 54 {
		t.Fatalf("FormatBoletoLine(%q) = %q", l, got)
	}
}
