package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

var resources = []string{"K1000001", "K1000002", "K1000003", "P1000001", "P1000002", "u_seller1"}

func typeOf(resource string) events.Type {
	switch resource[0] {
	case 'K':
		return events.SalesOrderPaid
	case 'P':
		return events.PaymentOrderPaid
	default:
		return events.BalanceCredited
	}
}

// TestDeliversEveryEventSignedInOrder: a receiver that verifies every
// signature with the Standard Webhooks library gets every event appended
// after its endpoint was made, each resource's in sequence order, and only
// those of its patterns and role; events appended before the endpoint are
// not sent to it. Writers append concurrently.
func TestDeliversEveryEventSignedInOrder(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		before := appendEvent(t, db, events.SalesOrderPaid, "K0999999")
		s := newService(db, nil)
		mk, fin := newReceiver(t), newReceiver(t)
		e, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: mk.srv.URL + "/hooks", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.ID, "we_") || !strings.HasPrefix(e.Secret, "whsec_") || e.Disabled {
			t.Fatalf("created %+v", e)
		}
		mk.setSecret(e.Secret)
		f, err := s.Create(ctx, "finance", delivery.NewEndpoint{URL: fin.srv.URL, Events: []string{"finance_item.*", "sales_order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		fin.setSecret(f.Secret)
		run(t, s)

		var mu sync.Mutex
		var all []events.Event
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					r := resources[(w+i)%len(resources)]
					ev := appendEvent(t, db, typeOf(r), r)
					mu.Lock()
					all = append(all, ev)
					mu.Unlock()
					if i%10 == 0 {
						fi := appendEvent(t, db, events.FinanceItemOpened, fmt.Sprintf("fi_%d_%d", w, i))
						mu.Lock()
						all = append(all, fi)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		var forMK, forFin []events.Event
		for _, ev := range all {
			if ev.Type != events.FinanceItemOpened {
				forMK = append(forMK, ev)
			}
			if ev.Type == events.FinanceItemOpened || ev.Type == events.SalesOrderPaid {
				forFin = append(forFin, ev)
			}
		}
		waitFor(t, 30*time.Second, "every event delivered", func() bool {
			return len(mk.received()) >= len(forMK) && len(fin.received()) >= len(forFin)
		})
		drained(t, db, mk, fin)
		if d := checkOrder(t, mk.received(), forMK); d != 0 {
			t.Errorf("the marketplace got %d duplicates from a healthy receiver", d)
		}
		checkOrder(t, fin.received(), forFin)
		if mk.bad.Load()+fin.bad.Load() != 0 {
			t.Errorf("%d signatures did not verify", mk.bad.Load()+fin.bad.Load())
		}
		for _, g := range mk.received() {
			if g.ID == before.ID {
				t.Errorf("the event written before the endpoint was delivered to it")
			}
		}
		// Every attempt is recorded.
		as, err := s.Attempts(ctx, "marketplace", e.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 100 || as[0].Result != delivery.ResultSuccess || as[0].StatusCode != 204 || as[0].ID <= as[1].ID {
			t.Errorf("attempts: %d, first %+v", len(as), as[0])
		}
		// Redelivery sends the event again.
		n := len(mk.received())
		ids, err := s.Redeliver(ctx, "marketplace", forMK[0].ID, "")
		if err != nil || len(ids) != 1 || ids[0] != e.ID {
			t.Fatalf("redeliver = %v, %v", ids, err)
		}
		waitFor(t, 10*time.Second, "the redelivery", func() bool { return len(mk.received()) == n+1 })
		if got := mk.received()[n]; got.ID != forMK[0].ID {
			t.Errorf("redelivered %s, want %s", got.ID, forMK[0].ID)
		}
		if _, err := s.Redeliver(ctx, "marketplace", forFin[0].ID, ""); paygate.ErrorCode(err) != paygate.ENOTFOUND && forFin[0].Type == events.FinanceItemOpened {
			t.Errorf("the marketplace redelivered a finance event: %v", err)
		}
	})
}

// TestRecoversAfterOutage: the receiver refuses connections, then answers
// 500s, then times out, then recovers: every event arrives, each
// resource's in sequence order; every attempt is recorded.
func TestRecoversAfterOutage(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		// A port nothing listens on yet: connections are refused.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s := newService(db, func(c *delivery.Config) { c.Timeout = 200 * time.Millisecond })
		e, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: "http://" + addr + "/in", Events: []string{"sales_order.*", "payment_order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		run(t, s)
		var want []events.Event
		for i := range 60 {
			r := resources[i%5]
			want = append(want, appendEvent(t, db, typeOf(r), r))
		}
		waitFor(t, 10*time.Second, "refused attempts during the outage", func() bool {
			return countAttempts(t, s, e.ID, delivery.ResultError) >= 5
		})
		rc := &receiver{secret: e.Secret}
		rc.fail = func(n int64, w http.ResponseWriter, r *http.Request) int {
			switch {
			case n <= 15:
				return http.StatusInternalServerError
			case n <= 20:
				time.Sleep(400 * time.Millisecond) // past the sender's timeout
				return http.StatusServiceUnavailable
			}
			return 0
		}
		rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
		if rc.srv.Listener, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
		rc.srv.Start()
		defer rc.srv.Close()
		waitFor(t, 60*time.Second, "every event after the outage", func() bool { return len(rc.received()) >= len(want) })
		checkOrder(t, rc.received(), want)
		// The receiver has the last event before its attempt is recorded:
		// every success is recorded a moment later.
		var all []delivery.Attempt
		waitFor(t, 10*time.Second, "every success recorded", func() bool {
			all = nil
			for before := int64(0); ; {
				page, err := s.Attempts(ctx, "marketplace", e.ID, before, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page...)
				before = page[len(page)-1].ID
			}
			n := 0
			for _, a := range all {
				if a.Result == delivery.ResultSuccess {
					n++
				}
			}
			return n >= len(want)
		})
		results := map[string]int{}
		for _, a := range all {
			results[a.Result]++
			if a.Result == delivery.ResultFailure && (a.StatusCode != 500 || !strings.HasPrefix(a.Response, "failing request")) {
				t.Errorf("a failure recorded as %+v", a)
			}
		}
		// The receiver's 15 answers of 500 are failures, unless one came
		// after the sender's 200 ms timeout on a loaded machine: an error.
		if results[delivery.ResultError] < 5 || results[delivery.ResultFailure] < 1 ||
			results[delivery.ResultFailure]+results[delivery.ResultError] < 20 || results[delivery.ResultSuccess] < len(want) {
			t.Errorf("attempts by result %v: want refused connections and timeouts (error), 15 failures (or errors, if late), %d successes", results, len(want))
		}
	})
}

// TestGoneDisablesEndpoint: a 410 disables the endpoint, whose delivery
// waits; enabling it again delivers it.
func TestGoneDisablesEndpoint(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s := newService(db, nil)
		rc := newReceiver(t)
		var gone atomic.Bool
		gone.Store(true)
		rc.fail = func(int64, http.ResponseWriter, *http.Request) int {
			if gone.Load() {
				return http.StatusGone
			}
			return 0
		}
		e, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: rc.srv.URL, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		rc.setSecret(e.Secret)
		run(t, s)
		ev := appendEvent(t, db, events.SalesOrderDelivered, "K2000001")
		waitFor(t, 10*time.Second, "the endpoint disabled", func() bool {
			got, err := s.Get(ctx, "marketplace", e.ID)
			return err == nil && got.Disabled
		})
		got, _ := s.Get(ctx, "marketplace", e.ID)
		if !strings.Contains(got.DisabledReason, "410") {
			t.Errorf("disabled_reason = %q", got.DisabledReason)
		}
		// Once the 410's retry is due, a pass claims nothing, and no
		// worker holds the delivery: nothing is in flight.
		waitFor(t, 10*time.Second, "the retry due", func() bool {
			var due bool
			err := db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &due, `SELECT COUNT(*) > 0 FROM webhook_deliveries WHERE next_attempt_at <= ?`, tx.Now())
			})
			return err == nil && due
		})
		if n, err := s.DeliverDue(ctx); n != 0 || err != nil {
			t.Errorf("a pass for a disabled endpoint = %d, %v; want nothing claimed", n, err)
		}
		var held int
		if err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &held, `SELECT COUNT(*) FROM webhook_deliveries WHERE locked_by <> ''`)
		}); err != nil || held != 0 {
			t.Errorf("%d deliveries of a disabled endpoint held by a worker (%v)", held, err)
		}
		if n := rc.requests.Load(); n != 1 {
			t.Errorf("a disabled endpoint got %d requests, want the one 410", n)
		}
		gone.Store(false)
		enable := false
		if _, err := s.Update(ctx, "marketplace", e.ID, delivery.EndpointPatch{Disabled: &enable}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the delivery after enabling", func() bool { return len(rc.received()) == 1 })
		if rc.received()[0].ID != ev.ID {
			t.Errorf("delivered %+v", rc.received()[0])
		}
	})
}

// clock is a test clock: the real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestRotationSignsWithBothSecrets: for 24 h after a rotation each delivery
// carries two signatures, each verifying with its own secret; after that,
// only the new one.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		c := &clock{}
		s := newService(db, func(cfg *delivery.Config) { cfg.Now = c.now })
		var mu sync.Mutex
		var sigs []string
		var bodies [][]byte
		var headers []http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b := make([]byte, r.ContentLength)
			_, _ = r.Body.Read(b)
			mu.Lock()
			sigs = append(sigs, r.Header.Get("webhook-signature"))
			bodies = append(bodies, b)
			headers = append(headers, r.Header.Clone())
			mu.Unlock()
		}))
		defer srv.Close()
		e, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: srv.URL, Events: []string{"sales_order.paid"}})
		if err != nil {
			t.Fatal(err)
		}
		old := e.Secret
		r, err := s.RotateSecret(ctx, "marketplace", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Secret == old || !strings.HasPrefix(r.Secret, "whsec_") || r.PreviousSecretExpiresAt == nil {
			t.Fatalf("rotated: %+v", r)
		}
		run(t, s)
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(sigs) }
		appendEvent(t, db, events.SalesOrderPaid, "K3000001")
		waitFor(t, 10*time.Second, "the first delivery", func() bool { return count() == 1 })
		c.advance(23 * time.Hour)
		appendEvent(t, db, events.SalesOrderPaid, "K3000002")
		waitFor(t, 10*time.Second, "the second delivery", func() bool { return count() == 2 })
		c.advance(2 * time.Hour)
		appendEvent(t, db, events.SalesOrderPaid, "K3000003")
		waitFor(t, 10*time.Second, "the third delivery", func() bool { return count() == 3 })

		verify := func(i int, secret string) error {
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			// The injected clock is hours ahead: the timestamp is checked
			// below instead.
			return wh.VerifyIgnoringTimestamp(bodies[i], headers[i])
		}
		for i := range 2 {
			parts := strings.Split(sigs[i], " ")
			if len(parts) != 2 {
				t.Fatalf("delivery %d during the overlap has signatures %q, want two", i, sigs[i])
			}
			for j, secret := range []string{r.Secret, old} {
				h := headers[i].Clone()
				h.Set("webhook-signature", parts[j])
				headers[i] = h
				if err := verify(i, secret); err != nil {
					t.Errorf("delivery %d: signature %d does not verify with its secret: %v", i, j, err)
				}
			}
		}
		if strings.Contains(sigs[2], " ") {
			t.Errorf("after the overlap the signatures are %q, want one", sigs[2])
		}
		if err := verify(2, r.Secret); err != nil {
			t.Errorf("after the overlap: %v", err)
		}
		if err := verify(2, old); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("after the overlap the old secret verifies: %v", err)
		}
		// webhook-timestamp is the injected clock's, 25 h ahead.
		if ts, _ := strconv.ParseInt(headers[2].Get("webhook-timestamp"), 10, 64); ts < c.now().Unix()-5 || ts > c.now().Unix() {
			t.Errorf("webhook-timestamp %d, injected clock %d", ts, c.now().Unix())
		}
	})
}
