package ledger

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ledger's Prometheus metrics; they exist whether or not
// RegisterMetrics registered them.
type metrics struct {
	latency  prometheus.Histogram
	postings *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "paygate",
			Subsystem: "ledger",
			Name:      "post_duration_seconds",
			Help:      "Time one Post or PostBatch call spends in its database transaction (validation, balance locks, inserts), excluding the commit.",
			Buckets:   []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		postings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "ledger",
			Name:      "transactions_total",
			Help:      "Ledger transactions submitted, by result: created, already_posted (idempotent repeat), declined (insufficient funds), conflict (key reused with other entries), invalid, error (the database transaction failed). Counted when submitted; a created one is durable only if its database transaction commits.",
		}, []string{"result"}),
	}
}

// observe records one PostBatch call.
func (m *metrics) observe(start time.Time, submitted int, rs []BatchResult, err error) {
	m.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		m.postings.WithLabelValues("error").Add(float64(submitted))
		return
	}
	for _, r := range rs {
		m.postings.WithLabelValues(resultLabel(r)).Inc()
	}
}

func resultLabel(r BatchResult) string {
	var insufficient *InsufficientFundsError
	var conflict *ConflictError
	switch {
	case r.Err == nil:
		return r.Status.String()
	case errors.As(r.Err, &insufficient):
		return "declined"
	case errors.As(r.Err, &conflict):
		return "conflict"
	}
	return "invalid"
}

// RegisterMetrics adds the ledger's metrics to reg: posting latency and
// transactions by result.
func (l *Ledger) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{l.metrics.latency, l.metrics.postings} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
