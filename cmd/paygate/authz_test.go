package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	outbound "github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// Authorization by object (issue 8, point 1). TestAuthzWalk builds real
// state, then walks every route of the router with every wrong credential
// that applies to it, and checks that each is refused and that nothing
// changed. A route without a case in authzCases fails the test, so a route
// added later must say who may call it.
//
// The decisions the cases encode:
//
//	route                                   marketplace key   finance key   why
//	POST /v1/payment-orders, …/attempts     yes               403           creating and paying orders is the marketplace's
//	GET  /v1/payment-orders/{P}             yes               yes           the marketplace owns its orders; finance investigates (without the checkout link)
//	GET  /v1/sales-orders/{K}               yes               yes           as above
//	POST /v1/sales-orders/{K}/{action}      yes, as user_id   403           the marketplace acts for its users; Act checks the user is the order's buyer or seller
//	POST /v1/sales-orders/{K}/resolve       403               yes           dispute resolution is finance staff's
//	GET  /v1/users/{id}/balances|statement  yes, any user     yes           the marketplace backend is trusted for all its users (it shows each user their own)
//	refunds-to-source, payouts              403               yes           moving a user's balance out is finance staff's
//	/v1/finance/*, /v1/reconciliations*,    403               yes           finance-only reports and actions: escrow, items, trial balance,
//	/v1/webhooks/events                                                     audit, recon runs, settle-payment, the webhook inbox
//	/sandbox/payment-orders/…, /faults      yes               403           the sandbox's test helpers stand in for the buyer's bank
//	GET  /v1/events, /v1/events/{id}        yes, not finance  yes           each role reads the events it may: finance_item.* and
//	                                        items and runs                  reconciliation.* are finance's (404 by id, 403 by type)
//
// A buyer holds no key: their checkout token opens the pages of one
// payment order, and any wrong token is the same 404 page (a wrong token on
// the form is the same 403 page), so P-numbers cannot be enumerated.
// Finance staff's pages take a session cookie from the login (the finance
// key) and a CSRF field on every form; without a session a page redirects
// (303) to the login, which is how a browser UI says 401.
//
// Public: /healthz, /readyz (ok or unavailable), /openapi.json (no data),
// the finance login form, and in sandbox mode the simulated providers'
// hosted pages (their APIs take the provider's key). /metrics takes
// PAYGATE_METRICS_TOKEN when it is set, as it is here.
//
// Between the marketplace key and a sales order, 403 (the wrong user) and
// 404 (no such order) may differ: the marketplace backend may read every
// order anyway, so the difference reveals nothing it could not read.

// Users of the walk's state.
const (
	buyerA  = "UA1"
	buyerB  = "UB2"
	sellerA = "SA1"
	sellerB = "SB2"

	authzStripeSecret = "whsec_authz_test_secret"
	authzRapydAccess  = "rak_authz_test_access"
	authzRapydSecret  = "rsk_authz_test_secret_key"
)

// authzState is what the walk attacks.
type authzState struct {
	paidA, paidB   orderJSON // paid, of buyer A and B
	unpaidA        orderJSON // created, no attempt
	pendingB       orderJSON // a PayNow attempt open
	pendingRef     string    // its payment at the provider
	pendingAttempt string    // its attempt
	paidRefB       string    // the provider payment of paidB
	paidRefA       string    // the provider payment of paidA
	waitDelivery   string    // K of A, seller B, waiting_delivery
	waitConfirm    string    // K of A, seller A, waiting_confirmation
	completed      string    // K of B, seller A
	refunding      string    // K of B, seller B
	refundRefused  string    // K of B, seller A
	disputed       string    // K of B, seller A
	refunded       string    // K of B, seller A
	run            string    // a reconciliation run
	lateItem       int64     // a late payment of paidA (finance item)
	unknownItem    int64     // an unknown payment (finance item)
	unknownRef     string    // the payment the unknown item names
	report         string    // the sandbox's Stripe settlement report
	sessionCookie  string    // a finance session from the real login
	sessionSecret  string    // what the finance pages derive their session key from
	sessionCSRF    string    // its forms' CSRF field
	otherCSRF      string    // another session's CSRF field
	checkoutTokenA string    // unpaidA's checkout token
	checkoutTokenB string    // pendingB's checkout token
	checkoutCookie string    // a browser's checkout CSRF cookie
	checkoutCSRFA  string    // unpaidA's checkout form field for that cookie
	checkoutCSRFB  string    // pendingB's checkout form field for that cookie
	missingP       string    // a P-number no order has
	missingK       string    // a K-number no order has
	endpointMK     string    // a webhook endpoint of the marketplace key
	loginCookie    string    // the login form's CSRF cookie
	loginCSRF      string    // and its field
}

// createFor creates a SGD order of buyer with one 10.00 item per seller.
func (ta *testApp) createFor(t *testing.T, buyer string, sellers ...string) orderJSON {
	t.Helper()
	items := []map[string]any{}
	for i, s := range sellers {
		items = append(items, map[string]any{"seller_id": s, "amount": "10.00", "description": fmt.Sprintf("item %d", i+1)})
	}
	var po orderJSON
	if status := ta.call(t, "POST", "/v1/payment-orders", map[string]any{
		"buyer_id": buyer, "currency": "SGD", "items": items, "return_url": "https://shop.example/done",
	}, &po); status != http.StatusCreated {
		t.Fatalf("create an order of %s = %d %+v", buyer, status, po)
	}
	return po
}

// payFor creates and pays (PayNow) an order of buyer and returns it with
// its attempt's provider payment.
func (ta *testApp) payFor(t *testing.T, buyer string, sellers ...string) (orderJSON, string) {
	t.Helper()
	po := ta.createFor(t, buyer, sellers...)
	var a attemptJSON
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "paynow"}, &a); status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("attempt on %s = %d %+v", po.Number, status, a)
	}
	ta.pay(t, po, a)
	ta.waitPaid(t, po.Number)
	ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &po)
	return po, po.Attempts[len(po.Attempts)-1].ProviderRef
}

// buildAuthzState makes two buyers' and two sellers' orders in every state
// the walk needs, balances, a reconciliation run, finance items, a finance
// session and checkout links.
func buildAuthzState(t *testing.T, ta *testApp) *authzState {
	t.Helper()
	s := &authzState{missingP: "P99999998", missingK: "K9999998"}
	s.paidA, s.paidRefA = ta.payFor(t, buyerA, sellerA, sellerB)
	s.waitConfirm, s.waitDelivery = s.paidA.Items[0].Number, s.paidA.Items[1].Number
	ta.mustAct(t, s.waitConfirm, "deliver", map[string]any{"user_id": sellerA}, "waiting_confirmation")

	s.paidB, s.paidRefB = ta.payFor(t, buyerB, sellerA, sellerB, sellerA, sellerA, sellerA)
	k := s.paidB.Items
	s.completed, s.refunding, s.disputed, s.refunded, s.refundRefused = k[0].Number, k[1].Number, k[2].Number, k[3].Number, k[4].Number
	ta.mustAct(t, s.completed, "deliver", map[string]any{"user_id": sellerA}, "waiting_confirmation")
	ta.mustAct(t, s.completed, "confirm", map[string]any{"user_id": buyerB}, "completed")
	ta.mustAct(t, s.refunding, "request-refund", map[string]any{"user_id": buyerB, "reason": "not_received"}, "refunding")
	for _, k := range []string{s.disputed, s.refundRefused} {
		ta.mustAct(t, k, "request-refund", map[string]any{"user_id": buyerB, "reason": "not_received"}, "refunding")
		ta.mustAct(t, k, "refuse-refund", map[string]any{"user_id": sellerA, "reason": "delivered_with_proof"}, "refund_refused")
	}
	ta.mustAct(t, s.disputed, "dispute", map[string]any{"user_id": buyerB}, "disputed")
	ta.mustAct(t, s.refunded, "request-refund", map[string]any{"user_id": buyerB, "reason": "not_received"}, "refunding")
	ta.mustAct(t, s.refunded, "agree-refund", map[string]any{"user_id": sellerA}, "refunded")

	s.unpaidA = ta.createFor(t, buyerA, sellerB)
	s.pendingB = ta.createFor(t, buyerB, sellerA)
	var a attemptJSON
	ta.call(t, "POST", "/v1/payment-orders/"+s.pendingB.Number+"/attempts", map[string]any{"method": "paynow"}, &a)
	if a.ProviderRef == "" {
		t.Fatalf("pending attempt = %+v, want a provider payment", a)
	}
	s.pendingRef, s.pendingAttempt = a.ProviderRef, a.ID

	resp, err := ta.client.Get(ta.url + "/sandbox/stripe/reports/settlement.csv")
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.report = string(report)
	s.run = ta.reconcile(t, s.report).ID

	ctx := finance.WithActor(context.Background(), "alice@example.com")
	s.unknownRef = "pi_authz_unknown_payment"
	err = ta.db.Update(ctx, func(tx *storage.Tx) error {
		paid := paygate.New(500, paygate.SGD)
		if _, err := ledger.New(ta.db).Post(ctx, tx, ledger.Transfer("test:authz:late", "late payment", ledger.ProviderClearing("stripe"),
			ledger.UserBalance(buyerA), paid)); err != nil {
			return err
		}
		if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.LatePayment, Reference: "att_authz_late",
			PaymentOrder: s.paidA.Number, Provider: "stripe", Amount: paid, Description: "paid late"}); err != nil {
			return err
		}
		if err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.UnknownPayment, Reference: "evt_authz_unknown",
			Provider: "stripe", PaymentRef: s.unknownRef, Amount: paid, Description: "an event for a payment that paygate never created"}); err != nil {
			return err
		}
		items, err := finance.Items(ctx, tx, finance.Open, 0, 100)
		for _, it := range items {
			switch it.Reference {
			case "att_authz_late":
				s.lateItem = it.ID
			case "evt_authz_unknown":
				s.unknownItem = it.ID
			}
		}
		return err
	})
	if err != nil || s.lateItem == 0 || s.unknownItem == 0 {
		t.Fatalf("finance items: %v (%d, %d)", err, s.lateItem, s.unknownItem)
	}

	// The login form's CSRF cookie and field.
	{
		resp, err := ta.client.Get(ta.url + "/finance/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "paygate_finance_csrf" {
				s.loginCookie = c.Value
			}
		}
		if m := csrfField.FindStringSubmatch(string(page)); m != nil {
			s.loginCSRF = m[1]
		}
		if s.loginCookie == "" || s.loginCSRF == "" {
			t.Fatalf("login form without its CSRF cookie or field:\n%s", page)
		}
	}

	// Two finance sessions: the walk's, and another whose CSRF field must
	// not work with the first.
	for i, actor := range []string{"alice", "mallory"} {
		fc := newFinanceClient(t, ta)
		if status, _ := fc.loginAs(actor, testFinanceKey); status != http.StatusSeeOther {
			t.Fatalf("login as %s = %d", actor, status)
		}
		csrf := fc.csrf(fc.page("/finance/items"))
		u, _ := url.Parse(ta.url + "/finance/")
		for _, c := range fc.c.Jar.Cookies(u) {
			if c.Name == "paygate_finance_session" && i == 0 {
				s.sessionCookie, s.sessionCSRF = c.Value, csrf
			}
		}
		if i == 1 {
			s.otherCSRF = csrf
		}
	}
	if s.sessionCookie == "" {
		t.Fatal("no finance session cookie after the login")
	}
	s.sessionSecret = ta.app.sessionKey

	// A browser's checkout CSRF cookie, and each order's form field for it.
	s.checkoutTokenA, s.checkoutTokenB = ta.app.checkout.Token(paygate.PaymentOrderNumber(s.unpaidA.Number)), ta.app.checkout.Token(paygate.PaymentOrderNumber(s.pendingB.Number))
	pageCSRF := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	for _, o := range []struct {
		number, token string
		dst           *string
	}{{s.unpaidA.Number, s.checkoutTokenA, &s.checkoutCSRFA}, {s.pendingB.Number, s.checkoutTokenB, &s.checkoutCSRFB}} {
		req, _ := http.NewRequest("GET", ta.url+"/checkout/"+o.number+"?t="+url.QueryEscape(o.token)+"&change=1", nil)
		if s.checkoutCookie != "" {
			req.AddCookie(&http.Cookie{Name: "paygate_csrf", Value: s.checkoutCookie})
		}
		resp, err := ta.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "paygate_csrf" {
				s.checkoutCookie = c.Value
			}
		}
		m := pageCSRF.FindStringSubmatch(string(page))
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("checkout page of %s = %d without a form:\n%s", o.number, resp.StatusCode, page)
		}
		*o.dst = m[1]
	}
	e, err := ta.app.delivery.Create(context.Background(), "marketplace", outbound.NewEndpoint{URL: "http://127.0.0.1:9/hooks", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	s.endpointMK = e.ID
	return s
}

// attack is one request that must be refused.
type attack struct {
	name    string
	method  string
	path    string // with the query
	header  map[string]string
	cookies map[string]string
	body    string
	want    []int
	// loc, for a 303, is the Location the refusal must send the browser to.
	loc string
	// same names a group of attacks whose answers must be byte-identical
	// (the wrong checkout links).
	same string
}

// control is a request with the right credential that must be let
// through, so that the attacks on its route are refused for their
// credential and not for something else.
type control struct {
	method, path string
	header       map[string]string
	cookies      map[string]string
	want         int
}

// routeCase is what the walk does on one route: why it is public, or the
// attacks on it (and the controls that show the right credential works).
type routeCase struct {
	public   string
	attacks  []attack
	controls []control
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// keyAttacks are the wrong credentials of a route behind server.Keys.Require:
// none, malformed, unknown, a buyer's checkout token, and the key of a role
// the route does not take.
func keyAttacks(s *authzState, method, path, body string, roles ...string) []attack {
	h := func(auth string) map[string]string {
		m := map[string]string{"Idempotency-Key": "authz-" + method + path}
		if auth != "" {
			m["Authorization"] = auth
		}
		return m
	}
	out := []attack{
		{name: "no Authorization", header: h(""), want: []int{401}},
		{name: "Basic instead of Bearer", header: h("Basic " + base64.StdEncoding.EncodeToString([]byte(testAPIKey+":"))), want: []int{401}},
		{name: "Bearer without a key", header: h("Bearer "), want: []int{401}},
		{name: "lowercase bearer with an unknown key", header: h("bearer not-a-paygate-key"), want: []int{401}},
		{name: "two keys", header: h("Bearer " + testAPIKey + " " + testFinanceKey), want: []int{401}},
		{name: "unknown key", header: h("Bearer not-a-paygate-key"), want: []int{401}},
		{name: "a key's prefix", header: h("Bearer " + testFinanceKey[:len(testFinanceKey)-1]), want: []int{401}},
		{name: "a checkout token as a key", header: h("Bearer " + s.checkoutTokenA), want: []int{401}},
	}
	if !slices.Contains(roles, "marketplace") {
		out = append(out, attack{name: "the marketplace key", header: h("Bearer " + testAPIKey), want: []int{403}})
	}
	if !slices.Contains(roles, "finance") {
		out = append(out, attack{name: "the finance key", header: h("Bearer " + testFinanceKey), want: []int{403}})
	}
	for i := range out {
		out[i].method, out[i].path, out[i].body = method, path, body
	}
	return out
}

// userAttack is a sales order action by the marketplace key for a user who
// may not do it.
func userAttack(name, k, action, body string, want int) attack {
	return attack{name: name, method: "POST", path: "/v1/sales-orders/" + k + "/" + action, body: body,
		header: map[string]string{"Authorization": "Bearer " + testAPIKey, "Idempotency-Key": "authz-user-" + name}, want: []int{want}}
}

// financeSession signs a session cookie as financeui does ("v2.<expiry>.
// <nonce>.<actor>.<key id>.<key name>.<HMAC>", the HMAC key derived from
// the session key and the hash of the static finance key), so
// the walk can present an expired one and one signed for another key. The
// controls show that a cookie signed here for the finance key with a future
// expiry is accepted, so a change of the format fails the test instead of
// passing it.
func financeSession(secret, key string, expires time.Time, actor string) string {
	h := sha256.Sum256([]byte(key))
	m := hmac.New(sha256.New, []byte(secret+"|"+hex.EncodeToString(h[:])))
	m.Write([]byte("paygate financeui session v1"))
	derived := m.Sum(nil)
	enc := base64.RawURLEncoding.EncodeToString
	body := "v2." + strconv.FormatInt(expires.Unix(), 10) + ".bm9uY2Vub25jZW5vbmNl." + enc([]byte(actor)) + "." + enc(nil) + "." + enc([]byte("PAYGATE_FINANCE_KEY"))
	mac := hmac.New(sha256.New, derived)
	for _, p := range []string{"session", body} {
		mac.Write([]byte(p))
		mac.Write([]byte{0})
	}
	return body + "." + enc(mac.Sum(nil))
}

// pageAttacks are the wrong credentials of a finance page: each is sent to
// the login.
func pageAttacks(s *authzState, now time.Time, method, path, body string) []attack {
	login := "/finance/login"
	cookie := func(v string) map[string]string { return map[string]string{"paygate_finance_session": v} }
	tampered := []byte(s.sessionCookie)
	tampered[len(tampered)-3] ^= 1
	out := []attack{
		{name: "no session"},
		{name: "a forged session", cookies: cookie("v1.9999999999.bm9uY2U.YWxpY2U.forged")},
		{name: "a tampered session", cookies: cookie(string(tampered))},
		{name: "an expired session", cookies: cookie(financeSession(s.sessionSecret, testFinanceKey, now.Add(-time.Minute), "alice"))},
		{name: "a session signed with the marketplace key", cookies: cookie(financeSession(s.sessionSecret, testAPIKey, now.Add(time.Hour), "alice"))},
		{name: "the finance key as a bearer", header: bearer(testFinanceKey)},
		{name: "the finance key as the cookie", cookies: cookie(testFinanceKey)},
	}
	for i := range out {
		out[i].method, out[i].path, out[i].body, out[i].want, out[i].loc = method, path, body, []int{303}, login
	}
	return out
}

// formAttacks are a signed-in staff member's forms that must be refused:
// no CSRF field, another session's, a forged one, and a post from another
// site.
func formAttacks(s *authzState, path string, form url.Values) []attack {
	with := func(csrf string) string {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		return f.Encode()
	}
	session := map[string]string{"paygate_finance_session": s.sessionCookie}
	form403 := func(name, body string, header map[string]string) attack {
		return attack{name: name, method: "POST", path: path, body: body, cookies: session, header: header, want: []int{403}}
	}
	return []attack{
		form403("no CSRF field", with(""), nil),
		form403("another session's CSRF field", with(s.otherCSRF), nil),
		form403("a forged CSRF field", with(strings.Repeat("A", 43)), nil),
		form403("from another site", with(s.sessionCSRF), map[string]string{"Origin": "https://evil.example"}),
		form403("a cross-site fetch", with(s.sessionCSRF), map[string]string{"Sec-Fetch-Site": "cross-site"}),
	}
}

// signedForm is a signed-in staff member's valid form, for the object
// checks of an action.
func signedForm(s *authzState, name, path string, form url.Values, want int) attack {
	form.Set("csrf", s.sessionCSRF)
	return attack{name: name, method: "POST", path: path, body: form.Encode(),
		cookies: map[string]string{"paygate_finance_session": s.sessionCookie}, want: []int{want}}
}

// checkoutAttacks are the wrong links of a checkout page: all the same 404.
func checkoutAttacks(ta *testApp, s *authzState, suffix string) []attack {
	p := s.unpaidA.Number
	tampered := []byte(s.checkoutTokenA)
	tampered[0] ^= 1
	missing := ta.app.checkout.Token(paygate.PaymentOrderNumber(s.missingP))
	out := []attack{
		{name: "no token", path: "/checkout/" + p + suffix},
		{name: "an empty token", path: "/checkout/" + p + suffix + "?t="},
		{name: "another order's token", path: "/checkout/" + p + suffix + "?t=" + url.QueryEscape(s.checkoutTokenB)},
		{name: "a tampered token", path: "/checkout/" + p + suffix + "?t=" + url.QueryEscape(string(tampered))},
		{name: "the token with a suffix", path: "/checkout/" + p + suffix + "?t=" + url.QueryEscape(s.checkoutTokenA+"A")},
		{name: "a valid token of an order that does not exist", path: "/checkout/" + s.missingP + suffix + "?t=" + url.QueryEscape(missing)},
		{name: "an order that does not exist, another's token", path: "/checkout/" + s.missingP + suffix + "?t=" + url.QueryEscape(s.checkoutTokenA)},
		{name: "a malformed number", path: "/checkout/P1" + suffix + "?t=" + url.QueryEscape(s.checkoutTokenA)},
		{name: "the marketplace key instead of a token", path: "/checkout/" + p + suffix, header: bearer(testAPIKey)},
	}
	for i := range out {
		out[i].method, out[i].want, out[i].same = "GET", []int{404}, "checkout"+suffix
	}
	return out
}

// checkoutFormAttacks are the checkout form posted with a wrong token: all
// the same 403 page, whether the order exists or not.
func checkoutFormAttacks(ta *testApp, s *authzState) []attack {
	form := func(p, token, csrf string) (string, string) {
		return "/checkout/" + p + "/attempts", url.Values{"t": {token}, "csrf": {csrf}, "method": {"paynow"}}.Encode()
	}
	cookie := map[string]string{"paygate_csrf": s.checkoutCookie}
	tampered := []byte(s.checkoutTokenA)
	tampered[0] ^= 1
	var out []attack
	add := func(name, p, token, csrf string, want int, same string) {
		path, body := form(p, token, csrf)
		out = append(out, attack{name: name, method: "POST", path: path, body: body, cookies: cookie, want: []int{want}, same: same})
	}
	add("no token", s.unpaidA.Number, "", s.checkoutCSRFA, 403, "checkout form")
	add("another order's token and form", s.unpaidA.Number, s.checkoutTokenB, s.checkoutCSRFB, 403, "checkout form")
	add("a tampered token", s.unpaidA.Number, string(tampered), s.checkoutCSRFA, 403, "checkout form")
	add("an order that does not exist", s.missingP, s.checkoutTokenA, s.checkoutCSRFA, 403, "checkout form")
	add("a malformed number", "P1", s.checkoutTokenA, s.checkoutCSRFA, 403, "checkout form")
	// With the order's own token, the form must still be the browser's.
	add("another order's CSRF field", s.unpaidA.Number, s.checkoutTokenA, s.checkoutCSRFB, 403, "")
	add("no CSRF field", s.unpaidA.Number, s.checkoutTokenA, "", 403, "")
	out = append(out, attack{name: "from another site", method: "POST", path: "/checkout/" + s.unpaidA.Number + "/attempts",
		body: url.Values{"t": {s.checkoutTokenA}, "csrf": {s.checkoutCSRFA}, "method": {"paynow"}}.Encode(), cookies: cookie,
		header: map[string]string{"Origin": "https://evil.example"}, want: []int{403}})
	return out
}

// stripeSigned signs body as Stripe does, with secret at t.
func stripeSigned(body, secret string, t time.Time) map[string]string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return map[string]string{"Stripe-Signature": "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)), "Content-Type": "application/json"}
}

// rapydSigned signs body as Rapyd does, over the webhook URL.
func rapydSigned(webhookURL, body, access, secret string, t time.Time) map[string]string {
	return map[string]string{"salt": "authzsalt1234", "timestamp": strconv.FormatInt(t.Unix(), 10),
		"signature": rapyd.WebhookSignature(webhookURL, "authzsalt1234", t.Unix(), access, secret, []byte(body)), "Content-Type": "application/json"}
}

// forgedStripeEvent says the pending PayNow payment succeeded.
func forgedStripeEvent(s *authzState, now time.Time) string {
	return fmt.Sprintf(`{"id":"evt_authz_forged","object":"event","api_version":"2023-10-16","livemode":false,"created":%d,"type":"payment_intent.succeeded",`+
		`"data":{"object":{"id":%q,"object":"payment_intent","amount":1000,"amount_received":1000,"currency":"sgd","status":"succeeded",`+
		`"metadata":{"payment_order":%q}}}}`, now.Unix(), s.pendingRef, s.pendingB.Number)
}

// forgedRapydEvent says a payment completed.
func forgedRapydEvent(now time.Time) string {
	return fmt.Sprintf(`{"id":"wh_authz_forged","type":"PAYMENT_COMPLETED","created_at":%d,`+
		`"data":{"id":"payment_authz_forged","amount":15000,"currency_code":"KRW","status":"CLO"}}`, now.Unix())
}

// webhookAttacks are forged deliveries: each is 400 (SECURITY.md, "A
// provider, or someone pretending to be one").
func webhookAttacks(ta *testApp, s *authzState, now time.Time) []attack {
	stripeBody, rapydBody := forgedStripeEvent(s, now), forgedRapydEvent(now)
	hookURL := ta.url + "/webhooks/rapyd"
	plain := map[string]string{"Content-Type": "application/json"}
	other := stripeSigned(stripeBody, authzStripeSecret, now)
	return []attack{
		{name: "stripe: unsigned", path: "/webhooks/stripe", body: stripeBody, header: plain},
		{name: "stripe: signed with another secret", path: "/webhooks/stripe", body: stripeBody, header: stripeSigned(stripeBody, "whsec_not_ours", now)},
		{name: "stripe: signed 10 minutes ago", path: "/webhooks/stripe", body: stripeBody, header: stripeSigned(stripeBody, authzStripeSecret, now.Add(-10*time.Minute))},
		{name: "stripe: signed 10 minutes ahead", path: "/webhooks/stripe", body: stripeBody, header: stripeSigned(stripeBody, authzStripeSecret, now.Add(10*time.Minute))},
		{name: "stripe: another body's signature", path: "/webhooks/stripe", body: strings.Replace(stripeBody, "1000", "9000", 1), header: other},
		{name: "stripe: the marketplace key", path: "/webhooks/stripe", body: stripeBody, header: bearer(testAPIKey)},
		{name: "rapyd: unsigned", path: "/webhooks/rapyd", body: rapydBody, header: plain},
		{name: "rapyd: signed with another secret", path: "/webhooks/rapyd", body: rapydBody, header: rapydSigned(hookURL, rapydBody, authzRapydAccess, "rsk_not_ours", now)},
		{name: "rapyd: signed with another access key", path: "/webhooks/rapyd", body: rapydBody, header: rapydSigned(hookURL, rapydBody, "rak_not_ours", authzRapydSecret, now)},
		{name: "rapyd: signed 10 minutes ago", path: "/webhooks/rapyd", body: rapydBody, header: rapydSigned(hookURL, rapydBody, authzRapydAccess, authzRapydSecret, now.Add(-10*time.Minute))},
		{name: "rapyd: signed over another URL", path: "/webhooks/rapyd", body: rapydBody, header: rapydSigned("https://evil.example/webhooks/rapyd", rapydBody, authzRapydAccess, authzRapydSecret, now)},
	}
}

// authzCases returns the walk's case of every route, by its key in
// walkRoutes' form.
func authzCases(ta *testApp, s *authzState, now time.Time) map[string]routeCase {
	market, fin := "marketplace", "finance"
	order := func(body map[string]any) string {
		b, _ := json.Marshal(body)
		return string(b)
	}
	createBody := order(map[string]any{"buyer_id": buyerA, "currency": "SGD", "return_url": "https://shop.example/done",
		"items": []map[string]any{{"seller_id": sellerA, "amount": "10.00", "description": "x"}}})
	refundBody := `{"amount":"1.00","currency":"SGD","reason":"authz"}`
	payoutBody := `{"amount":"1.00","currency":"SGD","beneficiary":"x","bank_reference":"y"}`
	settleBody := fmt.Sprintf(`{"provider":"stripe","payment_ref":%q}`, s.pendingRef)
	k := func(n, action string) string { return "/v1/sales-orders/" + n + "/" + action }
	u := func(user, rest string) string { return "/v1/users/" + user + rest }
	fc := map[string]routeCase{}

	// Public routes, with why.
	fc["GET /healthz"] = routeCase{public: "liveness for the load balancer: says only ok or unavailable"}
	fc["HEAD /healthz"] = fc["GET /healthz"]
	fc["GET /readyz"] = routeCase{public: "readiness for the load balancer: says only ok or unavailable"}
	fc["HEAD /readyz"] = fc["GET /readyz"]
	// /metrics carries route templates, statuses and aggregate counts (no
	// user, order or amount), but the counts are the business's volume:
	// PAYGATE_METRICS_TOKEN, set here, puts it behind a bearer token of its
	// own, which no API key is.
	for _, m := range []string{"GET", "HEAD"} {
		fc[m+" /metrics"] = routeCase{
			attacks: []attack{
				{name: "no token", method: m, path: "/metrics", want: []int{401}},
				{name: "a wrong token", method: m, path: "/metrics", header: bearer("not-the-token"), want: []int{401}},
				{name: "the token's prefix", method: m, path: "/metrics", header: bearer(testMetricsToken[:5]), want: []int{401}},
				{name: "the marketplace key", method: m, path: "/metrics", header: bearer(testAPIKey), want: []int{401}},
				{name: "the finance key", method: m, path: "/metrics", header: bearer(testFinanceKey), want: []int{401}},
			},
			controls: []control{{method: m, path: "/metrics", header: bearer(testMetricsToken), want: 200}},
		}
	}
	fc["GET /openapi.json"] = routeCase{public: "the API's published description: no data"}
	fc["GET /finance/login"] = routeCase{public: "the login form itself"}

	// The simulators stand in for the providers' own sites (sandbox mode
	// only): their hosted pages are public as a bank's are; their APIs take
	// the provider's key, which no paygate credential is. Their settlement
	// reports are unsigned on purpose: sandbox data only.
	sim := func(prefix string, apiPath string) routeCase {
		return routeCase{public: "the simulated provider's hosted pages (sandbox mode only)", attacks: []attack{
			{name: "its API without the provider's key", method: "GET", path: prefix + apiPath, want: []int{401, 403}},
			{name: "its API with the marketplace key", method: "GET", path: prefix + apiPath, header: bearer(testAPIKey), want: []int{401, 403}},
			{name: "its API with the finance key", method: "GET", path: prefix + apiPath, header: bearer(testFinanceKey), want: []int{401, 403}},
		}}
	}
	fc["* /sandbox/stripe/*"] = sim("/sandbox/stripe", "/v1/payment_intents/"+s.pendingRef)
	fc["* /sandbox/rapyd/*"] = sim("/sandbox/rapyd", "/v1/payments/payment_0000")
	fc["GET /sandbox/{provider}/reports/settlement.csv"] = routeCase{public: "the simulated provider's settlement report: sandbox data, unsigned on purpose (sandbox mode only)"}

	// Payment orders.
	fc["POST /v1/payment-orders"] = routeCase{attacks: keyAttacks(s, "POST", "/v1/payment-orders", createBody, market)}
	fc["GET /v1/payment-orders/{number}"] = routeCase{attacks: keyAttacks(s, "GET", "/v1/payment-orders/"+s.paidA.Number, "", market, fin),
		controls: []control{{"GET", "/v1/payment-orders/" + s.paidA.Number, bearer(testAPIKey), nil, 200},
			{"GET", "/v1/payment-orders/" + s.paidA.Number, bearer(testFinanceKey), nil, 200}}}
	fc["POST /v1/payment-orders/{number}/attempts"] = routeCase{
		attacks: keyAttacks(s, "POST", "/v1/payment-orders/"+s.unpaidA.Number+"/attempts", `{"method":"paynow"}`, market)}

	// Sales orders: the keys, then the users of each action.
	fc["GET /v1/sales-orders/{number}"] = routeCase{attacks: keyAttacks(s, "GET", "/v1/sales-orders/"+s.waitConfirm, "", market, fin),
		controls: []control{{"GET", "/v1/sales-orders/" + s.waitConfirm, bearer(testAPIKey), nil, 200},
			{"GET", "/v1/sales-orders/" + s.waitConfirm, bearer(testFinanceKey), nil, 200}}}
	var so []attack
	body := func(user string) string { return fmt.Sprintf(`{"user_id":%q}`, user) }
	for _, c := range []struct{ k, action, body string }{
		{s.waitDelivery, "deliver", body(sellerB)},
		{s.waitConfirm, "confirm", body(buyerA)},
		{s.waitDelivery, "refund", `{"user_id":"` + sellerB + `","reason":"out_of_stock"}`},
		{s.waitConfirm, "request-refund", `{"user_id":"` + buyerA + `","reason":"not_received"}`},
		{s.refunding, "agree-refund", body(sellerB)},
		{s.refunding, "refuse-refund", `{"user_id":"` + sellerB + `","reason":"delivered_with_proof"}`},
		{s.refundRefused, "dispute", body(buyerB)},
	} {
		// Both keys get past Require; the handler refuses the finance key.
		for _, a := range keyAttacks(s, "POST", k(c.k, c.action), c.body, market, fin) {
			so = append(so, a)
		}
		so = append(so, attack{name: "the finance key", method: "POST", path: k(c.k, c.action), body: c.body,
			header: map[string]string{"Authorization": "Bearer " + testFinanceKey, "Idempotency-Key": "authz-fin-" + c.k + c.action}, want: []int{403}})
	}
	so = append(so, keyAttacks(s, "POST", k(s.disputed, "resolve"), `{"refund_amount":"10.00"}`, market, fin)...)
	resolveBody := `{"user_id":"finance","refund_amount":"10.00"}`
	so = append(so,
		userAttack("the marketplace key resolves a dispute", s.disputed, "resolve", `{"refund_amount":"10.00"}`, 403),
		userAttack("the marketplace key resolves as user finance", s.disputed, "resolve", resolveBody, 403),
		// Sellers doing a buyer's action, buyers doing a seller's, and
		// the other buyer or seller.
		userAttack("the seller confirms", s.waitConfirm, "confirm", body(sellerA), 403),
		userAttack("the other buyer confirms", s.waitConfirm, "confirm", body(buyerB), 403),
		userAttack("the other seller confirms", s.waitConfirm, "confirm", body(sellerB), 403),
		userAttack("the buyer delivers", s.waitDelivery, "deliver", body(buyerA), 403),
		userAttack("the other seller delivers", s.waitDelivery, "deliver", body(sellerA), 403),
		userAttack("the other buyer delivers", s.waitDelivery, "deliver", body(buyerB), 403),
		userAttack("the buyer refunds as the seller", s.waitDelivery, "refund", `{"user_id":"`+buyerA+`","reason":"out_of_stock"}`, 403),
		userAttack("the other seller refunds", s.waitDelivery, "refund", `{"user_id":"`+sellerA+`","reason":"out_of_stock"}`, 403),
		userAttack("the seller requests a refund", s.waitConfirm, "request-refund", `{"user_id":"`+sellerA+`","reason":"not_received"}`, 403),
		userAttack("the other buyer requests a refund", s.waitConfirm, "request-refund", `{"user_id":"`+buyerB+`","reason":"not_received"}`, 403),
		userAttack("the buyer agrees to their own refund", s.refunding, "agree-refund", body(buyerB), 403),
		userAttack("the other seller agrees to a refund", s.refunding, "agree-refund", body(sellerA), 403),
		userAttack("the buyer refuses their own refund", s.refunding, "refuse-refund", `{"user_id":"`+buyerB+`","reason":"delivered_with_proof"}`, 403),
		userAttack("the other seller refuses a refund", s.refunding, "refuse-refund", `{"user_id":"`+sellerA+`","reason":"delivered_with_proof"}`, 403),
		userAttack("the seller opens a dispute", s.refundRefused, "dispute", body(sellerA), 403),
		userAttack("the other buyer opens a dispute", s.refundRefused, "dispute", body(buyerA), 403),
		userAttack("user finance confirms", s.waitConfirm, "confirm", body("finance"), 403),
		userAttack("no user", s.waitConfirm, "confirm", `{}`, 400),
		// The body cannot name another order, user or buyer than the path's.
		userAttack("the body names another sales order", s.waitConfirm, "confirm", `{"user_id":"`+buyerA+`","number":"`+s.completed+`"}`, 400),
		userAttack("the body names the order's buyer", s.waitConfirm, "confirm", `{"user_id":"`+buyerB+`","buyer_id":"`+buyerB+`"}`, 400),
		userAttack("a user id list", s.waitConfirm, "confirm", `{"user_id":["`+buyerB+`","`+buyerA+`"]}`, 400),
		userAttack("a final order", s.completed, "request-refund", `{"user_id":"`+buyerB+`","reason":"not_received"}`, 409),
		userAttack("an order that does not exist", s.missingK, "confirm", body(buyerA), 404),
	)
	fc["POST /v1/sales-orders/{number}/{action}"] = routeCase{attacks: so}

	// Finance-only reports and actions.
	for _, p := range []string{"/v1/finance/escrow", "/v1/finance/items", "/v1/finance/trial-balance", "/v1/finance/audit",
		"/v1/webhooks/events"} {
		fc["GET "+p] = routeCase{attacks: keyAttacks(s, "GET", p, "", fin), controls: []control{{"GET", p, bearer(testFinanceKey), nil, 200}}}
	}
	fc["GET /v1/reconciliations/{id}"] = routeCase{attacks: keyAttacks(s, "GET", "/v1/reconciliations/"+s.run, "", fin),
		controls: []control{{"GET", "/v1/reconciliations/" + s.run, bearer(testFinanceKey), nil, 200}}}
	fc["POST /v1/reconciliations"] = routeCase{attacks: keyAttacks(s, "POST", "/v1/reconciliations?provider=stripe", s.report, fin)}
	fc["POST /v1/finance/settle-payment"] = routeCase{attacks: keyAttacks(s, "POST", "/v1/finance/settle-payment", settleBody, fin)}

	// Events: each role reads the events it may (the table above); a
	// finance-only event is the marketplace's 404, and asking for its type
	// a 403.
	var evAll, evFin string
	ctx := context.Background()
	ta.db.View(ctx, func(tx *storage.Tx) error {
		tx.Get(ctx, &evAll, `SELECT id FROM events WHERE audience = 'all' ORDER BY id LIMIT 1`)
		return tx.Get(ctx, &evFin, `SELECT id FROM events WHERE audience = 'finance' ORDER BY id LIMIT 1`)
	})
	mkGet := func(name, path, key string, want int) attack {
		return attack{name: name, method: "GET", path: path, header: bearer(key), want: []int{want}}
	}
	fc["GET /v1/events"] = routeCase{attacks: append(keyAttacks(s, "GET", "/v1/events", "", market, fin),
		mkGet("the marketplace asks for finance items", "/v1/events?type=finance_item.opened", testAPIKey, 403),
		mkGet("the marketplace asks for reconciliations", "/v1/events?type=reconciliation.completed", testAPIKey, 403)),
		controls: []control{{"GET", "/v1/events", bearer(testAPIKey), nil, 200}, {"GET", "/v1/events?type=finance_item.opened", bearer(testFinanceKey), nil, 200}}}
	fc["GET /v1/events/{id}"] = routeCase{attacks: append(keyAttacks(s, "GET", "/v1/events/"+evAll, "", market, fin),
		mkGet("the marketplace reads a finance-only event", "/v1/events/"+evFin, testAPIKey, 404),
		mkGet("a malformed id", "/v1/events/evt_zz", testAPIKey, 404)),
		controls: []control{{"GET", "/v1/events/" + evAll, bearer(testAPIKey), nil, 200}, {"GET", "/v1/events/" + evFin, bearer(testFinanceKey), nil, 200}}}

	// Balances: the marketplace reads any of its users' (the table above).
	for _, rest := range []string{"/balances", "/statement?currency=SGD"} {
		route := "GET /v1/users/{id}/" + strings.Split(strings.TrimPrefix(rest, "/"), "?")[0]
		fc[route] = routeCase{attacks: keyAttacks(s, "GET", u(buyerB, rest), "", market, fin),
			controls: []control{{"GET", u(buyerB, rest), bearer(testAPIKey), nil, 200}, {"GET", u(buyerB, rest), bearer(testFinanceKey), nil, 200}}}
	}
	finPost := func(name, path, body string, want int) attack {
		return attack{name: name, method: "POST", path: path, body: body,
			header: map[string]string{"Authorization": "Bearer " + testFinanceKey, "Idempotency-Key": "authz-fin-" + name}, want: []int{want}}
	}
	fc["POST /v1/users/{id}/refunds-to-source"] = routeCase{attacks: append(keyAttacks(s, "POST", u(buyerB, "/refunds-to-source"), refundBody, fin),
		// The path's user is the only user: the body cannot name another
		// user or a payment (ToSource picks the user's own payments).
		finPost("refund naming another user in the body", u(buyerA, "/refunds-to-source"), `{"amount":"1.00","currency":"SGD","user_id":"`+buyerB+`"}`, 400),
		finPost("refund naming another buyer's payment", u(buyerB, "/refunds-to-source"), `{"amount":"1.00","currency":"SGD","payment_ref":"`+s.paidRefA+`"}`, 400),
		finPost("refund of more than the balance", u(sellerB, "/refunds-to-source"), `{"amount":"1.00","currency":"SGD"}`, 409),
	)}
	fc["GET /v1/users/{id}/refunds-to-source"] = routeCase{attacks: keyAttacks(s, "GET", u(buyerB, "/refunds-to-source"), "", fin),
		controls: []control{{"GET", u(buyerB, "/refunds-to-source"), bearer(testFinanceKey), nil, 200}}}
	fc["POST /v1/users/{id}/payouts"] = routeCase{attacks: keyAttacks(s, "POST", u(sellerA, "/payouts"), payoutBody, fin)}

	// Webhooks: only the provider's signature, recent, over our URL.
	var hooks = map[string][]attack{}
	for _, a := range webhookAttacks(ta, s, now) {
		a.method, a.want = "POST", []int{400}
		hooks[a.path] = append(hooks[a.path], a)
	}
	fc["POST /webhooks/stripe"] = routeCase{attacks: hooks["/webhooks/stripe"]}
	fc["POST /webhooks/rapyd"] = routeCase{attacks: hooks["/webhooks/rapyd"]}

	// The sandbox's control API.
	sandboxAttacks := append(keyAttacks(s, "POST", "/sandbox/payment-orders/"+s.pendingB.Number+"/approve", "", market),
		keyAttacks(s, "POST", "/sandbox/payment-orders/"+s.pendingB.Number+"/decline", "", market)...)
	// The query's attempt must be of the path's payment order.
	for _, action := range []string{"approve", "decline", "expire", "redeliver"} {
		sandboxAttacks = append(sandboxAttacks, attack{name: "another order's attempt", method: "POST",
			path:   "/sandbox/payment-orders/" + s.unpaidA.Number + "/" + action + "?attempt=" + s.pendingAttempt,
			header: bearer(testAPIKey), want: []int{404}})
	}
	fc["POST /sandbox/payment-orders/{number}/{action}"] = routeCase{attacks: sandboxAttacks}
	fc["PUT /sandbox/faults/{provider}"] = routeCase{attacks: keyAttacks(s, "PUT", "/sandbox/faults/stripe", `{"drop":100}`, market)}

	// The buyer's checkout pages.
	fc["GET /checkout/{number}"] = routeCase{attacks: checkoutAttacks(ta, s, ""),
		controls: []control{{"GET", "/checkout/" + s.unpaidA.Number + "?t=" + url.QueryEscape(s.checkoutTokenA), nil, nil, 200}}}
	fc["GET /checkout/{number}/return"] = routeCase{attacks: checkoutAttacks(ta, s, "/return"),
		controls: []control{{"GET", "/checkout/" + s.unpaidA.Number + "/return?t=" + url.QueryEscape(s.checkoutTokenA), nil, nil, 200}}}
	fc["POST /checkout/{number}/attempts"] = routeCase{attacks: checkoutFormAttacks(ta, s)}

	// Finance staff's pages.
	login := func(name, key, csrf string, cookie bool, header map[string]string, want int) attack {
		a := attack{name: name, method: "POST", path: "/finance/login", header: header, want: []int{want},
			body: url.Values{"key": {key}, "actor": {"mallory"}, "csrf": {csrf}}.Encode()}
		if cookie {
			a.cookies = map[string]string{"paygate_finance_csrf": s.loginCookie}
		}
		return a
	}
	fc["POST /finance/login"] = routeCase{public: "the login form: it takes the finance key", attacks: []attack{
		login("the marketplace key", testAPIKey, s.loginCSRF, true, nil, 401),
		login("an unknown key", "not-a-key", s.loginCSRF, true, nil, 401),
		login("the finance key's prefix", testFinanceKey[:4], s.loginCSRF, true, nil, 401),
		login("no CSRF cookie", testFinanceKey, s.loginCSRF, false, nil, 403),
		login("no CSRF field", testFinanceKey, "", true, nil, 403),
		login("from another site", testFinanceKey, s.loginCSRF, true, map[string]string{"Origin": "https://evil.example"}, 403),
	}}
	fc["POST /finance/logout"] = routeCase{public: "ends the caller's own session; without one it only redirects to the login",
		attacks: formAttacks(s, "/finance/logout", url.Values{})[:1]}
	for _, p := range []string{"/finance/", "/finance/trial-balance", "/finance/escrow", "/finance/items", "/finance/reconciliations", "/finance/webhooks"} {
		fc["GET "+p] = routeCase{attacks: pageAttacks(s, now, "GET", p, ""), controls: []control{
			{"GET", p, nil, map[string]string{"paygate_finance_session": s.sessionCookie}, 200},
			{"GET", p, nil, map[string]string{"paygate_finance_session": financeSession(s.sessionSecret, testFinanceKey, now.Add(time.Hour), "alice")}, 200}}}
	}
	fc["GET /finance/reconciliations/{id}"] = routeCase{attacks: pageAttacks(s, now, "GET", "/finance/reconciliations/"+s.run, ""),
		controls: []control{{"GET", "/finance/reconciliations/" + s.run, nil, map[string]string{"paygate_finance_session": s.sessionCookie}, 200}}}
	item := func(id int64, action string) string { return fmt.Sprintf("/finance/items/%d/%s", id, action) }
	for _, c := range []struct {
		action string
		id     int64
		form   url.Values
		extra  []attack
	}{
		{"resolve", s.unknownItem, url.Values{"reason": {"authz"}}, nil},
		{"resolve-dispute", s.lateItem, url.Values{"reason": {"authz"}, "sales_order": {s.disputed}, "amount": {"1.00"}}, []attack{
			// A sales order of another payment order than the item's.
			signedForm(s, "a sales order of another payment order", item(s.lateItem, "resolve-dispute"),
				url.Values{"reason": {"authz"}, "sales_order": {s.disputed}, "amount": {"1.00"}}, 400),
		}},
		{"settle", s.unknownItem, url.Values{"payment_ref": {s.unknownRef}}, []attack{
			// Another payment than the one the item names.
			signedForm(s, "another payment than the item's", item(s.unknownItem, "settle"), url.Values{"payment_ref": {s.paidRefA}}, 400),
		}},
		{"payout", s.lateItem, url.Values{"beneficiary": {"authz"}, "bank_reference": {"NL91"}, "amount": {"1.00"}}, []attack{
			signedForm(s, "a payout of an item that is not a late payment", item(s.unknownItem, "payout"), url.Values{"beneficiary": {"authz"}, "bank_reference": {"NL91"}, "amount": {"1.00"}}, 400),
			signedForm(s, "a payout with a NUL in its beneficiary", item(s.lateItem, "payout"), url.Values{"beneficiary": {"a\x00"}, "bank_reference": {"NL91"}, "amount": {"1.00"}}, 400),
		}},
		{"refund", s.lateItem, url.Values{"reason": {"authz"}, "amount": {"1.00"}}, []attack{
			signedForm(s, "an item that is not a late payment", item(s.unknownItem, "refund"), url.Values{"reason": {"authz"}, "amount": {"1.00"}}, 400),
			signedForm(s, "an item that does not exist", item(999999, "refund"), url.Values{"reason": {"authz"}, "amount": {"1.00"}}, 404),
		}},
	} {
		path := item(c.id, c.action)
		var as []attack
		as = append(as, pageAttacks(s, now, "POST", path, c.form.Encode())...)
		as = append(as, formAttacks(s, path, c.form)...)
		as = append(as, c.extra...)
		fc["POST /finance/items/{id}/"+c.action] = routeCase{attacks: as}
	}
	// Events and webhook endpoints: both keys, each role its own
	// endpoints (another role's is 404) and the events it may read.
	evs := "/v1/events"
	fc["GET "+evs] = routeCase{attacks: keyAttacks(s, "GET", evs, "", market, fin)}
	fc["GET "+evs+"/{id}"] = routeCase{attacks: keyAttacks(s, "GET", evs+"/evt_0123456789abcdef01234567", "", market, fin)}
	fc["POST "+evs+"/{id}/redeliver"] = routeCase{attacks: keyAttacks(s, "POST", evs+"/evt_0123456789abcdef01234567/redeliver", "", market, fin)}
	we := "/v1/webhook-endpoints"
	mine := we + "/" + s.endpointMK
	other := func(method, path, body string) attack {
		return attack{name: "the finance key on the marketplace's endpoint", method: method, path: path, body: body,
			header: map[string]string{"Authorization": "Bearer " + testFinanceKey, "Idempotency-Key": "authz-other-" + method + path}, want: []int{404}}
	}
	fc["GET "+we] = routeCase{attacks: keyAttacks(s, "GET", we, "", market, fin)}
	fc["POST "+we] = routeCase{attacks: keyAttacks(s, "POST", we, `{"url":"http://127.0.0.1:9/x","events":["*"]}`, market, fin)}
	fc["GET "+we+"/{id}"] = routeCase{attacks: append(keyAttacks(s, "GET", mine, "", market, fin), other("GET", mine, "")),
		controls: []control{{"GET", mine, bearer(testAPIKey), nil, 200}}}
	fc["PATCH "+we+"/{id}"] = routeCase{attacks: append(keyAttacks(s, "PATCH", mine, `{"disabled":true}`, market, fin), other("PATCH", mine, `{"disabled":true}`))}
	fc["DELETE "+we+"/{id}"] = routeCase{attacks: append(keyAttacks(s, "DELETE", mine, "", market, fin), other("DELETE", mine, ""))}
	fc["POST "+we+"/{id}/rotate-secret"] = routeCase{attacks: append(keyAttacks(s, "POST", mine+"/rotate-secret", "", market, fin), other("POST", mine+"/rotate-secret", ""))}
	fc["GET "+we+"/{id}/deliveries"] = routeCase{attacks: append(keyAttacks(s, "GET", mine+"/deliveries", "", market, fin), other("GET", mine+"/deliveries", "")),
		controls: []control{{"GET", mine + "/deliveries", bearer(testAPIKey), nil, 200}}}

	return fc
}

// authzResult is an attack's answer.
type authzResult struct {
	status int
	loc    string
	body   []byte
	cookie []string // the cookies it set
}

// send makes one request and returns its answer.
func (ta *testApp) send(t *testing.T, method, path string, header, cookies map[string]string, body string) authzResult {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ta.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case body == "":
	case strings.HasPrefix(path, "/finance/") || strings.HasPrefix(path, "/checkout/"):
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case strings.HasPrefix(path, "/v1/reconciliations"):
		req.Header.Set("Content-Type", "text/csv")
	default:
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// The authorization walks send what must be refused (no CSRF token, a
	// forged signature, a stranger's object): only the answers are held to
	// the document.
	req = breaksContract(req)
	for k, v := range cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := ta.noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := authzResult{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: b}
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			out.cookie = append(out.cookie, c.Name)
		}
	}
	return out
}

// routeOf returns the key (in walkRoutes' form) of the route that serves
// method and path, or "".
func routeOf(t *testing.T, r *mux.Router, method, path string) string {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	var m mux.RouteMatch
	if !r.Match(req, &m) || m.Route == nil || m.MatchErr != nil {
		return ""
	}
	tpl, err := m.Route.GetPathTemplate()
	if err != nil {
		return ""
	}
	p, _, err := openAPIPath(tpl)
	if err != nil {
		return ""
	}
	re, _ := m.Route.GetPathRegexp()
	if !strings.HasSuffix(re, "$") {
		return anyMethod + " " + p + "*"
	}
	return method + " " + p
}

// tableSnapshot is a table's row count and a hash of its rows in order.
type tableSnapshot struct {
	rows int
	hash string
}

// snapshotTables reads every table of the database, each row rendered
// with its column names, sorted, and hashed. Tables in skip are left out.
func snapshotTables(t *testing.T, db *storage.DB, skip ...string) map[string]tableSnapshot {
	t.Helper()
	out := map[string]tableSnapshot{}
	for name, tr := range readTables(t, db, skip...) {
		lines := make([]string, 0, len(tr.rows))
		for _, row := range tr.rows {
			var b strings.Builder
			for i, v := range row {
				fmt.Fprintf(&b, "%s=%s;", tr.cols[i], v)
			}
			lines = append(lines, b.String())
		}
		sort.Strings(lines)
		h := sha256.New()
		for _, l := range lines {
			io.WriteString(h, l+"\n")
		}
		out[name] = tableSnapshot{rows: len(lines), hash: hex.EncodeToString(h.Sum(nil))}
	}
	return out
}

// idempotencyRows reads the idempotency store: each stored request's
// hash, status and answer, by role and key.
func idempotencyRows(t *testing.T, db *storage.DB) map[string]string {
	t.Helper()
	ctx := context.Background()
	var rows []struct {
		Role   string  `db:"role"`
		Key    string  `db:"key"`
		Hash   string  `db:"request_hash"`
		Status *int64  `db:"status"`
		Body   *[]byte `db:"body"`
	}
	err := db.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &rows, `SELECT role, key, request_hash, status, body FROM idempotency_requests`)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		status, body := "none", ""
		if r.Status != nil {
			status = strconv.FormatInt(*r.Status, 10)
		}
		if r.Body != nil {
			body = string(*r.Body)
		}
		out[r.Role+" "+r.Key] = status + " " + r.Hash + " " + body
	}
	return out
}

// quiesce waits until every webhook the simulators send is applied
// (quiet), so that the snapshots compare a still state.
func quiesce(t *testing.T, ta *testApp) {
	t.Helper()
	ta.quiet(t)
	// The events committed so far get their places in commit order (on
	// PostgreSQL after commit, by the sequencer, which a read of the events
	// API runs): not a change an attack made.
	if _, err := ta.app.events.Sequence(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAuthzWalk walks every route with every wrong credential, on both
// backends, and checks that each is refused and that nothing changed: no
// table (but the idempotency store, which may only gain refusals), no
// simulator, no webhook.
func TestAuthzWalk(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAuthzApp(t, b)
			s := buildAuthzState(t, ta)
			quiesce(t, ta)
			now := time.Now()
			cases := authzCases(ta, s, now)

			// Every route has a case, and every case a route.
			routes := walkRoutes(t, ta.srv.Router())
			for k := range routes {
				if _, ok := cases[k.String()]; !ok {
					t.Errorf("route %s has no case in authzCases: say who may call it and add its attacks", k)
				}
			}
			for k := range cases {
				found := false
				for r := range routes {
					found = found || r.String() == k
				}
				if !found {
					t.Errorf("authzCases has %s, which no route serves", k)
				}
			}

			beforeTables := snapshotTables(t, ta.db, "idempotency_requests")
			beforeIdem := idempotencyRows(t, ta.db)
			beforeStripe, beforeRapyd := ta.app.stripeSim.Usage(), ta.app.rapydSim.Usage()
			beforeFaults := ta.app.stripeSim.Faults()

			same := map[string]authzResult{}
			attacks := 0
			for _, key := range slices.Sorted(maps.Keys(cases)) {
				c := cases[key]
				for _, a := range c.attacks {
					attacks++
					if got := routeOf(t, ta.srv.Router(), a.method, strings.Split(a.path, "?")[0]); got != key {
						t.Errorf("%s: attack %q (%s %s) is served by %q, not this route", key, a.name, a.method, a.path, got)
					}
					r := ta.send(t, a.method, a.path, a.header, a.cookies, a.body)
					if !slices.Contains(a.want, r.status) {
						t.Errorf("%s: %s = %d, want %v\n%.300s", key, a.name, r.status, a.want, r.body)
						continue
					}
					if a.loc != "" && r.loc != a.loc {
						t.Errorf("%s: %s = %d to %q, want to %q", key, a.name, r.status, r.loc, a.loc)
					}
					for _, c := range r.cookie {
						if c == "paygate_finance_session" {
							t.Errorf("%s: %s was refused but set a session cookie", key, a.name)
						}
					}
					if a.same != "" {
						if prev, ok := same[a.same]; ok && (prev.status != r.status || string(prev.body) != string(r.body)) {
							t.Errorf("%s: %s answers %d %q, unlike the other wrong links (%d %q): it tells them apart",
								key, a.name, r.status, r.body, prev.status, prev.body)
						}
						same[a.same] = r
					}
				}
				for _, c := range c.controls {
					if r := ta.send(t, c.method, c.path, c.header, c.cookies, ""); r.status != c.want {
						t.Errorf("%s: control %s %s with the right credential = %d, want %d: the attacks prove nothing\n%.300s",
							key, c.method, c.path, r.status, c.want, r.body)
					}
				}
				if c.public == "" && len(c.attacks) == 0 {
					t.Errorf("%s: neither public nor attacked", key)
				}
			}
			t.Logf("%d routes, %d attacks", len(cases), attacks)

			// Spellings of finance-only paths that might slip past a route:
			// none is served to the marketplace key. A 301 is the router
			// cleaning the path; its target is then refused like any other.
			for _, p := range []string{"/v1/finance//items", "/v1/finance/items/", "/v1/finance/./items", "/v1/x/../finance/items",
				"/V1/FINANCE/ITEMS", "/v1/finance%2Fitems", "/v1/finance/items%00", "/v1/users/" + buyerA + "/refunds-to-source/",
				"/finance//items", "/finance/items/", "/Finance/items"} {
				r := ta.send(t, "GET", p, bearer(testAPIKey), nil, "")
				switch {
				case r.status == http.StatusMovedPermanently:
					if next := ta.send(t, "GET", r.loc, bearer(testAPIKey), nil, ""); next.status != http.StatusForbidden && next.status != http.StatusSeeOther {
						t.Errorf("GET %s redirects to %s, which answers the marketplace key %d", p, r.loc, next.status)
					}
				case r.status == http.StatusForbidden, r.status == http.StatusNotFound, r.status == http.StatusMethodNotAllowed,
					r.status == http.StatusBadRequest, r.status == http.StatusSeeOther && strings.HasPrefix(p, "/finance/"):
				default:
					t.Errorf("GET %s with the marketplace key = %d, want it refused\n%.300s", p, r.status, r.body)
				}
			}

			// Nothing changed, once any webhook an attack set off is in
			// and processed (quiesce).
			quiesce(t, ta)
			after := snapshotTables(t, ta.db, "idempotency_requests")
			for name, was := range beforeTables {
				if now := after[name]; now != was {
					t.Errorf("table %s changed: %d rows %.12s, then %d rows %.12s", name, was.rows, was.hash, now.rows, now.hash)
				}
			}
			if len(after) != len(beforeTables) {
				t.Errorf("tables before %d, after %d", len(beforeTables), len(after))
			}
			// The idempotency store keeps the answers of refused requests
			// that got past the key check (as Stripe does): its old rows
			// are as they were, and each new one is a stored 4xx.
			afterIdem := idempotencyRows(t, ta.db)
			for k, was := range beforeIdem {
				if afterIdem[k] != was {
					t.Errorf("idempotency store: %s changed from %.80s to %.80s", k, was, afterIdem[k])
				}
			}
			if n := len(afterIdem) - len(beforeIdem); n < 30 {
				t.Errorf("idempotency store: %d new refusals, want one per attack past the key check (30 or more)", n)
			}
			for k, now := range afterIdem {
				if _, old := beforeIdem[k]; !old && !regexp.MustCompile(`^4\d\d `).MatchString(now) {
					t.Errorf("idempotency store: new %s is %.120s: an attack succeeded or is in flight", k, now)
				}
			}
			if su, ru := ta.app.stripeSim.Usage(), ta.app.rapydSim.Usage(); su != beforeStripe || ru != beforeRapyd {
				t.Errorf("the simulators changed: stripe %+v then %+v, rapyd %+v then %+v", beforeStripe, su, beforeRapyd, ru)
			}
			if f := ta.app.stripeSim.Faults(); f != beforeFaults {
				t.Errorf("stripe's faults changed: %+v", f)
			}

			// The forged webhooks were refused for their signatures alone:
			// signed with the service's secrets, the same bodies are taken.
			stripeBody, rapydBody := forgedStripeEvent(s, time.Now()), forgedRapydEvent(time.Now())
			if r := ta.send(t, "POST", "/webhooks/stripe", stripeSigned(stripeBody, authzStripeSecret, time.Now()), nil, stripeBody); r.status != 200 {
				t.Errorf("the forged Stripe event, signed with our secret = %d %s, want 200", r.status, r.body)
			}
			hook := ta.url + "/webhooks/rapyd"
			if r := ta.send(t, "POST", "/webhooks/rapyd", rapydSigned(hook, rapydBody, authzRapydAccess, authzRapydSecret, time.Now()), nil, rapydBody); r.status != 200 {
				t.Errorf("the forged Rapyd event, signed with our keys = %d %s, want 200", r.status, r.body)
			}
		})
	}
}

// startAuthzApp starts the app with known webhook secrets and a metrics
// token, and without rate limits: the walk sends hundreds of bad keys from
// one address, which the limits (tested in server and TestRateLimitServe)
// would answer 429 before the check under test runs.
func startAuthzApp(t *testing.T, b storagetest.Backend) *testApp {
	t.Helper()
	return startAppServer(t, b.DSN(t), appConfig{stripeWebhookSecret: authzStripeSecret, rapydAccessKey: authzRapydAccess, rapydSecretKey: authzRapydSecret},
		nil, "http", server.Config{MetricsToken: testMetricsToken, RateLimits: &server.RateLimits{}})
}

const testMetricsToken = "test-metrics-token"

// TestAuthzObjectChecks: below HTTP, sales order actions check the acting
// user against the order; a refund to source of one user's balance goes to
// that user's own payments only, however recent another buyer's are; and a
// wrong checkout link of an order that exists answers exactly as one of an
// order that does not.
func TestAuthzObjectChecks(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAuthzApp(t, b)
			s := buildAuthzState(t, ta)
			ctx := context.Background()

			// Each action by a user of another order (the other buyer or
			// seller, who is a party to orders of their own) is EFORBIDDEN
			// and changes nothing.
			for _, c := range []struct {
				k      string
				action orders.Action
				actor  string
			}{
				{s.waitConfirm, orders.Confirm, buyerB},
				{s.waitConfirm, orders.RequestRefund, buyerB},
				{s.waitConfirm, orders.Confirm, sellerA},
				{s.waitDelivery, orders.Deliver, sellerA},
				{s.waitDelivery, orders.Refund, buyerA},
				{s.refunding, orders.AgreeRefund, sellerA},
				{s.refunding, orders.RefuseRefund, buyerB},
				{s.refundRefused, orders.OpenDispute, buyerA},
				{s.refundRefused, orders.OpenDispute, sellerA},
				{s.disputed, orders.Resolve, buyerB},
				{s.disputed, orders.Resolve, sellerA},
			} {
				k := paygate.SalesOrderNumber(c.k)
				var before orders.SalesOrder
				ta.db.View(ctx, func(tx *storage.Tx) (err error) { before, err = orders.Get(ctx, tx, k); return err })
				_, err := ta.app.lifecycle.Act(ctx, k, orders.Request{Action: c.action, Actor: c.actor, Reason: "other",
					RefundAmount: paygate.New(1000, paygate.SGD)})
				if code := paygate.ErrorCode(err); code != paygate.EFORBIDDEN {
					t.Errorf("Act(%s, %s by %s) = %v (%s), want %s", c.k, c.action, c.actor, err, code, paygate.EFORBIDDEN)
				}
				var after orders.SalesOrder
				ta.db.View(ctx, func(tx *storage.Tx) (err error) { after, err = orders.Get(ctx, tx, k); return err })
				if after.Status != before.Status || len(after.History) != len(before.History) {
					t.Errorf("a refused %s moved %s from %s to %s", c.action, c.k, before.Status, after.Status)
				}
			}

			// Refunds to source: B paid last, but A's balance goes back to
			// A's payment only, and B's to B's.
			for _, c := range []struct{ user, amount, ref string }{{buyerA, "5.00", s.paidRefA}, {buyerB, "10.00", s.paidRefB}} {
				var out struct {
					Refunds []finance.SourceRefund `json:"refunds"`
				}
				status := ta.callWith(t, testFinanceKey, "authz-refund-"+c.user, "POST", "/v1/users/"+c.user+"/refunds-to-source",
					map[string]any{"amount": c.amount, "currency": "SGD", "reason": "authz"}, &out)
				if status != http.StatusCreated || len(out.Refunds) == 0 {
					t.Fatalf("refund %s of %s to source = %d %+v", c.amount, c.user, status, out)
				}
				for _, r := range out.Refunds {
					if r.PaymentRef != c.ref || r.UserID != c.user {
						t.Errorf("%s's refund went to payment %s of user %s, want their own payment %s", c.user, r.PaymentRef, r.UserID, c.ref)
					}
				}
			}
			var crossed int
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &crossed, `SELECT COUNT(*) FROM source_refunds r
					JOIN payment_attempts a ON a.id = r.attempt JOIN payment_orders p ON p.number = a.payment_order
					WHERE p.buyer_id <> r.user_id`)
			})
			if crossed != 0 {
				t.Errorf("%d refunds to source went to another buyer's payment", crossed)
			}
			// A's balance is spent: asking for more is refused, and takes
			// nothing of B's.
			var e apiError
			if status := ta.callWith(t, testFinanceKey, "authz-refund-more", "POST", "/v1/users/"+buyerA+"/refunds-to-source",
				map[string]any{"amount": "0.01", "currency": "SGD"}, &e); status != http.StatusConflict && status != http.StatusUnprocessableEntity {
				t.Errorf("refund beyond %s's balance = %d %+v, want a refusal", buyerA, status, e)
			}
			if got := ta.balance(t, buyerB); got != "0.00" {
				t.Errorf("%s's balance after the refunds = %s, want 0.00", buyerB, got)
			}

			// The checkout link is the buyer's key: the marketplace gets it
			// with the order, the finance key does not.
			for _, c := range []struct {
				key  string
				want bool
			}{{testAPIKey, true}, {testFinanceKey, false}} {
				r := ta.send(t, "GET", "/v1/payment-orders/"+s.unpaidA.Number, bearer(c.key), nil, "")
				has := strings.Contains(string(r.body), "checkout_url") || strings.Contains(string(r.body), s.checkoutTokenA)
				if r.status != http.StatusOK || has != c.want {
					t.Errorf("GET /v1/payment-orders/%s with key %s = %d, has the checkout link %t, want %t", s.unpaidA.Number, c.key, r.status, has, c.want)
				}
			}

			// 404, not 403: a wrong link of an existing order is the same
			// answer, headers and all, as a link of no order.
			get := func(path string) (int, http.Header, string) {
				resp, err := ta.client.Get(ta.url + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				h := resp.Header.Clone()
				h.Del("Date")
				h.Del("X-Request-Id")
				return resp.StatusCode, h, string(b)
			}
			for _, suffix := range []string{"", "/return"} {
				es, eh, eb := get("/checkout/" + s.paidA.Number + suffix + "?t=" + url.QueryEscape(s.checkoutTokenB))
				ms, mh, mb := get("/checkout/" + s.missingP + suffix + "?t=" + url.QueryEscape(s.checkoutTokenB))
				if es != http.StatusNotFound || es != ms || eb != mb || fmt.Sprint(eh) != fmt.Sprint(mh) {
					t.Errorf("GET /checkout/{P}%s with a wrong token: existing order %d %v, missing order %d %v; bodies equal %t",
						suffix, es, eh, ms, mh, eb == mb)
				}
			}
		})
	}
}
