package routing

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// metrics are the router's Prometheus metrics. A nil *metrics records
// nothing.
type metrics struct {
	calls       *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	transitions *prometheus.CounterVec
}

// newMetrics registers on reg:
//
//	paygate_provider_calls_total{provider,method,result}       creates by result: ok, declined, failed, skipped
//	paygate_provider_call_seconds{provider,method}              latency of the creates that were sent
//	paygate_provider_breaker_transitions_total{provider,method,to}
//	paygate_provider_breaker_state{provider,method}             0 closed, 1 half-open, 2 open, read at scrape time
func newMetrics(reg prometheus.Registerer, r *Router) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate", Subsystem: "provider", Name: "calls_total",
			Help: "Payment creates at a provider, by provider, method and result: ok (taken), declined (the provider answered no: healthy), failed (an outage: unreachable, timed out, 5xx, method unavailable), skipped (not sent: the circuit breaker was open).",
		}, []string{"provider", "method", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "paygate", Subsystem: "provider", Name: "call_seconds",
			Help:    "How long payment creates at a provider took, by provider and method (skipped ones excluded).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"provider", "method"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate", Subsystem: "provider", Name: "breaker_transitions_total",
			Help: "Changes of a provider and method's circuit breaker, by the state it went to.",
		}, []string{"provider", "method", "to"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.latency, m.transitions, stateCollector{r}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) call(k key, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(k.provider, string(k.method), result).Inc()
	if result != resultSkipped {
		m.latency.WithLabelValues(k.provider, string(k.method)).Observe(took.Seconds())
	}
}

func (m *metrics) transition(k key, to gobreaker.State) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(k.provider, string(k.method), to.String()).Inc()
}

// stateCollector reports each breaker's state when scraped: an open
// breaker turns half-open by time alone, which no call records.
type stateCollector struct{ r *Router }

var stateDesc = prometheus.NewDesc("paygate_provider_breaker_state",
	"A provider and method's circuit breaker: 0 closed (calls go through), 1 half-open (one probe goes through), 2 open (the provider is skipped).",
	[]string{"provider", "method"}, nil)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- stateDesc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.r.Health() {
		v := 0.0
		switch h.State {
		case gobreaker.StateHalfOpen.String():
			v = 1
		case gobreaker.StateOpen.String():
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, h.Provider, string(h.Method))
	}
}
