package events

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/storage"
)

// scrapeTimeout bounds the queries of one metrics scrape.
const scrapeTimeout = 5 * time.Second

// recentWindow is the window of paygate_events_recent.
const recentWindow = 5 * time.Minute

// collector reports, at each scrape, what the database says about events,
// so that every instance reports the same figures: how many were ever
// written (the highest position: positions are given in commit order and
// never reused), how many of each type in the last five minutes, and how
// many committed events still wait for the sequencer (PostgreSQL).
type collector struct {
	s                          *Store
	written, recent, unseq, up *prometheus.Desc
}

// RegisterMetrics registers the events' metrics on reg.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(&collector{
		s: s,
		written: prometheus.NewDesc("paygate_events_written_total",
			"Events written so far (the highest position given; events get positions in commit order).", nil, nil),
		recent: prometheus.NewDesc("paygate_events_recent",
			"Events written in the last five minutes, by type.", []string{"type"}, nil),
		unseq: prometheus.NewDesc("paygate_events_unsequenced",
			"Committed events not yet given a position by the sequencer (PostgreSQL; always 0 on SQLite). Readers and deliveries see them once positioned.", nil, nil),
		up: prometheus.NewDesc("paygate_events_scrape_ok",
			"1 if the events' figures could be read from the database at this scrape, 0 if not.", nil, nil),
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.written
	ch <- c.recent
	ch <- c.unseq
	ch <- c.up
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var written, unseq int64
	var recent []struct {
		Type string `db:"type"`
		N    int64  `db:"n"`
	}
	err := c.s.DB.View(ctx, func(tx *storage.Tx) error {
		if err := tx.Get(ctx, &written, `SELECT COALESCE(MAX(position), 0) FROM events`); err != nil {
			return err
		}
		if err := tx.Get(ctx, &unseq, `SELECT COUNT(*) FROM events WHERE position IS NULL`); err != nil {
			return err
		}
		return tx.Select(ctx, &recent, `SELECT type, COUNT(*) AS n FROM events WHERE created_at >= ? GROUP BY type`, tx.Now().Add(-recentWindow))
	})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(written))
	ch <- prometheus.MustNewConstMetric(c.unseq, prometheus.GaugeValue, float64(unseq))
	seen := map[string]int64{}
	for _, r := range recent {
		seen[r.Type] = r.N
	}
	for _, t := range Types {
		ch <- prometheus.MustNewConstMetric(c.recent, prometheus.GaugeValue, float64(seen[string(t)]), string(t))
	}
}
