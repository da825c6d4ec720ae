package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/redact/redacttest"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// paygateBinary is the paygate binary, built once for the tests that run
// paybench against a real server.
var paygateBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paybench-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	paygateBinary = filepath.Join(dir, "paygate")
	if out, err := exec.Command("go", "build", "-o", paygateBinary, "../paygate").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ../paygate: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running "paygate serve" in sandbox mode.
type server struct {
	url  string
	mu   sync.Mutex
	tail []string // the last log lines, for failures
}

// startServer runs "paygate serve" on dsn on a free port until the test
// ends.
func startServer(t *testing.T, dsn string) *server {
	t.Helper()
	return startPaygate(t, nil, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--log-level", "info")
}

// startPaygate runs the paygate binary with args (serve, or sandbox serve)
// and env added, until the test ends, and waits until it listens.
func startPaygate(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(paygateBinary, args...)
	// The checkout pages' per-address limit is off, as the load test of
	// docs/operations.md runs it: every return page comes from 127.0.0.1.
	// The other limits keep their defaults.
	cmd.Env = append(append(os.Environ(), "PAYGATE_ADDR=", "PAYGATE_DB=", "PAYGATE_PUBLIC_URL=", "PAYGATE_MODE=",
		"PAYGATE_API_KEY=", "PAYGATE_FINANCE_KEY=", "PAYGATE_COMMISSION_BPS=250", "PAYGATE_RATE_LIMIT_CHECKOUT=off"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{}
	listening := make(chan string, 1)
	exited := make(chan error, 1)
	logs := redacttest.Tee(t, stderr)
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				listening <- line.Addr
			}
			s.mu.Lock()
			if s.tail = append(s.tail, sc.Text()); len(s.tail) > 40 {
				s.tail = s.tail[1:]
			}
			s.mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	select {
	case addr := <-listening:
		s.url = "http://" + addr
	case err := <-exited:
		t.Fatalf("paygate %s exited before listening: %v\n%s", args[0], err, s.logTail())
	case <-time.After(30 * time.Second):
		t.Fatalf("paygate %s did not listen within 30s", args[0])
	}
	return s
}

// setFaults sets the webhook faults of a provider's simulator.
func (s *server) setFaults(t *testing.T, provider, faults string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.url+"/sandbox/faults/"+provider, strings.NewReader(faults))
	req.Header.Set("Authorization", "Bearer sandbox-marketplace-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /sandbox/faults/%s = %d", provider, resp.StatusCode)
	}
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// bench runs paybench against the server and decodes its JSON report.
func (s *server) bench(t *testing.T, dsn string, args ...string) (int, result, string) {
	t.Helper()
	args = append([]string{"-url", s.url, "-db", dsn, "-json", "-commission-bps", "250", "-sample-every", "250ms"}, args...)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, func(string) string { return "" }, &stdout, &stderr)
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("paybench %s = %d, report is not JSON: %v\nstdout:\n%s\nstderr:\n%s\nserver log:\n%s",
			strings.Join(args, " "), code, err, stdout.String(), stderr.String(), s.logTail())
	}
	return code, res, stdout.String() + stderr.String()
}

// TestRunAgainstSandbox runs a small load with every method against a real
// sandbox server on each backend, then shows that the run fails when the
// money is wrong: a balanced but wrong ledger transaction that only the
// check of the sellers' balances can see, a sales order set back to an
// earlier state, which only ledger verify can see, and lost webhooks, which
// leave orders unpaid.
func TestRunAgainstSandbox(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			srv := startServer(t, dsn)

			code, res, out := srv.bench(t, dsn, "-orders", "30", "-concurrency", "4", "-items", "2", "-run-id", "ok1")
			if code != exitOK || !res.OK {
				t.Fatalf("clean run = %d, ok %v:\n%s\nserver log:\n%s", code, res.OK, out, srv.logTail())
			}
			if res.Orders.Started != 30 || res.Orders.Completed != 30 || res.Orders.Failed != 0 || res.Errors != 0 {
				t.Errorf("orders = %+v with %d errors, want 30 completed", res.Orders, res.Errors)
			}
			for _, m := range res.ByMethod {
				if m.Completed != 6 || m.Errors != 0 {
					t.Errorf("method %s: %d completed, %d errors; want 6 and 0", m.Method, m.Completed, m.Errors)
				}
			}
			if len(res.ByMethod) != 5 {
				t.Errorf("methods = %+v, want all five", res.ByMethod)
			}
			want := map[string]uint64{"create": 30, "attempt": 30, "approve": 30, "return page": 18, "settle wait": 30,
				"deliver": 60, "confirm": 60, "whole order": 30}
			for _, s := range res.Steps {
				if s.Count != want[s.Step] || s.Errors != 0 || s.P99 <= 0 || s.P50 > s.P99 || s.P99 > s.Max {
					t.Errorf("step %+v, want %d without errors and ordered quantiles", s, want[s.Step])
				}
				delete(want, s.Step)
			}
			if len(want) != 0 {
				t.Errorf("steps missing from the report: %v", want)
			}
			if c := res.Check; c.OrdersChecked != 30 || c.Wrong != 0 || c.NewFailedEvents != 0 || c.NewFinanceItems != 0 {
				t.Errorf("check = %+v", c)
			}
			if v := res.Verify; !v.Ran || !v.OK || v.Transactions == 0 {
				t.Errorf("verify = %+v", v)
			}
			if m := res.Memory; m == nil || m.Samples == 0 || m.RSS.Max <= 0 {
				t.Errorf("memory = %+v, want samples of the server's RSS", m)
			}

			ctx := context.Background()
			db, err := service.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			// A stray but balanced transaction credits a seller of the next
			// run: ledger verify cannot tell, the sellers' balances can.
			seller := "pb-bad1-s0"
			err = db.Update(ctx, func(tx *storage.Tx) error {
				_, err := ledger.New(db).Post(ctx, tx, ledger.Transfer("paybench-test:stray", "a stray credit",
					"provider:stripe:clearing", ledger.UserBalance(seller), paygate.New(1000, paygate.EUR)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			code, res, out = srv.bench(t, dsn, "-orders", "5", "-concurrency", "2", "-sellers", "1", "-run-id", "bad1")
			if code != exitFailed || res.OK || res.Check.OK() || !res.Verify.OK || !strings.Contains(strings.Join(res.Check.Problems, "\n"), seller) {
				t.Fatalf("run after a stray credit to %s = %d, ok %v, check %+v, verify ok %v; want a failed check of %s:\n%s",
					seller, code, res.OK, res.Check, res.Verify.OK, seller, out)
			}

			// A completed sales order of the first run set back to
			// waiting_confirmation: its escrow is empty, which verify sees.
			var k string
			err = db.Update(ctx, func(tx *storage.Tx) error {
				if err := tx.Get(ctx, &k, `SELECT number FROM sales_orders WHERE seller_id LIKE 'pb-ok1-%' AND status = 'completed' ORDER BY number LIMIT 1`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE sales_orders SET status = 'waiting_confirmation' WHERE number = ?`, k)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			code, res, out = srv.bench(t, dsn, "-orders", "5", "-concurrency", "2", "-run-id", "bad2")
			if code != exitFailed || res.OK || !res.Check.OK() || res.Verify.OK || !strings.Contains(strings.Join(res.Verify.Problems, "\n"), k) {
				t.Fatalf("run after setting %s back = %d, ok %v, check ok %v, verify %+v; want drift of %s:\n%s",
					k, code, res.OK, res.Check.OK(), res.Verify, k, out)
			}

			// Stripe's webhooks are lost: the orders are approved but never
			// paid, and the run fails at the settle wait.
			srv.setFaults(t, "stripe", `{"drop": 1000}`)
			code, res, out = srv.bench(t, dsn, "-orders", "2", "-concurrency", "2", "-methods", "ideal", "-settle-timeout", "300ms", "-run-id", "lost")
			settle := stepResult{}
			for _, s := range res.Steps {
				if s.Step == "settle wait" {
					settle = s
				}
			}
			if code != exitFailed || res.OK || res.Orders.Failed != 2 || settle.Errors != 2 || len(res.FirstErrors) == 0 {
				t.Fatalf("run with lost webhooks = %d, ok %v, orders %+v, settle %+v; want 2 orders failed at the settle wait:\n%s",
					code, res.OK, res.Orders, settle, out)
			}
		})
	}
}

// TestRunAgainstRemoteSimulators runs paybench against the server measured
// alone (docs/operations.md, "Load test"): the simulators in a `paygate sandbox serve`
// of their own, the sandbox server pointed at them. Every method completes
// and every check passes; the faults set through the server's control API
// reach the remote simulator, whose lost webhooks fail the run.
func TestRunAgainstRemoteSimulators(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "bench.db")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gateway := ln.Addr().String()
	ln.Close()
	secrets := []string{"PAYGATE_MODE=sandbox", "STRIPE_SECRET_KEY=sk_test_paybench", "STRIPE_WEBHOOK_SECRET=whsec_paybench_0123456789abcdef",
		"RAPYD_ACCESS_KEY=rak_paybench", "RAPYD_SECRET_KEY=rsk_paybench_0123456789abcdef"}
	sims := startPaygate(t, append(secrets, "PAYGATE_PUBLIC_URL=http://"+gateway), "sandbox", "serve", "--addr", "127.0.0.1:0")
	srv := startPaygate(t, append(secrets, "STRIPE_API_URL="+sims.url+"/sandbox/stripe", "RAPYD_API_URL="+sims.url+"/sandbox/rapyd",
		"PAYGATE_API_KEY=sandbox-marketplace-key", "PAYGATE_FINANCE_KEY=sandbox-finance-key"),
		"serve", "--addr", gateway, "--db", dsn, "--log-level", "info")

	code, res, out := srv.bench(t, dsn, "-orders", "20", "-concurrency", "4", "-run-id", "remote")
	if code != exitOK || !res.OK || res.Orders.Completed != 20 || len(res.ByMethod) != 5 {
		t.Fatalf("run against remote simulators = %d, ok %v, orders %+v:\n%s\nserver log:\n%s\nsimulators' log:\n%s",
			code, res.OK, res.Orders, out, srv.logTail(), sims.logTail())
	}

	srv.setFaults(t, "rapyd", `{"drop": 1000}`)
	code, res, out = srv.bench(t, dsn, "-orders", "2", "-concurrency", "2", "-methods", "kakaopay", "-settle-timeout", "300ms", "-run-id", "lost")
	if code != exitFailed || res.OK || res.Orders.Failed != 2 {
		t.Fatalf("run with the remote's webhooks lost = %d, ok %v, orders %+v; want 2 orders failed:\n%s", code, res.OK, res.Orders, out)
	}
}
