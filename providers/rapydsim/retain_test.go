package rapydsim_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapydsim"
)

// settle waits for the receiver to have had n deliveries and for the
// simulator to have settled (and trimmed) what they acknowledged: the
// webhooks of a creation, a cancel or a refund are sent in the background.
func (e *env) settle(t *testing.T, n int, l rapydsim.Limits) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.recv.mu.Lock()
		got := len(e.recv.deliveries)
		e.recv.mu.Unlock()
		if got >= n && e.sim.Usage().Payments <= l.Settled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries and Usage %+v, want %d and at most %d payments", got, e.sim.Usage(), n, l.Settled)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// checkUsage fails the test if what the simulator keeps is beyond limits,
// with room for slack unsettled payments.
func checkUsage(t *testing.T, sim *rapydsim.Simulator, l rapydsim.Limits, slack int) rapydsim.Usage {
	t.Helper()
	u := sim.Usage()
	if u.Payments > l.Settled+slack || u.Settled > l.Settled || u.Refunds > u.Payments ||
		u.Webhooks > 4*u.Payments || u.IdempotencyKeys > l.IdempotencyKeys || u.ReportLines > l.ReportLines {
		t.Fatalf("Usage = %+v beyond limits %+v", u, l)
	}
	return u
}

// TestLongRunBounded makes 600 payments through paygate's Rapyd client,
// approved, declined, canceled and refunded, and checks after each that
// what the simulator keeps stays within its limits; then that the newest
// payments are kept and the oldest forgotten, and that the report keeps
// the latest ReportLines lines, of forgotten payments too.
func TestLongRunBounded(t *testing.T) {
	const n = 600
	limits := rapydsim.Limits{Settled: 40, IdempotencyKeys: 60, ReportLines: 100}
	e := newEnv(t, options{limits: limits})
	ctx := context.Background()
	var refs []string
	sent := 0 // webhooks sent so far
	for i := range n {
		p := e.create(t, providers.KakaoPay, "A-"+strconv.Itoa(i))
		refs = append(refs, p.Ref)
		sent += 2 // PAYMENT_SUCCEEDED, then the outcome's
		var err error
		switch {
		case i%13 == 0:
			err = e.client.CancelPayment(ctx, p.Ref)
		case i%7 == 0:
			err = e.sim.Decline(ctx, p.Ref)
		default:
			err = e.sim.Approve(ctx, p.Ref)
			if err == nil && i%10 == 0 {
				_, err = e.client.Refund(ctx, refundOf(p, 5000, "RF-"+strconv.Itoa(i)))
				sent++
			}
		}
		if err != nil {
			t.Fatalf("payment %d: %v", i, err)
		}
		// Creation's PAYMENT_SUCCEEDED, a cancel's and a refund's webhooks
		// may be on their way.
		checkUsage(t, e.sim, limits, 10)
		e.settle(t, sent, limits)
		checkUsage(t, e.sim, limits, 0)
	}
	if u := checkUsage(t, e.sim, limits, 0); u.Settled != limits.Settled || u.IdempotencyKeys != limits.IdempotencyKeys || u.ReportLines != limits.ReportLines {
		t.Errorf("Usage = %+v after %d payments, want the limits %+v reached", u, n, limits)
	}

	newest := refs[n-3] // approved
	if got, err := e.client.GetPayment(ctx, newest); err != nil || got.Status != providers.StatusSucceeded {
		t.Errorf("GetPayment(the newest) = %+v, %v; want succeeded", got, err)
	}
	_, err := e.client.GetPayment(ctx, refs[1])
	wantCode(t, "GetPayment(the oldest)", err, paygate.ENOTFOUND)
	wantCode(t, "Redeliver(the oldest)", e.sim.Redeliver(ctx, refs[1]), paygate.ENOTFOUND)
	if _, err := e.client.Refund(ctx, refundOf(providers.Payment{Ref: newest}, 1000, "RF-late")); err != nil {
		t.Errorf("Refund(the newest) = %v", err)
	}
	// A forgotten idempotency key creates a new payment; a kept one replays.
	if again := e.create(t, providers.KakaoPay, "A-0"); again.Ref == refs[0] {
		t.Errorf("CreatePayment with a forgotten key replayed %s", again.Ref)
	}
	if again := e.create(t, providers.KakaoPay, "A-"+strconv.Itoa(n-1)); again.Ref != refs[n-1] {
		t.Errorf("CreatePayment with a kept key = %s, want the replay of %s", again.Ref, refs[n-1])
	}

	var b bytes.Buffer
	if err := e.sim.SettlementReport(&b, rapydsim.ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rows) - 1; got != limits.ReportLines {
		t.Errorf("report has %d lines, want ReportLines %d", got, limits.ReportLines)
	}
	forgotten := 0
	for _, row := range rows[1:] {
		if _, err := e.client.GetPayment(ctx, row[3]); err != nil {
			forgotten++
		}
	}
	if forgotten == 0 {
		t.Error("the report has no line of a forgotten payment, want the latest lines whatever their payments")
	}
}

// TestUnacknowledgedKept checks that a payment whose webhook was lost is
// kept while newer ones are forgotten, until Redeliver gets it
// acknowledged.
func TestUnacknowledgedKept(t *testing.T) {
	limits := rapydsim.Limits{Settled: 5}
	e := newEnv(t, options{limits: limits})
	ctx := context.Background()
	// created waits for p's PAYMENT_SUCCEEDED, sent in the background.
	created := func(p providers.Payment) {
		t.Helper()
		waitFor(t, "PAYMENT_SUCCEEDED", func() bool {
			for _, d := range e.recv.ofType("PAYMENT_SUCCEEDED") {
				if d.Events[0].PaymentRef == p.Ref {
					return true
				}
			}
			return false
		})
	}
	lost := e.create(t, providers.KakaoPay, "lost")
	created(lost)
	if err := e.sim.SetFaults(rapydsim.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Approve(ctx, lost.Ref); err != nil { // PAYMENT_COMPLETED dropped
		t.Fatal(err)
	}
	approve := func(i int) {
		t.Helper()
		p := e.create(t, providers.KakaoPay, "more-"+strconv.Itoa(i))
		created(p)
		if err := e.sim.Approve(ctx, p.Ref); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		approve(i)
	}
	if got, err := e.client.GetPayment(ctx, lost.Ref); err != nil || got.Status != providers.StatusSucceeded {
		t.Fatalf("GetPayment(lost) = %+v, %v; want it kept, succeeded", got, err)
	}
	// The last PAYMENT_SUCCEEDED's acknowledgement may still be on its way.
	waitFor(t, "6 payments: 5 settled and lost", func() bool {
		u := e.sim.Usage()
		return u.Payments == 6 && u.Settled == 5
	})
	if err := e.sim.Redeliver(ctx, lost.Ref); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 24; i++ {
		approve(i)
	}
	if _, err := e.client.GetPayment(ctx, lost.Ref); err != nil {
		t.Errorf("GetPayment(lost) after 4 newer settled = %v, want it kept", err)
	}
	approve(24)
	waitFor(t, "lost forgotten once 5 newer settled", func() bool {
		_, err := e.client.GetPayment(ctx, lost.Ref)
		return err != nil
	})
	_, err := e.client.GetPayment(ctx, lost.Ref)
	wantCode(t, "GetPayment(lost) after 5 newer settled", err, paygate.ENOTFOUND)
}
