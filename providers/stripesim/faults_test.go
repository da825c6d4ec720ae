package stripesim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapydsim"
	"github.com/paygate/paygate/providers/stripe"
	"github.com/paygate/paygate/providers/stripesim"
)

const (
	faultKey    = "sk_test_sandbox_faults01"
	faultSecret = "whsec_sandbox_faults_secret"
	faultMount  = "/sandbox/stripe"
)

// hook is one delivery the endpoint accepted.
type hook struct {
	Event providers.Event
	Body  []byte
	Sig   string // the Stripe-Signature header
	At    time.Time
}

// endpoint is paygate's webhook endpoint as far as these tests need: it
// verifies each delivery with the real Stripe client's ParseWebhook and
// answers 200, 400 for a webhook that fails verification, or 500 while
// told to fail.
type endpoint struct {
	client *stripe.Client

	mu      sync.Mutex
	hooks   []hook
	refused []error
	fail    bool
}

func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, stripe.MaxWebhookBody))
	if err != nil {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now()
	evs, err := ep.client.ParseWebhook(r.Context(), providers.Webhook{
		Header: r.Header.Clone(), Body: body, URL: "http://" + r.Host + r.URL.RequestURI(), ReceivedAt: now,
	})
	ep.mu.Lock()
	defer ep.mu.Unlock()
	switch {
	case err != nil:
		ep.refused = append(ep.refused, err)
		w.WriteHeader(http.StatusBadRequest)
	case ep.fail:
		w.WriteHeader(http.StatusInternalServerError)
	default:
		ep.hooks = append(ep.hooks, hook{Event: evs[0], Body: body, Sig: r.Header.Get(stripe.HeaderSignature), At: now})
		w.WriteHeader(http.StatusOK)
	}
}

// received returns the deliveries accepted so far.
func (ep *endpoint) received() []hook {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return slices.Clone(ep.hooks)
}

func (ep *endpoint) setFail(fail bool) {
	ep.mu.Lock()
	ep.fail = fail
	ep.mu.Unlock()
}

// types returns the provider types of hooks, in order.
func types(hooks []hook) []string {
	var out []string
	for _, h := range hooks {
		out = append(out, h.Event.ProviderType)
	}
	return out
}

// faultEnv is a simulator mounted on loopback, paygate's Stripe client
// pointed at it, and the endpoint its webhooks go to.
type faultEnv struct {
	sim    *stripesim.Simulator
	client *stripe.Client
	ep     *endpoint
	base   string // the mount's URL
	n      int    // payments created
}

func newFaultEnv(t *testing.T, seed uint64) *faultEnv {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ep := &endpoint{}
	hooks := httptest.NewServer(ep)
	t.Cleanup(hooks.Close)
	mux := http.NewServeMux()
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	sim := stripesim.New(stripesim.Config{
		BaseURL:       api.URL + faultMount,
		APIKey:        faultKey,
		WebhookURL:    hooks.URL + "/webhooks/stripe",
		WebhookSecret: faultSecret,
		HTTPClient:    hooks.Client(),
		Logger:        log,
		RetryBackoff:  5 * time.Millisecond,
		Seed:          seed,
	})
	t.Cleanup(sim.Close) // runs first: stops retries before the servers close
	mux.Handle(faultMount+"/", http.StripPrefix(faultMount, sim.Handler()))
	client, err := stripe.New(stripe.Config{SecretKey: faultKey, BaseURL: api.URL + faultMount, WebhookSecret: faultSecret, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ep.client = client
	t.Cleanup(func() {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		for _, err := range ep.refused {
			t.Errorf("a webhook failed verification: %v", err)
		}
	})
	return &faultEnv{sim: sim, client: client, ep: ep, base: api.URL + faultMount}
}

// pay creates an iDEAL payment.
func (e *faultEnv) pay(t *testing.T) providers.Payment {
	t.Helper()
	e.n++
	attempt := fmt.Sprintf("A-%d", e.n)
	p, err := e.client.CreatePayment(context.Background(), providers.PaymentRequest{
		Method: providers.IDEAL, Amount: paygate.New(1050, paygate.EUR), PaymentOrder: "P12345678",
		Attempt: attempt, IdempotencyKey: "attempt:" + attempt, ReturnURL: "https://shop.example/return",
	})
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	return p
}

func (e *faultEnv) setFaults(t *testing.T, f stripesim.Faults) {
	t.Helper()
	if err := e.sim.SetFaults(f); err != nil {
		t.Fatalf("SetFaults(%+v) = %v", f, err)
	}
}

// wantStatus checks what GetPayment says: the simulator keeps the truth
// whatever happened to the webhooks.
func (e *faultEnv) wantStatus(t *testing.T, ref string, want providers.Status) {
	t.Helper()
	p, err := e.client.GetPayment(context.Background(), ref)
	if err != nil || p.Status != want {
		t.Fatalf("GetPayment(%s) = %s, %v, want %s", ref, p.Status, err, want)
	}
}

// idle waits until the simulator sends and retries nothing in the
// background: every event handed to delivery so far has been posted for
// the last time.
func (e *faultEnv) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !e.sim.WebhooksIdle(ctx) {
		t.Fatal("the simulator still sends events in the background after 5 s")
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFaultsNone(t *testing.T) {
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	got := e.ep.received()
	if want := []string{"payment_intent.succeeded", "charge.succeeded"}; !slices.Equal(types(got), want) {
		t.Fatalf("received %v, want %v", types(got), want)
	}
	for _, h := range got {
		if h.Event.PaymentRef != p.Ref || h.Event.Type != providers.EventPaymentSucceeded ||
			!strings.HasPrefix(h.Event.Verification, "stripe-signature v1 hmac-sha256, secret whsec_…cret, t=") {
			t.Errorf("event %+v", h.Event)
		}
	}
}

func TestFaultsDuplicate(t *testing.T) {
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Duplicate: 2})
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	// All copies are delivered before Approve returns.
	got := e.ep.received()
	if len(got) != 6 {
		t.Fatalf("received %d deliveries (%v), want 2 events × 3", len(got), types(got))
	}
	byID := map[string][]hook{}
	for _, h := range got {
		byID[h.Event.ID] = append(byID[h.Event.ID], h)
	}
	if len(byID) != 2 {
		t.Fatalf("received %d event ids, want 2", len(byID))
	}
	for id, hs := range byID {
		if len(hs) != 3 {
			t.Errorf("event %s delivered %d times, want 3", id, len(hs))
		}
		for _, h := range hs[1:] {
			if !bytes.Equal(h.Body, hs[0].Body) {
				t.Errorf("copies of event %s differ in body", id)
			}
		}
	}
	// The copies of one event all arrive before the next event.
	if ts := types(got); !slices.Equal(ts, []string{"payment_intent.succeeded", "payment_intent.succeeded", "payment_intent.succeeded",
		"charge.succeeded", "charge.succeeded", "charge.succeeded"}) {
		t.Errorf("received %v, want the copies of each event together, in order", ts)
	}
}

func TestFaultsReorder(t *testing.T) {
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Reorder: true})
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	if got, want := types(e.ep.received()), []string{"charge.succeeded", "payment_intent.succeeded"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	// A single event is sent as is.
	q := e.pay(t)
	if err := e.sim.Decline(context.Background(), q.Ref); err != nil {
		t.Fatal(err)
	}
	if got := e.ep.received(); len(got) != 3 || got[2].Event.ProviderType != "payment_intent.payment_failed" {
		t.Fatalf("received %v, want the decline's event last", types(got))
	}
}

func TestFaultsDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Delay: delay})
	start := time.Now()
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= delay {
		t.Fatalf("Approve took %s, want it to return before the delayed events", took)
	}
	if got := e.ep.received(); len(got) != 0 {
		t.Fatalf("received %v before the delay, want nothing", types(got))
	}
	// The buyer is back before the webhooks: the provider already knows.
	e.wantStatus(t, p.Ref, providers.StatusSucceeded)

	eventually(t, "the delayed events", func() bool { return len(e.ep.received()) == 2 })
	got := e.ep.received()
	if want := []string{"payment_intent.succeeded", "charge.succeeded"}; !slices.Equal(types(got), want) {
		t.Fatalf("received %v, want %v", types(got), want)
	}
	for i, h := range got {
		if min := time.Duration(i+1) * delay; h.At.Sub(start) < min {
			t.Errorf("event %d arrived %s after Approve, want at least %s", i, h.At.Sub(start), min)
		}
	}
}

func TestFaultsDelayAbandonedAtClose(t *testing.T) {
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Delay: time.Hour})
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a delivery was delayed")
	}
	if got := e.ep.received(); len(got) != 0 {
		t.Fatalf("received %v, want nothing", types(got))
	}
}

func TestFaultsDrop(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Drop: 1})
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if got, want := types(e.ep.received()), []string{"charge.succeeded"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v (payment_intent.succeeded dropped)", got, want)
	}
	if f := e.sim.Faults(); f.Drop != 0 {
		t.Fatalf("Faults().Drop = %d after one drop, want 0", f.Drop)
	}
	e.wantStatus(t, p.Ref, providers.StatusSucceeded)
	e.idle(t) // a dropped event is never retried
	if got := e.ep.received(); len(got) != 1 {
		t.Fatalf("received %v after waiting, want the dropped event never sent", types(got))
	}

	// A cancel's event, sent in the background, is dropped too.
	q := e.pay(t)
	e.setFaults(t, stripesim.Faults{Drop: 1})
	if err := e.client.CancelPayment(ctx, q.Ref); err != nil {
		t.Fatal(err)
	}
	e.wantStatus(t, q.Ref, providers.StatusCanceled)
	e.idle(t)
	if got := e.ep.received(); len(got) != 1 {
		t.Fatalf("received %v, want the cancel's event dropped", types(got))
	}

	// Once Drop is used up, events flow again.
	r := e.pay(t)
	if err := e.sim.Expire(ctx, r.Ref); err != nil {
		t.Fatal(err)
	}
	if got := e.ep.received(); len(got) != 2 || got[1].Event.Type != providers.EventPaymentExpired {
		t.Fatalf("received %v, want the expiry delivered", types(got))
	}

	// Redeliver recovers what was lost: every event, in the order produced.
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	got := e.ep.received()
	if want := []string{"charge.succeeded", "payment_intent.payment_failed", "payment_intent.succeeded", "charge.succeeded"}; !slices.Equal(types(got), want) {
		t.Fatalf("received %v, want %v", types(got), want)
	}
	if got[3].Event.ID != got[0].Event.ID || !bytes.Equal(got[3].Body, got[0].Body) {
		t.Errorf("redelivered charge.succeeded is %s, want the original %s with its body", got[3].Event.ID, got[0].Event.ID)
	}
}

// dropPattern approves n payments under DropRate and returns, for each
// event sent in order, whether it arrived.
func dropPattern(t *testing.T, seed uint64, rate float64, n int) []bool {
	t.Helper()
	e := newFaultEnv(t, seed)
	e.setFaults(t, stripesim.Faults{DropRate: rate})
	var pattern []bool
	for range n {
		p := e.pay(t)
		before := e.ep.received()
		if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
			t.Fatal(err)
		}
		arrived := map[string]bool{}
		for _, h := range e.ep.received()[len(before):] {
			arrived[h.Event.ProviderType] = true
		}
		pattern = append(pattern, arrived["payment_intent.succeeded"], arrived["charge.succeeded"])
		e.wantStatus(t, p.Ref, providers.StatusSucceeded)
	}
	return pattern
}

func TestFaultsDropRate(t *testing.T) {
	const n = 20 // 40 events
	a := dropPattern(t, 7, 0.5, n)
	if b := dropPattern(t, 7, 0.5, n); !slices.Equal(a, b) {
		t.Fatalf("seed 7 dropped %v, then %v: want the same events dropped", a, b)
	}
	if c := dropPattern(t, 8, 0.5, n); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 dropped the same events: %v", a)
	}
	delivered := 0
	for _, ok := range a {
		if ok {
			delivered++
		}
	}
	if delivered < 8 || delivered > 32 {
		t.Errorf("DropRate 0.5 delivered %d of 40 events", delivered)
	}
	for _, rate := range []float64{0, 1} {
		for i, ok := range dropPattern(t, 7, rate, 3) {
			if ok != (rate == 0) {
				t.Errorf("DropRate %v: event %d arrived = %v", rate, i, ok)
			}
		}
	}
}

func TestFaultsCombined(t *testing.T) {
	e := newFaultEnv(t, 0)
	p := e.pay(t)
	e.setFaults(t, stripesim.Faults{Duplicate: 1, Reorder: true, Delay: 20 * time.Millisecond})
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 deliveries", func() bool { return len(e.ep.received()) == 4 })
	if got, want := types(e.ep.received()), []string{"charge.succeeded", "charge.succeeded", "payment_intent.succeeded", "payment_intent.succeeded"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	e.setFaults(t, stripesim.Faults{})
	q := e.pay(t)
	if err := e.sim.Approve(context.Background(), q.Ref); err != nil {
		t.Fatal(err)
	}
	if got := types(e.ep.received()[4:]); !slices.Equal(got, []string{"payment_intent.succeeded", "charge.succeeded"}) {
		t.Fatalf("after SetFaults(Faults{}) received %v, want normal delivery", got)
	}
}

func TestRedeliver(t *testing.T) {
	e := newFaultEnv(t, 0)
	ctx := context.Background()
	p := e.pay(t)
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Decline(ctx, p.Ref); err != nil { // a late failure
		t.Fatal(err)
	}
	first := e.ep.received()
	// Faults do not apply to a redelivery.
	e.setFaults(t, stripesim.Faults{Drop: 10, Duplicate: 3, Reorder: true})
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	got := e.ep.received()
	if len(got) != 2*len(first) {
		t.Fatalf("received %v, want %v twice", types(got), types(first))
	}
	for i, h := range got[len(first):] {
		if h.Event.ID != first[i].Event.ID || !bytes.Equal(h.Body, first[i].Body) {
			t.Errorf("redelivery %d is %s, want %s with the same body", i, h.Event.ID, first[i].Event.ID)
		}
	}
	if f := e.sim.Faults(); f.Drop != 10 {
		t.Errorf("Faults().Drop = %d after Redeliver, want 10 untouched", f.Drop)
	}

	wantCode(t, "Redeliver(unknown)", e.sim.Redeliver(ctx, "pi_unknown"), paygate.ENOTFOUND)

	e.ep.setFail(true)
	err := e.sim.Redeliver(ctx, p.Ref)
	wantCode(t, "Redeliver(failing endpoint)", err, paygate.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "endpoint answered 500") {
		t.Errorf("Redeliver error %q, want the endpoint's answer", err)
	}
	e.ep.setFail(false)

	// It works after Close.
	e.sim.Close()
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatalf("Redeliver after Close = %v", err)
	}
	if n := len(e.ep.received()); n != 3*len(first) {
		t.Fatalf("received %d after the redelivery after Close, want %d", n, 3*len(first))
	}
}

func TestSetFaultsInvalid(t *testing.T) {
	e := newFaultEnv(t, 0)
	good := stripesim.Faults{Duplicate: 1, Drop: 2}
	e.setFaults(t, good)
	for _, f := range []stripesim.Faults{
		{Duplicate: -1},
		{Duplicate: 101},
		{Delay: -time.Second},
		{Drop: -1},
		{DropRate: -0.1},
		{DropRate: 1.5},
		{DropRate: math.NaN()},
	} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			wantCode(t, fmt.Sprintf("SetFaults(%+v)", f), e.sim.SetFaults(f), paygate.EINVALID)
			if got := e.sim.Faults(); got != good {
				t.Fatalf("Faults() = %+v after a refused SetFaults, want %+v", got, good)
			}
		})
	}
}

// TestFaultsSameShape checks that a Faults converts to rapydsim's and back.
func TestFaultsSameShape(t *testing.T) {
	f := stripesim.Faults{Duplicate: 1, Reorder: true, Delay: time.Second, Drop: 2, DropRate: 0.5}
	if got := stripesim.Faults(rapydsim.Faults(f)); got != f {
		t.Fatalf("round trip through rapydsim.Faults = %+v, want %+v", got, f)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := paygate.ErrorCode(err); got != code {
		t.Fatalf("%s = %v (code %q), want code %q", what, err, got, code)
	}
}
