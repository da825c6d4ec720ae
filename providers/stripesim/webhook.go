package stripesim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Webhook delivery: one attempt, then up to maxAttempts in all with a
// doubling backoff (Stripe's schedule, compressed).
const (
	maxAttempts         = 8
	defaultRetryBackoff = time.Second
	webhookUserAgent    = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
)

// event is one webhook event, encoded once: every attempt sends the same
// bytes, signed with the time of the attempt.
type event struct {
	ID     string
	Type   string
	Intent string // the PaymentIntent it is about, for logs
	Body   []byte
}

type eventRequestJSON struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

type eventJSON struct {
	ID              string           `json:"id"`
	Object          string           `json:"object"`
	APIVersion      string           `json:"api_version"`
	Created         int64            `json:"created"`
	Data            map[string]any   `json:"data"`
	Livemode        bool             `json:"livemode"`
	PendingWebhooks int64            `json:"pending_webhooks"`
	Request         eventRequestJSON `json:"request"`
	Type            string           `json:"type"`
}

// newEvent encodes an event about obj. requestID and idemKey name the API
// request that caused it, if any.
func newEvent(typ, intentID string, obj any, created time.Time, requestID, idemKey string) *event {
	ev := &event{ID: newID("evt", 24), Type: typ, Intent: intentID}
	ev.Body = marshal(eventJSON{
		ID: ev.ID, Object: "event", APIVersion: apiVersion, Created: created.Unix(),
		Data: map[string]any{"object": obj}, PendingWebhooks: 1,
		Request: eventRequestJSON{ID: optStr(requestID), IdempotencyKey: optStr(idemKey)},
		Type:    typ,
	})
	return ev
}

// signature returns the Stripe-Signature header of body signed at t:
// t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>.
func signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// deliver makes one attempt to POST ev to the webhook URL. Any answer but
// 2xx is an error.
func (s *Simulator) deliver(ctx context.Context, ev *event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(ev.Body))
	if err != nil {
		return fmt.Errorf("stripesim: webhook %s: %w", ev.ID, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set("Stripe-Signature", signature(s.cfg.WebhookSecret, s.now(), ev.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("stripesim: webhook %s: %w", ev.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("stripesim: webhook %s: endpoint answered %d", ev.ID, resp.StatusCode)
	}
	return nil
}

// send hands a batch of events, in sending order, to delivery through the
// faults in force. With wait, each event's first attempt (one per copy) is
// made with ctx before send returns; without it, or when Faults.Delay holds
// the batch back, the batch is sent in the background, in order, and what
// is still waiting at Close is abandoned. A failed attempt is retried in the
// background.
func (s *Simulator) send(ctx context.Context, batch []*event, wait bool) {
	if s.cfg.WebhookURL == "" || len(batch) == 0 {
		return
	}
	p := s.plan(batch)
	if len(p.events) == 0 {
		return
	}
	if wait && p.delay == 0 {
		s.sendPlan(ctx, p)
		return
	}
	if !s.spawn(func(ctx context.Context) { s.sendPlan(ctx, p) }) {
		for _, ev := range p.events {
			s.log.Warn().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
				Msg("stripesim: simulator closed; webhook not sent")
		}
	}
}

// sendPlan makes the first attempts of a planned batch, in order, waiting
// p.delay before each event; the copies of one event are posted
// concurrently. It stops when ctx ends during a wait.
func (s *Simulator) sendPlan(ctx context.Context, p plan) {
	for i, ev := range p.events {
		if p.delay > 0 && !sleep(ctx, p.delay) {
			for _, ev := range p.events[i:] {
				s.log.Warn().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
					Msg("stripesim: simulator closed; delayed webhook not sent")
			}
			return
		}
		first := func() {
			err := s.deliver(ctx, ev)
			s.logAttempt(ev, 1, err)
			if err != nil {
				s.background(ev, 2)
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

// background runs attempts from..maxAttempts of ev in a goroutine that
// Close stops. After Close it does nothing.
func (s *Simulator) background(ev *event, from int) {
	ok := s.spawn(func(ctx context.Context) {
		for attempt := from; attempt <= maxAttempts; attempt++ {
			if attempt > 1 && !sleep(ctx, s.cfg.RetryBackoff<<(attempt-2)) {
				return
			}
			// The attempt is abandoned when Close is called.
			err := s.deliver(ctx, ev)
			s.logAttempt(ev, attempt, err)
			if err == nil || ctx.Err() != nil {
				return
			}
		}
		s.log.Error().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Int(fieldAttempt, maxAttempts).Msg("stripesim: webhook undeliverable; giving up")
	})
	if !ok {
		s.log.Warn().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Msg("stripesim: simulator closed; webhook not retried")
	}
}

// spawn runs fn in a goroutine that Close waits for, with a context that
// Close cancels. After Close it runs nothing and returns false.
func (s *Simulator) spawn(fn func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
	return true
}

// sleep waits d, or until ctx ends; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Simulator) logAttempt(ev *event, attempt int, err error) {
	if err != nil {
		s.log.Warn().Err(err).Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).
			Str(fieldPaymentIntent, ev.Intent).Int(fieldAttempt, attempt).Msg("stripesim: webhook delivery failed")
		return
	}
	s.log.Info().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).
		Str(fieldPaymentIntent, ev.Intent).Int(fieldAttempt, attempt).Msg("stripesim: webhook delivered")
}
