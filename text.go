package paygate

import (
	"unicode"
	"unicode/utf8"
)

// Clip shortens s to at most n bytes, cut on a character boundary (never
// inside a UTF-8 sequence), and marks a cut with "…". Stored reasons and
// quoted input go through it, so that a long provider message or hostile
// input cannot grow a row or a message without bound.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CheckText refuses free text that holds a control character (U+0000 to
// U+001F, U+007F to U+009F: NUL, line breaks and tabs too) with an EINVALID
// error naming field. PostgreSQL cannot store NUL in text at all; refusing
// every control character gives the same answer on both backends, and keeps
// descriptions, names and references single-line wherever they are shown.
func CheckText(field, s string) error {
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "%s must not contain control characters (found %U)", field, r)
		}
	}
	return nil
}

// Cut shortens s to at most n bytes, on a character boundary, without a
// mark: for values stored in a column of bounded size.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
