package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestSessionNotForgeableFromDatabase: whoever holds a copy of the database
// (a backup, a stolen disk) and the finance key's hash, which is not a
// secret, cannot sign a finance session. The checkout link secret is in
// the database; a cookie signed with a key derived from it and the hash,
// as sessions were signed before, is refused. A cookie signed with the
// configured session key is accepted, by every instance given the same
// finance key, so the format the test forges is the real one.
func TestSessionNotForgeableFromDatabase(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			ta := startAppOn(t, dsn, appConfig{})
			other := startAppOn(t, dsn, appConfig{}) // a second instance on the same database
			ctx := context.Background()
			// What the database copy holds: the checkout link secret.
			var linkSecret string
			if err := ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &linkSecret, `SELECT secret FROM checkout_secrets WHERE id = 1`)
			}); err != nil {
				t.Fatal(err)
			}
			m := hmac.New(sha256.New, []byte(linkSecret))
			m.Write([]byte("derived|financeui session"))
			fromCopy := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
			future := time.Now().Add(time.Hour)
			get := func(app *testApp, cookie string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, app.url+"/finance/", nil)
				req.AddCookie(&http.Cookie{Name: "paygate_finance_session", Value: cookie})
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for _, secret := range []string{fromCopy, linkSecret, ""} {
				if s := get(ta, financeSession(secret, testFinanceKey, future, "mallory")); s != http.StatusSeeOther {
					t.Errorf("a session signed from the database copy (%.8s…) = %d, want 303 to the login", secret, s)
				}
			}
			if ta.app.sessionKey == "" || ta.app.sessionKey == linkSecret || ta.app.sessionKey == fromCopy {
				t.Fatalf("the session key %q comes from the database", ta.app.sessionKey)
			}
			real := financeSession(ta.app.sessionKey, testFinanceKey, future, "alice")
			for name, app := range map[string]*testApp{"this instance": ta, "another instance": other} {
				if s := get(app, real); s != http.StatusOK {
					t.Errorf("%s: a session signed with the session key = %d, want 200", name, s)
				}
			}
		})
	}
}

// TestSessionKeyConfig: the finance sessions' key is PAYGATE_SESSION_KEY
// (at least 32 characters), else derived from the plain finance key given,
// else none (newApp makes one for the process): never the sandbox's public
// finance key, never something of the database.
func TestSessionKeyConfig(t *testing.T) {
	long := "0123456789abcdef0123456789abcdef"
	live := func(f func(c *appConfig)) appConfig {
		c := liveConfig()
		f(&c)
		return c
	}
	for _, tt := range []struct {
		name string
		c    appConfig
		want string // "" none, "error", or the key
	}{
		{"configured", live(func(c *appConfig) { c.sessionKey = long }), long},
		{"too short", live(func(c *appConfig) { c.sessionKey = "short" }), "error"},
		{"from the finance key", live(func(c *appConfig) {}), sessionKeyOf(liveFinanceKey)},
		{"only the finance key's hash", live(func(c *appConfig) { c.financeKey, c.financeKeySHA256 = "", server.HashKey(liveFinanceKey) }), ""},
		{"sandbox defaults", appConfig{mode: modeSandbox}, ""},
	} {
		c := tt.c
		err := c.resolve()
		switch {
		case tt.want == "error":
			if err == nil {
				t.Errorf("%s: resolve() = nil, want an error", tt.name)
			}
		case err != nil:
			t.Errorf("%s: resolve() = %v", tt.name, err)
		case c.sessionKey != tt.want:
			t.Errorf("%s: session key %q, want %q", tt.name, c.sessionKey, tt.want)
		}
	}
	if sessionKeyOf("f") == sessionKeyOf("g") || len(sessionKeyOf("f")) != 64 {
		t.Errorf("sessionKeyOf does not depend on the finance key")
	}
}
