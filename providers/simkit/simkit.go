// Package simkit is the webhook delivery and fault injection shared by the
// sandbox simulators (stripesim and rapydsim).
//
// A simulator encodes each webhook once, as a Webhook, and hands batches of
// them to a Deliverer with Send. The Deliverer applies the Faults in force
// (dropping, duplicating, delaying), makes the first attempt of each
// webhook, retries failed ones in the background with a doubling backoff,
// and resends a payment's webhooks on Redeliver. What is provider-specific
// stays with the simulator: the envelope of the body, how each attempt is
// signed and posted (Config.Post), and what Faults.Reorder means.
//
// It also bounds what a simulator keeps in memory, under Limits: a
// Retainer says which payments to forget (the oldest settled ones: final,
// every webhook acknowledged, as Config.Delivered reports), Idempotency
// keeps saved responses by key for a while, and Store, the map in
// insertion order under both, forgets its oldest keys in time proportional
// to how many it forgets.
package simkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// MaxAttempts is how many times a webhook is posted, the first time
// included, before the Deliverer gives up on it.
const MaxAttempts = 8

// DefaultBackoff is the Config.Backoff used when it is not positive.
const DefaultBackoff = time.Second

// redelivery is the attempt number logged for a Redeliver.
const redelivery = 0

// Webhook is one webhook, encoded once: every attempt sends the same body,
// signed afresh by Config.Post. A Webhook is not changed once handed to a
// Deliverer.
type Webhook struct {
	ID   string // the provider's id of the webhook or event, such as evt_… or wh_…
	Type string // the provider's type, such as charge.succeeded or PAYMENT_COMPLETED
	Ref  string // the payment it is about, for logs
	Body []byte // nil for a webhook that could not be encoded: it is never sent
}

// LogFields names the log fields in which a Deliverer writes a webhook's
// ID, Type and Ref and the number of a delivery attempt (from 1; 0 for a
// Redeliver), so that each simulator keeps its own names.
type LogFields struct {
	ID, Type, Ref, Attempt string
}

// Config configures a Deliverer.
type Config struct {
	// Name prefixes the Deliverer's log messages and errors, such as
	// "stripesim".
	Name string
	// Logger receives a line per delivery attempt, per dropped webhook,
	// per webhook given up on and per webhook that Close kept from being
	// sent.
	Logger zerolog.Logger
	// Fields names the log fields of a webhook.
	Fields LogFields
	// Post signs w afresh and makes one attempt to post it to the webhook
	// endpoint, with ctx; any answer but a 2xx must be an error. It is
	// called concurrently. Nil means there is no endpoint: nothing is
	// sent, and Faults.Drop does not count down.
	Post func(ctx context.Context, w *Webhook) error
	// Delivered, if not nil, is called after each attempt that Post
	// reports succeeded, a Redeliver's included: the endpoint has
	// acknowledged w. It is called concurrently, and more than once for a
	// webhook that is duplicated or redelivered.
	Delivered func(w *Webhook)
	// Backoff is the wait before a webhook's second attempt; each later
	// attempt waits twice as long as the one before, up to MaxAttempts in
	// all. Zero or less is DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait before an attempt; zero is no cap.
	MaxBackoff time.Duration
	// Seed seeds the generator behind Faults.DropRate.
	Seed uint64
}

// Deliverer sends a simulator's webhooks. Its methods are safe for
// concurrent use. Close stops its background retries and delayed batches.
type Deliverer struct {
	cfg  Config
	log  zerolog.Logger
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu      sync.Mutex // guards the fields below, and wg.Add against Close
	closed  bool
	faults  Faults
	rng     *rand.Rand
	running int           // goroutines spawned and not yet ended
	idle    chan struct{} // closed, and cleared, when running drops to 0
}

// New returns a Deliverer with no faults. It starts nothing; goroutines
// start as batches are delayed and attempts fail.
func New(cfg Config) *Deliverer {
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	return &Deliverer{
		cfg:  cfg,
		log:  cfg.Logger,
		done: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
}

// Close stops the background retries and delayed batches, abandoning
// attempts in flight, and waits for them to end. After Close, Send still
// makes the first attempts of a batch sent with wait and no Delay, but
// sends nothing in the background and retries nothing; Redeliver works as
// before. Close may be called more than once.
func (d *Deliverer) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// Idle waits until d runs nothing in the background (every retry has
// succeeded or given up, every background or delayed batch is sent) or ctx
// ends, and reports whether d is idle. A test calls it once its Sends have
// returned, to know that no further attempt can come.
func (d *Deliverer) Idle(ctx context.Context) bool {
	d.mu.Lock()
	if d.running == 0 {
		d.mu.Unlock()
		return true
	}
	if d.idle == nil {
		d.idle = make(chan struct{})
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// Send hands a batch of webhooks, in sending order, to delivery through the
// faults in force. With wait, each webhook's first attempt (one per copy)
// is made with ctx before Send returns; without it, or when Faults.Delay
// holds the batch back, the batch is sent in the background, in order, and
// what is still waiting at Close is abandoned. A failed attempt is retried
// in the background.
func (d *Deliverer) Send(ctx context.Context, batch []*Webhook, wait bool) {
	if d.cfg.Post == nil {
		return
	}
	batch = slices.DeleteFunc(slices.Clone(batch), func(w *Webhook) bool { return w.Body == nil })
	if len(batch) == 0 {
		return
	}
	p := d.plan(batch)
	if len(p.webhooks) == 0 {
		return
	}
	if wait && p.delay == 0 {
		d.sendPlan(ctx, p)
		return
	}
	if !d.spawn(func(ctx context.Context) { d.sendPlan(ctx, p) }) {
		for _, w := range p.webhooks {
			d.with(d.log.Warn(), w).Msg(d.cfg.Name + ": simulator closed; webhook not sent")
		}
	}
}

// sendPlan makes the first attempts of a planned batch, in order, waiting
// p.delay before each webhook; the copies of one webhook are posted
// concurrently. It stops when ctx ends during a wait.
func (d *Deliverer) sendPlan(ctx context.Context, p plan) {
	for i, w := range p.webhooks {
		if p.delay > 0 && !sleep(ctx, p.delay) {
			for _, w := range p.webhooks[i:] {
				d.with(d.log.Warn(), w).Msg(d.cfg.Name + ": simulator closed; delayed webhook not sent")
			}
			return
		}
		first := func() {
			if d.attempt(ctx, w, 1) != nil {
				d.retry(w, 2)
			}
		}
		if p.copies == 1 {
			first()
			continue
		}
		var wg sync.WaitGroup
		for range p.copies {
			wg.Go(first)
		}
		wg.Wait()
	}
}

// retry makes attempts from..MaxAttempts of w in a goroutine that Close
// stops, waiting backoff(n) before attempt n, until one succeeds. After
// Close it does nothing.
func (d *Deliverer) retry(w *Webhook, from int) {
	ok := d.spawn(func(ctx context.Context) {
		for n := from; n <= MaxAttempts; n++ {
			if !sleep(ctx, d.backoff(n)) {
				return
			}
			// The attempt is abandoned when Close is called.
			if d.attempt(ctx, w, n) == nil || ctx.Err() != nil {
				return
			}
		}
		d.with(d.log.Error(), w).Int(d.cfg.Fields.Attempt, MaxAttempts).
			Msg(d.cfg.Name + ": webhook undeliverable; giving up")
	})
	if !ok {
		d.with(d.log.Warn(), w).Msg(d.cfg.Name + ": simulator closed; webhook not retried")
	}
}

// backoff returns the wait before attempt n, from 2 on: Backoff doubled n-2
// times, at most MaxBackoff if that is set.
func (d *Deliverer) backoff(n int) time.Duration {
	b, limit := d.cfg.Backoff, d.cfg.MaxBackoff
	if limit <= 0 {
		limit = math.MaxInt64
	}
	for i := 2; i < n && b < limit; i++ {
		if b > limit/2 {
			return limit
		}
		b *= 2
	}
	return min(b, limit)
}

// Redeliver makes one attempt at each webhook of ws, in order, with ctx,
// before it returns: Faults do not apply and nothing is retried. It returns
// the failures joined (errors.Join), or nil. It works after Close too.
func (d *Deliverer) Redeliver(ctx context.Context, ws []*Webhook) error {
	if d.cfg.Post == nil {
		return nil
	}
	var errs []error
	for _, w := range ws {
		if w.Body == nil {
			continue
		}
		if err := d.attempt(ctx, w, redelivery); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// attempt makes attempt n at w and logs how it went.
func (d *Deliverer) attempt(ctx context.Context, w *Webhook, n int) error {
	err := d.cfg.Post(ctx, w)
	if err == nil && d.cfg.Delivered != nil {
		d.cfg.Delivered(w)
	}
	var e *zerolog.Event
	if err != nil {
		e = d.log.Warn().Err(err)
	} else {
		e = d.log.Info()
	}
	e = d.with(e, w).Int(d.cfg.Fields.Attempt, n)
	switch {
	case n == redelivery && err != nil:
		e.Msg(d.cfg.Name + ": webhook redelivery failed")
	case n == redelivery:
		e.Msg(d.cfg.Name + ": webhook redelivered")
	case err != nil:
		e.Msg(d.cfg.Name + ": webhook delivery failed")
	default:
		e.Msg(d.cfg.Name + ": webhook delivered")
	}
	return err
}

// with adds w's fields to a log line.
func (d *Deliverer) with(e *zerolog.Event, w *Webhook) *zerolog.Event {
	f := d.cfg.Fields
	return e.Str(f.ID, w.ID).Str(f.Type, w.Type).Str(f.Ref, w.Ref)
}

// spawn runs fn in a goroutine that Close waits for, with a context that
// Close cancels. After Close it runs nothing and returns false.
func (d *Deliverer) spawn(fn func(ctx context.Context)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	d.running++
	go func() {
		defer d.wg.Done()
		defer d.ended()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-d.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
	return true
}

// ended counts a spawned goroutine's end, and wakes Idle at the last.
func (d *Deliverer) ended() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running--; d.running == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
}

// sleep waits dur, or until ctx ends; it reports whether it waited dur.
func sleep(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Do POSTs body with header to url with client, then reads (at most 64 KiB
// of) and closes the answer, and returns its status. Its error is a failure
// to make the request or to get an answer, as http.Client.Do returns it;
// the caller judges the status. It is the common half of a Config.Post.
func Do(ctx context.Context, client *http.Client, url string, header http.Header, body []byte) (status int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
