package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// testApp is the whole service in sandbox mode, in process, on a loopback
// port: the production clients talk HTTP to the simulators, which post
// signed webhooks back to the service.
type testApp struct {
	url       string // where the server listens: http on loopback
	publicURL string // the URL it believes buyers reach it at
	db        *storage.DB
	app       *app
	srv       *server.Server
	router    *mux.Router // the server's router, for tests that walk every route
	// client sends the tests' requests to the service, checking each
	// exchange against /openapi.json (contractTransport); noFollow is
	// the same, not following redirects.
	client, noFollow *http.Client
	key              atomic.Int64
}

const (
	testAPIKey     = "test-marketplace-key"
	testFinanceKey = "test-finance-key"
)

func startApp(t testing.TB, b storagetest.Backend) *testApp {
	t.Helper()
	return startAppWith(t, b, appConfig{})
}

// startAppWith starts the app in sandbox mode with c's settings added.
func startAppWith(t testing.TB, b storagetest.Backend, c appConfig) *testApp {
	t.Helper()
	return startAppOn(t, b.DSN(t), c)
}

// startAppOn starts the app in sandbox mode on the database named by dsn.
func startAppOn(t testing.TB, dsn string, c appConfig) *testApp {
	t.Helper()
	return startAppClock(t, dsn, c, nil)
}

// startAppClock starts the app with the database clock now (time.Now if
// nil).
func startAppClock(t testing.TB, dsn string, c appConfig, now func() time.Time) *testApp {
	t.Helper()
	return startAppServer(t, dsn, c, now, "http", server.Config{})
}

// startAppScheme starts the app with the database clock now (time.Now if
// nil) and a public URL of scheme ("http" or "https") and the bound
// address. The server itself serves plain http on loopback: with "https" it
// stands behind a TLS-terminating proxy that the test plays, so its cookies
// are Secure and its answers carry HSTS, but the simulators (at the public
// URL) cannot be reached.
func startAppScheme(t testing.TB, dsn string, c appConfig, now func() time.Time, scheme string) *testApp {
	t.Helper()
	return startAppServer(t, dsn, c, now, scheme, server.Config{})
}

// startAppServer is startAppScheme on a server configured by sc: its
// address, logger, health check and public URL are the test's, and its
// rate limits those of paygate serve without settings unless sc names its
// own.
func startAppServer(t testing.TB, dsn string, c appConfig, now func() time.Time, scheme string, sc server.Config) *testApp {
	t.Helper()
	return startAppWorkers(t, dsn, c, now, scheme, sc, true)
}

// startAppQuiet starts the app on b without its background workers (the
// inbox's retries, delivery, janitor, key use, sweeper, hasher), for the
// tests that count what the requests alone send to the database: the
// requests themselves settle webhooks and write events in their own
// transactions.
func startAppQuiet(t testing.TB, b storagetest.Backend, c appConfig) *testApp {
	t.Helper()
	return startAppWorkers(t, b.DSN(t), c, nil, "http", server.Config{}, false)
}

// startAppWorkers is startAppServer, with the background workers if
// workers.
func startAppWorkers(t testing.TB, dsn string, c appConfig, now func() time.Time, scheme string, sc server.Config, workers bool) *testApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := storage.Open(ctx, dsn, storage.Options{Migrations: migrations(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	issued := apikey.New(db)
	c.mode, c.apiKey, c.financeKey, c.returnHosts = modeSandbox, testAPIKey, testFinanceKey, "shop.example"
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	lim, err := limitsFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	own := sc.RateLimits
	sc = lim.serverConfig(sc, c.keys(issued))
	if own != nil {
		sc.RateLimits = own
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	publicURL := scheme + "://" + ln.Addr().String()
	sc.Addr, sc.Logger, sc.Health, sc.PublicURL = ln.Addr().String(), log, db.Ping, publicURL
	srv := server.New(sc)
	a, err := newApp(ctx, c, db, srv, issued, publicURL, log)
	if err != nil {
		t.Fatal(err)
	}
	if workers {
		a.start(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	ta := remoteApp(t, "http://"+ln.Addr().String())
	ta.publicURL, ta.db, ta.app, ta.srv, ta.router = publicURL, db, a, srv, srv.Router()
	return ta
}

// remoteApp is a testApp of a service at base that the test reaches over
// HTTP only (a paygate process of its own): its client checks every
// exchange against /openapi.json.
func remoteApp(t testing.TB, base string) *testApp {
	t.Helper()
	client, _ := newContractClient(t, base)
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testApp{url: base, client: client, noFollow: &noFollow}
}

// call sends a JSON request with the marketplace key (and a fresh
// Idempotency-Key on POST) and decodes the JSON answer.
func (ta *testApp) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	return ta.callWith(t, testAPIKey, fmt.Sprintf("k%d", ta.key.Add(1)), method, path, body, out)
}

// callBad is call for a request that breaks the document on purpose (a
// malformed body, a value out of range): only its answer is held to
// /openapi.json.
func (ta *testApp) callBad(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	return ta.send1(t, testAPIKey, fmt.Sprintf("k%d", ta.key.Add(1)), method, path, body, out, true)
}

func (ta *testApp) callWith(t *testing.T, apiKey, idemKey, method, path string, body any, out any) int {
	t.Helper()
	return ta.send1(t, apiKey, idemKey, method, path, body, out, false)
}

// callWithBad is callWith for a request that breaks the document on
// purpose.
func (ta *testApp) callWithBad(t *testing.T, apiKey, idemKey, method, path string, body any, out any) int {
	t.Helper()
	return ta.send1(t, apiKey, idemKey, method, path, body, out, true)
}

func (ta *testApp) send1(t *testing.T, apiKey, idemKey, method, path string, body any, out any, breaks bool) int {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, ta.url+path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	if method == http.MethodPost && idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if breaks {
		req = breaksContract(req)
	}
	resp, err := ta.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: not JSON: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type orderJSON struct {
	Number      string `json:"number"`
	Status      string `json:"status"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	CheckoutURL string `json:"checkout_url"`
	Items       []struct {
		Number string `json:"number"`
		Amount string `json:"amount"`
		Status string `json:"status"`
	} `json:"items"`
	Attempts []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	ID          string `json:"id"`
	Method      string `json:"method"`
	Status      string `json:"status"`
	Provider    string `json:"provider"`
	ProviderRef string `json:"provider_ref"`
	NextAction  struct {
		Type      string `json:"type"`
		URL       string `json:"url"`
		Data      string `json:"data"`
		ImageURL  string `json:"image_url"`
		Number    string `json:"number"`
		ExpiresAt string `json:"expires_at"`
	} `json:"next_action"`
}

// methodCase is one payment method with an order it can pay.
type methodCase struct {
	method   providers.Method
	currency paygate.Currency
	amounts  []string
	payer    map[string]any
}

var boletoPayer = map[string]any{
	"name": "Maria Silva", "email": "maria@example.com", "tax_id": "529.982.247-25",
	"address": map[string]any{"line1": "Av. Paulista 1000", "city": "São Paulo", "state": "SP", "postal_code": "01310-100", "country": "BR"},
}

var methodCases = []methodCase{
	{providers.IDEAL, paygate.EUR, []string{"12.50", "7.25"}, nil},
	{providers.PayNow, paygate.SGD, []string{"30.00"}, nil},
	{providers.Boleto, paygate.BRL, []string{"99.90", "0.10"}, boletoPayer},
	{providers.KakaoPay, paygate.KRW, []string{"15000", "2500"}, nil},
	{providers.SamsungPay, paygate.KRW, []string{"42000"}, nil},
}

func (ta *testApp) createOrder(t *testing.T, c methodCase) orderJSON {
	t.Helper()
	items := []map[string]any{}
	for i, a := range c.amounts {
		items = append(items, map[string]any{"seller_id": fmt.Sprintf("S%d", i+1), "amount": a, "description": fmt.Sprintf("item %d", i+1)})
	}
	var po orderJSON
	if status := ta.call(t, "POST", "/v1/payment-orders", map[string]any{
		"buyer_id": "U1", "currency": c.currency, "items": items, "return_url": "https://shop.example/done",
	}, &po); status != 201 {
		t.Fatalf("create payment order = %d %+v", status, po)
	}
	return po
}

// formAction finds the action of the first POST form on an HTML page whose
// action matches re, resolved against the page's URL.
func formAction(t *testing.T, pageURL string, re *regexp.Regexp) string {
	t.Helper()
	resp, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", pageURL, resp.StatusCode)
	}
	for _, m := range regexp.MustCompile(`(?is)<form[^>]*action="([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		if re.MatchString(m[1]) {
			base, _ := url.Parse(pageURL)
			ref, _ := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
			return base.ResolveReference(ref).String()
		}
	}
	t.Fatalf("no form matching %s on %s:\n%s", re, pageURL, page)
	return ""
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// pay does what a buyer does for the attempt's next action in the sandbox.
func (ta *testApp) pay(t *testing.T, po orderJSON, a attemptJSON) {
	t.Helper()
	switch a.NextAction.Type {
	case "redirect":
		// The buyer is at the gateway's hosted page and approves.
		action := formAction(t, a.NextAction.URL, regexp.MustCompile(`(?i)approve`))
		resp, err := noRedirect.PostForm(action, url.Values{"phone": {"01012345678"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, ta.url+"/checkout/"+po.Number+"/return") {
			t.Fatalf("approve at the gateway = %d to %q, want 303 to our return page", resp.StatusCode, loc)
		}
	case "voucher":
		// The buyer pays the boleto at a bank.
		action := formAction(t, a.NextAction.URL, regexp.MustCompile(`(?i)pay`))
		resp, err := noRedirect.PostForm(action, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			t.Fatalf("pay the boleto = %d", resp.StatusCode)
		}
	case "qr":
		// A bank app scans the code: the sandbox's test helper.
		var out map[string]string
		if status := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/approve", nil, &out); status != 200 {
			t.Fatalf("sandbox approve = %d %v", status, out)
		}
	default:
		t.Fatalf("attempt %s has next action %q", a.ID, a.NextAction.Type)
	}
}

func TestPayEachMethod(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			for _, c := range methodCases {
				t.Run(string(c.method), func(t *testing.T) {
					po := ta.createOrder(t, c)
					if po.Status != "created" || len(po.Items) != len(c.amounts) || !strings.HasPrefix(po.CheckoutURL, ta.url+"/checkout/"+po.Number+"?t=") {
						t.Fatalf("created %+v", po)
					}
					var a attemptJSON
					body := map[string]any{"method": c.method}
					if c.payer != nil {
						body["payer"] = c.payer
					}
					if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &a); status != 201 {
						t.Fatalf("start attempt = %d %+v", status, a)
					}
					mi, _ := providers.Lookup(c.method)
					if string(a.NextAction.Type) != string(mi.Action) || a.Status != "pending" || a.ProviderRef == "" || a.Provider != mi.Provider {
						t.Fatalf("attempt = %+v, want a pending %s with a %s next action", a, mi.Provider, mi.Action)
					}
					switch mi.Action {
					case providers.ActionQR:
						if !strings.HasPrefix(a.NextAction.Data, "000201") || a.NextAction.ImageURL == "" || a.NextAction.ExpiresAt == "" {
							t.Fatalf("qr next action = %+v", a.NextAction)
						}
					case providers.ActionVoucher:
						if a.NextAction.Number == "" || a.NextAction.URL == "" || a.NextAction.ExpiresAt == "" {
							t.Fatalf("voucher next action = %+v", a.NextAction)
						}
						// The order waits for the voucher's due date and clearing.
						var withVoucher struct {
							ExpiresAt time.Time `json:"expires_at"`
						}
						ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &withVoucher)
						due, _ := time.Parse(time.RFC3339, a.NextAction.ExpiresAt)
						if withVoucher.ExpiresAt.Before(due.Add(72 * time.Hour)) {
							t.Fatalf("order expires at %v, before its voucher's due date %v plus clearing", withVoucher.ExpiresAt, due)
						}
					}
					ta.pay(t, po, a)

					var got orderJSON
					ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
					if got.Status != "paid" || got.Attempts[0].Status != "succeeded" {
						t.Fatalf("after paying: order %s, attempt %s; want paid and succeeded", got.Status, got.Attempts[0].Status)
					}
					ctx := context.Background()
					l := ledger.New(ta.db)
					for _, it := range got.Items {
						var so struct {
							Status string `json:"status"`
						}
						ta.call(t, "GET", "/v1/sales-orders/"+it.Number, nil, &so)
						if so.Status != "waiting_delivery" {
							t.Errorf("sales order %s is %s, want waiting_delivery", it.Number, so.Status)
						}
						want, _ := paygate.ParseMoney(it.Amount, c.currency)
						var bal ledger.Balance
						ta.db.View(ctx, func(tx *storage.Tx) error {
							var err error
							bal, err = l.Balance(ctx, tx, ledger.Escrow(it.Number), c.currency)
							return err
						})
						if bal.Normal() != want {
							t.Errorf("escrow of %s = %v, want %v", it.Number, bal.Normal(), want)
						}
					}
					// Paying again changes nothing: the order is paid.
					if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, nil); status != 409 {
						t.Errorf("attempt on a paid order = %d, want 409", status)
					}
				})
			}
			r, err := ledger.New(ta.db).Verify(context.Background(), verifyChecks()...)
			if err != nil || !r.OK() {
				var b strings.Builder
				r.WriteTo(&b)
				t.Fatalf("ledger verify after paying with every method: %v\n%s", err, b.String())
			}
			checkMetrics(t, ta.url, map[string]string{
				`paygate_webhook_events_applied_total{outcome="paid"}`:                                               strconv.Itoa(len(methodCases)),
				`paygate_webhook_settlement_lag_seconds_count`:                                                       "",
				`paygate_ledger_transactions_total{result="created"}`:                                                "",
				`paygate_ledger_post_duration_seconds_count`:                                                         "",
				`paygate_db_updates_total`:                                                                           "",
				`paygate_db_commits_total`:                                                                           "",
				`paygate_webhook_inbox_events{status="pending"}`:                                                     "0",
				`paygate_http_request_duration_seconds_count{method="POST",route="/v1/payment-orders",status="201"}`: strconv.Itoa(len(methodCases)),
			})
		})
	}
}

// checkMetrics scrapes GET /metrics and checks each series: want is its
// value, or "" for any value.
func checkMetrics(t *testing.T, baseURL string, want map[string]string) {
	t.Helper()
	got := scrapeMetrics(t, baseURL)
	for series, v := range want {
		g, ok := got[series]
		if !ok || (v != "" && g != v) {
			t.Errorf("/metrics %s = %q (present %v), want %q", series, g, ok, v)
		}
	}
}

// scrapeMetrics returns the value of each series /metrics serves.
func scrapeMetrics(t *testing.T, baseURL string) map[string]string {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	got := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			got[line[:i]] = line[i+1:]
		}
	}
	return got
}

func TestDeclineThenRetryAnotherAttempt(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	po := ta.createOrder(t, methodCases[0])
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a)
	var out map[string]string
	if status := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/decline", nil, &out); status != 200 || out["status"] != "failed" {
		t.Fatalf("decline = %d %v, want the order failed", status, out)
	}
	var b attemptJSON
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &b); status != 201 || b.ID == a.ID {
		t.Fatalf("retry after a decline = %d %+v", status, b)
	}
	ta.pay(t, po, b)
	var got orderJSON
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	if got.Status != "paid" || len(got.Attempts) != 2 || got.Attempts[0].Status != "failed" || got.Attempts[1].Status != "succeeded" {
		t.Fatalf("after decline and retry: %+v", got)
	}
}

func TestSwitchMethodWhilePending(t *testing.T) {
	// KRW: KakaoPay started, then the buyer switches to Samsung Pay; the
	// first is canceled at Rapyd.
	ta := startApp(t, storagetest.Backends(t)[0])
	po := ta.createOrder(t, methodCases[3])
	var a, b attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "kakaopay"}, &a)
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "samsungpay"}, &b); status != 201 {
		t.Fatalf("switch = %d %+v", status, b)
	}
	var got orderJSON
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	if got.Status != "pending" || got.Attempts[0].Status != "canceled" || got.Attempts[1].Status != "pending" {
		t.Fatalf("after switching: %+v", got)
	}
	ta.pay(t, po, b)
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	if got.Status != "paid" {
		t.Fatalf("after paying the second attempt: %s", got.Status)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	eurOrder := ta.createOrder(t, methodCases[0])
	brlOrder := ta.createOrder(t, methodCases[2])
	count := func() (n int) {
		ta.db.View(context.Background(), func(tx *storage.Tx) error {
			return tx.Get(context.Background(), &n, `SELECT (SELECT COUNT(*) FROM payment_orders) + (SELECT COUNT(*) FROM payment_attempts)
				+ (SELECT COUNT(*) FROM sales_orders) + (SELECT COUNT(*) FROM webhook_events) + (SELECT COUNT(*) FROM ledger_transactions)`)
		})
		return n
	}
	before := count()
	badPayer := func(change func(map[string]any)) map[string]any {
		p := map[string]any{}
		b, _ := json.Marshal(boletoPayer)
		json.Unmarshal(b, &p)
		change(p)
		return map[string]any{"method": "boleto", "payer": p}
	}
	item := func(amount string) []map[string]any {
		return []map[string]any{{"seller_id": "S1", "amount": amount, "description": "x"}}
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		message            string
	}{
		{"fractional KRW", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "KRW", "items": item("1500.5")}, 400, "KRW has no minor unit"},
		{"three decimals EUR", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item("12.345")}, 400, "more than 2 decimals"},
		{"unknown currency", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "XYZ", "items": item("1")}, 400, "unknown currency"},
		{"negative amount", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item("-1")}, 400, "negative"},
		{"zero amount", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item("0")}, 400, "more than zero"},
		{"no items", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": []any{}}, 400, "1 to 50 items"},
		{"bad buyer", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U 1", "currency": "EUR", "items": item("1")}, 400, "buyer_id"},
		{"return URL off the allow-list", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item("1"), "return_url": "https://evil.example/x"}, 400, "allow-list"},
		{"javascript return URL", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item("1"), "return_url": "javascript:alert(1)"}, 400, "return_url"},
		{"unknown field", "POST", "/v1/payment-orders", `{"buyer_id":"U1","currency":"EUR","items":[],"status":"paid"}`, 400, "unknown field"},
		{"malformed JSON", "POST", "/v1/payment-orders", `{"buyer_id":`, 400, "JSON"},
		{"wrong currency for the method", "POST", "/v1/payment-orders/" + eurOrder.Number + "/attempts", map[string]any{"method": "paynow"}, 400, "takes SGD"},
		{"unknown method", "POST", "/v1/payment-orders/" + eurOrder.Number + "/attempts", map[string]any{"method": "bitcoin"}, 400, "unknown payment method"},
		{"bad CPF", "POST", "/v1/payment-orders/" + brlOrder.Number + "/attempts", badPayer(func(p map[string]any) { p["tax_id"] = "529.982.247-24" }), 400, "CPF"},
		{"repeated-digit CPF", "POST", "/v1/payment-orders/" + brlOrder.Number + "/attempts", badPayer(func(p map[string]any) { p["tax_id"] = "111.111.111-11" }), 400, "CPF"},
		{"boleto without email", "POST", "/v1/payment-orders/" + brlOrder.Number + "/attempts", badPayer(func(p map[string]any) { delete(p, "email") }), 400, "email"},
		{"boleto without address", "POST", "/v1/payment-orders/" + brlOrder.Number + "/attempts", badPayer(func(p map[string]any) { delete(p, "address") }), 400, "address"},
		{"unknown P-number", "POST", "/v1/payment-orders/P00000000/attempts", map[string]any{"method": "ideal"}, 404, "not found"},
		{"malformed P-number", "GET", "/v1/payment-orders/P123", nil, 404, "not a payment order number"},
		{"unknown K-number", "GET", "/v1/sales-orders/K0000000", nil, 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			if status := ta.callBad(t, tt.method, tt.path, tt.body, &e); status != tt.status || !strings.Contains(e.Error.Message, tt.message) {
				t.Fatalf("%s %s = %d %+v, want %d saying %q", tt.method, tt.path, status, e, tt.status, tt.message)
			}
		})
	}
	// A valid CNPJ with letters (issued from July 2026) is accepted.
	var a attemptJSON
	if status := ta.call(t, "POST", "/v1/payment-orders/"+brlOrder.Number+"/attempts",
		badPayer(func(p map[string]any) { p["tax_id"] = "12.ABC.345/01DE-35" }), &a); status != 201 {
		t.Fatalf("alphanumeric CNPJ = %d %+v, want 201", status, a)
	}
	before++ // that attempt
	// Forged webhooks are refused and stored nowhere.
	for _, p := range []string{"stripe", "rapyd"} {
		req, _ := http.NewRequest("POST", ta.url+"/webhooks/"+p, strings.NewReader(`{"id":"evt_forged","type":"payment_intent.succeeded"}`))
		req.Header.Set("Content-Type", "application/json")
		req = breaksContract(req) // no signature
		req.Header.Set("Stripe-Signature", fmt.Sprintf("t=%d,v1=%064d", time.Now().Unix(), 0))
		req.Header.Set("salt", "abcdefgh")
		req.Header.Set("timestamp", fmt.Sprint(time.Now().Unix()))
		req.Header.Set("signature", "Zm9yZ2Vk")
		resp, err := ta.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("forged %s webhook = %d, want 400", p, resp.StatusCode)
		}
	}
	if after := count(); after != before {
		t.Fatalf("bad input changed the database: %d rows, want %d", after, before)
	}
}

func TestAuthAndIdempotency(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	body := map[string]any{"buyer_id": "U1", "currency": "EUR", "items": []map[string]any{{"seller_id": "S1", "amount": "5.00", "description": "x"}}}
	var e apiError
	if status := ta.callWith(t, "", "k", "POST", "/v1/payment-orders", body, &e); status != 401 {
		t.Errorf("no key = %d, want 401", status)
	}
	if status := ta.callWith(t, "wrong", "k", "POST", "/v1/payment-orders", body, &e); status != 401 {
		t.Errorf("wrong key = %d, want 401", status)
	}
	if status := ta.callWith(t, testFinanceKey, "k", "POST", "/v1/payment-orders", body, &e); status != 403 {
		t.Errorf("finance key creating an order = %d, want 403", status)
	}
	if status := ta.callWithBad(t, testAPIKey, "", "POST", "/v1/payment-orders", body, &e); status != 400 {
		t.Errorf("no Idempotency-Key = %d, want 400", status)
	}
	var first, again orderJSON
	ta.callWith(t, testAPIKey, "create-1", "POST", "/v1/payment-orders", body, &first)
	ta.callWith(t, testAPIKey, "create-1", "POST", "/v1/payment-orders", body, &again)
	if first.Number == "" || again.Number != first.Number {
		t.Fatalf("replayed create = %s, first %s: want the same order", again.Number, first.Number)
	}
	// The process died after creating the order but before storing the
	// response: the claim's lease ran out and the request is retried. The
	// order created the first time is found, not made again.
	ctx := context.Background()
	err := ta.db.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE idempotency_requests SET status = NULL, body = NULL, locked_until = ? WHERE key = 'create-1'`,
			tx.Now().Add(-time.Second))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var retried orderJSON
	if status := ta.callWith(t, testAPIKey, "create-1", "POST", "/v1/payment-orders", body, &retried); status != 201 || retried.Number != first.Number {
		t.Fatalf("retry after a lost response = %d %s, want 201 and the first order %s", status, retried.Number, first.Number)
	}
	var orders int
	ta.db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &orders, `SELECT COUNT(*) FROM payment_orders`) })
	if orders != 1 {
		t.Fatalf("%d payment orders after the retry, want 1", orders)
	}
	body["buyer_id"] = "U2"
	if status := ta.callWith(t, testAPIKey, "create-1", "POST", "/v1/payment-orders", body, &e); status != 409 {
		t.Errorf("same key, other body = %d, want 409", status)
	}
	var got orderJSON
	if status := ta.callWith(t, testFinanceKey, "", "GET", "/v1/payment-orders/"+first.Number, nil, &got); status != 200 {
		t.Errorf("finance reading an order = %d, want 200", status)
	}
}

// TestVerifyKnowsTheBusiness: ledger verify finds a sales order whose escrow
// does not match its state, and a payment order settled but not paid.
func TestVerifyKnowsTheBusiness(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[1])
			var a attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "paynow"}, &a)
			ta.pay(t, po, a)
			ctx := context.Background()
			verify := func() ledger.Report {
				r, err := ledger.New(ta.db).Verify(ctx, verifyChecks()...)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := verify(); !r.OK() {
				t.Fatalf("verify after paying: %+v", r)
			}
			for _, c := range []struct{ corrupt, check string }{
				{`UPDATE sales_orders SET status = 'completed' WHERE payment_order = '` + po.Number + `'`, "every sales order's escrow matches its state"},
				{`UPDATE payment_orders SET status = 'pending' WHERE number = '` + po.Number + `'`, "every payment order is settled once if paid, never otherwise"},
			} {
				err := ta.db.Update(ctx, func(tx *storage.Tx) error {
					_, err := tx.Exec(ctx, c.corrupt)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, cr := range verify().Checks {
					if cr.Name == c.check && len(cr.Problems) > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("after %q, verify did not fail %q", c.corrupt, c.check)
				}
			}
		})
	}
}
