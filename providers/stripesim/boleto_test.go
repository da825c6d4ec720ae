package stripesim

import "testing"

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
