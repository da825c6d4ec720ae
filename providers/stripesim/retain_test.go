package stripesim

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// acker is a webhook endpoint in process: it answers 200 to every
// delivery, or 500 while failing.
type acker struct {
	posts   atomic.Int64
	failing atomic.Bool
}

func (a *acker) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	a.posts.Add(1)
	status := http.StatusOK
	if a.failing.Load() {
		status = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: status, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// newLimited returns a simulator with limits whose webhooks go to ack,
// in process, and whose API is called in process with call.
func newLimited(t *testing.T, limits Limits, ack *acker) *Simulator {
	t.Helper()
	s := New(Config{
		BaseURL: "http://sim.test/sandbox/stripe", APIKey: testKey,
		WebhookURL: "http://paygate.test/webhooks/stripe", WebhookSecret: testSecret,
		HTTPClient: &http.Client{Transport: ack}, RetryBackoff: 1 << 40, // no retry during a test
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
		Limits: limits,
	})
	t.Cleanup(s.Close)
	return s
}

// call makes one API request of s in process and returns its status, body
// and whether it was an idempotent replay.
func (s *Simulator) call(t *testing.T, method, path, key string, form url.Values) (int, map[string]any, bool) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	r.Header.Set("Authorization", "Bearer "+testKey)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return w.Code, body, w.Header().Get("Idempotent-Replayed") == "true"
}

// createIDEAL creates and confirms an iDEAL intent of 10.00 EUR with
// Idempotency-Key key, as paygate's client does, and returns its id.
func (s *Simulator) createIDEAL(t *testing.T, key, attempt string) string {
	t.Helper()
	status, body, _ := s.call(t, http.MethodPost, "/v1/payment_intents", key, url.Values{
		"amount": {"1000"}, "currency": {"eur"}, "payment_method_types[]": {"ideal"}, "confirm": {"true"},
		"payment_method_data[type]": {"ideal"}, "return_url": {"https://shop.example/return"},
		"metadata[payment_order]": {"P12345678"}, "metadata[attempt]": {attempt},
	})
	if status != http.StatusOK {
		t.Fatalf("create %s: %d %v", key, status, body)
	}
	return body["id"].(string)
}

// settle waits for the endpoint to have had posts deliveries and for the
// simulator to have settled (and trimmed) what they acknowledged: events
// of a cancel or a refund are sent in the background.
func settle(t *testing.T, s *Simulator, ack *acker, posts int64, l Limits) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ack.posts.Load() < posts || s.Usage().Intents > l.Settled {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries and Usage %+v, want %d and at most %d intents", ack.posts.Load(), s.Usage(), posts, l.Settled)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// checkUsage fails the test if what s keeps is beyond the limits (with
// room for slack unsettled intents) or inconsistent.
func checkUsage(t *testing.T, s *Simulator, l Limits, slack int) Usage {
	t.Helper()
	u := s.Usage()
	if u.Intents > l.Settled+slack || u.Settled > l.Settled || u.Methods > u.Intents || u.Charges > u.Intents ||
		u.Refunds > u.Intents || u.Events > 4*u.Intents || u.IdempotencyKeys > l.IdempotencyKeys || u.ReportLines > l.ReportLines {
		t.Fatalf("Usage = %+v beyond limits %+v", u, l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if payments, _ := s.retain.Len(); payments != len(s.intents) || len(s.history) > len(s.intents) {
		t.Fatalf("the retainer tracks %d intents and %d have events, the simulator keeps %d", payments, len(s.history), len(s.intents))
	}
	return u
}

// TestLongRunBounded makes 3,000 payments through the API, approved,
// declined, canceled and refunded, and checks after each that what the
// simulator keeps stays within its limits, that the newest are still
// there and the oldest are forgotten, and that the settlement report keeps
// the latest ReportLines balance changes, of forgotten intents too.
func TestLongRunBounded(t *testing.T) {
	const n = 3000
	limits := Limits{Settled: 100, IdempotencyKeys: 150, ReportLines: 250}
	ack := &acker{}
	s := newLimited(t, limits, ack)
	ctx := context.Background()
	var ids []string
	var posts int64 // the events sent so far
	for i := range n {
		attempt := "att_" + strconv.Itoa(i)
		id := s.createIDEAL(t, "create:"+attempt, attempt)
		ids = append(ids, id)
		switch {
		case i%13 == 0:
			if status, body, _ := s.call(t, http.MethodPost, "/v1/payment_intents/"+id+"/cancel", "cancel:"+attempt, nil); status != 200 {
				t.Fatalf("cancel: %d %v", status, body)
			}
			posts++
		case i%7 == 0:
			if err := s.Decline(ctx, id); err != nil {
				t.Fatal(err)
			}
			posts++
		default:
			if err := s.Approve(ctx, id); err != nil {
				t.Fatal(err)
			}
			posts += 2
			if i%10 == 0 {
				posts += 2
				status, body, _ := s.call(t, http.MethodPost, "/v1/refunds", "refund:"+attempt,
					url.Values{"payment_intent": {id}, "amount": {"300"}})
				if status != 200 {
					t.Fatalf("refund: %d %v", status, body)
				}
			}
		}
		checkUsage(t, s, limits, 5) // a cancel's or refund's events may be on their way
		settle(t, s, ack, posts, limits)
		checkUsage(t, s, limits, 0)
	}
	u := checkUsage(t, s, limits, 0)
	if u.Settled != limits.Settled || u.IdempotencyKeys != limits.IdempotencyKeys || u.ReportLines != limits.ReportLines {
		t.Errorf("Usage = %+v after %d payments, want the limits %+v reached", u, n, limits)
	}

	// The newest are there; the oldest are forgotten, as unknown to Stripe.
	newest := ids[n-2] // approved
	if status, body, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+newest, "", nil); status != 200 || body["status"] != statusSucceeded {
		t.Errorf("GET the newest intent: %d %v, want 200 succeeded", status, body)
	}
	status, body, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+ids[1], "", nil)
	if e, _ := body["error"].(map[string]any); status != 404 || e["code"] != "resource_missing" {
		t.Errorf("GET the oldest intent: %d %v, want 404 resource_missing", status, body)
	}
	if err := s.Redeliver(ctx, ids[1]); err == nil {
		t.Error("Redeliver(the oldest intent) = nil, want not found")
	}
	// A recent one can still be refunded.
	if status, body, _ := s.call(t, http.MethodPost, "/v1/refunds", "refund:late", url.Values{"payment_intent": {newest}}); status != 200 {
		t.Errorf("refund the newest intent: %d %v", status, body)
	}

	// Idempotency: the newest keys replay; a forgotten key runs again.
	if status, body, replayed := s.call(t, http.MethodPost, "/v1/payment_intents/"+ids[2990]+"/cancel", "cancel:att_2990", nil); !replayed || status != 200 {
		t.Errorf("cancel again with a kept key: %d %v, replayed %v; want the 200 replayed", status, body, replayed)
	}
	again := s.createIDEAL(t, "create:att_0", "att_0")
	if again == ids[0] {
		t.Errorf("create with a forgotten key replayed %s, want a new intent", again)
	}
	last := s.createIDEAL(t, "create:new", "new")
	if replay := s.createIDEAL(t, "create:new", "new"); replay != last {
		t.Errorf("create again with a kept key = %s, want the replay of %s", replay, last)
	}

	// The report: the latest ReportLines balance changes, intents
	// forgotten or not.
	var b strings.Builder
	if err := s.SettlementReport(&b, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rows) - 1; got != limits.ReportLines {
		t.Errorf("report has %d lines, want ReportLines %d", got, limits.ReportLines)
	}
	forgotten := 0
	s.mu.Lock()
	for _, row := range rows[1:] {
		if s.intents[row[7]] == nil {
			forgotten++
		}
	}
	s.mu.Unlock()
	if forgotten == 0 {
		t.Error("the report has no line of a forgotten intent, want the latest lines whatever their intents")
	}
}

// TestUnacknowledgedKept checks that an intent whose events were lost is
// kept while newer ones are forgotten, until Redeliver gets them
// acknowledged; and that beyond Limits.Payments even unsettled intents go.
func TestUnacknowledgedKept(t *testing.T) {
	limits := Limits{Settled: 5, Payments: 40}
	ack := &acker{}
	s := newLimited(t, limits, ack)
	ctx := context.Background()

	lost := s.createIDEAL(t, "create:lost", "lost")
	if err := s.SetFaults(Faults{Drop: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Approve(ctx, lost); err != nil { // both events dropped
		t.Fatal(err)
	}
	refused := s.createIDEAL(t, "create:refused", "refused")
	ack.failing.Store(true)
	if err := s.Approve(ctx, refused); err != nil { // refused, retried in an hour
		t.Fatal(err)
	}
	ack.failing.Store(false)
	for i := range 20 {
		id := s.createIDEAL(t, "create:"+strconv.Itoa(i), strconv.Itoa(i))
		if err := s.Approve(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{lost, refused} {
		if status, body, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+id, "", nil); status != 200 {
			t.Fatalf("GET %s, whose events were not acknowledged: %d %v, want it kept", id, status, body)
		}
	}
	if u := s.Usage(); u.Intents != 5+2 || u.Settled != 5 {
		t.Errorf("Usage = %+v, want 7 intents: 5 settled and the 2 unacknowledged", u)
	}

	// Redeliver recovers lost: once acknowledged, it is the newest
	// settled, and goes when 5 newer have settled.
	if err := s.Redeliver(ctx, lost); err != nil {
		t.Fatal(err)
	}
	approve := func(i int) {
		t.Helper()
		if err := s.Approve(ctx, s.createIDEAL(t, "create:more"+strconv.Itoa(i), "more")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		approve(i)
	}
	if status, _, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+lost, "", nil); status != 200 {
		t.Errorf("GET lost after 4 newer settled: %d, want it kept", status)
	}
	approve(4)
	if status, _, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+lost, "", nil); status != 404 {
		t.Errorf("GET lost after 5 newer settled: %d, want 404", status)
	}

	// Payments: pending intents beyond it are forgotten, least recently
	// changed first; refused is among them.
	for i := range 50 {
		s.createIDEAL(t, "create:pending"+strconv.Itoa(i), "pending")
	}
	if u := s.Usage(); u.Intents != limits.Payments {
		t.Errorf("Usage = %+v after 50 pending intents, want Payments %d intents", u, limits.Payments)
	}
	if status, _, _ := s.call(t, http.MethodGet, "/v1/payment_intents/"+refused, "", nil); status != 404 {
		t.Errorf("GET refused after Payments newer intents: %d, want 404", status)
	}
}
