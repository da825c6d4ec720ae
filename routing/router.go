package routing

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
)

// Breaker configures the circuit breaker of each provider and method.
// Zero fields take the defaults.
type Breaker struct {
	// Failures is how many outages in a row open the breaker (default 5).
	Failures uint32
	// OpenFor is how long an open breaker refuses calls before it lets
	// one probe through, half-open (default 30 s).
	OpenFor time.Duration
	// Window is how long a closed breaker's counts of calls and failures
	// last before they start again (default 60 s); the consecutive
	// failures that trip it are counted across it all the same only
	// while they are consecutive.
	Window time.Duration
}

// The breaker defaults.
const (
	DefaultFailures = 5
	DefaultOpenFor  = 30 * time.Second
	DefaultWindow   = time.Minute
)

func (b Breaker) withDefaults() Breaker {
	if b.Failures == 0 {
		b.Failures = DefaultFailures
	}
	if b.OpenFor <= 0 {
		b.OpenFor = DefaultOpenFor
	}
	if b.Window <= 0 {
		b.Window = DefaultWindow
	}
	return b
}

// Config configures a Router.
type Config struct {
	// Routes are the routes; nil is Default().
	Routes  Routes
	Breaker Breaker
	// Metrics, if not nil, has the router's metrics registered on it.
	Metrics prometheus.Registerer
	// IntN draws the first provider of a weighted route: a number in
	// [0, n). nil is math/rand/v2's IntN. Tests pass a seeded one.
	IntN func(n int) int
}

// Router orders the providers of an attempt and keeps a circuit breaker
// per provider and method. It is safe for concurrent use; breakers live
// as long as the Router (the state is per process, not shared between
// instances).
type Router struct {
	routes  Routes
	cfg     Breaker
	intn    func(n int) int
	metrics *metrics

	mu       sync.Mutex
	breakers map[key]*breaker
}

type key struct {
	provider string
	method   providers.Method
}

// breaker is one provider and method's breaker with what the health
// snapshot shows beside it.
type breaker struct {
	key
	cb *gobreaker.CircuitBreaker[providers.Payment]

	mu          sync.Mutex
	calls       int64
	failures    int64
	lastFailure time.Time
	lastError   string
}

// New returns a router over cfg.Routes, with a closed breaker for every
// provider and method of the routes, its metrics registered on
// cfg.Metrics (an error if they cannot be).
func New(cfg Config) (*Router, error) {
	if cfg.Routes == nil {
		cfg.Routes = Default()
	}
	if cfg.IntN == nil {
		cfg.IntN = rand.IntN
	}
	r := &Router{routes: cfg.Routes, cfg: cfg.Breaker.withDefaults(), intn: cfg.IntN, breakers: map[key]*breaker{}}
	for m, rt := range cfg.Routes {
		for _, l := range rt {
			r.breaker(l.Provider, m)
		}
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics, r)
		if err != nil {
			return nil, err
		}
		r.metrics = m
	}
	return r, nil
}

// Routes returns the router's routes.
func (r *Router) Routes() Routes { return r.routes }

// Order returns the providers to try for one attempt with method m, in
// order, and the reason of the first (Route.Order); a method without a
// route is its catalog default, or nothing for an unknown method.
func (r *Router) Order(m providers.Method) ([]string, Reason) {
	rt, ok := r.routes[m]
	if !ok {
		mi, known := providers.Lookup(m)
		if !known {
			return nil, ReasonPrimary
		}
		rt = Route{{Provider: mi.Provider}}
	}
	return rt.Order(r.intn)
}

// Open reports whether the breaker of provider and method refuses calls
// now (open; a half-open breaker lets its probe through).
func (r *Router) Open(provider string, m providers.Method) bool {
	return r.breaker(provider, m).cb.State() == gobreaker.StateOpen
}

// ErrOpen says a provider was not called because its breaker for the
// method is open (or half-open with its probe under way). Test for it
// with IsOpen.
var ErrOpen = &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "routing: the provider's circuit breaker is open"}

// IsOpen reports whether err is ErrOpen.
func IsOpen(err error) bool { return errors.Is(err, ErrOpen) }

// Outage reports whether a provider's answer err counts against its
// health: an EUNAVAILABLE error (unreachable, timed out, a 5xx, the
// method not available at the provider). A decline, a refused request
// (EINVALID) or any other answer is the provider working, and a payment
// returned with status failed is not an error at all.
func Outage(err error) bool {
	return err != nil && paygate.ErrorCode(err) == paygate.EUNAVAILABLE
}

// Call calls create, provider's CreatePayment of a payment with method m,
// through the provider and method's breaker, and records its result and
// latency. An open breaker returns ErrOpen (wrapped, naming the provider)
// without calling. Outages (Outage) count as the breaker's failures;
// everything else as successes, except a call whose ctx was canceled
// before it ended (the buyer went away), which does not count.
func (r *Router) Call(ctx context.Context, provider string, m providers.Method, create func() (providers.Payment, error)) (providers.Payment, error) {
	b := r.breaker(provider, m)
	start := time.Now()
	p, err := b.cb.Execute(func() (providers.Payment, error) {
		p, err := create()
		if err != nil && ctx.Err() == context.Canceled {
			return p, canceled{err}
		}
		return p, err
	})
	var c canceled
	if errors.As(err, &c) {
		err = c.error
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		r.metrics.call(b.key, resultSkipped, 0)
		return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE,
			Message: "routing: " + provider + " is skipped for " + string(m) + ": its circuit breaker is open", Err: ErrOpen}
	}
	result := resultOK
	switch {
	case Outage(err):
		result = resultFailed
		b.failed(err)
	case err != nil || p.Status == providers.StatusFailed:
		result = resultDeclined
	}
	b.called()
	r.metrics.call(b.key, result, time.Since(start))
	return p, err
}

// canceled marks a call that its caller abandoned, for IsExcluded.
type canceled struct{ error }

func (c canceled) Unwrap() error { return c.error }

// The results of a provider call, for the metrics.
const (
	resultOK       = "ok"       // the provider took the payment
	resultDeclined = "declined" // it answered no (a decline, a refused request): healthy
	resultFailed   = "failed"   // an outage (Outage)
	resultSkipped  = "skipped"  // not called: the breaker was open
)

// breaker returns the breaker of provider and m, making it on first use.
func (r *Router) breaker(provider string, m providers.Method) *breaker {
	k := key{provider, m}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.breakers[k]; ok {
		return b
	}
	b := &breaker{key: k}
	b.cb = gobreaker.NewCircuitBreaker[providers.Payment](gobreaker.Settings{
		Name:        provider + "/" + string(m),
		MaxRequests: 1, // one probe while half-open
		Interval:    r.cfg.Window,
		Timeout:     r.cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= r.cfg.Failures },
		IsSuccessful: func(err error) bool {
			return !Outage(err)
		},
		IsExcluded: func(err error) bool {
			var c canceled
			return errors.As(err, &c)
		},
		OnStateChange: func(_ string, _, to gobreaker.State) { r.metrics.transition(k, to) },
	})
	r.breakers[k] = b
	return b
}

func (b *breaker) called() {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
}

func (b *breaker) failed(err error) {
	b.mu.Lock()
	b.failures++
	b.lastFailure = time.Now().UTC()
	b.lastError = paygate.Clip(redact.String(paygate.ErrorMessage(err)), 120)
	b.mu.Unlock()
}

// Health is one provider and method's health, as its breaker sees it.
type Health struct {
	Provider string
	Method   providers.Method
	// State is the breaker's: "closed" (calls go through), "open" (the
	// provider is skipped), "half-open" (one probe goes through).
	State string
	// Recent counts the calls and outages of the breaker's current window
	// (Breaker.Window while closed; since the last change of state).
	RecentCalls, RecentFailures uint32
	// Calls and Failures count since the process started.
	Calls, Failures int64
	// LastFailure is when the latest outage was, and LastError what it
	// was; zero and "" if there was none.
	LastFailure time.Time
	LastError   string
}

// Health returns the health of every provider and method the router has a
// breaker for, by provider then in catalog order of methods.
func (r *Router) Health() []Health {
	r.mu.Lock()
	bs := make([]*breaker, 0, len(r.breakers))
	for _, b := range r.breakers {
		bs = append(bs, b)
	}
	r.mu.Unlock()
	order := map[providers.Method]int{}
	for i, mi := range providers.Catalog() {
		order[mi.Method] = i
	}
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].provider != bs[j].provider {
			return bs[i].provider < bs[j].provider
		}
		return order[bs[i].method] < order[bs[j].method]
	})
	out := make([]Health, len(bs))
	for i, b := range bs {
		st := b.cb.State()
		c := b.cb.Counts()
		b.mu.Lock()
		out[i] = Health{Provider: b.provider, Method: b.method, State: st.String(),
			RecentCalls: c.Requests - c.TotalExclusions, RecentFailures: c.TotalFailures,
			Calls: b.calls, Failures: b.failures, LastFailure: b.lastFailure, LastError: b.lastError}
		b.mu.Unlock()
	}
	return out
}
