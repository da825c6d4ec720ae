package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"

	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func opts() storage.Options {
	return storage.Options{Migrations: []storage.Migrations{events.Migrations(), delivery.Migrations()}}
}

// open runs fn on a fresh database of each backend.
func open(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	storagetest.Run(t, opts(), fn)
}

// fast is a schedule of quick retries, enough to outlast a test's outage.
var fast = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond,
	100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond,
	100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}

func newService(db *storage.DB, mod func(*delivery.Config)) *delivery.Service {
	cfg := delivery.Config{DB: db, Events: &events.Store{DB: db}, Schedule: fast, Timeout: 2 * time.Second, Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel)}
	if mod != nil {
		mod(&cfg)
	}
	return delivery.New(cfg)
}

// run runs s until the test ends.
func run(t testing.TB, s *delivery.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, 20*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func appendEvent(t testing.TB, db *storage.DB, typ events.Type, resource string) events.Event {
	t.Helper()
	var ev events.Event
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		var err error
		ev, err = events.Append(context.Background(), tx, typ, resource, map[string]string{"resource": resource})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// received is one delivery a receiver acknowledged.
type received struct {
	ID       string
	Type     events.Type
	Resource string
	Sequence int64
	Sigs     int
}

// receiver verifies every request with the Standard Webhooks library and
// the secret it is given, and acknowledges those that verify unless fail
// answers for it (a status, or 0 to acknowledge).
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	secret   string
	got      []received
	requests atomic.Int64
	bad      atomic.Int64 // requests whose signature did not verify
	// fail decides the answer to the n-th request (from 1): 0 to verify
	// and acknowledge.
	fail func(n int64, w http.ResponseWriter, r *http.Request) int
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	rc.secret = s
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	n := rc.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	if rc.fail != nil {
		if status := rc.fail(n, w, r); status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, "failing request %d", n)
			return
		}
	}
	rc.mu.Lock()
	secret := rc.secret
	rc.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, r.Header)
	}
	if err != nil {
		rc.bad.Add(1)
		http.Error(w, "bad signature: "+err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		ID       string          `json:"id"`
		Type     events.Type     `json:"type"`
		Resource string          `json:"resource"`
		Sequence int64           `json:"sequence"`
		Data     json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("webhook-id") {
		rc.bad.Add(1)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{ID: ev.ID, Type: ev.Type, Resource: ev.Resource, Sequence: ev.Sequence})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// distinct returns how many different events rc has received (a
// duplicate counts once).
func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ids := map[string]bool{}
	for _, g := range rc.got {
		ids[g.ID] = true
	}
	return len(ids)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countAttempts returns the number of attempts at endpoint id with the
// result given.
func countAttempts(t testing.TB, s *delivery.Service, id, result string) int {
	t.Helper()
	n := 0
	for before := int64(0); ; {
		page, err := s.Attempts(context.Background(), "marketplace", id, before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return n
		}
		for _, a := range page {
			if a.Result == result {
				n++
			}
		}
		before = page[len(page)-1].ID
	}
}

// checkOrder checks that got holds each of want once at least, and that
// per resource the first receipts come in sequence order 1, 2, 3 … with no
// gap; it returns the number of duplicates.
func checkOrder(t testing.TB, got []received, want []events.Event) int {
	t.Helper()
	wantIDs := map[string]bool{}
	for _, ev := range want {
		wantIDs[ev.ID] = true
	}
	seen := map[string]bool{}
	last := map[string]int64{}
	dups := 0
	for _, g := range got {
		if !wantIDs[g.ID] {
			t.Errorf("received %s %s of %s, which was not to be delivered", g.ID, g.Type, g.Resource)
			continue
		}
		if seen[g.ID] {
			dups++
			continue
		}
		seen[g.ID] = true
		if g.Sequence != last[g.Resource]+1 {
			t.Errorf("%s #%d arrived after #%d", g.Resource, g.Sequence, last[g.Resource])
		}
		last[g.Resource] = g.Sequence
	}
	if len(seen) != len(wantIDs) {
		t.Errorf("received %d distinct events, want %d", len(seen), len(wantIDs))
	}
	return dups
}

// localResolver answers every name with the addresses addrs returns.
type localResolver struct {
	addrs func(host string) []string
}

func (r localResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range r.addrs(host) {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// drained waits until the service has done all it would do: no delivery is
// pending (nothing is left to send), and every request the receivers got is
// recorded as an attempt (none is still in flight). A duplicate the service
// were about to send would keep a delivery pending or an attempt
// unrecorded, so what the receivers hold then is all they will get.
func drained(t testing.TB, db *storage.DB, rcs ...*receiver) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, 30*time.Second, "every delivery done and every request recorded", func() bool {
		var pending, attempts int64
		err := db.View(ctx, func(tx *storage.Tx) error {
			if err := tx.Get(ctx, &pending, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`); err != nil {
				return err
			}
			return tx.Get(ctx, &attempts, `SELECT COUNT(*) FROM webhook_attempts`)
		})
		if err != nil {
			t.Fatal(err)
		}
		var requests int64
		for _, rc := range rcs {
			requests += rc.requests.Load()
		}
		return pending == 0 && attempts == requests
	})
}
