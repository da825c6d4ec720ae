package recon_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/stripe"
	"github.com/paygate/paygate/recon"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/webhooks"
)

var (
	linesFlag = flag.Int("recon.lines", 100000, "lines (and payments) of BenchmarkReconcile")
	limitFlag = flag.Int64("recon.memlimit", 150<<20, "soft memory limit of BenchmarkReconcile, as paygate recon sets it (0: none)")
)

// BenchmarkReconcile reconciles a generated Stripe report of N charge lines
// (each with a fee, so N fee postings) against a SQLite ledger of N paid
// attempts, streaming the report from a generator. It reports the run's
// seconds, lines/s and the peak heap in use, under the soft memory limit
// paygate recon sets (-recon.memlimit). For the size:
//
//	go test -run '^$' -bench Reconcile -benchtime 1x -timeout 30m ./recon -recon.lines 1000000
func BenchmarkReconcile(b *testing.B) {
	n := *linesFlag
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db, err := storage.Open(ctx, filepath.Join(b.TempDir(), "recon.db"), storage.Options{Migrations: []storage.Migrations{
			events.Migrations(), ledger.Migrations(), orders.Migrations(), checkout.Migrations(), idempotency.Migrations(),
			webhooks.Migrations(), finance.Migrations(), recon.Migrations(),
		}})
		if err != nil {
			b.Fatal(err)
		}
		seed(b, db, n)
		l := ledger.New(db)
		co, err := checkout.New(ctx, checkout.Config{DB: db, Ledger: l})
		if err != nil {
			b.Fatal(err)
		}
		sc, err := stripe.New(stripe.Config{SecretKey: "sk_test_recon_bench", BaseURL: "http://127.0.0.1:1", WebhookSecret: "whsec_x"})
		if err != nil {
			b.Fatal(err)
		}
		r := &recon.Reconciler{DB: db, Ledger: l, Checkout: co, Providers: map[string]providers.Provider{providers.Stripe: sc}, Logger: zerolog.Nop()}

		pr, pw := io.Pipe()
		go func() {
			fmt.Fprintln(pw, "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id")
			now := time.Now().UTC().Format("2006-01-02 15:04:05")
			for i := range n {
				fmt.Fprintf(pw, "txn_%d,%s,charge,10.00,0.45,9.55,eur,pi_b%d\n", i, now, i)
			}
			pw.Close()
		}()
		debug.FreeOSMemory() // the setup's garbage is not the run's memory
		if *limitFlag > 0 {
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(*limitFlag))
		}
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets the peak RSS (Linux)
		b.StartTimer()
		start := time.Now()
		rep, err := r.Run(ctx, providers.Stripe, pr)
		elapsed := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		matched := 0
		for _, t := range rep.Totals {
			if t.Status == recon.Matched {
				matched = t.Lines
			}
		}
		if matched != n || rep.Posted != n {
			b.Fatalf("matched %d, posted %d; want %d each (%+v)", matched, rep.Posted, n, rep.Totals)
		}
		b.ReportMetric(elapsed.Seconds(), "s/run")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "lines/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		if rss := peakRSS(); rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB") // the whole process: Go heap, SQLite's cache, code
		}
		db.Close()
	}
}

// seed inserts n paid payment orders with a succeeded Stripe attempt each,
// in bulk (the benchmark's setup, not what it measures).
func seed(b *testing.B, db *storage.DB, n int) {
	ctx := context.Background()
	const rows = 400
	for lo := 0; lo < n; lo += rows {
		hi := min(lo+rows, n)
		err := db.Update(ctx, func(tx *storage.Tx) error {
			var po, at strings.Builder
			var pargs, aargs []any
			for i := lo; i < hi; i++ {
				if i > lo {
					po.WriteString(", ")
					at.WriteString(", ")
				}
				po.WriteString("(?, 'U1', 'EUR', 1000, 'paid', '', ?, ?, ?, ?)")
				at.WriteString("(?, ?, 1, 'ideal', 'stripe', 1000, 'EUR', 'succeeded', ?, '{}', '', ?, ?)")
				num := fmt.Sprintf("P%08d", i)
				pargs = append(pargs, num, "att_b"+fmt.Sprint(i), tx.Now(), tx.Now(), tx.Now())
				aargs = append(aargs, "att_b"+fmt.Sprint(i), num, fmt.Sprintf("pi_b%d", i), tx.Now(), tx.Now())
			}
			if _, err := tx.Exec(ctx, `INSERT INTO payment_orders (number, buyer_id, currency, amount, status, return_url, paid_attempt, created_at, updated_at, expires_at) VALUES `+po.String(), pargs...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, payment_order, seq, method, provider, amount, currency, status, provider_ref, next_action, failure_reason, created_at, updated_at) VALUES `+at.String(), aargs...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// peakRSS returns the process's peak resident set size since the last reset
// (VmHWM in /proc/self/status), or 0 where it cannot be read.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
