package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/redact/redacttest"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The flags of TestCrashSafety.
var (
	crashSeed   = flag.Int64("crash.seed", 0, "seed of TestCrashSafety's random choices; 0 picks one from the clock")
	crashCycles = flag.Int("crash.cycles", 15, "kill -9 cycles per backend in TestCrashSafety")
	crashOrders = flag.Int("crash.orders", 0, "payment orders per backend in TestCrashSafety; 0 is 14 per cycle, at least 200")
)

const (
	crashAPIKey     = "crash-marketplace-key"
	crashFinanceKey = "crash-finance-key"
	crashSecret     = "whsec_crash_safety_test"
	crashSenders    = 8 // concurrent deliveries, as a provider's workers

	crashMinKill = 2 * time.Millisecond   // the shortest life of a process before SIGKILL
	crashMaxKill = 300 * time.Millisecond // and the longest
	crashFirst   = 5 * time.Millisecond   // cycle 1 kills this soon after the first delivery

	crashStartTimeout   = 30 * time.Second // to listen after a (re)start
	crashExitTimeout    = 15 * time.Second // to exit after SIGKILL or SIGTERM
	crashSetupTimeout   = 2 * time.Minute  // to create every order and attempt
	crashRoundTimeout   = 30 * time.Second // for the senders to stop after a kill
	crashDeliverTimeout = time.Minute      // to have every event acknowledged after the last kill
	crashSettleTimeout  = 3 * time.Minute  // for every order to be paid and every event processed: more than a worker's lease on events claimed by a killed process
	crashRequestTimeout = 10 * time.Second // one HTTP request
)

// TestCrashSafety is the test of "kill -9 during settlement". On every backend it starts the real binary, creates payment
// orders each with one iDEAL attempt, then delivers one signed
// payment_intent.succeeded per attempt (and for some a charge.succeeded too,
// and some exact duplicates) from several goroutines as Stripe would, while
// it kills the process with SIGKILL at random moments and restarts it on
// the same database. A delivery counts as acknowledged only on a 2xx;
// everything else is redelivered, and some acknowledged events are
// redelivered too.
//
// After every kill, with the process dead, the database must hold every
// acknowledged event, and every payment order must be wholly paid (status,
// paid attempt, sales orders, settlement posting, escrows) or wholly unpaid.
// After the last restart, once every event is acknowledged and processed,
// every order must be paid exactly once and nothing else posted, and
// `paygate ledger verify` must pass.
//
// The seed is logged; -crash.seed replays the random choices (not the
// timing), -crash.cycles and -crash.orders scale the run.
func TestCrashSafety(t *testing.T) {
	seed, cycles, n := *crashSeed, *crashCycles, *crashOrders
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	if testing.Short() && !crashFlagSet("crash.cycles") {
		cycles = 3
	}
	if n == 0 {
		n = max(200, 14*cycles) // every cycle has fresh settlements in flight when it is killed
		if testing.Short() {
			n = 50
		}
	}
	if cycles < 1 || n < 1 {
		t.Fatalf("-crash.cycles=%d and -crash.orders=%d must be at least 1", cycles, n)
	}
	t.Logf("crash seed %d (replay with -crash.seed=%d); %d kill cycles and %d orders per backend", seed, seed, cycles, n)
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			h := &crashHarness{
				t: t, dsn: b.DSN(t), seed: seed, cycles: cycles,
				rng:      rand.New(rand.NewPCG(uint64(seed), 0x6b696c6c)),
				warnings: map[string]int{},
				client:   &http.Client{Timeout: crashRequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: crashSenders * 2}},
			}
			h.run(n)
		})
	}
}

func crashFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// crashHarness is one backend's run: the provider that delivers, the
// killer, and the checker.
type crashHarness struct {
	t      *testing.T
	dsn    string
	seed   int64
	cycles int
	rng    *rand.Rand // used by the test goroutine only
	client *http.Client
	srv    *crashServer
	env    []string // added to each process's environment

	orders []crashOrder
	events []crashEvent

	mu       sync.Mutex     // guards the fields below, written by the senders
	acked    []bool         // by event: some delivery got a 2xx
	sends    []int          // by event: deliveries sent
	refused  []string       // deliveries answered 4xx: a valid event must never be
	warnings map[string]int // the servers' log messages above info, by level and message
	stats    crashStats
}

// crashOrder is a payment order as the API created it.
type crashOrder struct {
	number  string
	attempt string // the attempt's id
	ref     string // its PaymentIntent, pi_…
	total   int64  // EUR minor units
	items   []crashItem
}

type crashItem struct {
	number string
	amount int64
}

// crashEvent is one Stripe event. Its body is fixed (a redelivery is the
// same event); it is signed at each delivery, as Stripe does.
type crashEvent struct {
	id    string
	order int // index in orders
	body  []byte
}

type crashStats struct {
	kills         int // SIGKILLs
	killsInFlight int // SIGKILLs while deliveries were still queued or running
	checks        int // consistency checks of a killed process's database
	storedUnacked int // events found stored after a kill but never acknowledged (killed between commit and 2xx), summed over the kills
	deliveries    int // webhook requests sent
	acks          int // answered 2xx
	failed        int // no answer: refused, reset, timed out
	errors5xx     int // answered 5xx
	lastFailure   string
}

func (h *crashHarness) run(n int) {
	t := h.t
	began := time.Now()
	h.srv = h.start()
	h.setup(n)
	h.buildEvents()
	setupTook := time.Since(began)

	// Fresh events are released over the cycles, so that every kill may
	// land on first settlements as well as on redeliveries.
	fresh := h.rng.Perm(len(h.events))
	released := 0
	for c := 1; c <= h.cycles; c++ {
		if c > 1 {
			h.srv = h.start()
		}
		batch := fresh[released : released+(len(fresh)-released+h.cycles-c)/(h.cycles-c+1)]
		queue := h.queue(fresh[:released], batch)
		released += len(batch)
		h.cycle(c, queue)
		h.checkAfterKill(c)
	}

	// The last restart: the provider keeps redelivering until every event
	// is acknowledged, and the service settles them all.
	h.srv = h.start()
	h.deliverAll()
	h.awaitSettled()
	h.checkAPI()
	h.srv.stop(t)
	st := h.load()
	h.report(st.problems(h, true), "after the last restart")
	if out, code := runVerify(t, h.dsn); code != exitOK || !strings.Contains(out, "ledger verify: OK") {
		t.Fatalf("seed %d: paygate ledger verify = exit %d, want 0 and OK\n%s", h.seed, code, out)
	}

	s := h.stats
	t.Logf("%d orders, %d events; %d kill cycles: %d kills (%d with deliveries in flight), %d checks of the killed database "+
		"(%d stored events not yet acknowledged); %d deliveries, %d acks (2xx), %d unanswered, %d 5xx; every event acknowledged and applied once; "+
		"setup %s, total %s",
		len(h.orders), len(h.events), h.cycles, s.kills, s.killsInFlight, s.checks, s.storedUnacked,
		s.deliveries, s.acks, s.failed, s.errors5xx, setupTook.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if len(h.warnings) > 0 {
		t.Logf("paygate logged above info: %v", h.warnings)
	}
}

// setup creates n payment orders of 1 to 3 EUR items and an iDEAL attempt
// for each, with an Idempotency-Key on every POST; if the process dies, it
// is restarted and the missing ones are retried with the same keys.
func (h *crashHarness) setup(n int) {
	t := h.t
	specs := make([][]int64, n)
	for i := range specs {
		specs[i] = make([]int64, 1+h.rng.IntN(3))
		for j := range specs[i] {
			specs[i][j] = 50 + h.rng.Int64N(25_000) // 0.50 to 250.49 EUR
		}
	}
	h.orders = make([]crashOrder, n)
	todo := make([]int, n)
	for i := range todo {
		todo[i] = i
	}
	deadline := time.Now().Add(crashSetupTimeout)
	for {
		base := h.srv.url()
		var (
			mu      sync.Mutex
			retry   []int
			lastErr error
			fatal   error
			wg      sync.WaitGroup
		)
		work := make(chan int)
		for range crashSenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					again, err := h.create(base, i, specs[i])
					if err == nil {
						continue
					}
					mu.Lock()
					if again {
						retry, lastErr = append(retry, i), err
					} else if fatal == nil {
						fatal = err
					}
					mu.Unlock()
				}
			}()
		}
		for _, i := range todo {
			work <- i
		}
		close(work)
		wg.Wait()
		if fatal != nil {
			t.Fatalf("setup: %v", fatal)
		}
		if todo = retry; len(todo) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: %d of %d orders still not created after %s; last error: %v%s", len(todo), n, crashSetupTimeout, lastErr, h.srv.tail())
		}
		if h.srv.exited() {
			t.Logf("setup: paygate exited (%v); restarting it to retry %d orders with the same keys", h.srv.waitErr, len(todo))
			h.srv = h.start()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// create makes order i and its attempt. again reports whether a failure is
// worth retrying (no answer, a 5xx, or the key still held by a request the
// process died in).
func (h *crashHarness) create(base string, i int, amounts []int64) (again bool, err error) {
	retryable := func(status int) bool { return status == 0 || status >= 500 || status == http.StatusConflict }
	items := make([]map[string]any, len(amounts))
	var total int64
	for j, a := range amounts {
		total += a
		items[j] = map[string]any{"seller_id": fmt.Sprintf("S%d", (i+j)%23+1), "amount": paygate.New(a, paygate.EUR).Amount(),
			"description": fmt.Sprintf("item %d of order %d", j+1, i)}
	}
	var po orderJSON
	status, err := h.call(http.MethodPost, base+"/v1/payment-orders", fmt.Sprintf("crash-order-%d", i), map[string]any{
		"buyer_id": crashBuyer(i), "currency": "EUR", "items": items, "return_url": "https://shop.example/done",
	}, &po)
	if err != nil {
		return retryable(status), err
	}
	if status != http.StatusCreated || len(po.Items) != len(amounts) {
		return false, fmt.Errorf("create order %d = %d %+v, want 201 with %d items", i, status, po, len(amounts))
	}
	o := crashOrder{number: po.Number, total: total}
	for j, it := range po.Items {
		m, err := paygate.ParseMoney(it.Amount, paygate.EUR)
		if err != nil || m.Minor != amounts[j] {
			return false, fmt.Errorf("order %s item %d amount %q, want %s", po.Number, j, it.Amount, paygate.New(amounts[j], paygate.EUR))
		}
		o.items = append(o.items, crashItem{number: it.Number, amount: m.Minor})
	}
	if m, err := paygate.ParseMoney(po.Amount, paygate.EUR); err != nil || m.Minor != total {
		return false, fmt.Errorf("order %s amount %q, want %s", po.Number, po.Amount, paygate.New(total, paygate.EUR))
	}
	var a attemptJSON
	status, err = h.call(http.MethodPost, base+"/v1/payment-orders/"+po.Number+"/attempts", fmt.Sprintf("crash-attempt-%d", i),
		map[string]any{"method": "ideal"}, &a)
	if err != nil {
		return retryable(status), err
	}
	if status != http.StatusCreated || a.ID == "" || !strings.HasPrefix(a.ProviderRef, "pi_") {
		return false, fmt.Errorf("attempt for %s = %d %+v, want 201 with a pi_… reference", po.Number, status, a)
	}
	o.attempt, o.ref = a.ID, a.ProviderRef
	h.orders[i] = o // each worker writes its own index
	return false, nil
}

// crashBuyer is the buyer of order i.
func crashBuyer(i int) string { return fmt.Sprintf("U%d", i%17+1) }

// call sends a JSON API request with the marketplace key (jsonCall).
func (h *crashHarness) call(method, url, idemKey string, body, out any) (int, error) {
	return jsonCall(h.client, crashAPIKey, idemKey, method, url, body, out)
}

// jsonCall sends a JSON API request with key (and idemKey, if not "") to a
// paygate process of its own and decodes a 2xx answer into out. A non-2xx
// answer is an error with its status; an answer that did not arrive whole
// is an error with status 0, as a request that never reached the server.
func jsonCall(client *http.Client, key, idemKey, method, url string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s = %d %s", method, url, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s = %d %s: %w", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// buildEvents makes one payment_intent.succeeded per attempt and, for about
// a third of the orders, a charge.succeeded for the same payment (Stripe
// sends both).
func (h *crashHarness) buildEvents() {
	created := time.Now().Unix()
	for i, o := range h.orders {
		metadata := map[string]string{"payment_order": o.number, "attempt": o.attempt}
		pi := map[string]any{
			"id": o.ref, "object": "payment_intent", "amount": o.total, "amount_received": o.total, "currency": "eur",
			"status": "succeeded", "payment_method_types": []string{"ideal"}, "metadata": metadata,
		}
		h.addEvent(i, fmt.Sprintf("evt_crash_%05d_pi", i), "payment_intent.succeeded", created, pi)
		if h.rng.IntN(3) == 0 {
			ch := map[string]any{
				"id": fmt.Sprintf("ch_crash_%05d", i), "object": "charge", "amount": o.total, "amount_captured": o.total,
				"currency": "eur", "paid": true, "status": "succeeded", "payment_intent": o.ref, "metadata": metadata,
			}
			h.addEvent(i, fmt.Sprintf("evt_crash_%05d_ch", i), "charge.succeeded", created, ch)
		}
	}
	h.acked = make([]bool, len(h.events))
	h.sends = make([]int, len(h.events))
}

func (h *crashHarness) addEvent(order int, id, typ string, created int64, object map[string]any) {
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2023-10-16", "created": created, "type": typ,
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": object},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.events = append(h.events, crashEvent{id: id, order: order, body: body})
}

// crashSignature is the Stripe-Signature header of body signed at now.
func crashSignature(secret string, body []byte, now time.Time) string {
	ts := fmt.Sprint(now.Unix())
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// queue is what the provider sends in a cycle, shuffled: the batch of fresh
// events (a fifth of them twice, concurrently), every event sent before
// and not yet acknowledged, and a tenth of the acknowledged ones.
func (h *crashHarness) queue(sent, batch []int) []int {
	var q []int
	for _, i := range batch {
		q = append(q, i)
		if h.rng.IntN(5) == 0 {
			q = append(q, i)
		}
	}
	h.mu.Lock()
	for _, i := range sent {
		resend := h.rng.IntN(10) == 0 // drawn for every event, so that the seed fixes every later choice
		if !h.acked[i] || resend {
			q = append(q, i)
		}
	}
	h.mu.Unlock()
	h.rng.Shuffle(len(q), func(a, b int) { q[a], q[b] = q[b], q[a] })
	return q
}

// cycle delivers queue and kills the process at a random moment: in cycle
// 1 within crashFirst of the first delivery, later a log-uniform delay
// between crashMinKill and crashMaxKill after the deliveries start.
func (h *crashHarness) cycle(c int, queue []int) {
	t := h.t
	stop, first := make(chan struct{}), make(chan struct{})
	done := h.round(h.srv.url(), queue, stop, first)
	var delay time.Duration
	if c == 1 {
		select {
		case <-first:
		case <-time.After(crashRoundTimeout):
			t.Fatalf("seed %d: cycle 1 sent nothing within %s", h.seed, crashRoundTimeout)
		}
		delay = time.Duration(h.rng.Int64N(int64(crashFirst)))
	} else {
		delay = time.Duration(float64(crashMinKill) * math.Pow(float64(crashMaxKill)/float64(crashMinKill), h.rng.Float64()))
	}
	time.Sleep(delay) // the kill comes at a random moment: that is the test
	inFlight := true
	select {
	case <-done:
		inFlight = false
	default:
	}
	h.srv.kill(t)
	close(stop)
	select {
	case <-done:
	case <-time.After(crashRoundTimeout):
		t.Fatalf("seed %d: cycle %d: the senders did not stop within %s of the kill", h.seed, c, crashRoundTimeout)
	}
	h.client.CloseIdleConnections()
	h.mu.Lock()
	h.stats.kills++
	if inFlight {
		h.stats.killsInFlight++
	}
	h.mu.Unlock()
	h.failOnRefused()
}

// round delivers queue from crashSenders goroutines until it is done or
// stop is closed (nil: never); first is closed as the first delivery
// starts. The returned channel is closed when every sender has returned.
func (h *crashHarness) round(base string, queue []int, stop <-chan struct{}, first chan struct{}) <-chan struct{} {
	work := make(chan int)
	go func() {
		defer close(work)
		for _, i := range queue {
			select {
			case <-stop:
				return
			default:
			}
			select {
			case work <- i:
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	var wg sync.WaitGroup
	for range crashSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				once.Do(func() { close(first) })
				h.deliver(base, i)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// deliver posts event i once, signed now, and records the answer. Only a
// 2xx acknowledges the event.
func (h *crashHarness) deliver(base string, i int) {
	ev := &h.events[i]
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(ev.body))
	if err != nil {
		panic(err) // a constant URL shape: cannot fail
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", crashSignature(crashSecret, ev.body, time.Now()))
	resp, err := h.client.Do(req)
	var status int
	var answer []byte
	if err == nil {
		status = resp.StatusCode
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sends[i]++
	h.stats.deliveries++
	switch {
	case err != nil:
		h.stats.failed++
		h.stats.lastFailure = err.Error()
	case status/100 == 2:
		h.stats.acks++
		h.acked[i] = true
	case status >= 500:
		h.stats.errors5xx++
		h.stats.lastFailure = fmt.Sprintf("%d %s", status, answer)
	default:
		h.refused = append(h.refused, fmt.Sprintf("%s: %d %s", ev.id, status, answer))
	}
}

func (h *crashHarness) failOnRefused() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.refused); n > 0 {
		h.t.Fatalf("seed %d: %d deliveries of valid signed events were refused with a 4xx, e.g.\n%s",
			h.seed, n, strings.Join(h.refused[:min(n, 5)], "\n"))
	}
}

// deliverAll redelivers every unacknowledged event (and, once, a tenth of
// the acknowledged ones) until all are acknowledged.
func (h *crashHarness) deliverAll() {
	t := h.t
	deadline := time.Now().Add(crashDeliverTimeout)
	all := make([]int, len(h.events))
	for i := range all {
		all[i] = i
	}
	q := h.queue(all, nil)
	for {
		done := h.round(h.srv.url(), q, nil, make(chan struct{}))
		select {
		case <-done:
		case <-time.After(time.Until(deadline) + crashRequestTimeout):
			t.Fatalf("seed %d: the last deliveries did not finish by the deadline", h.seed)
		}
		h.failOnRefused()
		if h.srv.exited() {
			t.Fatalf("seed %d: paygate exited by itself after the last restart: %v%s", h.seed, h.srv.waitErr, h.srv.tail())
		}
		if q = h.unacked(); len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.mu.Lock()
			defer h.mu.Unlock()
			t.Fatalf("seed %d: %d events still unacknowledged %s after the last restart; last failure: %s%s",
				h.seed, len(q), crashDeliverTimeout, h.stats.lastFailure, h.srv.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unacked returns the events no delivery has had a 2xx for.
func (h *crashHarness) unacked() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var q []int
	for i, ok := range h.acked {
		if !ok {
			q = append(q, i)
		}
	}
	return q
}

// awaitSettled polls the API until every order is paid, then the database
// until every stored event is processed (an inbox that acknowledges first
// and applies later gets the time it needs).
func (h *crashHarness) awaitSettled() {
	t := h.t
	deadline := time.Now().Add(crashSettleTimeout)
	unpaid := h.orders
	for len(unpaid) > 0 {
		var still []crashOrder
		var last string
		for _, o := range unpaid {
			var po orderJSON
			if _, err := h.call(http.MethodGet, h.srv.url()+"/v1/payment-orders/"+o.number, "", nil, &po); err != nil {
				t.Fatalf("seed %d: %v", h.seed, err)
			}
			if po.Status != string(checkout.Paid) {
				still, last = append(still, o), fmt.Sprintf("%s is %s", o.number, po.Status)
			}
		}
		if unpaid = still; len(unpaid) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: %d orders not paid %s after every event was acknowledged (%s)", h.seed, len(unpaid), crashSettleTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		st := h.load()
		var unprocessed []string
		for _, r := range st.inbox {
			if r.Processed == 0 {
				unprocessed = append(unprocessed, r.EventID)
			}
		}
		if len(unprocessed) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(unprocessed)
			t.Fatalf("seed %d: %d stored events still unprocessed after %s, e.g. %v", h.seed, len(unprocessed), crashSettleTimeout, unprocessed[:min(5, len(unprocessed))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkAPI reads every order and sales order through the API.
func (h *crashHarness) checkAPI() {
	t := h.t
	var problems []string
	for _, o := range h.orders {
		var po orderJSON
		if _, err := h.call(http.MethodGet, h.srv.url()+"/v1/payment-orders/"+o.number, "", nil, &po); err != nil {
			t.Fatalf("seed %d: %v", h.seed, err)
		}
		if po.Status != string(checkout.Paid) || len(po.Attempts) != 1 || po.Attempts[0].ID != o.attempt ||
			po.Attempts[0].Status != string(checkout.AttemptSucceeded) || po.Amount != paygate.New(o.total, paygate.EUR).Amount() {
			problems = append(problems, fmt.Sprintf("GET %s = %s %s, attempts %+v; want paid %s by one succeeded attempt %s",
				o.number, po.Status, po.Amount, po.Attempts, paygate.New(o.total, paygate.EUR).Amount(), o.attempt))
		}
		for _, it := range o.items {
			var so struct {
				Status string `json:"status"`
				Amount string `json:"amount"`
			}
			if _, err := h.call(http.MethodGet, h.srv.url()+"/v1/sales-orders/"+it.number, "", nil, &so); err != nil {
				t.Fatalf("seed %d: %v", h.seed, err)
			}
			if so.Status != string(orders.WaitingDelivery) || so.Amount != paygate.New(it.amount, paygate.EUR).Amount() {
				problems = append(problems, fmt.Sprintf("GET %s = %s %s, want waiting_delivery %s",
					it.number, so.Status, so.Amount, paygate.New(it.amount, paygate.EUR).Amount()))
			}
		}
	}
	h.report(problems, "through the API after the last restart")
}

// checkAfterKill checks the database of the killed process before the
// restart: nothing acknowledged is lost, nothing is half-applied.
func (h *crashHarness) checkAfterKill(c int) {
	st := h.load()
	h.report(st.problems(h, false), fmt.Sprintf("after kill %d, before the restart", c))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.checks++
	for i, ev := range h.events {
		if _, stored := st.inbox[ev.id]; stored && !h.acked[i] {
			h.stats.storedUnacked++
		}
	}
}

func (h *crashHarness) report(problems []string, when string) {
	if len(problems) == 0 {
		return
	}
	h.t.Fatalf("seed %d, %s: %d problem(s):\n  %s", h.seed, when, len(problems), strings.Join(problems[:min(len(problems), 25)], "\n  "))
}

// crashState is what the database holds, read in one snapshot.
type crashState struct {
	orders   map[string]crashOrderRow
	attempts map[string]string // id → status
	sales    map[string]string // number → status
	txKeys   []string
	accounts map[string]crashAccountRow // by name and currency: "escrow:K1234567 EUR"
	inbox    map[string]crashInboxRow   // by event id
	verify   ledger.Report
}

type crashOrderRow struct {
	Number      string         `db:"number"`
	Status      string         `db:"status"`
	PaidAttempt sql.NullString `db:"paid_attempt"`
}

type crashAccountRow struct {
	Name     string `db:"name"`
	Currency string `db:"currency"`
	Debits   int64  `db:"debits"`
	Credits  int64  `db:"credits"`
}

type crashInboxRow struct {
	Provider   string `db:"provider"`
	EventID    string `db:"event_id"`
	Rows       int64  `db:"n"`
	Deliveries int64  `db:"deliveries"`
	Processed  int64  `db:"processed"` // 1 if every row has processed_at
}

// load opens the database as paygate does and reads its state.
func (h *crashHarness) load() crashState {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, h.dsn, storage.Options{Migrations: migrations()})
	if err != nil {
		t.Fatalf("seed %d: open the database: %v", h.seed, err)
	}
	defer db.Close()
	st := crashState{orders: map[string]crashOrderRow{}, attempts: map[string]string{}, sales: map[string]string{},
		accounts: map[string]crashAccountRow{}, inbox: map[string]crashInboxRow{}}
	err = db.View(ctx, func(tx *storage.Tx) error {
		var pos []crashOrderRow
		if err := tx.Select(ctx, &pos, `SELECT number, status, paid_attempt FROM payment_orders`); err != nil {
			return err
		}
		for _, r := range pos {
			st.orders[r.Number] = r
		}
		var pairs []struct {
			Key    string `db:"k"`
			Status string `db:"status"`
		}
		if err := tx.Select(ctx, &pairs, `SELECT id AS k, status FROM payment_attempts`); err != nil {
			return err
		}
		for _, r := range pairs {
			st.attempts[r.Key] = r.Status
		}
		pairs = nil
		if err := tx.Select(ctx, &pairs, `SELECT number AS k, status FROM sales_orders`); err != nil {
			return err
		}
		for _, r := range pairs {
			st.sales[r.Key] = r.Status
		}
		if err := tx.Select(ctx, &st.txKeys, `SELECT idempotency_key FROM ledger_transactions`); err != nil {
			return err
		}
		var accounts []crashAccountRow
		if err := tx.Select(ctx, &accounts, `SELECT name, currency, debits, credits FROM ledger_account_totals`); err != nil {
			return err
		}
		for _, a := range accounts {
			st.accounts[a.Name+" "+a.Currency] = a
		}
		var inbox []crashInboxRow
		if err := tx.Select(ctx, &inbox, `SELECT provider, event_id, COUNT(*) AS n, SUM(deliveries) AS deliveries,
				MIN(CASE WHEN processed_at IS NULL THEN 0 ELSE 1 END) AS processed
			FROM webhook_events GROUP BY provider, event_id`); err != nil {
			return err
		}
		for _, r := range inbox {
			st.inbox[r.EventID] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed %d: read the database: %v", h.seed, err)
	}
	if st.verify, err = ledger.New(db).Verify(ctx); err != nil {
		t.Fatalf("seed %d: ledger verify: %v", h.seed, err)
	}
	return st
}

// problems lists what is wrong with the state. Always: an acknowledged
// event that is not stored, an event stored twice or counted with more
// deliveries than were sent, a payment order that is neither wholly paid
// nor wholly unpaid, a ledger transaction other than a settlement, money
// anywhere but in the clearing account and the escrows of paid orders,
// ledger drift. With final: any order not paid, any event not acknowledged
// or not processed.
func (st crashState) problems(h *crashHarness, final bool) []string {
	var p []string
	h.mu.Lock()
	acked, sends := append([]bool(nil), h.acked...), append([]int(nil), h.sends...)
	h.mu.Unlock()

	ours := map[string]bool{}
	for i, ev := range h.events {
		ours[ev.id] = true
		r, stored := st.inbox[ev.id]
		switch {
		case acked[i] && !stored:
			p = append(p, fmt.Sprintf("event %s was acknowledged (2xx) but is not in webhook_events: lost", ev.id))
		case final && !acked[i]:
			p = append(p, fmt.Sprintf("event %s was never acknowledged", ev.id))
		case !stored:
		case r.Provider != "stripe" || r.Rows != 1:
			p = append(p, fmt.Sprintf("event %s is stored %d times (provider %q), want once", ev.id, r.Rows, r.Provider))
		case r.Deliveries < 1 || r.Deliveries > int64(sends[i]):
			p = append(p, fmt.Sprintf("event %s counts %d deliveries; %d were sent", ev.id, r.Deliveries, sends[i]))
		case final && r.Processed != 1:
			p = append(p, fmt.Sprintf("event %s is stored but not processed", ev.id))
		case r.Processed == 1 && st.orders[h.orders[ev.order].number].Status != string(checkout.Paid):
			p = append(p, fmt.Sprintf("event %s is marked processed, but payment order %s is %s: its effect is lost",
				ev.id, h.orders[ev.order].number, st.orders[h.orders[ev.order].number].Status))
		}
	}
	for id := range st.inbox {
		if !ours[id] {
			p = append(p, fmt.Sprintf("webhook_events holds %s, which was never sent", id))
		}
	}

	keys := map[string]int{}
	for _, k := range st.txKeys {
		keys[k]++
	}
	settlements := map[string]bool{}
	escrows := map[string]bool{}
	var clearing int64
	for _, o := range h.orders {
		key := "payment:" + o.number + ":settled"
		settlements[key] = true
		row, ok := st.orders[o.number]
		if !ok {
			p = append(p, fmt.Sprintf("payment order %s is missing", o.number))
			continue
		}
		var salesStates, escrowStates []string
		paidItems, unpaidItems := true, true
		for _, it := range o.items {
			escrows[ledger.Escrow(it.number)] = true
			so := st.sales[it.number]
			esc := st.accounts[ledger.Escrow(it.number)+" EUR"]
			salesStates = append(salesStates, it.number+" "+so)
			escrowStates = append(escrowStates, fmt.Sprintf("%s D%d C%d (want C%d)", it.number, esc.Debits, esc.Credits, it.amount))
			paidItems = paidItems && so == string(orders.WaitingDelivery) && esc.Credits == it.amount && esc.Debits == 0
			unpaidItems = unpaidItems && so == string(orders.AwaitingPayment) && esc.Credits == 0 && esc.Debits == 0
		}
		paid := row.Status == string(checkout.Paid) && row.PaidAttempt.String == o.attempt &&
			st.attempts[o.attempt] == string(checkout.AttemptSucceeded) && keys[key] == 1 && paidItems
		unpaid := row.Status == string(checkout.Pending) && !row.PaidAttempt.Valid &&
			st.attempts[o.attempt] == string(checkout.AttemptPending) && keys[key] == 0 && unpaidItems
		switch {
		case paid:
			clearing += o.total
		case final || !unpaid:
			what := "half-updated"
			if final {
				what = "not paid"
			}
			p = append(p, fmt.Sprintf("payment order %s is %s: status %s, paid_attempt %q (want %s), attempt %s, settlement posted %d times, sales orders %v, escrows %v",
				o.number, what, row.Status, row.PaidAttempt.String, o.attempt, st.attempts[o.attempt], keys[key], salesStates, escrowStates))
		}
	}
	for k, n := range keys {
		if !settlements[k] {
			p = append(p, fmt.Sprintf("unexpected ledger transaction %s (%d)", k, n))
		}
	}
	clearingName := ledger.ProviderClearing("stripe")
	if c := st.accounts[clearingName+" EUR"]; c.Debits != clearing || c.Credits != 0 {
		p = append(p, fmt.Sprintf("%s: debits %d, credits %d; want debits %d (the paid orders' total), credits 0", clearingName, c.Debits, c.Credits, clearing))
	}
	for _, a := range st.accounts {
		expected := a.Currency == "EUR" && (a.Name == clearingName || escrows[a.Name])
		if !expected && (a.Debits != 0 || a.Credits != 0) {
			p = append(p, fmt.Sprintf("unexpected money in %s %s: debits %d, credits %d", a.Name, a.Currency, a.Debits, a.Credits))
		}
	}
	if !st.verify.OK() {
		var b strings.Builder
		st.verify.WriteTo(&b)
		p = append(p, "ledger verify: "+b.String())
	}
	return p
}

// crashServer is one `paygate serve` process.
type crashServer struct {
	cmd     *exec.Cmd
	addr    string
	exit    chan struct{} // closed once the process has exited
	waitErr error         // its exit status, once exit is closed

	mu   sync.Mutex
	bad  []string // its last log lines of level error, and lines that are not JSON (a panic)
	nbad int
}

// start runs `paygate serve` on a free loopback port on the harness's
// database, in sandbox mode with fixed keys and webhook secret, and waits
// until it listens.
func (h *crashHarness) start() *crashServer {
	t := h.t
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--db", h.dsn)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYGATE_") && !strings.HasPrefix(kv, "STRIPE_") && !strings.HasPrefix(kv, "RAPYD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PAYGATE_MODE=sandbox", "PAYGATE_API_KEY="+crashAPIKey, "PAYGATE_FINANCE_KEY="+crashFinanceKey,
		"STRIPE_WEBHOOK_SECRET="+crashSecret, "PAYGATE_RETURN_HOSTS=shop.example", "PAYGATE_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, h.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, exit: make(chan struct{})}
	logs := redacttest.Tee(t, stderr)
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-s.exit:
		case <-time.After(crashExitTimeout):
			t.Errorf("paygate serve (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct {
				Level   string `json:"level"`
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			err := json.Unmarshal(sc.Bytes(), &line)
			if err == nil && line.Level != "info" && line.Level != "debug" {
				h.mu.Lock()
				h.warnings[line.Level+": "+line.Message]++
				h.mu.Unlock()
			}
			if err != nil || line.Level == "error" || line.Level == "fatal" || line.Level == "panic" {
				s.mu.Lock()
				s.nbad++
				s.bad = append(s.bad, sc.Text())
				if len(s.bad) > 20 {
					s.bad = s.bad[1:]
				}
				s.mu.Unlock()
				continue
			}
			if line.Message == "listening" {
				listening <- line.Addr
			}
		}
		io.Copy(io.Discard, logs) // a line too long for the scanner must not block the process
		s.waitErr = cmd.Wait()
		close(s.exit)
	}()
	select {
	case s.addr = <-listening:
	case <-s.exit:
		t.Fatalf("seed %d: paygate serve exited before listening: %v%s", h.seed, s.waitErr, s.tail())
	case <-time.After(crashStartTimeout):
		t.Fatalf("seed %d: paygate serve did not listen within %s%s", h.seed, crashStartTimeout, s.tail())
	}
	return s
}

func (s *crashServer) url() string { return "http://" + s.addr }

func (s *crashServer) exited() bool {
	select {
	case <-s.exit:
		return true
	default:
		return false
	}
}

// tail is the process's error and non-JSON log lines, for a failure message.
func (s *crashServer) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nbad == 0 {
		return ""
	}
	return fmt.Sprintf("\npaygate logged %d error or non-JSON lines; the last:\n%s", s.nbad, strings.Join(s.bad, "\n"))
}

// kill sends SIGKILL and waits for the process to be gone. The process
// must not have exited by itself.
func (s *crashServer) kill(t *testing.T) {
	t.Helper()
	if s.exited() {
		t.Fatalf("paygate serve exited before it was killed: %v%s", s.waitErr, s.tail())
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exit:
	case <-time.After(crashExitTimeout):
		t.Fatalf("paygate serve did not exit within %s of SIGKILL", crashExitTimeout)
	}
}

// stop sends SIGTERM and wants a clean exit.
func (s *crashServer) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exit:
		if s.waitErr != nil {
			t.Fatalf("paygate serve exited with %v after SIGTERM, want 0%s", s.waitErr, s.tail())
		}
	case <-time.After(crashExitTimeout):
		t.Fatalf("paygate serve did not stop within %s of SIGTERM", crashExitTimeout)
	}
}
