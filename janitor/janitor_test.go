package janitor

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// scripted is an in-process provider (and providers.Finder) whose creates
// hang when told to and whose look-ups answer what the test sets.
type scripted struct {
	name string
	hang bool

	mu       sync.Mutex
	n        int
	found    *providers.Payment // nil: cannot tell
	canceled []string
	// got is what GetPayment answers (its Ref is the one asked about);
	// nil: pending. getErr, if set, is its error instead.
	got    *providers.Payment
	getErr error
}

func (p *scripted) Name() string                     { return p.name }
func (p *scripted) Refundable(providers.Method) bool { return true }

func (p *scripted) CreatePayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	if p.hang {
		<-ctx.Done()
		return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: p.name + ": create payment: no answer", Err: ctx.Err()}
	}
	p.mu.Lock()
	p.n++
	ref := fmt.Sprintf("%s_%d", p.name, p.n)
	p.mu.Unlock()
	return providers.Payment{Ref: ref, Status: providers.StatusPending, Amount: req.Amount,
		NextAction: providers.NextAction{Type: providers.ActionRedirect, URL: "https://gateway.example/" + ref}}, nil
}

func (p *scripted) FindPayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.found == nil {
		return providers.Payment{}, paygate.Errorf(paygate.EUNAVAILABLE, "%s: search payments: no answer", p.name)
	}
	f := *p.found
	f.Amount = req.Amount
	return f, nil
}

func (p *scripted) GetPayment(ctx context.Context, ref string) (providers.Payment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.getErr != nil:
		return providers.Payment{}, p.getErr
	case p.got == nil:
		return providers.Payment{Ref: ref, Status: providers.StatusPending}, nil
	}
	got := *p.got
	got.Ref = ref
	return got, nil
}

func (p *scripted) CancelPayment(ctx context.Context, ref string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canceled = append(p.canceled, ref)
	return nil
}

func (p *scripted) Refund(context.Context, providers.RefundRequest) (providers.Refund, error) {
	return providers.Refund{}, providers.ErrUnsupported
}

func (p *scripted) ParseWebhook(context.Context, providers.Webhook) ([]providers.Event, error) {
	return nil, providers.ErrUnsupported
}

func (p *scripted) ParseSettlementReport(context.Context, io.Reader, func(providers.ReportLine) error) error {
	return providers.ErrUnsupported
}

// newJanitor opens b with the schemas a janitor reaches, and returns a
// checkout over provs routed by routes (PAYGATE_ROUTES' form) whose
// provider calls time out after timeout, and a janitor over it.
func newJanitor(t *testing.T, b storagetest.Backend, routes string, timeout time.Duration, provs ...*scripted) (*checkout.Service, *Janitor) {
	t.Helper()
	db := b.Open(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), orders.Migrations(),
		finance.Migrations(), checkout.Migrations(), webhooks.Migrations()}})
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	byName := map[string]providers.Provider{}
	for _, p := range provs {
		byName[p.name] = p
	}
	rs, err := routing.Parse(routes)
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.New(routing.Config{Routes: rs})
	if err != nil {
		t.Fatal(err)
	}
	co, err := checkout.New(context.Background(), checkout.Config{DB: db, Ledger: ledger.New(db), Providers: byName, Router: router,
		PublicURL: "http://127.0.0.1:1", ReturnHosts: []string{"shop.example"}, CreateTimeout: timeout, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	j := &Janitor{Checkout: co, Inbox: webhooks.New(webhooks.Config{DB: db, Providers: byName, Applier: co, Logger: log}), Logger: log}
	return co, j
}

// An attempt left lost by a failover (its provider could not tell whether
// it held the payment) turns up at the janitor: its payment is found by
// paygate's reference and canceled at its provider, so the buyer has one
// live payment; one that was paid meanwhile is still credited.
func TestJanitorCancelsLostAttempts(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			stripe, rapyd := &scripted{name: providers.Stripe, hang: true}, &scripted{name: providers.Rapyd}
			co, j := newJanitor(t, b, "ideal=stripe,rapyd", 100*time.Millisecond, stripe, rapyd)
			j.Rules = checkout.StuckRules{Creating: time.Nanosecond, PollEvery: time.Nanosecond, Redirect: time.Hour}

			start := func() (checkout.PaymentOrder, checkout.Attempt) {
				po, err := co.Create(ctx, checkout.NewPaymentOrder{BuyerID: "U1", Currency: paygate.EUR, ReturnURL: "https://shop.example/done",
					Items: []checkout.NewItem{{SellerID: "S1", Amount: paygate.New(1975, paygate.EUR), Description: "a lamp"}}})
				if err != nil {
					t.Fatal(err)
				}
				a, err := co.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
				if err != nil || a.Provider != providers.Rapyd {
					t.Fatalf("StartAttempt = %+v, %v; want rapyd's failover", a, err)
				}
				return po, a
			}
			canceledOrder, _ := start()
			paidOrder, _ := start()

			// Stripe answers now: the first order's lost payment is
			// pending there, the second's was paid.
			stripe.mu.Lock()
			stripe.found = &providers.Payment{Ref: "pi_lost", Status: providers.StatusPending}
			stripe.mu.Unlock()
			lostOf := func(po checkout.PaymentOrder) checkout.Attempt {
				got, err := co.Get(ctx, po.Number)
				if err != nil {
					t.Fatal(err)
				}
				return got.Attempts[0]
			}
			if _, err := j.Poll(ctx, lostOf(canceledOrder)); err != nil {
				t.Fatal(err)
			}
			stripe.mu.Lock()
			stripe.found = &providers.Payment{Ref: "pi_paid", Status: providers.StatusSucceeded}
			stripe.mu.Unlock()
			res, err := j.RunOnce(ctx)
			if err != nil || res.Polled != 1 || res.Applied != 1 {
				t.Fatalf("RunOnce = %+v, %v; want the second lost attempt polled and applied", res, err)
			}

			got, _ := co.Get(ctx, canceledOrder.Number)
			if a := got.Attempts[0]; a.Status != checkout.AttemptCanceled || a.ProviderRef != "pi_lost" || got.Status != checkout.Pending ||
				got.Attempts[1].Status != checkout.AttemptPending {
				t.Fatalf("order %s, lost attempt %+v; want it canceled with pi_lost, the failover still pending", got.Status, a)
			}
			if len(stripe.canceled) != 1 || stripe.canceled[0] != "pi_lost" {
				t.Fatalf("stripe canceled %v; want [pi_lost]", stripe.canceled)
			}
			got, _ = co.Get(ctx, paidOrder.Number)
			if a := got.Attempts[0]; a.Status != checkout.AttemptSucceeded || got.Status != checkout.Paid || got.PaidAttempt != a.ID {
				t.Fatalf("order %s, lost attempt %+v; want the late success credited: the order paid by it", got.Status, a)
			}
		})
	}
}

// TestPollAppliesWhatTheProviderSays polls a pending attempt whose
// provider answers each status: a final one is applied as its webhook
// would have been (the attempt moves on, and its order is paid, or failed
// until the buyer tries again), once however often the janitor polls; a
// payment still pending or processing, or a provider that does not
// answer, leaves everything as it was.
func TestPollAppliesWhatTheProviderSays(t *testing.T) {
	lamp := paygate.New(1975, paygate.EUR)
	cases := []struct {
		name    string
		got     *providers.Payment
		getErr  error
		applied bool
		wantErr bool
		attempt checkout.AttemptStatus
		order   checkout.Status
	}{
		{"succeeded", &providers.Payment{Status: providers.StatusSucceeded, Amount: lamp}, nil, true, false, checkout.AttemptSucceeded, checkout.Paid},
		{"failed", &providers.Payment{Status: providers.StatusFailed, Amount: lamp, FailureReason: "declined"}, nil, true, false, checkout.AttemptFailed, checkout.Failed},
		{"expired", &providers.Payment{Status: providers.StatusExpired, Amount: lamp}, nil, true, false, checkout.AttemptExpired, checkout.Failed},
		{"canceled", &providers.Payment{Status: providers.StatusCanceled, Amount: lamp}, nil, true, false, checkout.AttemptCanceled, checkout.Failed},
		{"still pending", &providers.Payment{Status: providers.StatusPending, Amount: lamp}, nil, false, false, checkout.AttemptPending, checkout.Pending},
		{"processing", &providers.Payment{Status: providers.StatusProcessing, Amount: lamp}, nil, false, false, checkout.AttemptPending, checkout.Pending},
		{"no answer", nil, paygate.Errorf(paygate.EUNAVAILABLE, "rapyd: get payment: no answer"), false, true, checkout.AttemptPending, checkout.Pending},
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			rapyd := &scripted{name: providers.Rapyd}
			co, j := newJanitor(t, b, "ideal=rapyd", time.Second, rapyd)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					po, err := co.Create(ctx, checkout.NewPaymentOrder{BuyerID: "U1", Currency: paygate.EUR, ReturnURL: "https://shop.example/done",
						Items: []checkout.NewItem{{SellerID: "S1", Amount: lamp, Description: "a lamp"}}})
					if err != nil {
						t.Fatal(err)
					}
					a, err := co.StartAttempt(ctx, po.Number, providers.IDEAL, providers.Payer{})
					if err != nil || a.Status != checkout.AttemptPending || a.ProviderRef == "" {
						t.Fatalf("StartAttempt = %+v, %v; want a pending attempt at rapyd", a, err)
					}
					rapyd.mu.Lock()
					rapyd.got, rapyd.getErr = c.got, c.getErr
					rapyd.mu.Unlock()
					// Polled twice, as two passes of the janitor would: the
					// second finds the first's event stored.
					for try, want := range []bool{c.applied, false} {
						applied, err := j.Poll(ctx, a)
						if (err != nil) != c.wantErr || applied != want {
							t.Fatalf("poll %d = %t, %v; want %t (an error: %t)", try+1, applied, err, want, c.wantErr)
						}
						got, err := co.Get(ctx, po.Number)
						if err != nil {
							t.Fatal(err)
						}
						if got.Attempts[0].Status != c.attempt || got.Status != c.order {
							t.Fatalf("after poll %d: order %s, attempt %s; want %s, %s", try+1, got.Status, got.Attempts[0].Status, c.order, c.attempt)
						}
					}
				})
			}
		})
	}
}
