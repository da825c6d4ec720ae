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
	"strconv"
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

// deliverNow posts d once, with ctx, and on failure retries it in the
// background.
func (s *Simulator) deliverNow(ctx context.Context, d delivery) {
	if s.cfg.WebhookURL == "" || d.body == nil {
		return
	}
	if s.post(ctx, d, 1) == nil {
		return
	}
	s.retry(d, 2)
}

// deliverLater posts d in the background, retrying on failure.
func (s *Simulator) deliverLater(d delivery) {
	if s.cfg.WebhookURL == "" || d.body == nil {
		return
	}
	s.retry(d, 1)
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
