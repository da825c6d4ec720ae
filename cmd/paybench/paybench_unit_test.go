package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
)

func TestFormAction(t *testing.T) {
	tests := []struct {
		page, action, want string
	}{
		{"http://h/sandbox/stripe/ideal/pi_1", "approve", "http://h/sandbox/stripe/ideal/pi_1/approve"},
		{"http://h/sandbox/rapyd/pay/payment_1?x=1#f", "approve", "http://h/sandbox/rapyd/pay/payment_1/approve"},
		{"http://h/sandbox/stripe/boleto/pi_2", "pay", "http://h/sandbox/stripe/boleto/pi_2/pay"},
	}
	for _, tt := range tests {
		got, err := formAction(tt.page, tt.action)
		if err != nil || got != tt.want {
			t.Errorf("formAction(%q, %q) = %q, %v; want %q", tt.page, tt.action, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "http://h", "http://h/", "::"} {
		if got, err := formAction(bad, "approve"); err == nil {
			t.Errorf("formAction(%q) = %q, want an error", bad, got)
		}
	}
}

func TestGauges(t *testing.T) {
	text := `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.2934272e+07
go_goroutines 17
go_memstats_heap_inuse_bytes{x="y"} 5
paygate_http_requests_in_flight 1
`
	got, err := gauges(strings.NewReader(text), "process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if got["process_resident_memory_bytes"] != 42934272 || got["go_goroutines"] != 17 || len(got) != 2 {
		t.Errorf("gauges = %v, want rss 42934272 and 17 goroutines only (labelled samples are not read)", got)
	}
}

func TestParseConfig(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"PAYGATE_API_KEY": "k1", "PAYGATE_COMMISSION_BPS": "250"}[k]
	}
	c, err := parseConfig([]string{"-db", "x.db"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.orders != 1000 || c.apiKey != "k1" || c.financeKey != "sandbox-finance-key" || c.commission != 250 || len(c.methods) != 5 || c.runID == "" {
		t.Errorf("defaults = %+v", c)
	}
	if c, err := parseConfig([]string{"-no-verify", "-duration", "1m"}, env, &bytes.Buffer{}); err != nil || c.orders != 0 {
		t.Errorf("-duration alone = orders %d, %v; want 0 (until the duration ends)", c.orders, err)
	}
	bad := [][]string{
		{},                      // no -db, no -no-verify
		{"-no-verify", "extra"}, // a positional argument
		{"-no-verify", "-methods", "ideal,bitcoin"},
		{"-no-verify", "-methods", ","},
		{"-no-verify", "-concurrency", "0"},
		{"-no-verify", "-items", "0"},
		{"-no-verify", "-commission-bps", "10001"},
		{"-no-verify", "-run-id", "a b"},
		{"-no-verify", "-orders", "-1"},
	}
	for _, args := range bad {
		if _, err := parseConfig(args, env, &bytes.Buffer{}); err == nil {
			t.Errorf("parseConfig(%q) = nil error, want one", args)
		}
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", url, "-no-verify", "-orders", "1", "-retries", "0"}, func(string) string { return "" }, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "not ready") {
		t.Errorf("run against a closed server = %d, stderr %q; want %d and \"not ready\"", code, stderr.String(), exitError)
	}
}

// TestCheckFindsWrongStates runs the final check against a fake API that
// answers a sales order that is not completed, a seller short of its
// earnings and a buyer holding money.
func TestCheckFindsWrongStates(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/payment-orders/{p}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(paymentOrderJSON{Number: r.PathValue("p"), Status: "paid", BuyerID: "pb-t-b0", Currency: "EUR",
			Items: []salesOrderJSON{{Number: "K0000001", Status: "completed", Amount: "10.00"}, {Number: "K0000002", Status: "waiting_confirmation", Amount: "5.00"}}})
	})
	mux.HandleFunc("GET /v1/users/{id}/balances", func(w http.ResponseWriter, r *http.Request) {
		bal := map[string]string{"pb-t-s0": "14.00", "pb-t-b0": "0.50"}[r.PathValue("id")]
		json.NewEncoder(w).Encode(map[string]any{"balances": []map[string]string{{"amount": bal, "currency": "EUR"}}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg, err := parseConfig([]string{"-url", srv.URL, "-no-verify", "-methods", "ideal", "-items", "2", "-sellers", "1", "-buyers", "1", "-run-id", "t"},
		func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBench(cfg)
	p := plan{method: 0, items: []plannedItem{{0, paygate.New(1000, paygate.EUR)}, {0, paygate.New(500, paygate.EUR)}}}
	b.done.add(b, p, "P00000001", []string{"K0000001", "K0000002"})
	r := b.checkAPI(context.Background(), financeCounts{}, false)
	problems := strings.Join(r.Problems, "\n")
	if r.OK() || r.Wrong != 3 || !strings.Contains(problems, "K0000002 is waiting_confirmation") ||
		!strings.Contains(problems, "pb-t-s0 holds 14.00 EUR, want 15.00 EUR") || !strings.Contains(problems, "pb-t-b0 holds 0.50 EUR, want nothing") {
		t.Errorf("check = %+v, want the sales order, the seller and the buyer wrong", r)
	}
}

func TestMemorySamplesStayBounded(t *testing.T) {
	var done int64
	s := &sampler{pid: os.Getpid(), start: time.Now(), stride: 1, res: memoryResult{Source: "/proc/self"},
		completed: func() int64 { done += 10; return done }}
	const n = 2*maxPoints + 500
	for range n {
		s.sample(context.Background())
	}
	s.summarize()
	if s.res.Samples != n || len(s.res.Points) > maxPoints || len(s.res.Points) < maxPoints/2 || s.res.Error != "" {
		t.Fatalf("%d samples kept as %d points (error %q), want %d in at most %d", s.res.Samples, len(s.res.Points), s.res.Error, n, maxPoints)
	}
	for i := 1; i < len(s.res.Points); i++ {
		if s.res.Points[i].At < s.res.Points[i-1].At {
			t.Fatalf("points out of order at %d", i)
		}
	}
	if r := s.res.RSS; r.First <= 0 || r.Quarter <= 0 || r.Max < r.Last || r.Min > r.First {
		t.Errorf("rss = %+v", r)
	}
	if q := s.res.RateByQuarter; len(q) != 4 || q[0] <= 0 || q[3] <= 0 {
		t.Errorf("rate by quarter = %v, want four positive rates", q)
	}
}

func TestRateByQuarter(t *testing.T) {
	var pts []memSample
	for i := range 9 { // 10/s for 4s, then 20/s for 4s
		done := int64(min(i, 4)*10 + max(i-4, 0)*20)
		pts = append(pts, memSample{At: float64(i), Completed: done})
	}
	got := rateByQuarter(pts)
	want := []float64{10, 10, 20, 20}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("rateByQuarter = %v, want %v", got, want)
	}
	if got := rateByQuarter(pts[:3]); got != nil {
		t.Errorf("rateByQuarter of 3 points = %v, want nil", got)
	}
}
