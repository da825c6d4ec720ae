package routing

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want string // Routes.String()
	}{
		{"", "ideal=stripe;paynow=stripe;boleto=stripe;kakaopay=rapyd;samsungpay=rapyd"},
		{"ideal=stripe,rapyd;paynow=stripe,rapyd;boleto=stripe,rapyd;kakaopay=rapyd,stripe;samsungpay=rapyd,stripe",
			"ideal=stripe,rapyd;paynow=stripe,rapyd;boleto=stripe,rapyd;kakaopay=rapyd,stripe;samsungpay=rapyd,stripe"},
		{" IDEAL = Stripe:90 , rapyd:10 ;", "ideal=stripe:90,rapyd:10;paynow=stripe;boleto=stripe;kakaopay=rapyd;samsungpay=rapyd"},
		{"kakaopay=stripe:0,rapyd:1", "ideal=stripe;paynow=stripe;boleto=stripe;kakaopay=stripe:0,rapyd:1;samsungpay=rapyd"},
	}
	for _, c := range good {
		rs, err := Parse(c.in)
		if err != nil || rs.String() != c.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, rs.String(), err, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"paypal=stripe", `unknown payment method "paypal"`},
		{"ideal=adyen", `unknown provider "adyen"`},
		{"ideal=stripe;ideal=rapyd", "ideal has two routes"},
		{"ideal=stripe,stripe", "stripe is listed twice"},
		{"ideal=", "empty provider"},
		{"ideal=stripe,,rapyd", "empty provider"},
		{"ideal", "is not method=provider"},
		{"ideal=stripe;;paynow=stripe", "entry 2 is empty"},
		{"ideal=stripe:90,rapyd", "every provider or to none"},
		{"ideal=stripe:x", `weight "x" of stripe`},
		{"ideal=stripe:-1", `weight "-1"`},
		{"ideal=stripe:10001", `weight "10001"`},
		{"ideal=stripe:0,rapyd:0", "add up to 0"},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		if err == nil || paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%q) = %v; want EINVALID saying %q", c.in, err, c.says)
		}
	}
}

func TestCheckConfigured(t *testing.T) {
	rs, err := Parse("ideal=stripe,rapyd")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Check([]string{providers.Stripe, providers.Rapyd}); err != nil {
		t.Fatalf("Check with both configured = %v", err)
	}
	err = rs.Check([]string{providers.Stripe})
	if err == nil || !strings.Contains(err.Error(), "provider rapyd is not configured") {
		t.Fatalf("Check with only stripe configured = %v; want rapyd named", err)
	}
	// Methods left on their default provider are not checked: with only
	// Stripe's keys, KakaoPay is unavailable, not a reason to refuse to start.
	if err := Default().Check([]string{providers.Stripe}); err != nil {
		t.Fatalf("Default().Check with only stripe configured = %v; want nil", err)
	}
	rs, err = Parse("kakaopay=rapyd,stripe")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Check([]string{providers.Stripe}); err == nil || !strings.Contains(err.Error(), "kakaopay: provider rapyd is not configured") {
		t.Fatalf("Check of a second road without rapyd = %v; want kakaopay's rapyd named", err)
	}
}

// A weighted split stays within ±5 % of its weights over 2,000 attempts,
// and the provider not drawn first is always the failover.
func TestWeightedSplit(t *testing.T) {
	rs, err := Parse("ideal=stripe:90,rapyd:10;kakaopay=rapyd:50,stripe:30")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 2026))
	r, err := New(Config{Routes: rs, IntN: rng.IntN})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m     providers.Method
		share map[string]float64
	}{
		{providers.IDEAL, map[string]float64{providers.Stripe: 0.9, providers.Rapyd: 0.1}},
		{providers.KakaoPay, map[string]float64{providers.Rapyd: 0.625, providers.Stripe: 0.375}},
	} {
		const n = 2000
		first := map[string]int{}
		for i := 0; i < n; i++ {
			order, why := r.Order(c.m)
			if why != ReasonWeighted || len(order) != 2 || order[0] == order[1] {
				t.Fatalf("Order(%s) = %v, %s; want both providers, weighted", c.m, order, why)
			}
			first[order[0]]++
		}
		for p, want := range c.share {
			got := float64(first[p]) / n
			if math.Abs(got-want) > 0.05 {
				t.Errorf("%s: %s took %.3f of %d attempts first; want %.3f ± 0.05", c.m, p, got, n, want)
			}
		}
	}
	order, why := r.Order(providers.Boleto)
	if why != ReasonPrimary || len(order) != 1 || order[0] != providers.Stripe {
		t.Errorf("Order(boleto) = %v, %s; want [stripe] primary", order, why)
	}
}

func outage() error {
	return paygate.Errorf(paygate.EUNAVAILABLE, "stripe: create payment: Stripe answered 503; retry later")
}

func decline() error {
	return paygate.Errorf(paygate.EINVALID, "stripe: create payment: the bank declined")
}

// halfOpen waits for Stripe's iDEAL breaker to turn half-open: gobreaker
// reads the real clock, so OpenFor must really pass.
func halfOpen(t *testing.T, r *Router) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h := healthOf(r, providers.Stripe, providers.IDEAL)
		if h.State == "half-open" {
			return
		}
		if h.State != "open" || time.Now().After(deadline) {
			t.Fatalf("after OpenFor the breaker is %s; want half-open", h.State)
		}
	}
}

// The breaker opens after repeated failures, is skipped while open, lets
// one probe through half-open and closes after a good probe; declines
// never open it.
func TestBreaker(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := New(Config{Routes: Default(), Breaker: Breaker{Failures: 3, OpenFor: 200 * time.Millisecond}, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := 0
	do := func(err error, status providers.Status) error {
		_, e := r.Call(ctx, providers.Stripe, providers.IDEAL, func() (providers.Payment, error) {
			calls++
			return providers.Payment{Ref: "pi_1", Status: status}, err
		})
		return e
	}
	for i := 0; i < 10; i++ {
		_ = do(decline(), "")
		_ = do(nil, providers.StatusFailed)
	}
	if r.Open(providers.Stripe, providers.IDEAL) {
		t.Fatal("declines opened the breaker")
	}
	for i := 0; i < 3; i++ {
		if err := do(outage(), ""); IsOpen(err) {
			t.Fatalf("failure %d was skipped: %v", i+1, err)
		}
	}
	if !r.Open(providers.Stripe, providers.IDEAL) {
		t.Fatal("3 failures in a row did not open the breaker")
	}
	if r.Open(providers.Rapyd, providers.KakaoPay) || r.Open(providers.Stripe, providers.PayNow) {
		t.Fatal("another provider or method's breaker opened")
	}
	before := calls
	if err := do(nil, providers.StatusPending); !IsOpen(err) || paygate.ErrorCode(err) != paygate.EUNAVAILABLE || calls != before {
		t.Fatalf("call while open = %v (provider called %d times); want ErrOpen without a call", err, calls-before)
	}
	h := healthOf(r, providers.Stripe, providers.IDEAL)
	if h.State != "open" || h.Failures != 3 || h.LastError == "" || h.LastFailure.IsZero() {
		t.Fatalf("health while open = %+v", h)
	}
	if got := testutil.ToFloat64(stateGauge(t, reg, providers.Stripe, providers.IDEAL)); got != 2 {
		t.Fatalf("breaker state metric = %v; want 2 (open)", got)
	}

	// A failed probe opens it again.
	halfOpen(t, r)
	if err := do(outage(), ""); IsOpen(err) {
		t.Fatalf("the half-open probe was skipped: %v", err)
	}
	if !r.Open(providers.Stripe, providers.IDEAL) {
		t.Fatal("a failed probe did not open the breaker again")
	}
	// A good probe closes it.
	halfOpen(t, r)
	if err := do(nil, providers.StatusPending); err != nil {
		t.Fatalf("good probe = %v", err)
	}
	if h := healthOf(r, providers.Stripe, providers.IDEAL); h.State != "closed" {
		t.Fatalf("after a good probe the breaker is %s; want closed", h.State)
	}
	if got := testutil.ToFloat64(stateGauge(t, reg, providers.Stripe, providers.IDEAL)); got != 0 {
		t.Fatalf("breaker state metric = %v; want 0 (closed)", got)
	}
	for result, want := range map[string]float64{"ok": 1, "declined": 20, "failed": 4, "skipped": 1} {
		c, err := r.metrics.calls.GetMetricWithLabelValues(providers.Stripe, string(providers.IDEAL), result)
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("calls_total{result=%q} = %v; want %v", result, got, want)
		}
	}
}

// A call its buyer abandoned does not count against the provider.
func TestBreakerIgnoresCanceledCalls(t *testing.T) {
	r, err := New(Config{Breaker: Breaker{Failures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Call(ctx, providers.Rapyd, providers.KakaoPay, func() (providers.Payment, error) {
		return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: canceled", Err: context.Canceled}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v; want the provider's error", err)
	}
	if r.Open(providers.Rapyd, providers.KakaoPay) {
		t.Fatal("a canceled call opened the breaker")
	}
}

func healthOf(r *Router, provider string, m providers.Method) Health {
	for _, h := range r.Health() {
		if h.Provider == provider && h.Method == m {
			return h
		}
	}
	return Health{}
}

// stateGauge reads paygate_provider_breaker_state of provider and m from
// reg as a collector of one gauge.
func stateGauge(t *testing.T, reg *prometheus.Registry, provider string, m providers.Method) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "paygate_provider_breaker_state" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == provider && labels["method"] == string(m) {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "state"})
				g.Set(mt.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no breaker state metric for %s %s", provider, m)
	return nil
}
