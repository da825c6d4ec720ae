package chain_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// BenchmarkVerify measures `paygate ledger verify` (every ledger check and
// the hash chain) and the chain check alone over a sealed ledger of
// PAYGATE_BENCH_TXS transactions (default 20,000; each a settlement into one
// of 1,000 escrows, 2 entries; see fill), and reports the transactions
// verified per second, the test process's CPU time, its peak Go heap and
// its peak RSS (sampled during verify). Run
// with
//
//	PAYGATE_BENCH_TXS=1000000 go test -run '^$' -bench Verify -benchtime 1x -timeout 30m ./chain
func BenchmarkVerify(b *testing.B) {
	n := 20000
	if v := os.Getenv("PAYGATE_BENCH_TXS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b, storage.Options{Migrations: service.Migrations()})
			ctx := context.Background()
			fill(b, db, n)
			for _, c := range []struct {
				name string
				run  func() error
			}{
				{"ledger-verify", func() error {
					r, err := service.Verify(ctx, db)
					if err == nil && !r.OK() {
						err = fmt.Errorf("verify found drift: %+v", r.Checks)
					}
					return err
				}},
				{"chain-only", func() error {
					return db.View(ctx, func(tx *storage.Tx) error {
						p, err := chain.Check().Run(ctx, tx)
						if err == nil && len(p) > 0 {
							err = fmt.Errorf("chain: %q", p)
						}
						return err
					})
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					peak := watchHeap()
					b.ResetTimer()
					start, cpu := time.Now(), cpuTime()
					for range b.N {
						if err := c.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "txs/s")
					b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
					heap, rss := peak()
					b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
					b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
				})
			}
		})
	}
}

// realTxs is how many of fill's transactions the ledger posts itself (one
// into each escrow); fill writes the rest directly in SQL.
const realTxs = 1000

// fill makes a sealed ledger of n settlements: the ledger posts the first
// realTxs (creating the accounts as it does), and the rest are written in
// SQL, many thousands of rows per statement, as the ledger writes them:
// transaction i moves 1000 + i%5000 cents from the Stripe clearing account
// (the shard the ledger used) into escrow K%07d of i%1000, with the
// ledger's fingerprint, running totals entry by entry and the accounts'
// cached totals. Then the hasher seals everything.
func fill(b *testing.B, db *storage.DB, n int) {
	b.Helper()
	ctx := context.Background()
	l := ledger.New(db)
	settle := func(i int) ledger.Transaction {
		return ledger.Transfer(fmt.Sprintf("payment:P%08d:settled", i), "payment settled",
			ledger.ProviderClearing("stripe"), ledger.Escrow(fmt.Sprintf("K%07d", i%1000)), paygate.New(int64(1000+i%5000), paygate.EUR))
	}
	ts := make([]ledger.Transaction, 0, realTxs)
	for i := range min(n, realTxs) {
		ts = append(ts, settle(i))
	}
	err := db.Update(ctx, func(tx *storage.Tx) error {
		rs, err := l.PostBatch(ctx, tx, ts)
		for _, r := range rs {
			if err == nil && r.Err != nil {
				err = r.Err
			}
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if n > realTxs {
		if err := db.Update(ctx, func(tx *storage.Tx) error { return bulkSettle(ctx, tx, realTxs, n) }); err != nil {
			b.Fatal(err)
		}
	}
	sealEverything(b, db, &chain.Hasher{DB: db, Batch: 50000})
}

// bulkSettle writes settlements from to n-1 (as fill describes) after the
// ones the ledger posted.
func bulkSettle(ctx context.Context, tx *storage.Tx, from, n int) error {
	// The fingerprint depends on the escrow and the amount only, which
	// i%5000 fixes: 5000 of them, computed as the ledger does.
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE bench_fp (r BIGINT PRIMARY KEY, fp TEXT NOT NULL)`); err != nil {
		return err
	}
	const kinds = 5000
	for lo := 0; lo < kinds; lo += 1000 {
		args := make([]any, 0, 2000)
		for r := lo; r < lo+1000; r++ {
			sum := sha256.Sum256([]byte(fmt.Sprintf("%s|EUR|C|%d\n%s|EUR|D|%d",
				ledger.Escrow(fmt.Sprintf("K%07d", r%1000)), 1000+r, ledger.ProviderClearing("stripe"), 1000+r)))
			args = append(args, r, hex.EncodeToString(sum[:]))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bench_fp (r, fp) VALUES `+storage.Rows(1000, 2), args...); err != nil {
			return err
		}
	}
	var clearing, shard, txBase, entryBase int64
	if err := tx.QueryRow(ctx, `SELECT e.account_id, e.shard FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE a.name = ? ORDER BY e.id DESC LIMIT 1`, ledger.ProviderClearing("stripe")).Scan(&clearing, &shard); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT (SELECT MAX(id) FROM ledger_transactions), (SELECT MAX(id) FROM ledger_entries)`).Scan(&txBase, &entryBase); err != nil {
		return err
	}
	series := `WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s`
	override := ""
	if tx.Dialect() == storage.Postgres {
		series = `SELECT generate_series(?::bigint, ?::bigint) AS i`
		override = " OVERRIDING SYSTEM VALUE"
	}
	// Transaction i has id txBase+i-from+1 and entries 2(i-from)+1 (the
	// clearing's debit) and 2(i-from)+2 (the escrow's credit) past
	// entryBase.
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, description, created_at)`+override+`
		SELECT ? + s.i - ? + 1, 'payment:P' || SUBSTR(CAST(100000000 + s.i AS TEXT), 2) || ':settled', f.fp, 'payment settled', ?
		FROM (`+series+`) s JOIN bench_fp f ON f.r = s.i % 5000`, txBase, from, tx.Now(), from, n-1); err != nil {
		return fmt.Errorf("bulk transactions: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (id, transaction_id, account_id, shard, side, amount, account_debits, account_credits)`+override+`
		SELECT ? + 2 * (s.i - ?) + 1, ? + s.i - ? + 1, ?, ?, 'D', 1000 + s.i % 5000,
			c.debits + SUM(1000 + s.i % 5000) OVER (ORDER BY s.i), c.credits
		FROM (`+series+`) s, ledger_account_shards c WHERE c.account_id = ? AND c.shard = ?`,
		entryBase, from, txBase, from, clearing, shard, from, n-1, clearing, shard); err != nil {
		return fmt.Errorf("bulk clearing entries: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (id, transaction_id, account_id, shard, side, amount, account_debits, account_credits)`+override+`
		SELECT ? + 2 * (s.i - ?) + 2, ? + s.i - ? + 1, a.id, 0, 'C', 1000 + s.i % 5000,
			a.debits, a.credits + SUM(1000 + s.i % 5000) OVER (PARTITION BY a.id ORDER BY s.i)
		FROM (`+series+`) s JOIN ledger_accounts a ON a.name = 'escrow:K' || SUBSTR(CAST(10000000 + s.i % 1000 AS TEXT), 2) AND a.currency = 'EUR'`,
		entryBase, from, txBase, from, from, n-1); err != nil {
		return fmt.Errorf("bulk escrow entries: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_account_shards SET debits = (SELECT MAX(account_debits) FROM ledger_entries
		WHERE account_id = ? AND shard = ?) WHERE account_id = ? AND shard = ?`, clearing, shard, clearing, shard); err != nil {
		return fmt.Errorf("bulk clearing totals: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_accounts SET credits = (SELECT MAX(e.account_credits) FROM ledger_entries e
		WHERE e.account_id = ledger_accounts.id) WHERE name LIKE 'escrow:K%'`); err != nil {
		return fmt.Errorf("bulk escrow totals: %w", err)
	}
	if tx.Dialect() == storage.Postgres {
		// The planner's statistics, as autovacuum would gather them.
		for _, t := range []string{"ledger_transactions", "ledger_entries", "ledger_accounts"} {
			if _, err := tx.Exec(ctx, `ANALYZE `+t); err != nil {
				return err
			}
		}
		// The identities go on after the rows written past them.
		for _, t := range []string{"ledger_transactions", "ledger_entries"} {
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), (SELECT MAX(id) FROM `+t+`))`); err != nil {
				return err
			}
		}
	}
	_, err := tx.Exec(ctx, `DROP TABLE bench_fp`)
	return err
}

// watchHeap samples the Go heap and the process's resident memory until
// the returned function is called, which returns the largest HeapInuse and
// RSS seen (RSS 0 where /proc/self/statm is missing).
func watchHeap() func() (heap, rss uint64) {
	runtime.GC()
	var mu sync.Mutex
	var peakHeap, peakRSS uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			r := residentBytes()
			mu.Lock()
			peakHeap, peakRSS = max(peakHeap, m.HeapInuse), max(peakRSS, r)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peakHeap, peakRSS
	}
}

// cpuTime is the user and system CPU time this process has used (on
// SQLite, the database's work too; on PostgreSQL not the server's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes is the process's resident set from /proc/self/statm (0 if
// it cannot be read).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
