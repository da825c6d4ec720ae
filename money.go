package paygate

import (
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 currency code that paygate supports.
type Currency string

// The currencies paygate supports.
const (
	EUR Currency = "EUR"
	SGD Currency = "SGD"
	BRL Currency = "BRL"
	KRW Currency = "KRW"
	USD Currency = "USD"
)

// Currencies lists every supported currency.
func Currencies() []Currency { return []Currency{EUR, SGD, BRL, KRW, USD} }

// Exponent returns the number of decimals of the currency's minor unit
// (2 for EUR: 1 EUR = 100 cents; 0 for KRW) and false for an unsupported
// currency.
func (c Currency) Exponent() (int32, bool) {
	switch c {
	case EUR, SGD, BRL, USD:
		return 2, true
	case KRW:
		return 0, true
	}
	return 0, false
}

// Valid reports whether paygate supports the currency.
func (c Currency) Valid() bool {
	_, ok := c.Exponent()
	return ok
}

// ParseCurrency returns the currency for an upper-case ISO code, or an
// EINVALID error naming the code.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if !c.Valid() {
		return "", Errorf(EINVALID, "unknown currency %q", Clip(s, maxQuoted))
	}
	return c, nil
}

// Money is an amount of integer minor units (cents; whole won for KRW) in one
// currency. The zero value has no currency and is not valid money.
type Money struct {
	Minor    int64
	Currency Currency
}

// New returns minor units of currency c.
func New(minor int64, c Currency) Money { return Money{Minor: minor, Currency: c} }

// maxAmountLen bounds the length of an amount string, so a hostile input
// cannot make the parser do unbounded work. The largest int64 amount has 19
// digits.
const maxAmountLen = 40

// ParseMoney parses a non-negative decimal string in major units ("12.50")
// into money of currency c. It accepts digits with at most one decimal point
// and digits on both sides of it; it rejects signs, exponents, spaces, more
// decimals than the currency has (non-zero digits past the minor unit: "12.345"
// EUR, "1500.5" KRW), amounts beyond the int64 range of minor units, and
// unknown currencies. Every error is an EINVALID *Error saying what is wrong.
func ParseMoney(s string, c Currency) (Money, error) {
	if strings.HasPrefix(s, "-") {
		if _, err := parseAmount(s[1:], c); err != nil {
			return Money{}, err
		}
		return Money{}, Errorf(EINVALID, "amount %q is negative; it must be zero or more", Clip(s, maxQuoted))
	}
	return parseAmount(s, c)
}

// ParseSignedMoney is ParseMoney that also accepts a leading minus sign, for
// the edges where amounts are signed (fees and refunds in settlement reports).
func ParseSignedMoney(s string, c Currency) (Money, error) {
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		m, err := parseAmount(rest, c)
		if err != nil {
			return Money{}, err
		}
		return m.Neg(), nil
	}
	return parseAmount(s, c)
}

func parseAmount(s string, c Currency) (Money, error) {
	exp, ok := c.Exponent()
	if !ok {
		return Money{}, Errorf(EINVALID, "unknown currency %q", Clip(string(c), maxQuoted))
	}
	if s == "" {
		return Money{}, Errorf(EINVALID, "amount is empty")
	}
	if len(s) > maxAmountLen {
		return Money{}, Errorf(EINVALID, "amount %q is too long", Clip(s, maxQuoted))
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasPoint && !allDigits(frac)) {
		return Money{}, Errorf(EINVALID, "amount %q is not a decimal number like \"12.50\"", Clip(s, maxQuoted))
	}
	if len(strings.TrimRight(frac, "0")) > int(exp) {
		if exp == 0 {
			return Money{}, Errorf(EINVALID, "amount %q has decimals; %s has no minor unit", s, c)
		}
		return Money{}, Errorf(EINVALID, "amount %q has more than %d decimals, the most %s allows", s, exp, c)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Money{}, Errorf(EINVALID, "amount %q is not a decimal number like \"12.50\"", Clip(s, maxQuoted))
	}
	minor := d.Shift(exp)
	if minor.GreaterThan(decimal.NewFromInt(math.MaxInt64)) {
		return Money{}, Errorf(EINVALID, "amount %q %s is too large", s, c)
	}
	return Money{Minor: minor.IntPart(), Currency: c}, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxQuoted bounds how many bytes of an input an error message quotes: %q
// may spell one byte as four ("\x00"), and messages must stay short.
const maxQuoted = 32

// Decimal returns the amount in major units.
func (m Money) Decimal() decimal.Decimal {
	exp, _ := m.Currency.Exponent()
	return decimal.New(m.Minor, -exp)
}

// Amount formats the amount in major units with exactly the currency's
// decimals ("12.50", "1500", "-0.05"), as ParseMoney and ParseSignedMoney
// read it.
func (m Money) Amount() string {
	exp, _ := m.Currency.Exponent()
	return m.Decimal().StringFixed(exp)
}

// String formats money as "12.50 EUR".
func (m Money) String() string { return m.Amount() + " " + string(m.Currency) }

// Grouped is Amount with its whole part grouped by thousands with commas,
// as people read amounts on a page: "1,249,567" KRW, "1,280.46" BRL,
// "-12,000.00" EUR. Every page writes amounts this one way; forms and the
// API keep Amount, which parses back.
func (m Money) Grouped() string { return GroupDigits(m.Amount()) }

// GroupDigits groups the whole part of a decimal amount ("-1280.46") by
// thousands with commas ("-1,280.46"); anything that is not such an amount
// comes back as it is.
func GroupDigits(amount string) string {
	sign, s := "", amount
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return amount
	}
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// Display is Grouped and the currency code: "1,249,567 KRW".
func (m Money) Display() string { return m.Grouped() + " " + string(m.Currency) }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.Minor == 0 }

// Neg returns the amount with its sign flipped. The most negative int64 has no
// negation; money never holds it (ParseSignedMoney cannot produce it).
func (m Money) Neg() Money { return Money{Minor: -m.Minor, Currency: m.Currency} }

// Add returns m + o. Adding two currencies, or overflowing int64, is an
// error.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Errorf(EINVALID, "cannot add %s to %s", o.Currency, m.Currency)
	}
	sum := m.Minor + o.Minor
	if (o.Minor > 0 && sum < m.Minor) || (o.Minor < 0 && sum > m.Minor) {
		return Money{}, Errorf(EINVALID, "%s + %s overflows", m, o)
	}
	return Money{Minor: sum, Currency: m.Currency}, nil
}

// Sub returns m - o. Subtracting two currencies, or overflowing int64, is
// an error.
func (m Money) Sub(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, Errorf(EINVALID, "cannot subtract %s from %s", o.Currency, m.Currency)
	}
	diff := m.Minor - o.Minor
	if (o.Minor > 0 && diff > m.Minor) || (o.Minor < 0 && diff < m.Minor) {
		return Money{}, Errorf(EINVALID, "%s - %s overflows", m, o)
	}
	return Money{Minor: diff, Currency: m.Currency}, nil
}

// GoString helps test failure messages.
func (m Money) GoString() string { return fmt.Sprintf("paygate.Money{%d %s}", m.Minor, m.Currency) }
