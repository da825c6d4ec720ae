package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// Web hardening, tried from the outside: security headers on every route
// of the real router, CSRF on every form, no open redirect, and the flags
// of every cookie, with an http and with an https public URL.

// shopHost is the test app's return_url allow-list (startAppScheme).
const shopHost = "shop.example"

// evil is the attacker's site.
const evil = "https://evil.example"

// webClient is a browser without JavaScript for these tests: it keeps
// every cookie whatever its Secure flag (the test plays the TLS proxy of an
// https public URL), records every Set-Cookie it is sent, marks its POSTs
// as a browser marks a same-origin form, and leaves redirects to the test.
type webClient struct {
	t       *testing.T
	base    string // where requests go: the server on loopback
	origin  string // the public URL's origin, the Origin of its forms
	cookies map[string]string
	seen    []seenCookie
}

// seenCookie is a Set-Cookie and the request that got it.
type seenCookie struct {
	where  string
	cookie *http.Cookie
}

func newWebClient(t *testing.T, ta *testApp) *webClient {
	return &webClient{t: t, base: ta.url, origin: ta.origin(), cookies: map[string]string{}}
}

// origin is the origin of the app's public URL.
func (ta *testApp) origin() string {
	u, _ := url.Parse(ta.publicURL)
	return u.Scheme + "://" + u.Host
}

// do sends a request; header entries replace the client's own, and an
// empty entry removes one. It returns the response and its body.
func (c *webClient) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		if len(v) == 0 || v[0] == "" {
			req.Header.Del(k)
		} else {
			req.Header[k] = v
		}
	}
	for name, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		c.seen = append(c.seen, seenCookie{method + " " + path, ck})
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return resp, string(b)
}

// formFields returns the hidden fields of the POST form of page whose
// action is action.
func formFields(t *testing.T, page, action string) url.Values {
	t.Helper()
	forms := regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`).FindAllStringSubmatch(page, -1)
	for _, f := range forms {
		if attr(f[1], "action") != action {
			continue
		}
		v := url.Values{}
		for _, in := range regexp.MustCompile(`(?is)<input\b([^>]*)>`).FindAllStringSubmatch(f[2], -1) {
			if strings.EqualFold(attr(in[1], "type"), "hidden") {
				v.Add(attr(in[1], "name"), attr(in[1], "value"))
			}
		}
		return v
	}
	t.Fatalf("no form with action %q on the page:\n%s", action, page)
	return nil
}

// attr returns an attribute's value from a tag's attributes, unescaped.
func attr(attrs, name string) string {
	m := regexp.MustCompile(`(?is)\b` + name + `\s*=\s*"([^"]*)"`).FindStringSubmatch(attrs)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// fingerprint counts what a form could change, so that a refused form can
// be shown to have changed nothing.
func (ta *testApp) fingerprint(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	err := ta.db.View(ctx, func(tx *storage.Tx) error {
		for _, q := range []string{
			`SELECT COUNT(*) FROM payment_orders`,
			`SELECT COUNT(*) FROM payment_orders WHERE status = 'created'`,
			`SELECT COUNT(*) FROM payment_attempts`,
			`SELECT COUNT(*) FROM ledger_transactions`,
			`SELECT COUNT(*) FROM webhook_events`,
			`SELECT COUNT(*) FROM finance_items WHERE status = 'open'`,
			`SELECT COUNT(*) FROM audit_log`,
			`SELECT COUNT(*) FROM source_refunds`,
			`SELECT COUNT(*) FROM sales_order_history`,
		} {
			var n int64
			if err := tx.Get(ctx, &n, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			out = append(out, fmt.Sprint(n))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, ",")
}

// checkLocation fails the test if a redirect's target, resolved against
// the URL it answered, leaves the service or the shop of the allow-list.
func (ta *testApp) checkLocation(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: %d without a Location", what, resp.StatusCode)
		}
		return
	}
	ta.checkTarget(t, what+": Location", resp.Request.URL, loc)
}

// checkTarget fails the test if ref, resolved against base as a browser
// would, is not an http(s) URL of the service or of the shop. Browsers
// read a backslash as a slash, so the check does too.
func (ta *testApp) checkTarget(t *testing.T, what string, base *url.URL, ref string) {
	t.Helper()
	ref = strings.ReplaceAll(ref, `\`, "/")
	if strings.ContainsAny(ref, "\t\r\n") {
		t.Errorf("%s %q has whitespace a browser would drop", what, ref)
		return
	}
	u, err := base.Parse(ref)
	if err != nil {
		t.Errorf("%s %q: %v", what, ref, err)
		return
	}
	own, _ := url.Parse(ta.publicURL)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		t.Errorf("%s %q: scheme %q", what, ref, u.Scheme)
	case u.User != nil:
		t.Errorf("%s %q has user info", what, ref)
	case strings.EqualFold(u.Host, own.Host), strings.EqualFold(u.Host, strings.TrimPrefix(ta.url, "http://")):
	case strings.EqualFold(u.Hostname(), shopHost):
	default:
		t.Errorf("%s %q goes to %q, which is neither the service nor the shop", what, ref, u.Host)
	}
}

// Patterns that a page must not have: the pages' CSP allows no inline
// script and no inline style attribute.
var (
	scriptTag     = regexp.MustCompile(`(?i)<script`)
	eventHandler  = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	javascriptURL = regexp.MustCompile(`(?i)javascript:`)
	styleAttr     = regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`)
	linkAttr      = regexp.MustCompile(`(?is)\s(?:href|src|action|formaction)\s*=\s*"([^"]*)"`)
	metaRefresh   = regexp.MustCompile(`(?is)<meta[^>]*http-equiv="refresh"[^>]*content="[^"]*url=([^"]*)"`)
)

// inlineCode returns what of a page or template would need 'unsafe-inline'
// (or is a script URL), or "".
func inlineCode(page string) string {
	for _, re := range []*regexp.Regexp{scriptTag, eventHandler, javascriptURL, styleAttr} {
		if m := re.FindString(page); m != "" {
			return m
		}
	}
	return ""
}

// checkHeaders checks the security headers of one response, and for a
// page, that it has no inline code and links only to the service and the
// shop.
func (ta *testApp) checkHeaders(t *testing.T, https bool, what string, resp *http.Response, body string) {
	t.Helper()
	h := resp.Header
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options %q", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" && got != "same-origin" {
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
	wantHSTS := ""
	if https {
		wantHSTS = server.HSTS
	}
	if got := h.Get("Strict-Transport-Security"); got != wantHSTS {
		t.Errorf("%s: Strict-Transport-Security %q, want %q (https public URL: %t)", what, got, wantHSTS, https)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	scripts := strings.Contains(csp, "script-src 'none'") ||
		(strings.Contains(csp, "default-src 'none'") && !strings.Contains(csp, "script-src"))
	if !scripts {
		t.Errorf("%s: Content-Security-Policy %q lets scripts run", what, csp)
	}
	isPage := strings.HasPrefix(h.Get("Content-Type"), "text/html")
	if !isPage && csp != server.DefaultCSP {
		t.Errorf("%s: %s with Content-Security-Policy %q, want the default %q", what, h.Get("Content-Type"), csp, server.DefaultCSP)
	}
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-store") && resp.Request.URL.Path != "/openapi.json" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	ta.checkLocation(t, what, resp)
	if !isPage {
		return
	}
	if m := inlineCode(body); m != "" {
		t.Errorf("%s: the page has %q, which its CSP must not allow", what, m)
	}
	for _, m := range append(linkAttr.FindAllStringSubmatch(body, -1), metaRefresh.FindAllStringSubmatch(body, -1)...) {
		ref := html.UnescapeString(m[1])
		if strings.HasPrefix(ref, "data:image/png;base64,") { // the Samsung Pay page's QR code
			continue
		}
		ta.checkTarget(t, what+": link", resp.Request.URL, ref)
	}
}

// pendingOrder creates an order of the method case with an attempt of its
// method, and returns both.
func (ta *testApp) pendingOrder(t *testing.T, c methodCase) (orderJSON, attemptJSON) {
	t.Helper()
	po := ta.createOrder(t, c)
	var a attemptJSON
	body := map[string]any{"method": c.method}
	if c.payer != nil {
		body["payer"] = c.payer
	}
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &a); status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("attempt %s = %d %+v", c.method, status, a)
	}
	return po, a
}

// methodCaseOf returns the method case of m.
func methodCaseOf(t *testing.T, m string) methodCase {
	t.Helper()
	for _, c := range methodCases {
		if string(c.method) == m {
			return c
		}
	}
	t.Fatalf("no method case %s", m)
	return methodCase{}
}

// quiet waits until the webhooks the simulators send in their own time
// have all been applied (webhooksApplied).
func (ta *testApp) quiet(t *testing.T) {
	t.Helper()
	webhooksApplied(t, ta.app, ta.db)
}

// webhooksApplied waits until neither of a's simulators has a webhook left
// to send or retry, and the inbox of db has no event pending (one whose
// application failed at intake waits for the worker).
func webhooksApplied(t testing.TB, a *app, db *storage.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if (a.stripeSim != nil && !a.stripeSim.WebhooksIdle(ctx)) || (a.rapydSim != nil && !a.rapydSim.WebhooksIdle(ctx)) {
		t.Fatalf("the simulators still sent webhooks after %s", stepTimeout)
	}
	for {
		var pending int
		if err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &pending, `SELECT COUNT(*) FROM webhook_events WHERE status = ?`, webhooks.StatusPending)
		}); err != nil {
			t.Fatalf("the inbox still had events pending after %s (%v)", stepTimeout, err)
		}
		if pending == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond) // poll: the inbox worker gives no signal
	}
}

// pathOf returns the path and query of an absolute URL of the service.
func pathOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// routePath fills a route's path template with values that reach its
// handler: real numbers for the pages and reads, unknown ones for writes.
func routePath(tpl, method string, po orderJSON) string {
	vars := regexp.MustCompile(`\{([a-z]+)(?::([^}]*))?\}`)
	return vars.ReplaceAllStringFunc(tpl, func(v string) string {
		m := vars.FindStringSubmatch(v)
		switch m[1] {
		case "number":
			switch {
			case strings.HasPrefix(tpl, "/v1/sales-orders/"):
				return po.Items[0].Number
			case method != http.MethodGet && !strings.HasPrefix(tpl, "/checkout/"):
				return "P00000000" // no such order: a write changes nothing
			}
			return po.Number
		case "action":
			return strings.Split(m[2], "|")[0]
		case "provider":
			return "stripe"
		case "id":
			if strings.HasPrefix(tpl, "/v1/users/") {
				return "U1"
			}
			return "1"
		}
		return "x" // a variable the walk does not know: any value reaches the handler
	})
}

// walkHeaders requests every route of the app's router, as a stranger, with
// each API key and with a finance session, then the simulators' pages
// (with an http public URL) and error answers, and checks every response's
// headers. It returns how many routes it walked.
func walkHeaders(t *testing.T, ta *testApp, https bool) int {
	po := ta.createOrder(t, methodCases[0])
	token := url.Values{"t": {mustQuery(t, po.CheckoutURL, "t")}}.Encode()
	staff := newWebClient(t, ta)
	_, page := staff.do(http.MethodGet, "/finance/login", nil, nil)
	if resp, body := staff.do(http.MethodPost, "/finance/login", url.Values{"csrf": formFields(t, page, "/finance/login")["csrf"],
		"key": {testFinanceKey}, "actor": {"walker"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("finance login = %d:\n%s", resp.StatusCode, body)
	}
	anon := newWebClient(t, ta)

	// Error answers the routes do not give, and the router's redirects:
	// first, while a stranger's rate limit (10/s, burst 50) is unspent by
	// the walk below.
	big := url.Values{"x": {strings.Repeat("a", server.DefaultMaxBodyBytes+1)}}
	for _, r := range []struct {
		method, path string
		form         url.Values
		header       http.Header
		status       int
	}{
		{http.MethodGet, "/nowhere", nil, nil, http.StatusNotFound},
		{http.MethodDelete, "/healthz", nil, nil, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/payment-orders/" + po.Number, nil, nil, http.StatusUnauthorized},
		{http.MethodGet, "/v1/finance/items", nil, http.Header{"Authorization": {"Bearer " + testAPIKey}}, http.StatusForbidden},
		{http.MethodPost, "/v1/payment-orders", big, http.Header{"Authorization": {"Bearer " + testAPIKey}, "Idempotency-Key": {"walk-big"}}, http.StatusRequestEntityTooLarge},
		{http.MethodGet, "/v1/../healthz", nil, nil, http.StatusNotFound},
		{http.MethodGet, "/checkout/" + po.Number + "?t=wrong", nil, nil, http.StatusNotFound},
		{http.MethodGet, "/finance/", nil, nil, http.StatusSeeOther},
	} {
		resp, body := anon.do(r.method, r.path, r.form, r.header)
		if resp.StatusCode != r.status {
			t.Errorf("%s %s = %d, want %d", r.method, r.path, resp.StatusCode, r.status)
		}
		ta.checkHeaders(t, https, fmt.Sprintf("%s %s = %d", r.method, r.path, resp.StatusCode), resp, body)
	}

	routes := 0
	err := ta.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		routes++
		methods, err := route.GetMethods()
		if err != nil { // a mount (the simulators): its own pages come below
			methods = []string{http.MethodGet, http.MethodPost}
		}
		for _, m := range methods {
			path := routePath(tpl, m, po)
			if strings.HasPrefix(tpl, "/checkout/") {
				path += "?" + token
			}
			var form url.Values
			if m != http.MethodGet && m != http.MethodHead {
				form = url.Values{}
			}
			for _, as := range []struct {
				name   string
				c      *webClient
				header http.Header
			}{
				{"a stranger", anon, nil},
				{"the marketplace", anon, http.Header{"Authorization": {"Bearer " + testAPIKey}, "Idempotency-Key": {"walk-" + m + path}}},
				{"finance", anon, http.Header{"Authorization": {"Bearer " + testFinanceKey}, "Idempotency-Key": {"walk-f-" + m + path}}},
				{"a finance session", staff, nil},
			} {
				resp, body := as.c.do(m, path, form, as.header)
				ta.checkHeaders(t, https, fmt.Sprintf("%s %s (route %s) as %s = %d", m, path, tpl, as.name, resp.StatusCode), resp, body)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if https {
		return routes // the simulators are at the https public URL, which no proxy serves here
	}

	// The simulators' hosted pages, images, vouchers and reports.
	attempts := map[string]attemptJSON{}
	for _, c := range methodCases {
		_, attempts[string(c.method)] = ta.pendingOrder(t, c)
	}
	var pages []string
	for _, a := range attempts {
		for _, u := range []string{a.NextAction.URL, a.NextAction.ImageURL} {
			if u != "" {
				pages = append(pages, pathOf(t, u))
			}
		}
	}
	boleto := pathOf(t, attempts["boleto"].NextAction.URL)
	pages = append(pages, boleto+"/voucher.pdf", "/sandbox/stripe/paynow/"+attempts["paynow"].ProviderRef, "/sandbox/stripe/reports/settlement.csv", "/sandbox/rapyd/reports/settlement.csv",
		"/sandbox/stripe/ideal/pi_nope", "/sandbox/rapyd/pay/payment_nope", "/sandbox/stripe/nowhere", "/sandbox/stripe/v1/payment_intents/pi_nope")
	slices.Sort(pages)
	for _, p := range pages {
		resp, body := anon.do(http.MethodGet, p, nil, nil)
		ta.checkHeaders(t, https, fmt.Sprintf("GET %s = %d", p, resp.StatusCode), resp, body)
	}
	return routes
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Query().Get(key) == "" {
		t.Fatalf("%q has no %s: %v", raw, key, err)
	}
	return u.Query().Get(key)
}

// TestSecurityHeadersEveryRoute walks every route registered on the real
// app's router (a route added later is walked too), the simulators' pages
// and the error answers, with an http and an https public URL.
func TestSecurityHeadersEveryRoute(t *testing.T) {
	b := storagetest.Backends(t)[0]
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			ta := startAppScheme(t, b.DSN(t), appConfig{}, nil, scheme)
			if n := walkHeaders(t, ta, scheme == "https"); n < 40 {
				t.Errorf("walked %d routes; the app has more than 40", n)
			}
		})
	}
}

// repoRoot is the module's root (the tests run in cmd/paygate).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// templateFiles returns every HTML template of the module, by path from
// its root.
func templateFiles(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "artifacts") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".html") && filepath.Base(filepath.Dir(p)) == "templates" {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			files[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTemplatesHaveNoInlineCode reads every template of the service
// (checkout, finance, the simulators' hosted pages): none has a script, an
// inline event handler, a javascript: URL or a style attribute, which the
// pages' CSP would block (or need 'unsafe-inline' for).
func TestTemplatesHaveNoInlineCode(t *testing.T) {
	files := templateFiles(t)
	for _, dir := range []string{"checkout/templates/", "financeui/templates/", "providers/stripesim/templates/", "providers/rapydsim/templates/"} {
		found := false
		for p := range files {
			found = found || strings.HasPrefix(p, dir)
		}
		if !found {
			t.Errorf("no template found in %s", dir)
		}
	}
	for p, text := range files {
		if m := inlineCode(text); m != "" {
			t.Errorf("%s has %q", p, m)
		}
	}
	// The check itself finds what it must.
	for _, bad := range []string{`<SCRIPT src="x.js">`, `<a href="#" onclick="go()">`, `<body onload = "x">`, `<a href="JavaScript:alert(1)">`,
		`<p style="color:red">`, `<img src=x onerror="alert(1)">`} {
		if inlineCode(bad) == "" {
			t.Errorf("inlineCode(%q) found nothing", bad)
		}
	}
	if m := inlineCode(`<p class="one">Press the button once. Styles come from the sheet.</p>`); m != "" {
		t.Errorf("inlineCode found %q in plain text", m)
	}
}

// formKey names a form of a template: its file and its action attribute.
func formKey(file, action string) string { return file + " " + action }

// templateForms returns every form of every template, by formKey, with
// its method and whether it carries a csrf field.
func templateForms(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	re := regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	for p, text := range templateFiles(t) {
		for _, f := range re.FindAllStringSubmatch(text, -1) {
			k := formKey(p, attr(f[1], "action"))
			csrf := "no-token"
			if strings.Contains(f[2], `name="csrf"`) {
				csrf = "token"
			}
			out[k] = append(out[k], strings.ToLower(attr(f[1], "method"))+" "+csrf)
		}
	}
	return out
}

// formCase is one form of the service, and how to try to forge it.
type formCase struct {
	name string
	key  string // formKey of its template
	path string
	// fields returns a valid form as the client's browser would send it,
	// fetching the page it is on (which may renew the client's cookies).
	fields func() url.Values
	// other returns the same form with the csrf token of another session
	// or cookie; nil for forms without a token.
	other func() url.Values
	// done reports whether the form's effect happened.
	done func() bool
	// moved, for a simulator's form, reports whether the simulator's
	// payment left pending: the simulator changes its payment before it
	// sends the webhook that tells paygate, so a payment still pending is
	// the proof that no webhook is on its way. Nil for paygate's forms,
	// whose handlers write what they write before they answer.
	moved func() bool
	// ok is the status of the valid form.
	ok int
}

// eventually polls cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCSRFEveryForm lists every form of every template and tries to forge
// each one: without its token, with a forged one, with another session's
// (or cookie's, or order's) token, and cross-site by Origin and by
// Sec-Fetch-Site. Each try is a 403 that changes nothing; the valid form
// then does what it should, so the checks could fail. The simulators'
// hosted pages carry no token (they take no cookie: whoever has a page's
// URL can press its buttons, as the sandbox API can); they refuse
// cross-site posts.
func TestCSRFEveryForm(t *testing.T) {
	// KakaoPay goes to Stripe first, so that its wallet page is tried
	// too; Samsung Pay stays on Rapyd's page.
	routes, err := routing.Parse("kakaopay=stripe,rapyd")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAppWith(t, b, appConfig{routing: routeConfig{routes: routes}})
			ctx := context.Background()
			var cases []formCase

			// The checkout's method forms, one client per buyer's browser.
			po, po2 := ta.createOrder(t, methodCases[0]), ta.createOrder(t, methodCases[0])
			buyer, other := newWebClient(t, ta), newWebClient(t, ta)
			attempts := func(n string) int {
				var got orderJSON
				ta.call(t, "GET", "/v1/payment-orders/"+n, nil, &got)
				return len(got.Attempts)
			}
			methodForm := func(c *webClient, p orderJSON) url.Values {
				_, page := c.do(http.MethodGet, pathOf(t, p.CheckoutURL), nil, nil)
				return formFields(t, page, "/checkout/"+p.Number+"/attempts")
			}
			poToken := methodForm(buyer, po)["csrf"][0] // the buyer's token of po, before po has an attempt
			cases = append(cases, formCase{
				name: "checkout: pay with a method", key: formKey("checkout/templates/checkout.html", "{{$.AttemptsURL}}"),
				path:   "/checkout/" + po.Number + "/attempts",
				fields: func() url.Values { return methodForm(buyer, po) },
				other:  func() url.Values { return methodForm(other, po) },
				done:   func() bool { return attempts(po.Number) > 0 },
				ok:     http.StatusSeeOther,
			}, formCase{
				name: "checkout: another order's token", key: formKey("checkout/templates/checkout.html", "{{$.AttemptsURL}}"),
				path:   "/checkout/" + po2.Number + "/attempts",
				fields: func() url.Values { return methodForm(buyer, po2) },
				other: func() url.Values {
					v := methodForm(buyer, po2)
					v.Set("csrf", poToken) // the same cookie's token of the other order
					return v
				},
				done: func() bool { return attempts(po2.Number) > 0 },
				ok:   http.StatusSeeOther,
			})

			// The finance login, logout and item actions.
			staff, rival := newWebClient(t, ta), newWebClient(t, ta)
			loginForm := func(c *webClient) url.Values {
				_, page := c.do(http.MethodGet, "/finance/login", nil, nil)
				v := formFields(t, page, "/finance/login")
				v.Set("key", testFinanceKey)
				v.Set("actor", "carol")
				return v
			}
			signedIn := func(c *webClient) bool {
				resp, _ := c.do(http.MethodGet, "/finance/", nil, nil)
				return resp.StatusCode == http.StatusOK
			}
			cases = append(cases, formCase{
				name: "finance: sign in", key: formKey("financeui/templates/login.html", "/finance/login"),
				path:   "/finance/login",
				fields: func() url.Values { return loginForm(staff) },
				other:  func() url.Values { v := loginForm(staff); v.Set("csrf", loginForm(rival)["csrf"][0]); return v },
				done:   func() bool { return signedIn(staff) },
				ok:     http.StatusSeeOther,
			})
			// Then signed in: the logout and the items' forms.
			alice, bob := newWebClient(t, ta), newWebClient(t, ta)
			for _, c := range []*webClient{alice, bob} {
				if resp, body := c.do(http.MethodPost, "/finance/login", loginForm(c), nil); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign in = %d:\n%s", resp.StatusCode, body)
				}
			}
			var item int64
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.LatePayment, Reference: "att_csrf_late",
					PaymentOrder: po.Number, Provider: "stripe", Amount: paygate.New(500, paygate.EUR), Description: "paid late"}); err != nil {
					return err
				}
				return tx.Get(ctx, &item, `SELECT id FROM finance_items WHERE reference = 'att_csrf_late'`)
			})
			if err != nil {
				t.Fatal(err)
			}
			sessionCSRF := func(c *webClient) string {
				_, page := c.do(http.MethodGet, "/finance/items", nil, nil)
				return formFields(t, page, "/finance/logout")["csrf"][0]
			}
			itemOpen := func() bool {
				var status string
				ta.db.View(ctx, func(tx *storage.Tx) error {
					return tx.Get(ctx, &status, `SELECT status FROM finance_items WHERE id = ?`, item)
				})
				return status == string(finance.Open)
			}
			for _, a := range []struct{ action, tplAction string }{
				{"resolve-dispute", "/finance/items/{{$id}}/resolve-dispute"},
				{"settle", "/finance/items/{{.ID}}/settle"},
				{"refund", "/finance/items/{{.ID}}/refund"},
				{"payout", "/finance/items/{{.ID}}/payout"},
				{"resolve", "/finance/items/{{.ID}}/resolve"},
			} {
				form := func(csrf string) url.Values {
					return url.Values{"csrf": {csrf}, "reason": {"csrf test"}, "amount": {"5.00"},
						"sales_order": {po.Items[0].Number}, "payment_ref": {"pi_csrf"}, "beneficiary": {"csrf test"}, "bank_reference": {"NL91"}}
				}
				fc := formCase{
					name: "finance: item " + a.action, key: formKey("financeui/templates/items.html", a.tplAction),
					path:   fmt.Sprintf("/finance/items/%d/%s", item, a.action),
					fields: func() url.Values { return form(sessionCSRF(alice)) },
					other:  func() url.Values { return form(sessionCSRF(bob)) },
					done:   func() bool { return !itemOpen() },
				}
				if a.action == "resolve" { // the only one whose valid form succeeds on this item
					fc.ok = http.StatusSeeOther
				}
				cases = append(cases, fc)
			}
			cases = append(cases, formCase{
				name: "finance: sign out", key: formKey("financeui/templates/layout.html", "/finance/logout"),
				path:   "/finance/logout",
				fields: func() url.Values { return url.Values{"csrf": {sessionCSRF(alice)}} },
				other:  func() url.Values { return url.Values{"csrf": {sessionCSRF(bob)}} },
				done:   func() bool { return !signedIn(alice) },
				ok:     http.StatusSeeOther,
			})

			// The simulators' hosted pages: one pending payment per form.
			sim := newWebClient(t, ta)
			for _, f := range []struct {
				method, action, file, tplAction string
			}{
				{"ideal", "approve", "providers/stripesim/templates/ideal.html", "{{.ID}}/approve"},
				{"ideal", "decline", "providers/stripesim/templates/ideal.html", "{{.ID}}/decline"},
				{"paynow", "approve", "providers/stripesim/templates/paynow.html", "{{.ID}}/approve"},
				{"paynow", "decline", "providers/stripesim/templates/paynow.html", "{{.ID}}/decline"},
				{"boleto", "pay", "providers/stripesim/templates/boleto.html", "{{.ID}}/pay"},
				{"kakaopay", "approve", "providers/stripesim/templates/wallet.html", "{{.ID}}/approve"},
				{"kakaopay", "decline", "providers/stripesim/templates/wallet.html", "{{.ID}}/decline"},
				{"samsungpay", "approve", "providers/rapydsim/templates/pay.html", "{{.ID}}/approve"},
				{"samsungpay", "decline", "providers/rapydsim/templates/pay.html", "{{.ID}}/decline"},
			} {
				p, a := ta.pendingOrder(t, methodCaseOf(t, f.method))
				page := pathOf(t, a.NextAction.URL)
				if f.method == "paynow" { // the bank app's page, which the API does not name
					page = "/sandbox/stripe/paynow/" + a.ProviderRef
				}
				u, _ := url.Parse(page)
				action := u.Path[strings.LastIndex(u.Path, "/")+1:] + "/" + f.action // "pi_…/approve"
				cases = append(cases, formCase{
					name: "simulator: " + f.method + " " + f.action, key: formKey(f.file, f.tplAction),
					path: u.Path + "/" + f.action,
					fields: func() url.Values {
						_, body := sim.do(http.MethodGet, page, nil, nil)
						v := formFields(t, body, action)
						if f.method == "samsungpay" && f.action == "approve" {
							v.Set("phone", "010-1234-5678")
						}
						return v
					},
					done: func() bool {
						var got orderJSON
						ta.call(t, "GET", "/v1/payment-orders/"+p.Number, nil, &got)
						return got.Status != "pending" || got.Attempts[len(got.Attempts)-1].Status != "pending"
					},
					moved: func() bool {
						prov, err := ta.app.checkout.Provider(checkout.Attempt{ID: a.ID, Provider: a.Provider})
						if err != nil {
							t.Fatal(err)
						}
						got, err := prov.GetPayment(ctx, a.ProviderRef)
						if err != nil {
							t.Fatalf("%s payment %s: %v", a.Provider, a.ProviderRef, err)
						}
						return got.Status != providers.StatusPending
					},
				})
			}

			// Every form of every template is one of the cases, and each
			// case's form is in a template.
			forms := templateForms(t)
			keys := map[string]bool{}
			for _, c := range cases {
				keys[c.key] = true
				if forms[c.key] == nil {
					t.Errorf("case %q: no template has the form %s", c.name, c.key)
				}
			}
			for k, kinds := range forms {
				for _, kind := range kinds {
					switch {
					case !keys[k]:
						t.Errorf("form %s (%s) is not tried by TestCSRFEveryForm", k, kind)
					case !strings.HasPrefix(kind, "post "):
						t.Errorf("form %s is %q, want method post", k, kind)
					case !strings.HasPrefix(k, "providers/") && kind != "post token":
						t.Errorf("form %s carries no csrf field", k)
					}
				}
			}

			// The simulators' webhooks of the attempts made above (the
			// intent's creation) arrive in their own time: let them land
			// before counting what each forged form changes.
			ta.quiet(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					client := buyer
					switch {
					case strings.HasPrefix(c.name, "finance: sign in"):
						client = staff
					case strings.HasPrefix(c.name, "finance"):
						client = alice
					case strings.HasPrefix(c.name, "simulator"):
						client = sim
					}
					type attack struct {
						name   string
						form   func() url.Values
						header http.Header
					}
					without := func(f func() url.Values, set string) func() url.Values {
						return func() url.Values {
							v := f()
							if set == "-" {
								v.Del("csrf")
							} else {
								v.Set("csrf", set)
							}
							return v
						}
					}
					var attacks []attack
					if c.other != nil {
						attacks = append(attacks,
							attack{"without the token", without(c.fields, "-"), nil},
							attack{"with an empty token", without(c.fields, ""), nil},
							attack{"with a forged token", without(c.fields, "Zm9yZ2VkLXRva2VuLWZvcmdlZC10b2tlbi1mb3JnZWQ"), nil},
							attack{"with another session's token", c.other, nil},
						)
					}
					attacks = append(attacks,
						attack{"from another origin", c.fields, http.Header{"Origin": {evil}, "Sec-Fetch-Site": {""}}},
						attack{"cross-site", c.fields, http.Header{"Origin": {"null"}, "Sec-Fetch-Site": {"cross-site"}}},
						attack{"from a sibling site", c.fields, http.Header{"Origin": {"https://shop." + strings.TrimPrefix(ta.origin(), "http://")}, "Sec-Fetch-Site": {"same-site"}}},
					)
					for _, a := range attacks {
						form := a.form()
						before := ta.fingerprint(t)
						resp, body := client.do(http.MethodPost, c.path, form, a.header)
						if resp.StatusCode != http.StatusForbidden {
							t.Errorf("%s = %d, want 403:\n%s", a.name, resp.StatusCode, body)
						}
						ta.checkLocation(t, a.name, resp)
						if c.moved != nil && c.moved() {
							t.Fatalf("%s moved the simulator's payment: its webhook is on its way", a.name)
						}
						if after := ta.fingerprint(t); after != before || c.done() {
							t.Fatalf("%s changed something: %s before, %s after (done %t)", a.name, before, after, c.done())
						}
					}
					if c.ok == 0 && !strings.HasPrefix(c.name, "simulator") {
						return
					}
					// The valid form works, so the refusals above were the token's doing.
					resp, body := client.do(http.MethodPost, c.path, c.fields(), nil)
					if c.ok != 0 && resp.StatusCode != c.ok {
						t.Fatalf("the valid form = %d, want %d:\n%s", resp.StatusCode, c.ok, body)
					}
					if resp.StatusCode >= 400 {
						t.Fatalf("the valid form = %d:\n%s", resp.StatusCode, body)
					}
					ta.checkLocation(t, "the valid form", resp)
					if !eventually(stepTimeout, c.done) {
						t.Fatalf("the valid form (%d) did nothing", resp.StatusCode)
					}
					ta.quiet(t)
				})
			}
		})
	}
}

// TestCookieFlags walks through the checkout and the finance pages with an
// http and an https public URL and checks every cookie the service sets:
// HttpOnly, SameSite, Secure exactly when the public URL is https, scoped
// to its pages' path, and host-only. SameSite is Strict but for the
// checkout's csrf cookie, which is Lax: buyers arrive at the checkout from
// the shop's site or an email, and a Strict cookie would not come with that
// first request, so each arrival would replace the cookie and void the
// forms of the buyer's other checkout tabs. Lax cookies go with top-level
// GETs only, never with another site's POST.
//
// The names have no __Host- prefix: it demands Path=/, and the cookies are
// scoped to /checkout/ and /finance/ so that neither part of the service
// gets the other's. What __Host- guards against, a cookie planted by a
// sibling site, cannot forge a form here: every token is an HMAC by the
// service of the cookie it goes with, and a form posted from a sibling site
// is refused by its Sec-Fetch-Site or Origin (TestCSRFEveryForm).
func TestCookieFlags(t *testing.T) {
	b := storagetest.Backends(t)[0]
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			ta := startAppScheme(t, b.DSN(t), appConfig{}, nil, scheme)
			ctx := context.Background()

			// A buyer: the checkout page, a refused method, the return page.
			buyer := newWebClient(t, ta)
			po := ta.createOrder(t, methodCases[0])
			_, page := buyer.do(http.MethodGet, pathOf(t, po.CheckoutURL), nil, nil)
			form := formFields(t, page, "/checkout/"+po.Number+"/attempts")
			form.Set("method", "nope")
			if resp, body := buyer.do(http.MethodPost, "/checkout/"+po.Number+"/attempts", form, nil); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("an unknown method = %d, want 400:\n%s", resp.StatusCode, body)
			}
			fresh := newWebClient(t, ta) // a browser without the cookie, refused
			if resp, _ := fresh.do(http.MethodPost, "/checkout/"+po.Number+"/attempts", form, nil); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("a form without the cookie = %d, want 403", resp.StatusCode)
			}
			buyer.do(http.MethodGet, strings.Replace(pathOf(t, po.CheckoutURL), "?", "/return?", 1), nil, nil)

			// Finance staff: a failed and a good login, an action that
			// leaves a message for the next page, that page, the logout.
			staff := newWebClient(t, ta)
			_, page = staff.do(http.MethodGet, "/finance/login", nil, nil)
			staff.do(http.MethodPost, "/finance/login", url.Values{"csrf": formFields(t, page, "/finance/login")["csrf"], "key": {"wrong"}, "actor": {"dave"}}, nil)
			_, page = staff.do(http.MethodGet, "/finance/login", nil, nil)
			if resp, body := staff.do(http.MethodPost, "/finance/login", url.Values{"csrf": formFields(t, page, "/finance/login")["csrf"],
				"key": {testFinanceKey}, "actor": {"dave"}}, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login = %d:\n%s", resp.StatusCode, body)
			}
			var item int64
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.AmountMismatch, Reference: "evt_cookie",
					PaymentOrder: po.Number, Provider: "stripe", Amount: paygate.New(1, paygate.EUR), Description: "cookie walk"}); err != nil {
					return err
				}
				return tx.Get(ctx, &item, `SELECT id FROM finance_items WHERE reference = 'evt_cookie'`)
			})
			if err != nil {
				t.Fatal(err)
			}
			_, page = staff.do(http.MethodGet, "/finance/items", nil, nil)
			csrf := formFields(t, page, "/finance/logout")["csrf"]
			if resp, body := staff.do(http.MethodPost, fmt.Sprintf("/finance/items/%d/resolve", item), url.Values{"csrf": csrf, "reason": {"walk"}}, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("resolve = %d:\n%s", resp.StatusCode, body)
			}
			if _, page = staff.do(http.MethodGet, "/finance/items", nil, nil); !strings.Contains(page, "marked resolved") {
				t.Fatalf("the items page does not show the action's message:\n%s", page)
			}
			if resp, _ := staff.do(http.MethodPost, "/finance/logout", url.Values{"csrf": csrf}, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout = %d", resp.StatusCode)
			}

			names := map[string]bool{}
			for _, s := range append(buyer.seen, staff.seen...) {
				c, what := s.cookie, s.where+": cookie "+s.cookie.Name
				names[c.Name] = true
				if !c.HttpOnly {
					t.Errorf("%s is not HttpOnly", what)
				}
				if c.Secure != (scheme == "https") {
					t.Errorf("%s: Secure %t with an %s public URL", what, c.Secure, scheme)
				}
				switch {
				case c.SameSite == http.SameSiteStrictMode:
				case c.SameSite == http.SameSiteLaxMode && c.Name == "paygate_csrf":
				default:
					t.Errorf("%s: SameSite %v, want Strict (Lax for the checkout's csrf cookie)", what, c.SameSite)
				}
				if c.Domain != "" {
					t.Errorf("%s: Domain %q, want a host-only cookie", what, c.Domain)
				}
				if want := map[bool]string{true: "/checkout/", false: "/finance/"}[strings.HasPrefix(s.where, "GET /checkout") || strings.HasPrefix(s.where, "POST /checkout")]; c.Path != want {
					t.Errorf("%s: Path %q, want %q", what, c.Path, want)
				}
			}
			for _, n := range []string{"paygate_csrf", "paygate_finance_csrf", "paygate_finance_session", "paygate_finance_flash"} {
				if !names[n] {
					t.Errorf("the walk saw no %s cookie; it saw %v", n, names)
				}
			}
		})
	}
}

// redirectTries are return URLs a shop's compromised backend, or a
// tampered request, could try; none is on the test app's allow-list
// (shop.example).
var redirectTries = []string{
	"https://evil.example", "//evil.example", "//shop.example", "evil.example/shop.example",
	"https://shop.example@evil.example", `https://evil.example\@shop.example`, `https://shop.example\@evil.example`,
	"https://shop.example.evil.example", "https://shop.example.evil.example:443/", "http://127.0.0.1.nip.io",
	"https://evilshop.example", "https://shop.example./", "https://shop.example:0/", "https://shop.example:65536/",
	"javascript:alert(1)", "javascript://shop.example/%0aalert(1)", "data:text/html,<script>alert(1)</script>",
	"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "file:///etc/passwd",
	"https://shop.exa\tmple/", "https://shop.example\n.evil.example/", " https://shop.example/",
	"https://%73hop.example/", "https://shop%2eexample/", "https://evil.example%2f@shop.example/",
	"https://shοp.example/", // Greek omicron
	"https://xn--shp-jzb.example/", "https://ｓｈｏｐ.example/", "https://shop。example/",
}

// TestOpenRedirect tries return URLs on payment order creation (400 and
// nothing stored), then every place the service redirects or links a
// browser: none may send it to a host that is neither the service (and its
// simulators, the sandbox's gateways) nor the shop of the allow-list.
func TestOpenRedirect(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			item := []map[string]any{{"seller_id": "S1", "amount": "1.00", "description": "sword"}}
			before := ta.fingerprint(t)
			for _, raw := range redirectTries {
				var e apiError
				status := ta.call(t, "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item, "return_url": raw}, &e)
				if status != http.StatusBadRequest || e.Error.Code != paygate.EINVALID || !strings.Contains(e.Error.Message, "return_url") {
					t.Errorf("return_url %q = %d %+v, want 400 invalid about return_url", raw, status, e)
				}
			}
			if after := ta.fingerprint(t); after != before {
				t.Fatalf("refused orders stored something: %s before, %s after", before, after)
			}
			for _, raw := range []string{"HTTPS://SHOP.EXAMPLE/done", "https://shop.example:8443/done?x=1#y", "http://Shop.Example/"} {
				var po orderJSON
				if status := ta.call(t, "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1", "currency": "EUR", "items": item, "return_url": raw}, &po); status != http.StatusCreated {
					t.Errorf("return_url %q = %d, want 201", raw, status)
				}
			}

			// The checkout pages, whatever the query adds, link only to
			// the service and the shop, and redirect only to the service.
			c := newWebClient(t, ta)
			po, a := ta.pendingOrder(t, methodCases[0])
			page := pathOf(t, po.CheckoutURL)
			ret := strings.Replace(page, "?", "/return?", 1)
			evilQuery := "&return_url=" + url.QueryEscape(evil) + "&redirect=" + url.QueryEscape(evil) + "&next=%2F%2Fevil.example&go=1&url=" + url.QueryEscape(evil)
			probes := []string{page + evilQuery, ret + evilQuery, ret + "&payment_intent=pi_x&redirect_status=succeeded&return_url=//evil.example",
				"/finance/login?next=" + url.QueryEscape(evil), "/finance/?return_to=%2F%2Fevil.example", "/finance/login?redirect=//evil.example",
				"//evil.example/", "//evil.example/%2e%2e", "/%2F%2Fevil.example", "/%5Cevil.example", "/..//evil.example", "/./%5Cevil.example/",
				"/checkout/..//evil.example", "/checkout/%2F%2Fevil.example", "/finance/..//evil.example/", "/finance//evil.example",
				"/sandbox/stripe//evil.example", "/sandbox/stripe/..//evil.example", "/sandbox/stripe/ideal/..//evil.example",
				"/sandbox/stripe/ideal/%2F%2Fevil.example", "/sandbox/rapyd/pay/..//evil.example", "/sandbox/rapyd//evil.example/",
				pathOf(t, a.NextAction.URL) + "?return_url=" + url.QueryEscape(evil)}
			for _, p := range probes {
				resp, body := c.do(http.MethodGet, p, nil, nil)
				ta.checkHeaders(t, false, fmt.Sprintf("GET %s = %d", p, resp.StatusCode), resp, body)
			}
			// An order whose return_url is not (or no longer) on the
			// allow-list gets no link to it.
			stale := ta.createOrder(t, methodCases[0])
			if err := ta.db.Update(context.Background(), func(tx *storage.Tx) error {
				_, err := tx.Exec(context.Background(), `UPDATE payment_orders SET return_url = ? WHERE number = ?`, evil+"/phish", stale.Number)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			stalePage := strings.Replace(pathOf(t, stale.CheckoutURL), "?", "/return?", 1)
			resp, body := c.do(http.MethodGet, stalePage, nil, nil)
			ta.checkHeaders(t, false, "GET "+stalePage, resp, body)
			if resp.StatusCode != http.StatusOK || strings.Contains(body, "evil.example") {
				t.Errorf("GET %s (a stale return_url) = %d:\n%s", stalePage, resp.StatusCode, body)
			}

			// The finance pages' redirects go to fixed pages of ours.
			staff := newWebClient(t, ta)
			_, login := staff.do(http.MethodGet, "/finance/login?next="+url.QueryEscape(evil), nil, nil)
			resp, _ = staff.do(http.MethodPost, "/finance/login?next="+url.QueryEscape(evil), url.Values{"csrf": formFields(t, login, "/finance/login")["csrf"],
				"key": {testFinanceKey}, "actor": {"erin"}, "next": {evil}, "return_to": {"//evil.example"}}, http.Header{"Referer": {evil}})
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/finance/" {
				t.Errorf("login = %d to %q, want 303 to /finance/", resp.StatusCode, loc)
			}
			_, items := staff.do(http.MethodGet, "/finance/items", nil, nil)
			resp, _ = staff.do(http.MethodPost, "/finance/logout?next="+url.QueryEscape(evil), url.Values{"csrf": formFields(t, items, "/finance/logout")["csrf"], "next": {evil}}, nil)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/finance/login" {
				t.Errorf("logout = %d to %q, want 303 to /finance/login", resp.StatusCode, loc)
			}

			// The checkout's method form redirects to our own page; the
			// gateways' pages send the buyer back to our return page only,
			// whatever the form or the query adds.
			form := formFields(t, func() string { _, p := c.do(http.MethodGet, page+"&change=1", nil, nil); return p }(), "/checkout/"+po.Number+"/attempts")
			form.Set("method", "ideal")
			form.Set("return_url", evil)
			resp, _ = c.do(http.MethodPost, "/checkout/"+po.Number+"/attempts?return_url="+url.QueryEscape(evil), form, nil)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, ta.publicURL+"/checkout/"+po.Number+"?") {
				t.Errorf("the method form = %d to %q, want 303 to our checkout page", resp.StatusCode, loc)
			}
			for _, m := range []string{"ideal", "kakaopay", "samsungpay"} {
				for _, action := range []string{"approve", "decline"} {
					p, a := ta.pendingOrder(t, methodCaseOf(t, m))
					u, _ := url.Parse(a.NextAction.URL)
					resp, _ := c.do(http.MethodPost, u.Path+"/"+action+"?return_url="+url.QueryEscape(evil)+"&complete_payment_url="+url.QueryEscape(evil),
						url.Values{"return_url": {evil}, "complete_payment_url": {evil}, "error_payment_url": {evil}, "phone": {"010-1234-5678"}}, nil)
					want := ta.publicURL + "/checkout/" + p.Number + "/return?"
					if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, want) {
						t.Errorf("%s %s at the gateway = %d to %q, want 303 to %s…", m, action, resp.StatusCode, loc, want)
					}
				}
			}
		})
	}
}
