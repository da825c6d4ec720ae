package financeui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// FuzzSession checks the finance UI's session cookie and CSRF pair, which
// arrive from the browser. A token is accepted only when its MAC, computed
// here independently, signs its body under the session secret, it is of
// version v2 and not expired, and it names an actor of actorPattern; an
// issued token is accepted, with its actor and key, until it expires, and
// refused with any byte changed or under another secret. A CSRF field is
// accepted only for its own cookie.
func FuzzSession(f *testing.F) {
	f.Add("alice", "", uint16(0), "c00kie", "")
	f.Add("alice@example.com", "v1.9999999999.AAAA.YWxpY2U.sig", uint16(5), "", "x")
	f.Add("bob smith", "v1.1.n.Ym9i.x", uint16(1), "c", "c")
	f.Add("", "....", uint16(3), "", "")
	f.Add(strings.Repeat("a", 101), "v2.9999999999.AAAA.YWxpY2U.sig", uint16(9), "c", "")
	key := "fuzz-session-secret"
	s := newSessions(key, time.Hour)
	other := newSessions(key+"x", time.Hour)
	now := time.Unix(1_764_158_400, 0)
	mac := func(parts ...string) string {
		k := hmac.New(sha256.New, []byte(key))
		k.Write([]byte("paygate financeui session v1"))
		m := hmac.New(sha256.New, k.Sum(nil))
		for _, p := range parts {
			m.Write([]byte(p))
			m.Write([]byte{0})
		}
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	f.Fuzz(func(t *testing.T, actor, token string, flip uint16, cookie, field string) {
		if got, ok := s.valid(token, now); ok {
			i := strings.LastIndexByte(token, '.')
			body, sig := token[:i], token[i+1:]
			if sig != mac("session", body) || !strings.HasPrefix(body, "v2.") || !actorPattern.MatchString(got.actor) {
				t.Fatalf("valid(%q) = %q, true, but the token is not one the service signs", token, got)
			}
		}
		if actorPattern.MatchString(actor) {
			se := session{actor: actor, keyID: "0123456789abcdef", keyName: "ops-laptop"}
			tok := s.issue(now, se)
			if got, ok := s.valid(tok, now); !ok || got != se {
				t.Fatalf("valid(issue(%q)) = %q, %v, want the actor back", actor, got, ok)
			}
			if _, ok := s.valid(tok, now.Add(time.Hour)); ok {
				t.Fatalf("valid(issue(%q)) an hour later = true, want it expired", actor)
			}
			if _, ok := other.valid(tok, now); ok {
				t.Fatalf("a token of %q is valid under another secret", actor)
			}
			b := []byte(tok)
			b[int(flip)%len(b)] ^= byte(1 + flip>>8%255)
			if got, ok := s.valid(string(b), now); ok {
				t.Fatalf("valid(%q), a changed issue(%q), = %q, true", b, actor, got)
			}
		}
		if ok := s.validCSRF(cookie, field); ok != (cookie != "" && field == mac("csrf", cookie)) {
			t.Fatalf("validCSRF(%q, %q) = %v", cookie, field, ok)
		}
		if cookie != "" && !s.validCSRF(cookie, s.csrf(cookie)) {
			t.Fatalf("validCSRF(%q, its own field) = false", cookie)
		}
		if cookie != "" && other.validCSRF(cookie, s.csrf(cookie)) {
			t.Fatalf("validCSRF(%q) under another secret = true", cookie)
		}
	})
}
