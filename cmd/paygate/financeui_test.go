package main

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
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The finance pages through real HTTP: the login and its refusals, then
// each page's numbers after paying orders and reconciling a sandbox day.

// financeClient is a browser without JavaScript: a cookie jar, and
// redirects left to the test.
type financeClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newFinanceClient(t *testing.T, ta *testApp) *financeClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &financeClient{t: t, base: ta.url, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get returns a page's status, its body and its response.
func (fc *financeClient) get(path string) (int, string, *http.Response) {
	fc.t.Helper()
	resp, err := fc.c.Get(fc.base + path)
	if err != nil {
		fc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

func (fc *financeClient) post(path string, form url.Values) (int, string, *http.Response) {
	fc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fc.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", fc.base)
	resp, err := fc.c.Do(req)
	if err != nil {
		fc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the csrf field of a page's form.
func (fc *financeClient) csrf(page string) string {
	fc.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		fc.t.Fatalf("no csrf field on the page:\n%s", page)
	}
	return m[1]
}

// login signs in as alice with key and returns the answer to the form.
func (fc *financeClient) login(key string) (int, *http.Response) {
	fc.t.Helper()
	return fc.loginAs("alice", key)
}

// loginAs signs in as actor with key and returns the answer to the form.
func (fc *financeClient) loginAs(actor, key string) (int, *http.Response) {
	fc.t.Helper()
	status, page, _ := fc.get("/finance/login")
	if status != http.StatusOK {
		fc.t.Fatalf("GET /finance/login = %d", status)
	}
	status, _, resp := fc.post("/finance/login", url.Values{"csrf": {fc.csrf(page)}, "key": {key}, "actor": {actor}})
	return status, resp
}

// page gets a signed-in page, which must be 200 with a strict CSP.
func (fc *financeClient) page(path string) string {
	fc.t.Helper()
	status, body, resp := fc.get(path)
	if status != http.StatusOK {
		fc.t.Fatalf("GET %s = %d, want 200:\n%s", path, status, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") || strings.Contains(body, "<script") {
		fc.t.Fatalf("GET %s: CSP %q, or the page has a script", path, csp)
	}
	return body
}

// waitPaid polls a payment order until it is paid.
func (ta *testApp) waitPaid(t *testing.T, number string) {
	t.Helper()
	ta.waitStatus(t, number, "paid")
}

// waitStatus polls a payment order until it has status want.
func (ta *testApp) waitStatus(t *testing.T, number, want string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		var po orderJSON
		ta.call(t, "GET", "/v1/payment-orders/"+number, nil, &po)
		if po.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment order %s is %q, want %s", number, po.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// payAndReconcile pays two iDEAL orders (19.75 EUR each) and a PayNow one
// (30.00 SGD), reconciles the sandbox's Stripe report, and opens a finance
// item with an audit entry on the first order. It returns the first order
// and the run.
func (ta *testApp) payAndReconcile(t *testing.T) (orderJSON, reconJSON) {
	t.Helper()
	var first orderJSON
	for i, c := range []methodCase{methodCases[0], methodCases[0], methodCases[1]} {
		po := ta.createOrder(t, c)
		var a attemptJSON
		ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": c.method}, &a)
		ta.pay(t, po, a)
		ta.waitPaid(t, po.Number)
		if i == 0 {
			first = po
		}
	}
	resp, err := ta.client.Get(ta.url + "/sandbox/stripe/reports/settlement.csv")
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	run := ta.reconcile(t, string(report))

	ctx := finance.WithActor(context.Background(), "alice@example.com")
	err = ta.db.Update(ctx, func(tx *storage.Tx) error {
		if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.AmountMismatch, Reference: "evt_test_mismatch",
			PaymentOrder: first.Number, Provider: "stripe", Amount: paygate.New(123, paygate.EUR), Description: "paid 1.23 EUR too much"}); err != nil {
			return err
		}
		return finance.Audit(ctx, tx, finance.ActionReconcilePost, first.Number, "open", "checked", "called the buyer")
	})
	if err != nil {
		t.Fatal(err)
	}
	return first, run
}

func TestFinancePages(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			fc := newFinanceClient(t, ta)

			// Without a session every page sends to the login.
			for _, p := range []string{"/finance/", "/finance/trial-balance", "/finance/escrow", "/finance/items",
				"/finance/reconciliations", "/finance/reconciliations/rec_x"} {
				if status, _, resp := fc.get(p); status != http.StatusSeeOther || resp.Header.Get("Location") != "/finance/login" {
					t.Fatalf("GET %s without a session = %d to %q, want 303 to /finance/login", p, status, resp.Header.Get("Location"))
				}
			}
			// A forged session cookie is no session.
			u, _ := url.Parse(ta.url + "/finance/")
			fc.c.Jar.SetCookies(u, []*http.Cookie{{Name: "paygate_finance_session", Value: "v1.99999999999.x.y", Path: "/finance/"}})
			if status, _, _ := fc.get("/finance/"); status != http.StatusSeeOther {
				t.Fatalf("GET /finance/ with a forged session = %d, want 303", status)
			}
			// The login form refuses a post without its csrf pair, and a wrong key.
			if status, _, _ := fc.post("/finance/login", url.Values{"key": {testFinanceKey}}); status != http.StatusForbidden {
				t.Fatalf("login without csrf = %d, want 403", status)
			}
			for _, key := range []string{"wrong", testAPIKey, ""} {
				if status, resp := fc.login(key); status != http.StatusUnauthorized || len(resp.Cookies()) != 1 {
					t.Fatalf("login with %q = %d, cookies %v: want 401 and only a new csrf cookie", key, status, resp.Cookies())
				}
			}
			if status, _, _ := fc.get("/finance/"); status != http.StatusSeeOther {
				t.Fatalf("GET /finance/ after refused logins = %d, want 303", status)
			}

			status, resp := fc.login(testFinanceKey)
			if status != http.StatusSeeOther || resp.Header.Get("Location") != "/finance/" {
				t.Fatalf("login = %d to %q, want 303 to /finance/", status, resp.Header.Get("Location"))
			}
			var session *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "paygate_finance_session" {
					session = c
				}
			}
			if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/finance/" ||
				session.Secure || strings.Contains(session.Value, testFinanceKey) {
				t.Fatalf("session cookie = %+v", session)
			}

			if page := fc.page("/finance/"); !strings.Contains(page, "No payment settled") {
				t.Fatalf("dashboard before any payment:\n%s", page)
			}
			first, run := ta.payAndReconcile(t)

			dash := fc.page("/finance/")
			for _, want := range []string{"total 39.50 EUR", "total 30.00 SGD", " ideal 39.50 EUR</title>", " paynow 30.00 SGD</title>",
				`href="/finance/trial-balance"`, `href="/finance/reconciliations"`} {
				if !strings.Contains(dash, want) {
					t.Errorf("dashboard lacks %q:\n%s", want, dash)
				}
			}
			if n := strings.Count(dash, `<rect class="bar"`); n != 2 {
				t.Errorf("dashboard has %d bars, want 2 (one day, one method per currency)", n)
			}

			ctx := context.Background()
			var trial []ledger.TrialLine
			var escrow []orders.EscrowLine
			ta.db.View(ctx, func(tx *storage.Tx) error {
				var err error
				if trial, err = ledger.New(ta.db).TrialBalance(ctx, tx); err != nil {
					return err
				}
				escrow, err = orders.EscrowByStatus(ctx, tx)
				return err
			})
			tb := fc.page("/finance/trial-balance")
			for _, l := range trial {
				row := fmt.Sprintf(`<td>%s</td><td>%s</td><td class="n">%d</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td>`,
					l.Currency, l.Type, l.Accounts, l.Debits.Amount(), l.Credits.Amount(), l.Balance.Amount())
				if !strings.Contains(tb, row) {
					t.Errorf("trial balance lacks %s:\n%s", row, tb)
				}
			}
			if !strings.Contains(tb, "<td>0.00 EUR</td>") && !strings.Contains(tb, `<td class="n">0.00 EUR</td>`) || strings.Contains(tb, "NOT ZERO") || strings.Contains(tb, `class="bad"`) {
				t.Errorf("trial balance is not balanced in EUR:\n%s", tb)
			}

			es := fc.page("/finance/escrow")
			var heldEUR int64
			for _, l := range escrow {
				row := fmt.Sprintf(`<td>%s</td><td>%s</td><td class="n">%d</td><td class="n">%s</td><td class="n">%s</td>`,
					l.Amount.Currency, l.Status, l.Orders, l.Amount.Amount(), l.Held.Amount())
				if !strings.Contains(es, row) {
					t.Errorf("escrow lacks %s:\n%s", row, es)
				}
				if l.Amount.Currency == paygate.EUR {
					heldEUR += l.Held.Minor
				}
			}
			if heldEUR != 3950 {
				t.Errorf("escrow holds %d EUR cents, want 3950", heldEUR)
			}

			items := fc.page("/finance/items")
			for _, want := range []string{"amount_mismatch", "1.23 EUR", first.Number, "finance:alice@example.com", "called the buyer"} {
				if !strings.Contains(items, want) {
					t.Errorf("items lack %q:\n%s", want, items)
				}
			}

			runs := fc.page("/finance/reconciliations")
			if !strings.Contains(runs, `href="/finance/reconciliations/`+run.ID+`"`) {
				t.Errorf("reconciliations lack %s:\n%s", run.ID, runs)
			}
			one := fc.page("/finance/reconciliations/" + run.ID)
			if !strings.Contains(one, "None: every line matched.") || !strings.Contains(one, fmt.Sprintf("%d lines", run.Lines)) ||
				!strings.Contains(one, "<td>matched</td>") {
				t.Errorf("reconciliation %s page:\n%s", run.ID, one)
			}
			if status, _, _ := fc.get("/finance/reconciliations/rec_unknown"); status != http.StatusNotFound {
				t.Errorf("unknown reconciliation = %d, want 404", status)
			}

			// Sign out: the logout form's csrf field is needed; then the
			// session is gone, on the server too: a copy of the cookie
			// (taken by malware, or left in another browser) no longer
			// works, while another person's session does.
			other := newFinanceClient(t, ta)
			if status, _ := other.loginAs("bob", testFinanceKey); status != http.StatusSeeOther {
				t.Fatalf("bob's login = %d", status)
			}
			stolen := newFinanceClient(t, ta)
			fu, _ := url.Parse(ta.url + "/finance/")
			stolen.c.Jar.SetCookies(fu, fc.c.Jar.Cookies(fu))
			stolen.page("/finance/items")
			if status, _, _ := fc.post("/finance/logout", url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
				t.Errorf("logout with a forged csrf = %d, want 403", status)
			}
			if status, _, _ := fc.post("/finance/logout", url.Values{"csrf": {fc.csrf(dash)}}); status != http.StatusSeeOther {
				t.Errorf("logout = %d, want 303", status)
			}
			if status, _, _ := fc.get("/finance/"); status != http.StatusSeeOther {
				t.Errorf("GET /finance/ after logout = %d, want 303", status)
			}
			if status, _, resp := stolen.get("/finance/items"); status != http.StatusSeeOther || resp.Header.Get("Location") != "/finance/login" {
				t.Errorf("GET /finance/items with a copy of the logged-out cookie = %d (Location %q), want 303 to the login", status, resp.Header.Get("Location"))
			}
			other.page("/finance/items")
		})
	}
}

// TestFinanceBrowser signs in with headless Chromium and checks the
// dashboard's chart has bars. Screenshots go to PAYGATE_ARTIFACTS.
func TestFinanceBrowser(t *testing.T) {
	requireChromium(t)
	b := storagetest.Backends(t)[0]
	ta := startApp(t, b)
	_, run := ta.payAndReconcile(t)
	browser := newBrowser(t)
	tb := newTab(t, browser, "finance-"+b.Name)

	tb.navigate(ta.url + "/finance/")
	tb.waitText("Finance API key", "Sign in")
	tb.checkStyled()
	tb.shot("1-login")
	tb.do("type the name", chromedp.SetValue(chromedp.CSS("#actor"), "alice"))
	tb.do("type the key", chromedp.SetValue(chromedp.CSS("#key"), testFinanceKey))
	tb.click("form.login button")
	tb.waitText("Settled volume per method per day", "39.50 EUR", "30.00 SGD")
	tb.checkStyled()
	if n, err := eval[int](tb, `document.querySelectorAll("figure.chart svg rect.bar").length`); err != nil || n < 2 {
		tb.fail("the chart has %d bars (%v), want at least 2", n, err)
	}
	if h, err := eval[float64](tb, `document.querySelector("figure.chart svg rect.bar").getBoundingClientRect().height`); err != nil || h < 20 {
		tb.fail("the tallest bar is %v px high (%v)", h, err)
	}
	tb.shot("2-dashboard")
	tb.desktopShot("2-dashboard")

	for i, p := range []struct{ path, text string }{
		{"/finance/trial-balance", "Per account type"},
		{"/finance/items", "amount_mismatch"},
		{"/finance/reconciliations", "Unmatched"},
		{"/finance/webhooks", "No webhook endpoint is registered."},
		// Every page is usable on a phone: tables scroll inside their box,
		// no page is wider than the screen (checkStyled).
		{"/finance/escrow", "waiting_delivery"},
		{"/finance/reconciliations/" + run.ID, "Totals"},
	} {
		tb.navigate(ta.url + p.path)
		tb.waitText(p.text)
		tb.checkStyled()
		tb.shot(fmt.Sprintf("%d-%s", i+3, strings.ReplaceAll(strings.TrimPrefix(p.path, "/finance/"), "/", "-")))
	}
	tb.click("form.logout button")
	tb.waitText("Finance API key")
}

// TestFinanceItemActions closes open items from the page as a named staff
// member: a forged form changes nothing; "Mark resolved" and "Refund
// balance to source" close their items, and the audit log says who and why.
func TestFinanceItemActions(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			fc := newFinanceClient(t, ta)
			if status, _ := fc.loginAs("not a name", testFinanceKey); status != http.StatusBadRequest {
				t.Fatalf("login with a malformed name = %d, want 400", status)
			}
			if status, _ := fc.loginAs("bob@example.com", testFinanceKey); status != http.StatusSeeOther {
				t.Fatalf("login as bob = %d, want 303", status)
			}
			first, _ := ta.payAndReconcile(t)

			// A late payment of 5.00 EUR credited to the first order's buyer.
			ctx := context.Background()
			var buyer string
			var mismatch, late int64
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if err := tx.Get(ctx, &buyer, `SELECT buyer_id FROM payment_orders WHERE number = ?`, first.Number); err != nil {
					return err
				}
				paid := paygate.New(500, paygate.EUR)
				if _, err := ledger.New(ta.db).Post(ctx, tx, ledger.Transfer("test:late", "late payment", ledger.ProviderClearing("stripe"),
					ledger.UserBalance(buyer), paid)); err != nil {
					return err
				}
				if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.LatePayment, Reference: "att_test_late",
					PaymentOrder: first.Number, Provider: "stripe", Amount: paid, Description: "paid late"}); err != nil {
					return err
				}
				items, err := finance.Items(ctx, tx, finance.Open, 0, 10)
				for _, it := range items {
					switch it.Kind {
					case finance.AmountMismatch:
						mismatch = it.ID
					case finance.LatePayment:
						late = it.ID
					}
				}
				return err
			})
			if err != nil || mismatch == 0 || late == 0 {
				t.Fatalf("setup: %v (items %d, %d)", err, mismatch, late)
			}

			page := fc.page("/finance/items")
			for _, want := range []string{fmt.Sprintf(`action="/finance/items/%d/resolve"`, mismatch),
				fmt.Sprintf(`action="/finance/items/%d/refund"`, late), "Refund balance to source", "Mark resolved"} {
				if !strings.Contains(page, want) {
					t.Fatalf("items page lacks %q:\n%s", want, page)
				}
			}
			csrf := fc.csrf(page)
			openItems := func() map[int64]bool {
				t.Helper()
				m := map[int64]bool{}
				ta.db.View(ctx, func(tx *storage.Tx) error {
					items, err := finance.Items(ctx, tx, finance.Open, 0, 100)
					for _, it := range items {
						m[it.ID] = true
					}
					return err
				})
				return m
			}

			// A forged token is refused and changes nothing.
			path := fmt.Sprintf("/finance/items/%d/resolve", mismatch)
			if status, body, _ := fc.post(path, url.Values{"csrf": {"forged"}, "reason": {"x"}}); status != http.StatusForbidden ||
				!strings.Contains(body, "Nothing was changed") {
				t.Fatalf("resolve with a forged csrf = %d:\n%s", status, body)
			}
			if !openItems()[mismatch] {
				t.Fatal("a forged form resolved the item")
			}
			// Without a reason: 400, still open.
			if status, _, _ := fc.post(path, url.Values{"csrf": {csrf}}); status != http.StatusBadRequest || !openItems()[mismatch] {
				t.Fatalf("resolve without a reason = %d, want 400 and the item open", status)
			}

			// Mark resolved: the item leaves the open list, the audit log says who and why.
			status, _, resp := fc.post(path, url.Values{"csrf": {csrf}, "reason": {"refunded by bank transfer"}})
			if status != http.StatusSeeOther || resp.Header.Get("Location") != "/finance/items" {
				t.Fatalf("mark resolved = %d to %q, want 303 to /finance/items", status, resp.Header.Get("Location"))
			}
			page = fc.page("/finance/items")
			if !strings.Contains(page, fmt.Sprintf("Item #%d marked resolved.", mismatch)) ||
				strings.Contains(page, fmt.Sprintf(`action="/finance/items/%d/resolve"`, mismatch)) || openItems()[mismatch] {
				t.Fatalf("after mark resolved, the items page:\n%s", page)
			}
			if status, _, _ := fc.post(path, url.Values{"csrf": {csrf}, "reason": {"again"}}); status != http.StatusConflict {
				t.Errorf("resolving a resolved item = %d, want 409", status)
			}
			var audit []finance.AuditEntry
			ta.db.View(ctx, func(tx *storage.Tx) error {
				var err error
				audit, err = finance.AuditLog(ctx, tx, first.Number, 0, 100)
				return err
			})
			found := false
			for _, a := range audit {
				found = found || a.Action == "resolve_item" && a.Actor == "finance:bob@example.com" && a.Reason == "refunded by bank transfer"
			}
			if !found {
				t.Errorf("audit log of %s lacks bob's resolve_item: %+v", first.Number, audit)
			}

			// Refund the late payment's balance to source.
			status, body, _ := fc.post(fmt.Sprintf("/finance/items/%d/refund", late), url.Values{"csrf": {csrf}, "amount": {"5.00"}, "reason": {"buyer asked"}})
			if status != http.StatusSeeOther {
				t.Fatalf("refund = %d, want 303:\n%s", status, body)
			}
			page = fc.page("/finance/items")
			if !strings.Contains(page, "Refunded 5.00 EUR of "+buyer) || openItems()[late] {
				t.Fatalf("after the refund, the items page:\n%s", page)
			}
			var refunds []finance.SourceRefund
			ta.db.View(ctx, func(tx *storage.Tx) error {
				var err error
				refunds, err = finance.SourceRefunds(ctx, tx, buyer)
				return err
			})
			if len(refunds) != 1 || refunds[0].Minor != 500 || refunds[0].Currency != "EUR" {
				t.Errorf("refunds of %s = %+v, want one of 5.00 EUR", buyer, refunds)
			}
			ta.db.View(ctx, func(tx *storage.Tx) error {
				var err error
				audit, err = finance.AuditLog(ctx, tx, buyer, 0, 100)
				return err
			})
			if len(audit) != 1 || audit[0].Action != "refund_to_source" || audit[0].Actor != "finance:bob@example.com" || audit[0].Reason != "buyer asked" {
				t.Errorf("audit of %s = %+v, want bob's refund_to_source", buyer, audit)
			}
		})
	}
}

// TestFinanceWebhooksPage: a signed-in staff member sees every webhook
// endpoint of both roles with its health: one whose receiver answers 500 as
// failing since its first attempt, with its undelivered events as backlog;
// one that answered 410 as disabled, and why; a healthy one with its last
// success and no backlog; each with its recent deliveries. No secret shows.
func TestFinanceWebhooksPage(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			fc := newFinanceClient(t, ta)
			if status, _ := fc.login(testFinanceKey); status != http.StatusSeeOther {
				t.Fatalf("login = %d", status)
			}
			if page := fc.page("/finance/webhooks"); !strings.Contains(page, "No webhook endpoint is registered.") ||
				!strings.Contains(page, `<a href="/finance/webhooks" aria-current="page">Webhooks</a>`) {
				t.Fatalf("webhooks page without endpoints:\n%s", page)
			}
			receiver := func(status int) *httptest.Server {
				s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(status)
					io.WriteString(w, "receiver says "+http.StatusText(status))
				}))
				t.Cleanup(s.Close)
				return s
			}
			failing, gone, healthy := receiver(500), receiver(410), receiver(200)
			type endpoint struct {
				ID     string `json:"id"`
				Secret string `json:"secret"`
			}
			register := func(key, url string, events ...string) endpoint {
				var e endpoint
				if s := ta.callWith(t, key, "we-"+url, "POST", "/v1/webhook-endpoints", map[string]any{"url": url, "events": events}, &e); s != 201 {
					t.Fatalf("register %s = %d", url, s)
				}
				return e
			}
			eFailing := register(testAPIKey, failing.URL+"/hooks", "sales_order.*")
			eGone := register(testAPIKey, gone.URL+"/old", "payment_order.paid")
			eHealthy := register(testFinanceKey, healthy.URL+"/finance", "*")

			po := paidOrder(t, ta, 2)
			type attempts struct {
				Deliveries []struct {
					Result string `json:"result"`
				} `json:"deliveries"`
			}
			waitFor(t, func() bool {
				var f, g, h attempts
				ta.callWith(t, testAPIKey, "", "GET", "/v1/webhook-endpoints/"+eFailing.ID+"/deliveries", nil, &f)
				ta.callWith(t, testAPIKey, "", "GET", "/v1/webhook-endpoints/"+eGone.ID+"/deliveries", nil, &g)
				ta.callWith(t, testFinanceKey, "", "GET", "/v1/webhook-endpoints/"+eHealthy.ID+"/deliveries", nil, &h)
				return len(f.Deliveries) >= 2 && len(g.Deliveries) >= 1 && len(h.Deliveries) >= 3
			}, "the first attempts to each endpoint")

			page := fc.page("/finance/webhooks")
			for _, e := range []endpoint{eFailing, eGone, eHealthy} {
				if strings.Contains(page, e.Secret) {
					t.Fatalf("the webhooks page shows the secret of %s", e.ID)
				}
			}
			card := func(id string) string {
				for _, c := range strings.Split(page, "<article") {
					if strings.Contains(c, id) {
						return c
					}
				}
				t.Fatalf("the webhooks page has no endpoint %s:\n%s", id, page)
				return ""
			}
			dd := func(label, value string) string { return "<dt>" + label + "</dt><dd>" + value }
			f := card(eFailing.ID)
			for _, want := range []string{failing.URL + "/hooks", "(marketplace)", dd("Events", "sales_order.*"),
				dd("State", `<span class="error">failing</span>`), dd("Last success", "none"), dd("Failing since", `<span class="error">`),
				dd("Backlog", "2 undelivered, the oldest from "), `<td class="n">500</td>`, "sales_order.paid", "failure"} {
				if !strings.Contains(f, want) {
					t.Errorf("the failing endpoint's card lacks %q:\n%s", want, f)
				}
			}
			if n := strings.Count(f, `<tr class="bad">`); n != 2 {
				t.Errorf("the failing endpoint shows %d failed deliveries, want 2:\n%s", n, f)
			}
			g := card(eGone.ID)
			for _, want := range []string{dd("State", `<span class="error">disabled</span>: `), "410", `<td class="n">410</td>`, "gone", "payment_order.paid"} {
				if !strings.Contains(g, want) {
					t.Errorf("the disabled endpoint's card lacks %q:\n%s", want, g)
				}
			}
			h := card(eHealthy.ID)
			for _, want := range []string{healthy.URL + "/finance", "(finance)", dd("State", "enabled"), dd("Failing since", "—"),
				dd("Backlog", "0 undelivered</dd>"), `<td class="n">200</td>`, "payment_order.paid", "success"} {
				if !strings.Contains(h, want) {
					t.Errorf("the healthy endpoint's card lacks %q:\n%s", want, h)
				}
			}
			if strings.Contains(h, dd("Last success", "none")) || strings.Contains(h, `class="bad"`) {
				t.Errorf("the healthy endpoint's card shows no success, or a failure:\n%s", h)
			}
			if n := strings.Count(h, "<td>sales_order.paid "); n != len(po.Items) {
				t.Errorf("the healthy endpoint shows %d deliveries of sales_order.paid, want %d:\n%s", n, len(po.Items), h)
			}
		})
	}
}
