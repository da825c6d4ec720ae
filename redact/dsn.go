package redact

import (
	"net/url"
	"strings"
)

// dsnPasswordParams are the query parameters of a PostgreSQL URL that hold
// a secret (libpq's and pgx's names).
var dsnPasswordParams = []string{"password", "sslpassword"}

// DSN returns the database name dsn fit for a log or an error message:
// a URL's passwords, the user's (postgres://user:PASSWORD@host) and the
// query's password= and sslpassword=, become REDACTED. A dsn without "://"
// (a SQLite file path) is returned as it is; a URL that does not parse
// becomes "(unparsable URL)", as its password cannot be found.
func DSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isPasswordParam(k) {
				q[k] = []string{Redacted}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// DSNSecrets returns the passwords in the database URL dsn, for New: a log
// that masks them never shows them, whatever quotes the URL.
func DSNSecrets(dsn string) []string {
	if !strings.Contains(dsn, "://") {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p, url.QueryEscape(p))
	}
	for k, vs := range u.Query() {
		if isPasswordParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	return out
}

func isPasswordParam(k string) bool {
	for _, p := range dsnPasswordParams {
		if strings.EqualFold(k, p) {
			return true
		}
	}
	return false
}
