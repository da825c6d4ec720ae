package simkit

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate"
)

// The sandbox codes of the simulators' voucher and QR methods: a PayNow QR
// payload (an EMVCo merchant-presented SGQR string) and a boleto's
// digitable line, each with correct check digits, so that what a buyer's
// banking app would check passes. They pay nobody: the proxy and the bank
// are made up.

// PayNowQR describes one dynamic PayNow QR code.
type PayNowQR struct {
	UEN       string    // the proxy value: the payee's UEN
	Merchant  string    // tag 59, at most 25 characters
	City      string    // tag 60, at most 15 characters
	Amount    int64     // SGD cents
	Reference string    // tag 62.01, at most 25 characters
	Expires   time.Time // tag 26.04, a date in Singapore time
}

// Singapore returns Singapore time (UTC+8, no daylight saving), in which a
// PayNow QR's expiry date is written.
func Singapore() *time.Location { return time.FixedZone("SGT", 8*60*60) }

// Payload returns the EMVCo merchant-presented payload of the QR (the
// string SGQR codes encode), ending with its CRC (tag 63).
func (q PayNowQR) Payload() string {
	var mai strings.Builder // tag 26: merchant account information
	writeTLV(&mai, "00", "SG.PAYNOW")
	writeTLV(&mai, "01", "2") // proxy type: UEN
	writeTLV(&mai, "02", q.UEN)
	writeTLV(&mai, "03", "0") // amount not editable
	writeTLV(&mai, "04", q.Expires.In(Singapore()).Format("20060102"))

	var add strings.Builder // tag 62: additional data
	writeTLV(&add, "01", paygate.Cut(q.Reference, 25))

	var b strings.Builder
	writeTLV(&b, "00", "01") // payload format indicator
	writeTLV(&b, "01", "12") // point of initiation: dynamic (one payment)
	writeTLV(&b, "26", mai.String())
	writeTLV(&b, "52", "0000") // merchant category code
	writeTLV(&b, "53", "702")  // SGD, ISO 4217 numeric
	writeTLV(&b, "54", paygate.New(q.Amount, paygate.SGD).Amount())
	writeTLV(&b, "58", "SG")
	writeTLV(&b, "59", paygate.Cut(emvText(q.Merchant), 25))
	writeTLV(&b, "60", paygate.Cut(emvText(q.City), 15))
	writeTLV(&b, "62", add.String())
	b.WriteString("6304")
	return b.String() + fmt.Sprintf("%04X", CRC16CCITT(b.String()))
}

// writeTLV appends one tag-length-value triple; the length is two decimal
// digits, so values are at most 99 characters (every value here is
// shorter).
func writeTLV(b *strings.Builder, tag, value string) {
	fmt.Fprintf(b, "%s%02d%s", tag, len(value), value)
}

// CRC16CCITT is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value
// 0xFFFF, no reflection, no final XOR), the checksum of an EMVCo payload.
func CRC16CCITT(s string) uint16 {
	crc := uint16(0xFFFF)
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// emvText keeps the printable ASCII of s, as EMVCo's alphanumeric special
// fields allow, replacing anything else with a space.
func emvText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}

// boletoBank is the issuing bank code of sandbox vouchers (Banco do
// Brasil's code; only the check digits make a line valid).
const boletoBank = "001"

// Brasilia returns São Paulo time (UTC−3; Brazil has had no daylight
// saving since 2019), in which boleto due dates are written.
func Brasilia() *time.Location { return time.FixedZone("BRT", -3*60*60) }

// BoletoExpiry returns when a boleto issued at t stops being payable:
// 23:59:59 São Paulo time, days calendar days after the day of issue (0:
// the end of that day).
func BoletoExpiry(t time.Time, days int) time.Time {
	y, m, d := t.In(Brasilia()).Date()
	return time.Date(y, m, d+days, 23, 59, 59, 0, Brasilia())
}

// boletoDueFactor is the 4-digit due date factor of a boleto barcode: the
// days since 1997-10-07, restarting at 1000 after 9999 (as it did on
// 2025-02-22).
func boletoDueFactor(due time.Time) int {
	y, m, d := due.In(Brasilia()).Date()
	days := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(time.Date(1997, 10, 7, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	if days < 1000 {
		return 1000
	}
	return (days-1000)%9000 + 1000
}

// BoletoLine returns the 47-digit digitable line (linha digitável) of a
// bank boleto for amount centavos due at due, with a free field derived
// from seed, every check digit correct.
func BoletoLine(seed string, amount int64, due time.Time) string {
	sum := sha256.Sum256([]byte(seed))
	var free strings.Builder // 25 digits, the bank's own field
	for _, b := range sum {
		if free.Len() == 25 {
			break
		}
		free.WriteByte('0' + b%10)
	}
	f := free.String()
	factorAmount := fmt.Sprintf("%04d%010d", boletoDueFactor(due), amount%1e10)
	// The 44-digit barcode: bank, currency (9: real), check digit, factor,
	// amount, free field.
	body := boletoBank + "9" + factorAmount + f
	dv := mod11Boleto(body)
	f1 := boletoBank + "9" + f[0:5]
	f2 := f[5:15]
	f3 := f[15:25]
	return f1 + mod10(f1) + f2 + mod10(f2) + f3 + mod10(f3) + dv + factorAmount
}

// ValidBoletoLine reports whether l is a 47-digit digitable line whose
// three field check digits and general check digit are right.
func ValidBoletoLine(l string) bool {
	if len(l) != 47 {
		return false
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	f1, f2, f3 := l[0:9], l[10:20], l[21:31]
	if mod10(f1) != l[9:10] || mod10(f2) != l[20:21] || mod10(f3) != l[31:32] {
		return false
	}
	free := l[4:9] + f2 + f3
	body := l[0:4] + l[33:47] + free
	return mod11Boleto(body) == l[32:33]
}

// FormatBoletoLine groups a 47-digit line as printed on vouchers:
// AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC D EEEEEEEEEEEEEE.
func FormatBoletoLine(l string) string {
	if len(l) != 47 {
		return l
	}
	return l[0:5] + "." + l[5:10] + " " + l[10:15] + "." + l[15:21] + " " + l[21:26] + "." + l[26:32] + " " + l[32:33] + " " + l[33:47]
}

// mod10 is the check digit of a digitable line's field: weights 2,1,2,1…
// from the right, the digits of each product summed.
func mod10(s string) string {
	sum, w := 0, 2
	for i := len(s) - 1; i >= 0; i-- {
		p := int(s[i]-'0') * w
		sum += p/10 + p%10
		w = 3 - w
	}
	return string(rune('0' + (10-sum%10)%10))
}

// mod11Boleto is the general check digit of a barcode (its 43 other digits):
// weights 2…9 from the right; 0, 10 and 11 become 1.
func mod11Boleto(s string) string {
	sum, w := 0, 2
	for i := len(s) - 1; i >= 0; i-- {
		sum += int(s[i]-'0') * w
		if w++; w > 9 {
			w = 2
		}
	}
	d := 11 - sum%11
	if d == 0 || d == 10 || d == 11 {
		d = 1
	}
	return string(rune('0' + d))
}
