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
// and rc's breakers and create timeout, its database clock now (time.Now
// if nil).
func startRouted(t *testing.T, b storagetest.Backend, routes string, rc routeConfig, now func() time.Time) *routedApp {
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
	ta := startAppClock(t, dsn, c, now)
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
					ra := startRouted(t, b, way.routes, routeConfig{}, nil)
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

// caseOf returns the route case of method m.
func caseOf(t *testing.T, m providers.Method) methodCase {
	t.Helper()
	for _, c := range routeCases {
		if c.method == m {
			return c
		}
	}
	t.Fatalf("no route case of %s", m)
	return methodCase{}
}

// TestRoutesFailover runs one service with every method's second road
// (PAYGATE_ROUTES routesDefaultFirst), breakers that open after two
// outages for a second, and a one-second create timeout, through the
// sandbox's API faults: Stripe down sends iDEAL, PayNow and Boleto to
// Rapyd until Stripe is back and its breakers close; Rapyd down sends
// KakaoPay and Samsung Pay to Stripe; a create that times out after
// making its payment leaves exactly one payment, at the first provider; a
// decline never fails over. The ledger then verifies and both providers'
// reports reconcile.
func TestRoutesFailover(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Now().UTC()}
			ra := startRouted(t, b, routesDefaultFirst, routeConfig{
				breaker:       routing.Breaker{Failures: 2, OpenFor: time.Second},
				createTimeout: time.Second,
			}, clk.Now)
			lost := map[string]string{} // lost attempts (their create may have reached the provider that was down) by order
			want := books{}
			paid := func(t *testing.T, po orderJSON, a routedAttemptJSON) {
				t.Helper()
				ra.pay(t, po, a.attemptJSON)
				ra.waitPaid(t, po.Number)
				w := want[a.Provider]
				w.paid++
				want[a.Provider] = w
			}
			buyer := 0
			order := func(t *testing.T, c methodCase) orderJSON {
				t.Helper()
				buyer++
				return ra.createOrderFor(t, fmt.Sprintf("U%d", buyer), c)
			}

			for _, down := range []struct {
				provider, other string
				methods         []providers.Method
			}{
				{providers.Stripe, providers.Rapyd, []providers.Method{providers.IDEAL, providers.PayNow, providers.Boleto}},
				{providers.Rapyd, providers.Stripe, []providers.Method{providers.KakaoPay, providers.SamsungPay}},
			} {
				t.Run(down.provider+" down", func(t *testing.T) {
					ra.setFaults(t, down.provider, map[string]any{"api": "down"})
					for _, m := range down.methods {
						c := caseOf(t, m)
						// Two outages: each attempt fails over, the
						// provider's attempt kept beside it.
						for range 2 {
							po := order(t, c)
							a := ra.mustAttempt(t, po, c, down.other, routing.ReasonFailover)
							if a.Route.From != down.provider || !strings.HasPrefix(a.Route.Cause, down.provider+" unavailable: ") {
								t.Fatalf("route of %s while %s is down = %+v, want a failover from it with its cause", m, down.provider, a.Route)
							}
							_, all := ra.attempts(t, po.Number)
							if len(all) != 2 || all[0].Provider != down.provider || all[1].ID != a.ID ||
								(all[0].Status != "failed" && all[0].ReplacedBy != a.ID) {
								t.Fatalf("attempts of %s = %+v, want %s's then %s's", po.Number, all, down.provider, down.other)
							}
							if all[0].Status == "creating" {
								lost[po.Number] = all[0].ID
							}
						}
						// Its breaker is open now: the provider is skipped.
						po := order(t, c)
						a := ra.mustAttempt(t, po, c, down.other, routing.ReasonFailover)
						if a.Route.From != down.provider || a.Route.Cause != down.provider+" circuit breaker open" {
							t.Fatalf("route of %s with %s's breaker open = %+v", m, down.provider, a.Route)
						}
						if _, all := ra.attempts(t, po.Number); len(all) != 1 {
							t.Fatalf("attempts of %s = %+v, want only %s's (the open breaker skips %s)", po.Number, all, down.other, down.provider)
						}
						checkMetrics(t, ra.url, map[string]string{
							fmt.Sprintf(`paygate_provider_breaker_state{method="%s",provider="%s"}`, m, down.provider): "2",
						})
						paid(t, po, a)
					}
					// Back up: each method returns to the provider once its
					// breaker lets a probe through (after a second) and the
					// probe closes it.
					ra.setFaults(t, down.provider, map[string]any{})
					for _, m := range down.methods {
						c := caseOf(t, m)
						deadline := time.Now().Add(10 * time.Second)
						for {
							po := order(t, c)
							s, a := ra.attempt(t, po, c)
							if s != 201 {
								t.Fatalf("attempt of %s after %s is back = %d", m, down.provider, s)
							}
							if a.Provider == down.provider {
								if a.Route.Reason != "primary" {
									t.Fatalf("attempt of %s back at %s = %+v, want route primary", m, down.provider, a)
								}
								paid(t, po, a)
								break
							}
							if a.Route.Cause != down.provider+" circuit breaker open" {
								t.Fatalf("attempt of %s while %s's breaker is open = %+v", m, down.provider, a)
							}
							if time.Now().After(deadline) {
								t.Fatalf("%s still goes to %s 10s after %s is back", m, a.Provider, down.provider)
							}
							time.Sleep(100 * time.Millisecond)
						}
						checkMetrics(t, ra.url, map[string]string{
							fmt.Sprintf(`paygate_provider_breaker_state{method="%s",provider="%s"}`, m, down.provider): "0",
						})
					}
				})
			}

			// A create that times out after making its payment: the
			// look-up finds it, and nothing fails over.
			for _, m := range []providers.Method{providers.IDEAL, providers.KakaoPay} {
				c := caseOf(t, m)
				first, _ := ra.app.router.Order(m)
				t.Run(first[0]+" times out after create", func(t *testing.T) {
					ra.setFaults(t, first[0], map[string]any{"api": "timeout_after_create", "api_delay": "3s"})
					po := order(t, c)
					a := ra.mustAttempt(t, po, c, first[0], routing.ReasonPrimary)
					ra.setFaults(t, first[0], map[string]any{})
					_, all := ra.attempts(t, po.Number)
					var refs []string
					for _, at := range all {
						for p, rs := range ra.paymentsAt(t, at.ID) {
							for _, r := range rs {
								refs = append(refs, p+" "+r)
							}
						}
					}
					if len(all) != 1 || all[0].ID != a.ID || len(refs) != 1 || refs[0] != first[0]+" "+a.ProviderRef {
						t.Fatalf("after a create that timed out: attempts %+v, payments at the providers %v; want one attempt and its one payment at %s",
							all, refs, first[0])
					}
					paid(t, po, a)
				})
			}

			// A decline is an answer: the order fails, and no attempt goes
			// to the other provider.
			for _, m := range []providers.Method{providers.IDEAL, providers.KakaoPay} {
				c := caseOf(t, m)
				first, _ := ra.app.router.Order(m)
				t.Run(string(m)+" declined at "+first[0], func(t *testing.T) {
					po := order(t, c)
					a := ra.mustAttempt(t, po, c, first[0], routing.ReasonPrimary)
					var out map[string]string
					if s := ra.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/decline", nil, &out); s != 200 || out["status"] != "failed" {
						t.Fatalf("decline = %d %v, want the order failed", s, out)
					}
					status, all := ra.attempts(t, po.Number)
					if status != "failed" || len(all) != 1 || all[0].ID != a.ID || all[0].Status != "failed" {
						t.Fatalf("after a decline: order %s, attempts %+v; want failed, with only the declined attempt", status, all)
					}
					if at := ra.paymentsAt(t, a.ID); len(at[first[0]]) != 1 || len(at[providers.Stripe])+len(at[providers.Rapyd]) != 1 {
						t.Fatalf("payments of the declined attempt = %v, want one at %s", at, first[0])
					}
				})
			}

			// Later the janitor looks each lost attempt's payment up at
			// its provider, which is back: none was made while it was
			// down (or one is made by Stripe's replay of the create, and
			// canceled), and no order changes.
			t.Run("janitor", func(t *testing.T) {
				if len(lost) == 0 {
					t.Fatal("no attempt was left lost by an outage")
				}
				before := map[string]string{}
				for p := range lost {
					before[p], _ = ra.attempts(t, p)
				}
				clk.Advance(11 * time.Minute)
				if _, err := ra.app.janitor.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				for p, id := range lost {
					status, all := ra.attempts(t, p)
					if status != before[p] || all[0].ID != id || (all[0].Status != "failed" && all[0].Status != "canceled") {
						t.Errorf("after the janitor: order %s is %s (was %s), its lost attempt %+v; want it failed or canceled", p, status, before[p], all[0])
					}
				}
			})

			ra.checkBooks(t, want)
		})
	}
}
