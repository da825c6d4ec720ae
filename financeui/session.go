package financeui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sessions signs and checks the session cookie and the forms' CSRF tokens.
// A session token is
// "v2.<expiry unix seconds>.<random nonce>.<actor>.<key id>.<key name>.<HMAC>",
// the actor (who signed in) and the key's name base64url-encoded; the key id
// is the public id of the issued finance key used to sign in ("" for the
// static PAYGATE_FINANCE_KEY), never its secret. The HMAC key is derived from
// the secret given to newSessions (see UI.init: rotating the static finance
// key ends every session), and revoking an issued key ends the sessions it
// opened (UI.auth checks it).
type sessions struct {
	secret []byte
	ttl    time.Duration
}

func newSessions(secret string, ttl time.Duration) *sessions {
	m := hmac.New(sha256.New, []byte(secret))
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

// session is who signed in, and with which key.
type session struct {
	actor   string // the name or email typed at sign-in
	keyID   string // the issued key's public id; "" for the static key
	keyName string // the issued key's name, or the static key's variable
}

// issue returns a new session token of se that expires ttl after now.
func (s *sessions) issue(now time.Time, se session) string {
	enc := base64.RawURLEncoding.EncodeToString
	body := "v2." + strconv.FormatInt(now.Add(s.ttl).Unix(), 10) + "." + nonce() + "." +
		enc([]byte(se.actor)) + "." + enc([]byte(se.keyID)) + "." + enc([]byte(se.keyName))
	return body + "." + s.mac("session", body)
}

// valid returns the session of token if it is a session token of ours that
// has not expired at now, and whether it is.
func (s *sessions) valid(token string, now time.Time) (session, bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return session{}, false
	}
	body, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(s.mac("session", body))) {
		return session{}, false
	}
	parts := strings.Split(body, ".")
	if len(parts) != 6 || parts[0] != "v2" {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return session{}, false
	}
	var fields [3][]byte
	for j := range fields {
		if fields[j], err = base64.RawURLEncoding.DecodeString(parts[3+j]); err != nil {
			return session{}, false
		}
	}
	se := session{actor: string(fields[0]), keyID: string(fields[1]), keyName: string(fields[2])}
	if !actorPattern.MatchString(se.actor) {
		return session{}, false
	}
	return se, true
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
