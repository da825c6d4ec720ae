package stripesim

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/paygate/paygate"
)

// PayNow QR defaults.
const (
	defaultMerchant = "PAYGATE SANDBOX"
	// defaultUEN is the proxy the sandbox QR codes pay to: a made-up UEN
	// (Unique Entity Number) in the format of a local company's.
	defaultUEN = "209900001Z"
	// payNowValidity is how long a PayNow QR code stays payable (Stripe's
	// refresh after an hour, as third parties report it).
	payNowValidity = time.Hour
)

// singapore returns Singapore time (UTC+8, no daylight saving), in which
// the QR's expiry date is written.
func singapore() *time.Location { return time.FixedZone("SGT", 8*60*60) }

// payNowQR describes one dynamic PayNow QR code.
type payNowQR struct {
	UEN       string    // the proxy value: the payee's UEN
	Merchant  string    // tag 59, at most 25 characters
	City      string    // tag 60, at most 15 characters
	Amount    int64     // SGD cents
	Reference string    // tag 62.01, at most 25 characters
	Expires   time.Time // tag 26.04, a date in Singapore time
}

// payload returns the EMVCo merchant-presented payload of the QR (the
// string SGQR codes encode), ending with its CRC (tag 63).
func (q payNowQR) payload() string {
	var mai strings.Builder // tag 26: merchant account information
	writeTLV(&mai, "00", "SG.PAYNOW")
	writeTLV(&mai, "01", "2") // proxy type: UEN
	writeTLV(&mai, "02", q.UEN)
	writeTLV(&mai, "03", "0") // amount not editable
	writeTLV(&mai, "04", q.Expires.In(singapore()).Format("20060102"))

	var add strings.Builder // tag 62: additional data
	writeTLV(&add, "01", paygate.Cut(q.Reference, 25))

	var b strings.Builder
	writeTLV(&b, "00", "01") // payload format indicator
	writeTLV(&b, "01", "12") // point of initiation: dynamic (one payment)
	writeTLV(&b, "26", mai.String())
	writeTLV(&b, "52", "0000") // merchant category code
	writeTLV(&b, "53", "702")  // SGD, ISO 4217 numeric
	writeTLV(&b, "54", majorUnits(q.Amount))
	writeTLV(&b, "58", "SG")
	writeTLV(&b, "59", paygate.Cut(emvText(q.Merchant), 25))
	writeTLV(&b, "60", paygate.Cut(emvText(q.City), 15))
	writeTLV(&b, "62", add.String())
	b.WriteString("6304")
	return b.String() + fmt.Sprintf("%04X", crc16CCITT(b.String()))
}

// writeTLV appends one tag-length-value triple; the length is two decimal
// digits, so values are at most 99 characters (every value here is
// shorter).
func writeTLV(b *strings.Builder, tag, value string) {
	fmt.Fprintf(b, "%s%02d%s", tag, len(value), value)
}

// crc16CCITT is CRC-16/CCITT-FALSE: polynomial 0x1021, initial value
// 0xFFFF, no reflection, no final XOR.
func crc16CCITT(s string) uint16 {
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

// majorUnits formats an amount of cents (exponent 2: EUR, SGD, BRL) as a
// decimal string: 1050 → "10.50".
func majorUnits(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// qrPNG renders a payload as a PNG QR code.
func qrPNG(payload string) ([]byte, error) {
	png, err := qrcode.Encode(payload, qrcode.Medium, 320)
	if err != nil {
		return nil, fmt.Errorf("stripesim: encode qr png: %w", err)
	}
	return png, nil
}

// qrSVG renders a payload as an SVG QR code, one rect per dark module.
func qrSVG(payload string) ([]byte, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("stripesim: encode qr svg: %w", err)
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="320" height="320" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}
