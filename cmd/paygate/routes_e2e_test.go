package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/stripe"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The routes of issue 14's tests: every method with a second road, its
// catalog provider first, and the same roads the other way round.
const (
	routesDefaultFirst = "ideal=stripe,rapyd;paynow=stripe,rapyd;boleto=stripe,rapyd;kakaopay=rapyd,stripe;samsungpay=rapyd,stripe"
	routesSecondFirst  = "ideal=rapyd,stripe;paynow=rapyd,stripe;boleto=rapyd,stripe;kakaopay=stripe,rapyd;samsungpay=stripe,rapyd"
)

// routeCases are the methods, each with an order of two items, in the
// order of the catalog.
var routeCases = []methodCase{
	{providers.IDEAL, paygate.EUR, []string{"12.50", "7.25"}, nil},
	{providers.PayNow, paygate.SGD, []string{"30.00", "4.40"}, nil},
	{providers.Boleto, paygate.BRL, []string{"99.90", "10.10"}, boletoPayer},
	{providers.KakaoPay, paygate.KRW, []string{"15000", "2500"}, nil},
	{providers.SamsungPay, paygate.KRW, []string{"42000", "3000"}, nil},
}

// routeJSON is an attempt's route in the API.
type routeJSON struct {
	Reason string `json:"reason"`
	From   string `json:"from"`
	Cause  string `json:"cause"`
}

// routedAttemptJSON is an attempt with what routing says of it.
type routedAttemptJSON struct {
	attemptJSON
	FailureReason string    `json:"failure_reason"`
	ReplacedBy    string    `json:"replaced_by"`
	Route         routeJSON `json:"route"`
}

// routedApp is the service started with routes, with the providers'
// credentials it was given so that the test can ask the simulators what
// they hold.
type routedApp struct {
	*testApp
	dsn string
	cfg appConfig
}

// startRouted starts the service in sandbox mode on backend b with routes
// and rc's breakers and create timeout.
func startRouted(t *testing.T, b storagetest.Backend, routes string, rc routeConfig) *routedApp {
	t.Helper()
	rs, err := routing.Parse(routes)
	if err != nil {
		t.Fatal(err)
	}
	rc.routes = rs
	c := appConfig{routing: rc,
		stripeSecretKey: "sk_test_routes_e2e", stripeWebhookSecret: "whsec_routes_e2e_0123456789abcdef",
		rapydAccessKey: "rak_routes_e2e", rapydSecretKey: "rsk_routes_e2e_0123456789abcdef"}
	dsn := b.DSN(t)
	ta := startAppOn(t, dsn, c)
	c.mode = modeSandbox
	return &routedApp{testApp: ta, dsn: dsn, cfg: c}
}

// attempt starts an attempt of c's method on po and returns its status
// and the attempt (or error) answered.
func (ra *routedApp) attempt(t *testing.T, po orderJSON, c methodCase) (int, routedAttemptJSON) {
	t.Helper()
	body := map[string]any{"method": c.method}
	if c.payer != nil {
		body["payer"] = c.payer
	}
	var a routedAttemptJSON
	raw := json.RawMessage{}
	s := ra.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &raw)
	if s == 201 {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("attempt of %s on %s = %d %s", c.method, po.Number, s, raw)
	}
	return s, a
}

// mustAttempt is attempt that must start, at provider want with route
// reason.
func (ra *routedApp) mustAttempt(t *testing.T, po orderJSON, c methodCase, want string, reason routing.Reason) routedAttemptJSON {
	t.Helper()
	s, a := ra.attempt(t, po, c)
	if s != 201 || a.Provider != want || a.Route.Reason != string(reason) || a.Status != "pending" || a.ProviderRef == "" {
		t.Fatalf("attempt of %s = %d %+v, want a pending attempt at %s, route %s", c.method, s, a, want, reason)
	}
	return a
}

// attempts returns payment order p's status and attempts.
func (ra *routedApp) attempts(t *testing.T, p string) (string, []routedAttemptJSON) {
	t.Helper()
	var po struct {
		Status   string              `json:"status"`
		Attempts []routedAttemptJSON `json:"attempts"`
	}
	if s := ra.call(t, "GET", "/v1/payment-orders/"+p, nil, &po); s != 200 {
		t.Fatalf("GET payment order %s = %d", p, s)
	}
	return po.Status, po.Attempts
}

// setFaults sets the API fault of provider's simulator through the
// sandbox API.
func (ra *routedApp) setFaults(t *testing.T, provider string, f map[string]any) {
	t.Helper()
	var out map[string]any
	if s := ra.call(t, "PUT", "/sandbox/faults/"+provider, f, &out); s != 200 {
		t.Fatalf("PUT /sandbox/faults/%s %v = %d %v", provider, f, s, out)
	}
}

// paymentsAt returns the references of the payments each simulator holds
// for attempt id, asking as paygate's clients would: Stripe's search by
// the attempt's metadata, Rapyd's list by merchant_reference_id (Rapyd's
// FindPayment, which only lists). Stripe's FindPayment is not used: on a
// miss it replays the create, which would make the payment it looks for.
func (ra *routedApp) paymentsAt(t *testing.T, id string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	stripeURL, _ := ra.cfg.providerURLs(ra.publicURL)
	q := url.Values{"query": {"metadata['" + stripe.MetadataAttempt + "']:'" + id + "'"}, "limit": {"100"}}
	req, _ := http.NewRequest(http.MethodGet, stripeURL+"/v1/payment_intents/search?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+ra.cfg.stripeSecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var found struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &found) != nil {
		t.Fatalf("search the Stripe simulator for attempt %s = %d %s", id, resp.StatusCode, body)
	}
	for _, pi := range found.Data {
		out[providers.Stripe] = append(out[providers.Stripe], pi.ID)
	}
	provs, err := providerClients(ra.cfg, ra.publicURL, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	pay, err := provs[providers.Rapyd].(providers.Finder).FindPayment(context.Background(), providers.PaymentRequest{Attempt: id})
	switch {
	case err == nil:
		out[providers.Rapyd] = append(out[providers.Rapyd], pay.Ref)
	case paygate.ErrorCode(err) != paygate.ENOTFOUND:
		t.Fatalf("look attempt %s up at Rapyd: %v", id, err)
	}
	return out
}

// payThrough pays an order of c from end to end through provider: an
// attempt the route gives provider (for reason), the buyer's payment at
// the simulator, whose signed webhook marks the order paid, each item's
// escrow, one item delivered and confirmed (completed), the other
// refunded by its seller to the buyer's balance, and that balance refunded
// to the payment at provider where the provider refunds the method (a
// manual payout's 409 where it does not). The buyer is buyer alone.
func (ra *routedApp) payThrough(t *testing.T, c methodCase, buyer, provider string, reason routing.Reason) {
	t.Helper()
	po := ra.createOrderFor(t, buyer, c)
	a := ra.mustAttempt(t, po, c, provider, reason)
	ra.pay(t, po, a.attemptJSON)
	ra.waitPaid(t, po.Number)
	ctx := context.Background()
	l := ledger.New(ra.db)
	for _, it := range po.Items {
		want, _ := paygate.ParseMoney(it.Amount, c.currency)
		var bal ledger.Balance
		err := ra.db.View(ctx, func(tx *storage.Tx) error {
			var err error
			bal, err = l.Balance(ctx, tx, ledger.Escrow(it.Number), c.currency)
			return err
		})
		if err != nil || bal.Normal() != want {
			t.Fatalf("escrow of %s = %v (%v), want %v", it.Number, bal.Normal(), err, want)
		}
	}
	ra.mustAct(t, po.Items[0].Number, "deliver", map[string]any{"user_id": "S1"}, "waiting_confirmation")
	ra.mustAct(t, po.Items[0].Number, "confirm", map[string]any{"user_id": buyer}, "completed")
	ra.mustAct(t, po.Items[1].Number, "refund", map[string]any{"user_id": "S2", "reason": "out_of_stock"}, "refunded")
	refunded := po.Items[1].Amount
	if got := ra.balanceIn(t, buyer, string(c.currency)); got != refunded {
		t.Fatalf("%s's balance after the seller's refund = %s, want %s", buyer, got, refunded)
	}
	var out refundsJSON
	s := ra.callWith(t, testFinanceKey, fmt.Sprintf("r-%d", ra.key.Add(1)), "POST", "/v1/users/"+buyer+"/refunds-to-source",
		map[string]any{"amount": refunded, "currency": c.currency, "reason": "buyer asked for the money"}, &out)
	if c.method == providers.Boleto {
		if s != 409 {
			t.Fatalf("refund to a boleto paid through %s = %d %+v, want 409 (a manual payout instead)", provider, s, out)
		}
		return
	}
	if s != 201 || len(out.Refunds) != 1 || out.Refunds[0].Provider != provider || out.Refunds[0].Amount != refunded {
		t.Fatalf("refund to the source of a %s payment through %s = %d %+v", c.method, provider, s, out)
	}
	deadline := time.Now().Add(stepTimeout)
	for {
		var list refundsJSON
		ra.callWith(t, testFinanceKey, "", "GET", "/v1/users/"+buyer+"/refunds-to-source", nil, &list)
		if len(list.Refunds) == 1 && list.Refunds[0].Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refunds to source of %s = %+v, want one succeeded", buyer, list.Refunds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := ra.balanceIn(t, buyer, string(c.currency)); strings.Trim(got, "0.") != "" {
		t.Fatalf("%s's balance after the refund to source = %s, want zero", buyer, got)
	}
}

// books are what each provider's settlement report should hold: how many
// payments and refunds paygate made there.
type books map[string]struct{ paid, refunds int }

// checkBooks runs paygate ledger verify on the service's database and
// reconciles each simulator's settlement report: the ledger is clean,
// every line of both reports matches (want's payments and refunds, and
// payouts), and each provider's clearing account is zero.
func (ra *routedApp) checkBooks(t *testing.T, want books) {
	t.Helper()
	if out, code := runVerify(t, ra.dsn); code != exitOK || !strings.Contains(out, "ledger verify: OK") {
		t.Errorf("paygate ledger verify = exit %d\n%s", code, out)
	}
	ctx := context.Background()
	for _, p := range []string{providers.Stripe, providers.Rapyd} {
		resp, err := http.Get(ra.url + "/sandbox/" + p + "/reports/settlement.csv")
		if err != nil {
			t.Fatal(err)
		}
		report, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := ra.reconcileAt(t, p, string(report))
		if len(r.Unmatched) != 0 || count(r, "matched") != want[p].paid || count(r, "refund") != want[p].refunds || count(r, "payout") == 0 {
			t.Errorf("reconciliation of %s's report = %+v, want %d payments and %d refunds matched, payouts, nothing else\n%s",
				p, r, want[p].paid, want[p].refunds, report)
		}
		var clearing []int64
		err = ra.db.View(ctx, func(tx *storage.Tx) error {
			return tx.Select(ctx, &clearing, `SELECT debits - credits FROM ledger_account_totals WHERE name = ?`, ledger.ProviderClearing(p))
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clearing {
			if c != 0 {
				t.Errorf("%s's clearing after reconciling its report = %v, want 0 in every currency", p, clearing)
				break
			}
		}
	}
}

// TestRoutesPayEveryMethodBothWays pays every method from end to end
// through each of its two providers: with the catalog provider first, and
// with the routes the other way round; then the ledger verifies and both
// providers' reports reconcile.
func TestRoutesPayEveryMethodBothWays(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			for _, way := range []struct{ name, routes string }{{"default first", routesDefaultFirst}, {"second first", routesSecondFirst}} {
				t.Run(way.name, func(t *testing.T) {
					ra := startRouted(t, b, way.routes, routeConfig{})
					for i, c := range routeCases {
						order, reason := ra.app.router.Order(c.method)
						if reason != routing.ReasonPrimary {
							t.Fatalf("route of %s = %v %s, want primary", c.method, order, reason)
						}
						t.Run(string(c.method)+" through "+order[0], func(t *testing.T) {
							ra.payThrough(t, c, fmt.Sprintf("U%d", i+1), order[0], routing.ReasonPrimary)
						})
					}
					// Each method's payment, and a refund of all but boleto.
					want := books{}
					for _, c := range routeCases {
						order, _ := ra.app.router.Order(c.method)
						w := want[order[0]]
						w.paid++
						if c.method != providers.Boleto {
							w.refunds++
						}
						want[order[0]] = w
					}
					ra.checkBooks(t, want)
				})
			}
		})
	}
}
