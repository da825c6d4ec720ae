package simkit

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// t0 is the fake clock's start in these tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// keys returns a Store's keys, oldest first.
func keys[V any](s *Store[V]) []string {
	var out []string
	for k := range s.All() {
		out = append(out, k)
	}
	return out
}

func TestStore(t *testing.T) {
	var s Store[int]
	for i, k := range []string{"a", "b", "c", "d"} {
		s.Put(k, i, t0.Add(time.Duration(i)*time.Second))
	}
	if got, want := keys(&s), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	s.Put("b", 10, t0.Add(10*time.Second)) // b becomes the newest
	if v, at, ok := s.Get("b"); !ok || v != 10 || !at.Equal(t0.Add(10*time.Second)) {
		t.Errorf("Get(b) = %d, %v, %v; want 10, t0+10s, true", v, at, ok)
	}
	if !s.Delete("c") || s.Delete("c") {
		t.Error("Delete(c) twice did not report true then false")
	}
	if got, want := keys(&s), []string{"a", "d", "b"}; !slices.Equal(got, want) {
		t.Fatalf("keys after Put(b) and Delete(c) = %v, want %v", got, want)
	}

	var evicted []string
	evict := func(k string, _ int) { evicted = append(evicted, k) }
	// By age: a (t0) and d (t0+3s) were put at or before t0+3s.
	if n := s.Trim(-1, t0.Add(3*time.Second), evict); n != 2 || !slices.Equal(evicted, []string{"a", "d"}) {
		t.Errorf("Trim(no bound, t0+3s) = %d, evicted %v; want 2, [a d]", n, evicted)
	}
	s.Put("e", 5, t0.Add(11*time.Second))
	s.Put("f", 6, t0.Add(12*time.Second))
	evicted = nil
	// By count: keep the newest 1.
	if n := s.Trim(1, time.Time{}, evict); n != 2 || !slices.Equal(evicted, []string{"b", "e"}) || s.Len() != 1 {
		t.Errorf("Trim(1, no cutoff) = %d, evicted %v, Len %d; want 2, [b e], 1", n, evicted, s.Len())
	}
	if n := s.Trim(0, time.Time{}, nil); n != 1 || s.Len() != 0 || len(keys(&s)) != 0 {
		t.Errorf("Trim(0) = %d, Len %d, keys %v; want 1, 0, none", n, s.Len(), keys(&s))
	}
	s.Put("g", 7, t0) // usable again once empty
	if got := keys(&s); !slices.Equal(got, []string{"g"}) {
		t.Errorf("keys after emptying and Put(g) = %v", got)
	}
}

// TestStoreTrimLooksAtTheOldestOnly shows that Trim never scans the Store:
// it stops at the first key that is not expired, so a key behind it that
// is (put with an earlier time, as a clock set back does) stays. That is
// what makes keeping a Store trimmed O(expired) per call.
func TestStoreTrimLooksAtTheOldestOnly(t *testing.T) {
	var s Store[struct{}]
	s.Put("new", struct{}{}, t0.Add(time.Hour))
	s.Put("old", struct{}{}, t0) // behind "new", though older
	if n := s.Trim(-1, t0.Add(time.Minute), nil); n != 0 || s.Len() != 2 {
		t.Errorf("Trim = %d, Len %d; want 0, 2: it must stop at the unexpired oldest", n, s.Len())
	}
	if n := s.Trim(-1, t0.Add(2*time.Hour), nil); n != 2 {
		t.Errorf("Trim past both = %d, want 2", n)
	}
}

// TestIdempotencyBounded saves a million keys, one a second, and checks
// after each that only those of the last IdempotencyFor are kept, and that
// the count bound applies when keys come faster than they expire.
func TestIdempotencyBounded(t *testing.T) {
	const n = 1_000_000
	c := NewIdempotency[int](Limits{IdempotencyFor: 1000 * time.Second, IdempotencyKeys: 50_000})
	for i := range n {
		now := t0.Add(time.Duration(i) * time.Second)
		c.Put(strconv.Itoa(i), i, now)
		if want := min(i+1, 1000); c.Len() != want {
			t.Fatalf("after %d keys, Len = %d, want %d", i+1, c.Len(), want)
		}
	}
	now := t0.Add((n - 1) * time.Second)
	if v, ok := c.Get(strconv.Itoa(n-1000), now); !ok || v != n-1000 {
		t.Errorf("Get(the oldest kept) = %d, %v; want %d, true", v, ok, n-1000)
	}
	if _, ok := c.Get(strconv.Itoa(n-1001), now); ok {
		t.Errorf("Get(a key %v old) found it", 1000*time.Second)
	}
	// The last key expires exactly IdempotencyFor after it was saved.
	if _, ok := c.Get(strconv.Itoa(n-1), now.Add(999*time.Second)); !ok {
		t.Error("the newest key expired before IdempotencyFor")
	}
	if _, ok := c.Get(strconv.Itoa(n-1), now.Add(1000*time.Second)); ok || c.Len() != 0 {
		t.Errorf("after IdempotencyFor, Get found the newest key or Len = %d, want 0", c.Len())
	}

	// Faster than they expire: the count bound.
	c = NewIdempotency[int](Limits{IdempotencyKeys: 100})
	for i := range 10_000 {
		c.Put(strconv.Itoa(i), i, t0)
	}
	if c.Len() != 100 {
		t.Errorf("Len = %d after 10,000 keys at once, want IdempotencyKeys 100", c.Len())
	}
	if _, ok := c.Get("9900", t0); !ok {
		t.Error("the 100th newest key was forgotten")
	}
	if _, ok := c.Get("9899", t0); ok {
		t.Error("the 101st newest key was kept")
	}

	// A clock set back: a key behind a newer one is still expired on Get.
	c = NewIdempotency[int](Limits{IdempotencyFor: time.Minute})
	c.Put("later", 1, t0.Add(time.Hour))
	c.Put("earlier", 2, t0)
	if _, ok := c.Get("earlier", t0.Add(2*time.Minute)); ok {
		t.Error("Get returned a key older than IdempotencyFor")
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	got := Limits{Settled: -1, IdempotencyFor: time.Minute}.WithDefaults()
	want := Limits{
		Settled: -1, SettledFor: DefaultSettledFor, Payments: DefaultPayments,
		IdempotencyKeys: DefaultIdempotencyKeys, IdempotencyFor: time.Minute, ReportLines: DefaultReportLines,
	}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
}

// forgotten records what a Retainer's Trim forgets.
type forgotten struct {
	ids     []string
	settled []bool
}

func (f *forgotten) forget(id string, settled bool) {
	f.ids = append(f.ids, id)
	f.settled = append(f.settled, settled)
}

// hookOf returns a webhook of payment ref, named name.
func hookOf(ref, name string) *Webhook {
	return &Webhook{ID: "wh_" + name, Type: "test.event", Ref: ref, Body: []byte(`{}`)}
}

// TestRetainerKeepsTheNewestSettled settles payments p0…p9 in turn and
// checks that Trim forgets the oldest settled beyond Limits.Settled, and
// none that is pending or waits for an acknowledgement.
func TestRetainerKeepsTheNewestSettled(t *testing.T) {
	r := NewRetainer(Limits{Settled: 3}, true)
	var f forgotten
	now := t0
	for i := range 10 {
		id := fmt.Sprintf("p%d", i)
		now = now.Add(time.Second)
		r.Changed(id, false, []*Webhook{hookOf(id, id+"_created")}, now) // pending
		w := hookOf(id, id)
		now = now.Add(time.Second)
		r.Changed(id, true, []*Webhook{w}, now) // final, its webhook not yet acknowledged
		if i != 4 {                             // p4's webhook is lost
			r.Delivered(w, now)
		}
		r.Trim(now, f.forget)
	}
	if payments, settled := r.Len(); payments != 10 || settled != 0 {
		t.Fatalf("Len = %d, %d; want 10 payments, none settled: no creation webhook is acknowledged", payments, settled)
	}
	// Acknowledging the creation webhooks settles all but p4, in that order.
	for i := range 10 {
		id := fmt.Sprintf("p%d", i)
		r.Delivered(hookOf(id, id+"_created"), now) // another *Webhook, though alike: not one of p's
		r.Trim(now, f.forget)
	}
	if len(f.ids) != 0 {
		t.Fatalf("Trim forgot %v for webhooks that are not the payments'", f.ids)
	}

	r = NewRetainer(Limits{Settled: 3}, true)
	f = forgotten{}
	sent := map[string]*Webhook{}
	for i := range 10 {
		id := fmt.Sprintf("p%d", i)
		now = now.Add(time.Second)
		sent[id] = hookOf(id, id)
		r.Changed(id, true, []*Webhook{sent[id]}, now)
		if i != 4 {
			r.Delivered(sent[id], now)
			r.Delivered(sent[id], now) // a duplicate's acknowledgement
		}
		r.Trim(now, f.forget)
	}
	if want := []string{"p0", "p1", "p2", "p3", "p5", "p6"}; !slices.Equal(f.ids, want) || slices.Contains(f.settled, false) {
		t.Errorf("forgot %v (settled %v), want %v, all settled: the oldest settled beyond 3, never p4", f.ids, f.settled, want)
	}
	if payments, settled := r.Len(); payments != 4 || settled != 3 {
		t.Errorf("Len = %d, %d; want 4 payments (p4, p7, p8, p9), 3 settled", payments, settled)
	}

	// A settled payment that changes again (a refund) is kept until its new
	// webhook is acknowledged, then it is the newest settled.
	refund := hookOf("p7", "p7_refund")
	now = now.Add(time.Second)
	r.Changed("p7", true, []*Webhook{refund}, now)
	r.Changed("p10", true, nil, now) // no webhook: settled at once
	r.Changed("p11", true, nil, now)
	r.Trim(now, f.forget)
	if got := f.ids[len(f.ids)-1]; got != "p8" {
		t.Errorf("forgot %s after p10 and p11 settled, want p8 (p7 is waiting for its refund's webhook)", got)
	}
	r.Delivered(refund, now)
	r.Trim(now, f.forget)
	if got := f.ids[len(f.ids)-1]; got != "p9" {
		t.Errorf("forgot %s after p7 settled again, want p9", got)
	}
	if payments, settled := r.Len(); payments != 4 || settled != 3 {
		t.Errorf("Len = %d, %d; want 4 payments (p4, p10, p11, p7), 3 settled", payments, settled)
	}

	// Delivered for a payment forgotten does nothing.
	r.Delivered(sent["p0"], now)
	if payments, _ := r.Len(); payments != 4 {
		t.Errorf("Len = %d after acknowledging a forgotten payment's webhook, want 4", payments)
	}
}

func TestRetainerSettledFor(t *testing.T) {
	r := NewRetainer(Limits{SettledFor: time.Hour}, true)
	var f forgotten
	r.Changed("old", true, nil, t0)
	r.Changed("pending", false, nil, t0)
	r.Changed("new", true, nil, t0.Add(30*time.Minute))
	r.Trim(t0.Add(59*time.Minute), f.forget)
	if len(f.ids) != 0 {
		t.Fatalf("forgot %v before SettledFor", f.ids)
	}
	r.Trim(t0.Add(time.Hour), f.forget)
	if !slices.Equal(f.ids, []string{"old"}) {
		t.Errorf("forgot %v an hour on, want [old]", f.ids)
	}
	r.Trim(t0.Add(100*time.Hour), f.forget)
	if !slices.Equal(f.ids, []string{"old", "new"}) {
		t.Errorf("forgot %v 100 hours on, want [old new]: a pending payment is never forgotten by age", f.ids)
	}
}

// TestRetainerPayments checks the hard cap: beyond Limits.Payments, the
// least recently changed payment is forgotten whatever its state.
func TestRetainerPayments(t *testing.T) {
	r := NewRetainer(Limits{Payments: 3}, true)
	var f forgotten
	lost := hookOf("a", "a")
	r.Changed("a", true, []*Webhook{lost}, t0) // its webhook is never acknowledged
	r.Changed("b", false, nil, t0)
	r.Changed("c", true, nil, t0) // settled
	r.Changed("a", true, nil, t0) // a changes again: the most recent
	r.Changed("d", false, nil, t0)
	r.Trim(t0, f.forget)
	if !slices.Equal(f.ids, []string{"b"}) || !slices.Equal(f.settled, []bool{false}) {
		t.Errorf("forgot %v (settled %v), want [b] not settled: the least recently changed", f.ids, f.settled)
	}
	r.Changed("e", false, nil, t0)
	r.Trim(t0, f.forget)
	if !slices.Equal(f.ids, []string{"b", "c"}) || !slices.Equal(f.settled, []bool{false, true}) {
		t.Errorf("forgot %v (settled %v), want [b c], c settled", f.ids, f.settled)
	}
	if payments, settled := r.Len(); payments != 3 || settled != 0 {
		t.Errorf("Len = %d, %d; want 3, 0", payments, settled)
	}
}

// TestRetainerWithoutEndpoint: with no webhook endpoint, nothing waits for
// an acknowledgement.
func TestRetainerWithoutEndpoint(t *testing.T) {
	r := NewRetainer(Limits{Settled: 1}, false)
	var f forgotten
	r.Changed("a", true, []*Webhook{hookOf("a", "a")}, t0)
	r.Changed("b", true, []*Webhook{hookOf("b", "b")}, t0)
	r.Trim(t0, f.forget)
	if !slices.Equal(f.ids, []string{"a"}) {
		t.Errorf("forgot %v, want [a]", f.ids)
	}
	// A webhook that could not be encoded is never sent: not waited for.
	r = NewRetainer(Limits{}, true)
	r.Changed("a", true, []*Webhook{{ID: "wh_a", Ref: "a"}}, t0)
	if _, settled := r.Len(); settled != 1 {
		t.Errorf("a payment whose only webhook has no body is not settled")
	}
}

// TestDelivered checks that the Deliverer reports each successful attempt,
// a retried one's and a Redeliver's included, and no failed one.
func TestDelivered(t *testing.T) {
	ep := &endpoint{failFirst: 1}
	delivered := make(chan string, 10)
	d := New(Config{
		Name: "testsim", Post: ep.post, Backoff: time.Millisecond,
		Delivered: func(w *Webhook) { delivered <- w.ID },
	})
	t.Cleanup(d.Close)
	d.Send(context.Background(), batch("wh_1"), true)
	select {
	case id := <-delivered:
		if id != "wh_1" {
			t.Errorf("Delivered(%s), want wh_1", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the retry's success was not reported")
	}
	if err := d.Redeliver(context.Background(), batch("wh_1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Redeliver(context.Background(), batch("wh_2")); err == nil {
		t.Fatal("Redeliver(wh_2) succeeded, want its first attempt to fail")
	}
	if got := len(delivered); got != 1 {
		t.Fatalf("%d successes reported after two Redelivers, want 1 (wh_1's)", got)
	}
	if id := <-delivered; id != "wh_1" {
		t.Errorf("Delivered(%s), want wh_1", id)
	}
}
