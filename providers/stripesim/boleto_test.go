package stripesim

import (
	"fmt"
	"testing"
	"time"
)

func TestBoletoLine(t *testing.T) {
	due := time.Date(2026, 3, 10, 23, 59, 59, 0, brasilia())
	tests := []struct {
		seed   string
		amount int64
	}{
		{"pi_1", 12345},
		{"pi_2", 1},
		{"pi_3", 99999999},
	}
	for _, tc := range tests {
		l := boletoLine(tc.seed, tc.amount, due)
		if len(l) != 47 || !allDigits(l) {
			t.Fatalf("boletoLine(%q) = %q, want 47 digits", tc.seed, l)
		}
		// Each field's mod-10 check digit.
		for _, f := range []struct{ body, dv string }{{l[0:9], l[9:10]}, {l[10:20], l[20:21]}, {l[21:31], l[31:32]}} {
			if got := mod10(f.body); got != f.dv {
				t.Errorf("line %s: field %s check digit %s, want %s", l, f.body, f.dv, got)
			}
		}
		// The barcode's general check digit, rebuilt from the line.
		barcode := l[0:4] + l[32:33] + l[33:47] + l[4:9] + l[10:20] + l[21:31]
		if got := mod11Boleto(barcode[:4] + barcode[5:]); got != barcode[4:5] {
			t.Errorf("line %s: general check digit %s, want %s", l, barcode[4:5], got)
		}
		if l[0:3] != boletoBank || l[3] != '9' {
			t.Errorf("line %s: bank %s currency %c", l, l[0:3], l[3])
		}
		if got, want := l[37:47], fmt.Sprintf("%010d", tc.amount); got != want {
			t.Errorf("line %s: amount field %s, want %s", l, got, want)
		}
	}
}

func TestBoletoDueFactor(t *testing.T) {
	tests := []struct {
		date string
		want int
	}{
		{"2000-07-03", 1000},
		{"2025-02-21", 9999},
		{"2025-02-22", 1000}, // the factor restarted
		{"2025-02-23", 1001},
		{"2026-01-01", 1313},
	}
	for _, tc := range tests {
		d, err := time.ParseInLocation("2006-01-02", tc.date, brasilia())
		if err != nil {
			t.Fatal(err)
		}
		if got := boletoDueFactor(d); got != tc.want {
			t.Errorf("boletoDueFactor(%s) = %d, want %d", tc.date, got, tc.want)
		}
	}
}

func TestBoletoExpiry(t *testing.T) {
	// 02:00 UTC on 10 March is still 9 March in São Paulo.
	issued := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		days int64
		want time.Time
	}{
		{0, time.Date(2026, 3, 9, 23, 59, 59, 0, brasilia())},
		{3, time.Date(2026, 3, 12, 23, 59, 59, 0, brasilia())},
		{60, time.Date(2026, 5, 8, 23, 59, 59, 0, brasilia())},
	}
	for _, tc := range tests {
		if got := boletoExpiry(issued, tc.days); !got.Equal(tc.want) {
			t.Errorf("boletoExpiry(%v, %d) = %v, want %v", issued, tc.days, got, tc.want)
		}
	}
}

func TestTaxID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"529.982.247-25", true},
		{"52998224725", true},
		{"529.982.247-24", false},
		{"111.111.111-11", false}, // repeated digits
		{"11.222.333/0001-81", true},
		{"11.222.333/0001-80", false},
		{"12.ABC.345/01DE-35", true}, // alphanumeric CNPJ (2026)
		{"12.abc.345/01de-35", true},
		{"12.ABC.345/01DE-34", false},
		{"5299822472", false},
		{"", false},
		{"529.982.247-2x", false},
		{"529,982,247-25", false},
	}
	for _, tc := range tests {
		if got := validTaxID(normalizeTaxID(tc.in)); got != tc.want {
			t.Errorf("validTaxID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFormatBRL(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{12345, "R$ 123,45"},
		{5, "R$ 0,05"},
		{123456789, "R$ 1.234.567,89"},
		{100000, "R$ 1.000,00"},
	}
	for _, tc := range tests {
		if got := formatBRL(tc.in); got != tc.want {
			t.Errorf("formatBRL(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
