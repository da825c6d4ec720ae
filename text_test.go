package paygate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij…"},
		// "결제 실패" is 3-byte runes: a cut at byte 4 would split the second.
		{"결제 실패", 4, "결…"},
		{"é", 1, "…"},
	}
	for _, tt := range tests {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	// Whatever the cut, the result is valid UTF-8.
	s := strings.Repeat("카카오페이 결제가 거절되었습니다. ", 10)
	for n := 0; n < len(s); n++ {
		if got := Clip(s, n); !utf8.ValidString(got) {
			t.Fatalf("Clip(…, %d) = %q: not valid UTF-8", n, got)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, ok := range []string{"", "sword +5", "검", "Ação", "\u00a0", "🗡"} {
		if err := CheckText("description", ok); err != nil {
			t.Errorf("CheckText(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"\x00", "a\nb", "\t", "\x1b[31m", "\x7f", "\u0085"} {
		err := CheckText("description", bad)
		if ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), "description must not contain control characters") {
			t.Errorf("CheckText(%q) = %v, want EINVALID naming the field", bad, err)
		}
	}
}
