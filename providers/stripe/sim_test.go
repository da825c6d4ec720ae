package stripe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/providers/stripesim"
)

// simEnv is the Stripe client against the sandbox simulator, mounted as
// paygate mounts it, with a webhook endpoint that parses every delivery
// with the client.
type simEnv struct {
	sim    *stripesim.Simulator
	client *Client
	base   string

	mu     sync.Mutex
	events []providers.Event
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	e := &simEnv{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := e.client.ParseWebhook(r.Context(), providers.Webhook{Header: r.Header, Body: body, ReceivedAt: time.Now()})
		if err != nil {
			t.Errorf("ParseWebhook: %v", err)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.events = append(e.events, evs...)
		e.mu.Unlock()
	}))
	t.Cleanup(hooks.Close)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.base = srv.URL + "/sandbox/stripe"
	e.sim = stripesim.New(stripesim.Config{BaseURL: e.base, APIKey: testKey, WebhookURL: hooks.URL, WebhookSecret: testWebhookSecret})
	t.Cleanup(e.sim.Close)
	mux.Handle("/sandbox/stripe/", http.StripPrefix("/sandbox/stripe", e.sim.Handler()))
	e.client = newTestClient(t, e.base)
	return e
}

func (e *simEnv) received() []providers.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]providers.Event(nil), e.events...)
}

func (e *simEnv) event(t *testing.T, typ providers.EventType) providers.Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, ev := range e.received() {
			if ev.Type == typ {
				return ev
			}
		}
	}
	t.Fatalf("no %s event among %+v", typ, e.received())
	return providers.Event{}
}

func TestSimulatorKoreanRoundTrip(t *testing.T) {
	for _, m := range []providers.Method{providers.KakaoPay, providers.SamsungPay} {
		t.Run(string(m), func(t *testing.T) {
			ctx := context.Background()
			e := newSimEnv(t)
			req := request(m)
			p, err := e.client.CreatePayment(ctx, req)
			if err != nil {
				t.Fatalf("CreatePayment(%s) = %v", m, err)
			}
			if p.Status != providers.StatusPending || p.NextAction.Type != providers.ActionRedirect ||
				!strings.HasPrefix(p.NextAction.URL, e.base+"/wallet/pi_") {
				t.Fatalf("CreatePayment(%s) = %+v, want pending with a redirect to the wallet page", m, p)
			}
			found, err := e.client.FindPayment(ctx, req)
			if err != nil || found.Ref != p.Ref {
				t.Fatalf("FindPayment = %+v, %v, want %s", found, err, p.Ref)
			}

			// The buyer approves on the wallet page and comes back.
			browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := browser.Get(p.NextAction.URL)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(page, []byte("₩15,000")) || !bytes.Contains(page, []byte("Approve payment")) {
				t.Fatalf("wallet page: %d %s", resp.StatusCode, page)
			}
			resp, err = browser.PostForm(p.NextAction.URL+"/approve", url.Values{})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, req.ReturnURL+"?payment_intent="+p.Ref) ||
				!strings.Contains(back, "redirect_status=succeeded") {
				t.Fatalf("approve: %d to %q, want 303 to the return URL", resp.StatusCode, back)
			}
			ev := e.event(t, providers.EventPaymentSucceeded)
			if ev.PaymentRef != p.Ref || ev.Attempt != req.Attempt || ev.Amount != paygate.New(15000, paygate.KRW) {
				t.Errorf("succeeded event = %+v, want %s of attempt %s for 15000 KRW", ev, p.Ref, req.Attempt)
			}
			got, err := e.client.GetPayment(ctx, p.Ref)
			if err != nil || got.Status != providers.StatusSucceeded {
				t.Fatalf("GetPayment = %+v, %v, want succeeded", got, err)
			}

			if !e.client.Refundable(m) {
				t.Fatalf("Refundable(%s) = false", m)
			}
			rf, err := e.client.Refund(ctx, providers.RefundRequest{PaymentRef: p.Ref, Amount: paygate.New(5000, paygate.KRW),
				IdempotencyKey: "refund:rf_1", Refund: "rf_1"})
			if err != nil || rf.Amount != paygate.New(5000, paygate.KRW) || rf.Status == providers.RefundFailed {
				t.Fatalf("Refund = %+v, %v, want 5000 KRW", rf, err)
			}
			if ev := e.event(t, providers.EventRefunded); ev.PaymentRef != p.Ref {
				t.Errorf("refund event = %+v", ev)
			}

			var report bytes.Buffer
			if err := e.sim.SettlementReport(&report, stripesim.ReportOptions{}); err != nil {
				t.Fatal(err)
			}
			var lines []providers.ReportLine
			if err := e.client.ParseSettlementReport(ctx, &report, func(l providers.ReportLine) error {
				if l.Err != nil {
					t.Errorf("report line %d: %v", l.Line, l.Err)
				}
				lines = append(lines, l)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(lines) != 2 {
				t.Fatalf("report has %d lines, want a charge and a refund: %+v", len(lines), lines)
			}
			for _, l := range lines {
				want := map[string]paygate.Money{providers.ReportCharge: paygate.New(15000, paygate.KRW), providers.ReportRefund: paygate.New(-5000, paygate.KRW)}[l.Category]
				if l.Gross != want || l.PaymentRef != p.Ref || l.Attempt != req.Attempt {
					t.Errorf("report line %+v, want gross %s of %s", l, want, p.Ref)
				}
			}
		})
	}
}

func TestSimulatorSamsungPayLimit(t *testing.T) {
	e := newSimEnv(t)
	// The client refuses before asking; the simulator refuses as Stripe
	// does when asked directly.
	req := request(providers.SamsungPay)
	req.Amount.Minor = 2_000_001
	_, err := e.client.CreatePayment(context.Background(), req)
	wantCode(t, "CreatePayment", err, paygate.EINVALID)
	params, err := e.client.intentParams(request(providers.SamsungPay))
	if err != nil {
		t.Fatal(err)
	}
	params.Amount = &req.Amount.Minor
	params.Context = context.Background()
	_, err = e.client.createIntent(params)
	if err == nil || !strings.Contains(err.Error(), "amount_too_large") {
		t.Errorf("simulator's answer to 2,000,001 KRW = %v, want amount_too_large", err)
	}
}

func TestSimulatorAPIFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("down", func(t *testing.T) {
		e := newSimEnv(t)
		if err := e.sim.SetFaults(stripesim.Faults{API: simkit.APIDown}); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.CreatePayment(ctx, request(providers.KakaoPay))
		wantCode(t, "CreatePayment while down", err, paygate.EUNAVAILABLE)
		var se *stripego.Error
		if errors.As(err, &se) {
			t.Errorf("down answered %d, want no answer at all", se.HTTPStatusCode)
		}
		// Pages still work; the API is back once the fault is lifted.
		if err := e.sim.SetFaults(stripesim.Faults{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.CreatePayment(ctx, request(providers.KakaoPay)); err != nil {
			t.Fatalf("CreatePayment after down = %v", err)
		}
	})
	t.Run("error", func(t *testing.T) {
		e := newSimEnv(t)
		if err := e.sim.SetFaults(stripesim.Faults{API: simkit.APIError}); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.CreatePayment(ctx, request(providers.SamsungPay))
		wantCode(t, "CreatePayment during errors", err, paygate.EUNAVAILABLE)
		var se *stripego.Error
		if !errors.As(err, &se) || se.HTTPStatusCode != 500 || se.Type != stripego.ErrorTypeAPI {
			t.Errorf("error fault = %v, want Stripe's 500 api_error", err)
		}
		if err := e.sim.SetFaults(stripesim.Faults{}); err != nil {
			t.Fatal(err)
		}
		// Nothing was created: the create, now answered, is the first.
		found, err := e.client.FindPayment(ctx, request(providers.SamsungPay))
		if err != nil || !strings.HasPrefix(found.Ref, "pi_") {
			t.Fatalf("FindPayment = %+v, %v", found, err)
		}
	})
	t.Run("slow", func(t *testing.T) {
		e := newSimEnv(t)
		const delay = 300 * time.Millisecond
		if err := e.sim.SetFaults(stripesim.Faults{API: simkit.APISlow, APIDelay: delay}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p, err := e.client.CreatePayment(ctx, request(providers.KakaoPay))
		if took := time.Since(start); err != nil || took < delay {
			t.Fatalf("CreatePayment = %+v, %v after %s, want a payment after at least %s", p, err, took, delay)
		}
		short, cancel := context.WithTimeout(ctx, delay/3)
		defer cancel()
		_, err = e.client.GetPayment(short, p.Ref)
		wantCode(t, "GetPayment with a shorter deadline", err, paygate.EUNAVAILABLE)
	})
	t.Run("timeout_after_create", func(t *testing.T) {
		e := newSimEnv(t)
		if err := e.sim.SetFaults(stripesim.Faults{API: simkit.APITimeoutAfterCreate, APIDelay: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		req := request(providers.KakaoPay)
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.client.CreatePayment(short, req)
		wantCode(t, "CreatePayment whose answer is lost", err, paygate.EUNAVAILABLE)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the held create returned after %s, want when the client gave up", took)
		}
		// The payment exists: the lookup finds it, and so does a replay.
		found, err := e.client.FindPayment(ctx, req)
		if err != nil || found.Status != providers.StatusPending || found.NextAction.Type != providers.ActionRedirect {
			t.Fatalf("FindPayment = %+v, %v, want the pending payment", found, err)
		}
		again, err := e.client.CreatePayment(ctx, req)
		if err != nil || again.Ref != found.Ref {
			t.Fatalf("CreatePayment replayed = %+v, %v, want %s", again, err, found.Ref)
		}
		// Another attempt's create loses its answer too.
		other := req
		other.Attempt, other.IdempotencyKey = "att_2", "attempt:att_2:create"
		short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel2()
		_, err = e.client.CreatePayment(short2, other)
		wantCode(t, "second create", err, paygate.EUNAVAILABLE)
	})
}

func TestSimulatorFaultsValidation(t *testing.T) {
	e := newSimEnv(t)
	for _, f := range []stripesim.Faults{
		{API: "sideways"},
		{API: simkit.APISlow},
		{API: simkit.APISlow, APIDelay: -time.Second},
		{API: simkit.APIDown, APIDelay: time.Hour},
	} {
		if err := e.sim.SetFaults(f); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("SetFaults(%+v) = %v, want EINVALID", f, err)
		}
	}
}

// TestFindBoletoWithoutPayer: the janitor looks a lost boleto attempt up
// without its payer (paygate keeps no payer data). A payment its create
// made is found; an attempt whose create never reached Stripe has none
// (ENOTFOUND: the replay without the payer's details is refused and makes
// nothing), and its key still makes the payment when the payer is given.
func TestFindBoletoWithoutPayer(t *testing.T) {
	ctx := context.Background()
	e := newSimEnv(t)
	req := request(providers.Boleto)
	p, err := e.client.CreatePayment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	lookup := req
	lookup.Payer = providers.Payer{}
	if found, err := e.client.FindPayment(ctx, lookup); err != nil || found.Ref != p.Ref {
		t.Fatalf("FindPayment(boleto without payer) = %+v, %v, want %s", found, err, p.Ref)
	}

	never := request(providers.Boleto)
	never.Attempt, never.IdempotencyKey = "att_never", "attempt:att_never"
	lookup = never
	lookup.Payer = providers.Payer{}
	for range 2 {
		_, err := e.client.FindPayment(ctx, lookup)
		wantCode(t, "FindPayment(boleto never created, without payer)", err, paygate.ENOTFOUND)
	}
	if made, err := e.client.CreatePayment(ctx, never); err != nil || made.Ref == p.Ref || made.NextAction.Type != providers.ActionVoucher {
		t.Fatalf("CreatePayment after the look-ups = %+v, %v, want a new boleto", made, err)
	}
}
