package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
	}{
		{"off", Rate{}},
		{"20/s", Rate{Events: 20, Per: time.Second, Burst: 20}},
		{"10/m,burst=20", Rate{Events: 10, Per: time.Minute, Burst: 20}},
		{"1/h,burst=1", Rate{Events: 1, Per: time.Hour, Burst: 1}},
		{"10000/s,burst=20000", Rate{Events: 10000, Per: time.Second, Burst: 20000}},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ParseRate(got.String()); err != nil || back != got {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", got.String(), back, err, got)
		}
	}
	for _, in := range []string{
		"", "Off", "none", "0", "20", "20/", "/s", "0/s", "-1/s", "+5/s", "1.5/s", "20/sec", "20/S", "20/d",
		"20/s,", "20/s,burst", "20/s,burst=", "20/s,burst=0", "20/s,burst=-1", "20/s,bust=5", "20/s,burst=5,burst=6",
		" 20/s", "20/s ", "20 /s", "20/s, burst=5", "99999999999/s", "1/s,burst=1000000001", "1e3/s",
	} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want an error", in, got)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"off", "20/s", "10/m,burst=20", "1/h", "20/s,burst=", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if !r.Off() && (r.Events < 1 || r.Burst < 1 || r.Per <= 0) {
			t.Fatalf("ParseRate(%q) = %+v: a limit with a zero part", s, r)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v, String %q reads back as %+v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::ffff:198.51.100.1")
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.1/32"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseTrustedProxies = %v, %v; want %v", got, err, want)
	}
	if got, err := ParseTrustedProxies(""); err != nil || got != nil {
		t.Errorf("ParseTrustedProxies(\"\") = %v, %v; want none", got, err)
	}
	for _, in := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.0/8,,192.0.2.1", "10.0.0.1:80"} {
		if got, err := ParseTrustedProxies(in); err == nil {
			t.Errorf("ParseTrustedProxies(%q) = %v, want an error", in, got)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8,2001:db8:ffff::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "198.51.100.7:4711", nil, "198.51.100.7"},
		{"an untrusted peer's X-Forwarded-For is ignored", "198.51.100.7:4711", []string{"203.0.113.9"}, "198.51.100.7"},
		{"through a trusted proxy", "10.1.2.3:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a spoofed entry left of the real one is ignored", "10.1.2.3:80", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "10.1.2.3:80", []string{"1.2.3.4, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several headers", "10.1.2.3:80", []string{"1.2.3.4", "203.0.113.9"}, "203.0.113.9"},
		{"only proxies", "10.1.2.3:80", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"a trusted proxy without the header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"an unreadable entry: the proxy that sent it", "10.1.2.3:80", []string{"203.0.113.9, garbage, 10.0.0.6"}, "10.0.0.6"},
		{"IPv6 clients are their /64", "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"IPv6 through an IPv6 proxy", "[2001:db8:ffff::1]:443", []string{"2001:db8:aa:bb::9"}, "2001:db8:aa:bb::/64"},
		{"IPv4-mapped", "[::ffff:198.51.100.7]:1", nil, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/checkout/P12345678", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, trusted); got != tt.want {
				t.Errorf("clientIP(%s, X-Forwarded-For %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

// limitTest is a Server with rate limits, a clock the test moves, handlers
// that count the requests reaching them, and its handler on loopback.
type limitTest struct {
	t       *testing.T
	srv     *Server
	url     string
	mu      sync.Mutex
	now     time.Time
	reached atomic.Int64
}

const (
	testMarketKey  = "market-key-0123456789"
	testFinanceKey = "finance-key-0123456789"
)

func newLimitTest(t *testing.T, rl RateLimits) *limitTest {
	t.Helper()
	lt := &limitTest{t: t, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	lt.srv = New(Config{Keys: Keys{Marketplace: testMarketKey, Finance: testFinanceKey}, RateLimits: &rl})
	if lt.srv.limiter != nil {
		lt.srv.limiter.now = lt.clock
	}
	ok := func(w http.ResponseWriter, r *http.Request) {
		lt.reached.Add(1)
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	r := lt.srv.Router()
	r.HandleFunc("/v1/payment-orders", ok).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/payment-orders/{n}/approve", ok).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/stripe/ideal/{id}", ok).Methods(http.MethodGet)
	r.HandleFunc("/checkout/{n}", ok).Methods(http.MethodGet)
	r.HandleFunc("/finance/login", ok).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/webhooks/stripe", ok).Methods(http.MethodPost)
	ts := httptest.NewServer(lt.srv.Handler())
	t.Cleanup(ts.Close)
	lt.url = ts.URL
	return lt
}

func (lt *limitTest) clock() time.Time {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.now
}

func (lt *limitTest) advance(d time.Duration) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.now = lt.now.Add(d)
}

// do sends a request with the given bearer key ("" for none) and headers
// ("Name: value"), and returns the response with its body.
func (lt *limitTest) do(method, path, key string, headers ...string) (*http.Response, string) {
	lt.t.Helper()
	req, err := http.NewRequest(method, lt.url+path, strings.NewReader("{}"))
	if err != nil {
		lt.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		lt.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		lt.t.Fatal(err)
	}
	return resp, string(b)
}

// wantLimited checks a 429 answer: Retry-After of want seconds, and a JSON
// rate_limited error or a short text page.
func (lt *limitTest) wantLimited(resp *http.Response, body string, retryAfter int, jsonBody bool) {
	lt.t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		lt.t.Fatalf("status %d %q, want 429", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got != strconv.Itoa(retryAfter) {
		lt.t.Errorf("Retry-After = %q, want %d", got, retryAfter)
	}
	if resp.Header.Get("Cache-Control") != DefaultCacheControl || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		lt.t.Errorf("429 headers %v, want the security headers", resp.Header)
	}
	if jsonBody {
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "rate_limited" || e.Error.Message == "" ||
			resp.Header.Get("Content-Type") != "application/json" {
			lt.t.Errorf("429 body %q (%s), want a JSON rate_limited error", body, resp.Header.Get("Content-Type"))
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(body, "Too many requests") || len(body) > 200 {
		lt.t.Errorf("429 page %q (%s), want a short text page", body, ct)
	}
}

func (lt *limitTest) limited(name string) float64 {
	return testutil.ToFloat64(lt.srv.metrics.rateLimited.WithLabelValues(name))
}

// A script with the marketplace key is limited per key, and the limited
// requests never reach the handler; the other key and other clients are not
// affected; a 429's Retry-After follows the bucket.
func TestRateLimitPerKey(t *testing.T) {
	lt := newLimitTest(t, RateLimits{Key: Rate{Events: 3, Per: time.Minute, Burst: 3}, APIIP: Rate{Events: 2, Per: time.Minute, Burst: 2}})
	for i := 0; i < 3; i++ {
		if resp, body := lt.do("POST", "/v1/payment-orders", testMarketKey); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d %s, want 200", i, resp.StatusCode, body)
		}
	}
	for i := 0; i < 5; i++ {
		resp, body := lt.do("POST", "/v1/payment-orders", testMarketKey)
		lt.wantLimited(resp, body, 20, true) // one token every 20 s
	}
	// The sandbox control routes share the key's bucket.
	resp, body := lt.do("POST", "/sandbox/payment-orders/P12345678/approve", testMarketKey)
	lt.wantLimited(resp, body, 20, true)
	if n := lt.reached.Load(); n != 3 {
		t.Errorf("%d requests reached the handler, want 3", n)
	}
	if n := lt.limited(LimitKey); n != 6 {
		t.Errorf("rate_limited_total{limit=key} = %v, want 6", n)
	}
	// The finance key has its own bucket, and a valid key never spends the
	// address's.
	for i := 0; i < 3; i++ {
		if resp, body := lt.do("POST", "/v1/payment-orders", testFinanceKey); resp.StatusCode != 200 {
			t.Fatalf("finance request %d = %d %s, want 200", i, resp.StatusCode, body)
		}
	}
	// Time refills the bucket: after 15 s, 5 s to go; after 20 s, one more.
	lt.advance(15 * time.Second)
	resp, body = lt.do("POST", "/v1/payment-orders", testMarketKey)
	lt.wantLimited(resp, body, 5, true)
	lt.advance(5 * time.Second)
	if resp, body := lt.do("POST", "/v1/payment-orders", testMarketKey); resp.StatusCode != 200 {
		t.Fatalf("after the refill = %d %s, want 200", resp.StatusCode, body)
	}
	// Simulator pages stand in for the providers' own servers: not limited.
	for i := 0; i < 10; i++ {
		if resp, _ := lt.do("GET", "/sandbox/stripe/ideal/pi_1", ""); resp.StatusCode != 200 {
			t.Fatalf("simulator page = %d, want 200", resp.StatusCode)
		}
	}
}

// Guessing keys is limited per address: requests with no key or a wrong one
// spend the address's bucket, whatever key they try, and never reach the
// handler (nor the key check).
func TestRateLimitKeyGuessing(t *testing.T) {
	lt := newLimitTest(t, RateLimits{Key: Rate{Events: 100, Per: time.Second, Burst: 100}, APIIP: Rate{Events: 2, Per: time.Minute, Burst: 2}})
	guess := func() string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	for i := 0; i < 2; i++ {
		if resp, _ := lt.do("POST", "/v1/payment-orders", guess()); resp.StatusCode != 200 {
			t.Fatalf("guess %d = %d, want it to reach the handler (which would answer 401)", i, resp.StatusCode)
		}
	}
	for i := 0; i < 20; i++ {
		key := guess()
		if i%2 == 0 {
			key = ""
		}
		resp, body := lt.do("POST", "/v1/payment-orders", key)
		lt.wantLimited(resp, body, 30, true)
	}
	if n := lt.reached.Load(); n != 2 {
		t.Errorf("%d guesses reached the handler, want 2", n)
	}
	if n := lt.limited(LimitAPIIP); n != 20 {
		t.Errorf("rate_limited_total{limit=api_ip} = %v, want 20", n)
	}
	// The real key still works from the same address.
	if resp, body := lt.do("POST", "/v1/payment-orders", testMarketKey); resp.StatusCode != 200 {
		t.Fatalf("the marketplace key after the guesses = %d %s, want 200", resp.StatusCode, body)
	}
	// The key limiter keeps a hash, never the key itself.
	b := lt.srv.limiter.buckets[LimitKey]
	b.mu.Lock()
	for client := range b.index {
		if strings.Contains(client, testMarketKey) || len(client) != 16 {
			t.Errorf("key bucket named %q, want a 16-byte hash", client)
		}
	}
	b.mu.Unlock()
}

// Hammering the checkout pages is limited per address, with a short text
// page; other buyers (other addresses, told by a trusted proxy) are served;
// a client cannot pick its own address with X-Forwarded-For.
func TestRateLimitCheckoutPerIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	lt := newLimitTest(t, RateLimits{Checkout: Rate{Events: 1, Per: time.Second, Burst: 3}, TrustedProxies: trusted})
	buyer := "X-Forwarded-For: 203.0.113.9"
	for i := 0; i < 3; i++ {
		if resp, _ := lt.do("GET", "/checkout/P12345678", "", buyer); resp.StatusCode != 200 {
			t.Fatalf("page %d = %d, want 200", i, resp.StatusCode)
		}
	}
	resp, body := lt.do("GET", "/checkout/P12345678", "", buyer)
	lt.wantLimited(resp, body, 1, false)
	// Spoofing: an entry left of the proxy's own is the client's say, not
	// the proxy's; the buyer stays limited.
	for _, spoof := range []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9", "X-Forwarded-For: 127.0.0.1, 203.0.113.9"} {
		resp, body := lt.do("GET", "/checkout/P12345678", "", spoof)
		lt.wantLimited(resp, body, 1, false)
	}
	// Another buyer is served.
	if resp, _ := lt.do("GET", "/checkout/P12345678", "", "X-Forwarded-For: 203.0.113.10"); resp.StatusCode != 200 {
		t.Fatalf("another buyer's page = %d, want 200", resp.StatusCode)
	}
	if n := lt.reached.Load(); n != 4 {
		t.Errorf("%d pages reached the handler, want 4", n)
	}
	if n := lt.limited(LimitCheckout); n != 3 {
		t.Errorf("rate_limited_total{limit=checkout} = %v, want 3", n)
	}
}

// Without trusted proxies, X-Forwarded-For changes nothing: every request
// from one connection's address shares its bucket.
func TestRateLimitIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	lt := newLimitTest(t, RateLimits{Checkout: Rate{Events: 1, Per: time.Minute, Burst: 2}})
	for i := 0; i < 6; i++ {
		resp, body := lt.do("GET", "/checkout/P12345678", "", fmt.Sprintf("X-Forwarded-For: 203.0.113.%d", i))
		if i < 2 {
			if resp.StatusCode != 200 {
				t.Fatalf("page %d = %d, want 200", i, resp.StatusCode)
			}
			continue
		}
		lt.wantLimited(resp, body, 60, false)
	}
}

// Brute force on the finance login: POSTs are limited per address, the form
// itself (GET) is not.
func TestRateLimitFinanceLogin(t *testing.T) {
	lt := newLimitTest(t, DefaultRateLimits())
	for i := 0; i < 10; i++ {
		if resp, _ := lt.do("POST", "/finance/login", ""); resp.StatusCode != 200 {
			t.Fatalf("login %d = %d, want 200", i, resp.StatusCode)
		}
	}
	for i := 0; i < 5; i++ {
		resp, body := lt.do("POST", "/finance/login", "")
		lt.wantLimited(resp, body, 6, false) // 10 a minute: one every 6 s
	}
	if resp, _ := lt.do("GET", "/finance/login", ""); resp.StatusCode != 200 {
		t.Fatalf("GET /finance/login while limited = %d, want 200", resp.StatusCode)
	}
	if n := lt.reached.Load(); n != 11 {
		t.Errorf("%d requests reached the handler, want 11", n)
	}
}

// Webhooks are not limited by default (see DefaultRateLimits), and are when
// configured.
func TestRateLimitWebhooks(t *testing.T) {
	lt := newLimitTest(t, DefaultRateLimits())
	for i := 0; i < 300; i++ {
		if resp, _ := lt.do("POST", "/webhooks/stripe", ""); resp.StatusCode != 200 {
			t.Fatalf("webhook %d = %d, want 200: webhooks are not limited by default", i, resp.StatusCode)
		}
	}
	lt = newLimitTest(t, RateLimits{Webhook: Rate{Events: 5, Per: time.Second, Burst: 5}})
	for i := 0; i < 5; i++ {
		lt.do("POST", "/webhooks/stripe", "")
	}
	resp, body := lt.do("POST", "/webhooks/stripe", "")
	lt.wantLimited(resp, body, 1, true)
}

// The limits all off: no limiter at all.
func TestRateLimitsOff(t *testing.T) {
	lt := newLimitTest(t, RateLimits{})
	if lt.srv.limiter != nil {
		t.Fatal("a limiter with every limit off")
	}
	for i := 0; i < 200; i++ {
		if resp, _ := lt.do("POST", "/v1/payment-orders", ""); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d, want 200", i, resp.StatusCode)
		}
	}
}

// A spray of addresses cannot grow the buckets past their bound, idle
// buckets are forgotten, and a client that keeps hammering through a spray
// below the bound stays limited.
func TestBucketsBounded(t *testing.T) {
	const max = 1000
	b := newBuckets(Rate{Events: 1, Per: time.Second, Burst: 2}, max)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	attacker := "198.51.100.66"
	for i := 0; i < 3; i++ {
		b.take(attacker, now)
	}
	if _, ok := b.take(attacker, now); ok {
		t.Fatal("the attacker's fourth request within a second was allowed")
	}
	for i := 0; i < 100_000; i++ {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		b.take(addr, now)
		if i%(max/2) == 0 {
			if _, ok := b.take(attacker, now); ok {
				t.Fatalf("the attacker was let through after %d sprayed addresses", i)
			}
		}
		if n := b.len(); n > max {
			t.Fatalf("after %d sprayed addresses the buckets hold %d, want at most %d", i+1, n, max)
		}
	}
	// Two seconds refill every bucket: the next request forgets them all.
	b.take("192.0.2.1", now.Add(2*time.Second))
	if n := b.len(); n != 1 {
		t.Errorf("after the buckets refilled %d are kept, want 1", n)
	}
}

// Concurrent requests of one client spend exactly its tokens.
func TestBucketsConcurrent(t *testing.T) {
	b := newBuckets(Rate{Events: 1, Per: time.Hour, Burst: 50}, 10)
	now := time.Now()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := b.take("203.0.113.1", now); ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Errorf("%d of 200 concurrent requests allowed, want the burst of 50", n)
	}
}

// FuzzClientIP: whatever X-Forwarded-For says, a client behind no trusted
// proxy is its connection's address, and behind one it is an address (or
// /64) that the header or the connection names, never anything else.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "1.2.3.4, 203.0.113.9", "garbage", "", ",,,", "2001:db8::1, 10.0.0.1", "fe80::1%eth0", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/checkout/P12345678", nil)
		r.Header.Set("X-Forwarded-For", xff)
		r.RemoteAddr = "198.51.100.7:1234"
		if got := clientIP(r, trusted); got != "198.51.100.7" {
			t.Fatalf("untrusted peer with X-Forwarded-For %q = %q, want the peer", xff, got)
		}
		r.RemoteAddr = "10.0.0.1:1234"
		named := map[string]bool{"10.0.0.1": true}
		for _, e := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil {
				a = a.Unmap().WithZone("")
				named[a.String()] = true
				if a.Is6() {
					p, _ := a.Prefix(64)
					named[p.String()] = true
				}
			}
		}
		if got := clientIP(r, trusted); !named[got] {
			t.Fatalf("X-Forwarded-For %q through a trusted proxy = %q, want the proxy or an address the header names", xff, got)
		}
	})
}

// countingKeys is an IssuedKeys like package apikey's store: its one key is
// in its cache once looked up, and it counts the lookups that would read
// the database (every lookup of a key not cached).
type countingKeys struct {
	key     string
	lookups atomic.Int64
	cached  atomic.Bool
}

func (k *countingKeys) LookupKey(_ context.Context, token string) (Caller, bool, error) {
	if c, ok := k.CachedKey(token); ok {
		return c, true, nil
	}
	k.lookups.Add(1)
	if token != k.key {
		return Caller{}, false, nil
	}
	k.cached.Store(true)
	return Caller{Role: RoleMarketplace, KeyID: "id"}, true, nil
}

func (k *countingKeys) CachedKey(token string) (Caller, bool) {
	if token != k.key || !k.cached.Load() {
		return Caller{}, false
	}
	return Caller{Role: RoleMarketplace, KeyID: "id"}, true
}

func (k *countingKeys) Active(context.Context, string) (bool, error) { return true, nil }

// TestRateLimitReadsNoKeysForGuesses: the limiter classifies a request by
// its key without reading the key store, so a stream of made-up issued keys
// costs no database read before its address's limit refuses it; an issued
// key counts against its address only until it has been looked up once,
// then against itself.
func TestRateLimitReadsNoKeysForGuesses(t *testing.T) {
	keys := &countingKeys{key: "pgk_0123456789abcdef_" + strings.Repeat("a", 64)}
	srv := New(Config{Keys: Keys{Issued: keys}, RateLimits: &RateLimits{
		Key: Rate{Events: 1000, Per: time.Second, Burst: 1000}, APIIP: Rate{Events: 1, Per: time.Hour, Burst: 3}}})
	var reached atomic.Int64
	srv.Router().Handle("/v1/payment-orders", Keys{Issued: keys}.Require(RoleMarketplace)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))).Methods(http.MethodPost)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	post := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/payment-orders", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The real key's first request is counted against the address (it is
	// not cached yet) and looked up by Require; from then on it is known.
	if got := post(keys.key); got != 200 {
		t.Fatalf("the issued key's first request = %d, want 200", got)
	}
	for i := 0; i < 20; i++ {
		guess := fmt.Sprintf("pgk_%016x_%s", i, strings.Repeat("b", 64))
		want := http.StatusUnauthorized
		if i >= 2 { // the burst of 3, one taken by the real key's first request
			want = http.StatusTooManyRequests
		}
		if got := post(guess); got != want {
			t.Fatalf("guess %d = %d, want %d", i, got, want)
		}
	}
	if n := keys.lookups.Load(); n != 3 {
		t.Errorf("key store reads = %d, want 3 (the real key once, and the 2 guesses the limit let through to Require)", n)
	}
	// The address is over its limit, but the key is known now.
	for i := 0; i < 50; i++ {
		if got := post(keys.key); got != 200 {
			t.Fatalf("the issued key after the guesses = %d, want 200", got)
		}
	}
	if n := keys.lookups.Load(); n != 3 {
		t.Errorf("key store reads after 50 requests of a known key = %d, want still 3", n)
	}
}
