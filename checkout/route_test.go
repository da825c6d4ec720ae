package checkout

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// routeProvider is an in-process provider whose creates and look-ups
// answer what a test scripts (nil: fakeProvider's payment, and no payment
// found), and which records its calls. It is a providers.Finder.
type routeProvider struct {
	*fakeProvider
	create func(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error)
	find   func(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error)

	mu       sync.Mutex
	creates  []string // attempt ids
	finds    []string
	canceled []string // payment refs
}

func newRouteProvider(name string) *routeProvider {
	return &routeProvider{fakeProvider: &fakeProvider{name: name}}
}

func (p *routeProvider) CreatePayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	p.mu.Lock()
	p.creates = append(p.creates, req.Attempt)
	p.mu.Unlock()
	if p.create != nil {
		return p.create(ctx, req)
	}
	return p.fakeProvider.CreatePayment(ctx, req)
}

func (p *routeProvider) FindPayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	p.mu.Lock()
	p.finds = append(p.finds, req.Attempt)
	p.mu.Unlock()
	if p.find != nil {
		return p.find(ctx, req)
	}
	return providers.Payment{}, paygate.Errorf(paygate.ENOTFOUND, "%s: no payment of %s", p.name, req.Attempt)
}

func (p *routeProvider) CancelPayment(ctx context.Context, ref string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canceled = append(p.canceled, ref)
	return nil
}

func (p *routeProvider) calls() (creates, finds, canceled int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.creates), len(p.finds), len(p.canceled)
}

// The provider answers the tests script.
func refused(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
	return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "stripe: create payment: Stripe could not be reached", Err: err}
}

func answered503() error {
	return paygate.Errorf(paygate.EUNAVAILABLE, "stripe: create payment: Stripe answered 503; retry later")
}

func methodUnavailable() error {
	return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "stripe: ideal is not enabled on this account", Err: providers.ErrMethodUnavailable}
}

func hang(ctx context.Context, _ providers.PaymentRequest) (providers.Payment, error) {
	<-ctx.Done()
	return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "stripe: create payment: Stripe could not be reached", Err: ctx.Err()}
}

func fails(err error) func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
	return func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
		return providers.Payment{}, err
	}
}

type routeTest struct {
	*pageTest
	stripe, rapyd *routeProvider
	router        *routing.Router
}

// newRouteTest is a Service with two scriptable providers behind routes.
func newRouteTest(t *testing.T, b storagetest.Backend, routes string, br routing.Breaker, maxAttempts int) *routeTest {
	t.Helper()
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(), finance.Migrations(), Migrations()}})
	rs, err := routing.Parse(routes)
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.New(routing.Config{Routes: rs, Breaker: br})
	if err != nil {
		t.Fatal(err)
	}
	rt := &routeTest{stripe: newRouteProvider(providers.Stripe), rapyd: newRouteProvider(providers.Rapyd), router: router}
	s, err := New(context.Background(), Config{
		DB: db, Ledger: ledger.New(db), PublicURL: "http://127.0.0.1:1", ReturnHosts: []string{"shop.example"},
		Providers: map[string]providers.Provider{providers.Stripe: rt.stripe, providers.Rapyd: rt.rapyd},
		Router:    router, CreateTimeout: 200 * time.Millisecond, MaxAttempts: maxAttempts,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.pageTest = &pageTest{s: s, db: db}
	return rt
}

func (rt *routeTest) attemptsOf(t *testing.T, po PaymentOrder) ([]Attempt, Status) {
	t.Helper()
	got, err := rt.s.Get(context.Background(), po.Number)
	if err != nil {
		t.Fatal(err)
	}
	return got.Attempts, got.Status
}

// A create that fails with an outage goes to the route's next provider as
// a new attempt, and the buyer gets that one answer; where the first
// create may have reached its provider, the payment is looked up there
// first.
func TestFailoverOnOutage(t *testing.T) {
	cases := []struct {
		name   string
		create func(t *testing.T) func(context.Context, providers.PaymentRequest) (providers.Payment, error)
		lookUp bool   // the first provider is asked for the payment
		cause  string // in the failover's route
	}{
		{"connection refused", func(t *testing.T) func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
			return fails(refused(t))
		}, false, "stripe unavailable: stripe: create payment: Stripe could not be reached"},
		{"5xx", func(*testing.T) func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
			return fails(answered503())
		},
			true, "answered 503"},
		{"method unavailable", func(*testing.T) func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
			return fails(methodUnavailable())
		}, false, "stripe method unavailable"},
		{"timeout", func(*testing.T) func(context.Context, providers.PaymentRequest) (providers.Payment, error) {
			return hang
		},
			true, "stripe timed out after 200ms"},
	}
	for _, b := range storagetest.Backends(t) {
		for _, c := range cases {
			t.Run(b.Name+"/"+c.name, func(t *testing.T) {
				rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{}, 0)
				rt.stripe.create = c.create(t)
				po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
				got, err := rt.s.StartAttempt(context.Background(), po.Number, providers.IDEAL, providers.Payer{})
				if err != nil {
					t.Fatalf("StartAttempt = %v; want rapyd's payment", err)
				}
				all, st := rt.attemptsOf(t, po)
				if len(all) != 2 || st != Pending {
					t.Fatalf("order %s with %d attempts; want pending with 2", st, len(all))
				}
				first, second := all[0], all[1]
				if first.Provider != providers.Stripe || first.Status != AttemptFailed || !strings.HasPrefix(first.FailureReason, "failed over: ") ||
					first.Route.Reason != routing.ReasonPrimary {
					t.Errorf("first attempt = %+v; want stripe's, primary, failed over", first)
				}
				if got.ID != second.ID || second.Provider != providers.Rapyd || second.Status != AttemptPending || second.ProviderRef == "" ||
					second.Route.Reason != routing.ReasonFailover || second.Route.From != providers.Stripe || !strings.Contains(second.Route.Cause, c.cause) {
					t.Errorf("answer %s, second attempt = %+v; want rapyd's pending failover from stripe saying %q", got.ID, second, c.cause)
				}
				if j := attemptJSONOf(second); j.Route.Reason != "failover" || j.Route.From != "stripe" || j.Provider != "rapyd" {
					t.Errorf("attempt JSON = %+v", j)
				}
				if _, finds, _ := rt.stripe.calls(); (finds == 1) != c.lookUp {
					t.Errorf("stripe was asked for the payment %d times; want a look-up: %t", finds, c.lookUp)
				}
			})
		}
	}
}

// A decline does not fail over: it is the buyer's answer.
func TestDeclineDoesNotFailOver(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{Failures: 1}, 0)
			rt.stripe.create = fails(paygate.Errorf(paygate.EINVALID, "stripe: create payment: the bank declined the payment"))
			po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			_, err := rt.s.StartAttempt(context.Background(), po.Number, providers.IDEAL, providers.Payer{})
			if paygate.ErrorCode(err) != paygate.EINVALID {
				t.Fatalf("StartAttempt = %v; want the decline", err)
			}
			rt.stripe.create = func(_ context.Context, req providers.PaymentRequest) (providers.Payment, error) {
				return providers.Payment{Ref: "pi_declined", Status: providers.StatusFailed, Amount: req.Amount, FailureReason: "declined"}, nil
			}
			a, err := rt.s.StartAttempt(context.Background(), po.Number, providers.IDEAL, providers.Payer{})
			if err != nil || a.Status != AttemptFailed || a.Provider != providers.Stripe {
				t.Fatalf("StartAttempt with a failed payment = %+v, %v; want stripe's failed attempt", a, err)
			}
			all, _ := rt.attemptsOf(t, po)
			if creates, _, _ := rt.rapyd.calls(); creates != 0 || len(all) != 2 {
				t.Fatalf("rapyd was asked %d times, %d attempts; want 0 and 2", creates, len(all))
			}
			if rt.router.Open(providers.Stripe, providers.IDEAL) {
				t.Fatal("declines opened stripe's breaker")
			}
		})
	}
}

// A create that timed out but whose payment the provider holds uses that
// payment: nothing fails over, so the order never has two live payments.
func TestFailoverFindsThePayment(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{}, 0)
			rt.stripe.create = hang
			rt.stripe.find = func(_ context.Context, req providers.PaymentRequest) (providers.Payment, error) {
				if req.IdempotencyKey != "attempt:"+req.Attempt || req.PaymentOrder == "" {
					t.Errorf("FindPayment(%+v) without paygate's reference", req)
				}
				return providers.Payment{Ref: "pi_found", Status: providers.StatusPending, Amount: req.Amount,
					NextAction: providers.NextAction{Type: providers.ActionRedirect, URL: "https://gateway.example/pi_found"}}, nil
			}
			po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			a, err := rt.s.StartAttempt(context.Background(), po.Number, providers.IDEAL, providers.Payer{})
			if err != nil || a.Provider != providers.Stripe || a.ProviderRef != "pi_found" || a.Status != AttemptPending || a.NextAction.URL == "" {
				t.Fatalf("StartAttempt = %+v, %v; want stripe's found payment", a, err)
			}
			all, _ := rt.attemptsOf(t, po)
			if creates, _, _ := rt.rapyd.calls(); creates != 0 || len(all) != 1 {
				t.Fatalf("rapyd asked %d times, %d attempts; want 0 and 1", creates, len(all))
			}
		})
	}
}

// When the first provider cannot tell whether it holds the payment, the
// buyer's action fails over all the same and the first attempt is left
// lost: it does not hold the order pending, and the janitor's look-up
// later cancels its payment at the provider.
func TestFailoverCannotTell(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{}, 0)
			rt.stripe.create = hang
			rt.stripe.find = fails(paygate.Errorf(paygate.EUNAVAILABLE, "stripe: search payments: Stripe answered 503"))
			po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			a, err := rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
			if err != nil || a.Provider != providers.Rapyd {
				t.Fatalf("StartAttempt = %+v, %v; want rapyd's attempt", a, err)
			}
			all, _ := rt.attemptsOf(t, po)
			lost := all[0]
			if len(all) != 2 || lost.Status != AttemptCreating || lost.ReplacedBy != a.ID || !lost.lost() {
				t.Fatalf("first attempt = %+v; want it lost, replaced by %s", lost, a.ID)
			}
			// Caps count it as live, but not as another buyer action.
			if err := rt.s.checkAttemptCaps(po.Number, all, time.Now()); err != nil {
				t.Fatalf("caps after one failover = %v", err)
			}

			// The janitor finds its payment, and cancels it.
			rt.stripe.find = func(_ context.Context, req providers.PaymentRequest) (providers.Payment, error) {
				return providers.Payment{Ref: "pi_late", Status: providers.StatusPending, Amount: req.Amount}, nil
			}
			pay, err := rt.s.FindLost(ctx, lost)
			if err != nil || pay.Status != providers.StatusCanceled || pay.Ref != "pi_late" {
				t.Fatalf("FindLost = %+v, %v; want pi_late canceled", pay, err)
			}
			if _, _, canceled := rt.stripe.calls(); canceled != 1 {
				t.Fatalf("stripe canceled %d payments; want 1", canceled)
			}
			all, _ = rt.attemptsOf(t, po)
			if all[0].ProviderRef != "pi_late" {
				t.Fatalf("lost attempt's reference = %q; want pi_late recorded", all[0].ProviderRef)
			}

			// The failover's payment failing fails the order: the lost
			// attempt does not keep it pending.
			err = rt.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := rt.s.ApplyEvent(ctx, tx, providers.Rapyd, providers.Event{ID: "ev1", Type: providers.EventPaymentFailed, PaymentRef: a.ProviderRef})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, st := rt.attemptsOf(t, po); st != Failed {
				t.Fatalf("order = %s after the failover's payment failed; want failed", st)
			}
		})
	}
}

// A provider whose breaker is open is skipped without an attempt; the
// next provider's attempt says why. With every provider down, the buyer
// gets one EUNAVAILABLE answer and the order fails.
func TestFailoverSkipsOpenBreakerAndAllDown(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{Failures: 2, OpenFor: time.Hour}, 0)
			rt.stripe.create = fails(answered503())
			for i := 0; i < 2; i++ {
				po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
				if a, err := rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{}); err != nil || a.Provider != providers.Rapyd {
					t.Fatalf("StartAttempt %d = %+v, %v; want rapyd's", i+1, a, err)
				}
			}
			if !rt.router.Open(providers.Stripe, providers.IDEAL) {
				t.Fatal("two outages did not open stripe's breaker")
			}
			po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			a, err := rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
			if err != nil || a.Provider != providers.Rapyd || a.Route.Reason != routing.ReasonFailover || a.Route.Cause != "stripe circuit breaker open" {
				t.Fatalf("StartAttempt with stripe open = %+v, %v; want rapyd's failover saying why", a, err)
			}
			if all, _ := rt.attemptsOf(t, po); len(all) != 1 {
				t.Fatalf("%d attempts; want only rapyd's", len(all))
			}
			if creates, _, _ := rt.stripe.calls(); creates != 2 {
				t.Fatalf("stripe was called %d times; want 2 (skipped while open)", creates)
			}

			rt.rapyd.create = fails(answered503())
			po = rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			_, err = rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
			if paygate.ErrorCode(err) != paygate.EUNAVAILABLE || !strings.Contains(err.Error(), "stripe circuit breaker open") || !strings.Contains(err.Error(), "rapyd unavailable") {
				t.Fatalf("StartAttempt with all down = %v; want one EUNAVAILABLE naming both", err)
			}
			all, st := rt.attemptsOf(t, po)
			if st != Failed || len(all) != 1 || all[0].Status != AttemptFailed {
				t.Fatalf("order %s, attempts %+v; want failed with rapyd's failed attempt", st, all)
			}
		})
	}
}

// A failover chain counts as the one buyer action that started it against
// the cap of attempts.
func TestFailoverChainIsOneAction(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			rt := newRouteTest(t, b, "ideal=stripe,rapyd", routing.Breaker{Failures: 100}, 2)
			rt.stripe.create = fails(methodUnavailable())
			po := rt.order(t, paygate.EUR, "https://shop.example/back", 1975)
			for i := 0; i < 2; i++ {
				if _, err := rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{}); err != nil {
					t.Fatalf("action %d = %v; want it taken", i+1, err)
				}
			}
			all, _ := rt.attemptsOf(t, po)
			if len(all) != 4 {
				t.Fatalf("%d attempts; want 4 (two actions, each failed over)", len(all))
			}
			if all[1].Status != AttemptCanceled || all[1].ReplacedBy != all[2].ID {
				t.Fatalf("the first action's payment = %+v; want it replaced by the second action's first attempt", all[1])
			}
			_, err := rt.s.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
			if paygate.ErrorCode(err) != paygate.ELIMIT {
				t.Fatalf("third action = %v; want ELIMIT", err)
			}
		})
	}
}
