package chain

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/storage"
)

// scrapeTimeout bounds the queries of one metrics scrape.
const scrapeTimeout = 5 * time.Second

// collector reports, at each scrape, what the database says about the
// chain, so that every instance reports the same figures: the blocks sealed
// (the last block's number), the rows sealed, and the sealing lag, the age
// of the oldest committed journal row not sealed yet (0 when all are).
type collector struct {
	db                    *storage.DB
	blocks, rows, lag, up *prometheus.Desc
}

// RegisterMetrics registers the chain's metrics on reg.
func RegisterMetrics(reg prometheus.Registerer, db *storage.DB) error {
	return reg.Register(&collector{
		db: db,
		blocks: prometheus.NewDesc("paygate_chain_blocks_sealed_total",
			"Blocks of the journal's hash chain sealed so far (the last block's number).", nil, nil),
		rows: prometheus.NewDesc("paygate_chain_rows_sealed_total",
			"Journal rows (ledger transactions, audit entries, events) sealed into the hash chain so far.", nil, nil),
		lag: prometheus.NewDesc("paygate_chain_sealing_lag_seconds",
			"Age of the oldest committed journal row the hasher has not sealed yet (0 when every row is sealed).", nil, nil),
		up: prometheus.NewDesc("paygate_chain_scrape_ok",
			"1 if the chain's figures could be read from the database at this scrape, 0 if not.", nil, nil),
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.blocks
	ch <- c.rows
	ch <- c.lag
	ch <- c.up
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var b Block
	var lag float64
	err := c.db.View(ctx, func(tx *storage.Tx) error {
		var err error
		if b, err = last(ctx, tx); err != nil {
			return err
		}
		lag, err = sealingLag(ctx, tx)
		return err
	})
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.blocks, prometheus.CounterValue, float64(b.Number))
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.CounterValue, float64(b.LastPosition))
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}

// sealingLag is the age in seconds of the oldest unsealed journal row (the
// partial indexes on chain_position IS NULL keep this cheap).
func sealingLag(ctx context.Context, tx *storage.Tx) (float64, error) {
	var oldest []time.Time
	for _, q := range []string{
		`SELECT created_at FROM ledger_transactions WHERE chain_position IS NULL ORDER BY id LIMIT 1`,
		`SELECT at FROM audit_log WHERE chain_position IS NULL ORDER BY id LIMIT 1`,
		`SELECT created_at FROM events WHERE chain_position IS NULL ORDER BY created_at LIMIT 1`,
	} {
		var ts []time.Time
		if err := tx.Select(ctx, &ts, q); err != nil {
			return 0, err
		}
		oldest = append(oldest, ts...)
	}
	lag := 0.0
	for _, t := range oldest {
		if d := tx.Now().Sub(t).Seconds(); d > lag {
			lag = d
		}
	}
	return lag, nil
}
