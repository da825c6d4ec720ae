package webhooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate/storage"
)

// metrics are the inbox's Prometheus metrics. They exist whether or not
// RegisterMetrics registers them, so recording never checks for nil.
type metrics struct {
	lag      prometheus.Histogram
	outcomes *prometheus.CounterVec
	failures prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "paygate",
			Subsystem: "webhook",
			Name:      "settlement_lag_seconds",
			Help:      "Time from storing a webhook event in the inbox to the durable commit that applied it (at intake, or later by the worker).",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "webhook",
			Name:      "events_applied_total",
			Help:      "Webhook events applied, by the outcome for their payment order.",
		}, []string{"outcome"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "webhook",
			Name:      "apply_failures_total",
			Help:      "Failed attempts to apply a stored webhook event; each is retried with backoff until MaxAttempts.",
		}),
	}
}

// applied records an event applied in tx once tx commits.
func (m *metrics) applied(tx *storage.Tx, receivedAt time.Time, outcome string) {
	tx.AfterCommit(func() {
		m.lag.Observe(max(time.Since(receivedAt), 0).Seconds())
		m.outcomes.WithLabelValues(outcome).Inc()
	})
}

// inboxCollector reports the inbox's backlog, read from the database at
// each scrape so that every instance on a shared database reports the same
// figures: events not yet processed by status, their retries so far, and
// the age of the oldest pending one.
type inboxCollector struct {
	db      *storage.DB
	log     zerolog.Logger
	events  *prometheus.Desc
	retries *prometheus.Desc
	oldest  *prometheus.Desc
	up      *prometheus.Desc
}

// scrapeTimeout bounds the backlog query of one scrape.
const scrapeTimeout = 5 * time.Second

func newInboxCollector(db *storage.DB, log zerolog.Logger) *inboxCollector {
	return &inboxCollector{
		db:  db,
		log: log,
		events: prometheus.NewDesc("paygate_webhook_inbox_events",
			"Webhook events in the inbox that are not processed yet, by status (pending: to be applied or retried; deferred: waiting for their payment's success; failed: out of attempts, for finance to replay).",
			[]string{"status"}, nil),
		retries: prometheus.NewDesc("paygate_webhook_inbox_retries",
			"Attempts beyond the first made so far on the events that are not processed yet.", nil, nil),
		oldest: prometheus.NewDesc("paygate_webhook_inbox_oldest_pending_seconds",
			"Age of the oldest pending webhook event; 0 when none is pending.", nil, nil),
		up: prometheus.NewDesc("paygate_webhook_inbox_scrape_ok",
			"1 if the inbox backlog could be read from the database at this scrape, 0 if not.", nil, nil),
	}
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.events
	ch <- c.retries
	ch <- c.oldest
	ch <- c.up
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var rows []struct {
		Status  string `db:"status"`
		N       int64  `db:"n"`
		Retries int64  `db:"retries"`
	}
	var oldest float64
	err := c.db.View(ctx, func(tx *storage.Tx) error {
		if err := tx.Select(ctx, &rows, `SELECT status, COUNT(*) AS n, COALESCE(SUM(attempts - 1), 0) AS retries
			FROM webhook_events WHERE status IN (?, ?, ?) GROUP BY status`, StatusPending, StatusDeferred, StatusFailed); err != nil {
			return err
		}
		// Ids grow with receipt, so the lowest pending id is the oldest.
		var first []time.Time
		if err := tx.Select(ctx, &first, `SELECT received_at FROM webhook_events WHERE status = ? ORDER BY id LIMIT 1`, StatusPending); err != nil {
			return err
		}
		if len(first) == 1 {
			oldest = max(tx.Now().Sub(first[0]), 0).Seconds()
		}
		return nil
	})
	if err != nil {
		c.log.Warn().Err(err).Msg("webhooks: read inbox backlog for metrics")
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	counts := map[string]int64{StatusPending: 0, StatusDeferred: 0, StatusFailed: 0}
	var retries int64
	for _, r := range rows {
		counts[r.Status] = r.N
		retries += r.Retries
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.GaugeValue, float64(retries))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest)
}

// RegisterMetrics adds the inbox's metrics to reg: settlement lag, events
// applied by outcome, apply failures, and the backlog read from the
// database at each scrape.
func (in *Inbox) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{in.metrics.lag, in.metrics.outcomes, in.metrics.failures,
		newInboxCollector(in.cfg.DB, in.cfg.Logger)} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
