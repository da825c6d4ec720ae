package webhooks_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// flakyApplier fails the first failures applications of each event, then
// records it as applied. It stands in for checkout in these inbox tests.
type flakyApplier struct {
	mu       sync.Mutex
	failures int
	tries    map[string]int
	applied  map[string]int
}

func (f *flakyApplier) ApplyEvent(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (checkout.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries[ev.ID]++
	if f.tries[ev.ID] <= f.failures {
		return "", errors.New("database hiccup")
	}
	f.applied[ev.ID]++
	return checkout.OutcomePaid, nil
}

func (f *flakyApplier) count(id string) (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[id], f.applied[id]
}

func newInbox(t *testing.T, db *storage.DB, failures, maxAttempts int) (*webhooks.Inbox, *flakyApplier) {
	a := &flakyApplier{failures: failures, tries: map[string]int{}, applied: map[string]int{}}
	return webhooks.New(webhooks.Config{DB: db, Applier: a, MaxAttempts: maxAttempts, RetryBackoff: time.Millisecond}), a
}

var opts = storage.Options{Migrations: []storage.Migrations{webhooks.Migrations()}}

func event(id string) providers.Event {
	return providers.Event{ID: id, Type: providers.EventPaymentSucceeded, ProviderType: "payment_intent.succeeded",
		PaymentRef: "pi_" + id, PaymentOrder: "P12345678", Verification: "test"}
}

func status(t *testing.T, in *webhooks.Inbox, id string) webhooks.StoredEvent {
	t.Helper()
	evs, err := in.Events(httptest.NewRequest("GET", "/", nil), webhooks.EventFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.EventID == id {
			return e
		}
	}
	t.Fatalf("event %s not in the inbox", id)
	return webhooks.StoredEvent{}
}

func TestFailedProcessingIsRetriedNotLost(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		in, a := newInbox(t, db, 3, 10)
		ctx := context.Background()
		res, err := in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{event("evt_1")})
		if err != nil || res.Received != 1 || res.Deferred != 1 {
			t.Fatalf("Receive = %+v, %v; want the event stored and deferred", res, err)
		}
		if e := status(t, in, "evt_1"); e.Status != webhooks.StatusPending || e.LastError == "" {
			t.Fatalf("after a failed application: %+v, want pending with its error", e)
		}
		deadline := time.Now().Add(10 * time.Second)
		for status(t, in, "evt_1").Status != webhooks.StatusProcessed {
			if time.Now().After(deadline) {
				t.Fatalf("event not processed: %+v", status(t, in, "evt_1"))
			}
			if _, err := in.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if tries, applied := a.count("evt_1"); tries != 4 || applied != 1 {
			t.Fatalf("tries %d, applied %d; want 4 and 1", tries, applied)
		}
		// A redelivery is a duplicate; a replay applies again, and the
		// applier (checkout) is what makes that a no-op.
		res, _ = in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{event("evt_1")})
		if res.Duplicates != 1 || status(t, in, "evt_1").Deliveries != 2 {
			t.Fatalf("redelivery = %+v", res)
		}
		e := status(t, in, "evt_1")
		n, err := in.Replay(ctx, webhooks.ReplayFilter{IDs: []int64{e.ID}})
		if err != nil || n != 1 {
			t.Fatalf("Replay = %d, %v", n, err)
		}
		if _, applied := a.count("evt_1"); applied != 2 || status(t, in, "evt_1").Status != webhooks.StatusProcessed {
			t.Fatalf("after replay applied %d times, status %s", applied, status(t, in, "evt_1").Status)
		}
	})
}

func TestEventFailsAfterMaxAttempts(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		in, _ := newInbox(t, db, 1000, 3)
		ctx := context.Background()
		in.Receive(ctx, "rapyd", []byte(`{}`), []providers.Event{event("wh_1")})
		deadline := time.Now().Add(10 * time.Second)
		for status(t, in, "wh_1").Status != webhooks.StatusFailed {
			if time.Now().After(deadline) {
				t.Fatalf("event never failed: %+v", status(t, in, "wh_1"))
			}
			in.ProcessDue(ctx)
			time.Sleep(5 * time.Millisecond)
		}
		e := status(t, in, "wh_1")
		if e.Attempts != 3 || e.LastError == "" {
			t.Fatalf("failed event = %+v, want 3 attempts and its error", e)
		}
		failed, _ := in.Events(httptest.NewRequest("GET", "/", nil), webhooks.EventFilter{Status: webhooks.StatusFailed, Limit: 10})
		if len(failed) != 1 {
			t.Fatalf("failed events listed: %d, want 1", len(failed))
		}
	})
}

func TestConcurrentWorkersApplyOnce(t *testing.T) {
	// Several workers (several paygate instances) on one database: each
	// pending event is applied once.
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		in, a := newInbox(t, db, 1, 10)
		ctx := context.Background()
		var ids []string
		for i := range 40 {
			id := "evt_c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			ids = append(ids, id)
			in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{event(id)})
		}
		// Each event failed once at intake; four workers process the
		// inbox until every event is applied.
		applied := func() bool {
			for _, id := range ids {
				if _, n := a.count(id); n == 0 {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(10 * time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !applied() && time.Now().Before(deadline) {
					if _, err := in.ProcessDue(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if _, applied := a.count(id); applied != 1 {
				t.Fatalf("%s applied %d times, want 1", id, applied)
			}
		}
	})
}

// orderedApplier defers refunds of payments not yet paid, as checkout does.
type orderedApplier struct {
	mu      sync.Mutex
	paid    map[string]bool
	refunds map[string]int
}

func (o *orderedApplier) ApplyEvent(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (checkout.Outcome, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch ev.Type {
	case providers.EventPaymentSucceeded:
		o.paid[ev.PaymentRef] = true
		return checkout.OutcomePaid, nil
	case providers.EventRefunded:
		if !o.paid[ev.PaymentRef] {
			return checkout.OutcomeDeferred, nil
		}
		o.refunds[ev.PaymentRef]++
		return checkout.OutcomeForFinance, nil
	}
	return checkout.OutcomeUnchanged, nil
}

func TestRefundBeforeSuccessIsKeptAndAppliedLater(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		a := &orderedApplier{paid: map[string]bool{}, refunds: map[string]int{}}
		in := webhooks.New(webhooks.Config{DB: db, Applier: a, RetryBackoff: time.Millisecond})
		ctx := context.Background()
		refund := providers.Event{ID: "evt_refund", Type: providers.EventRefunded, PaymentRef: "pi_1"}
		if _, err := in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{refund}); err != nil {
			t.Fatal(err)
		}
		if e := status(t, in, "evt_refund"); e.Status != webhooks.StatusDeferred || e.Outcome != "deferred" {
			t.Fatalf("refund before its payment = %+v, want deferred", e)
		}
		in.ProcessDue(ctx) // a deferred event is not retried on its own
		if a.refunds["pi_1"] != 0 {
			t.Fatal("a deferred refund was applied before its payment")
		}
		success := providers.Event{ID: "evt_paid", Type: providers.EventPaymentSucceeded, PaymentRef: "pi_1"}
		if _, err := in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{success}); err != nil {
			t.Fatal(err)
		}
		if e := status(t, in, "evt_refund"); e.Status != webhooks.StatusPending {
			t.Fatalf("after the payment: refund %+v, want pending again", e)
		}
		if _, err := in.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		if e := status(t, in, "evt_refund"); e.Status != webhooks.StatusProcessed || a.refunds["pi_1"] != 1 {
			t.Fatalf("after the worker: refund %+v applied %d times, want processed once", e, a.refunds["pi_1"])
		}
	})
}
