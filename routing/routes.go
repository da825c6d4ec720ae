// Package routing decides which provider takes a payment attempt: it owns
// the routes (PAYGATE_ROUTES: per payment method, the providers in order of
// preference, optionally with weights for a volume split), picks the order
// of providers for one attempt, and keeps each provider's health per method
// in a circuit breaker (github.com/sony/gobreaker/v2) with metrics and a
// snapshot for the finance dashboard.
//
// It decides nothing about payments themselves: package checkout asks a
// Router for the order, calls each provider through Router.Call, and
// decides when a failed create may go to the next provider.
package routing

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// Leg is one provider of a route. Weight is its share of the attempts it
// takes first, when the route has weights (all its legs have one); 0
// otherwise, and 0 is also a valid weight: such a provider is only ever a
// failover.
type Leg struct {
	Provider string
	Weight   int
}

// Route is a method's providers in order of preference.
type Route []Leg

// Weighted reports whether the route splits volume by weight.
func (rt Route) Weighted() bool {
	for _, l := range rt {
		if l.Weight > 0 {
			return true
		}
	}
	return false
}

// Providers returns the route's providers in listed order.
func (rt Route) Providers() []string {
	out := make([]string, len(rt))
	for i, l := range rt {
		out[i] = l.Provider
	}
	return out
}

// Routes are the routes of every method.
type Routes map[providers.Method]Route

// MaxWeight is the largest weight a leg may have.
const MaxWeight = 10000

// knownProviders are the provider names a route may name.
var knownProviders = []string{providers.Stripe, providers.Rapyd}

// Default returns today's routes: each method of the catalog at its one
// default provider (providers.MethodInfo.Provider).
func Default() Routes {
	rs := Routes{}
	for _, mi := range providers.Catalog() {
		rs[mi.Method] = Route{{Provider: mi.Provider}}
	}
	return rs
}

// Parse reads routes in the syntax of PAYGATE_ROUTES: method=provider,…
// entries separated by ';', such as
//
//	ideal=stripe,rapyd;kakaopay=rapyd:80,stripe:20
//
// Each entry lists a method's providers in order of preference. With
// weights (provider:weight, integers 0 to MaxWeight, on every provider of
// the entry or on none, adding up to more than 0), the first provider of
// an attempt is drawn by weight and the others follow in listed order as
// failovers. Spaces around names are ignored and names are case-insensitive.
// A method the string does not name keeps its default route (Default); an
// empty string is Default. The error is EINVALID and names the part that is
// wrong: an unknown method or provider, a method or a provider given twice,
// an empty entry or provider list, a bad weight.
func Parse(s string) (Routes, error) {
	rs := Default()
	if strings.TrimSpace(s) == "" {
		return rs, nil
	}
	seen := map[providers.Method]bool{}
	entries := strings.Split(s, ";")
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			if i == len(entries)-1 {
				continue // a trailing ';'
			}
			return nil, invalid("entry %d is empty", i+1)
		}
		name, list, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, invalid("%q is not method=provider,provider…", paygate.Clip(entry, 40))
		}
		m := providers.Method(strings.ToLower(strings.TrimSpace(name)))
		if _, known := providers.Lookup(m); !known {
			return nil, invalid("unknown payment method %q in %q (known: %s)", paygate.Clip(string(m), 20), paygate.Clip(entry, 40), methodNames())
		}
		if seen[m] {
			return nil, invalid("method %s has two routes", m)
		}
		seen[m] = true
		rt, err := parseRoute(m, list)
		if err != nil {
			return nil, err
		}
		rs[m] = rt
	}
	return rs, nil
}

// parseRoute reads the provider list of method m.
func parseRoute(m providers.Method, list string) (Route, error) {
	var rt Route
	weights := 0
	total := 0
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, invalid("%s: empty provider in %q", m, paygate.Clip(list, 40))
		}
		name, w, hasWeight := strings.Cut(part, ":")
		l := Leg{Provider: strings.ToLower(strings.TrimSpace(name)), Weight: -1}
		if !slices.Contains(knownProviders, l.Provider) {
			return nil, invalid("%s: unknown provider %q (known: %s)", m, paygate.Clip(l.Provider, 20), strings.Join(knownProviders, ", "))
		}
		for _, o := range rt {
			if o.Provider == l.Provider {
				return nil, invalid("%s: provider %s is listed twice", m, l.Provider)
			}
		}
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || n < 0 || n > MaxWeight {
				return nil, invalid("%s: weight %q of %s is not a whole number from 0 to %d", m, paygate.Clip(w, 12), l.Provider, MaxWeight)
			}
			l.Weight = n
			weights++
			total += n
		}
		rt = append(rt, l)
	}
	switch {
	case weights == 0:
		for i := range rt {
			rt[i].Weight = 0
		}
	case weights != len(rt):
		return nil, invalid("%s: give a weight to every provider or to none", m)
	case total == 0:
		return nil, invalid("%s: the weights add up to 0", m)
	}
	return rt, nil
}

// Check returns an EINVALID error naming the first method whose route has
// a provider that is not among configured (the providers with credentials).
// A method left on its default provider is not checked: without that
// provider's credentials the method is unavailable, as it was before
// routes, so that a service with one provider's keys still starts.
func (rs Routes) Check(configured []string) error {
	def := Default()
	for _, m := range rs.methods() {
		if slices.Equal(rs[m], def[m]) {
			continue
		}
		for _, l := range rs[m] {
			if !slices.Contains(configured, l.Provider) {
				return invalid("%s: provider %s is not configured (configured: %s)", m, l.Provider, orNone(configured))
			}
		}
	}
	return nil
}

// String renders the routes in Parse's syntax, methods in catalog order.
func (rs Routes) String() string {
	var b strings.Builder
	for _, m := range rs.methods() {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(string(m) + "=")
		rt := rs[m]
		for i, l := range rt {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Provider)
			if rt.Weighted() {
				b.WriteString(":" + strconv.Itoa(l.Weight))
			}
		}
	}
	return b.String()
}

// methods returns the routed methods in catalog order, then any others
// sorted.
func (rs Routes) methods() []providers.Method {
	var out []providers.Method
	for _, mi := range providers.Catalog() {
		if _, ok := rs[mi.Method]; ok {
			out = append(out, mi.Method)
		}
	}
	var rest []providers.Method
	for m := range rs {
		if _, ok := providers.Lookup(m); !ok {
			rest = append(rest, m)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	return append(out, rest...)
}

func methodNames() string {
	var names []string
	for _, mi := range providers.Catalog() {
		names = append(names, string(mi.Method))
	}
	return strings.Join(names, ", ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return strings.Join(c, ", ")
}

func invalid(format string, args ...any) error {
	return paygate.Errorf(paygate.EINVALID, "routing: "+format, args...)
}

// Reason says why an attempt went to its provider.
type Reason string

// The reasons.
const (
	ReasonPrimary  Reason = "primary"  // the route's first provider
	ReasonWeighted Reason = "weighted" // drawn by the route's weights
	ReasonFailover Reason = "failover" // an earlier provider could not take it
)

// Decision is why an attempt went to its provider: Reason, and for a
// failover the provider it came from and why that one could not take it.
type Decision struct {
	Reason Reason
	From   string // failover: the provider before
	Cause  string // failover: why From could not take it ("stripe: … timeout")
}

// String renders a decision for people: "failover from stripe: …".
func (d Decision) String() string {
	if d.Reason != ReasonFailover {
		return string(d.Reason)
	}
	return fmt.Sprintf("failover from %s: %s", d.From, d.Cause)
}

// Order returns the providers to try for one attempt, in order, and the
// reason of the first: a weighted route draws its first provider by
// weight with intn (rand.IntN's contract: a number in [0, n)), and the
// others follow in listed order; an unweighted route is its listed order,
// the first being primary.
func (rt Route) Order(intn func(n int) int) ([]string, Reason) {
	names := rt.Providers()
	if !rt.Weighted() {
		return names, ReasonPrimary
	}
	total := 0
	for _, l := range rt {
		total += l.Weight
	}
	x := intn(total)
	pick := 0
	for i, l := range rt {
		if x < l.Weight {
			pick = i
			break
		}
		x -= l.Weight
	}
	out := append([]string{names[pick]}, slices.Delete(slices.Clone(names), pick, pick+1)...)
	return out, ReasonWeighted
}
