package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// Metrics returns the server's Prometheus registry, on which other packages
// register their collectors; GET /metrics serves it.
func (s *Server) Metrics() prometheus.Registerer { return s.metrics.registry }
