package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paygate/paygate"
)

// routeUnmatched is the route label of requests that matched no route, so
// that scanners probing random paths cannot grow the label set.
const routeUnmatched = "unmatched"

// metrics is the server's own Prometheus registry and the request metrics it
// records. Other packages register their collectors on Metrics().
type metrics struct {
	registry *prometheus.Registry
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// rateLimited counts requests refused by a rate limit, by limit name.
	rateLimited *prometheus.CounterVec
}

// newMetrics returns a registry holding the Go runtime and process
// collectors and the HTTP request metrics.
func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "paygate",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time from receiving a request to finishing its response, by method, route template and status.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "paygate",
			Subsystem: "http",
			Name:      "requests_in_flight",
			Help:      "Requests being handled.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "http",
			Name:      "rate_limited_total",
			Help:      "Requests refused with 429 by a rate limit, by limit: key, api_ip, checkout, login, webhook.",
		}, []string{"limit"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration,
		m.inFlight,
		m.rateLimited,
	)
	return m
}

// observe records one finished request.
func (m *metrics) observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = routeUnmatched
	}
	m.duration.WithLabelValues(metricMethod(method), route, strconv.Itoa(status)).Observe(d.Seconds())
}

// limited counts one request refused by the named rate limit.
func (m *metrics) limited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// metricMethod maps the method to a bounded set of label values.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// requireToken lets through requests that carry token as their bearer
// token, comparing in constant time, and answers the others 401. An empty
// token lets every request through.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, ok := BearerToken(r.Header.Get("Authorization"))
		got := sha256.Sum256([]byte(presented))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paygate metrics"`)
			WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "metrics need their bearer token (PAYGATE_METRICS_TOKEN)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Metrics returns the server's Prometheus registry, on which other packages
// register their collectors; GET /metrics serves it.
func (s *Server) Metrics() prometheus.Registerer { return s.metrics.registry }
