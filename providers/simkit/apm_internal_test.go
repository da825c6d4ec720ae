package simkit

import (
	"testing"
	"time"
)

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
		d, err := time.ParseInLocation("2006-01-02", tc.date, Brasilia())
		if err != nil {
			t.Fatal(err)
		}
		if got := boletoDueFactor(d); got != tc.want {
			t.Errorf("boletoDueFactor(%s) = %d, want %d", tc.date, got, tc.want)
		}
	}
}
