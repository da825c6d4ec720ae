package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// result is a run's report.
type result struct {
	RunID       string   `json:"run_id"`
	URL         string   `json:"url"`
	Methods     []string `json:"methods"`
	Concurrency int      `json:"concurrency"`
	Items       int      `json:"items_per_order"`
	Started     string   `json:"started"`
	Seconds     float64  `json:"seconds"`
	Interrupted bool     `json:"interrupted,omitempty"`
	Orders      struct {
		Started   int64 `json:"started"`
		Completed int64 `json:"completed"`
		Failed    int64 `json:"failed"`
	} `json:"orders"`
	CompletedPerSec float64        `json:"completed_orders_per_second"`
	SettlePolls     float64        `json:"settle_polls_per_order"`
	Steps           []stepResult   `json:"steps"`
	ByMethod        []methodResult `json:"by_method"`
	Errors          int64          `json:"errors"`
	FirstErrors     []string       `json:"first_errors,omitempty"`
	Memory          *memoryResult  `json:"memory"`
	Check           checkResult    `json:"check"`
	Verify          verifyResult   `json:"verify"`
	OK              bool           `json:"ok"`
}

// stepResult is one step's figures; latencies in milliseconds.
type stepResult struct {
	Step    string  `json:"step"`
	Count   uint64  `json:"count"`
	Errors  int64   `json:"errors"`
	Retries int64   `json:"retries"`
	PerSec  float64 `json:"per_second"`
	Mean    float64 `json:"mean_ms"`
	P50     float64 `json:"p50_ms"`
	P95     float64 `json:"p95_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// methodResult is one method's orders and its slowest steps.
type methodResult struct {
	Method    string  `json:"method"`
	Completed uint64  `json:"completed"`
	OrderP50  float64 `json:"order_p50_ms"`
	OrderP99  float64 `json:"order_p99_ms"`
	ApproveP9 float64 `json:"approve_p99_ms"`
	SettleP99 float64 `json:"settle_p99_ms"`
	Errors    int64   `json:"errors"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newStepResult(st step, t stepTotals, elapsed time.Duration) stepResult {
	return stepResult{Step: st.String(), Count: t.hist.n, Errors: t.errors, Retries: t.retries,
		PerSec: float64(t.hist.n) / elapsed.Seconds(), Mean: ms(t.hist.mean()),
		P50: ms(t.hist.quantile(.50)), P95: ms(t.hist.quantile(.95)), P99: ms(t.hist.quantile(.99)), Max: ms(t.hist.max())}
}

// result gathers the load's figures (not yet the checks).
func (b *bench) result(started time.Time, elapsed time.Duration) *result {
	r := &result{RunID: b.cfg.runID, URL: b.cfg.url, Concurrency: b.cfg.concurrency, Items: b.cfg.items,
		Started: started.UTC().Format(time.RFC3339), Seconds: elapsed.Seconds()}
	for _, mi := range b.cfg.methods {
		r.Methods = append(r.Methods, string(mi.Method))
	}
	r.Orders.Started, r.Orders.Completed, r.Orders.Failed = b.stats.started.Load(), b.stats.completed.Load(), b.stats.failed.Load()
	r.CompletedPerSec = float64(r.Orders.Completed) / elapsed.Seconds()
	if r.Orders.Started > 0 {
		r.SettlePolls = float64(b.stats.polls.Load()) / float64(r.Orders.Started)
	}
	all := func(int) bool { return true }
	for st := range numSteps {
		t := b.stats.totals(st, all)
		if t.hist.n == 0 && t.errors == 0 {
			continue // the return page, when no method redirects
		}
		r.Steps = append(r.Steps, newStepResult(st, t, elapsed))
	}
	for m, mi := range b.cfg.methods {
		one := func(i int) bool { return i == m }
		order, approve, settle := b.stats.totals(stepOrder, one), b.stats.totals(stepApprove, one), b.stats.totals(stepSettle, one)
		var errs int64
		for st := range numSteps {
			errs += b.stats.totals(st, one).errors
		}
		r.ByMethod = append(r.ByMethod, methodResult{Method: string(mi.Method), Completed: order.hist.n,
			OrderP50: ms(order.hist.quantile(.5)), OrderP99: ms(order.hist.quantile(.99)),
			ApproveP9: ms(approve.hist.quantile(.99)), SettleP99: ms(settle.hist.quantile(.99)), Errors: errs})
	}
	r.Errors, r.FirstErrors = b.stats.errors()
	return r
}

// write prints the report for a person.
func (r *result) write(w io.Writer) {
	fmt.Fprintf(w, "paybench %s against %s: %s, concurrency %d, %d item(s) per order\n",
		r.RunID, r.URL, strings.Join(r.Methods, ","), r.Concurrency, r.Items)
	fmt.Fprintf(w, "ran %.1fs%s: %d orders started, %d completed, %d failed — %.1f complete orders/s\n\n",
		r.Seconds, map[bool]string{true: " (interrupted)"}[r.Interrupted], r.Orders.Started, r.Orders.Completed, r.Orders.Failed, r.CompletedPerSec)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tcount\terrors\tretries\t/s\tmean ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			s.Step, s.Count, s.Errors, s.Retries, s.PerSec, s.Mean, s.P50, s.P95, s.P99, s.Max)
	}
	tw.Flush()
	fmt.Fprintf(w, "(settle wait: %.2f GETs of the payment order per order)\n\n", r.SettlePolls)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tcompleted\terrors\torder p50 ms\torder p99 ms\tapprove p99 ms\tsettle p99 ms\t")
	for _, m := range r.ByMethod {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", m.Method, m.Completed, m.Errors, m.OrderP50, m.OrderP99, m.ApproveP9, m.SettleP99)
	}
	tw.Flush()

	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\nserver memory (%s, %d samples every %gs):", m.Source, m.Samples, m.Every)
		if m.Samples == 0 {
			fmt.Fprintf(w, " none: %s\n", m.Error)
		} else {
			fmt.Fprintln(w)
			fmt.Fprintf(w, "  first, at a quarter of the run, last, max\n")
			fmt.Fprintf(w, "  rss          %s  %s  %s  %s\n", mib(m.RSS.First), mib(m.RSS.Quarter), mib(m.RSS.Last), mib(m.RSS.Max))
			if m.HeapInuse != nil && m.HeapInuse.n > 0 {
				fmt.Fprintf(w, "  heap in use  %s  %s  %s  %s\n", mib(m.HeapInuse.First), mib(m.HeapInuse.Quarter), mib(m.HeapInuse.Last), mib(m.HeapInuse.Max))
			}
			if m.Goroutines != nil && m.Goroutines.n > 0 {
				fmt.Fprintf(w, "  goroutines   %.0f  %.0f  %.0f  %.0f\n", m.Goroutines.First, m.Goroutines.Quarter, m.Goroutines.Last, m.Goroutines.Max)
			}
			if m.SealingLag != nil && m.SealingLag.n > 0 {
				fmt.Fprintf(w, "  sealing lag  %.2fs  %.2fs  %.2fs  %.2fs\n", m.SealingLag.First, m.SealingLag.Quarter, m.SealingLag.Last, m.SealingLag.Max)
			}
			if q := m.RateByQuarter; len(q) == 4 {
				fmt.Fprintf(w, "complete orders/s by quarter of the run: %.1f  %.1f  %.1f  %.1f\n", q[0], q[1], q[2], q[3])
			}
		}
	}

	if len(r.FirstErrors) > 0 {
		fmt.Fprintf(w, "\n%d failed step(s); the first:\n", r.Errors)
		for _, e := range r.FirstErrors {
			fmt.Fprintf(w, "  - %s\n", e)
		}
	}

	c := r.Check
	fmt.Fprintf(w, "\ncheck through the API: %d of %d completed orders read back, %d sellers, %d buyers: ",
		c.OrdersChecked, c.Orders, c.Sellers, c.Buyers)
	if c.OK() {
		fmt.Fprintln(w, "OK")
	} else {
		fmt.Fprintf(w, "%d WRONG\n", c.Wrong)
		for _, p := range c.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	switch v := r.Verify; {
	case !v.Ran:
		fmt.Fprintln(w, "ledger verify: skipped (-no-verify)")
	case v.Error != "":
		fmt.Fprintf(w, "ledger verify: could not run: %s\n", v.Error)
	default:
		io.WriteString(w, v.Report)
	}
	if r.OK {
		fmt.Fprintln(w, "\nRESULT: OK")
	} else {
		fmt.Fprintln(w, "\nRESULT: FAILED")
	}
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
