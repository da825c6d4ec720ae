package webhooks

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// countingApplier fails each event's first application, then counts the
// applications.
type countingApplier struct {
	mu      sync.Mutex
	tries   map[string]int
	applied map[string]int
}

func (c *countingApplier) ApplyEvent(ctx context.Context, tx *storage.Tx, provider string, ev providers.Event) (checkout.Outcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tries[ev.ID]++; c.tries[ev.ID] == 1 {
		return "", context.DeadlineExceeded
	}
	c.applied[ev.ID]++
	return checkout.OutcomePaid, nil
}

// TestLeaseOfADeadInstanceIsTakenOver: instance a claims due events and
// dies before applying them. Instance b leaves them alone while a's lease
// runs, takes them over once it has run out, and applies each once. An
// instance that stops cleanly gives its leases back at once.
func TestLeaseOfADeadInstanceIsTakenOver(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixMicro())
	now := func() time.Time { return time.UnixMicro(clock.Load()).UTC() }
	advance := func(d time.Duration) { clock.Add(d.Microseconds()) }
	opts := storage.Options{Now: now, Migrations: []storage.Migrations{Migrations()}}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		app := &countingApplier{tries: map[string]int{}, applied: map[string]int{}}
		cfg := Config{DB: db, Applier: app, RetryBackoff: time.Second, Lease: 30 * time.Second}
		cfg.Instance = "host-a:1"
		a := New(cfg)
		cfg.Instance = "host-b:2"
		b := New(cfg)

		ids := []string{"evt_l1", "evt_l2", "evt_l3"}
		for _, id := range ids {
			ev := providers.Event{ID: id, Type: providers.EventPaymentSucceeded, PaymentRef: "pi_" + id, Verification: "test"}
			if _, err := a.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
		advance(2 * time.Second) // past the first retry's backoff: all three are due

		claimed, err := a.claim(ctx, 2)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("a claims = %v, %v; want 2 events", claimed, err)
		}
		var holders []string
		if err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Select(ctx, &holders, `SELECT locked_by FROM webhook_events WHERE locked_until > ? ORDER BY id`, tx.Now())
		}); err != nil {
			t.Fatal(err)
		}
		if len(holders) != 2 || holders[0] != "host-a:1" || holders[1] != "host-a:1" {
			t.Fatalf("lease holders = %v, want host-a:1 twice", holders)
		}
		// a dies here. b applies the one event a did not claim, and not
		// the two a holds.
		if n, err := b.ProcessDue(ctx); err != nil || n != 1 {
			t.Fatalf("b during a's lease applied %d, %v; want 1", n, err)
		}
		advance(29 * time.Second)
		if n, err := b.ProcessDue(ctx); err != nil || n != 0 {
			t.Fatalf("b 1 s before a's lease runs out applied %d, %v; want 0", n, err)
		}
		advance(2 * time.Second)
		if n, err := b.ProcessDue(ctx); err != nil || n != 2 {
			t.Fatalf("b after a's lease ran out applied %d, %v; want 2", n, err)
		}
		for _, id := range ids {
			if app.applied[id] != 1 {
				t.Fatalf("%s applied %d times, want 1", id, app.applied[id])
			}
		}

		// A clean stop gives the leases back.
		ev := providers.Event{ID: "evt_l4", Type: providers.EventPaymentSucceeded, PaymentRef: "pi_l4", Verification: "test"}
		if _, err := a.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{ev}); err != nil {
			t.Fatal(err)
		}
		advance(2 * time.Second)
		if claimed, err := a.claim(ctx, 10); err != nil || len(claimed) != 1 {
			t.Fatalf("a claims = %v, %v; want 1 event", claimed, err)
		}
		a.release(ctx)
		if n, err := b.ProcessDue(ctx); err != nil || n != 1 || app.applied["evt_l4"] != 1 {
			t.Fatalf("b after a released its lease applied %d, %v (evt_l4 %d times); want 1", n, err, app.applied["evt_l4"])
		}
	})
}
