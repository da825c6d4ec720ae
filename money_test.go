package paygate_test

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/paygate/paygate"
)

// maxMessageLen bounds every error message: a hostile amount must not be
// echoed back at length.
const maxMessageLen = 200

func TestCurrencyExponent(t *testing.T) {
	tests := []struct {
		c      paygate.Currency
		want   int32
		wantOK bool
	}{
		{paygate.EUR, 2, true},
		{paygate.SGD, 2, true},
		{paygate.BRL, 2, true},
		{paygate.USD, 2, true},
		{paygate.KRW, 0, true},
		{"XYZ", 0, false},
		{"eur", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.c), func(t *testing.T) {
			got, ok := tt.c.Exponent()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("%q.Exponent() = %d, %t, want %d, %t", tt.c, got, ok, tt.want, tt.wantOK)
			}
			if valid := tt.c.Valid(); valid != tt.wantOK {
				t.Errorf("%q.Valid() = %t, want %t", tt.c, valid, tt.wantOK)
			}
		})
	}
}

func TestCurrencies(t *testing.T) {
	got := paygate.Currencies()
	want := []paygate.Currency{paygate.EUR, paygate.SGD, paygate.BRL, paygate.KRW, paygate.USD}
	if !slices.Equal(got, want) {
		t.Fatalf("Currencies() = %v, want %v", got, want)
	}
	for _, c := range got {
		if !c.Valid() {
			t.Errorf("Currencies() lists %s, which is not Valid", c)
		}
	}
}

func TestParseCurrency(t *testing.T) {
	tests := []struct {
		s       string
		want    paygate.Currency
		wantErr string // a substring of the error; "" for success
	}{
		{"EUR", paygate.EUR, ""},
		{"KRW", paygate.KRW, ""},
		{"eur", "", `unknown currency "eur"`},
		{"XYZ", "", `unknown currency "XYZ"`},
		{"", "", `unknown currency ""`},
		{strings.Repeat("E", 1000), "", "unknown currency"},
	}
	for _, tt := range tests {
		t.Run(name(tt.s), func(t *testing.T) {
			got, err := paygate.ParseCurrency(tt.s)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseCurrency(%q) = %v, %v, want %v", tt.s, got, err, tt.want)
				}
				return
			}
			checkInvalid(t, "ParseCurrency("+quote(tt.s)+")", err, tt.wantErr)
		})
	}
}

// parseTests are amounts that ParseMoney and ParseSignedMoney both accept.
var parseTests = []struct {
	s    string
	c    paygate.Currency
	want int64
}{
	{"12.50", paygate.EUR, 1250},
	{"12.50", paygate.SGD, 1250},
	{"12.50", paygate.BRL, 1250},
	{"12.50", paygate.USD, 1250},
	{"0.01", paygate.EUR, 1},
	{"0", paygate.EUR, 0},
	{"0", paygate.KRW, 0},
	{"0.00", paygate.USD, 0},
	{"1500", paygate.KRW, 1500},
	{"12", paygate.EUR, 1200},
	{"12.5", paygate.EUR, 1250},
	// Zeros past the minor unit are exact, so they are accepted.
	{"12.500", paygate.EUR, 1250},
	{"1500.000", paygate.KRW, 1500},
	{"0012.50", paygate.EUR, 1250},
	{"9223372036854775807", paygate.KRW, math.MaxInt64},
	{"92233720368547758.07", paygate.EUR, math.MaxInt64},
	{"92233720368547758.0700", paygate.EUR, math.MaxInt64},
}

func TestParseMoney(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(name(tt.s)+"/"+string(tt.c), func(t *testing.T) {
			want := paygate.New(tt.want, tt.c)
			got, err := paygate.ParseMoney(tt.s, tt.c)
			if err != nil || got != want {
				t.Errorf("ParseMoney(%q, %s) = %#v, %v, want %#v", tt.s, tt.c, got, err, want)
			}
		})
	}
}

// parseErrorTests are amounts that ParseMoney rejects, each with a substring
// of the error that says what is wrong.
var parseErrorTests = []struct {
	name    string
	s       string
	c       paygate.Currency
	wantErr string
}{
	{"too many decimals", "12.345", paygate.EUR, `amount "12.345" has more than 2 decimals, the most EUR allows`},
	{"too many decimals after zeros", "0.0010", paygate.USD, "more than 2 decimals"},
	{"KRW decimals", "1500.5", paygate.KRW, "KRW has no minor unit"},
	{"KRW cent", "0.01", paygate.KRW, "KRW has no minor unit"},
	{"negative", "-1", paygate.EUR, `amount "-1" is negative`},
	{"negative decimal", "-12.50", paygate.EUR, "is negative"},
	{"exponent", "1e3", paygate.EUR, `amount "1e3" is not a decimal number`},
	{"empty", "", paygate.EUR, "amount is empty"},
	{"letters", "abc", paygate.EUR, `amount "abc" is not a decimal number`},
	{"unknown currency", "12.50", "XYZ", `unknown currency "XYZ"`},
	{"empty currency", "12.50", "", `unknown currency ""`},
	{"lowercase currency", "12.50", "eur", `unknown currency "eur"`},
	{"over int64 KRW", "9223372036854775808", paygate.KRW, `amount "9223372036854775808" KRW is too large`},
	{"over int64 EUR", "92233720368547758.08", paygate.EUR, `amount "92233720368547758.08" EUR is too large`},
	{"30 digits", "123456789012345678901234567890", paygate.USD, "is too large"},
	{"leading space", " 1", paygate.EUR, "is not a decimal number"},
	{"trailing space", "1 ", paygate.EUR, "is not a decimal number"},
	{"plus sign", "+1", paygate.EUR, "is not a decimal number"},
	{"no integer digits", ".5", paygate.EUR, "is not a decimal number"},
	{"no decimal digits", "5.", paygate.EUR, "is not a decimal number"},
	{"point only", ".", paygate.EUR, "is not a decimal number"},
	{"decimal comma", "1,5", paygate.EUR, "is not a decimal number"},
	{"two points", "1.2.3", paygate.EUR, "is not a decimal number"},
	{"hexadecimal", "0x10", paygate.EUR, "is not a decimal number"},
	{"underscore", "1_000", paygate.KRW, "is not a decimal number"},
	{"NaN", "NaN", paygate.EUR, "is not a decimal number"},
	{"Inf", "Inf", paygate.EUR, "is not a decimal number"},
	{"fullwidth digits", "１２", paygate.EUR, "is not a decimal number"},
	{"arabic-indic digits", "١٢", paygate.KRW, "is not a decimal number"},
	{"NUL byte", "1\x00", paygate.EUR, "is not a decimal number"},
	{"40 control bytes", strings.Repeat("\x00", 40), paygate.EUR, "is not a decimal number"},
	{"40 invalid UTF-8 bytes", strings.Repeat("\xff", 40), paygate.EUR, "is not a decimal number"},
	{"1000 characters", strings.Repeat("9", 1000), paygate.EUR, "is too long"},
	{"1000 invalid bytes", strings.Repeat("\x80", 1000), paygate.EUR, "is too long"},
	{"1000-byte currency", "1", paygate.Currency(strings.Repeat("\x00", 1000)), "unknown currency"},
}

func TestParseMoneyErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := paygate.ParseMoney(tt.s, tt.c)
			if err == nil {
				t.Fatalf("ParseMoney(%q, %s) = %#v, want error containing %q", tt.s, tt.c, got, tt.wantErr)
			}
			if got != (paygate.Money{}) {
				t.Errorf("ParseMoney(%q, %s) = %#v with error, want the zero Money", tt.s, tt.c, got)
			}
			checkInvalid(t, "ParseMoney("+quote(tt.s)+", "+string(tt.c)+")", err, tt.wantErr)
		})
	}
}

func TestParseSignedMoney(t *testing.T) {
	tests := []struct {
		s    string
		c    paygate.Currency
		want int64
	}{
		{"-12.50", paygate.EUR, -1250},
		{"-0.05", paygate.USD, -5},
		{"-1500", paygate.KRW, -1500},
		{"-12.500", paygate.EUR, -1250},
		{"-0", paygate.EUR, 0},
		{"-9223372036854775807", paygate.KRW, -math.MaxInt64},
		{"-92233720368547758.07", paygate.EUR, -math.MaxInt64},
	}
	tests = append(tests, parseTests...)
	for _, tt := range tests {
		t.Run(name(tt.s)+"/"+string(tt.c), func(t *testing.T) {
			want := paygate.New(tt.want, tt.c)
			got, err := paygate.ParseSignedMoney(tt.s, tt.c)
			if err != nil || got != want {
				t.Errorf("ParseSignedMoney(%q, %s) = %#v, %v, want %#v", tt.s, tt.c, got, err, want)
			}
		})
	}
}

func TestParseSignedMoneyErrors(t *testing.T) {
	tests := []struct {
		s       string
		c       paygate.Currency
		wantErr string
	}{
		{"--1", paygate.EUR, `amount "-1" is not a decimal number`},
		{"-", paygate.EUR, "amount is empty"},
		{"+1", paygate.EUR, `amount "+1" is not a decimal number`},
		{"- 1", paygate.EUR, "is not a decimal number"},
		{"1-", paygate.EUR, "is not a decimal number"},
		{"-12.345", paygate.EUR, "more than 2 decimals"},
		{"-1.5", paygate.KRW, "KRW has no minor unit"},
		{"-1", "XYZ", `unknown currency "XYZ"`},
		// The most negative int64 has no positive twin, so it is out of range.
		{"-9223372036854775808", paygate.KRW, "is too large"},
		{"-92233720368547758.08", paygate.EUR, "is too large"},
	}
	for _, tt := range tests {
		t.Run(name(tt.s)+"/"+string(tt.c), func(t *testing.T) {
			got, err := paygate.ParseSignedMoney(tt.s, tt.c)
			if err == nil {
				t.Fatalf("ParseSignedMoney(%q, %s) = %#v, want error containing %q", tt.s, tt.c, got, tt.wantErr)
			}
			checkInvalid(t, "ParseSignedMoney("+quote(tt.s)+", "+string(tt.c)+")", err, tt.wantErr)
		})
	}
}

func TestMoneyAmount(t *testing.T) {
	tests := []struct {
		m          paygate.Money
		wantAmount string
		wantString string
	}{
		{paygate.New(1250, paygate.EUR), "12.50", "12.50 EUR"},
		{paygate.New(5, paygate.EUR), "0.05", "0.05 EUR"},
		{paygate.New(-5, paygate.EUR), "-0.05", "-0.05 EUR"},
		{paygate.New(100, paygate.USD), "1.00", "1.00 USD"},
		{paygate.New(1500, paygate.KRW), "1500", "1500 KRW"},
		{paygate.New(-1500, paygate.KRW), "-1500", "-1500 KRW"},
		{paygate.New(0, paygate.SGD), "0.00", "0.00 SGD"},
		{paygate.New(0, paygate.KRW), "0", "0 KRW"},
		{paygate.New(math.MaxInt64, paygate.EUR), "92233720368547758.07", "92233720368547758.07 EUR"},
		{paygate.New(math.MaxInt64, paygate.KRW), "9223372036854775807", "9223372036854775807 KRW"},
		{paygate.New(math.MinInt64, paygate.BRL), "-92233720368547758.08", "-92233720368547758.08 BRL"},
	}
	for _, tt := range tests {
		t.Run(tt.wantString, func(t *testing.T) {
			if got := tt.m.Amount(); got != tt.wantAmount {
				t.Errorf("%#v.Amount() = %q, want %q", tt.m, got, tt.wantAmount)
			}
			if got := tt.m.String(); got != tt.wantString {
				t.Errorf("%#v.String() = %q, want %q", tt.m, got, tt.wantString)
			}
		})
	}
}

func TestMoneyNeg(t *testing.T) {
	tests := []struct {
		m, want paygate.Money
	}{
		{paygate.New(1250, paygate.EUR), paygate.New(-1250, paygate.EUR)},
		{paygate.New(-5, paygate.KRW), paygate.New(5, paygate.KRW)},
		{paygate.New(0, paygate.USD), paygate.New(0, paygate.USD)},
		{paygate.New(math.MaxInt64, paygate.SGD), paygate.New(-math.MaxInt64, paygate.SGD)},
	}
	for _, tt := range tests {
		t.Run(tt.m.String(), func(t *testing.T) {
			if got := tt.m.Neg(); got != tt.want {
				t.Errorf("%#v.Neg() = %#v, want %#v", tt.m, got, tt.want)
			}
			if got, want := tt.m.IsZero(), tt.m.Minor == 0; got != want {
				t.Errorf("%#v.IsZero() = %t, want %t", tt.m, got, want)
			}
		})
	}
}

func TestMoneyAdd(t *testing.T) {
	eur := func(n int64) paygate.Money { return paygate.New(n, paygate.EUR) }
	tests := []struct {
		name    string
		m, o    paygate.Money
		want    paygate.Money
		wantErr string
	}{
		{"same currency", eur(1250), eur(5), eur(1255), ""},
		{"negative", eur(5), eur(-1250), eur(-1245), ""},
		{"zero", paygate.New(0, paygate.KRW), paygate.New(1500, paygate.KRW), paygate.New(1500, paygate.KRW), ""},
		{"to the max", eur(math.MaxInt64 - 1), eur(1), eur(math.MaxInt64), ""},
		{"to the min", eur(math.MinInt64 + 1), eur(-1), eur(math.MinInt64), ""},
		{"max plus min", eur(math.MaxInt64), eur(math.MinInt64), eur(-1), ""},
		{"two currencies", eur(1250), paygate.New(1250, paygate.USD), paygate.Money{}, "cannot add USD to EUR"},
		{"no currency", eur(1), paygate.Money{Minor: 1}, paygate.Money{}, "cannot add"},
		{"max plus one", eur(math.MaxInt64), eur(1), paygate.Money{}, "overflows"},
		{"max plus max", eur(math.MaxInt64), eur(math.MaxInt64), paygate.Money{}, "overflows"},
		{"min minus one", eur(math.MinInt64), eur(-1), paygate.Money{}, "overflows"},
		{"min plus min", eur(math.MinInt64), eur(math.MinInt64), paygate.Money{}, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Add(tt.o)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("%#v.Add(%#v) = %#v, %v, want %#v", tt.m, tt.o, got, err, tt.want)
				}
				return
			}
			if got != (paygate.Money{}) {
				t.Errorf("%#v.Add(%#v) = %#v with error, want the zero Money", tt.m, tt.o, got)
			}
			checkInvalid(t, tt.m.GoString()+".Add("+tt.o.GoString()+")", err, tt.wantErr)
		})
	}
}

func TestMoneySub(t *testing.T) {
	eur := func(n int64) paygate.Money { return paygate.New(n, paygate.EUR) }
	tests := []struct {
		name    string
		m, o    paygate.Money
		want    paygate.Money
		wantErr string
	}{
		{"same currency", eur(1250), eur(5), eur(1245), ""},
		{"below zero", eur(5), eur(1250), eur(-1245), ""},
		{"minus negative", eur(5), eur(-5), eur(10), ""},
		{"to the min", eur(math.MinInt64 + 1), eur(1), eur(math.MinInt64), ""},
		{"to the max", eur(math.MaxInt64 - 1), eur(-1), eur(math.MaxInt64), ""},
		{"minus one minus min", eur(-1), eur(math.MinInt64), eur(math.MaxInt64), ""},
		{"min minus min", eur(math.MinInt64), eur(math.MinInt64), eur(0), ""},
		{"two currencies", eur(1250), paygate.New(1250, paygate.KRW), paygate.Money{}, "cannot subtract KRW from EUR"},
		{"two currencies at min", eur(1), paygate.New(math.MinInt64, paygate.KRW), paygate.Money{}, "cannot subtract KRW from EUR"},
		{"min minus one", eur(math.MinInt64), eur(1), paygate.Money{}, "overflows"},
		{"max minus minus one", eur(math.MaxInt64), eur(-1), paygate.Money{}, "overflows"},
		{"zero minus min", eur(0), eur(math.MinInt64), paygate.Money{}, "overflows"},
		{"min minus max", eur(math.MinInt64), eur(math.MaxInt64), paygate.Money{}, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Sub(tt.o)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("%#v.Sub(%#v) = %#v, %v, want %#v", tt.m, tt.o, got, err, tt.want)
				}
				return
			}
			if got != (paygate.Money{}) {
				t.Errorf("%#v.Sub(%#v) = %#v with error, want the zero Money", tt.m, tt.o, got)
			}
			checkInvalid(t, tt.m.GoString()+".Sub("+tt.o.GoString()+")", err, tt.wantErr)
		})
	}
}

// FuzzParseMoney checks that ParseMoney never panics, that what it accepts is
// non-negative and survives Amount and ParseMoney unchanged, and that what it
// rejects is a short EINVALID error.
func FuzzParseMoney(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s, currency string) {
		c := paygate.Currency(currency)
		m, err := paygate.ParseMoney(s, c)
		if err != nil {
			checkRejected(t, "ParseMoney", s, c, err)
			return
		}
		if m.Currency != c || m.Minor < 0 {
			t.Fatalf("ParseMoney(%q, %s) = %#v, want a non-negative amount of %s", s, c, m, c)
		}
		checkAmount(t, m)
		if back, err := paygate.ParseMoney(m.Amount(), c); err != nil || back != m {
			t.Fatalf("ParseMoney(%q, %s) = %#v, %v, want %#v (the parse of %q)", m.Amount(), c, back, err, m, s)
		}
		if signed, err := paygate.ParseSignedMoney(s, c); err != nil || signed != m {
			t.Fatalf("ParseSignedMoney(%q, %s) = %#v, %v, want %#v as ParseMoney", s, c, signed, err, m)
		}
	})
}

// FuzzParseSignedMoney checks ParseSignedMoney against ParseMoney: an
// unsigned amount parses the same, a minus sign negates, and what it accepts
// survives Amount and ParseSignedMoney unchanged.
func FuzzParseSignedMoney(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s, currency string) {
		c := paygate.Currency(currency)
		m, err := paygate.ParseSignedMoney(s, c)
		if err != nil {
			checkRejected(t, "ParseSignedMoney", s, c, err)
		}

		unsigned, negative := strings.CutPrefix(s, "-")
		want, wantErr := paygate.ParseMoney(unsigned, c)
		if negative {
			want = want.Neg()
		}
		if (err == nil) != (wantErr == nil) || m != want {
			t.Fatalf("ParseSignedMoney(%q, %s) = %#v, %v, want %#v, %v (from ParseMoney(%q))", s, c, m, err, want, wantErr, unsigned)
		}
		if err != nil {
			return
		}
		checkAmount(t, m)
		if back, err := paygate.ParseSignedMoney(m.Amount(), c); err != nil || back != m {
			t.Fatalf("ParseSignedMoney(%q, %s) = %#v, %v, want %#v (the parse of %q)", m.Amount(), c, back, err, m, s)
		}
	})
}

// FuzzMoneyRoundTrip checks that every amount of minor units in a supported
// currency formats to a string that ParseSignedMoney (and, when it is not
// negative, ParseMoney) reads back exactly. The most negative int64 is the
// one exception: it has no positive twin, and parsing it is an error.
func FuzzMoneyRoundTrip(f *testing.F) {
	for i := range paygate.Currencies() {
		for _, n := range []int64{0, 1, -1, 5, -5, 99, 100, 1250, -1250, 1500, math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1, math.MinInt64} {
			f.Add(n, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, n int64, currencyIndex uint8) {
		currencies := paygate.Currencies()
		c := currencies[int(currencyIndex)%len(currencies)]
		m := paygate.New(n, c)
		checkAmount(t, m)

		got, err := paygate.ParseSignedMoney(m.Amount(), c)
		if n == math.MinInt64 {
			if err == nil {
				t.Fatalf("ParseSignedMoney(%q, %s) = %#v, want an error", m.Amount(), c, got)
			}
			checkRejected(t, "ParseSignedMoney", m.Amount(), c, err)
			return
		}
		if err != nil || got != m {
			t.Fatalf("ParseSignedMoney(%q, %s) = %#v, %v, want %#v", m.Amount(), c, got, err, m)
		}

		got, err = paygate.ParseMoney(m.Amount(), c)
		switch {
		case n >= 0 && (err != nil || got != m):
			t.Fatalf("ParseMoney(%q, %s) = %#v, %v, want %#v", m.Amount(), c, got, err, m)
		case n < 0 && err == nil:
			t.Fatalf("ParseMoney(%q, %s) = %#v, want a negative-amount error", m.Amount(), c, got)
		case n < 0:
			checkRejected(t, "ParseMoney", m.Amount(), c, err)
		}
	})
}

// addSeeds adds every amount of the table tests, in every supported currency
// and a few unsupported ones, to the fuzz corpus.
func addSeeds(f *testing.F) {
	var inputs []string
	for _, tt := range parseTests {
		inputs = append(inputs, tt.s, "-"+tt.s)
	}
	for _, tt := range parseErrorTests {
		inputs = append(inputs, tt.s)
	}
	inputs = append(inputs, "--1", "-", "+1", "-0")
	currencies := append(paygate.Currencies(), "XYZ", "", "eur")
	for _, s := range inputs {
		for _, c := range currencies {
			f.Add(s, string(c))
		}
	}
}

// checkInvalid fails t unless err is a short EINVALID error containing
// wantErr. call names the call that returned err.
func checkInvalid(t *testing.T, call string, err error, wantErr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s error = nil, want %q", call, wantErr)
	}
	if code := paygate.ErrorCode(err); code != paygate.EINVALID {
		t.Errorf("%s error code = %q, want %q (error: %v)", call, code, paygate.EINVALID, err)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("%s error = %q, want it to contain %q", call, err, wantErr)
	}
	if n := len(err.Error()); n >= maxMessageLen {
		t.Errorf("%s error is %d bytes, want under %d: %q", call, n, maxMessageLen, err)
	}
	if got := paygate.ErrorMessage(err); got != err.Error() {
		t.Errorf("ErrorMessage(%s error) = %q, want %q", call, got, err)
	}
}

// checkRejected fails t unless err, returned by fn(s, c), is a short EINVALID
// error.
func checkRejected(t *testing.T, fn, s string, c paygate.Currency, err error) {
	t.Helper()
	if code := paygate.ErrorCode(err); code != paygate.EINVALID {
		t.Fatalf("%s(%q, %q) error code = %q, want %q (error: %v)", fn, s, c, code, paygate.EINVALID, err)
	}
	if n := len(err.Error()); n >= maxMessageLen {
		t.Fatalf("%s(%q, %q) error is %d bytes, want under %d: %q", fn, s, c, n, maxMessageLen, err)
	}
}

// checkAmount fails t unless m.Amount() is an optional minus sign, digits,
// and exactly the currency's decimals after a point (none for KRW).
func checkAmount(t *testing.T, m paygate.Money) {
	t.Helper()
	exp, _ := m.Currency.Exponent()
	amount := m.Amount()
	intPart, frac, hasPoint := strings.Cut(strings.TrimPrefix(amount, "-"), ".")
	if !isDigits(intPart) || len(frac) != int(exp) || hasPoint != (exp > 0) || (exp > 0 && !isDigits(frac)) {
		t.Fatalf("%#v.Amount() = %q, want digits with exactly %d decimals", m, amount, exp)
	}
	if strings.HasPrefix(amount, "-") != (m.Minor < 0) {
		t.Fatalf("%#v.Amount() = %q, want a minus sign exactly when the amount is negative", m, amount)
	}
}

func isDigits(s string) bool {
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

// name returns a short, readable subtest name for an input.
func name(s string) string {
	if len(s) > 24 {
		return quote(s[:24]) + "…"
	}
	return quote(s)
}

func quote(s string) string { return strconv.Quote(s) }

func TestGrouped(t *testing.T) {
	for _, tt := range []struct {
		m    paygate.Money
		want string
	}{
		{paygate.New(1249567, paygate.KRW), "1,249,567 KRW"},
		{paygate.New(128046, paygate.BRL), "1,280.46 BRL"},
		{paygate.New(1975, paygate.EUR), "19.75 EUR"},
		{paygate.New(100000, paygate.KRW), "100,000 KRW"},
		{paygate.New(99999, paygate.KRW), "99,999 KRW"},
		{paygate.New(-1200000, paygate.EUR), "-12,000.00 EUR"},
		{paygate.New(0, paygate.SGD), "0.00 SGD"},
		{paygate.New(123456789012, paygate.SGD), "1,234,567,890.12 SGD"},
	} {
		if got := tt.m.Display(); got != tt.want {
			t.Errorf("%s.Display() = %q, want %q", tt.m, got, tt.want)
		}
	}
}
