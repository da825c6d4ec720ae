package stripesim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// Boleto defaults and limits (Stripe's: expires_after_days is 0–60, 3 when
// not given).
const (
	defaultBoletoDays = 3
	maxBoletoDays     = 60
	// boletoBank is the issuing bank code of sandbox vouchers (Banco do
	// Brasil's code; only the check digits make a line valid).
	boletoBank = "001"
)

// brasilia returns São Paulo time (UTC−3; Brazil has had no daylight saving
// since 2019), in which boleto due dates are written.
func brasilia() *time.Location { return time.FixedZone("BRT", -3*60*60) }

// boletoExpiry returns when a boleto issued at t with expires_after_days
// days stops being payable: 23:59:59 São Paulo time, days calendar days
// after the day of issue (0: the end of that day), as Stripe documents.
func boletoExpiry(t time.Time, days int64) time.Time {
	y, m, d := t.In(brasilia()).Date()
	return time.Date(y, m, d+int(days), 23, 59, 59, 0, brasilia())
}

// boletoDueFactor is the 4-digit due date factor of a boleto barcode: the
// days since 1997-10-07, restarting at 1000 after 9999 (as it did on
// 2025-02-22).
func boletoDueFactor(due time.Time) int {
	y, m, d := due.In(brasilia()).Date()
	days := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(time.Date(1997, 10, 7, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	if days < 1000 {
		return 1000
	}
	return (days-1000)%9000 + 1000
}

// boletoLine returns the 47-digit digitable line (linha digitável) of a
// bank boleto for amount cents due at due, with a free field derived from
// seed, every check digit correct.
func boletoLine(seed string, amount int64, due time.Time) string {
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

// formatBoletoLine groups a 47-digit line as printed on vouchers:
// AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC D EEEEEEEEEEEEEE.
func formatBoletoLine(l string) string {
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

// normalizeTaxID strips the punctuation of a CPF or CNPJ and upper-cases it.
func normalizeTaxID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			return r
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r == '.' || r == '-' || r == '/' || r == ' ':
			return -1
		default:
			return '#' // never valid
		}
	}, s)
}

// validTaxID reports whether s (normalized) is a CPF (11 digits) or a
// CNPJ (14 characters, the first 12 possibly letters since 2026) with
// correct check digits.
func validTaxID(s string) bool {
	switch len(s) {
	case 11:
		if !allDigits(s) || strings.Count(s, s[:1]) == len(s) {
			return false
		}
		return taxCheck(s[:9], 10) == s[9] && taxCheck(s[:10], 11) == s[10]
	case 14:
		for i := range 12 {
			c := s[i]
			if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
				return false
			}
		}
		if !allDigits(s[12:]) || strings.Count(s, s[:1]) == len(s) {
			return false
		}
		return cnpjCheck(s[:12]) == s[12] && cnpjCheck(s[:13]) == s[13]
	}
	return false
}

// taxCheck is a CPF check digit: weights from top down to 2.
func taxCheck(s string, top int) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		sum += int(s[i]-'0') * (top - i)
	}
	if r := sum % 11; r >= 2 {
		return byte('0' + 11 - r)
	}
	return '0'
}

// cnpjCheck is a CNPJ check digit: weights 2…9 from the right, each
// character worth its ASCII code minus 48.
func cnpjCheck(s string) byte {
	sum, w := 0, 2
	for i := len(s) - 1; i >= 0; i-- {
		sum += int(s[i]-'0') * w
		if w++; w > 9 {
			w = 2
		}
	}
	if r := sum % 11; r >= 2 {
		return byte('0' + 11 - r)
	}
	return '0'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// maskTaxID hides all but a middle part of a CPF or CNPJ, as a voucher may
// show it.
func maskTaxID(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return "***" + s[3:len(s)-2] + "**"
}

// formatBRL formats cents as Brazilians write money: R$ 1.234,50.
func formatBRL(cents int64) string {
	units := fmt.Sprintf("%d", cents/100)
	var b strings.Builder
	for i, c := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("R$ %s,%02d", b.String(), cents%100)
}

// simplePDF returns a one-page A4 PDF showing lines of text in Helvetica.
// Characters outside printable ASCII are replaced by '?'.
func simplePDF(lines []string) []byte {
	var content bytes.Buffer
	content.WriteString("BT /F1 12 Tf 16 TL 56 780 Td\n")
	for i, l := range lines {
		if i == 0 {
			content.WriteString("/F1 16 Tf\n")
		} else if i == 1 {
			content.WriteString("/F1 12 Tf\n")
		}
		content.WriteString("(" + pdfEscape(l) + ") Tj T*\n")
	}
	content.WriteString("ET\n")

	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func pdfEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
