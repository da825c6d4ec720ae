package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

const capsAPIKey = "caps-marketplace-key"

// capsTest is a Service with fake providers and both its API (with the real
// key check and idempotency) and its pages on one loopback server.
type capsTest struct {
	*pageTest
	stripe *fakeProvider
	seq    int
}

func newCapsTest(t *testing.T, b storagetest.Backend) *capsTest {
	t.Helper()
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{
		events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations(), Migrations(), idempotency.Migrations()}})
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String()
	stripe := &fakeProvider{name: providers.Stripe}
	s, err := New(context.Background(), Config{
		DB: db, Ledger: ledger.New(db), PublicURL: publicURL, ReturnHosts: []string{"shop.example"},
		Providers: map[string]providers.Provider{providers.Stripe: stripe, providers.Rapyd: &fakeProvider{name: providers.Rapyd}},
		Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := server.Keys{Marketplace: capsAPIKey, Finance: "caps-finance-key"}
	srv := server.New(server.Config{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	s.Routes(srv.Router(), Middleware{Keys: keys, Idempotency: idempotency.New(db).Middleware})
	s.PageRoutes(srv.Router())
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	pt := &pageTest{s: s, db: db, url: publicURL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return &capsTest{pageTest: pt, stripe: stripe}
}

// providerCalls is how many payments the fake Stripe created.
func (ct *capsTest) providerCalls() int {
	ct.stripe.mu.Lock()
	defer ct.stripe.mu.Unlock()
	return ct.stripe.n
}

// startAttempt posts an attempt through the API and returns the status and
// the error code, if any.
func (ct *capsTest) startAttempt(t *testing.T, po PaymentOrder, body string) (int, string, string) {
	t.Helper()
	ct.seq++
	req, _ := http.NewRequest(http.MethodPost, ct.url+"/v1/payment-orders/"+string(po.Number)+"/attempts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+capsAPIKey)
	req.Header.Set("Idempotency-Key", fmt.Sprintf("caps-%d", ct.seq))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

// snapshot is what a refused attempt must leave as it was.
func (ct *capsTest) snapshot(t *testing.T, po PaymentOrder) string {
	t.Helper()
	got, err := ct.s.Get(context.Background(), po.Number)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s|", got.Status, got.ExpiresAt)
	for _, a := range got.Attempts {
		fmt.Fprintf(&b, "%s %s %s %q|", a.ID, a.Status, a.ProviderRef, a.FailureReason)
	}
	return fmt.Sprintf("%s provider payments %d", b.String(), ct.providerCalls())
}

const boletoJSON = `{"method":"boleto","payer":{"name":"Maria Silva","email":"maria@example.com","tax_id":"529.982.247-25",
	"address":{"line1":"Av. Paulista 1000","city":"São Paulo","state":"SP","postal_code":"01310-100"}}}`

// A script that starts boleto after boleto on one order (each voucher stays
// payable when the next replaces it) is stopped at the cap of live
// payments, through the API and through the checkout page's form, before
// the provider is asked and with nothing changed.
func TestAttemptCapLivePayments(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ct := newCapsTest(t, b)
			po := ct.order(t, paygate.BRL, "", 15000)
			for i := 0; i < DefaultMaxLiveAttempts; i++ {
				if status, code, msg := ct.startAttempt(t, po, boletoJSON); status != http.StatusCreated {
					t.Fatalf("boleto %d = %d %s %s, want 201", i+1, status, code, msg)
				}
			}
			before := ct.snapshot(t, po)
			if ct.providerCalls() != DefaultMaxLiveAttempts {
				t.Fatalf("provider payments = %d, want %d", ct.providerCalls(), DefaultMaxLiveAttempts)
			}

			// Through the API: 409 limit, and nothing changed.
			for i := 0; i < 3; i++ {
				status, code, msg := ct.startAttempt(t, po, boletoJSON)
				if status != http.StatusConflict || code != paygate.ELIMIT || !strings.Contains(msg, "5 payments that can still be paid") {
					t.Fatalf("boleto beyond the cap = %d %s %q, want 409 limit naming the 5 live payments", status, code, msg)
				}
			}
			if after := ct.snapshot(t, po); after != before {
				t.Fatalf("a refused attempt changed the order:\nbefore %s\nafter  %s", before, after)
			}

			// Through the checkout page's form: the page again, 409, with
			// the reason, and nothing changed.
			p := ct.post(t, "/checkout/"+string(po.Number)+"/attempts", boletoForm(ct.form(t, po, providers.Boleto)), nil)
			if p.status != http.StatusConflict || !strings.Contains(p.body, "5 payments that can still be paid") {
				t.Fatalf("form beyond the cap = %d, want 409 with the reason:\n%s", p.status, p.body)
			}
			if after := ct.snapshot(t, po); after != before {
				t.Fatalf("a refused form changed the order:\nbefore %s\nafter  %s", before, after)
			}

			// Another order of the buyer is not affected.
			other := ct.order(t, paygate.BRL, "", 9900)
			if status, code, msg := ct.startAttempt(t, other, boletoJSON); status != http.StatusCreated {
				t.Fatalf("another order's boleto = %d %s %s, want 201", status, code, msg)
			}
		})
	}
}

// A script that starts attempt after attempt with a method the provider can
// cancel never has more than one live payment, but is stopped at the cap on
// attempts in all, through the API and the form.
func TestAttemptCapTotal(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ct := newCapsTest(t, b)
			po := ct.order(t, paygate.EUR, "", 2500)
			for i := 0; i < DefaultMaxAttempts; i++ {
				if status, code, msg := ct.startAttempt(t, po, `{"method":"ideal"}`); status != http.StatusCreated {
					t.Fatalf("iDEAL attempt %d = %d %s %s, want 201", i+1, status, code, msg)
				}
				if i%4 == 3 {
					ct.apply(t, po, providers.EventPaymentFailed) // failed attempts count too
				}
			}
			before := ct.snapshot(t, po)
			status, code, msg := ct.startAttempt(t, po, `{"method":"ideal"}`)
			if status != http.StatusConflict || code != paygate.ELIMIT || !strings.Contains(msg, "20 payment attempts") {
				t.Fatalf("attempt 21 = %d %s %q, want 409 limit naming the 20 attempts", status, code, msg)
			}
			p := ct.post(t, "/checkout/"+string(po.Number)+"/attempts", ct.form(t, po, providers.IDEAL), nil)
			if p.status != http.StatusConflict || !strings.Contains(p.body, "20 payment attempts") {
				t.Fatalf("form attempt 21 = %d, want 409 with the reason:\n%s", p.status, p.body)
			}
			if after := ct.snapshot(t, po); after != before {
				t.Fatalf("a refused attempt changed the order:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// Configured caps replace the defaults.
func TestAttemptCapsConfigured(t *testing.T) {
	b := storagetest.Backends(t)[0]
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations(), Migrations()}})
	stripe := &fakeProvider{name: providers.Stripe}
	s, err := New(context.Background(), Config{DB: db, Ledger: ledger.New(db), PublicURL: "http://127.0.0.1:1",
		Providers: map[string]providers.Provider{providers.Stripe: stripe}, MaxLiveAttempts: 2, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	po, err := s.Create(context.Background(), NewPaymentOrder{BuyerID: "U1", Currency: paygate.BRL,
		Items: []NewItem{{SellerID: "S1", Amount: paygate.New(1000, paygate.BRL), Description: "Shield"}}})
	if err != nil {
		t.Fatal(err)
	}
	payer := providers.Payer{Name: "Maria Silva", Email: "maria@example.com", TaxID: "529.982.247-25",
		Address: providers.Address{Line1: "Av. Paulista 1000", City: "São Paulo", State: "SP", PostalCode: "01310-100"}}
	for i := 0; i < 2; i++ {
		if _, err := s.StartAttempt(context.Background(), po.Number, providers.Boleto, payer); err != nil {
			t.Fatalf("boleto %d: %v", i+1, err)
		}
	}
	if _, err := s.StartAttempt(context.Background(), po.Number, providers.Boleto, payer); paygate.ErrorCode(err) != paygate.ELIMIT {
		t.Fatalf("third boleto with MaxLiveAttempts 2 = %v, want limit", err)
	}
}

func TestStillPayable(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	voucher := func(exp time.Time) providers.NextAction {
		return providers.NextAction{Type: providers.ActionVoucher, VoucherNumber: "123", ExpiresAt: exp}
	}
	redirect := providers.NextAction{Type: providers.ActionRedirect, URL: "https://bank.example/"}
	tests := []struct {
		name string
		a    Attempt
		want bool
	}{
		{"pending redirect", Attempt{Method: providers.IDEAL, Status: AttemptPending, NextAction: redirect}, true},
		{"creating", Attempt{Method: providers.IDEAL, Status: AttemptCreating}, true},
		{"processing", Attempt{Method: providers.PayNow, Status: AttemptProcessing}, true},
		{"replaced redirect: canceled at its provider", Attempt{Method: providers.IDEAL, Status: AttemptCanceled, ReplacedBy: "att_1", FailureReason: "replaced by att_1", NextAction: redirect}, false},
		{"replaced voucher before its due date", Attempt{Method: providers.Boleto, Status: AttemptCanceled, ReplacedBy: "att_1", FailureReason: "replaced by att_1", NextAction: voucher(now.Add(time.Hour))}, true},
		{"replaced voucher whose provider call is in flight", Attempt{Method: providers.Boleto, Status: AttemptCanceled, ReplacedBy: "att_1", FailureReason: "replaced by att_1"}, true},
		{"replaced voucher past its due date", Attempt{Method: providers.Boleto, Status: AttemptCanceled, ReplacedBy: "att_1", FailureReason: "replaced by att_1", NextAction: voucher(now)}, false},
		{"replaced voucher whose reason says otherwise: the column counts", Attempt{Method: providers.Boleto, Status: AttemptCanceled, ReplacedBy: "att_1", FailureReason: "superseded", NextAction: voucher(now.Add(time.Hour))}, true},
		{"voucher whose reason reads replaced but is not", Attempt{Method: providers.Boleto, Status: AttemptCanceled, FailureReason: "replaced by att_1", NextAction: voucher(now.Add(time.Hour))}, false},
		{"voucher canceled by its provider", Attempt{Method: providers.Boleto, Status: AttemptCanceled, FailureReason: "canceled", NextAction: voucher(now.Add(time.Hour))}, false},
		{"voucher canceled as its order expired", Attempt{Method: providers.Boleto, Status: AttemptCanceled, FailureReason: "payment order expired", NextAction: voucher(now.Add(time.Hour))}, false},
		{"failed", Attempt{Method: providers.IDEAL, Status: AttemptFailed}, false},
		{"expired voucher", Attempt{Method: providers.Boleto, Status: AttemptExpired, NextAction: voucher(now.Add(time.Hour))}, false},
		{"succeeded", Attempt{Method: providers.IDEAL, Status: AttemptSucceeded}, false},
	}
	for _, tt := range tests {
		if got := stillPayable(tt.a, now); got != tt.want {
			t.Errorf("stillPayable(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
