// Package taxid knows Brazil's taxpayer numbers, which Boleto needs of a
// payer: the CPF (people, 11 digits) and the CNPJ (companies, 14
// characters): their check digits, and how they are shown masked, so that a
// log or a stored record never holds one whole.
package taxid

import "strings"

// Normalize strips the punctuation of a CPF or CNPJ ("529.982.247-25",
// "12.ABC.345/01DE-35") and upper-cases its ASCII letters. Other characters
// are kept as they are, so that ValidCPF and ValidCNPJ refuse them: a
// non-ASCII letter whose upper case is ASCII ("ı" is "I", "ſ" is "S") is
// not a letter of a CNPJ.
func Normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '.' || r == '-' || r == '/' || r == ' ':
		case 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ValidCPF reports whether s (digits only) is a CPF with valid check digits.
// Repeated-digit sequences pass the arithmetic but are not CPFs.
func ValidCPF(s string) bool {
	if len(s) != 11 || !digits(s) || strings.Count(s, s[:1]) == 11 {
		return false
	}
	return checkDigit(s[:9], 10) == s[9] && checkDigit(s[:10], 11) == s[10]
}

// ValidCNPJ reports whether s is a CNPJ with valid check digits: 12 body
// characters 0-9 or A-Z (letters appear in CNPJs issued from July 2026) and
// 2 numeric check digits. A character's value is its ASCII code minus 48.
func ValidCNPJ(s string) bool {
	if len(s) != 14 || !digits(s[12:]) || strings.Count(s, s[:1]) == 14 {
		return false
	}
	for i := 0; i < 12; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return cnpjDigit(s[:12]) == s[12] && cnpjDigit(s[:13]) == s[13]
}

// checkDigit is the CPF mod-11 digit of body with weights first, first-1, … 2.
func checkDigit(body string, first int) byte {
	sum := 0
	for i := 0; i < len(body); i++ {
		sum += int(body[i]-'0') * (first - i)
	}
	return mod11(sum)
}

// cnpjDigit is the CNPJ mod-11 digit of body with weights cycling 2..9 from
// the right.
func cnpjDigit(body string) byte {
	sum, w := 0, 2
	for i := len(body) - 1; i >= 0; i-- {
		sum += int(body[i]-'0') * w
		if w++; w > 9 {
			w = 2
		}
	}
	return mod11(sum)
}

func mod11(sum int) byte {
	r := sum % 11
	if r < 2 {
		return '0'
	}
	return byte('0' + 11 - r)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Valid reports whether s (normalized) is a CPF or a CNPJ.
func Valid(s string) bool { return ValidCPF(s) || ValidCNPJ(s) }

// Mask returns s (a CPF or CNPJ, formatted or not) with all but its last
// four characters hidden, in the shape of its kind: "***.***.*47-25" for a
// CPF, "**.***.***/**01-81" for a CNPJ, and "***" for anything else.
func Mask(s string) string {
	n := Normalize(s)
	switch len(n) {
	case 11:
		return "***.***.*" + n[7:9] + "-" + n[9:]
	case 14:
		return "**.***.***/**" + n[10:12] + "-" + n[12:]
	}
	return "***"
}
