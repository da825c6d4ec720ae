package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestPostCommits: postCommits lists exactly the routes under the
// idempotency middleware (a POST without an Idempotency-Key is refused for
// the want of one), so that every one of them has its commit decided.
func TestPostCommits(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	vars := regexp.MustCompile(`\{[^}:]+(:[^}]*)?\}`)
	keyed := map[string]bool{}
	err := ta.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		methods, _ := route.GetMethods()
		if err != nil || !strings.HasPrefix(tpl, "/v1/") || !contains(methods, http.MethodPost) {
			return nil
		}
		path := vars.ReplaceAllStringFunc(tpl, func(v string) string {
			if strings.HasPrefix(v, "{action:") {
				return "deliver"
			}
			return "x"
		})
		for _, key := range []string{testAPIKey, testFinanceKey} {
			req, _ := http.NewRequest(http.MethodPost, ta.url+path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "missing Idempotency-Key") {
				keyed[tpl] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	commits := postCommits()
	var missing, extra []string
	for tpl := range keyed {
		if commits[tpl] == 0 {
			missing = append(missing, tpl)
		}
	}
	for tpl := range commits {
		if !keyed[tpl] {
			extra = append(extra, tpl)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 || len(keyed) == 0 {
		t.Errorf("postCommits: idempotent POST routes not listed: %q; listed routes that are not: %q (found %d)", missing, extra, len(keyed))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWriteTransactionsPerOrder counts the write transactions (committed
// Update calls, storage.Stats) of each step of one complete order, steps
// one after another: the one-transaction routes (create, deliver, confirm)
// commit once each, and no step commits more than claim-then-finish would.
// The counts are logged for BENCHMARKS.md.
func TestWriteTransactionsPerOrder(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			// Without the background workers (the hasher, the delivery
			// worker and the events sequencer, the keys' use), whose rounds
			// commit beside the requests and would be counted with them.
			ta := startAppQuiet(t, b, appConfig{})
			ta.createOrder(t, methodCases[1]) // count on a warm server
			step := func(name string, max int64, fn func()) int64 {
				t.Helper()
				before := ta.db.Stats()
				fn()
				n := ta.db.Stats().Updates - before.Updates
				t.Logf("%s: %d write transactions", name, n)
				if n < 1 || n > max {
					t.Errorf("%s: %d write transactions, want 1 to %d", name, n, max)
				}
				return n
			}
			var po orderJSON
			var a attemptJSON
			total := step("create payment order", 1, func() { po = ta.createOrder(t, methodCases[1]) })
			total += step("start attempt", 4, func() {
				ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": string(methodCases[1].method)}, &a)
			})
			total += step("approve and settle", 4, func() {
				ta.pay(t, po, a)
				ta.waitPaid(t, po.Number)
			})
			k := po.Items[0].Number
			total += step("deliver", 1, func() { ta.mustAct(t, k, "deliver", map[string]any{"user_id": "S1"}, "waiting_confirmation") })
			total += step("confirm", 1, func() { ta.mustAct(t, k, "confirm", map[string]any{"user_id": "U1"}, "completed") })
			t.Logf("complete order: %d write transactions", total)
		})
	}
}

// TestStatementsPerOrder counts the SQL statements (storage.Stats: every
// statement sent in a transaction, BEGIN and COMMIT included) and the round
// trips that sent them (on PostgreSQL the writes queued for the commit go
// with the COMMIT) of each step of one complete order, steps one
// after another on a warm server without the background workers, whose
// rounds would be counted with the steps. With -v it logs the counts for BENCHMARKS.md
// and, with PAYGATE_TRACE_SQL=1, each step's statements.
func TestStatementsPerOrder(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startAppQuiet(t, b, appConfig{})
			ta.createOrder(t, methodCases[1]) // count on a warm server
			trace := traceSQL(t, ta.db)
			var roundTrips int64
			step := func(name string, fn func()) int64 {
				t.Helper()
				trace.take() // what came before the step
				before := ta.db.Stats()
				fn()
				after := ta.db.Stats()
				n := after.Statements - before.Statements
				trips := after.RoundTrips - before.RoundTrips
				roundTrips += trips
				t.Logf("%s: %d statements (%d round trips) in %d write transactions", name, n, trips, after.Updates-before.Updates)
				for _, q := range trace.take() {
					t.Logf("    %.160s", q)
				}
				if n < 2 {
					t.Errorf("%s: %d statements, want at least a BEGIN and a COMMIT", name, n)
				}
				return n
			}
			var po orderJSON
			var a attemptJSON
			total := step("create payment order", func() { po = ta.createOrder(t, methodCases[1]) })
			total += step("start attempt", func() {
				ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": string(methodCases[1].method)}, &a)
			})
			total += step("approve and settle", func() {
				ta.pay(t, po, a)
				ta.waitPaid(t, po.Number)
			})
			k := po.Items[0].Number
			total += step("deliver", func() { ta.mustAct(t, k, "deliver", map[string]any{"user_id": "S1"}, "waiting_confirmation") })
			total += step("confirm", func() { ta.mustAct(t, k, "confirm", map[string]any{"user_id": "U1"}, "completed") })
			t.Logf("complete order: %d statements in %d round trips", total, roundTrips)
		})
	}
}

// sqlTrace keeps the statements a database sends, when PAYGATE_TRACE_SQL
// is set, for the counting tests to log under -v; otherwise nothing.
type sqlTrace struct {
	mu   sync.Mutex
	sent []string
}

// traceSQL starts keeping db's statements for the rest of the test.
func traceSQL(t *testing.T, db *storage.DB) *sqlTrace {
	tr := &sqlTrace{}
	if os.Getenv("PAYGATE_TRACE_SQL") == "" {
		return tr
	}
	db.Trace(func(q string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.sent = append(tr.sent, strings.Join(strings.Fields(q), " "))
	})
	t.Cleanup(func() { db.Trace(nil) })
	return tr
}

// take returns the statements kept since the last take, and forgets them.
func (tr *sqlTrace) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	sent := tr.sent
	tr.sent = nil
	return sent
}
