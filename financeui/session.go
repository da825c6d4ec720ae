package financeui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sessions signs and checks the session cookie and the forms' CSRF tokens.
// A session token is "v1.<expiry unix seconds>.<random nonce>.<actor>.<HMAC>",
// the actor (who signed in) base64url-encoded: it names no key, and the HMAC key is derived from the finance key, so
// rotating the finance key ends every session.
type sessions struct {
	secret []byte
	ttl    time.Duration
}

func newSessions(financeKey string, ttl time.Duration) *sessions {
	m := hmac.New(sha256.New, []byte(financeKey))
	m.Write([]byte("paygate financeui session v1"))
	return &sessions{secret: m.Sum(nil), ttl: ttl}
}

func (s *sessions) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// nonce returns 16 random bytes, base64url.
func nonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue returns a new session token of actor that expires ttl after now.
func (s *sessions) issue(now time.Time, actor string) string {
	body := "v1." + strconv.FormatInt(now.Add(s.ttl).Unix(), 10) + "." + nonce() + "." +
		base64.RawURLEncoding.EncodeToString([]byte(actor))
	return body + "." + s.mac("session", body)
}

// valid returns the actor of token if it is a session token of ours that
// has not expired at now, and whether it is.
func (s *sessions) valid(token string, now time.Time) (string, bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return "", false
	}
	body, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(s.mac("session", body))) {
		return "", false
	}
	parts := strings.Split(body, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	actor, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || !actorPattern.MatchString(string(actor)) {
		return "", false
	}
	return string(actor), true
}

// actorPattern is what a staff member's name may be: finance's X-Actor
// pattern (finance.ActorHeader), so the audit log reads the same either way.
var actorPattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,100}$`)

// csrf returns the form token that goes with a double-submit cookie value.
func (s *sessions) csrf(cookie string) string { return s.mac("csrf", cookie) }

// validCSRF reports whether a form's token goes with the cookie.
func (s *sessions) validCSRF(cookie, field string) bool {
	return cookie != "" && field != "" && hmac.Equal([]byte(field), []byte(s.csrf(cookie)))
}

// isFinanceKey compares a presented key with the finance key in constant
// time (of the key's hash). An empty finance key matches nothing.
func isFinanceKey(financeKey, presented string) bool {
	if financeKey == "" {
		return false
	}
	p, want := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(financeKey))
	return subtle.ConstantTimeCompare(p[:], want[:]) == 1
}
