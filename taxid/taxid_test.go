package taxid

import "testing"

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

func FuzzTaxID(f *testing.F) {
	for _, s := range []string{"52998224725", "11222333000181", "12ABC34501DE35", "", "ÿÿ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if ValidCPF(n) && ValidCNPJ(n) {
			t.Fatalf("%q is both a CPF and a CNPJ", n)
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
