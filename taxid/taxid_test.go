package taxid

import (
	"strings"
	"testing"
)

func TestTaxIDs(t *testing.T) {
	tests := []struct {
		in   string
		cpf  bool
		cnpj bool
	}{
		{"529.982.247-25", true, false},
		{"529.982.247-24", false, false},
		{"52998224725", true, false},
		{"111.111.111-11", false, false},
		{"000.000.000-00", false, false},
		{"11.222.333/0001-81", false, true},
		{"11.222.333/0001-80", false, false},
		{"12.ABC.345/01DE-35", false, true}, // alphanumeric CNPJ (from July 2026)
		{"12.abc.345/01de-35", false, true}, // letters are upper-cased
		{"12.ABC.345/01DE-34", false, false},
		{"12.ABC.345/01DE-3A", false, false},
		{"00.000.000/0000-00", false, false},
		{"1234567890", false, false},
		{"", false, false},
		{"5299822472X", false, false},
		{"I2ABC34501DE42", false, true},
		// Non-ASCII letters whose upper case is ASCII ("ı" is I, "ſ" is S)
		// are not letters of a CNPJ.
		{"ı2ABC34501DE42", false, false},
		{"ı2.abc.345/01de-42", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n := Normalize(tt.in)
			if got := ValidCPF(n); got != tt.cpf {
				t.Errorf("ValidCPF(%q) = %v, want %v", n, got, tt.cpf)
			}
			if got := ValidCNPJ(n); got != tt.cnpj {
				t.Errorf("ValidCNPJ(%q) = %v, want %v", n, got, tt.cnpj)
			}
		})
	}
}

// refTaxID is an independent statement of the check-digit rules, written
// from the Receita Federal's definitions rather than from the code under
// test: it returns "cpf", "cnpj" or "" for a normalized tax id.
func refTaxID(s string) string {
	value := func(c byte) (int, bool) {
		switch {
		case c >= '0' && c <= '9':
			return int(c - '0'), true
		case c >= 'A' && c <= 'Z':
			return int(c) - 48, true
		}
		return 0, false
	}
	dv := func(vals []int, weights []int) int {
		sum := 0
		for i, v := range vals {
			sum += v * weights[i]
		}
		if r := sum % 11; r >= 2 {
			return 11 - r
		}
		return 0
	}
	allSame := func() bool { return strings.Trim(s, s[:1]) == "" }
	switch len(s) {
	case 11:
		vals := make([]int, 11)
		for i := range 11 {
			if s[i] < '0' || s[i] > '9' {
				return ""
			}
			vals[i] = int(s[i] - '0')
		}
		if allSame() {
			return ""
		}
		if dv(vals[:9], []int{10, 9, 8, 7, 6, 5, 4, 3, 2}) == vals[9] && dv(vals[:10], []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2}) == vals[10] {
			return "cpf"
		}
	case 14:
		vals := make([]int, 14)
		for i := range 14 {
			v, ok := value(s[i])
			if !ok || i >= 12 && (s[i] < '0' || s[i] > '9') {
				return ""
			}
			vals[i] = v
		}
		if allSame() {
			return ""
		}
		w1 := []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
		w2 := []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
		if dv(vals[:12], w1) == vals[12] && dv(vals[:13], w2) == vals[13] {
			return "cnpj"
		}
	}
	return ""
}

// taxIDChars are the characters a CPF or CNPJ may be written with.
const taxIDChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-/ "

// FuzzTaxID checks ValidCPF and ValidCNPJ against refTaxID for every
// normalized input, that normalizing is idempotent, and that changing a
// check digit of an accepted tax id makes it invalid.
func FuzzTaxID(f *testing.F) {
	for _, s := range []string{"52998224725", "529.982.247-25", "529.982.247-24", "11222333000181", "11.222.333/0001-81",
		"12ABC34501DE35", "12.abc.345/01de-35", "12ABC34501DE3A", "11111111111", "00000000000000", "", "ÿÿ", "ı2ABC34501DE42", "ı2.ABC.345/01DE-42"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q", s, n, n, again)
		}
		cpf, cnpj := ValidCPF(n), ValidCNPJ(n)
		want := refTaxID(n)
		if cpf != (want == "cpf") || cnpj != (want == "cnpj") {
			t.Fatalf("ValidCPF(%q), ValidCNPJ(%q) = %v, %v, want %q", n, n, cpf, cnpj, want)
		}
		if !cpf && !cnpj {
			return
		}
		if strings.Trim(s, taxIDChars) != "" {
			t.Fatalf("Normalize(%q) = %q, a valid tax id made of characters that are not ASCII letters, digits or punctuation", s, n)
		}
		for _, i := range []int{len(n) - 2, len(n) - 1} {
			b := []byte(n)
			b[i] = '0' + (b[i]-'0'+1)%10
			if ValidCPF(string(b)) || ValidCNPJ(string(b)) {
				t.Fatalf("%q is valid, and so is %q with check digit %d changed", n, b, i)
			}
		}
	})
}

func TestMask(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"529.982.247-25", "***.***.*47-25"},
		{"52998224725", "***.***.*47-25"},
		{"11.222.333/0001-81", "**.***.***/**01-81"},
		{"12.abc.345/01de-35", "**.***.***/**DE-35"},
		{"123", "***"},
	} {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
