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

// sendNow delivers each event once, in order, then leaves the failed ones
// to background retries.
func (s *Simulator) sendNow(ctx context.Context, events []*event) {
	if s.cfg.WebhookURL == "" {
		return
	}
	for _, ev := range events {
		err := s.deliver(ctx, ev)
		s.logAttempt(ev, 1, err)
		if err != nil {
			s.background(ev, 2)
		}
	}
}

// sendLater delivers events in the background, first attempt included.
func (s *Simulator) sendLater(events []*event) {
	if s.cfg.WebhookURL == "" {
		return
	}
	for _, ev := range events {
		s.background(ev, 1)
	}
}

// background runs attempts from..maxAttempts of ev in a goroutine that
// Close stops. After Close it does nothing.
func (s *Simulator) background(ev *event, from int) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		s.log.Warn().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Msg("stripesim: simulator closed; webhook not retried")
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for attempt := from; attempt <= maxAttempts; attempt++ {
			if attempt > 1 {
				t := time.NewTimer(s.cfg.RetryBackoff << (attempt - 2))
				select {
				case <-s.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
			// The attempt is abandoned when Close is called.
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := s.deliver(ctx, ev)
			cancel()
			s.logAttempt(ev, attempt, err)
			if err == nil {
				return
			}
			select {
			case <-s.done:
				return
			default:
			}
		}
		s.log.Error().Str(fieldEventID, ev.ID).Str(fieldEventType, ev.Type).Str(fieldPaymentIntent, ev.Intent).
			Int(fieldAttempt, maxAttempts).Msg("stripesim: webhook undeliverable; giving up")
	}()
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
