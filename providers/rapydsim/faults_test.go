package rapydsim_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapydsim"
)

// The fault tests use the env of rapydsim_test.go: its receiver verifies
// every delivery with the real rapyd client's ParseWebhook.

// all returns every delivery the receiver got, in order.
func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.deliveries)
}

func (rc *receiver) setFailAll(fail bool) {
	rc.mu.Lock()
	rc.failAll = fail
	rc.mu.Unlock()
}

// webhookTypes returns the Rapyd types of verified deliveries, in order.
func webhookTypes(ds []delivery) []string {
	var out []string
	for _, d := range ds {
		if d.Err == nil {
			out = append(out, d.Events[0].ProviderType)
		}
	}
	return out
}

func (e *env) setFaults(t *testing.T, f rapydsim.Faults) {
	t.Helper()
	if err := e.sim.SetFaults(f); err != nil {
		t.Fatalf("SetFaults(%+v) = %v", f, err)
	}
}

// created creates a payment and waits for its PAYMENT_SUCCEEDED.
func (e *env) created(t *testing.T, attempt string) providers.Payment {
	t.Helper()
	n := len(e.recv.ofType("PAYMENT_SUCCEEDED"))
	p := e.create(t, providers.KakaoPay, attempt)
	waitFor(t, "PAYMENT_SUCCEEDED", func() bool { return len(e.recv.ofType("PAYMENT_SUCCEEDED")) == n+1 })
	return p
}

// wantStatus checks what GetPayment says: the simulator keeps the truth
// whatever happened to the webhooks.
func (e *env) wantStatus(t *testing.T, ref string, want providers.Status) {
	t.Helper()
	p, err := e.client.GetPayment(context.Background(), ref)
	if err != nil || p.Status != want {
		t.Fatalf("GetPayment(%s) = %s, %v, want %s", ref, p.Status, err, want)
	}
}

func TestFaultsVerification(t *testing.T) {
	e := newEnv(t, options{})
	p := e.created(t, "A-1")
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	for _, d := range e.recv.all() {
		v := d.Events[0].Verification
		if !strings.HasPrefix(v, "rapyd-signature hmac-sha256 over url+salt+timestamp+access_key+secret_key+body, url http://127.0.0.1:") ||
			!strings.Contains(v, `salt "`+d.Header.Get("salt")+`"`) || strings.Contains(v, testSecret) {
			t.Errorf("Verification = %q", v)
		}
	}
}

func TestFaultsDuplicate(t *testing.T) {
	e := newEnv(t, options{})
	p := e.created(t, "A-1")
	e.setFaults(t, rapydsim.Faults{Duplicate: 2})
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	// All copies are delivered before Approve returns.
	got := e.recv.ofType("PAYMENT_COMPLETED")
	if len(got) != 3 {
		t.Fatalf("%d PAYMENT_COMPLETED deliveries, want 3", len(got))
	}
	salts := map[string]bool{}
	for _, d := range got {
		if d.Events[0].ID != got[0].Events[0].ID || !bytes.Equal(d.Body, got[0].Body) {
			t.Errorf("copy %s, want webhook %s with the same body", d.Events[0].ID, got[0].Events[0].ID)
		}
		salts[d.Header.Get("salt")] = true
	}
	if len(salts) != 3 {
		t.Errorf("the 3 copies used %d salts, want each signed afresh", len(salts))
	}
}

func TestFaultsReorder(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	e.setFaults(t, rapydsim.Faults{Reorder: true})

	// Creation's PAYMENT_SUCCEEDED is held back...
	p := e.create(t, providers.KakaoPay, "A-1")
	e.idle(t)
	if got := e.recv.all(); len(got) != 0 {
		t.Fatalf("received %v before the payment's outcome, want PAYMENT_SUCCEEDED held", webhookTypes(got))
	}
	// ...and arrives after the outcome, both before Approve returns.
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	got := e.recv.all()
	if want := []string{"PAYMENT_COMPLETED", "PAYMENT_SUCCEEDED"}; !slices.Equal(webhookTypes(got), want) {
		t.Fatalf("received %v, want %v", webhookTypes(got), want)
	}
	if got[0].Events[0].Type != providers.EventPaymentSucceeded || got[1].Events[0].Type != providers.EventOther {
		t.Errorf("events %+v, want the late PAYMENT_SUCCEEDED to mean nothing to act on", got)
	}
	e.wantStatus(t, p.Ref, providers.StatusSucceeded)

	// A cancel releases it too, in the background.
	q := e.create(t, providers.SamsungPay, "A-2")
	if err := e.client.CancelPayment(ctx, q.Ref); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancel's webhooks", func() bool { return len(e.recv.all()) == 4 })
	if got, want := webhookTypes(e.recv.all()[2:]), []string{"PAYMENT_CANCELED", "PAYMENT_SUCCEEDED"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}

	// A held webhook is released whatever the faults are by then.
	r := e.create(t, providers.KakaoPay, "A-3")
	e.setFaults(t, rapydsim.Faults{})
	if err := e.sim.Decline(ctx, r.Ref); err != nil {
		t.Fatal(err)
	}
	if got, want := webhookTypes(e.recv.all()[4:]), []string{"PAYMENT_FAILED", "PAYMENT_SUCCEEDED"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
}

func TestFaultsDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := newEnv(t, options{})
	p := e.created(t, "A-1")
	e.setFaults(t, rapydsim.Faults{Delay: delay})
	start := time.Now()
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= delay {
		t.Fatalf("Approve took %s, want it to return before the delayed webhook", took)
	}
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 0 {
		t.Fatal("PAYMENT_COMPLETED arrived before the delay")
	}
	// The buyer is back before the webhook: the provider already knows.
	e.wantStatus(t, p.Ref, providers.StatusSucceeded)
	waitFor(t, "the delayed PAYMENT_COMPLETED", func() bool { return len(e.recv.ofType("PAYMENT_COMPLETED")) == 1 })
	if took := time.Since(start); took < delay {
		t.Fatalf("PAYMENT_COMPLETED arrived %s after Approve, want at least %s", took, delay)
	}
}

func TestFaultsDelayAbandonedAtClose(t *testing.T) {
	e := newEnv(t, options{})
	p := e.created(t, "A-1")
	e.setFaults(t, rapydsim.Faults{Delay: time.Hour})
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
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 0 {
		t.Fatal("the delayed PAYMENT_COMPLETED was sent")
	}
}

func TestFaultsDrop(t *testing.T) {
	e := newEnv(t, options{backoff: 5 * time.Millisecond})
	ctx := context.Background()
	p := e.created(t, "A-1")
	e.setFaults(t, rapydsim.Faults{Drop: 1})
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if f := e.sim.Faults(); f.Drop != 0 {
		t.Fatalf("Faults().Drop = %d after one drop, want 0", f.Drop)
	}
	e.wantStatus(t, p.Ref, providers.StatusSucceeded)
	e.idle(t) // a dropped webhook is never retried
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 0 {
		t.Fatal("the dropped PAYMENT_COMPLETED was sent")
	}

	// Creation's and a cancel's webhooks, sent in the background, are
	// dropped too.
	e.setFaults(t, rapydsim.Faults{Drop: 2})
	q := e.create(t, providers.SamsungPay, "A-2")
	if err := e.client.CancelPayment(ctx, q.Ref); err != nil {
		t.Fatal(err)
	}
	e.wantStatus(t, q.Ref, providers.StatusCanceled)
	e.idle(t)
	if got := e.recv.all(); len(got) != 1 {
		t.Fatalf("received %v, want only the first payment's PAYMENT_SUCCEEDED", webhookTypes(got))
	}

	// Redeliver recovers what was lost: every webhook, in the order produced.
	before := e.recv.all()
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	got := e.recv.all()[len(before):]
	if want := []string{"PAYMENT_SUCCEEDED", "PAYMENT_COMPLETED"}; !slices.Equal(webhookTypes(got), want) {
		t.Fatalf("redelivered %v, want %v", webhookTypes(got), want)
	}
	if got[0].Events[0].ID != before[0].Events[0].ID || !bytes.Equal(got[0].Body, before[0].Body) {
		t.Errorf("redelivered PAYMENT_SUCCEEDED is %s, want the original %s with its body", got[0].Events[0].ID, before[0].Events[0].ID)
	}
	if ev := got[1].Events[0]; ev.Type != providers.EventPaymentSucceeded || ev.PaymentRef != p.Ref {
		t.Errorf("redelivered event %+v", ev)
	}
}

// dropPattern creates and approves n payments under DropRate and returns,
// for each webhook sent in order, whether it arrived.
func dropPattern(t *testing.T, seed uint64, rate float64, n int) []bool {
	t.Helper()
	e := newEnv(t, options{seed: seed})
	e.setFaults(t, rapydsim.Faults{DropRate: rate})
	var pattern []bool
	for i := range n {
		p := e.create(t, providers.KakaoPay, fmt.Sprintf("A-%d", i))
		if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
			t.Fatal(err)
		}
		e.wantStatus(t, p.Ref, providers.StatusSucceeded)
		pattern = append(pattern, arrived(t, e, p.Ref, "PAYMENT_SUCCEEDED"), arrived(t, e, p.Ref, "PAYMENT_COMPLETED"))
	}
	return pattern
}

// arrived reports whether a webhook of type typ about ref arrived; a
// background delivery is given time to.
func arrived(t *testing.T, e *env, ref, typ string) bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Millisecond)
	for {
		for _, d := range e.recv.ofType(typ) {
			if d.Events[0].PaymentRef == ref {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFaultsDropRate(t *testing.T) {
	const n = 15 // 30 webhooks
	a := dropPattern(t, 7, 0.5, n)
	if b := dropPattern(t, 7, 0.5, n); !slices.Equal(a, b) {
		t.Fatalf("seed 7 dropped %v, then %v: want the same webhooks dropped", a, b)
	}
	if c := dropPattern(t, 8, 0.5, n); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 dropped the same webhooks: %v", a)
	}
	delivered := 0
	for _, ok := range a {
		if ok {
			delivered++
		}
	}
	if delivered < 6 || delivered > 24 {
		t.Errorf("DropRate 0.5 delivered %d of 30 webhooks", delivered)
	}
	for _, rate := range []float64{0, 1} {
		for i, ok := range dropPattern(t, 7, rate, 2) {
			if ok != (rate == 0) {
				t.Errorf("DropRate %v: webhook %d arrived = %v", rate, i, ok)
			}
		}
	}
}

func TestRedeliver(t *testing.T) {
	e := newEnv(t, options{backoff: time.Hour})
	ctx := context.Background()

	// A held webhook is sent, and no longer held.
	e.setFaults(t, rapydsim.Faults{Reorder: true})
	p := e.create(t, providers.KakaoPay, "A-1")
	// Faults do not apply to a redelivery.
	e.setFaults(t, rapydsim.Faults{Reorder: true, Drop: 10, Duplicate: 3})
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if got := webhookTypes(e.recv.all()); !slices.Equal(got, []string{"PAYMENT_SUCCEEDED"}) {
		t.Fatalf("Redeliver sent %v, want the held PAYMENT_SUCCEEDED once", got)
	}
	if f := e.sim.Faults(); f.Drop != 10 {
		t.Errorf("Faults().Drop = %d after Redeliver, want 10 untouched", f.Drop)
	}
	e.setFaults(t, rapydsim.Faults{})
	if err := e.sim.Expire(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if got := webhookTypes(e.recv.all()); !slices.Equal(got, []string{"PAYMENT_SUCCEEDED", "PAYMENT_EXPIRED"}) {
		t.Fatalf("received %v, want the expiry alone after the redelivery", got)
	}
	if err := e.sim.Approve(ctx, p.Ref); err != nil { // a late payment
		t.Fatal(err)
	}
	first := e.recv.all()
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	again := e.recv.all()[len(first):]
	if len(again) != len(first) {
		t.Fatalf("Redeliver sent %v, want %v", webhookTypes(again), webhookTypes(first))
	}
	for i, d := range again {
		if d.Events[0].ID != first[i].Events[0].ID || !bytes.Equal(d.Body, first[i].Body) {
			t.Errorf("redelivery %d is %s, want %s with the same body", i, d.Events[0].ID, first[i].Events[0].ID)
		}
	}

	wantCode(t, "Redeliver(unknown)", e.sim.Redeliver(ctx, "payment_nope"), paygate.ENOTFOUND)

	e.recv.setFailAll(true)
	err := e.sim.Redeliver(ctx, p.Ref)
	wantCode(t, "Redeliver(failing endpoint)", err, paygate.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("Redeliver error %q, want the endpoint's answer", err)
	}
	e.recv.setFailAll(false)

	// It works after Close.
	e.sim.Close()
	n := len(e.recv.all())
	if err := e.sim.Redeliver(ctx, p.Ref); err != nil {
		t.Fatalf("Redeliver after Close = %v", err)
	}
	if got := len(e.recv.all()) - n; got != len(first) {
		t.Fatalf("Redeliver after Close sent %d, want %d", got, len(first))
	}
}

func TestSetFaultsInvalid(t *testing.T) {
	e := newEnv(t, options{})
	good := rapydsim.Faults{Duplicate: 1, Drop: 2}
	e.setFaults(t, good)
	for _, f := range []rapydsim.Faults{
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
