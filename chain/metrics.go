package chain

import (
	"context"
	"math"
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
		lag, err = sealingLag(ctx, tx, b.Cursor)
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

// SealingLag is the age in seconds of the oldest committed journal row not
// sealed yet, 0 when every row is sealed (the sealing lag metric).
func SealingLag(ctx context.Context, tx *storage.Tx) (float64, error) {
	b, err := last(ctx, tx)
	if err != nil {
		return 0, err
	}
	return sealingLag(ctx, tx, b.Cursor)
}

// sealingLag is the age in seconds of the oldest unsealed journal row: a
// row after the last block's cursors, or an event the sequencer has not
// positioned yet (PostgreSQL). The cursors' indexes keep this cheap.
func sealingLag(ctx context.Context, tx *storage.Tx, c Cursor) (float64, error) {
	d := tx.Dialect()
	lc, largs := keyRange(d, "t", c.LedgerXID, c.LedgerID, math.MaxInt64, math.MaxInt64)
	ac, aargs := keyRange(d, "t", c.AuditXID, c.AuditID, math.MaxInt64, math.MaxInt64)
	queries := []struct {
		q    string
		args []any
	}{
		{`SELECT t.created_at FROM ledger_transactions t WHERE ` + lc + ` ORDER BY ` + keyOrder(d, "t") + ` LIMIT 1`, largs},
		{`SELECT t.at FROM audit_log t WHERE ` + ac + ` ORDER BY ` + keyOrder(d, "t") + ` LIMIT 1`, aargs},
		{`SELECT created_at FROM events WHERE chain_position IS NULL AND position > ? ORDER BY position LIMIT 1`, []any{c.Events}},
	}
	if d == storage.Postgres {
		queries = append(queries, struct {
			q    string
			args []any
		}{`SELECT created_at FROM events WHERE position IS NULL ORDER BY written LIMIT 1`, nil})
	}
	lag := 0.0
	for _, q := range queries {
		var ts []time.Time
		if err := tx.Select(ctx, &ts, q.q, q.args...); err != nil {
			return 0, err
		}
		for _, t := range ts {
			if d := tx.Now().Sub(t).Seconds(); d > lag {
				lag = d
			}
		}
	}
	return lag, nil
}
