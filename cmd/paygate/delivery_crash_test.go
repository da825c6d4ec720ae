package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paygate/paygate/storage/storagetest"
)

// The delivery crash tests' environment: a POST times out after 1 s and a
// killed process's leases run out 6 s after its claim (the least the lease
// may be), so a run stays short.
var deliveryCrashEnv = []string{"PAYGATE_WEBHOOK_SEND_TIMEOUT=1s", "PAYGATE_WEBHOOK_SEND_LEASE=6s"}

// eventReceiver is the marketplace's receiver on loopback: it verifies
// every request with the Standard Webhooks library and records the events
// it acknowledged, in arrival order.
type eventReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []eventJSON
	bad    atomic.Int64
	delay  time.Duration
}

func newEventReceiver(t *testing.T) *eventReceiver {
	rc := &eventReceiver{delay: 20 * time.Millisecond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		rc.mu.Lock()
		secret := rc.secret
		rc.mu.Unlock()
		var wh *standardwebhooks.Webhook
		if err == nil {
			wh, err = standardwebhooks.NewWebhook(secret)
		}
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		var ev eventJSON
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil || ev.ID != r.Header.Get("webhook-id") {
			rc.bad.Add(1)
			http.Error(w, fmt.Sprintf("refused: %v", err), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, ev)
		rc.mu.Unlock()
		// A receiver that takes a moment to answer: a kill often finds
		// deliveries sent and not yet acknowledged.
		time.Sleep(rc.delay)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *eventReceiver) received() []eventJSON {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]eventJSON(nil), rc.got...)
}

// register makes the marketplace's endpoint for every event at base.
func (rc *eventReceiver) register(t *testing.T, h *crashHarness, base string) {
	var e struct{ ID, Secret string }
	if status, err := h.call(http.MethodPost, base+"/v1/webhook-endpoints", "dc-endpoint", map[string]any{"url": rc.srv.URL + "/events", "events": []string{"*"}}, &e); err != nil || status != http.StatusCreated {
		t.Fatalf("register the endpoint = %d %v", status, err)
	}
	rc.mu.Lock()
	rc.secret = e.Secret
	rc.mu.Unlock()
}

// orderFlows runs n orders through the API: create (2 items), attempt,
// approve in the sandbox, then each item delivered by its seller and
// confirmed by the buyer — about ten events an order. Each step is retried
// with the same Idempotency-Key until it succeeds (the process may be
// dead, or restarting, or the order not yet paid); base gives the URL of a
// live instance. It returns when every flow is done, or fails the test at
// the deadline.
func orderFlows(t *testing.T, h *crashHarness, n int, base func(i int) string, deadline time.Time) {
	var wg sync.WaitGroup
	work := make(chan int)
	var failed atomic.Value
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := orderFlow(h, i, base, deadline); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("order flows: %v", err)
	}
}

func orderFlow(h *crashHarness, i int, base func(i int) string, deadline time.Time) error {
	// step retries one request until a 2xx; ok may accept an answer
	// otherwise (a step done before the process died).
	// A key held by a request the killed process died in stays in
	// progress for a while: the step goes on with a new key.
	step := func(method, path, key string, body, out any, ok func(status int) bool) error {
		for try, fresh := 0, 0; ; try++ {
			k := key
			if fresh > 0 {
				k = fmt.Sprintf("%s-%d", key, fresh)
			}
			status, err := h.call(method, base(i+try)+path, k, body, out)
			if err == nil || (ok != nil && ok(status)) {
				return nil
			}
			if status == http.StatusConflict && strings.Contains(err.Error(), "still in progress") {
				fresh++
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("order %d: %s %s: %v", i, method, path, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	buyer := fmt.Sprintf("U%d", i%7+1)
	sellers := []string{fmt.Sprintf("S%d", i%5+1), fmt.Sprintf("S%d", (i+1)%5+1)}
	var po orderJSON
	err := step(http.MethodPost, "/v1/payment-orders", fmt.Sprintf("dc-order-%d", i), map[string]any{
		"buyer_id": buyer, "currency": "SGD", "return_url": "https://shop.example/done",
		"items": []map[string]any{
			{"seller_id": sellers[0], "amount": "10.00", "description": "first"},
			{"seller_id": sellers[1], "amount": "12.50", "description": "second"},
		},
	}, &po, nil)
	if err != nil {
		return err
	}
	p := "/v1/payment-orders/" + po.Number
	// A step refused is done if the order shows it done (a request that
	// committed before a kill, retried with a new key).
	order := func() orderJSON {
		var cur orderJSON
		h.call(http.MethodGet, base(i)+p, "", nil, &cur)
		return cur
	}
	// The sandbox's simulated provider keeps its payments in the process:
	// after a kill, an attempt made before it cannot be approved, so a new
	// one is made. An approved payment reaches the order through the
	// provider's webhook, a moment later.
	for r := 0; order().Status != "paid"; r++ {
		if time.Now().After(deadline) {
			return fmt.Errorf("order %d: %s not paid after %d attempts", i, po.Number, r)
		}
		if _, err := h.call(http.MethodPost, base(i)+p+"/attempts", fmt.Sprintf("dc-attempt-%d-%d", i, r), map[string]any{"method": "paynow"}, nil); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if _, err := h.call(http.MethodPost, base(i)+"/sandbox/payment-orders/"+po.Number+"/approve", fmt.Sprintf("dc-approve-%d-%d", i, r), nil, nil); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for wait := time.Now().Add(3 * time.Second); order().Status != "paid" && time.Now().Before(wait); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for j, it := range po.Items {
		k := "/v1/sales-orders/" + it.Number
		in := func(states ...string) func(int) bool {
			return func(int) bool {
				var so salesOrderJSON
				_, err := h.call(http.MethodGet, base(i)+k, "", nil, &so)
				return err == nil && slices.Contains(states, so.Status)
			}
		}
		if err := step(http.MethodPost, k+"/deliver", fmt.Sprintf("dc-deliver-%s", it.Number), map[string]any{"user_id": sellers[j]}, nil,
			in("waiting_confirmation", "completed")); err != nil {
			return err
		}
		if err := step(http.MethodPost, k+"/confirm", fmt.Sprintf("dc-confirm-%s", it.Number), map[string]any{"user_id": buyer}, nil,
			in("completed")); err != nil {
			return err
		}
	}
	return nil
}

// allEvents pages GET /v1/events with the marketplace key.
func allEvents(t *testing.T, h *crashHarness, base string) []eventJSON {
	var all []eventJSON
	after := ""
	for {
		var page struct {
			Events []eventJSON `json:"events"`
			Next   string      `json:"next"`
		}
		if _, err := h.call(http.MethodGet, base+"/v1/events?limit=100&after="+url.QueryEscape(after), "", nil, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			return all
		}
		all = append(all, page.Events...)
		after = page.Next
	}
}

// awaitDelivered waits until rc has received every event of the events
// API, then calls stop (which stops every paygate serve) and closes rc's
// server, which waits for the requests it is answering: nothing more can
// arrive. It then checks that each resource's first receipts came in
// sequence order and returns the events and the number of duplicate
// receipts.
func awaitDelivered(t *testing.T, h *crashHarness, rc *eventReceiver, base string, within time.Duration, stop func()) (int, int) {
	t.Helper()
	want := allEvents(t, h, base)
	deadline := time.Now().Add(within)
	for {
		seen := map[string]bool{}
		for _, ev := range rc.received() {
			seen[ev.ID] = true
		}
		missing := 0
		for _, ev := range want {
			if !seen[ev.ID] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events not delivered within %s of the last restart%s", missing, len(want), within, h.srv.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	rc.srv.Close()
	wanted := map[string]eventJSON{}
	for _, ev := range want {
		wanted[ev.ID] = ev
	}
	seen := map[string]bool{}
	last := map[string]int64{}
	dups := 0
	for _, ev := range rc.received() {
		if _, ok := wanted[ev.ID]; !ok {
			t.Errorf("received %s %s of %s, which the events API does not list", ev.ID, ev.Type, ev.Resource)
			continue
		}
		if seen[ev.ID] {
			dups++
			continue
		}
		seen[ev.ID] = true
		if ev.Sequence <= last[ev.Resource] {
			t.Errorf("%s #%d (%s) arrived after #%d", ev.Resource, ev.Sequence, ev.Type, last[ev.Resource])
		}
		last[ev.Resource] = ev.Sequence
	}
	if n := rc.bad.Load(); n != 0 {
		t.Errorf("%d deliveries did not verify with the Standard Webhooks library", n)
	}
	return len(want), dups
}

// TestDeliveryCrash: `paygate serve` is killed with SIGKILL at random
// moments while it delivers the events of order flows run through its API
// to a loopback receiver that verifies each with the Standard Webhooks
// library, and restarted on the same database. In the end every event of
// GET /v1/events has been received, each resource's in sequence order;
// the duplicates (deliveries a killed process sent but did not record)
// are counted.
func TestDeliveryCrash(t *testing.T) {
	seed := time.Now().UnixNano() % 1_000_000_000
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			began := time.Now()
			rng := rand.New(rand.NewPCG(uint64(seed), 13))
			h := &crashHarness{t: t, dsn: b.DSN(t), seed: seed, rng: rng, warnings: map[string]int{}, env: deliveryCrashEnv,
				client: &http.Client{Timeout: crashRequestTimeout}}
			rc := newEventReceiver(t)
			h.srv = h.start()
			rc.register(t, h, h.srv.url())
			var cur atomic.Value
			cur.Store(h.srv.url())
			done := make(chan struct{})
			go func() {
				defer close(done)
				orderFlows(t, h, 60, func(int) string { return cur.Load().(string) }, time.Now().Add(40*time.Second))
			}()
			// Kills at random moments while the flows run (and at least 4,
			// the last ones with deliveries of the last events under way).
			kills, inFlight := 0, 0
			for flowing := true; kills < 8 && (flowing || kills < 4); {
				select {
				case <-done:
					flowing = false
				case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
				}
				if len(rc.received()) > 0 {
					inFlight++
				}
				h.srv.kill(t)
				kills++
				h.srv = h.start()
				cur.Store(h.srv.url())
			}
			<-done
			total, dups := awaitDelivered(t, h, rc, h.srv.url(), 30*time.Second, func() { h.srv.stop(t) })
			t.Logf("seed %d: %d events delivered through %d kill -9 (%d after deliveries began), %d received twice or more, in %s",
				seed, total, kills, inFlight, dups, time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestDeliveryThreeInstances: three `paygate serve` processes on one
// PostgreSQL schema share the deliveries to one endpoint of the events of
// order flows run through all three: every event is received, each
// resource's in sequence order; the duplicates are counted.
func TestDeliveryThreeInstances(t *testing.T) {
	var dsn string
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			dsn = b.DSN(t)
		}
	}
	if dsn == "" {
		t.Skip("needs PostgreSQL (" + storagetest.EnvPostgres + ")")
	}
	began := time.Now()
	h := &crashHarness{t: t, dsn: dsn, warnings: map[string]int{}, env: deliveryCrashEnv, client: &http.Client{Timeout: crashRequestTimeout}}
	var srvs []*crashServer
	for range 3 {
		srvs = append(srvs, h.start())
	}
	h.srv = srvs[0]
	rc := newEventReceiver(t)
	rc.register(t, h, srvs[0].url())
	orderFlows(t, h, 40, func(i int) string { return srvs[i%3].url() }, time.Now().Add(40*time.Second))
	total, dups := awaitDelivered(t, h, rc, srvs[1].url(), 30*time.Second, func() {
		for _, s := range srvs {
			s.stop(t)
		}
	})
	t.Logf("three instances delivered %d events, %d received twice or more, in %s", total, dups, time.Since(began).Round(time.Millisecond))
}
