package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The fuzz targets of the HTTP surface: every route that reads a JSON
// body, a query, a form or a path parameter, and the webhook endpoints,
// against the whole service wired as serve wires it (sandbox mode, real
// simulators, a real SQLite file opened once per target) on loopback. The
// background workers are not started, so that only the fuzzed request
// changes the database while it runs.

// Secrets of the fuzzed app, so that the webhook target can sign.
const (
	fuzzStripeWebhookSecret = "whsec_fuzz0123456789abcdef0123456789ab"
	fuzzRapydAccessKey      = "rak_fuzz_0123456789ab"
	fuzzRapydSecretKey      = "rsk_fuzz_0123456789abcdef0123456789abcdef"
	fuzzStripeSecretKey     = "sk_test_fuzz_0123456789abcdef"
)

// fuzzClient is the client of the fuzz targets: a request that takes
// longer than its timeout is a hang, and fails the target with its input.
var fuzzClient = &http.Client{Timeout: 20 * time.Second}

// fuzzApp is the service under fuzzing and what setup made in it.
type fuzzApp struct {
	backend string // sqlite or postgres
	url     string
	db      *storage.DB
	app     *app
	browser *http.Client // the finance UI's signed-in session and the checkout's CSRF cookie
	key     atomic.Int64

	paymentOrders []string // P-numbers: paid, pending and created
	salesOrders   []string // K-numbers of the paid order
	users         []string
	financeCSRF   string
	checkoutCSRF  map[string]string // P-number → its form's csrf field
	tokens        map[string]string // P-number → its checkout token
}

// startFuzzApps starts one fuzzed service per backend: a SQLite file and,
// as everywhere in the tests, PostgreSQL. The targets send every input to
// each and want the same answer from both: text that one backend stores
// and the other refuses (NUL, say) is a bug.
func startFuzzApps(f *testing.F) []*fuzzApp {
	f.Helper()
	var apps []*fuzzApp
	for _, b := range storagetest.Backends(f) {
		fa := startFuzzApp(f, b.DSN(f))
		fa.backend = b.Name
		apps = append(apps, fa)
	}
	return apps
}

// startFuzzApp starts the service in sandbox mode on the database dsn,
// without its workers, and pays one order so that sales orders, balances
// and ledger entries exist.
func startFuzzApp(f *testing.F, dsn string) *fuzzApp {
	f.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := storage.Open(ctx, dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	log := zerolog.New(zerolog.NewTestWriter(f)).Level(zerolog.Disabled)
	// No rate limits: the fuzzer sends thousands of bad keys a second from
	// one address (the limits have their own tests and fuzz targets).
	srv := server.New(server.Config{Addr: "127.0.0.1:0", Logger: log, Health: db.Ping})
	ln, err := srv.Listen(ctx)
	if err != nil {
		f.Fatal(err)
	}
	publicURL := "http://" + ln.Addr().String()
	c := appConfig{mode: modeSandbox, apiKey: testAPIKey, financeKey: testFinanceKey, returnHosts: "shop.example",
		stripeSecretKey: fuzzStripeSecretKey, stripeWebhookSecret: fuzzStripeWebhookSecret, rapydAccessKey: fuzzRapydAccessKey, rapydSecretKey: fuzzRapydSecretKey}
	a, err := newApp(ctx, c, db, srv, apikey.New(db), publicURL, log)
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	jar, _ := cookiejar.New(nil)
	fa := &fuzzApp{url: publicURL, db: db, app: a, checkoutCSRF: map[string]string{}, tokens: map[string]string{},
		browser: &http.Client{Jar: jar, Timeout: fuzzClient.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	fa.setup(f)
	return fa
}

// call sends a JSON API request and decodes the answer into out.
func (fa *fuzzApp) call(tb testing.TB, key, method, path string, body any, out any) int {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, fa.url+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("setup-%d", fa.key.Add(1)))
	}
	resp, err := fuzzClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s = %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

var fuzzCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page gets a page with the browser and returns its csrf field, "" if it
// has none and need is false.
func (fa *fuzzApp) page(tb testing.TB, path string, need bool) string {
	tb.Helper()
	resp, err := fa.browser.Get(fa.url + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := fuzzCSRFField.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || need && m == nil {
		tb.Fatalf("GET %s = %d without a csrf field:\n%s", path, resp.StatusCode, body)
	}
	if m == nil {
		return ""
	}
	return m[1]
}

// form posts a form with the browser, as a page of the service does.
func (fa *fuzzApp) form(path string, form url.Values) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, fa.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", fa.url)
	return fa.browser.Do(req)
}

func (fa *fuzzApp) setup(f *testing.F) {
	type order struct {
		Number string `json:"number"`
		Status string `json:"status"`
		Items  []struct {
			Number string `json:"number"`
		} `json:"items"`
	}
	create := func(currency string, amounts ...string) order {
		var items []map[string]any
		for i, a := range amounts {
			items = append(items, map[string]any{"seller_id": fmt.Sprintf("S%d", i+1), "amount": a, "description": "item"})
		}
		var po order
		if status := fa.call(f, testAPIKey, "POST", "/v1/payment-orders", map[string]any{
			"buyer_id": "U1", "currency": currency, "items": items, "return_url": "https://shop.example/done"}, &po); status != 201 {
			f.Fatalf("create payment order = %d %+v", status, po)
		}
		fa.paymentOrders = append(fa.paymentOrders, po.Number)
		return po
	}
	paid := create("SGD", "10.00", "20.00")
	var a struct{ ID string }
	if status := fa.call(f, testAPIKey, "POST", "/v1/payment-orders/"+paid.Number+"/attempts", map[string]any{"method": "paynow"}, &a); status != 201 && status != 200 {
		f.Fatalf("start attempt = %d", status)
	}
	if status := fa.call(f, testAPIKey, "POST", "/sandbox/payment-orders/"+paid.Number+"/approve", nil, nil); status != 200 {
		f.Fatalf("approve = %d", status)
	}
	deadline := time.Now().Add(stepTimeout)
	for {
		var po order
		fa.call(f, testAPIKey, "GET", "/v1/payment-orders/"+paid.Number, nil, &po)
		if po.Status == "paid" {
			break
		}
		if time.Now().After(deadline) {
			f.Fatalf("payment order %s is %q, want paid", paid.Number, po.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, it := range paid.Items {
		fa.salesOrders = append(fa.salesOrders, it.Number)
	}
	pending := create("EUR", "19.75")
	fa.call(f, testAPIKey, "POST", "/v1/payment-orders/"+pending.Number+"/attempts", map[string]any{"method": "ideal"}, nil)
	create("BRL", "99.90")
	create("KRW", "15000")
	fa.users = []string{"U1", "S1", "S2"}

	for _, p := range fa.paymentOrders {
		fa.tokens[p] = fa.app.checkout.Token(paygate.PaymentOrderNumber(p))
		fa.checkoutCSRF[p] = fa.page(f, "/checkout/"+p+"?t="+url.QueryEscape(fa.tokens[p])+"&change=1", false)
	}
	resp, err := fa.form("/finance/login", url.Values{"csrf": {fa.page(f, "/finance/login", true)}, "key": {testFinanceKey}, "actor": {"fuzz"}})
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		f.Fatalf("finance login = %d", resp.StatusCode)
	}
	fa.financeCSRF = fa.page(f, "/finance/items", true)
	// Let any webhook the simulators still send be applied, then make them
	// drop every webhook: one sent after a fuzzed request (a replaced
	// attempt canceled at its provider) would change the database while the
	// next request runs. The webhook endpoints have FuzzWebhook.
	webhooksApplied(f, fa.app, fa.db)
	fa.quietSimulators(f)
}

// quietSimulators makes both simulators drop every webhook.
func (fa *fuzzApp) quietSimulators(tb testing.TB) {
	tb.Helper()
	for _, p := range []string{"stripe", "rapyd"} {
		if status := fa.call(tb, testAPIKey, "PUT", "/sandbox/faults/"+p, map[string]any{"drop_rate": 1}, nil); status != http.StatusOK {
			tb.Fatalf("PUT /sandbox/faults/%s = %d", p, status)
		}
	}
}

// fingerprint is a hash of every row of each table but the ones a refused
// request may write by design: idempotency_requests (a 4xx is a stored
// answer) and the migrations table.
type fingerprint map[string]string

// changed names the tables whose rows differ between f and g.
func (f fingerprint) changed(g fingerprint) []string {
	var out []string
	for t, h := range g {
		if f[t] != h {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// fingerprint reads the fingerprint of the database.
func (fa *fuzzApp) fingerprint(tb testing.TB) fingerprint {
	tb.Helper()
	fp := fingerprint{}
	for name, tr := range readTables(tb, fa.db, "idempotency_requests") {
		if strings.Contains(name, "migration") {
			continue
		}
		h := sha256.New()
		for _, row := range tr.rows {
			fmt.Fprintf(h, "%q\n", row)
		}
		fp[name] = hex.EncodeToString(h.Sum(nil))
	}
	return fp
}

// pick returns s[i % len(s)] for a small i, and otherwise other: the fuzzer
// chooses between a real number or id and its own string.
func pick(s []string, i uint8, other string) string {
	if int(i) < 4*len(s) {
		return s[int(i)%len(s)]
	}
	return other
}

// apiRoute is one operation the API fuzz target calls.
type apiRoute struct {
	method, path string // path with {P}, {K}, {U}, {ID}, {A} (a sales order action) and {PROV}
	role         string // the key sent unless the fuzzer picks another: "m", "f", "" or "sim" (the simulator's own)
	form         bool   // a form of the browser (checkout page, finance UI), not JSON
}

var apiRoutes = []apiRoute{
	{"POST", "/v1/payment-orders", "m", false},
	{"GET", "/v1/payment-orders/{P}", "m", false},
	{"POST", "/v1/payment-orders/{P}/attempts", "m", false},
	{"GET", "/v1/sales-orders/{K}", "m", false},
	{"POST", "/v1/sales-orders/{K}/{A}", "m", false},
	{"POST", "/v1/sales-orders/{K}/resolve", "f", false},
	{"GET", "/v1/users/{U}/balances", "m", false},
	{"GET", "/v1/users/{U}/statement", "m", false},
	{"POST", "/v1/users/{U}/refunds-to-source", "f", false},
	{"GET", "/v1/users/{U}/refunds-to-source", "f", false},
	{"POST", "/v1/users/{U}/payouts", "f", false},
	{"GET", "/v1/finance/items", "f", false},
	{"GET", "/v1/finance/trial-balance", "f", false},
	{"GET", "/v1/finance/audit", "f", false},
	{"GET", "/v1/finance/escrow", "f", false},
	{"POST", "/v1/reconciliations", "f", false},
	{"GET", "/v1/reconciliations/{ID}", "f", false},
	{"POST", "/v1/finance/settle-payment", "f", false},
	{"GET", "/v1/webhooks/events", "f", false},
	{"PUT", "/sandbox/faults/{PROV}", "m", false},
	{"GET", "/checkout/{P}", "", false},
	{"GET", "/checkout/{P}/return", "", false},
	{"POST", "/checkout/{P}/attempts", "", true},
	{"POST", "/finance/items/{ID}/resolve", "", true},
	{"POST", "/finance/items/{ID}/resolve-dispute", "", true},
	{"POST", "/finance/items/{ID}/settle", "", true},
	{"POST", "/finance/items/{ID}/refund", "", true},
	{"GET", "/finance/items", "", false},
	{"GET", "/finance/reconciliations/{ID}", "", false},
	{"GET", "/finance/trial-balance", "", false},
	{"POST", "/finance/login", "", true},
	{"POST", "/webhooks/stripe", "", false},
	{"POST", "/webhooks/rapyd", "", false},
	// The sandbox's simulators parse what reaches them too: the requests of
	// paygate's provider clients, authenticated as each provider does.
	{"POST", "/sandbox/stripe/v1/payment_intents", "sim", false},
	{"POST", "/sandbox/stripe/v1/refunds", "sim", false},
	{"POST", "/sandbox/rapyd/v1/payments", "sim", false},
	{"POST", "/sandbox/rapyd/v1/refunds", "sim", false},
	{"GET", "/sandbox/{PROV}/reports/settlement.csv", "", false},
	{"POST", "/sandbox/rapyd/pay/{U}/approve", "", true},
}

// fuzzMaxMessage bounds an error message: it may quote the request, but
// never at length.
const fuzzMaxMessage = 300

var salesOrderActions = []string{"deliver", "confirm", "refund", "request-refund", "agree-refund", "refuse-refund", "dispute", "resolve"}

// FuzzAPI sends the service any request of its HTTP surface: a route, the
// real P-, K-number or user of setup or the fuzzer's own, a query, a JSON
// or form body, and a key of the right role, the other role, none or a
// wrong one. Whatever the input, the answer is below 500 (faults the
// fuzzer sets on a simulator are undone at once), and a refused request
// (4xx) changes no row of the database. A JSON API's refusal is an error body
// with a code and a short message.
func FuzzAPI(f *testing.F) {
	add := func(route int, arg uint8, pathArg, query string, body string, role uint8, idemKey string) {
		f.Add(uint8(route), arg, pathArg, query, []byte(body), role, idemKey)
	}
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"12.50","description":"x"}],"return_url":"https://shop.example/r"}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"KRW","items":[{"seller_id":"S1","amount":"1500.5","description":"x"}]}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"-1","description":"x"}]}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"99999999999999999.99","description":"x"},{"seller_id":"S1","amount":"99999999999999999.99","description":"x"}]}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[],"return_url":"javascript:alert(1)"}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00"}],"return_url":"https://evil.example/"}`, 1, "k")
	add(1, 0, "", "", ``, 0, "")
	add(1, 200, "P99999999", "", ``, 0, "")
	add(1, 200, "../../v1/finance/items", "", ``, 0, "")
	add(2, 1, "", "", `{"method":"ideal"}`, 0, "k")
	add(2, 2, "", "", `{"method":"boleto","payer":{"name":"Maria","email":"maria@example.com","tax_id":"529.982.247-24","address":{"line1":"a","city":"b","state":"SP","postal_code":"1"}}}`, 0, "k")
	add(2, 3, "", "", `{"method":"kakaopay"}`, 0, "k")
	add(2, 3, "", "", `{"method":"balance"}`, 0, "k")
	add(3, 0, "", "", ``, 0, "")
	add(4, 0, "", "", `{"user_id":"S1"}`, 0, "k")
	add(4, 1, "", "", `{"user_id":"U1","reason":"broken"}`, 0, "k")
	add(5, 0, "", "", `{"refund_amount":"20.01"}`, 0, "k")
	add(5, 0, "", "", `{"refund_amount":"-1"}`, 0, "k")
	add(6, 0, "", "", ``, 0, "")
	add(7, 0, "", "currency=SGD&limit=2", ``, 0, "")
	add(7, 0, "", "currency=SGD&limit=-1", ``, 0, "")
	add(7, 0, "", "currency=SGD&limit=99999999999999999999", ``, 0, "")
	add(7, 0, "", "currency=SGD&from=2026-13-01T00:00:00Z", ``, 0, "")
	add(7, 0, "", "currency=SGD&cursor=%ff%00", ``, 0, "")
	add(7, 0, "", "currency=SGD&cursor=eyJ4IjoxfQ&format=csv", ``, 0, "")
	add(8, 0, "", "", `{"amount":"5.00","currency":"SGD","reason":"x"}`, 0, "k")
	add(8, 0, "", "", `{"amount":"1e3","currency":"SGD"}`, 0, "k")
	add(10, 1, "", "", `{"amount":"100000.00","currency":"SGD"}`, 0, "k")
	add(11, 0, "", "status=open&limit=1&after=-5", ``, 0, "")
	add(13, 0, "", "subject=K1234567&limit=0", ``, 0, "")
	for _, name := range []string{"stripe/reports/clean.csv", "stripe/reports/errors.csv", "rapyd/reports/messy.csv"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		add(15, 0, "", "provider="+strings.Split(name, "/")[0], string(b), 0, "k")
	}
	add(15, 0, "", "provider=adyen", `a,b`, 0, "k")
	add(16, 200, "1", "", ``, 0, "")
	add(17, 0, "", "", `{"provider":"stripe","payment_ref":"pi_nope"}`, 0, "k")
	add(18, 0, "", "limit=5&status=failed&after=x", ``, 0, "")
	add(19, 0, "", "", `{"delay":-1}`, 0, "")
	add(19, 0, "", "", `{"duplicate":1000000000,"drop_rate":2}`, 0, "")
	add(20, 0, "", "t=AAAA", ``, 0, "")
	add(20, 1, "", "", ``, 0, "")
	add(22, 2, "", "", `method=boleto&name=Maria&email=maria%40example.com&tax_id=529.982.247-24&line1=a&city=b&state=SP&postal_code=1`, 0, "")
	add(22, 1, "", "", `method=ideal`, 0, "")
	add(22, 1, "", "", `method=ideal&csrf=forged`, 0, "")
	add(23, 200, "1", "", `reason=x`, 0, "")
	add(26, 200, "1", "", `amount=1.00&currency=SGD`, 0, "")
	add(30, 0, "", "", `key=wrong&actor=alice`, 0, "")
	add(31, 0, "", "", `{"id":"evt_1","type":"payment_intent.succeeded"}`, 0, "")
	add(32, 0, "", "", `{"id":"wh_1","type":"PAYMENT_COMPLETED"}`, 0, "")

	// Control characters in free text: PostgreSQL cannot store NUL, and the
	// answer must be the same 400 on both backends.
	add(0, 0, "", "", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"sword\u0000"}],"return_url":"https://shop.example/r"}`, 0, "k")
	add(0, 0, "", "", `{"buyer_id":"U\u00001","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"x"}]}`, 0, "k")
	add(10, 1, "", "", `{"amount":"1.00","currency":"SGD","beneficiary":"Kim\u0000","bank_reference":"NL91"}`, 0, "k")
	add(10, 1, "", "", `{"amount":"1.00","currency":"SGD","beneficiary":"Kim","bank_reference":"NL\u000091"}`, 0, "k")
	add(8, 0, "", "", `{"amount":"1.00","currency":"SGD","reason":"x\u0000"}`, 0, "k")
	add(4, 1, "", "", `{"user_id":"U1","reason":"broken\u0000"}`, 0, "k")
	add(1, 200, "P1234\x005678", "", ``, 0, "")
	add(6, 200, "U\x001", "", ``, 0, "")
	add(23, 200, "1", "", `reason=x%00`, 0, "")
	add(26, 200, "1", "", `amount=1.00&currency=SGD&reason=%00`, 0, "")
	add(22, 2, "", "", `method=boleto&name=Maria%00&email=maria%40example.com&tax_id=529.982.247-24&line1=a%00&city=b&state=SP&postal_code=01310100`, 0, "")
	add(30, 0, "", "", `key=wrong&actor=al%00ice`, 0, "")
	add(33, 0, "", "", `amount=1050&currency=eur&payment_method_types[0]=ideal&confirm=true&metadata[payment_order]=P12345678`, 0, "")
	add(33, 0, "", "", `amount=-1&currency=eur&payment_method_types[0]=ideal`, 0, "")
	add(33, 0, "", "", `a[1][2][3][4][5][6][7][8]=x`, 3, "")
	add(34, 0, "", "", `payment_intent=pi_nope&amount=99999999999999999999`, 0, "")
	add(35, 0, "", "", `{"amount":15000,"currency":"KRW","payment_method":{"type":"kr_kakaopay_ewallet"},"merchant_reference_id":"att_1"}`, 0, "")
	add(35, 0, "", "", `{"amount":1500.5,"currency":"KRW"}`, 0, "")
	add(35, 0, "", "", `{}`, 0, "")
	add(36, 0, "", "", `{"payment":"payment_nope","amount":1e999}`, 0, "")
	add(37, 0, "", "from=2026-01-01&to=2025-01-01", ``, 0, "")
	add(37, 1, "", "date=%ff&payouts=-1", ``, 0, "")
	add(38, 200, "payment_nope", "", `phone=01012345678`, 0, "")

	apps := startFuzzApps(f)
	f.Fuzz(func(t *testing.T, routeIndex, arg uint8, pathArg, query string, body []byte, role uint8, idemKey string) {
		statuses := make([]int, len(apps))
		for i, fa := range apps {
			statuses[i] = fa.apiCase(t, routeIndex, arg, pathArg, query, body, role, idemKey)
		}
		sameAnswer(t, apps, statuses, fmt.Sprintf("route %d arg %d path %q query %q body %q role %d", routeIndex, arg, pathArg, query, body, role))
	})
}

// sameAnswer fails t when the backends answered one input with different
// statuses.
func sameAnswer(t *testing.T, apps []*fuzzApp, statuses []int, input string) {
	t.Helper()
	for i := range apps[1:] {
		if statuses[i+1] != statuses[0] {
			t.Fatalf("%s: %s answered %d, %s answered %d; want the same answer", input, apps[0].backend, statuses[0], apps[i+1].backend, statuses[i+1])
		}
	}
}

// apiCase sends one FuzzAPI input to fa, checks the answer and returns its
// status (0 for an input no client can send).
func (fa *fuzzApp) apiCase(t *testing.T, routeIndex, arg uint8, pathArg, query string, body []byte, role uint8, idemKey string) int {

	rt := apiRoutes[int(routeIndex)%len(apiRoutes)]
	p := pick(fa.paymentOrders, arg, pathArg)
	path := strings.NewReplacer(
		"{P}", url.PathEscape(p),
		"{K}", url.PathEscape(pick(fa.salesOrders, arg, pathArg)),
		"{U}", url.PathEscape(pick(fa.users, arg, pathArg)),
		"{ID}", url.PathEscape(pick([]string{"1", "2"}, arg, pathArg)),
		"{A}", salesOrderActions[int(arg)%len(salesOrderActions)],
		"{PROV}", pick([]string{"stripe", "rapyd"}, arg, pathArg),
	).Replace(rt.path)
	if strings.HasPrefix(rt.path, "/checkout/") && !strings.Contains(query, "t=") {
		query += "&t=" + url.QueryEscape(fa.tokens[p])
	}
	if query != "" {
		path += "?" + query
	}
	req, err := http.NewRequest(rt.method, fa.url+path, strings.NewReader(string(body)))
	if err != nil {
		return 0 // not a request a client can send
	}
	key := map[string]string{"m": testAPIKey, "f": testFinanceKey}[rt.role]
	switch role % 8 {
	case 1:
		key = map[string]string{"m": testFinanceKey, "f": testAPIKey}[rt.role]
	case 2:
		key = ""
	case 3:
		key = testAPIKey + "x"
	}
	if rt.role == "sim" {
		key = ""
		switch {
		case role%8 == 2:
		case strings.HasPrefix(rt.path, "/sandbox/stripe/"):
			key = fuzzStripeSecretKey
			if role%8 == 3 {
				key += "x"
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			ts := time.Now().Unix()
			secret := fuzzRapydSecretKey
			if role%8 == 3 {
				secret += "x"
			}
			req.Header.Set("access_key", fuzzRapydAccessKey)
			req.Header.Set("salt", "fuzzsalt1234")
			req.Header.Set("timestamp", fmt.Sprint(ts))
			signed := body
			if string(body) == "{}" {
				signed = nil // Rapyd signs an empty object as the empty string
			}
			req.Header.Set("signature", rapyd.Signature(rt.method, strings.TrimPrefix(req.URL.RequestURI(), "/sandbox/rapyd"), "fuzzsalt1234", ts, fuzzRapydAccessKey, secret, signed))
		}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("%d.%s", fa.key.Add(1), idemKey))
	} else if rt.method == http.MethodPost && role%8 != 4 {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("fuzz-%d", fa.key.Add(1)))
	}
	client := fuzzClient
	if rt.form {
		client = fa.browser
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", fa.url)
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("csrf") == "" && role%8 != 5 {
			// The form's own csrf field, unless the fuzzer forges one or sends none.
			csrf := fa.financeCSRF
			if strings.HasPrefix(rt.path, "/checkout/") {
				csrf = fa.checkoutCSRF[p]
			}
			form.Set("csrf", csrf)
			if strings.HasPrefix(rt.path, "/checkout/") && form.Get("t") == "" {
				form.Set("t", fa.tokens[p])
			}
			req.Body = io.NopCloser(strings.NewReader(form.Encode()))
			req.ContentLength = int64(len(form.Encode()))
		}
	} else if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}

	before := fa.fingerprint(t)
	resp, err := client.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header field value") || strings.Contains(err.Error(), "invalid URL") {
			return 0
		}
		t.Fatalf("%s %s: %v", rt.method, path, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rt.path == "/sandbox/faults/{PROV}" && resp.StatusCode < 300 {
		// Undo the faults, so that later requests meet a working simulator.
		fa.quietSimulators(t)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s (key %q) body %q = %d %s, want below 500", rt.method, path, key, body, resp.StatusCode, raw)
	}
	if resp.StatusCode < 400 {
		return resp.StatusCode
	}
	if changed := before.changed(fa.fingerprint(t)); len(changed) > 0 {
		t.Fatalf("%s %s (key %q) body %q = %d %s, but tables %v changed", rt.method, path, key, body, resp.StatusCode, raw, changed)
	}
	// An answer without X-Request-Id is net/http's own to a request it
	// could not parse (a space in the query): it never reached paygate.
	reached := resp.Header.Get(server.HeaderRequestID) != ""
	if reached && (strings.HasPrefix(rt.path, "/v1/") || strings.HasPrefix(rt.path, "/webhooks/") || strings.HasPrefix(rt.path, "/sandbox/faults/")) {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" || len(e.Error.Message) > fuzzMaxMessage {
			t.Fatalf("%s %s = %d %s, want a JSON error with a code and a message of at most %d bytes", rt.method, path, resp.StatusCode, raw, fuzzMaxMessage)
		}
	}
	return resp.StatusCode
}

// FuzzWebhook posts any body to /webhooks/stripe or /webhooks/rapyd, signed
// as the provider signs (over the body, or over the body with one byte
// changed after signing, or at a time skew seconds away) or not signed at
// all (header then carries the fuzzer's own signature header value).
// Whatever the input, the answer is below 500; a delivery that is not
// signed over exactly its body within the 300 s tolerance is a 4xx; a 4xx
// changes no row of the database (the inbox stores nothing); and a 200
// stores each event it counts.
func FuzzWebhook(f *testing.F) {
	for _, name := range []string{"payment_intent.succeeded.json", "payment_intent.payment_failed.json", "charge.refunded.json",
		"refund.updated.failed.json", "payout.paid.json", "charge.dispute.created.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "stripe", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, b, true, false, int64(0), "")
		f.Add(false, b, true, true, int64(0), "")
		f.Add(false, b, true, false, int64(301), "")
		f.Add(false, b, false, false, int64(0), "t=1764158400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")
	}
	for _, name := range []string{"webhook_payment_completed.json", "webhook_payment_canceled.json", "webhook_payment_completed_fractional_krw.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rapyd", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, b, true, false, int64(0), "")
		f.Add(true, b, true, true, int64(0), "")
		f.Add(true, b, true, false, int64(-301), "")
		f.Add(true, b, false, false, int64(0), "salt")
	}
	f.Add(false, []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","livemode":false,"data":{"object":{"id":"pi_1","object":"payment_intent","amount":-5,"currency":"eur","metadata":{"payment_order":"P12345678"}}}}`), true, false, int64(0), "")
	f.Add(true, []byte(`{"id":"wh_1","type":"PAYMENT_COMPLETED","data":{"id":"payment_1","status":"CLO","amount":1e308,"currency_code":"KRW"}}`), true, false, int64(0), "")
	f.Add(true, []byte(``), true, false, int64(0), "")
	f.Add(false, []byte(`{}`), false, false, int64(0), "t=,v1=")

	apps := startFuzzApps(f)
	f.Fuzz(func(t *testing.T, rapydHook bool, body []byte, sign, tamper bool, skew int64, header string) {
		skew %= 1000
		statuses := make([]int, len(apps))
		for i, fa := range apps {
			statuses[i] = fa.webhookCase(t, rapydHook, body, sign, tamper, skew, header)
		}
		if (skew > 290 && skew < 310) || (skew < -290 && skew > -310) {
			// Within seconds of the 300 s tolerance the answer depends on
			// when each backend's service reads its clock.
			return
		}
		sameAnswer(t, apps, statuses, fmt.Sprintf("rapyd %v body %q signed %v tampered %v skew %d", rapydHook, body, sign, tamper, skew))
	})
}

// webhookCase posts one FuzzWebhook input to fa, checks the answer and
// returns its status (0 for a request no client can send).
func (fa *fuzzApp) webhookCase(t *testing.T, rapydHook bool, body []byte, sign, tamper bool, skew int64, header string) int {
	now := time.Now()
	req, _ := http.NewRequest(http.MethodPost, fa.url+"/webhooks/stripe", strings.NewReader(string(body)))
	signedBody := body
	if tamper && len(body) > 0 {
		signedBody = append([]byte(nil), body...)
		signedBody[len(body)/2] ^= 0x20
	}
	if rapydHook {
		req.URL.Path = "/webhooks/rapyd"
		req.Header.Set("Content-Type", "application/json")
		if sign {
			ts := now.Unix() + skew
			req.Header.Set("salt", "fuzzsalt1234")
			req.Header.Set("timestamp", fmt.Sprint(ts))
			req.Header.Set("signature", rapyd.WebhookSignature(fa.url+"/webhooks/rapyd", "fuzzsalt1234", ts, fuzzRapydAccessKey, fuzzRapydSecretKey, signedBody))
		} else {
			req.Header.Set("salt", header)
			req.Header.Set("timestamp", fmt.Sprint(now.Unix()))
			req.Header.Set("signature", header)
		}
	} else {
		if sign {
			req.Header.Set("Stripe-Signature", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
				Payload: signedBody, Secret: fuzzStripeWebhookSecret, Timestamp: now.Add(time.Duration(skew) * time.Second)}).Header)
		} else {
			req.Header.Set("Stripe-Signature", header)
		}
	}
	before := fa.fingerprint(t)
	var inboxBefore int
	fa.count(t, &inboxBefore)
	resp, err := fuzzClient.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header field value") {
			return 0
		}
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		t.Fatalf("%s (signed %v, tampered %v, skew %d s) %q = %d %s, want below 500", req.URL.Path, sign, tamper, skew, body, resp.StatusCode, raw)
	case resp.StatusCode < 300 && (!sign || tamper && len(body) > 0 || skew > 310 || skew < -310):
		t.Fatalf("%s (signed %v, tampered %v, skew %d s) %q = %d %s, want it refused", req.URL.Path, sign, tamper, skew, body, resp.StatusCode, raw)
	case resp.StatusCode >= 400:
		if changed := before.changed(fa.fingerprint(t)); len(changed) > 0 {
			t.Fatalf("%s (signed %v, tampered %v, skew %d s) %q = %d %s, but tables %v changed", req.URL.Path, sign, tamper, skew, body, resp.StatusCode, raw, changed)
		}
		return resp.StatusCode
	}
	var res struct{ Received, Duplicates int }
	if err := json.Unmarshal(raw, &res); err != nil || res.Received+res.Duplicates == 0 {
		t.Fatalf("%s %q = %d %s, want a count of received and duplicate events", req.URL.Path, body, resp.StatusCode, raw)
	}
	var inboxAfter int
	fa.count(t, &inboxAfter)
	if inboxAfter != inboxBefore+res.Received {
		t.Fatalf("%s %q = %d %s, but the inbox went from %d to %d events", req.URL.Path, body, resp.StatusCode, raw, inboxBefore, inboxAfter)
	}
	return resp.StatusCode
}

// count reads how many events the webhook inbox holds.
func (fa *fuzzApp) count(tb testing.TB, n *int) {
	tb.Helper()
	ctx := context.Background()
	if err := fa.db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, n, `SELECT COUNT(*) FROM webhook_events`)
	}); err != nil {
		tb.Fatal(err)
	}
}
