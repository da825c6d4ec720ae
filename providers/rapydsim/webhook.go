package rapydsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/paygate/paygate/providers/rapyd"
)

// maxBackoff caps the wait between two deliveries of a webhook.
const maxBackoff = time.Hour

// webhookEnvelope is the body of a webhook, as Rapyd sends it.
type webhookEnvelope struct {
	ID                 string        `json:"id"`
	Type               string        `json:"type"`
	Data               paymentObject `json:"data"`
	TriggerOperationID string        `json:"trigger_operation_id"`
	Status             string        `json:"status"` // of the webhook: NEW
	CreatedAt          int64         `json:"created_at"`
	ExtendedTimestamp  int64         `json:"extended_timestamp"`
}

// delivery is one webhook to post. Its body is fixed when the event
// happens; each attempt signs it afresh (new salt and timestamp), so that a
// late retry is still within the receiver's time window.
type delivery struct {
	id, typ, paymentRef string
	body                []byte
}

// newDelivery builds the webhook of an event on p. Call it with s.mu held.
func (s *Simulator) newDelivery(typ string, p *payment, now time.Time) delivery {
	d := delivery{id: newID("wh_"), typ: typ, paymentRef: p.id}
	body, err := encodeJSON(webhookEnvelope{
		ID:                 d.id,
		Type:               typ,
		Data:               s.object(p),
		TriggerOperationID: newID("op_"),
		Status:             "NEW",
		CreatedAt:          now.Unix(),
		ExtendedTimestamp:  now.UnixMilli(),
	})
	if err != nil {
		// The simulator's own types always encode; this is a bug.
		s.log.Error().Err(err).Str(fieldWebhookType, typ).Msg("rapydsim: encode webhook")
	}
	d.body = body
	return d
}

// redelivery is the attempt number logged for a Redeliver.
const redelivery = 0

// send hands a batch of webhooks, in sending order, to delivery through the
// faults in force. With wait, each webhook's first attempt (one per copy)
// is made with ctx before send returns; without it, or when Faults.Delay
// holds the batch back, the batch is sent in the background, in order, and
// what is still waiting at Close is abandoned. A failed attempt is retried
// in the background.
func (s *Simulator) send(ctx context.Context, batch []delivery, wait bool) {
	if s.cfg.WebhookURL == "" {
		return
	}
	batch = slices.DeleteFunc(slices.Clone(batch), func(d delivery) bool { return d.body == nil })
	if len(batch) == 0 {
		return
	}
	p := s.plan(batch)
	if len(p.deliveries) == 0 {
		return
	}
	if wait && p.delay == 0 {
		s.sendPlan(ctx, p)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for _, d := range p.deliveries {
			s.log.Warn().Str(fieldWebhookID, d.id).Str(fieldWebhookType, d.typ).Str(fieldPaymentRef, d.paymentRef).
				Msg("rapydsim: simulator closed; webhook not sent")
		}
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.sendPlan(s.ctx, p)
	}()
}

// sendPlan makes the first attempts of a planned batch, in order, waiting
// p.delay before each webhook; the copies of one webhook are posted
// concurrently. It stops when ctx ends during a wait.
func (s *Simulator) sendPlan(ctx context.Context, p plan) {
	for i, d := range p.deliveries {
		if p.delay > 0 && !sleep(ctx, p.delay) {
			for _, d := range p.deliveries[i:] {
				s.log.Warn().Str(fieldWebhookID, d.id).Str(fieldWebhookType, d.typ).Str(fieldPaymentRef, d.paymentRef).
					Msg("rapydsim: simulator closed; delayed webhook not sent")
			}
			return
		}
		first := func() {
			if s.post(ctx, d, 1) != nil {
				s.retry(d, 2)
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

// retry posts d in the background from attempt first on, with exponential
// backoff, until it is delivered, MaxDeliveryAttempts is reached or the
// simulator is closed.
func (s *Simulator) retry(d delivery, first int) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for attempt := first; attempt <= MaxDeliveryAttempts; attempt++ {
			if attempt > 1 {
				t := time.NewTimer(s.backoff(attempt - 1))
				select {
				case <-s.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			if s.post(s.ctx, d, attempt) == nil {
				return
			}
		}
		s.log.Warn().
			Str(fieldWebhookID, d.id).
			Str(fieldWebhookType, d.typ).
			Str(fieldPaymentRef, d.paymentRef).
			Int(fieldAttempt, MaxDeliveryAttempts).
			Msg("rapydsim: webhook not delivered; giving up")
	}()
}

// backoff is the wait after the n-th failed delivery: RetryBackoff doubled
// n-1 times, at most maxBackoff.
func (s *Simulator) backoff(n int) time.Duration {
	d := s.cfg.RetryBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// post makes one delivery attempt of d. A response other than 2xx is a
// failure.
func (s *Simulator) post(ctx context.Context, d delivery, attempt int) error {
	salt := salt()
	ts := s.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("salt", salt)
	req.Header.Set("timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("signature", rapyd.WebhookSignature(s.cfg.WebhookURL, salt, ts, s.cfg.AccessKey, s.cfg.SecretKey, d.body))

	log := s.log.With().
		Str(fieldWebhookID, d.id).
		Str(fieldWebhookType, d.typ).
		Str(fieldPaymentRef, d.paymentRef).
		Int(fieldAttempt, attempt).
		Logger()
	resp, err := s.http.Do(req)
	if err != nil {
		log.Warn().Err(err).Msg("rapydsim: webhook delivery failed")
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		log.Warn().Int(fieldStatus, resp.StatusCode).Msg("rapydsim: webhook refused")
		return fmt.Errorf("rapydsim: webhook %s: HTTP %d", d.id, resp.StatusCode)
	}
	log.Info().Int(fieldStatus, resp.StatusCode).Msg("rapydsim: webhook delivered")
	return nil
}

// salt returns 16 random hex characters.
func salt() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// hmacEqual compares two signatures in constant time.
func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
