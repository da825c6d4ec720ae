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

// Valid reports whether r is one of the API's roles.
func (r Role) Valid() bool { return r == RoleMarketplace || r == RoleFinance }

// Scope limits what a key may do within its role. Static keys, and issued
// keys made without a scope, are ScopeFull.
type Scope string

// The scopes, from the narrowest.
const (
	// ScopeRead lets a key read (GET, HEAD) and nothing else.
	ScopeRead Scope = "read"
	// ScopePayments adds creating payment orders and starting their
	// attempts with a provider (routes registered with RequireScope),
	// but not paying from a user's balance, acting on sales orders,
	// refunds or payouts.
	ScopePayments Scope = "payments"
	// ScopeFull is everything the key's role may do.
	ScopeFull Scope = "full"
)

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool { return s == ScopeRead || s == ScopePayments || s == ScopeFull }

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopePayments:
		return 2
	}
	return 3 // ScopeFull, and "" (a static key)
}

// Allows reports whether a key of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s.rank() >= need.rank() }

// Caller is who presented a key: its role, and which key it was.
type Caller struct {
	Role Role
	// Scope is the issued key's scope; "" (a static key) is ScopeFull.
	Scope Scope
	// KeyID is the public id of an issued key, "" for a static key
	// (PAYGATE_API_KEY, PAYGATE_FINANCE_KEY).
	KeyID string
	// KeyName is the issued key's name, or the environment variable of a
	// static key.
	KeyName string
}

// IssuedKeys looks up keys issued at run time (package apikey). It is owned
// here, by its consumer.
type IssuedKeys interface {
	// LookupKey returns the caller of an active issued key, and false for
	// anything else (unknown, revoked, malformed). It compares the secret
	// in constant time. An error means the lookup could not be done.
	LookupKey(ctx context.Context, token string) (Caller, bool, error)
	// CachedKey is LookupKey answered from memory only: false for a key
	// not looked up in the last few seconds. It never reads the database,
	// so that a request can be classified (by the rate limiter) before it
	// is authenticated, and a stream of made-up keys costs no reads.
	CachedKey(token string) (Caller, bool)
	// Active reports whether the issued key with the public id is active
	// (not revoked); it may answer from a cache of a few seconds.
	Active(ctx context.Context, id string) (bool, error)
}

// Keys are the API keys of each role: one static key per role, and the
// keys issued with `paygate keys create` (Issued). Static keys are given in
// plain text (Marketplace, Finance: hashed at each comparison) or by their
// SHA-256 only (MarketplaceSHA256, FinanceSHA256), as the binary gives them
// after dropping the plain text. Keys is a value; copy it freely.
type Keys struct {
	Marketplace string
	Finance     string

	MarketplaceSHA256 []byte
	FinanceSHA256     []byte

	// Issued holds the issued keys; nil means none.
	Issued IssuedKeys
}

// Static key names, as Caller.KeyName.
const (
	StaticMarketplaceKey = "PAYGATE_API_KEY"
	StaticFinanceKey     = "PAYGATE_FINANCE_KEY"
)

// HashKey returns the SHA-256 of a static key, as Keys.MarketplaceSHA256
// and Keys.FinanceSHA256 hold it.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

type callerKey struct{}

// CallerRole returns the role that Require authenticated, or "".
func CallerRole(ctx context.Context) Role {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c.Role
}

// CallerOf returns the caller that Require authenticated, and whether there
// is one.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// WithCaller returns ctx carrying c, as Require puts it there.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// StaticHash returns the SHA-256 of the static key of role, or nil when the
// role has none.
func (k Keys) StaticHash(role Role) []byte {
	plain, hash := k.Marketplace, k.MarketplaceSHA256
	if role == RoleFinance {
		plain, hash = k.Finance, k.FinanceSHA256
	}
	if len(hash) == sha256.Size {
		return hash
	}
	if plain != "" {
		return HashKey(plain)
	}
	return nil
}

// staticCaller returns the caller whose static key is presented, comparing
// the hashes in constant time; every static key is compared.
func (k Keys) staticCaller(presented string) (Caller, bool) {
	p := sha256.Sum256([]byte(presented))
	var found Caller
	for _, c := range []Caller{{Role: RoleMarketplace, KeyName: StaticMarketplaceKey}, {Role: RoleFinance, KeyName: StaticFinanceKey}} {
		want := k.StaticHash(c.Role)
		if want == nil {
			continue
		}
		if subtle.ConstantTimeCompare(p[:], want) == 1 {
			found = c
		}
	}
	return found, found.Role != ""
}

// Authenticate returns the caller whose key token is: a static key, or an
// active issued key. It returns false for an unknown, revoked or empty key,
// and an error only when the issued keys could not be read.
func (k Keys) Authenticate(ctx context.Context, token string) (Caller, bool, error) {
	if token == "" {
		return Caller{}, false, nil
	}
	if c, ok := k.staticCaller(token); ok {
		return c, true, nil
	}
	if k.Issued == nil {
		return Caller{}, false, nil
	}
	return k.Issued.LookupKey(ctx, token)
}

// Recognize returns the caller of token when it is a static key or an
// issued key looked up in the last few seconds (IssuedKeys.CachedKey),
// without reading the database. The rate limiter uses it to count a request
// against its key before Require authenticates it; an issued key not seen
// recently counts against its address once, until Require has looked it up.
func (k Keys) Recognize(token string) (Caller, bool) {
	if token == "" {
		return Caller{}, false
	}
	if c, ok := k.staticCaller(token); ok {
		return c, true
	}
	if k.Issued == nil {
		return Caller{}, false
	}
	return k.Issued.CachedKey(token)
}

// NeedScope returns nil if the caller of ctx may do what needs scope need,
// and an EFORBIDDEN error if its key's scope does not allow it. A handler
// calls it for what depends on the request's body (paying from a balance
// needs ScopeFull); Require checks the route's own scope.
func NeedScope(ctx context.Context, need Scope) error {
	c, _ := CallerOf(ctx)
	if c.Scope.Allows(need) {
		return nil
	}
	return paygate.Errorf(paygate.EFORBIDDEN, "this key's scope (%s) does not allow this; it needs a %s key", c.Scope, need)
}

// Require returns middleware that lets through requests with the bearer key
// of one of roles: 401 without a known key, 403 with the key of another
// role or of a scope too narrow (a GET or HEAD needs ScopeRead, any other
// method ScopeFull). The caller (its role and key) is in the request
// context (CallerRole, CallerOf).
func (k Keys) Require(roles ...Role) mux.MiddlewareFunc { return k.RequireScope("", roles...) }

// BearerToken returns the key of an Authorization header value of the
// Bearer scheme, whose name is case-insensitive (RFC 9110, section 11.1):
// "Bearer k", "bearer k" and "BEARER k" all give k. It is false for another
// scheme, no key, or more than one word after the scheme.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != "" && !strings.ContainsAny(token, " \t")
}

// RequireScope is Require for a route that a key of scope need may call
// whatever its method (ScopePayments for creating payment orders); "" is
// Require's rule by method.
func (k Keys) RequireScope(need Scope, roles ...Role) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := BearerToken(r.Header.Get("Authorization"))
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="paygate"`)
				WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "missing API key: send Authorization: Bearer <key>"))
				return
			}
			caller, ok, err := k.Authenticate(r.Context(), token)
			if err != nil {
				WriteError(w, r, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "cannot check the API key now; retry", Err: err})
				return
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="paygate", error="invalid_token"`)
				WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "unknown API key"))
				return
			}
			for _, allowed := range roles {
				if caller.Role != allowed {
					continue
				}
				want := need
				if want == "" {
					want = ScopeFull
					if r.Method == http.MethodGet || r.Method == http.MethodHead {
						want = ScopeRead
					}
				}
				if !caller.Scope.Allows(want) {
					WriteError(w, r, paygate.Errorf(paygate.EFORBIDDEN, "this key's scope (%s) may not call this endpoint; it needs a %s key", caller.Scope, want))
					return
				}
				next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
				return
			}
			WriteError(w, r, paygate.Errorf(paygate.EFORBIDDEN, "the %s key may not call this endpoint", caller.Role))
		})
	}
}
