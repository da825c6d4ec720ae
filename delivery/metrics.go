package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/storage"
)

// metrics are the delivery's Prometheus metrics; they exist whether or not
// RegisterMetrics registers them.
type metrics struct {
	attempts *prometheus.CounterVec
	lag      prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "webhook_delivery",
			Name:      "attempts_total",
			Help:      "Attempts to deliver an event to a webhook endpoint, by result (success: 2xx; failure: another status; gone: 410, the endpoint is disabled; error: no answer in time; refused: an address live mode may not reach).",
		}, []string{"result"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "paygate",
			Subsystem: "webhook_delivery",
			Name:      "lag_seconds",
			Help:      "Time from an event's creation to the 2xx of the endpoint it was delivered to.",
			Buckets:   []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 72 * 3600},
		}),
	}
}

func (m *metrics) attempt(o outcome) {
	m.attempts.WithLabelValues(o.result).Inc()
	if o.result == ResultSuccess {
		m.lag.Observe(max(o.at.Add(o.duration).Sub(o.job.EventCreatedAt), 0).Seconds())
	}
}

// backlogCollector reads, at each scrape, the pending deliveries per
// endpoint and the age of the oldest, so that every instance on a shared
// database reports the same figures.
type backlogCollector struct {
	s       *Service
	backlog *prometheus.Desc
	oldest  *prometheus.Desc
	up      *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
	ch <- c.up
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rows []struct {
		Endpoint string `db:"endpoint_id"`
		N        int64  `db:"n"`
	}
	var oldest []time.Time
	var now time.Time
	err := c.s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		now = tx.Now()
		if err := tx.Select(ctx, &rows, `SELECT e.id AS endpoint_id, COUNT(d.id) AS n FROM webhook_endpoints e
			LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.status = ? GROUP BY e.id`, StatusPending); err != nil {
			return err
		}
		return tx.Select(ctx, &oldest, `SELECT event_created_at FROM webhook_deliveries WHERE status = ? ORDER BY event_created_at LIMIT 1`, StatusPending)
	})
	if err != nil {
		c.s.cfg.Logger.Warn().Err(err).Msg("delivery: read backlog for metrics")
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(r.N), r.Endpoint)
	}
	age := 0.0
	if len(oldest) == 1 {
		age = max(now.Sub(oldest[0]), 0).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}

// RegisterMetrics adds the delivery metrics to reg: attempts by result,
// the lag from event to 2xx, the backlog per endpoint and the age of the
// oldest undelivered event.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	c := &backlogCollector{
		s: s,
		backlog: prometheus.NewDesc("paygate_webhook_delivery_backlog",
			"Deliveries not yet acknowledged (pending, or waiting for a retry), per webhook endpoint.", []string{"endpoint"}, nil),
		oldest: prometheus.NewDesc("paygate_webhook_delivery_oldest_undelivered_seconds",
			"Age of the oldest event waiting to be delivered to an endpoint; 0 when none waits.", nil, nil),
		up: prometheus.NewDesc("paygate_webhook_delivery_scrape_ok",
			"1 if the delivery backlog could be read from the database at this scrape, 0 if not.", nil, nil),
	}
	for _, m := range []prometheus.Collector{s.metrics.attempts, s.metrics.lag, c} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}
