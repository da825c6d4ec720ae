package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The configuration TestRefundSurvivesServerKill gives its processes.
// Paygate runs in live mode (the sandbox would use its own simulators),
// so its keys are long and not the published ones; the provider keys are
// the simulators' process's as well, so that its simulators take
// paygate's calls and paygate takes their signed webhooks.
const (
	killAPIKey        = "kill-test-marketplace-key-0123456789abcdef"
	killFinanceKey    = "kill-test-finance-key-0123456789abcdef0123"
	killSimAPIKey     = "kill-test-simulators-marketplace-key"
	killStripeKey     = "sk_test_kill_0123456789abcdef"
	killStripeWebhook = "whsec_kill_0123456789abcdef0123"
	killRapydAccess   = "rak_kill_0123456789abcdef"
	killRapydSecret   = "rsk_kill_0123456789abcdef0123456789"

	killRequestTimeout = 2 * time.Minute // one HTTP request (a refund's provider call is bounded by finance.RefundCallTimeout)
	killReachTimeout   = time.Minute     // for the refund calls to reach the provider
	killPayTimeout     = time.Minute     // for a payment's webhook to pay its order
	// killDriveTimeout: the janitor asks again finance.RefundRetryAfter
	// after the refund was made, on its first pass after that (serve runs
	// it at start, then every minute); the test ages the refunds by that
	// while P is down, so it is the pass at P's start.
	killDriveTimeout = 2 * time.Minute
)

// TestRefundSurvivesServerKill is issue 18's "interrupted refund driven to
// a final state by the janitor", with the server killed midway. Two real
// processes: S, `paygate serve` in sandbox mode on a database of its own,
// hosts the provider simulators; P, `paygate serve` in live mode on the
// backend's database, has STRIPE_API_URL and RAPYD_API_URL at S's
// simulators. Both are reached through a front server of the test (as a
// load balancer would be): /sandbox/… goes to S, the rest to P, so that
// the simulators' webhooks (sent to the public URL) reach P.
//
// The buyer has a balance from an iDEAL payment at Stripe and a KakaoPay
// payment at Rapyd (their sales orders refunded to the balance). Finance
// refunds part of each to source through P; each refund reaches its
// simulator, which makes it, but its answer is held at the front and P is
// killed with SIGKILL before it gets it, and the finance client's requests
// die with P. The simulators' webhooks are dropped meanwhile (P is down
// while they would be sent), so nothing but the janitor can end the
// refunds. P is restarted on the same database: the refunds are still
// requested, with the balance debited; P's janitor asks each simulator
// again with the same idempotency key and gets the same refund back. Each
// refund ends succeeded, each payment has exactly one refund at its
// provider, the balance is debited once, and `paygate ledger verify`
// passes.
func TestRefundSurvivesServerKill(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel() // most of it is waiting for processes and webhooks
			k := &killRun{t: t, dsn: b.DSN(t), client: &http.Client{Timeout: killRequestTimeout}}
			k.run()
		})
	}
}

// killRun is one backend's run.
type killRun struct {
	t      *testing.T
	dsn    string // P's database
	client *http.Client
	front  *killFront
	sim    *crashServer // S
	pay    *crashServer // P
}

// killFront is the front server: /sandbox/… to S, the rest to P. While
// hold is set, it forwards each refund creation (POST …/v1/refunds) to S,
// reads S's answer, reports the call on reached, and keeps the answer
// until the caller is gone.
type killFront struct {
	srv     *httptest.Server
	mu      sync.Mutex
	sim, p  *url.URL // p is nil while P is down
	hold    atomic.Bool
	reached chan string // the paths of held refund calls S answered
}

func newKillFront(t *testing.T) *killFront {
	f := &killFront{reached: make(chan string, 16)}
	quiet := log.New(io.Discard, "", 0)
	toSim := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			f.mu.Lock()
			r.SetURL(f.sim)
			f.mu.Unlock()
		},
		ModifyResponse: func(resp *http.Response) error {
			req := resp.Request
			if !f.hold.Load() || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/v1/refunds") {
				return nil
			}
			io.Copy(io.Discard, resp.Body) // the provider made the refund and answered
			resp.Body.Close()
			f.reached <- req.URL.Path
			select {
			case <-req.Context().Done(): // paygate died waiting for the answer
			case <-time.After(killRequestTimeout):
			}
			return errors.New("the answer was held until paygate died")
		},
		ErrorLog: quiet,
	}
	toP := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			f.mu.Lock()
			if f.p != nil {
				r.SetURL(f.p)
			}
			f.mu.Unlock()
		},
		ErrorLog: quiet,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sandbox/") {
			toSim.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		up := f.p != nil
		f.mu.Unlock()
		if !up {
			http.Error(w, "paygate is down", http.StatusBadGateway)
			return
		}
		toP.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *killFront) route(sim, p *crashServer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sim != nil {
		f.sim, _ = url.Parse(sim.url())
	}
	f.p = nil
	if p != nil {
		f.p, _ = url.Parse(p.url())
	}
}

// startSim starts S: the sandbox, whose public URL (its simulators' pages
// and webhook target) is the front.
func (k *killRun) startSim() *crashServer {
	h := &crashHarness{t: k.t, dsn: filepath.Join(k.t.TempDir(), "simulators.db"), warnings: map[string]int{}, env: []string{
		"PAYGATE_MODE=sandbox", "PAYGATE_PUBLIC_URL=" + k.front.srv.URL, "PAYGATE_API_KEY=" + killSimAPIKey,
		"PAYGATE_FINANCE_KEY=" + killSimAPIKey + "-finance",
		"STRIPE_SECRET_KEY=" + killStripeKey, "STRIPE_WEBHOOK_SECRET=" + killStripeWebhook,
		"RAPYD_ACCESS_KEY=" + killRapydAccess, "RAPYD_SECRET_KEY=" + killRapydSecret,
	}}
	return h.start()
}

// startPaygate starts P on the run's database, in live mode with S's
// simulators as its providers.
func (k *killRun) startPaygate() *crashServer {
	h := &crashHarness{t: k.t, dsn: k.dsn, warnings: map[string]int{}, env: []string{
		"PAYGATE_MODE=live", "PAYGATE_PUBLIC_URL=" + k.front.srv.URL,
		"PAYGATE_API_KEY=" + killAPIKey, "PAYGATE_FINANCE_KEY=" + killFinanceKey,
		"STRIPE_API_URL=" + k.front.srv.URL + "/sandbox/stripe", "RAPYD_API_URL=" + k.front.srv.URL + "/sandbox/rapyd",
		"STRIPE_SECRET_KEY=" + killStripeKey, "STRIPE_WEBHOOK_SECRET=" + killStripeWebhook,
		"RAPYD_ACCESS_KEY=" + killRapydAccess, "RAPYD_SECRET_KEY=" + killRapydSecret,
	}}
	return h.start()
}

// call sends a JSON request to base+path with key (jsonCall).
func (k *killRun) call(base, key, idemKey, method, path string, body, out any) (int, error) {
	return jsonCall(k.client, key, idemKey, method, base+path, body, out)
}

// must is call to P that must answer want.
func (k *killRun) must(key, idemKey, method, path string, body, out any, want int) {
	k.t.Helper()
	if status, err := k.call(k.pay.url(), key, idemKey, method, path, body, out); status != want {
		k.t.Fatalf("%s %s = %d, want %d: %v%s", method, path, status, want, err, k.pay.tail())
	}
}

// paidBuyer has U1 pay an order of c's amounts with c's method at S's
// simulator (its hosted page), waits for the webhook to pay the order, and
// has each seller refund their item to U1's balance. It returns the
// payment's reference at the provider.
func (k *killRun) paidBuyer(c methodCase) string {
	t := k.t
	t.Helper()
	items := []map[string]any{}
	for i, a := range c.amounts {
		items = append(items, map[string]any{"seller_id": fmt.Sprintf("S%d", i+1), "amount": a, "description": fmt.Sprintf("item %d", i+1)})
	}
	var po orderJSON
	k.must(killAPIKey, "order-"+string(c.currency), http.MethodPost, "/v1/payment-orders", map[string]any{
		"buyer_id": "U1", "currency": c.currency, "items": items, "return_url": "https://shop.example/done",
	}, &po, http.StatusCreated)
	var a attemptJSON
	k.must(killAPIKey, "attempt-"+string(c.currency), http.MethodPost, "/v1/payment-orders/"+po.Number+"/attempts",
		map[string]any{"method": c.method}, &a, http.StatusCreated)
	if a.NextAction.Type != "redirect" || !strings.HasPrefix(a.NextAction.URL, k.front.srv.URL+"/sandbox/") {
		t.Fatalf("attempt %+v: want a redirect to the simulators' page", a)
	}
	// The buyer approves at the provider's hosted page.
	action := formAction(t, a.NextAction.URL, regexp.MustCompile(`(?i)approve`))
	resp, err := noRedirect.PostForm(action, url.Values{"phone": {"01012345678"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve at %s = %d, want 303 back to paygate", action, resp.StatusCode)
	}
	deadline := time.Now().Add(killPayTimeout)
	for {
		var got orderJSON
		k.must(killAPIKey, "", http.MethodGet, "/v1/payment-orders/"+po.Number, nil, &got, http.StatusOK)
		if got.Status == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment order %s is %s %s after its payment was approved at the provider%s", po.Number, got.Status, killPayTimeout, k.pay.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, it := range po.Items {
		var so salesOrderJSON
		k.must(killAPIKey, "refund-"+it.Number, http.MethodPost, "/v1/sales-orders/"+it.Number+"/refund",
			map[string]any{"user_id": fmt.Sprintf("S%d", i+1), "reason": "cannot_deliver"}, &so, http.StatusOK)
		if so.Status != "refunded" {
			t.Fatalf("seller refund of %s = %s, want refunded", it.Number, so.Status)
		}
	}
	return a.ProviderRef
}

// faults sets the faults of a simulator at S.
func (k *killRun) faults(provider string, f map[string]any) {
	k.t.Helper()
	if status, err := k.call(k.sim.url(), killSimAPIKey, "", http.MethodPut, "/sandbox/faults/"+provider, f, nil); status != http.StatusOK {
		k.t.Fatalf("set faults of %s = %d: %v", provider, status, err)
	}
}

// simRefunds returns, from the settlement report of provider's simulator
// at S, the amount of each refund line of payment ref.
func (k *killRun) simRefunds(provider, ref string) []string {
	t := k.t
	t.Helper()
	resp, err := k.client.Get(k.sim.url() + "/sandbox/" + provider + "/reports/settlement.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || len(rows) == 0 {
		t.Fatalf("settlement report of %s = %d, %v", provider, resp.StatusCode, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	category, payment, gross := col["reporting_category"], col["payment_intent_id"], col["gross"] // Stripe's columns
	refund := "refund"
	if provider == providers.Rapyd {
		category, payment, gross, refund = col["transaction_type"], col["payment_id"], col["gross_amount"], "REFUND"
	}
	var out []string
	for _, r := range rows[1:] {
		if r[category] == refund && r[payment] == ref {
			out = append(out, r[gross])
		}
	}
	return out
}

// openDB opens P's database on its own (P may be dead), with a context
// that bounds the test's reads and writes; done closes both.
func (k *killRun) openDB() (context.Context, *storage.DB, func()) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	db, err := storage.Open(ctx, k.dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		cancel()
		k.t.Fatal(err)
	}
	return ctx, db, func() { db.Close(); cancel() }
}

// storedRefunds reads U1's refunds to source from P's database (P may be
// dead).
func (k *killRun) storedRefunds() []finance.SourceRefund {
	t := k.t
	t.Helper()
	ctx, db, done := k.openDB()
	defer done()
	var out []finance.SourceRefund
	var err error
	if err := db.View(ctx, func(tx *storage.Tx) error {
		out, err = finance.SourceRefunds(ctx, tx, "U1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// ageRefunds moves the next check of U1's requested refunds into the
// past, as if finance.RefundRetryAfter had passed while P was down: the
// janitor's clock is P's real one, which the test cannot move.
func (k *killRun) ageRefunds() {
	t := k.t
	t.Helper()
	ctx, db, done := k.openDB()
	defer done()
	if err := db.Update(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE source_refunds SET next_check_at = ? WHERE user_id = ? AND status = ?`,
			tx.Now().Add(-time.Second), "U1", finance.RefundRequested)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// balances reads U1's balances through P, by currency.
func (k *killRun) balances() map[string]string {
	var b struct {
		Balances []struct{ Amount, Currency string } `json:"balances"`
	}
	k.must(killFinanceKey, "", http.MethodGet, "/v1/users/U1/balances", nil, &b, http.StatusOK)
	out := map[string]string{}
	for _, x := range b.Balances {
		out[x.Currency] = x.Amount
	}
	return out
}

func (k *killRun) run() {
	t := k.t
	k.front = newKillFront(t)
	k.sim = k.startSim()
	k.front.route(k.sim, nil)
	k.pay = k.startPaygate()
	k.front.route(nil, k.pay)

	// U1 pays 19.75 EUR by iDEAL at Stripe and 17500 KRW by KakaoPay at
	// Rapyd; the sellers refund it all to U1's balance.
	refs := map[string]string{ // by provider: the payment's reference
		providers.Stripe: k.paidBuyer(methodCases[0]),
		providers.Rapyd:  k.paidBuyer(methodCases[3]),
	}
	if got := k.balances(); got["EUR"] != "19.75" || got["KRW"] != "17500" {
		t.Fatalf("balances = %v, want 19.75 EUR and 17500 KRW", got)
	}

	// P will be down when the refunds' webhooks are sent: they are lost.
	for p := range refs {
		k.faults(p, map[string]any{"drop": 1000})
	}
	// Finance refunds 5.00 EUR and 5000 KRW to source. Each call reaches
	// its provider, which makes the refund; P is killed before it gets
	// the answer, and the finance client's requests die with it.
	k.front.hold.Store(true)
	type result struct {
		status int
		err    error
	}
	results := make(chan result, 2)
	for _, m := range []struct{ amount, currency string }{{"5.00", "EUR"}, {"5000", "KRW"}} {
		go func() {
			var out refundsJSON
			s, err := k.call(k.pay.url(), killFinanceKey, "kill-refund-"+m.currency, http.MethodPost, "/v1/users/U1/refunds-to-source",
				map[string]any{"amount": m.amount, "currency": m.currency, "reason": "buyer asked"}, &out)
			results <- result{s, err}
		}()
	}
	reached := map[string]bool{}
	for len(reached) < 2 {
		select {
		case p := <-k.front.reached:
			reached[p] = true
		case r := <-results:
			t.Fatalf("a refund request ended before its provider call was held: %d %v%s", r.status, r.err, k.pay.tail())
		case <-time.After(killReachTimeout):
			t.Fatalf("refund calls held at the providers: %v after %s, want Stripe's and Rapyd's%s", reached, killReachTimeout, k.pay.tail())
		}
	}
	k.pay.kill(t)
	k.front.route(nil, nil)
	for range 2 {
		select {
		case r := <-results:
			if r.err == nil || r.status != 0 {
				t.Fatalf("refund request to the killed server = %d %v, want no answer", r.status, r.err)
			}
		case <-time.After(killRequestTimeout):
			t.Fatal("the refund requests did not end when paygate was killed")
		}
	}
	k.front.hold.Store(false)

	// The providers made the refunds; paygate recorded neither.
	for p, ref := range refs {
		if got := k.simRefunds(p, ref); len(got) != 1 {
			t.Fatalf("%s refunds of %s after the kill = %v, want the one that reached it", p, ref, got)
		}
	}
	stored := k.storedRefunds()
	if len(stored) != 2 {
		t.Fatalf("stored refunds after the kill = %+v, want 2", stored)
	}
	for _, r := range stored {
		if r.Status != finance.RefundRequested || r.ProviderRefund != "" {
			t.Fatalf("refund %s after the kill = %s (provider refund %q), want requested and unanswered", r.ID, r.Status, r.ProviderRefund)
		}
	}
	for p := range refs {
		k.faults(p, map[string]any{})
	}
	k.ageRefunds()

	// P restarts on the same database: the refunds are still requested
	// and the balance debited, until the janitor asks again (at once: they
	// are aged past finance.RefundRetryAfter).
	k.pay = k.startPaygate()
	k.front.route(nil, k.pay)
	if got := k.balances(); got["EUR"] != "14.75" || got["KRW"] != "12500" {
		t.Fatalf("balances after the restart = %v, want 14.75 EUR and 12500 KRW (the refunds debited)", got)
	}
	deadline := time.Now().Add(killDriveTimeout)
	var listed refundsJSON
	for {
		listed = refundsJSON{}
		k.must(killFinanceKey, "", http.MethodGet, "/v1/users/U1/refunds-to-source", nil, &listed, http.StatusOK)
		done := len(listed.Refunds) == 2
		for _, r := range listed.Refunds {
			done = done && r.Status == finance.RefundSucceeded
			if r.Status == finance.RefundFailed {
				t.Fatalf("refund %+v failed, want it driven to succeeded%s", r, k.pay.tail())
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refunds %+v not succeeded %s after the restart%s", listed.Refunds, killDriveTimeout, k.pay.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Asked again with the same idempotency key, each provider answered
	// with the refund it had made: one refund per payment, of the amount.
	for p, ref := range refs {
		want := map[string]string{providers.Stripe: "-5.00", providers.Rapyd: "-5000"}[p]
		if got := k.simRefunds(p, ref); len(got) != 1 || got[0] != want {
			t.Fatalf("%s refunds of %s = %v, want exactly one of %s", p, ref, got, want)
		}
	}
	for _, r := range k.storedRefunds() {
		if r.ProviderRefund == "" || r.PaymentRef != refs[r.Provider] {
			t.Fatalf("refund %+v: want the provider's refund of %s recorded", r, refs[r.Provider])
		}
		if r.Provider != providers.Stripe {
			continue
		}
		// Stripe's refund is the one P's first call made (its metadata
		// names paygate's refund).
		var re struct {
			Amount        int64             `json:"amount"`
			PaymentIntent string            `json:"payment_intent"`
			Status        string            `json:"status"`
			Metadata      map[string]string `json:"metadata"`
		}
		if status, err := k.call(k.sim.url(), killStripeKey, "", http.MethodGet, "/sandbox/stripe/v1/refunds/"+r.ProviderRefund, nil, &re); status != http.StatusOK ||
			re.Amount != 500 || re.PaymentIntent != refs[providers.Stripe] || re.Status != "succeeded" || re.Metadata["refund"] != r.ID {
			t.Fatalf("Stripe's refund %s = %d %+v (%v), want 5.00 EUR of %s for refund %s", r.ProviderRefund, status, re, err, refs[providers.Stripe], r.ID)
		}
	}
	if got := k.balances(); got["EUR"] != "14.75" || got["KRW"] != "12500" {
		t.Fatalf("balances after the janitor = %v, want 14.75 EUR and 12500 KRW (debited once)", got)
	}
	var items struct {
		Items []map[string]any `json:"items"`
	}
	k.must(killFinanceKey, "", http.MethodGet, "/v1/finance/items", nil, &items, http.StatusOK)
	if len(items.Items) != 0 {
		t.Fatalf("finance items = %v, want none", items.Items)
	}
	k.pay.stop(t)
	if out, code := runVerify(t, k.dsn); code != exitOK || !strings.Contains(out, "ledger verify: OK") {
		t.Fatalf("paygate ledger verify = exit %d, want 0 and OK\n%s", code, out)
	}
}
