package orders

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/storage"
)

// scrapeTimeout bounds the queries of one metrics scrape.
const scrapeTimeout = 5 * time.Second

// timerCollector reports, at each scrape, how many sales orders have a
// timer due now (their status has outlasted its window), read from the
// database so that every instance reports the same. A figure that stays
// above zero means the sweep is not keeping up or not running.
type timerCollector struct {
	l    *Lifecycle
	due  *prometheus.Desc
	up   *prometheus.Desc
	fail func(error)
}

// TimerCollector returns the collector of timers due, by the status whose
// window has passed.
func (l *Lifecycle) TimerCollector() prometheus.Collector {
	return &timerCollector{
		l: l,
		due: prometheus.NewDesc("paygate_order_timers_due",
			"Sales orders whose status has outlasted its window (waiting_delivery 72 h, waiting_confirmation 72 h, refunding 24 h, refund_refused 72 h by default) and which the next sweep will move.",
			[]string{"status"}, nil),
		up: prometheus.NewDesc("paygate_order_timers_scrape_ok",
			"1 if the timers due could be read from the database at this scrape, 0 if not.", nil, nil),
		fail: func(err error) { l.Logger.Warn().Err(err).Msg("orders: read timers due for metrics") },
	}
}

func (c *timerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.due
	ch <- c.up
}

func (c *timerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	rules := c.l.Rules.WithDefaults()
	due := make([]int64, len(timers()))
	err := c.l.DB.View(ctx, func(tx *storage.Tx) error {
		for i, tm := range timers() {
			if err := tx.Get(ctx, &due[i], `SELECT COUNT(*) FROM sales_orders WHERE status = ? AND status_at <= ?`,
				string(tm.status), tx.Now().Add(-tm.window(rules))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.fail(err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for i, tm := range timers() {
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(due[i]), string(tm.status))
	}
}
