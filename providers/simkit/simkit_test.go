package simkit

import (
	"bytes"
	"context"
	"errors"
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
)

// endpoint is a fake Config.Post: it records every attempt and fails the
// first failFirst attempts of each webhook (all of them if failFirst < 0).
// With block, a failing attempt after the first waits for its context to
// end instead, as an attempt in flight at Close would.
type endpoint struct {
	failFirst int
	block     bool

	mu       sync.Mutex
	posts    []posted
	attempts map[string]int
	changed  chan struct{} // closed, and replaced, at each attempt
}

// posted is one attempt the endpoint saw.
type posted struct {
	ID string
	At time.Time
	OK bool
}

var errRefused = errors.New("endpoint answered 500")

func (ep *endpoint) post(ctx context.Context, w *Webhook) error {
	ep.mu.Lock()
	if ep.attempts == nil {
		ep.attempts = map[string]int{}
	}
	ep.attempts[w.ID]++
	n := ep.attempts[w.ID]
	ok := ep.failFirst >= 0 && n > ep.failFirst
	ep.posts = append(ep.posts, posted{ID: w.ID, At: time.Now(), OK: ok})
	if ep.changed != nil {
		close(ep.changed)
		ep.changed = nil
	}
	ep.mu.Unlock()
	if ok {
		return nil
	}
	if ep.block && n > 1 {
		<-ctx.Done()
		return ctx.Err()
	}
	return fmt.Errorf("webhook %s: %w", w.ID, errRefused)
}

// seen returns the attempts so far.
func (ep *endpoint) seen() []posted {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return slices.Clone(ep.posts)
}

// ids returns the ids of posts, in order.
func ids(posts []posted) []string {
	var out []string
	for _, p := range posts {
		out = append(out, p.ID)
	}
	return out
}

// newDeliverer returns a Deliverer posting to ep (no endpoint if ep is
// nil), closed at the end of the test.
func newDeliverer(t *testing.T, ep *endpoint, backoff time.Duration, seed uint64) *Deliverer {
	t.Helper()
	cfg := Config{
		Name:    "testsim",
		Logger:  zerolog.New(zerolog.NewTestWriter(t)),
		Fields:  LogFields{ID: "id", Type: "type", Ref: "ref", Attempt: "attempt"},
		Backoff: backoff,
		Seed:    seed,
	}
	if ep != nil {
		cfg.Post = ep.post
	}
	d := New(cfg)
	t.Cleanup(d.Close)
	return d
}

func (d *Deliverer) mustSetFaults(t *testing.T, f Faults) {
	t.Helper()
	if err := d.SetFaults(f); err != nil {
		t.Fatalf("SetFaults(%+v) = %v", f, err)
	}
}

// batch returns webhooks with the ids given.
func batch(ids ...string) []*Webhook {
	var out []*Webhook
	for _, id := range ids {
		out = append(out, &Webhook{ID: id, Type: "test.event", Ref: "pay_1", Body: []byte(`{"id":"` + id + `"}`)})
	}
	return out
}

// await waits up to 5 s for the attempts seen to satisfy done.
func (ep *endpoint) await(t *testing.T, what string, done func([]posted) bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		ep.mu.Lock()
		if done(ep.posts) {
			ep.mu.Unlock()
			return
		}
		if ep.changed == nil {
			ep.changed = make(chan struct{})
		}
		changed := ep.changed
		ep.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s; attempts: %v", what, ids(ep.seen()))
		}
	}
}

// count is an await condition: n attempts in all.
func count(n int) func([]posted) bool {
	return func(posts []posted) bool { return len(posts) == n }
}

// idle waits until d runs nothing in the background (Deliverer.Idle), so
// that no further attempt can come.
func idle(t *testing.T, d *Deliverer, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !d.Idle(ctx) {
		t.Fatalf("the deliverer still works in the background 5 s after %s", what)
	}
}

// closeWithin calls d.Close and fails the test if it takes 5 s.
func closeWithin(t *testing.T, d *Deliverer, what string) {
	t.Helper()
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close did not return while %s", what)
	}
}

func TestBackoff(t *testing.T) {
	const huge = time.Duration(math.MaxInt64 / 4)
	for _, tc := range []struct {
		name         string
		backoff, max time.Duration
		want         []time.Duration // before attempts 2..MaxAttempts
	}{
		{"doubling, uncapped", time.Second, 0,
			[]time.Duration{1, 2, 4, 8, 16, 32, 64}},
		{"capped", time.Second, 10 * time.Second,
			[]time.Duration{1, 2, 4, 8, 10, 10, 10}},
		{"first wait over half the cap", 40 * time.Minute, time.Hour,
			[]time.Duration{40 * 60, 60 * 60, 60 * 60, 60 * 60, 60 * 60, 60 * 60, 60 * 60}},
		{"default", 0, 0,
			[]time.Duration{1, 2, 4, 8, 16, 32, 64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{Backoff: tc.backoff, MaxBackoff: tc.max})
			for i, want := range tc.want {
				if got := d.backoff(i + 2); got != want*time.Second {
					t.Errorf("backoff(%d) = %s, want %s", i+2, got, want*time.Second)
				}
			}
		})
	}
	t.Run("saturates", func(t *testing.T) {
		d := New(Config{Backoff: huge})
		for n := 2; n <= MaxAttempts; n++ {
			if got := d.backoff(n); got < huge {
				t.Errorf("backoff(%d) = %s, want at least %s (no overflow)", n, got, huge)
			}
		}
	})
}

func TestRetrySchedule(t *testing.T) {
	const backoff = 2 * time.Millisecond
	ep := &endpoint{failFirst: -1}
	d := newDeliverer(t, ep, backoff, 0)
	start := time.Now()
	d.Send(context.Background(), batch("wh_1"), true)
	if got := ep.seen(); len(got) != 1 {
		t.Fatalf("%d attempts when Send returned, want the first one", len(got))
	}
	ep.await(t, "MaxAttempts attempts", count(MaxAttempts))
	idle(t, d, "MaxAttempts attempts")
	got := ep.seen()
	if len(got) != MaxAttempts {
		t.Fatalf("%d attempts, want %d", len(got), MaxAttempts)
	}
	// Attempt n comes at least backoff(2)+…+backoff(n) after the first.
	var due time.Duration
	for i, p := range got[1:] {
		n := i + 2
		due += d.backoff(n)
		if at := p.At.Sub(start); at < due {
			t.Errorf("attempt %d at %s, want at least %s", n, at, due)
		}
	}
}

func TestRetryUntilDelivered(t *testing.T) {
	ep := &endpoint{failFirst: 2}
	d := newDeliverer(t, ep, time.Millisecond, 0)
	d.Send(context.Background(), batch("wh_1", "wh_2"), true)
	ep.await(t, "both webhooks delivered", func(posts []posted) bool {
		return len(slices.DeleteFunc(slices.Clone(posts), func(p posted) bool { return !p.OK })) == 2
	})
	idle(t, d, "both webhooks delivered")
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for id, n := range ep.attempts {
		if n != 3 {
			t.Errorf("webhook %s posted %d times, want 3", id, n)
		}
	}
}

func TestSendInOrder(t *testing.T) {
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, 0)
	// Reorder is the simulator's to apply, before Send: Send keeps the
	// order it is given.
	for _, f := range []Faults{{}, {Reorder: true}} {
		before := len(ep.seen())
		d.mustSetFaults(t, f)
		d.Send(context.Background(), batch("a", "b", "c"), true)
		if got := ids(ep.seen()[before:]); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("with %+v, Send posted %v before returning, want a, b, c", f, got)
		}
	}
	// A webhook without a body is never sent.
	before := len(ep.seen())
	d.Send(context.Background(), []*Webhook{{ID: "nobody"}, batch("d")[0]}, true)
	if got := ids(ep.seen()[before:]); !slices.Equal(got, []string{"d"}) {
		t.Errorf("Send posted %v, want d alone", got)
	}
}

func TestBackgroundSend(t *testing.T) {
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, 0)
	d.Send(context.Background(), batch("a", "b"), false)
	ep.await(t, "the background batch", count(2))
	if got := ids(ep.seen()); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("posted %v, want a, b", got)
	}
}

func TestDuplicate(t *testing.T) {
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, 0)
	d.mustSetFaults(t, Faults{Duplicate: 2})
	d.Send(context.Background(), batch("a", "b"), true)
	// All copies are posted before Send returns, each webhook's together.
	if got := ids(ep.seen()); !slices.Equal(got, []string{"a", "a", "a", "b", "b", "b"}) {
		t.Fatalf("posted %v, want 3 copies of a, then of b", got)
	}
}

func TestDuplicateRetriesEachCopy(t *testing.T) {
	ep := &endpoint{failFirst: 2}
	d := newDeliverer(t, ep, time.Millisecond, 0)
	d.mustSetFaults(t, Faults{Duplicate: 1})
	d.Send(context.Background(), batch("a"), true)
	// Both first attempts fail, so each copy is retried until one of its
	// attempts succeeds: the third and fourth attempts.
	ep.await(t, "4 attempts", count(4))
	idle(t, d, "4 attempts")
	if n := len(ep.seen()); n != 4 {
		t.Fatalf("%d attempts, want 4: each copy retried until delivered", n)
	}
}

func TestDelay(t *testing.T) {
	const delay = 60 * time.Millisecond
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, 0)
	d.mustSetFaults(t, Faults{Delay: delay})
	start := time.Now()
	d.Send(context.Background(), batch("a", "b"), true)
	if took := time.Since(start); took >= delay {
		t.Fatalf("Send took %s, want it to return before the delayed batch", took)
	}
	if got := ep.seen(); len(got) != 0 {
		t.Fatalf("posted %v before the delay, want nothing", ids(got))
	}
	ep.await(t, "the delayed batch", count(2))
	got := ep.seen()
	if !slices.Equal(ids(got), []string{"a", "b"}) {
		t.Fatalf("posted %v, want a, b", ids(got))
	}
	for i, p := range got {
		if min := time.Duration(i+1) * delay; p.At.Sub(start) < min {
			t.Errorf("webhook %d posted %s after Send, want at least %s", i, p.At.Sub(start), min)
		}
	}
}

func TestDrop(t *testing.T) {
	ep := &endpoint{failFirst: -1} // a dropped webhook is not retried either
	d := newDeliverer(t, ep, time.Millisecond, 0)
	d.mustSetFaults(t, Faults{Drop: 2, Duplicate: 1})
	d.Send(context.Background(), batch("a"), true)
	d.Send(context.Background(), batch("b", "c"), false)
	if f := d.Faults(); f.Drop != 0 {
		t.Fatalf("Faults().Drop = %d after two drops, want 0", f.Drop)
	}
	ep.await(t, "c's attempts", count(2*MaxAttempts))
	idle(t, d, "c's attempts")
	got := ep.seen()
	if len(got) != 2*MaxAttempts || slices.ContainsFunc(got, func(p posted) bool { return p.ID != "c" }) {
		t.Fatalf("posted %v, want only c, twice %d times", ids(got), MaxAttempts)
	}
}

// dropPattern sends n webhooks one by one under DropRate and returns which
// arrived.
func dropPattern(t *testing.T, seed uint64, rate float64, n int) []bool {
	t.Helper()
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, seed)
	d.mustSetFaults(t, Faults{DropRate: rate})
	var pattern []bool
	for i := range n {
		before := len(ep.seen())
		d.Send(context.Background(), batch(fmt.Sprint("wh_", i)), true)
		pattern = append(pattern, len(ep.seen()) > before)
	}
	return pattern
}

func TestDropRate(t *testing.T) {
	const n = 100
	a := dropPattern(t, 7, 0.5, n)
	if b := dropPattern(t, 7, 0.5, n); !slices.Equal(a, b) {
		t.Fatalf("seed 7 dropped %v, then %v: want the same webhooks dropped", a, b)
	}
	if c := dropPattern(t, 8, 0.5, n); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 dropped the same webhooks: %v", a)
	}
	if delivered := len(slices.DeleteFunc(slices.Clone(a), func(ok bool) bool { return !ok })); delivered < 25 || delivered > 75 {
		t.Errorf("DropRate 0.5 delivered %d of %d webhooks", delivered, n)
	}
	for _, rate := range []float64{0, 1} {
		for i, ok := range dropPattern(t, 7, rate, 5) {
			if ok != (rate == 0) {
				t.Errorf("DropRate %v: webhook %d arrived = %v", rate, i, ok)
			}
		}
	}
}

func TestNoEndpoint(t *testing.T) {
	d := newDeliverer(t, nil, time.Hour, 0)
	d.mustSetFaults(t, Faults{Drop: 3})
	d.Send(context.Background(), batch("a"), true)
	if f := d.Faults(); f.Drop != 3 {
		t.Errorf("Faults().Drop = %d with no endpoint, want 3: nothing was sent", f.Drop)
	}
	if err := d.Redeliver(context.Background(), batch("a")); err != nil {
		t.Errorf("Redeliver with no endpoint = %v, want nil", err)
	}
}

func TestCloseDuringRetries(t *testing.T) {
	ep := &endpoint{failFirst: -1}
	d := newDeliverer(t, ep, time.Hour, 0)
	d.Send(context.Background(), batch("a"), true)
	d.mustSetFaults(t, Faults{Delay: time.Hour})
	d.Send(context.Background(), batch("delayed"), true)
	closeWithin(t, d, "a retry and a delayed batch waited")
	if got := ids(ep.seen()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("posted %v, want a's first attempt alone", got)
	}

	// After Close, a batch sent with wait and no delay gets its first
	// attempts, and nothing else is sent.
	d.mustSetFaults(t, Faults{})
	d.Send(context.Background(), batch("b"), true)
	d.Send(context.Background(), batch("background"), false)
	d.mustSetFaults(t, Faults{Delay: time.Millisecond})
	d.Send(context.Background(), batch("delayed"), true)
	idle(t, d, "Close")
	if got := ids(ep.seen()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("posted %v after Close, want a, b", got)
	}
}

func TestCloseAbandonsAttemptInFlight(t *testing.T) {
	ep := &endpoint{failFirst: -1, block: true}
	d := newDeliverer(t, ep, time.Millisecond, 0)
	d.Send(context.Background(), batch("a"), true)
	ep.await(t, "the second attempt", count(2))
	closeWithin(t, d, "an attempt was in flight")
	if n := len(ep.seen()); n != 2 {
		t.Fatalf("%d attempts, want 2: none after the abandoned one", n)
	}
}

func TestRedeliver(t *testing.T) {
	ep := &endpoint{}
	d := newDeliverer(t, ep, time.Hour, 0)
	ctx := context.Background()
	// Faults do not apply to a redelivery, and it does not use them up.
	d.mustSetFaults(t, Faults{Drop: 10, Duplicate: 3, Delay: time.Hour})
	ws := append(batch("a", "b"), &Webhook{ID: "nobody"})
	if err := d.Redeliver(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if got := ids(ep.seen()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Redeliver posted %v, want a, b once each", got)
	}
	if f := d.Faults(); f.Drop != 10 {
		t.Errorf("Faults().Drop = %d after Redeliver, want 10 untouched", f.Drop)
	}

	// Failures are joined, one per webhook, and not retried.
	failing := &endpoint{failFirst: -1}
	d = newDeliverer(t, failing, time.Millisecond, 0)
	err := d.Redeliver(ctx, batch("a", "b"))
	if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "webhook a") || !strings.Contains(err.Error(), "webhook b") {
		t.Fatalf("Redeliver to a failing endpoint = %v, want both failures", err)
	}
	idle(t, d, "Redeliver")
	if n := len(failing.seen()); n != 2 {
		t.Fatalf("%d attempts, want 2: a redelivery is not retried", n)
	}

	// It works after Close.
	d.Close()
	if err := d.Redeliver(ctx, batch("c")); !errors.Is(err, errRefused) {
		t.Fatalf("Redeliver after Close = %v, want the endpoint's refusal", err)
	}
	if n := len(failing.seen()); n != 3 {
		t.Fatalf("%d attempts after Close, want 3", n)
	}
}

func TestSetFaults(t *testing.T) {
	d := newDeliverer(t, &endpoint{}, time.Hour, 0)
	for _, tc := range []struct {
		f  Faults
		ok bool
	}{
		{Faults{}, true},
		{Faults{Duplicate: MaxDuplicate, Reorder: true, Delay: time.Hour, Drop: 1 << 20, DropRate: 1}, true},
		{Faults{Duplicate: -1}, false},
		{Faults{Duplicate: MaxDuplicate + 1}, false},
		{Faults{Delay: -time.Nanosecond}, false},
		{Faults{Drop: -1}, false},
		{Faults{DropRate: -0.01}, false},
		{Faults{DropRate: 1.01}, false},
		{Faults{DropRate: math.NaN()}, false},
		{Faults{DropRate: math.Inf(1)}, false},
	} {
		t.Run(fmt.Sprintf("%+v", tc.f), func(t *testing.T) {
			before := d.Faults()
			err := d.SetFaults(tc.f)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("SetFaults(%+v) = %v, want nil", tc.f, err)
			case tc.ok:
				if got := d.Faults(); got != tc.f {
					t.Fatalf("Faults() = %+v after SetFaults(%+v)", got, tc.f)
				}
			case paygate.ErrorCode(err) != paygate.EINVALID || !strings.HasPrefix(err.Error(), "testsim: Faults."):
				t.Fatalf("SetFaults(%+v) = %v, want a testsim: EINVALID error", tc.f, err)
			default:
				if got := d.Faults(); got != before {
					t.Fatalf("Faults() = %+v after a refused SetFaults, want %+v unchanged", got, before)
				}
			}
		})
	}
}

func TestLogFields(t *testing.T) {
	var buf syncBuffer
	ep := &endpoint{failFirst: 1}
	d := New(Config{
		Name:    "testsim",
		Logger:  zerolog.New(&buf),
		Fields:  LogFields{ID: "event_id", Type: "event_type", Ref: "payment_intent", Attempt: "attempt"},
		Post:    ep.post,
		Backoff: time.Millisecond,
	})
	defer d.Close()
	d.Send(context.Background(), []*Webhook{{ID: "evt_1", Type: "charge.succeeded", Ref: "pi_1", Body: []byte("{}")}}, true)
	ep.await(t, "the retry", count(2))
	d.Close()
	for _, want := range []string{
		`{"level":"warn","error":"webhook evt_1: endpoint answered 500","event_id":"evt_1","event_type":"charge.succeeded","payment_intent":"pi_1","attempt":1,"message":"testsim: webhook delivery failed"}`,
		`{"level":"info","event_id":"evt_1","event_type":"charge.succeeded","payment_intent":"pi_1","attempt":2,"message":"testsim: webhook delivered"}`,
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("log:\n%s\nwant the line\n%s", buf.String(), want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the Deliverer's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDo(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Signature") != "sig" || string(body) != `{"id":"a"}` {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Query().Has("big") {
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write(big) // more than Do reads
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		url  string
		sig  string
		want int
	}{
		{srv.URL, "sig", http.StatusNoContent},
		{srv.URL + "?big", "sig", http.StatusAccepted},
		{srv.URL, "wrong", http.StatusBadRequest},
	} {
		h := http.Header{}
		h.Set("signature", tc.sig)
		if got, err := Do(ctx, srv.Client(), tc.url, h, []byte(`{"id":"a"}`)); got != tc.want || err != nil {
			t.Errorf("Do(%s, signature %q) = %d, %v, want %d, nil", tc.url, tc.sig, got, err, tc.want)
		}
	}
	if _, err := Do(ctx, srv.Client(), "http://127.0.0.1:0/", http.Header{}, nil); err == nil {
		t.Error("Do to an unreachable URL = nil error, want one")
	}
	if _, err := Do(ctx, srv.Client(), "://bad", http.Header{}, nil); err == nil {
		t.Error("Do to a malformed URL = nil error, want one")
	}
}

func TestIdle(t *testing.T) {
	ep := &endpoint{failFirst: 1}
	d := newDeliverer(t, ep, time.Hour, 0)
	if !d.Idle(context.Background()) {
		t.Fatal("a new deliverer is not idle")
	}
	// A failed first attempt leaves a retry waiting an hour.
	d.Send(context.Background(), batch("a"), true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if d.Idle(ctx) {
		t.Fatal("Idle with a retry waiting = true")
	}
	closeWithin(t, d, "a retry waited")
	idle(t, d, "Close")
}
