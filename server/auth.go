package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
)

// Role is who calls the API.
type Role string

// The API's roles.
const (
	RoleMarketplace Role = "marketplace" // the marketplace backend
	RoleFinance     Role = "finance"     // finance staff
)

// Keys are the API keys of each role.
type Keys struct {
	Marketplace string
	Finance     string
}

type roleKey struct{}

// CallerRole returns the role that Require authenticated, or "".
func CallerRole(ctx context.Context) Role {
	r, _ := ctx.Value(roleKey{}).(Role)
	return r
}

// role returns the role whose key is presented, comparing in constant time.
func (k Keys) role(presented string) Role {
	p := sha256.Sum256([]byte(presented))
	var found Role
	for _, c := range []struct {
		role Role
		key  string
	}{{RoleMarketplace, k.Marketplace}, {RoleFinance, k.Finance}} {
		if c.key == "" {
			continue
		}
		want := sha256.Sum256([]byte(c.key))
		if subtle.ConstantTimeCompare(p[:], want[:]) == 1 {
			found = c.role
		}
	}
	return found
}

// Require returns middleware that lets through requests with the bearer key
// of one of roles: 401 without a known key, 403 with the key of another
// role. The caller's role is in the request context (CallerRole).
func (k Keys) Require(roles ...Role) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			token, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || token == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="paygate"`)
				WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "missing API key: send Authorization: Bearer <key>"))
				return
			}
			role := k.role(token)
			if role == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="paygate", error="invalid_token"`)
				WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "unknown API key"))
				return
			}
			for _, allowed := range roles {
				if role == allowed {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, role)))
					return
				}
			}
			WriteError(w, r, paygate.Errorf(paygate.EFORBIDDEN, "the %s key may not call this endpoint", role))
		})
	}
}
