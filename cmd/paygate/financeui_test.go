package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
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

// login signs in with key and returns the answer to the form.
func (fc *financeClient) login(key string) (int, *http.Response) {
	fc.t.Helper()
	status, page, _ := fc.get("/finance/login")
	if status != http.StatusOK {
		fc.t.Fatalf("GET /finance/login = %d", status)
	}
	status, _, resp := fc.post("/finance/login", url.Values{"csrf": {fc.csrf(page)}, "key": {key}})
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
	deadline := time.Now().Add(stepTimeout)
	for {
		var po orderJSON
		ta.call(t, "GET", "/v1/payment-orders/"+number, nil, &po)
		if po.Status == "paid" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment order %s is %q, want paid", number, po.Status)
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
	resp, err := http.Get(ta.url + "/sandbox/stripe/reports/settlement.csv")
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
		return finance.Audit(ctx, tx, "note", first.Number, "open", "checked", "called the buyer")
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

			// Sign out: the logout form's csrf field is needed; then the session is gone.
			if status, _, _ := fc.post("/finance/logout", url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
				t.Errorf("logout with a forged csrf = %d, want 403", status)
			}
			if status, _, _ := fc.post("/finance/logout", url.Values{"csrf": {fc.csrf(dash)}}); status != http.StatusSeeOther {
				t.Errorf("logout = %d, want 303", status)
			}
			if status, _, _ := fc.get("/finance/"); status != http.StatusSeeOther {
				t.Errorf("GET /finance/ after logout = %d, want 303", status)
			}
		})
	}
}

// TestFinanceBrowser signs in with headless Chromium and checks the
// dashboard's chart has bars. Screenshots go to PAYGATE_ARTIFACTS.
func TestFinanceBrowser(t *testing.T) {
	requireChromium(t)
	b := storagetest.Backends(t)[0]
	ta := startApp(t, b)
	ta.payAndReconcile(t)
	browser := newBrowser(t)
	tb := newTab(t, browser, "finance-"+b.Name)

	tb.navigate(ta.url + "/finance/")
	tb.waitText("Finance API key", "Sign in")
	tb.checkStyled()
	tb.shot("1-login")
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
	} {
		tb.navigate(ta.url + p.path)
		tb.waitText(p.text)
		tb.checkStyled()
		tb.shot(fmt.Sprintf("%d-%s", i+3, strings.TrimPrefix(p.path, "/finance/")))
	}
	tb.click("form.logout button")
	tb.waitText("Finance API key")
}
