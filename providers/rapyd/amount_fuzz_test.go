package rapyd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paygate/paygate"
)

// FuzzParseAmount checks Rapyd's major-unit amounts: parseAmount never
// panics, refuses with EINVALID, accepts only a non-negative amount the
// currency can hold, reads a JSON number and the same number in a JSON
// string alike, and what it accepts survives majorUnits (the form paygate
// sends) and parseAmount unchanged, with no trailing zeros.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{`15000`, `"15000"`, `10.5`, `10.50`, `"10.50"`, `1500.5`, `0`, `0.00`, `-1`, `1e3`, `"1e3"`,
		`null`, ``, `"abc"`, `9223372036854775807`, `9223372036854775808`, `92233720368547758.07`, `1.`, `.5`, `01`, `"\u0031"`, `[]`, `{}`} {
		for _, c := range []string{"KRW", "EUR", "krw", "XXX"} {
			f.Add([]byte(s), c)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, code string) {
		m, err := parseAmount(json.RawMessage(raw), code)
		if err != nil {
			if paygate.ErrorCode(err) != paygate.EINVALID || paygate.ErrorMessage(err) == "" {
				t.Fatalf("parseAmount(%q, %q) error %v, want EINVALID with a message", raw, code, err)
			}
			return
		}
		text := strings.TrimSpace(string(raw))
		if text == "" || text == "null" {
			if m != (paygate.Money{}) {
				t.Fatalf("parseAmount(%q, %q) = %#v, want zero money", raw, code, m)
			}
			return
		}
		if m.Minor < 0 || string(m.Currency) != code || !m.Currency.Valid() {
			t.Fatalf("parseAmount(%q, %q) = %#v, want a non-negative amount of %s", raw, code, m, code)
		}
		if strings.ContainsAny(text, "eE+-") {
			t.Fatalf("parseAmount(%q, %q) = %#v, want a sign or an exponent refused", raw, code, m)
		}
		sent := majorUnits(m)
		if s := string(sent); strings.Contains(s, ".") && strings.HasSuffix(s, "0") {
			t.Fatalf("majorUnits(%#v) = %s, want no trailing zeros", m, s)
		}
		back, err := parseAmount(json.RawMessage(sent), code)
		if err != nil || back != m {
			t.Fatalf("parseAmount(majorUnits(%#v) = %s) = %#v, %v, want it back", m, sent, back, err)
		}
		quoted, _ := json.Marshal(string(sent))
		if back, err := parseAmount(quoted, code); err != nil || back != m {
			t.Fatalf("parseAmount(%s) = %#v, %v, want %#v as the bare number", quoted, back, err, m)
		}
	})
}
