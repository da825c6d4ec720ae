package simkit_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers/simkit"
)

func TestCRC16CCITT(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"123456789", 0x29B1}, // the CRC-16/CCITT-FALSE check value
		{"", 0xFFFF},
		// A PayNow payload (SGQR/EMVCo format), its CRC checked by two
		// implementations apart from this one.
		{"00020101021226490009SG.PAYNOW010120210201403121W03010040820261231520400005303702540510.505802SG5912ACME PTE LTD6009Singapore62130109ORDER-1236304", 0x5A0C},
	}
	for _, tc := range tests {
		if got := simkit.CRC16CCITT(tc.in); got != tc.want {
			t.Errorf("CRC16CCITT(%q) = %04X, want %04X", tc.in, got, tc.want)
		}
	}
}

// tlvMap parses an EMVCo payload (2-digit tag, 2-digit decimal length,
// value) into its tags, failing on a malformed or repeated tag.
func tlvMap(t *testing.T, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for rest := s; rest != ""; {
		if len(rest) < 4 {
			t.Fatalf("payload %q: truncated tag at %q", s, rest)
		}
		n, err := strconv.Atoi(rest[2:4])
		if err != nil || len(rest) < 4+n {
			t.Fatalf("payload %q: bad length at %q", s, rest)
		}
		if _, dup := m[rest[:2]]; dup {
			t.Errorf("payload %q: tag %s repeated", s, rest[:2])
		}
		m[rest[:2]] = rest[4 : 4+n]
		rest = rest[4+n:]
	}
	return m
}

func TestPayNowQRPayload(t *testing.T) {
	tests := []struct {
		name       string
		amount     int64
		wantAmount string
		merchant   string
		wantName   string
	}{
		{"cents", 2599, "25.99", "PAYGATE SANDBOX", "PAYGATE SANDBOX"},
		{"whole", 100000, "1000.00", "ACME", "ACME"},
		{"one cent", 1, "0.01", "ACME", "ACME"},
		{"long name clipped", 50, "0.50", "A VERY LONG MERCHANT NAME THAT OVERFLOWS", "A VERY LONG MERCHANT NAME"},
		{"non-ascii", 50, "0.50", "Café", "Caf "},
	}
	exp := time.Date(2026, 12, 31, 20, 0, 0, 0, time.UTC) // 1 Jan 2027 in Singapore
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := simkit.PayNowQR{UEN: "201403121W", Merchant: tc.merchant, City: "Singapore", Amount: tc.amount, Reference: "REF123", Expires: exp}
			p := q.Payload()
			m := tlvMap(t, p)
			want := map[string]string{"00": "01", "01": "12", "52": "0000", "53": "702", "54": tc.wantAmount, "58": "SG", "59": tc.wantName, "60": "Singapore"}
			for tag, v := range want {
				if m[tag] != v {
					t.Errorf("tag %s = %q, want %q", tag, m[tag], v)
				}
			}
			mai := tlvMap(t, m["26"])
			if mai["00"] != "SG.PAYNOW" || mai["01"] != "2" || mai["02"] != "201403121W" || mai["03"] != "0" || mai["04"] != "20270101" {
				t.Errorf("tag 26 = %v, want SG.PAYNOW, proxy type 2 (UEN) 201403121W, not editable, expiry 20270101", mai)
			}
			if add := tlvMap(t, m["62"]); add["01"] != "REF123" {
				t.Errorf("tag 62.01 = %q, want REF123", add["01"])
			}
			body, crc := p[:len(p)-4], p[len(p)-4:]
			if !strings.HasSuffix(body, "6304") {
				t.Fatalf("Payload() = %q: no CRC tag before the checksum", p)
			}
			if want := fmt.Sprintf("%04X", simkit.CRC16CCITT(body)); crc != want {
				t.Errorf("Payload() CRC %s, want %s", crc, want)
			}
		})
	}
}

func TestBoletoExpiry(t *testing.T) {
	// 02:00 UTC on 10 March is still 9 March in São Paulo.
	issued := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		days int
		want time.Time
	}{
		{0, time.Date(2026, 3, 9, 23, 59, 59, 0, simkit.Brasilia())},
		{3, time.Date(2026, 3, 12, 23, 59, 59, 0, simkit.Brasilia())},
		{60, time.Date(2026, 5, 8, 23, 59, 59, 0, simkit.Brasilia())},
	}
	for _, tc := range tests {
		if got := simkit.BoletoExpiry(issued, tc.days); !got.Equal(tc.want) {
			t.Errorf("BoletoExpiry(%v, %d) = %v, want %v", issued, tc.days, got, tc.want)
		}
	}
}

func TestBoletoLine(t *testing.T) {
	due := simkit.BoletoExpiry(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), 3)
	tests := []struct {
		seed   string
		amount int64
	}{
		{"payment_1", 12345},
		{"pi_2", 1},
		{"pi_3", 99999999},
	}
	for _, tc := range tests {
		l := simkit.BoletoLine(tc.seed, tc.amount, due)
		if !simkit.ValidBoletoLine(l) {
			t.Fatalf("BoletoLine(%q) = %q, not a valid digitable line", tc.seed, l)
		}
		if l[0:3] != "001" || l[3] != '9' {
			t.Errorf("BoletoLine(%q) = %q: bank %s currency %c, want 001 and 9", tc.seed, l, l[0:3], l[3])
		}
		if got, want := l[37:47], fmt.Sprintf("%010d", tc.amount); got != want {
			t.Errorf("BoletoLine(%q) = %q: amount field %s, want %s", tc.seed, l, got, want)
		}
		// A field's mod-10 digit catches any one changed digit of the
		// first 32; the general mod-11 digit may not (0, 10 and 11 all
		// become 1), so the last 15 are not tried.
		for i := range 32 {
			bad := []byte(l)
			bad[i] = '0' + (bad[i]-'0'+1)%10
			if simkit.ValidBoletoLine(string(bad)) {
				t.Errorf("ValidBoletoLine(%q) = true for a line with digit %d changed", bad, i)
			}
		}
		if got := simkit.FormatBoletoLine(l); len(got) != 54 || strings.ReplaceAll(strings.ReplaceAll(got, ".", ""), " ", "") != l {
			t.Errorf("FormatBoletoLine(%q) = %q", l, got)
		}
	}
}
