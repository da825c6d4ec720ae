package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage/storagetest"
)

// The buyer's side, in a real headless Chromium: open the checkout link,
// choose a method, pay at the simulated gateway, bank app or bank, and see
// the order paid. Screenshots of every step go to PAYGATE_ARTIFACTS.

const (
	chromiumPath = "/usr/bin/chromium"
	envArtifacts = "PAYGATE_ARTIFACTS"

	// The phone viewport of the flows, and the desktop one of extra
	// screenshots.
	phoneWidth, phoneHeight     = 390, 844
	desktopWidth, desktopHeight = 1280, 900

	stepTimeout = 30 * time.Second // one step: a page to load, a payment to settle
)

// requireChromium skips the test without Chromium, unless CI is set: then
// it fails.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %s is missing: the browser tests must run (scripts/test.sh installs chromium)", chromiumPath)
		}
		t.Skipf("%s is missing; install Debian's chromium to run the browser tests", chromiumPath)
	}
}

// newBrowser starts a headless Chromium for the test and returns a context
// whose children are tabs of it. Start it after the app: cleanups run last
// first, so the browser, and its idle and preconnected sockets, are gone
// before the server shuts down (which would otherwise wait 5 s for them).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	requireChromium(t)
	requireKoreanFont(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		// Loopback only: no proxy, and no name resolves (the service and
		// its simulators are at 127.0.0.1).
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		t.Logf("chromedp: "+format, args...)
	}))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return bctx
}

// requireKoreanFont fails the test unless fontconfig, which Chromium asks,
// has a font for Korean: without one the KakaoPay and Samsung Pay pages
// render their Korean text as empty boxes in the tests and screenshots
// (scripts/test.sh installs fonts-noto-cjk).
func requireKoreanFont(t *testing.T) {
	t.Helper()
	out, err := exec.Command("fc-list", ":lang=ko", "family").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("no font for Korean (fc-list :lang=ko: %v %q): install fonts-noto-cjk, as scripts/test.sh does", err, out)
	}
}

// tab is one browser tab of a test, with its screenshots.
type tab struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	prefix string // "sqlite-ideal"
}

func newTab(t *testing.T, browser context.Context, prefix string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, dir: artifactsDir(t), prefix: prefix}
}

// artifactsDir is PAYGATE_ARTIFACTS, or the repository's
// artifacts/screenshots (the test runs in cmd/paygate).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(wd, "..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshots folder: %v", err)
	}
	return dir
}

// do runs browser steps with a time limit.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail("%s: %v", what, err)
	}
}

// fail takes a screenshot of the page as it is, then fails the test.
func (tb *tab) fail(format string, args ...any) {
	tb.t.Helper()
	tb.shot("failed")
	tb.t.Fatalf(format+"\npage %s:\n%s", append(args, tb.location(), tb.text())...)
}

func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// text is the page's visible text, or "" while a page loads.
func (tb *tab) text() string {
	s, _ := eval[string](tb, `document.body ? document.body.innerText : ""`)
	return s
}

func eval[T any](tb *tab, js string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// waitFor polls a JavaScript condition until it is true, across page loads
// (the meta refresh of a waiting page, a redirect).
func (tb *tab) waitFor(what, js string) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		if ok, err := eval[bool](tb, js); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail("waited %s for %s", stepTimeout, what)
		}
		time.Sleep(30 * time.Millisecond) // poll: an evaluation is a round trip to the page
	}
}

// waitText waits until the page's text contains every one of want.
func (tb *tab) waitText(want ...string) {
	tb.t.Helper()
	var conds []string
	for _, w := range want {
		conds = append(conds, fmt.Sprintf("document.body.innerText.includes(%q)", w))
	}
	tb.waitFor(fmt.Sprintf("the text %q", want), "!!document.body && document.readyState === 'complete' && "+strings.Join(conds, " && "))
}

// shot saves a full-page PNG as <prefix>-<name>.png.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(tb.dir, tb.prefix+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Errorf("save screenshot: %v", err)
	}
}

// desktopShot saves a screenshot at the desktop viewport, then goes back
// to the phone's.
func (tb *tab) desktopShot(name string) {
	tb.t.Helper()
	tb.do("desktop viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	tb.shot(name + "-desktop")
	tb.do("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

func (tb *tab) navigate(u string) {
	tb.t.Helper()
	tb.do("open "+u, chromedp.Navigate(u))
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// checkStyled checks the inline style sheet applied: the page's CSP allows
// it by its hash.
func (tb *tab) checkStyled() {
	tb.t.Helper()
	if bg, err := eval[string](tb, `getComputedStyle(document.body).backgroundColor`); err != nil || bg != "rgb(243, 245, 248)" {
		tb.fail("the page's style sheet did not apply: body background %q, %v", bg, err)
	}
	if w, err := eval[int](tb, `document.documentElement.scrollWidth`); err != nil || w > phoneWidth {
		tb.fail("the page is %d px wide on a %d px phone: it scrolls sideways (%v)", w, phoneWidth, err)
	}
}

func TestBrowserPayEachMethod(t *testing.T) {
	requireChromium(t)
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			browser := newBrowser(t)
			for _, c := range methodCases {
				t.Run(string(c.method), func(t *testing.T) {
					tb := newTab(t, browser, b.Name+"-"+string(c.method))
					watch := watchTab(t, tb)
					po := ta.createOrder(t, c)
					mi, _ := providers.Lookup(c.method)

					tb.navigate(po.CheckoutURL)
					tb.waitText(po.Number, "Choose how to pay", paygate.GroupDigits(po.Amount)+" "+po.Currency)
					tb.checkStyled()
					tb.shot("1-checkout")
					tb.desktopShot("1-checkout")

					switch mi.Action {
					case providers.ActionRedirect:
						tb.payAtGateway(ta, po, c.method)
					case providers.ActionQR:
						tb.payWithQR(ta, po)
					case providers.ActionVoucher:
						tb.payBoleto(ta, po)
					}

					// The page says so, and the API agrees.
					text := tb.text()
					if !strings.Contains(text, "Payment received") || !strings.Contains(text, po.Number+" is paid") {
						tb.fail("the final page does not say the order is paid")
					}
					var got orderJSON
					ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
					if got.Status != "paid" {
						t.Fatalf("the page says paid, the API says %s", got.Status)
					}
					// No page on the way broke its CSP or logged an error.
					if p := watch.take(); len(p) > 0 {
						t.Errorf("the pages reported %d problems:\n%s", len(p), strings.Join(p, "\n"))
					}
				})
			}
		})
	}
}

// payAtGateway chooses a redirect method, approves at the simulator's
// hosted page, and lands on our return page, which shows the order paid.
func (tb *tab) payAtGateway(ta *testApp, po orderJSON, m providers.Method) {
	tb.t.Helper()
	tb.click("#pay-" + string(m))
	approve := `form[action$="/approve"] button`
	tb.waitFor("the gateway's page", fmt.Sprintf(`location.href.startsWith(%q) && !!document.querySelector(%q)`, ta.url+"/sandbox/", approve))
	if m == providers.SamsungPay {
		tb.do("type the phone number", chromedp.SetValue(chromedp.CSS("#phone"), "010-1234-5678"))
	}
	tb.shot("2-gateway")
	tb.click(approve)
	tb.waitFor("our return page", fmt.Sprintf(`location.href.startsWith(%q)`, ta.url+"/checkout/"+po.Number+"/return?"))
	tb.waitText("Payment received")
	tb.shot("3-return-paid")
	tb.desktopShot("3-return-paid")
}

// payWithQR shows the PayNow code on our page, plays the buyer's bank app
// through the sandbox API, and waits for the page to refresh to paid.
func (tb *tab) payWithQR(ta *testApp, po orderJSON) {
	tb.t.Helper()
	tb.click("#pay-paynow")
	tb.waitText("Scan to pay", "Open in your bank app", "Waiting for your payment")
	tb.waitFor("the QR image to load", `(() => { const i = document.querySelector("#qr-image"); return !!i && i.complete && i.naturalWidth > 0 })()`)
	if src, _ := eval[string](tb, `document.querySelector("#qr-image").src`); !strings.HasPrefix(src, ta.url+"/sandbox/stripe/qr/") {
		tb.fail("QR image at %q, want the simulator's", src)
	}
	tb.shot("2-qr")
	tb.desktopShot("2-qr")
	var out map[string]string
	if status := ta.call(tb.t, "POST", "/sandbox/payment-orders/"+po.Number+"/approve", nil, &out); status != 200 {
		tb.t.Fatalf("sandbox approve = %d %v", status, out)
	}
	tb.waitText("Payment received") // the page refreshes itself every 3 s
	tb.shot("3-paid")
}

// payBoleto fills Boleto's form, gets the voucher, pays it at the
// simulated bank, and opens the checkout page again.
func (tb *tab) payBoleto(ta *testApp, po orderJSON) {
	tb.t.Helper()
	for sel, v := range map[string]string{
		"#name": "Maria Silva", "#email": "maria@example.com", "#tax_id": "529.982.247-25",
		"#line1": "Av. Paulista 1000", "#city": "São Paulo", "#state": "SP", "#postal_code": "01310-100",
	} {
		tb.do("fill "+sel, chromedp.SetValue(chromedp.CSS(sel), v))
	}
	tb.shot("2-boleto-form")
	tb.click("#pay-boleto")
	tb.waitText("Boleto number", "Open the boleto voucher", "Pay by")
	number, err := eval[string](tb, `document.querySelector("#voucher-number").innerText`)
	if err != nil || len(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, number)) != 47 {
		tb.fail("voucher number %q (%v), want a 47-digit digitable line", number, err)
	}
	tb.shot("3-voucher")
	tb.desktopShot("3-voucher")

	tb.click("#voucher-link")
	pay := `form[action$="/pay"] button`
	tb.waitFor("the simulator's voucher page", fmt.Sprintf(`location.href.startsWith(%q) && !!document.querySelector(%q)`, ta.url+"/sandbox/stripe/boleto/", pay))
	tb.shot("4-bank-voucher")
	tb.click(pay)
	tb.waitFor("the bank's answer", `!document.querySelector('form[action$="/pay"]') || document.body.innerText.toLowerCase().includes("paid")`)
	tb.shot("5-bank-paid")

	tb.navigate(po.CheckoutURL)
	tb.waitText("Payment received")
	tb.shot("6-paid")
	tb.desktopShot("6-paid")
}

func TestBrowserWrongTokenIsNotFound(t *testing.T) {
	requireChromium(t)
	b := storagetest.Backends(t)[0]
	ta := startApp(t, b)
	browser := newBrowser(t)
	po := ta.createOrder(t, methodCases[0])
	u, err := url.Parse(po.CheckoutURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	// Change the token's first character (to one it is not: the token is
	// random, and could start with any).
	first := "x"
	if strings.HasPrefix(q.Get("t"), first) {
		first = "y"
	}
	q.Set("t", first+q.Get("t")[1:])
	u.RawQuery = q.Encode()

	tb := newTab(t, browser, b.Name+"-wrong-token")
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u.String()))
	var le *chromedp.LoadError
	if err != nil && !errors.As(err, &le) {
		t.Fatal(err)
	}
	if resp == nil || resp.Status != 404 {
		tb.fail("a wrong token = %+v, want 404", resp)
	}
	tb.waitText("Page not found", "This checkout link is not valid")
	if strings.Contains(tb.text(), po.Number) {
		tb.fail("the not-found page names the order")
	}
	tb.checkStyled()
	tb.shot("404")
}

func TestBrowserCrossSiteFormIsRefused(t *testing.T) {
	// A page on another origin that knows the checkout link (it leaked)
	// posts the attempt form from the buyer's browser, which holds our
	// csrf cookie: the service refuses it, and nothing changes.
	requireChromium(t)
	b := storagetest.Backends(t)[0]
	ta := startApp(t, b)
	po := ta.createOrder(t, methodCases[0])
	u, _ := url.Parse(po.CheckoutURL)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/checkout/%s/attempts">
<input type="hidden" name="t" value="%s"><input type="hidden" name="csrf" value="guess"><input type="hidden" name="method" value="ideal">
<button id="win" type="submit">Claim your prize</button></form>`, ta.url, po.Number, html.EscapeString(u.Query().Get("t")))
	}))
	t.Cleanup(attacker.Close)
	browser := newBrowser(t)

	tb := newTab(t, browser, b.Name+"-cross-site")
	tb.navigate(po.CheckoutURL) // the buyer's browser now holds the cookie
	tb.waitText("Choose how to pay")
	tb.navigate(attacker.URL)
	tb.click("#win")
	tb.waitText("Request refused")
	tb.shot("403")
	var got orderJSON
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
	if got.Status != "created" || len(got.Attempts) != 0 {
		t.Fatalf("after a cross-site form: order %s with %d attempts, want created with none", got.Status, len(got.Attempts))
	}
}

// pageWatch collects what a tab's pages report: the browser's warnings and
// errors but the network's (a Content-Security-Policy violation is one,
// from the "security" source), console calls, uncaught exceptions, and the
// Referer of every request.
type pageWatch struct {
	mu       sync.Mutex
	problems []string
	referers map[string]string // by request URL; "" for none
}

func watchTab(t *testing.T, tb *tab) *pageWatch {
	t.Helper()
	w := &pageWatch{referers: map[string]string{}}
	err := chromedp.Listen(tb.ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			// Network failures (the favicon the service has none of, an
			// image cut short by a page's refresh) are not the page's doing.
			if e.Entry.Source == cdplog.EntrySourceNetwork {
				return
			}
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning || e.Entry.Source == cdplog.EntrySourceSecurity {
				w.problems = append(w.problems, fmt.Sprintf("log %s %s: %s (%s)", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		case *cdpruntime.EventConsoleAPICalled:
			w.problems = append(w.problems, "console."+string(e.Type))
		case *cdpruntime.EventExceptionThrown:
			w.problems = append(w.problems, "exception: "+e.ExceptionDetails.Text)
		case *network.EventRequestWillBeSent:
			ref, _ := e.Request.Headers["Referer"].(string)
			w.referers[e.Request.URL] = ref
		}
	})
	if err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	return w
}

// take returns and forgets the problems seen so far.
func (w *pageWatch) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems = nil
	return p
}

// referer returns the Referer of the first request whose URL starts with
// prefix, and whether there was one.
func (w *pageWatch) referer(prefix string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for u, ref := range w.referers {
		if strings.HasPrefix(u, prefix) {
			return ref, true
		}
	}
	return "", false
}

// TestBrowserNoCSPViolation pays with iDEAL in headless Chromium, from the
// checkout page through the simulated bank's page back to the return page,
// and watches the browser's console: no page breaks its
// Content-Security-Policy (the inline style sheets are allowed by their
// hashes, and nothing else is inline), and the checkout link's token never
// reaches the gateway in a Referer. A page that does break its policy is
// shown first, to prove the watch sees it.
func TestBrowserNoCSPViolation(t *testing.T) {
	requireChromium(t)
	b := storagetest.Backends(t)[0]
	ta := startApp(t, b)
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pixel" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>control</title><style>body{color:red}</style><p style="color:blue">x</p><img src="/pixel" alt="">`)
	}))
	t.Cleanup(control.Close)
	browser := newBrowser(t)
	tb := newTab(t, browser, b.Name+"-csp")
	watch := watchTab(t, tb)

	tb.navigate(control.URL + "/page")
	if !eventually(stepTimeout, func() bool { w := watch.take(); return slices.ContainsFunc(w, isCSP) }) {
		t.Fatal("the control page breaks its CSP, and the watch saw no violation: it cannot see any")
	}
	if ref, ok := watch.referer(control.URL + "/pixel"); !ok || ref == "" {
		t.Fatalf("the control page's image request: Referer %q (seen %t); the watch cannot see Referers", ref, ok)
	}

	po := ta.createOrder(t, methodCases[0])
	tb.navigate(po.CheckoutURL)
	tb.waitText("Choose how to pay")
	tb.checkStyled()
	tb.click("#pay-ideal")
	approve := `form[action$="/approve"] button`
	tb.waitFor("the gateway's page", fmt.Sprintf(`location.href.startsWith(%q) && !!document.querySelector(%q)`, ta.url+"/sandbox/stripe/ideal/", approve))
	if bg, err := eval[string](tb, `getComputedStyle(document.body).backgroundColor`); err != nil || bg != "rgb(246, 249, 252)" {
		tb.fail("the bank page's style sheet did not apply under its CSP: body background %q, %v", bg, err)
	}
	tb.shot("gateway")
	tb.click(approve)
	tb.waitFor("our return page", fmt.Sprintf(`location.href.startsWith(%q)`, ta.url+"/checkout/"+po.Number+"/return?"))
	tb.waitText("Payment received")
	tb.checkStyled()
	tb.shot("return-paid")

	// The browser reports console messages and CSP violations on its own
	// time, with no signal that it is done: give late ones 300 ms.
	time.Sleep(300 * time.Millisecond)
	if p := watch.take(); len(p) > 0 {
		t.Errorf("the pages reported %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
	ref, ok := watch.referer(ta.url + "/sandbox/stripe/ideal/")
	if !ok {
		t.Fatal("the watch saw no request for the bank's page")
	}
	if ref != "" {
		t.Errorf("the bank's page was requested with Referer %q, want none (the checkout link's token must not leak)", ref)
	}
}

// isCSP reports whether a problem the watch saw is a
// Content-Security-Policy violation.
func isCSP(p string) bool { return strings.Contains(p, "Content Security Policy") }
