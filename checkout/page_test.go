package checkout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// fakeProvider answers CreatePayment with the next action of the method, at
// made-up gateway URLs on other origins than the service's.
type fakeProvider struct {
	name string
	mu   sync.Mutex
	n    int
}

func (f *fakeProvider) Name() string { return f.name }

func (f *fakeProvider) Refundable(m providers.Method) bool { return false }

func (f *fakeProvider) CreatePayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	f.mu.Lock()
	f.n++
	ref := fmt.Sprintf("%s_%d", f.name, f.n)
	f.mu.Unlock()
	p := providers.Payment{Ref: ref, Status: providers.StatusPending, Amount: req.Amount}
	exp := time.Now().Add(time.Hour)
	switch req.Method {
	case providers.PayNow:
		p.NextAction = providers.NextAction{Type: providers.ActionQR, QRData: "00020101021226" + ref,
			QRImageURL: "https://qr.example/" + ref + ".png", URL: "https://bank.example/paynow/" + ref, ExpiresAt: exp}
	case providers.Boleto:
		// Payable for 3 days, longer than the order's 24 hours.
		p.NextAction = providers.NextAction{Type: providers.ActionVoucher, VoucherNumber: "00190.00009 01234.567890 12345.678901 1 99990000009990",
			URL: "https://voucher.example/boleto/" + ref, ExpiresAt: time.Now().Add(72 * time.Hour)}
	default:
		p.NextAction = providers.NextAction{Type: providers.ActionRedirect, URL: "https://gateway.example/pay/" + ref + "?a=1&b=2"}
	}
	return p, nil
}

func (f *fakeProvider) GetPayment(ctx context.Context, ref string) (providers.Payment, error) {
	return providers.Payment{}, providers.ErrUnsupported
}

func (f *fakeProvider) CancelPayment(ctx context.Context, ref string) error { return nil }

func (f *fakeProvider) Refund(ctx context.Context, req providers.RefundRequest) (providers.Refund, error) {
	return providers.Refund{}, providers.ErrUnsupported
}

func (f *fakeProvider) ParseWebhook(ctx context.Context, w providers.Webhook) ([]providers.Event, error) {
	return nil, providers.ErrUnsupported
}

func (f *fakeProvider) ParseSettlementReport(ctx context.Context, r io.Reader, fn func(providers.ReportLine) error) error {
	return providers.ErrUnsupported
}

// pageTest is a Service with fake providers and its pages on a loopback
// httptest server.
type pageTest struct {
	s      *Service
	db     *storage.DB
	url    string
	client *http.Client // keeps cookies, does not follow redirects
}

func newPageTest(t testing.TB, b storagetest.Backend) *pageTest {
	t.Helper()
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations(), Migrations()}})
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String()
	s, err := New(context.Background(), Config{
		DB: db, Ledger: ledger.New(db), PublicURL: publicURL, ReturnHosts: []string{"shop.example"},
		Providers: map[string]providers.Provider{
			providers.Stripe: &fakeProvider{name: providers.Stripe}, providers.Rapyd: &fakeProvider{name: providers.Rapyd},
		},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	s.PageRoutes(srv.Router())
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	return &pageTest{s: s, db: db, url: publicURL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// forEachBackend runs fn on SQLite and, when configured, PostgreSQL.
func forEachBackend(t *testing.T, fn func(t *testing.T, pt *pageTest)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, newPageTest(t, b)) })
	}
}

func (pt *pageTest) order(t testing.TB, cur paygate.Currency, returnURL string, amounts ...int64) PaymentOrder {
	t.Helper()
	n := NewPaymentOrder{BuyerID: "U1", Currency: cur, ReturnURL: returnURL}
	for i, a := range amounts {
		n.Items = append(n.Items, NewItem{SellerID: fmt.Sprintf("S%d", i+1), Amount: paygate.New(a, cur), Description: fmt.Sprintf("Sword of item %d", i+1)})
	}
	po, err := pt.s.Create(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return po
}

type page struct {
	status int
	header http.Header
	body   string
}

func (pt *pageTest) do(t testing.TB, req *http.Request) page {
	t.Helper()
	resp, err := pt.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}

func (pt *pageTest) get(t testing.TB, path string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, pt.url+path, nil)
	return pt.do(t, req)
}

// post sends a form as a browser on our page does: Origin null (the page
// sends no referrer) and Sec-Fetch-Site same-origin, unless headers say
// otherwise ("" removes a header).
func (pt *pageTest) post(t testing.TB, path string, form url.Values, headers map[string]string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, pt.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return pt.do(t, req)
}

func pagePath(po PaymentOrder, s *Service) string {
	return "/checkout/" + string(po.Number) + "?t=" + url.QueryEscape(s.Token(po.Number))
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// form opens the checkout page and returns a form for method with the
// page's tokens.
func (pt *pageTest) form(t testing.TB, po PaymentOrder, method providers.Method) url.Values {
	t.Helper()
	p := pt.get(t, pagePath(po, pt.s)+"&change=1")
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		t.Fatalf("checkout page = %d without a csrf field:\n%s", p.status, p.body)
	}
	return url.Values{"t": {pt.s.Token(po.Number)}, "csrf": {m[1]}, "method": {string(method)}}
}

// csrfFor returns the csrf field of po's forms for the client's cookie,
// for orders whose page shows no form.
func (pt *pageTest) csrfFor(t *testing.T, po PaymentOrder) string {
	t.Helper()
	pt.get(t, pagePath(pt.order(t, paygate.EUR, "", 1), pt.s)) // sets the cookie if needed
	u, _ := url.Parse(pt.url + "/checkout/")
	for _, c := range pt.client.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			pg, err := newPages(pt.s)
			if err != nil {
				t.Fatal(err)
			}
			return pg.csrfToken(po.Number, c.Value)
		}
	}
	t.Fatal("no csrf cookie")
	return ""
}

func boletoForm(f url.Values) url.Values {
	f.Set("name", "Maria Silva")
	f.Set("email", "maria@example.com")
	f.Set("tax_id", "529.982.247-25")
	f.Set("line1", "Av. Paulista 1000")
	f.Set("city", "São Paulo")
	f.Set("state", "SP")
	f.Set("postal_code", "01310-100")
	return f
}

func (pt *pageTest) attempts(t testing.TB) int {
	t.Helper()
	var n int
	if err := pt.db.View(context.Background(), func(tx *storage.Tx) error {
		return tx.Get(context.Background(), &n, `SELECT COUNT(*) FROM payment_attempts`)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// apply feeds the order's latest attempt a verified event of type typ.
func (pt *pageTest) apply(t *testing.T, po PaymentOrder, typ providers.EventType) {
	t.Helper()
	ctx := context.Background()
	a, err := pt.s.LatestAttempt(ctx, po.Number)
	if err != nil {
		t.Fatal(err)
	}
	err = pt.db.Update(ctx, func(tx *storage.Tx) error {
		_, err := pt.s.ApplyEvent(ctx, tx, a.Provider, providers.Event{ID: "evt_" + a.ID + string(typ), Type: typ,
			PaymentRef: a.ProviderRef, FailureReason: "declined by the bank"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (pt *pageTest) status(t *testing.T, po PaymentOrder) Status {
	t.Helper()
	got, err := pt.s.Get(context.Background(), po.Number)
	if err != nil {
		t.Fatal(err)
	}
	return got.Status
}

func checkSecurityHeaders(t *testing.T, name string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "img-src 'self'", "style-src 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", name, csp, want)
		}
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", name, k, got, want)
		}
	}
}

func TestPageStyleHash(t *testing.T) {
	// The inline style sheet is allowed by its hash: the page must carry it
	// byte for byte.
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.EUR, "", 1250)
		p := pt.get(t, pagePath(po, pt.s))
		m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no style element:\n%s", p.body)
		}
		pg, _ := newPages(pt.s)
		if m[1] != string(pg.css) || !strings.Contains(p.header.Get("Content-Security-Policy"), pg.styleHash) {
			t.Fatalf("style element and CSP hash disagree")
		}
	})
}

func TestPageNotFoundIsUniform(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.EUR, "", 1250)
		other := pt.order(t, paygate.EUR, "", 700)
		tok := url.QueryEscape(pt.s.Token(po.Number))
		tests := []struct{ name, path string }{
			{"unknown P-number, its own valid token", "/checkout/P00000000?t=" + url.QueryEscape(pt.s.Token("P00000000"))},
			{"unknown P-number", "/checkout/P00000001?t=" + tok},
			{"malformed P-number", "/checkout/P123?t=" + tok},
			{"lower-case P-number", "/checkout/p" + string(po.Number[1:]) + "?t=" + tok},
			{"K-number", "/checkout/K1234567?t=" + tok},
			{"missing token", "/checkout/" + string(po.Number)},
			{"empty token", "/checkout/" + string(po.Number) + "?t="},
			{"wrong token", "/checkout/" + string(po.Number) + "?t=" + tok[:len(tok)-2] + "xx"},
			{"another order's token", "/checkout/" + string(po.Number) + "?t=" + url.QueryEscape(pt.s.Token(other.Number))},
			{"return page, wrong token", "/checkout/" + string(po.Number) + "/return?t=nope"},
			{"return page, unknown P-number", "/checkout/P00000000/return?t=" + url.QueryEscape(pt.s.Token("P00000000"))},
			{"return page, malformed P-number", "/checkout/P1/return?t=" + tok},
		}
		var first string
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := pt.get(t, tt.path)
				if p.status != http.StatusNotFound || !strings.Contains(p.body, "Page not found") {
					t.Fatalf("GET %s = %d, want 404 page:\n%s", tt.path, p.status, p.body)
				}
				if first == "" {
					first = p.body
				} else if p.body != first {
					t.Errorf("GET %s: the 404 page differs from the others:\n%s\nvs\n%s", tt.path, p.body, first)
				}
				if strings.Contains(p.body, string(po.Number)) || p.header.Get("Set-Cookie") != "" {
					t.Errorf("GET %s: the 404 page names the order or sets a cookie", tt.path)
				}
				checkSecurityHeaders(t, tt.path, p.header)
			})
		}
		if p := pt.get(t, pagePath(po, pt.s)); p.status != 200 {
			t.Fatalf("the right link = %d, want 200", p.status)
		}
	})
}

func TestPageListsTheCurrencysMethods(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		for _, cur := range []paygate.Currency{paygate.EUR, paygate.SGD, paygate.BRL, paygate.KRW} {
			t.Run(string(cur), func(t *testing.T) {
				po := pt.order(t, cur, "", 1500, 2500)
				p := pt.get(t, pagePath(po, pt.s))
				if p.status != 200 {
					t.Fatalf("GET = %d", p.status)
				}
				checkSecurityHeaders(t, "checkout page", p.header)
				want := map[providers.Method]bool{}
				for _, mi := range providers.MethodsFor(cur) {
					want[mi.Method] = true
				}
				for _, mi := range providers.Catalog() {
					has := strings.Contains(p.body, `name="method" value="`+string(mi.Method)+`"`)
					if has != want[mi.Method] {
						t.Errorf("%s order: form for %s = %v, want %v", cur, mi.Method, has, want[mi.Method])
					}
				}
				for _, s := range []string{string(po.Number), "Sword of item 1", "Sword of item 2", po.Amount.Display(),
					po.Items[0].Amount.Display(), string(po.Items[1].Number), "Awaiting payment", `name="viewport"`} {
					if !strings.Contains(p.body, s) {
						t.Errorf("%s page lacks %q", cur, s)
					}
				}
				boleto := strings.Contains(p.body, `name="tax_id" required`)
				if boleto != (cur == paygate.BRL) {
					t.Errorf("%s page: boleto form = %v", cur, boleto)
				}
				if cur == paygate.BRL {
					for _, f := range []string{"name", "email", "line1", "city", "state", "postal_code"} {
						if !regexp.MustCompile(`name="` + f + `"[^>]* required`).MatchString(p.body) {
							t.Errorf("boleto field %s is not required", f)
						}
					}
				}
				if strings.Contains(p.body, "<script") || strings.Contains(p.body, `http-equiv="refresh"`) {
					t.Errorf("%s page has a script or refreshes itself while the buyer chooses", cur)
				}
			})
		}
	})
}

func TestPageCSRFCookieAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.EUR, "", 1250)
		p := pt.get(t, pagePath(po, pt.s))
		cs := (&http.Response{Header: p.header}).Cookies()
		if len(cs) != 1 || cs[0].Name != csrfCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/checkout/" || !validCSRFCookie(cs[0].Value) {
			t.Fatalf("Set-Cookie = %q, want one HttpOnly SameSite=Lax cookie on /checkout/", p.header.Values("Set-Cookie"))
		}
		// The cookie is kept across pages and orders: a second tab works.
		if p := pt.get(t, pagePath(pt.order(t, paygate.EUR, "", 99), pt.s)); p.header.Get("Set-Cookie") != "" {
			t.Errorf("a second page replaced the cookie: %q", p.header.Values("Set-Cookie"))
		}
	})
}

func TestPageRefusesCrossSiteAndForgedForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.EUR, "", 1250)
		other := pt.order(t, paygate.EUR, "", 700)
		path := "/checkout/" + string(po.Number) + "/attempts"
		good := pt.form(t, po, providers.IDEAL)
		otherForm := pt.form(t, other, providers.IDEAL)
		with := func(k, v string) url.Values {
			f := url.Values{}
			for kk, vv := range good {
				f[kk] = append([]string(nil), vv...)
			}
			if v == "" {
				f.Del(k)
			} else {
				f.Set(k, v)
			}
			return f
		}
		tests := []struct {
			name    string
			path    string
			form    url.Values
			headers map[string]string
			noJar   bool
		}{
			{"missing csrf field", path, with("csrf", ""), nil, false},
			{"forged csrf field", path, with("csrf", strings.Repeat("A", 43)), nil, false},
			{"another order's csrf field", path, with("csrf", otherForm.Get("csrf")), nil, false},
			{"no cookie", path, good, nil, true},
			{"foreign Origin", path, good, map[string]string{"Origin": "https://evil.example"}, false},
			{"Origin of another port", path, good, map[string]string{"Origin": "http://127.0.0.1:1"}, false},
			{"cross-site fetch", path, good, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": ""}, false},
			{"same-site fetch", path, good, map[string]string{"Sec-Fetch-Site": "same-site"}, false},
			{"missing checkout token", path, with("t", ""), nil, false},
			{"wrong checkout token", path, with("t", "x"+good.Get("t")), nil, false},
			{"unknown P-number", "/checkout/P00000000/attempts", good, nil, false},
			{"malformed P-number", "/checkout/P0/attempts", good, nil, false},
		}
		before := pt.attempts(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := pt.client
				if tt.noJar {
					pt.client = &http.Client{CheckRedirect: c.CheckRedirect}
				}
				p := pt.post(t, tt.path, tt.form, tt.headers)
				pt.client = c
				if p.status != http.StatusForbidden || !strings.Contains(p.body, "Request refused") {
					t.Fatalf("POST %s = %d, want 403 page:\n%s", tt.name, p.status, p.body)
				}
				checkSecurityHeaders(t, tt.name, p.header)
			})
		}
		if after := pt.attempts(t); after != before || pt.status(t, po) != Created {
			t.Fatalf("refused forms changed the database: %d attempts (want %d), order %s", after, before, pt.status(t, po))
		}
		// The real form is accepted, with our own Origin as well as with
		// Origin null and without Sec-Fetch-Site (older browsers).
		for _, h := range []map[string]string{
			{"Origin": pt.url}, {"Origin": "null"}, {"Sec-Fetch-Site": "", "Origin": ""},
		} {
			if p := pt.post(t, path, good, h); p.status != http.StatusSeeOther {
				t.Fatalf("POST the page's own form with %v = %d, want 303:\n%s", h, p.status, p.body)
			}
		}
	})
}

func TestPageBoletoFormErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.BRL, "", 9990)
		path := "/checkout/" + string(po.Number) + "/attempts"
		tests := []struct {
			name   string
			change func(url.Values)
			want   string
		}{
			{"bad CPF check digit", func(f url.Values) { f.Set("tax_id", "529.982.247-24") }, "CPF"},
			{"repeated-digit CPF", func(f url.Values) { f.Set("tax_id", "111.111.111-11") }, "CPF"},
			{"no email", func(f url.Values) { f.Del("email") }, "email"},
			{"bad email", func(f url.Values) { f.Set("email", "maria@") }, "email"},
			{"no name", func(f url.Values) { f.Set("name", "  ") }, "name"},
			{"no address", func(f url.Values) { f.Del("line1"); f.Del("city") }, "address"},
			{"no state", func(f url.Values) { f.Set("state", "") }, "address"},
			{"another currency's method", func(f url.Values) { f.Set("method", "paynow") }, "takes SGD"},
			{"unknown method", func(f url.Values) { f.Set("method", "bitcoin") }, "unknown payment method"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := boletoForm(pt.form(t, po, providers.Boleto))
				tt.change(f)
				before := pt.attempts(t)
				p := pt.post(t, path, f, nil)
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="form-error"`) || !strings.Contains(p.body, tt.want) {
					t.Fatalf("POST boleto with %s = %d, want 400 saying %q:\n%s", tt.name, p.status, tt.want, p.body)
				}
				if tt.name != "no name" && !strings.Contains(p.body, `value="Maria Silva"`) {
					t.Errorf("the form was not refilled")
				}
				if !strings.Contains(p.body, `name="csrf" value="`) || strings.Contains(p.body, `http-equiv="refresh"`) {
					t.Errorf("the form page after an error has no csrf field, or refreshes itself")
				}
				if pt.attempts(t) != before {
					t.Errorf("a refused boleto form created an attempt")
				}
			})
		}
		if pt.status(t, po) != Created {
			t.Fatalf("order %s after refused forms, want created", pt.status(t, po))
		}
	})
}

func TestPageQRAndVoucher(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		tests := []struct {
			method providers.Method
			cur    paygate.Currency
			want   []string
			img    string
		}{
			{providers.PayNow, paygate.SGD, []string{`<img class="qr" id="qr-image" src="https://qr.example/stripe_`, "Open in your bank app",
				`href="https://bank.example/paynow/stripe_`, `id="qr-expires"`, "SGT"}, "https://qr.example"},
			{providers.Boleto, paygate.BRL, []string{`id="voucher-number">00190.00009 01234.567890 12345.678901 1 99990000009990<`,
				`href="https://voucher.example/boleto/stripe_`, `id="voucher-expires"`, "BRT", "Open the boleto voucher"}, ""},
		}
		for _, tt := range tests {
			t.Run(string(tt.method), func(t *testing.T) {
				po := pt.order(t, tt.cur, "", 3000)
				f := pt.form(t, po, tt.method)
				if tt.method == providers.Boleto {
					f = boletoForm(f)
				}
				p := pt.post(t, "/checkout/"+string(po.Number)+"/attempts", f, nil)
				if p.status != http.StatusSeeOther || p.header.Get("Location") != pt.s.CheckoutURL(po.Number) {
					t.Fatalf("POST %s = %d to %q, want 303 to the checkout page", tt.method, p.status, p.header.Get("Location"))
				}
				p = pt.get(t, pagePath(po, pt.s))
				for _, w := range append(tt.want, `<meta http-equiv="refresh" content="3">`, "Payment in progress", `id="change-link"`) {
					if !strings.Contains(p.body, w) {
						t.Errorf("%s page lacks %q:\n%s", tt.method, w, p.body)
					}
				}
				if strings.Contains(p.body, `name="method"`) {
					t.Errorf("the waiting page offers the methods (a refresh would wipe a form)")
				}
				if tt.method == providers.Boleto {
					// The order now waits for its voucher (due date plus bank
					// clearing), so the voucher's own due date is shown.
					got, err := pt.s.Get(context.Background(), po.Number)
					if err != nil {
						t.Fatal(err)
					}
					due := got.Attempts[len(got.Attempts)-1].NextAction.ExpiresAt
					if !got.ExpiresAt.After(due) {
						t.Errorf("the order expires at %v, not after its voucher's due date %v", got.ExpiresAt, due)
					}
					if want := `id="voucher-expires">` + formatTime(due, tt.cur) + "<"; !strings.Contains(p.body, want) {
						t.Errorf("the voucher is not shown payable until its due date (%s)", want)
					}
					// One deadline, the voucher's: not the order's beside it
					// without saying which is which.
					if n := strings.Count(p.body, "Pay by"); n != 1 || strings.Contains(p.body, `id="order-expires"`) {
						t.Errorf("the boleto page shows %d deadlines (order's shown: %v), want the voucher's alone", n, strings.Contains(p.body, `id="order-expires"`))
					}
				}
				csp := p.header.Get("Content-Security-Policy")
				if tt.img != "" && !strings.Contains(csp, "img-src 'self' "+tt.img+";") {
					t.Errorf("CSP %q does not allow the QR image from %s", csp, tt.img)
				}
				// "Pay another way" shows the methods again, without refreshing.
				p = pt.get(t, pagePath(po, pt.s)+"&change=1")
				if !strings.Contains(p.body, `name="method" value="`+string(tt.method)+`"`) || strings.Contains(p.body, `http-equiv="refresh"`) {
					t.Errorf("change page: methods missing or refreshing:\n%s", p.body)
				}
			})
		}
	})
}

func TestPageRedirectMethod(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		for _, m := range []providers.Method{providers.IDEAL, providers.KakaoPay, providers.SamsungPay} {
			t.Run(string(m), func(t *testing.T) {
				mi, _ := providers.Lookup(m)
				po := pt.order(t, mi.Currency, "", 4200)
				p := pt.post(t, "/checkout/"+string(po.Number)+"/attempts", pt.form(t, po, m), nil)
				loc := p.header.Get("Location")
				if p.status != http.StatusSeeOther || loc != pt.s.CheckoutURL(po.Number)+"&go=1" {
					t.Fatalf("POST %s = %d to %q, want 303 to our page with go=1", m, p.status, loc)
				}
				p = pt.get(t, strings.TrimPrefix(loc, pt.url))
				gw := "https://gateway.example/pay/" + mi.Provider + "_"
				if !strings.Contains(p.body, `<meta http-equiv="refresh" content="0; url=`+gw) ||
					!strings.Contains(p.body, `id="continue-link" href="`+gw) || !strings.Contains(p.body, "Continue to "+mi.Label) {
					t.Fatalf("redirecting page does not send the buyer on to %s:\n%s", gw, p.body)
				}
				// Back from the gateway without paying: a link to go on,
				// no automatic redirect.
				p = pt.get(t, pagePath(po, pt.s))
				if strings.Contains(p.body, `content="0; url=`) || !strings.Contains(p.body, `id="continue-link"`) {
					t.Errorf("checkout page with an open %s attempt:\n%s", m, p.body)
				}
			})
		}
	})
}

func TestPageReturnShowsTheDatabase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		po := pt.order(t, paygate.EUR, "https://shop.example/orders/42?x=1", 1250)
		ret := "/checkout/" + string(po.Number) + "/return?t=" + url.QueryEscape(pt.s.Token(po.Number))
		forged := ret + "&payment_intent=pi_123&payment_intent_client_secret=x&redirect_status=succeeded" +
			"&status=paid&return_url=https%3A%2F%2Fevil.example%2F&redirect=https%3A%2F%2Fevil.example%2F&next=%2F%2Fevil.example"

		check := func(name, path string, status int, want []string, not []string) {
			t.Helper()
			p := pt.get(t, path)
			if p.status != status {
				t.Fatalf("%s: GET = %d, want %d:\n%s", name, p.status, status, p.body)
			}
			checkSecurityHeaders(t, name, p.header)
			if p.header.Get("Location") != "" || strings.Contains(p.body, "evil.example") {
				t.Errorf("%s: the page redirects or links to a URL from the query", name)
			}
			for _, w := range want {
				if !strings.Contains(p.body, w) {
					t.Errorf("%s: page lacks %q:\n%s", name, w, p.body)
				}
			}
			for _, n := range not {
				if strings.Contains(p.body, n) {
					t.Errorf("%s: page says %q:\n%s", name, n, p.body)
				}
			}
		}
		shop := `id="shop-link" href="https://shop.example/orders/42?x=1"`
		check("no attempt", forged, 200, []string{"Not paid yet", shop}, []string{"Payment received"})

		pt.post(t, "/checkout/"+string(po.Number)+"/attempts", pt.form(t, po, providers.IDEAL), nil)
		check("pending, redirect_status=succeeded", forged, 200,
			[]string{"Waiting for confirmation", `<meta http-equiv="refresh" content="3">`, shop}, []string{"Payment received"})
		if st := pt.status(t, po); st != Pending {
			t.Fatalf("the return page changed the order to %s", st)
		}

		pt.apply(t, po, providers.EventPaymentFailed)
		check("failed", forged, 200, []string{"Payment failed", "The payment was declined or could not be completed at iDEAL.", `id="retry-link" href="/checkout/` + string(po.Number) + "?t="},
			[]string{"Payment received", `http-equiv="refresh"`, "declined by the bank"})
		p := pt.get(t, pagePath(po, pt.s))
		if !strings.Contains(p.body, `id="failure"`) || !strings.Contains(p.body, `name="method" value="ideal"`) {
			t.Errorf("checkout page after a failure does not offer the methods again:\n%s", p.body)
		}

		pt.post(t, "/checkout/"+string(po.Number)+"/attempts", pt.form(t, po, providers.IDEAL), nil)
		pt.apply(t, po, providers.EventPaymentSucceeded)
		check("paid", ret, 200, []string{"Payment received", "is paid", shop}, []string{`http-equiv="refresh"`})
		check("paid, redirect_status=failed", ret+"&redirect_status=failed", 200, []string{"Payment received"}, []string{"Payment failed"})
		check("checkout page when paid", pagePath(po, pt.s), 200, []string{"Payment received", shop}, []string{`name="method"`, `http-equiv="refresh"`})

		// A paid order takes no new attempt: the page says so, with 409.
		p = pt.post(t, "/checkout/"+string(po.Number)+"/attempts", url.Values{"t": {pt.s.Token(po.Number)},
			"csrf": {pt.csrfFor(t, po)}, "method": {"ideal"}}, nil)
		if p.status != http.StatusConflict || !strings.Contains(p.body, "Payment received") {
			t.Errorf("POST to a paid order = %d, want 409 with the paid page:\n%s", p.status, p.body)
		}

		// An order without a return URL has no shop link.
		bare := pt.order(t, paygate.EUR, "", 500)
		check("no return_url", "/checkout/"+string(bare.Number)+"/return?t="+url.QueryEscape(pt.s.Token(bare.Number))+"&return_url=https://evil.example/",
			200, []string{"Not paid yet"}, []string{"shop-link"})
	})
}

func TestPageClosedOrders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, pt *pageTest) {
		expiredOrder := pt.order(t, paygate.EUR, "", 1250)
		canceled := pt.order(t, paygate.EUR, "", 1250)
		ctx := context.Background()
		err := pt.db.Update(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE payment_orders SET expires_at = ? WHERE number = ?`, tx.Now().Add(-time.Minute), string(expiredOrder.Number)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE payment_orders SET status = ? WHERE number = ?`, string(Canceled), string(canceled.Number))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			po   PaymentOrder
			want string
		}{{expiredOrder, "This order has expired"}, {canceled, "This order was canceled"}} {
			p := pt.get(t, pagePath(tt.po, pt.s))
			if p.status != 200 || !strings.Contains(p.body, tt.want) || strings.Contains(p.body, `name="method"`) {
				t.Errorf("%s page = %d:\n%s", tt.want, p.status, p.body)
			}
			p = pt.get(t, "/checkout/"+string(tt.po.Number)+"/return?t="+url.QueryEscape(pt.s.Token(tt.po.Number)))
			if !strings.Contains(p.body, tt.want) {
				t.Errorf("return page of %s:\n%s", tt.want, p.body)
			}
		}
		// A form posted to an expired order is a conflict, shown on the page.
		f := url.Values{"t": {pt.s.Token(expiredOrder.Number)}, "method": {"ideal"}, "csrf": {pt.csrfFor(t, expiredOrder)}}
		p := pt.post(t, "/checkout/"+string(expiredOrder.Number)+"/attempts", f, nil)
		if p.status != http.StatusConflict || !strings.Contains(p.body, "This order has expired") {
			t.Errorf("POST to an expired order = %d:\n%s", p.status, p.body)
		}
	})
}

func TestFormatBoletoLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"00190000090123456789012345678901199990000009990", "00190.00009 01234.567890 12345.678901 1 99990000009990"},
		{"00190.00009 01234.567890 12345.678901 1 99990000009990", "00190.00009 01234.567890 12345.678901 1 99990000009990"},
		{"0019000009012345678901234567890119999000000999", "0019000009012345678901234567890119999000000999"}, // 46 digits
		{"0019000009012345678901234567890119999000000999X", "0019000009012345678901234567890119999000000999X"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := formatBoletoLine(tt.in); got != tt.want {
			t.Errorf("formatBoletoLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
