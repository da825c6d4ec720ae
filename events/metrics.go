package events

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/storage"
)

// scrapeTimeout bounds the queries of one metrics scrape.
const scrapeTimeout = 5 * time.Second

// countStep bounds the positions one scrape counts by type: a new
// instance catches up with a large table over several scrapes.
const countStep = 100_000

// collector reports, at each scrape, what the database says about events,
// so that every instance reports the same figures: how many were ever
// written (the highest position: positions are given in commit order and
// never reused), how many of each type, and how many committed events
// still wait for the sequencer (PostgreSQL). The counts by type are kept
// here and brought up to date at each scrape from the events positioned
// since the last (an index range, not a scan of a window of the table,
// which under load holds hundreds of thousands of events).
type collector struct {
	s                          *Store
	written, byType, unseq, up *prometheus.Desc

	mu      sync.Mutex     // one scrape at a time updates the counts
	counted int64          // the events up to this position are in counts
	counts  map[Type]int64 // by type, of the events up to counted
}

// RegisterMetrics registers the events' metrics on reg.
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(&collector{
		s:      s,
		counts: map[Type]int64{},
		written: prometheus.NewDesc("paygate_events_written_total",
			"Events written so far (the highest position given; events get positions in commit order).", nil, nil),
		byType: prometheus.NewDesc("paygate_events_by_type_total",
			"Events written, by type: those in the events table when this instance first counted, and every one since (pruning does not lower it).", []string{"type"}, nil),
		unseq: prometheus.NewDesc("paygate_events_unsequenced",
			"Committed events not yet given a position by the sequencer (PostgreSQL; always 0 on SQLite). Readers and deliveries see them once positioned.", nil, nil),
		up: prometheus.NewDesc("paygate_events_scrape_ok",
			"1 if the events' figures could be read from the database at this scrape, 0 if not.", nil, nil),
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.written
	ch <- c.byType
	ch <- c.unseq
	ch <- c.up
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	var written, unseq, upTo int64
	var fresh []struct {
		Type string `db:"type"`
		N    int64  `db:"n"`
	}
	err := c.s.DB.View(ctx, func(tx *storage.Tx) error {
		if err := tx.Get(ctx, &written, `SELECT COALESCE(MAX(position), 0) FROM events`); err != nil {
			return err
		}
		// SQLite positions an event at insert (its key): none waits.
		if tx.Dialect() == storage.Postgres {
			if err := tx.Get(ctx, &unseq, `SELECT COUNT(*) FROM events WHERE position IS NULL`); err != nil {
				return err
			}
		}
		upTo = min(written, c.counted+countStep)
		return tx.Select(ctx, &fresh, `SELECT type, COUNT(*) AS n FROM events WHERE position > ? AND position <= ? GROUP BY type`,
			c.counted, upTo)
	})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	for _, r := range fresh {
		c.counts[Type(r.Type)] += r.N
	}
	c.counted = upTo
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(written))
	ch <- prometheus.MustNewConstMetric(c.unseq, prometheus.GaugeValue, float64(unseq))
	for _, t := range Types {
		ch <- prometheus.MustNewConstMetric(c.byType, prometheus.CounterValue, float64(c.counts[t]), string(t))
	}
}
