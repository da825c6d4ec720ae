package main

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate"
)

// bench is one run.
type bench struct {
	cfg    config
	client *client
	stats  *stats
	done   *completed
}

func newBench(cfg config) *bench {
	return &bench{cfg: cfg, client: newClient(cfg), stats: newStats(len(cfg.methods)), done: newCompleted(cfg)}
}

// load runs the workers until the run's orders are started or its
// duration has passed or ctx is done, lets the orders in flight finish,
// and returns how long that took. progress, if not nil, is drawn on while
// it runs.
func (b *bench) load(ctx context.Context, progress io.Writer) time.Duration {
	start := time.Now()
	var deadline time.Time
	if b.cfg.duration > 0 {
		deadline = start.Add(b.cfg.duration)
	}
	var next atomic.Int64
	// Orders in flight finish even when ctx ends, so that they can be
	// checked: each request has its own timeout.
	flight := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range b.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
				i := next.Add(1) - 1
				if b.cfg.orders > 0 && i >= b.cfg.orders {
					return
				}
				b.stats.started.Add(1)
				if err := b.runOrder(flight, b.planOrder(i)); err != nil {
					b.stats.failed.Add(1)
					continue
				}
				b.stats.completed.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	var bar sync.WaitGroup
	if progress != nil {
		bar.Add(1)
		go func() {
			defer bar.Done()
			b.progress(progress, start, stop)
		}()
	}
	wg.Wait()
	close(stop)
	bar.Wait()
	return time.Since(start)
}

// doneOrder is a completed order as the final check reads it back.
type doneOrder struct {
	number  string
	buyer   string
	method  int
	sales   []string
	amounts []paygate.Money
}

// completed keeps what the final check needs of the completed orders: a
// uniform sample of them (reservoir sampling, so memory stays bounded in a
// soak) and what each seller and buyer of the run should hold.
type completed struct {
	cfg     config
	mu      sync.Mutex
	n       int64
	sample  []doneOrder
	rng     *rand.Rand
	credits map[string]map[paygate.Currency]int64 // seller → currency → minor units
	buyers  map[string]bool
}

func newCompleted(cfg config) *completed {
	return &completed{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 0x5eed)),
		credits: map[string]map[paygate.Currency]int64{}, buyers: map[string]bool{}}
}

// add records a completed order (ks: its sales orders, in the plan's
// order): its sellers' earnings less the commission, as the server
// computes it, and maybe the order itself.
func (c *completed) add(b *bench, p plan, number string, ks []string) {
	o := doneOrder{number: number, buyer: b.buyerID(p.buyer), method: p.method, sales: ks}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buyers[o.buyer] = true
	for _, it := range p.items {
		seller := b.sellerID(it.seller)
		if c.credits[seller] == nil {
			c.credits[seller] = map[paygate.Currency]int64{}
		}
		c.credits[seller][it.amount.Currency] += it.amount.Minor - it.amount.Minor*c.cfg.commission/10000
		o.amounts = append(o.amounts, it.amount)
	}
	c.n++
	switch {
	case len(c.sample) < c.cfg.checkSample:
		c.sample = append(c.sample, o)
	case c.cfg.checkSample > 0:
		if j := c.rng.Int64N(c.n); j < int64(c.cfg.checkSample) {
			c.sample[j] = o
		}
	}
}
