package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func TestLimitsFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	l, err := limitsFromEnv(env())
	if err != nil || l.rate.Key != server.DefaultRateLimits().Key || l.rate.Checkout.Off() || !l.rate.Webhook.Off() ||
		l.maxHeaderBytes != 0 || l.readTimeout != 0 || l.maxLiveAttempts != 0 {
		t.Fatalf("limitsFromEnv(nothing) = %+v, %v; want the defaults", l, err)
	}
	l, err = limitsFromEnv(env(
		"PAYGATE_RATE_LIMIT_KEY", "off", "PAYGATE_RATE_LIMIT_CHECKOUT", "5/m,burst=9", "PAYGATE_RATE_LIMIT_WEBHOOK", "100/s",
		"PAYGATE_TRUSTED_PROXIES", "10.0.0.0/8", "PAYGATE_RATE_LIMIT_CLIENTS", "1000", "PAYGATE_MAX_HEADER_BYTES", "8192",
		"PAYGATE_READ_HEADER_TIMEOUT", "2s", "PAYGATE_READ_TIMEOUT", "10s", "PAYGATE_WRITE_TIMEOUT", "20s", "PAYGATE_IDLE_TIMEOUT", "1m",
		"PAYGATE_MAX_LIVE_ATTEMPTS", "3", "PAYGATE_MAX_ATTEMPTS", "8"))
	want := limits{
		rate: server.RateLimits{
			APIIP: server.DefaultRateLimits().APIIP, Login: server.DefaultRateLimits().Login,
			Checkout: server.Rate{Events: 5, Per: time.Minute, Burst: 9}, Webhook: server.Rate{Events: 100, Per: time.Second, Burst: 100},
			MaxClients: 1000,
		},
		maxHeaderBytes: 8192, readHeaderTimeout: 2 * time.Second, readTimeout: 10 * time.Second, writeTimeout: 20 * time.Second,
		idleTimeout: time.Minute, maxLiveAttempts: 3, maxAttempts: 8,
	}
	if err != nil || fmt.Sprint(l.rate.TrustedProxies) != "[10.0.0.0/8]" {
		t.Fatalf("limitsFromEnv = %+v, %v", l, err)
	}
	l.rate.TrustedProxies = nil
	if fmt.Sprintf("%+v", l) != fmt.Sprintf("%+v", want) {
		t.Errorf("limitsFromEnv =\n%+v\nwant\n%+v", l, want)
	}
	for _, kv := range [][2]string{
		{"PAYGATE_RATE_LIMIT_KEY", "fast"}, {"PAYGATE_RATE_LIMIT_API_IP", "0/s"}, {"PAYGATE_RATE_LIMIT_LOGIN", "10/min"},
		{"PAYGATE_RATE_LIMIT_CHECKOUT", "OFF"}, {"PAYGATE_RATE_LIMIT_WEBHOOK", "5/s,burst=0"}, {"PAYGATE_TRUSTED_PROXIES", "lb.internal"},
		{"PAYGATE_RATE_LIMIT_CLIENTS", "0"}, {"PAYGATE_MAX_HEADER_BYTES", "64k"}, {"PAYGATE_READ_TIMEOUT", "30"},
		{"PAYGATE_IDLE_TIMEOUT", "-1s"}, {"PAYGATE_MAX_LIVE_ATTEMPTS", "-5"}, {"PAYGATE_MAX_ATTEMPTS", "many"},
	} {
		if _, err := limitsFromEnv(env(kv[0], kv[1])); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("limitsFromEnv(%s=%q) = %v, want an error naming the variable", kv[0], kv[1], err)
		}
	}
}

// startWithEnv runs "paygate serve" on a fresh SQLite file with env added
// and waits until it listens.
func startWithEnv(t *testing.T, env ...string) *process {
	t.Helper()
	return startEnv(t, env, "--db", t.TempDir()+"/paygate.db")
}

// send sends a request and returns the status, the headers and the body.
func send(t *testing.T, method, u string, body io.Reader, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The rate limits of the real binary, set through the environment: a
// script hammering the checkout page or guessing API keys gets 429 with
// Retry-After, the real key is still served, the refusals are counted in
// /metrics; oversized headers and bodies are refused.
func TestRateLimitServe(t *testing.T) {
	p := startWithEnv(t, "PAYGATE_RATE_LIMIT_CHECKOUT=3/m", "PAYGATE_RATE_LIMIT_API_IP=2/m", "PAYGATE_MAX_HEADER_BYTES=4096")
	base := "http://" + p.addr
	for i := 0; i < 3; i++ {
		if status, _, _ := send(t, "GET", base+"/checkout/P12345678?t=guess", nil); status != http.StatusNotFound {
			t.Fatalf("checkout page %d = %d, want 404 (a wrong token)", i, status)
		}
	}
	status, h, body := send(t, "GET", base+"/checkout/P12345678?t=guess", nil)
	// One request every 20 s refills the bucket: Retry-After is the time
	// to the next token, 20 s less what has refilled since the first page.
	if status != http.StatusTooManyRequests || !retryAfterWithin(h, 15, 20) || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") ||
		!strings.Contains(body, "Too many requests") {
		t.Fatalf("checkout page 4 = %d Retry-After %q %q %q, want 429 after 20 s as a text page", status, h.Get("Retry-After"), h.Get("Content-Type"), body)
	}

	for i, key := range []string{"", "guess-1"} {
		if status, _, _ := send(t, "GET", base+"/v1/payment-orders/P00000000", nil, "Authorization: Bearer "+key); status != http.StatusUnauthorized {
			t.Fatalf("API guess %d = %d, want 401", i, status)
		}
	}
	status, h, body = send(t, "GET", base+"/v1/payment-orders/P00000000", nil, "Authorization: Bearer guess-2")
	if status != http.StatusTooManyRequests || !retryAfterWithin(h, 25, 30) || !strings.Contains(body, `"code":"rate_limited"`) {
		t.Fatalf("API guess 3 = %d Retry-After %q %s, want 429 rate_limited after 30 s", status, h.Get("Retry-After"), body)
	}
	if status, _, body := send(t, "GET", base+"/v1/payment-orders/P00000000", nil, "Authorization: Bearer sandbox-marketplace-key"); status != http.StatusNotFound {
		t.Fatalf("the marketplace key from the limited address = %d %s, want 404", status, body)
	}

	_, _, metrics := send(t, "GET", base+"/metrics", nil)
	for _, want := range []string{`paygate_http_rate_limited_total{limit="checkout"} 1`, `paygate_http_rate_limited_total{limit="api_ip"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A header over PAYGATE_MAX_HEADER_BYTES (and net/http's 4 KiB of
	// slack) is 431; a body over 1 MiB is 413 too_large and creates
	// nothing.
	if status, _, _ := send(t, "GET", base+"/healthz", nil, "X-Padding: "+strings.Repeat("a", 16<<10)); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 16 KiB header = %d, want 431", status)
	}
	big := `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"` + strings.Repeat("x", 2<<20) + `"}]}`
	status, _, body = send(t, "POST", base+"/v1/payment-orders", strings.NewReader(big),
		"Authorization: Bearer sandbox-marketplace-key", "Idempotency-Key: big-1")
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"too_large"`) {
		t.Errorf("a 2 MiB payment order = %d %.200s, want 413 too_large", status, body)
	}
	p.stop(t)
}

// retryAfterWithin reports whether Retry-After is whole seconds from lo to
// hi.
func retryAfterWithin(h http.Header, lo, hi int) bool {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	return err == nil && lo <= n && n <= hi
}

// A bad limit in the environment stops paygate serve before it listens.
func TestRateLimitBadEnv(t *testing.T) {
	for _, kv := range []string{"PAYGATE_RATE_LIMIT_KEY=1000", "PAYGATE_TRUSTED_PROXIES=10.0.0.0/40", "PAYGATE_READ_TIMEOUT=soon", "PAYGATE_MAX_ATTEMPTS=0"} {
		cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--db", t.TempDir()+"/paygate.db")
		cmd.Env = append(os.Environ(), "PAYGATE_ADDR=", "PAYGATE_DB=", kv)
		out, err := cmd.CombinedOutput()
		name, _, _ := strings.Cut(kv, "=")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError || !strings.Contains(string(out), name) {
			t.Errorf("paygate serve with %s = %v, want exit %d naming it\n%s", kv, err, exitError, out)
		}
	}
}

// A slowloris against the real binary is cut off at
// PAYGATE_READ_HEADER_TIMEOUT.
func TestSlowClientLimitServe(t *testing.T) {
	p := startWithEnv(t, "PAYGATE_READ_HEADER_TIMEOUT=500ms")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: paygate\r\n")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second) // once, not renewed by every tick
	for {
		select {
		case d := <-closed:
			if d < 500*time.Millisecond || d > 3*time.Second {
				t.Fatalf("slowloris cut off after %v, want about 500ms", d)
			}
			return
		case <-tick.C:
			io.WriteString(conn, "X-Trickle: a\r\n")
		case <-deadline:
			t.Fatal("slowloris still connected after 10 s")
		}
	}
}

// A script that starts boleto after boleto on one order, each voucher
// still payable at the simulated Stripe, is stopped at the cap of live
// payments through the API and through the checkout page's form: 409
// limit, no new payment at the provider, nothing changed.
func TestAttemptLimitSandbox(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[2]) // BRL
			path := "/v1/payment-orders/" + po.Number + "/attempts"
			for i := 0; i < 5; i++ {
				var a attemptJSON
				if status := ta.call(t, "POST", path, map[string]any{"method": "boleto", "payer": boletoPayer}, &a); status != 201 || a.NextAction.Type != "voucher" {
					t.Fatalf("boleto %d = %d %+v, want 201 with a voucher", i+1, status, a)
				}
			}
			rows := func() (n int) {
				ta.db.View(context.Background(), func(tx *storage.Tx) error {
					return tx.Get(context.Background(), &n, `SELECT COUNT(*) FROM payment_attempts WHERE payment_order = ? AND status IN ('pending', 'canceled')`, po.Number)
				})
				return n
			}
			intents := ta.app.stripeSim.Usage().Intents
			if rows() != 5 {
				t.Fatalf("%d attempts, want 5", rows())
			}

			var e apiError
			if status := ta.call(t, "POST", path, map[string]any{"method": "boleto", "payer": boletoPayer}, &e); status != http.StatusConflict ||
				e.Error.Code != paygate.ELIMIT || !strings.Contains(e.Error.Message, "5 payments that can still be paid") {
				t.Fatalf("boleto 6 = %d %+v, want 409 limit", status, e)
			}

			// The checkout page's form, as a browser sends it.
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := browser.Get(po.CheckoutURL + "&change=1")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := csrfField.FindStringSubmatch(string(page))
			if m == nil {
				t.Fatalf("checkout page without a form:\n%s", page)
			}
			u, _ := url.Parse(po.CheckoutURL)
			form := url.Values{"t": {u.Query().Get("t")}, "csrf": {m[1]}, "method": {"boleto"}, "name": {"Maria Silva"},
				"email": {"maria@example.com"}, "tax_id": {"529.982.247-25"}, "line1": {"Av. Paulista 1000"}, "city": {"São Paulo"},
				"state": {"SP"}, "postal_code": {"01310-100"}}
			resp, err = browser.PostForm(ta.url+"/checkout/"+po.Number+"/attempts", form)
			if err != nil {
				t.Fatal(err)
			}
			page, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict || !strings.Contains(string(page), "5 payments that can still be paid") {
				t.Fatalf("the form's boleto 6 = %d, want 409 with the reason:\n%s", resp.StatusCode, page)
			}

			if n := ta.app.stripeSim.Usage().Intents; n != intents {
				t.Errorf("the simulated Stripe holds %d payments after the refusals, want %d", n, intents)
			}
			if rows() != 5 {
				t.Errorf("%d attempts after the refusals, want 5", rows())
			}
		})
	}
}
