package financeui

import (
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
)

func TestFinanceSessions(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := newSessions("finance-key", time.Hour)
	tok := s.issue(now, session{actor: "alice@example.com", keyID: "0123456789abcdef", keyName: "ops"})
	if strings.Contains(tok, "finance-key") {
		t.Fatalf("token %q holds the key", tok)
	}
	other := newSessions("another-key", time.Hour)
	for _, tt := range []struct {
		name  string
		s     *sessions
		token string
		at    time.Time
		want  bool
	}{
		{"fresh", s, tok, now, true},
		{"just before expiry", s, tok, now.Add(time.Hour - time.Second), true},
		{"expired", s, tok, now.Add(time.Hour), false},
		{"other key", other, tok, now, false},
		{"tampered expiry", s, strings.Replace(tok, "v2.1", "v2.9", 1), now, false},
		{"empty", s, "", now, false},
		{"no signature", s, "v1.99999999999.abc", now, false},
		{"bad actor", s, s.issue(now, session{actor: "not a name"}), now, false},
	} {
		se, got := tt.s.valid(tt.token, tt.at)
		if got != tt.want || got && se != (session{actor: "alice@example.com", keyID: "0123456789abcdef", keyName: "ops"}) {
			t.Errorf("%s: valid(%q) = %+v, %v, want %v", tt.name, tt.token, se, got, tt.want)
		}
	}
	if !s.validCSRF("c", s.csrf("c")) || s.validCSRF("c", s.csrf("d")) || s.validCSRF("", s.csrf("")) {
		t.Error("validCSRF does not tie the field to the cookie")
	}
}

func TestFinanceCharts(t *testing.T) {
	now := time.Date(2026, 5, 14, 9, 0, 0, 0, time.UTC)
	rows := []settled{
		{Method: "ideal", Day: "2026-05-14", Amount: paygate.New(1250, paygate.EUR)},
		{Method: "ideal", Day: "2026-05-14", Amount: paygate.New(725, paygate.EUR)},
		{Method: "sofort", Day: "2026-05-13", Amount: paygate.New(100, paygate.EUR)},
		{Method: "kakaopay", Day: "2026-05-10", Amount: paygate.New(15000, paygate.KRW)},
		{Method: "ideal", Day: "2026-04-01", Amount: paygate.New(999, paygate.EUR)}, // before the window
	}
	cs := charts(rows, now)
	if len(cs) != 2 || cs[0].Currency != paygate.EUR || cs[1].Currency != paygate.KRW {
		t.Fatalf("charts = %+v, want EUR and KRW", cs)
	}
	eur := cs[0]
	if eur.Total != paygate.New(2075, paygate.EUR) || eur.Max != paygate.New(1975, paygate.EUR) || len(eur.Bars) != 2 || len(eur.Legend) != 2 {
		t.Fatalf("EUR chart = %+v", eur)
	}
	tallest := eur.Bars[1]
	if tallest.Y != chartTop || tallest.Y+tallest.H != chartBottom || !strings.Contains(tallest.Title, "2026-05-14 ideal 19.75 EUR") {
		t.Errorf("today's bar = %+v, want the full height", tallest)
	}
	if got := len(eur.Labels); got != chartDays/2 || eur.Labels[len(eur.Labels)-1].Text != "05-14" {
		t.Errorf("labels = %+v", eur.Labels)
	}
	if cs := charts(nil, now); len(cs) != 0 {
		t.Errorf("charts(nil) = %+v", cs)
	}
}

func TestAuditActor(t *testing.T) {
	for _, tt := range []struct {
		se   session
		want string
	}{
		{session{actor: "alice@example.com"}, "alice@example.com"},
		{session{actor: "alice@example.com", keyID: "0123456789abcdef", keyName: "ops-laptop"}, "alice@example.com (key ops-laptop)"},
	} {
		if got := tt.se.auditActor(); got != tt.want {
			t.Errorf("auditActor(%+v) = %q, want %q", tt.se, got, tt.want)
		}
	}
}
