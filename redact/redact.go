// Package redact masks personal data and secrets in text: CPF and CNPJ
// numbers, email addresses, phone numbers, paygate API keys, provider
// secret keys, checkout link tokens, and secret values it is given. It is
// the one place these patterns live: code that writes a provider's error or
// a payer's field into a log or the database masks it here, and the
// binary's log Writer passes every line through it before it is written.
//
// What it masks, in one pass over the text:
//
//   - CPF and CNPJ: formatted (529.982.247-25, 11.222.333/0001-81,
//     12.ABC.345/01DE-35) always; bare (52998224725) only when the check
//     digits are valid, so ids and amounts of 11 or 14 digits are kept.
//     They become "***.***.*47-25" and "**.***.***/**01-81" (taxid.Mask).
//   - email addresses: the local part keeps its first character,
//     "j***@example.com".
//   - phone numbers: "+" and 8 to 15 digits (spaces, dashes, dots and
//     parentheses between), or national forms ending in NNNN-NNNN
//     ("(11) 91234-5678", "010-1234-5678"); all but the last two digits
//     become "*".
//   - paygate API keys (pgk_<id>_<secret>): the secret part; provider keys
//     (sk_live_…, sk_test_…, rk_…, whsec_…): all but the prefix; Stripe
//     client secrets (pi_…_secret_…, seti_…, src_…): the part after
//     "_secret_", so a webhook body stored in the inbox keeps none.
//   - a URL query's t= (checkout link token): "t=REDACTED".
//   - the exact secret values given to New.
//
// Numbers of paygate's own (P12345678, K1234567), amounts (12.50),
// timestamps, durations, request and attempt ids are kept: a digit run
// touching a letter or digit is never a match, and dates and decimals do
// not have the shapes above.
package redact

import (
	"bytes"
	"io"
	"strings"

	"github.com/paygate/paygate/taxid"
)

// Redacted replaces a secret.
const Redacted = "REDACTED"

// minSecretLen is the shortest secret value New accepts: shorter values
// would mask ordinary words.
const minSecretLen = 8

// Redactor masks text. The zero value masks the patterns only; New adds
// secret values. It is safe for concurrent use.
type Redactor struct {
	secrets [][]byte
}

// New returns a redactor that also masks each of secrets (values shorter
// than 8 bytes are ignored: they are not secrets anyone should use).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	return r
}

// String masks s with the patterns only.
func String(s string) string {
	var r Redactor
	return r.String(s)
}

// String returns s masked.
func (r *Redactor) String(s string) string {
	out := r.Bytes([]byte(s))
	return string(out)
}

// Bytes returns b masked. It returns b itself when nothing is masked, and a
// new slice otherwise; b is never changed.
func (r *Redactor) Bytes(b []byte) []byte {
	out := b
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(Redacted))
		}
	}
	return scan(out)
}

// scan masks the patterns in one pass, copying b only when it masks.
func scan(b []byte) []byte {
	var out []byte // nil until the first match
	last := 0      // b[last:i] is not yet copied to out
	emit := func(from, to int, repl string) {
		if out == nil {
			out = make([]byte, 0, len(b)+16)
		}
		out = append(out, b[last:from]...)
		out = append(out, repl...)
		last = to
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '@':
			if from, ok := email(b, i); ok && from >= last {
				emit(from+1, i, "***")
			}
		case c == 't' && i > 0 && i+2 < len(b) && b[i+1] == '=' && tokenStart(b, i):
			end := i + 2
			for end < len(b) && !tokenEnd(b[end]) {
				end++
			}
			if end > i+2 {
				emit(i+2, end, Redacted)
				i = end
				continue
			}
		case (c == 'p' || c == 's' || c == 'r' || c == 'w') && boundary(b, i-1):
			if from, to, ok := key(b, i); ok {
				emit(from, to, Redacted)
				i = to
				continue
			}
		case (isDigit(c) || c == '+' || c == '(') && boundary(b, i-1):
			if to, repl, ok := number(b, i); ok {
				emit(i, to, repl)
				i = to
				continue
			}
			// Skip the rest of this run, so no match starts inside it.
			j := i + 1
			for j < len(b) && (isDigit(b[j]) || isLetter(b[j])) {
				j++
			}
			i = j
			continue
		}
		i++
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }

// boundary reports whether b[i] does not continue a word: it is out of
// range or neither a letter, a digit, nor '_'.
func boundary(b []byte, i int) bool {
	return i < 0 || i >= len(b) || !isAlnum(b[i]) && b[i] != '_'
}

// tokenStart reports whether the "t=" at i is a URL query parameter: after
// '?', '&' or JSON's "\u0026".
func tokenStart(b []byte, i int) bool {
	p := b[i-1]
	return p == '?' || p == '&' || i >= 6 && string(b[i-6:i]) == `\u0026`
}

// tokenEnd reports whether c ends a query parameter's value.
func tokenEnd(c byte) bool {
	return c == '&' || c == '"' || c == ' ' || c == '#' || c == '\\' || c == '\'' || c == '<' || c == '>' || c == '\n'
}

func isLocal(c byte) bool  { return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0 }
func isDomain(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// email reports whether the '@' at at is inside an email address, and
// where the address's local part starts.
func email(b []byte, at int) (from int, ok bool) {
	from = at
	for from > 0 && isLocal(b[from-1]) {
		from--
	}
	to := at + 1
	for to < len(b) && isDomain(b[to]) {
		to++
	}
	for to > at+1 && (b[to-1] == '.' || b[to-1] == '-') {
		to--
	}
	if from == at || to == at+1 {
		return 0, false
	}
	dot := bytes.LastIndexByte(b[at+1:to], '.')
	if dot <= 0 {
		return 0, false
	}
	tld := b[at+1+dot+1 : to]
	if len(tld) < 2 {
		return 0, false
	}
	for _, c := range tld {
		if !isLetter(c) {
			return 0, false
		}
	}
	return from, true
}

// keyPrefixes start secret keys: paygate's issued keys keep their public
// id, the providers' keys only their prefix.
var keyPrefixes = []string{"pgk_", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"}

// clientSecretPrefixes start the Stripe objects whose client secret is
// <object id>_secret_<secret>: payment intents, setup intents, sources.
var clientSecretPrefixes = []string{"pi_", "seti_", "src_"}

// clientSecret reports whether a Stripe client secret starts at i, and its
// secret part (after "_secret_").
func clientSecret(b []byte, i int) (from, to int, ok bool) {
	const sep = "_secret_"
	for _, p := range clientSecretPrefixes {
		if !bytes.HasPrefix(b[i:], []byte(p)) {
			continue
		}
		j := i + len(p)
		for j < len(b) && isAlnum(b[j]) {
			j++
		}
		if j == i+len(p) || !bytes.HasPrefix(b[j:], []byte(sep)) {
			return 0, 0, false
		}
		from = j + len(sep)
		to = from
		for to < len(b) && isAlnum(b[to]) {
			to++
		}
		if to-from < 8 {
			return 0, 0, false
		}
		return from, to, true
	}
	return 0, 0, false
}

// key reports whether a secret key starts at i, and the part to mask.
func key(b []byte, i int) (from, to int, ok bool) {
	if from, to, ok := clientSecret(b, i); ok {
		return from, to, true
	}
	for _, p := range keyPrefixes {
		if !bytes.HasPrefix(b[i:], []byte(p)) {
			continue
		}
		from = i + len(p)
		if p == "pgk_" {
			// pgk_<16 hex>_<secret>: keep the id.
			j := from
			for j < len(b) && j-from < 16 && isAlnum(b[j]) {
				j++
			}
			if j-from != 16 || j >= len(b) || b[j] != '_' {
				return 0, 0, false
			}
			from = j + 1
		}
		to = from
		for to < len(b) && (isAlnum(b[to]) || b[to] == '_') {
			to++
		}
		if to-from < 8 {
			return 0, 0, false
		}
		return from, to, true
	}
	return 0, 0, false
}

// number reports whether a CPF, CNPJ or phone number starts at i (which
// follows a boundary), where it ends, and its masked form.
func number(b []byte, i int) (to int, repl string, ok bool) {
	// The longest run of the characters these numbers are written with.
	end := i
	for end < len(b) && (isDigit(b[end]) || strings.IndexByte(".-/ ()+", b[end]) >= 0 ||
		isLetter(b[end]) && end-i < 18) {
		end++
	}
	run := b[i:end]
	digits := 0
	for _, c := range run {
		if isDigit(c) {
			digits++
		}
	}
	if digits < 8 { // shorter than any of the numbers (fast path)
		return 0, "", false
	}
	// Formatted CPF and CNPJ (CNPJ may hold letters in its body).
	if n, ok := formattedTaxID(run); ok && boundary(b, i+n) {
		return i + n, taxid.Mask(string(run[:n])), true
	}
	// Bare digits: an 11-digit CPF or a 14-digit CNPJ with valid check digits.
	d := 0
	for d < len(run) && isDigit(run[d]) {
		d++
	}
	if (d == 11 || d == 14) && boundary(b, i+d) && taxid.Valid(string(run[:d])) {
		return i + d, taxid.Mask(string(run[:d])), true
	}
	if n, ok := phone(run); ok && boundary(b, i+n) {
		return i + n, maskDigits(run[:n]), true
	}
	return 0, "", false
}

// formattedTaxID reports whether run starts with a formatted CPF
// (DDD.DDD.DDD-DD) or CNPJ (XX.XXX.XXX/XXXX-DD), and its length.
func formattedTaxID(run []byte) (int, bool) {
	match := func(shape string) bool {
		if len(run) < len(shape) {
			return false
		}
		for k := 0; k < len(shape); k++ {
			c := run[k]
			switch shape[k] {
			case 'D':
				if !isDigit(c) {
					return false
				}
			case 'X':
				if !isDigit(c) && !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
					return false
				}
			default:
				if c != shape[k] {
					return false
				}
			}
		}
		return true
	}
	for _, shape := range [...]string{"DDD.DDD.DDD-DD", "XX.XXX.XXX/XXXX-DD"} {
		if match(shape) {
			return len(shape), true
		}
	}
	return 0, false
}

// phone reports whether run starts with a phone number, and its length:
// "+" and 8 to 15 digits, or a national number whose last groups are
// NNNN-NNNN or NNNNN-NNNN, with 9 to 13 digits in all.
func phone(run []byte) (int, bool) {
	digits, n, lastDigit := 0, 0, 0
	var groupBuf [16]int
	groups := groupBuf[:0] // digit counts of the groups, split at separators
	cur := 0
	for n < len(run) {
		c := run[n]
		switch {
		case isDigit(c):
			digits++
			cur++
			lastDigit = n + 1
		case c == '+' && n == 0:
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			if cur > 0 {
				groups = append(groups, cur)
				cur = 0
			}
		default:
			n = len(run) // a letter: stop
			continue
		}
		n++
	}
	if cur > 0 {
		groups = append(groups, cur)
	}
	if lastDigit == 0 {
		return 0, false
	}
	if run[0] == '+' {
		if digits < 8 || digits > 15 {
			return 0, false
		}
		// "+" then groups of digits, no group of 5+ digits after a dot
		// (that would be a signed decimal such as +1.50000).
		if bytes.IndexByte(run[:lastDigit], '.') >= 0 && len(groups) == 2 {
			return 0, false
		}
		return lastDigit, true
	}
	if digits < 9 || digits > 13 || len(groups) < 2 {
		return 0, false
	}
	last, prev := groups[len(groups)-1], groups[len(groups)-2]
	sep := run[lastDigit-last-1]
	if last != 4 || (prev != 4 && prev != 5) || sep != '-' && sep != ' ' {
		return 0, false
	}
	// Dates (2026-11-26) and times never end in two groups of 4+ digits, and
	// decimals have one dot; a national number has no dot before its end.
	if bytes.IndexByte(run[:lastDigit], '.') >= 0 || bytes.IndexByte(run[:lastDigit], '/') >= 0 {
		return 0, false
	}
	return lastDigit, true
}

// maskDigits returns s with every digit but the last two replaced by '*'.
func maskDigits(s []byte) string {
	out := []byte(string(s))
	seen := 0
	for k := len(out) - 1; k >= 0; k-- {
		if isDigit(out[k]) {
			seen++
			if seen > 2 {
				out[k] = '*'
			}
		}
	}
	return string(out)
}

// Writer masks every write with r before passing it to w. Each write must
// hold whole lines, as a zerolog.Logger writes one event per write. It is
// safe for concurrent use if w is.
type Writer struct {
	w io.Writer
	r *Redactor
}

// NewWriter returns a Writer that masks with r on to w.
func NewWriter(w io.Writer, r *Redactor) *Writer { return &Writer{w: w, r: r} }

// Write writes p masked. It reports len(p) written when the masked bytes
// were all written.
func (w *Writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Error returns err with its message masked by the patterns; it unwraps to
// err, so errors.Is and errors.As still see the cause. A nil err is nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return maskedError{err}
}

type maskedError struct{ err error }

func (e maskedError) Error() string { return String(e.err.Error()) }
func (e maskedError) Unwrap() error { return e.err }
