package stripesim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
)

const (
	testKey    = "sk_test_sandbox_0123456789"
	testSecret = "whsec_test_sandbox_secret"
	mount      = "/sandbox/stripe"
)

// testEnv is a simulator mounted under a prefix on a loopback server, a
// stripe-go client pointed at it, and a webhook receiver that verifies
// every delivery with stripe-go.
type testEnv struct {
	sim    *Simulator
	srv    *httptest.Server
	base   string // the mount's URL
	client *client.API
	hooks  *receiver
}

// receiver is a webhook endpoint. It answers 500 to the first failFirst
// deliveries of each event id, then verifies and records the event.
type receiver struct {
	t         *testing.T
	srv       *httptest.Server
	failFirst int

	mu       sync.Mutex
	attempts map[string]int
	events   []stripe.Event
	bad      []error
	arrived  chan struct{}
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	t.Helper()
	rc := &receiver{t: t, failFirst: failFirst, attempts: map[string]int{}, arrived: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), testSecret,
		webhook.ConstructEventOptions{Tolerance: 300 * time.Second, IgnoreAPIVersionMismatch: true})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.bad = append(rc.bad, err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	rc.attempts[ev.ID]++
	if rc.attempts[ev.ID] <= rc.failFirst {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	rc.events = append(rc.events, ev)
	rc.arrived <- struct{}{}
	w.WriteHeader(http.StatusOK)
}

// received returns the events verified so far.
func (rc *receiver) received() []stripe.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Errorf("receiver rejected deliveries: %v", rc.bad)
	}
	return append([]stripe.Event(nil), rc.events...)
}

// wait waits until n events have been received in all.
func (rc *receiver) wait(n int, timeout time.Duration) []stripe.Event {
	rc.t.Helper()
	deadline := time.After(timeout)
	for {
		if evs := rc.received(); len(evs) >= n {
			return evs
		}
		select {
		case <-rc.arrived:
		case <-deadline:
			evs := rc.received()
			rc.t.Fatalf("received %d events, want %d", len(evs), n)
			return evs
		}
	}
}

func newEnv(t *testing.T, failFirst int) *testEnv {
	t.Helper()
	hooks := newReceiver(t, failFirst)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sim := New(Config{
		BaseURL:       srv.URL + mount,
		APIKey:        testKey,
		WebhookURL:    hooks.srv.URL,
		WebhookSecret: testSecret,
		HTTPClient:    hooks.srv.Client(),
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		RetryBackoff:  10 * time.Millisecond,
	})
	t.Cleanup(sim.Close)
	mux.Handle(mount+"/", http.StripPrefix(mount, sim.Handler()))
	return &testEnv{sim: sim, srv: srv, base: srv.URL + mount, client: stripeClient(srv, testKey), hooks: hooks}
}

func stripeClient(srv *httptest.Server, key string) *client.API {
	sc := &client.API{}
	sc.Init(key, stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(srv.URL + mount),
		HTTPClient:        srv.Client(),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}))
	return sc
}

// stripeErr returns err as a *stripe.Error, failing the test otherwise.
func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want *stripe.Error", err, err)
	}
	return se
}

// decodeObject decodes an event's data.object.
func decodeObject(t *testing.T, ev stripe.Event, v any) {
	t.Helper()
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		t.Fatalf("decode %s data.object: %v", ev.Type, err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
