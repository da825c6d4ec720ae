package server

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/paygate/paygate"
)

// Rate is a token bucket: Events requests per Per on average, and up to
// Burst at once. The zero Rate is no limit ("off").
type Rate struct {
	Events int           // requests per Per; 0 means no limit
	Per    time.Duration // time.Second, time.Minute or time.Hour
	Burst  int           // the bucket's size; at least 1 when Events > 0
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Events <= 0 }

// String returns r in the form ParseRate reads: "off", or "20/s,burst=100".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	if unit == "" {
		unit = r.Per.String()
	}
	return fmt.Sprintf("%d/%s,burst=%d", r.Events, unit, r.Burst)
}

// limit is r as x/time/rate's events per second.
func (r Rate) limit() rate.Limit { return rate.Limit(float64(r.Events) / r.Per.Seconds()) }

// maxRateNumber bounds the numbers ParseRate accepts, far above any sensible
// rate, so that a typo cannot overflow.
const maxRateNumber = 1_000_000_000

// ParseRate reads a rate as the PAYGATE_RATE_LIMIT_* variables spell it:
// "off", or N/UNIT with UNIT one of s, m, h (per second, minute, hour),
// optionally followed by ",burst=B"; without a burst it is N. Examples:
// "20/s", "10/m,burst=20", "off". Anything else is an error, so a typo
// never silently turns a limit off.
func ParseRate(s string) (Rate, error) {
	if s == "off" {
		return Rate{}, nil
	}
	bad := func(why string) (Rate, error) {
		return Rate{}, fmt.Errorf("server: rate %q: %s; want off or N/s, N/m, N/h with an optional ,burst=B (such as 20/s,burst=100)", s, why)
	}
	spec, burstPart, hasBurst := strings.Cut(s, ",")
	num, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return bad("no /UNIT")
	}
	n, err := rateNumber(num)
	if err != nil {
		return bad("the count " + err.Error())
	}
	r := Rate{Events: n, Burst: n}
	switch unit {
	case "s":
		r.Per = time.Second
	case "m":
		r.Per = time.Minute
	case "h":
		r.Per = time.Hour
	default:
		return bad("unknown unit " + strconv.Quote(unit))
	}
	if hasBurst {
		b, ok := strings.CutPrefix(burstPart, "burst=")
		if !ok {
			return bad("unknown option " + strconv.Quote(burstPart))
		}
		if r.Burst, err = rateNumber(b); err != nil {
			return bad("the burst " + err.Error())
		}
	}
	return r, nil
}

// rateNumber parses a whole number from 1 to maxRateNumber, in plain
// digits.
func rateNumber(s string) (int, error) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxRateNumber {
		return 0, fmt.Errorf("%q is not between 1 and %d", s, maxRateNumber)
	}
	return n, nil
}

// The names of the rate limits, as the label of the
// paygate_http_rate_limited_total counter.
const (
	LimitKey      = "key"      // per API key, on the API
	LimitAPIIP    = "api_ip"   // per client IP, on the API without a valid key
	LimitCheckout = "checkout" // per client IP, on the buyer's checkout pages
	LimitLogin    = "login"    // per client IP, on the finance login form
	LimitWebhook  = "webhook"  // per client IP, on the provider webhooks
)

// RateLimits configures the server's rate limits. Each is a token bucket
// per client: per API key, or per client IP (see TrustedProxies). A request
// over its limit is answered 429 with Retry-After and never reaches its
// handler.
type RateLimits struct {
	// Key limits the API (/v1/ and the sandbox control routes) per valid
	// API key (Config.Keys); the limiter knows a key only by its hash.
	Key Rate
	// APIIP limits the same routes per client IP when the request carries
	// no valid key, so that guessing keys is slow.
	APIIP Rate
	// Checkout limits the buyer's checkout pages (/checkout/) per client
	// IP.
	Checkout Rate
	// Login limits the finance login form (POST /finance/login) per client
	// IP, against guessing the finance key.
	Login Rate
	// Webhook limits the provider webhooks (/webhooks/) per client IP.
	Webhook Rate

	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (see ParseTrustedProxies); none by default.
	TrustedProxies []netip.Prefix
	// MaxClients bounds the buckets each limit keeps; beyond it the least
	// recently seen client's bucket is forgotten. Zero means
	// DefaultMaxClients.
	MaxClients int
}

// DefaultMaxClients is how many clients each rate limit tracks at most: a
// bucket costs a few hundred bytes, so a spray of addresses costs at most
// tens of megabytes.
const DefaultMaxClients = 50_000

// DefaultRateLimits returns the limits of `paygate serve` when nothing is
// configured. They are far above a real marketplace's load and exist to stop
// scripts: the marketplace backend sends all its traffic with one key, so
// Key allows 10,000 requests/s (paybench drives about 2,000/s); a buyer's
// browser loads a checkout page every few seconds at most, so Checkout
// allows 20/s per address, which still serves dozens of buyers behind one
// carrier-grade NAT; nobody types the finance key ten times a minute.
//
// Webhooks are not limited by default. The few addresses a provider sends
// from carry every event, and after an outage it sends bursts of thousands:
// a per-IP limit would hit exactly the real sender first, and a refused
// delivery delays settlement by the provider's backoff, up to hours. A
// forged webhook costs one HMAC and no database work before it is refused
// (and bodies are capped), so the limit buys little; set Webhook where a
// deployment wants one anyway.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Key:      Rate{Events: 10_000, Per: time.Second, Burst: 20_000},
		APIIP:    Rate{Events: 10, Per: time.Second, Burst: 50},
		Checkout: Rate{Events: 20, Per: time.Second, Burst: 100},
		Login:    Rate{Events: 10, Per: time.Minute, Burst: 10},
	}
}

// limiter is the rate-limiting middleware of a Server.
type limiter struct {
	keys    Keys
	trusted []netip.Prefix
	now     func() time.Time
	limited func(limit string) // counts a refused request
	buckets map[string]*buckets
}

// newLimiter returns the limiter of rl, or nil when every limit is off.
func newLimiter(rl RateLimits, keys Keys, limited func(string)) *limiter {
	max := rl.MaxClients
	if max <= 0 {
		max = DefaultMaxClients
	}
	l := &limiter{keys: keys, trusted: rl.TrustedProxies, now: time.Now, limited: limited, buckets: map[string]*buckets{}}
	for name, r := range map[string]Rate{
		LimitKey: rl.Key, LimitAPIIP: rl.APIIP, LimitCheckout: rl.Checkout, LimitLogin: rl.Login, LimitWebhook: rl.Webhook,
	} {
		if !r.Off() {
			l.buckets[name] = newBuckets(r, max)
		}
	}
	if len(l.buckets) == 0 {
		return nil
	}
	return l
}

// classify returns the limit that applies to r and the client it is
// counted against, or "" for requests that no limit covers (health checks,
// metrics, the simulators that stand in for the providers' own servers).
func (l *limiter) classify(r *http.Request) (limit, client string) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/sandbox/payment-orders/") || strings.HasPrefix(p, "/sandbox/faults/"):
		if token, ok := BearerToken(r.Header.Get("Authorization")); ok {
			// Without reading the database: a made-up key must not cost a
			// read before its address's limit refuses it.
			if _, known := l.keys.Recognize(token); known {
				sum := sha256.Sum256([]byte(token))
				return LimitKey, string(sum[:16])
			}
		}
		return LimitAPIIP, clientIP(r, l.trusted)
	case strings.HasPrefix(p, "/checkout/"):
		return LimitCheckout, clientIP(r, l.trusted)
	case p == "/finance/login" && r.Method == http.MethodPost:
		return LimitLogin, clientIP(r, l.trusted)
	case strings.HasPrefix(p, "/webhooks/"):
		return LimitWebhook, clientIP(r, l.trusted)
	}
	return "", ""
}

// middleware refuses requests over their limit with 429 and Retry-After:
// a JSON error on the API and the webhooks, a short plain page on the pages
// people read.
func (l *limiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, client := l.classify(r)
		b := l.buckets[name]
		if b == nil {
			next.ServeHTTP(w, r)
			return
		}
		wait, ok := b.take(client, l.now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		l.limited(name)
		secs := int(math.Ceil(wait.Round(time.Millisecond).Seconds()))
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if name == LimitCheckout || name == LimitLogin {
			// Cache-Control and nosniff are already set: securityHeaders
			// wraps every response.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "Too many requests. Please wait "+plural(secs, "second")+" and try again.\n")
			return
		}
		WriteError(w, r, paygate.Errorf(paygate.ERATELIMITED, "too many requests; retry after %s", plural(secs, "second")))
	})
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// buckets are the token buckets of one limit, one per client, bounded in
// number. A bucket left alone long enough to refill is the same as a new
// one, so such buckets are dropped; beyond max the least recently used one
// is dropped as well. It is safe for concurrent use.
type buckets struct {
	rate  rate.Limit
	burst int
	idle  time.Duration // a bucket unused this long is full again
	max   int

	mu    sync.Mutex
	index map[string]*list.Element // of *bucket
	lru   *list.List               // most recently used first
}

type bucket struct {
	client string
	lim    *rate.Limiter
	last   time.Time
}

func newBuckets(r Rate, max int) *buckets {
	burst := max1(r.Burst)
	lim := r.limit()
	return &buckets{
		rate: lim, burst: burst, max: max,
		idle:  time.Duration(float64(burst) / float64(lim) * float64(time.Second)),
		index: map[string]*list.Element{}, lru: list.New(),
	}
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// take spends a token of client's bucket at now. If the bucket is empty it
// returns false and how long until a token is back.
func (b *buckets) take(client string, now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Forget the buckets idle long enough to be full again.
	for e := b.lru.Back(); e != nil; e = b.lru.Back() {
		old := e.Value.(*bucket)
		if now.Sub(old.last) < b.idle {
			break
		}
		b.lru.Remove(e)
		delete(b.index, old.client)
	}
	var bk *bucket
	if e, ok := b.index[client]; ok {
		bk = e.Value.(*bucket)
		b.lru.MoveToFront(e)
	} else {
		if b.lru.Len() >= b.max {
			e := b.lru.Back()
			b.lru.Remove(e)
			delete(b.index, e.Value.(*bucket).client)
		}
		bk = &bucket{client: client, lim: rate.NewLimiter(b.rate, b.burst)}
		b.index[client] = b.lru.PushFront(bk)
	}
	bk.last = now
	if bk.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - bk.lim.TokensAt(now)
	return time.Duration(missing / float64(b.rate) * float64(time.Second)), false
}

// len returns how many buckets are kept.
func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}
