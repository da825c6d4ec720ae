package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// multiLease is the webhook lease the processes of TestSeveralInstances
// hold: short, so that the test waits little for a dead holder's events.
const multiLease = 2 * time.Second

// TestSeveralInstances is issue 7's multi-instance test: three `paygate
// serve` processes on one PostgreSQL database, as behind a load balancer.
//
//  1. Webhooks: every signed event of every order is sent to all three
//     instances at once (so the same event races itself across processes),
//     and one instance is killed with SIGKILL halfway through. The provider
//     redelivers what no instance acknowledged. Every order must be paid
//     exactly once, every event stored once and processed, and the ledger
//     must verify.
//  2. Worker leases: `paygate webhooks replay` makes every event pending
//     again and is killed while it holds claimed events. The two surviving
//     instances' workers apply the rest at once and the dead process's
//     claims once its lease has run out: nothing stays pending, nothing is
//     applied twice.
//  3. Timers: three `paygate sweep` processes at once, 73 hours on: every
//     undelivered sales order is refunded to its buyer exactly once.
func TestSeveralInstances(t *testing.T) {
	var dsn string
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			dsn = b.DSN(t)
		}
	}
	if dsn == "" {
		t.Skipf("several instances share a PostgreSQL database; set %s", storagetest.EnvPostgres)
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	n := 300
	if testing.Short() {
		n = 60
	}
	h := &crashHarness{
		t: t, dsn: dsn, seed: seed,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x6d756c7469)),
		warnings: map[string]int{},
		client:   &http.Client{Timeout: crashRequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: crashSenders * 2}},
		env:      []string{"PAYGATE_WEBHOOK_LEASE=" + multiLease.String()},
	}
	t.Logf("seed %d; %d orders", seed, n)
	began := time.Now()
	srvs := []*crashServer{h.start(), h.start(), h.start()}
	h.srv = srvs[0]
	h.setup(n)
	h.buildEvents()

	// 1. Every event to every instance; instance 1 dies halfway.
	h.deliverToAll(srvs, 1)
	h.srv = srvs[0]
	h.deliverAll()
	h.awaitSettled()
	h.checkAPI()
	h.report(h.load().problems(h, true), "after delivering every event to every instance")
	s := h.stats
	t.Logf("webhooks: %d orders, %d events sent to 3 instances, instance 1 killed halfway: %d deliveries, %d acks, %d unanswered, %d 5xx; every order paid once",
		len(h.orders), len(h.events), s.deliveries, s.acks, s.failed, s.errors5xx)

	// 2. A process that dies holding leases.
	held, drained := h.replayAndKill(began)
	t.Logf("leases: replay killed holding %d claimed events; the surviving instances applied every event %s after the kill (lease %s)",
		held, drained.Round(10*time.Millisecond), multiLease)
	h.report(h.load().problems(h, true), "after the killed replay")

	// 3. Three sweeps at once.
	h.sweepConcurrently(3)
	for _, s := range srvs {
		if s != srvs[1] {
			s.stop(t)
		}
	}
	if out, code := runVerify(t, h.dsn); code != exitOK {
		t.Fatalf("paygate ledger verify = exit %d, want 0\n%s", code, out)
	}
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// deliverToAll sends every event to every server, each (event, server)
// pair once in random order from crashSenders goroutines, and kills
// servers[victim] once half of the pairs are sent.
func (h *crashHarness) deliverToAll(servers []*crashServer, victim int) {
	type pair struct{ event, server int }
	var pairs []pair
	for i := range h.events {
		for k := range servers {
			pairs = append(pairs, pair{i, k})
		}
	}
	h.rng.Shuffle(len(pairs), func(a, b int) { pairs[a], pairs[b] = pairs[b], pairs[a] })
	work := make(chan pair)
	halfway := make(chan struct{})
	go func() {
		defer close(work)
		for i, p := range pairs {
			if i == len(pairs)/2 {
				close(halfway)
			}
			work <- p
		}
	}()
	var wg sync.WaitGroup
	for range crashSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				h.deliver(servers[p.server].url(), p.event)
			}
		}()
	}
	<-halfway
	servers[victim].kill(h.t)
	wg.Wait()
	h.client.CloseIdleConnections()
	h.failOnRefused()
}

// replayAndKill runs `paygate webhooks replay --since` on the database,
// which makes every event pending and applies them, and kills it with
// SIGKILL as soon as it holds claimed events. It returns how many events
// the dead process held and how long after the kill the inbox was wholly
// processed again.
func (h *crashHarness) replayAndKill(since time.Time) (held int, drained time.Duration) {
	t := h.t
	ctx := context.Background()
	db, err := storage.Open(ctx, h.dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		var n int
		if err := db.View(ctx, func(tx *storage.Tx) error { return tx.Get(ctx, &n, q, args...) }); err != nil {
			t.Fatal(err)
		}
		return n
	}

	cmd := exec.Command(binary, "webhooks", "replay", "--db", h.dsn, "--since", since.Add(-time.Minute).UTC().Format(time.RFC3339))
	cmd.Env = append(cmd.Environ(), "PAYGATE_WEBHOOK_LEASE="+multiLease.String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	holder := "%:" + strconv.Itoa(cmd.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for count(`SELECT COUNT(*) FROM webhook_events WHERE locked_by LIKE ? AND status = ?`, holder, webhooks.StatusPending) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("paygate webhooks replay exited (%v) before it was seen holding a claimed event", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("paygate webhooks replay held no claimed event within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killed := time.Now()
	held = count(`SELECT COUNT(*) FROM webhook_events WHERE locked_by LIKE ? AND status = ?`, holder, webhooks.StatusPending)
	if held == 0 {
		t.Fatal("the killed replay held no pending event: the test did not catch it holding a lease")
	}
	for {
		pending := count(`SELECT COUNT(*) FROM webhook_events WHERE status <> ?`, webhooks.StatusProcessed)
		if pending == 0 {
			return held, time.Since(killed)
		}
		if time.Since(killed) > multiLease+30*time.Second {
			t.Fatalf("%d events still not processed %s after the replay was killed (lease %s)", pending, time.Since(killed).Round(time.Second), multiLease)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var sweepRefunded = regexp.MustCompile(`(\d+) not delivered \(refunded\)`)

// sweepConcurrently runs procs `paygate sweep` processes at once, 73 hours
// on: every sales order (none delivered) must be refunded exactly once,
// counted once over all the processes, and its money must be in its
// buyer's balance.
func (h *crashHarness) sweepConcurrently(procs int) {
	t := h.t
	asOf := time.Now().Add(73 * time.Hour).UTC().Format(time.RFC3339)
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = exec.Command(binary, "sweep", "--db", h.dsn, "--as-of", asOf).CombinedOutput()
		}()
	}
	wg.Wait()
	refunded := 0
	for i := range procs {
		m := sweepRefunded.FindSubmatch(outs[i])
		if errs[i] != nil || m == nil {
			t.Fatalf("sweep %d = %v\n%s", i, errs[i], outs[i])
		}
		k, _ := strconv.Atoi(string(m[1]))
		refunded += k
	}
	items := 0
	buyers := map[string]int64{}
	for i, o := range h.orders {
		items += len(o.items)
		buyers[crashBuyer(i)] += o.total
	}
	if refunded != items {
		t.Fatalf("%d sweeps refunded %d sales orders in all, want each of the %d once", procs, refunded, items)
	}

	ctx := context.Background()
	db, err := storage.Open(ctx, h.dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := ledger.New(db)
	var problems []string
	err = db.View(ctx, func(tx *storage.Tx) error {
		for _, o := range h.orders {
			for _, it := range o.items {
				var status string
				if err := tx.Get(ctx, &status, `SELECT status FROM sales_orders WHERE number = ?`, it.number); err != nil {
					return err
				}
				b, err := l.Balance(ctx, tx, ledger.Escrow(it.number), paygate.EUR)
				if err != nil {
					return err
				}
				if status != string(orders.Refunded) || b.Normal().Minor != 0 {
					problems = append(problems, fmt.Sprintf("%s: %s with %s in escrow, want refunded and empty", it.number, status, b.Normal()))
				}
			}
		}
		for buyer, want := range buyers {
			b, err := l.Balance(ctx, tx, ledger.UserBalance(buyer), paygate.EUR)
			if err != nil {
				return err
			}
			if b.Normal().Minor != want {
				problems = append(problems, fmt.Sprintf("buyer %s balance %s, want %s (each paid order refunded once)", buyer, b.Normal(), paygate.New(want, paygate.EUR)))
			}
		}
		var txs int
		if err := tx.Get(ctx, &txs, `SELECT COUNT(*) FROM ledger_transactions`); err != nil {
			return err
		}
		if txs != len(h.orders)+items {
			problems = append(problems, fmt.Sprintf("%d ledger transactions, want %d (one settlement per order, one refund per sales order)", txs, len(h.orders)+items))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.report(problems, fmt.Sprintf("after %d concurrent sweeps", procs))
	t.Logf("timers: %d concurrent sweeps refunded each of %d sales orders once", procs, items)
}
