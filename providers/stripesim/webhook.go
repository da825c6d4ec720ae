package stripesim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paygate/paygate/providers/simkit"
)

// Webhook delivery (simkit's): one attempt, then up to simkit.MaxAttempts
// in all with a doubling backoff (Stripe's schedule, compressed), uncapped.
const (
	defaultRetryBackoff = time.Second
	webhookUserAgent    = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
)

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

// newEvent encodes an event about obj, once: every attempt sends the same
// bytes, signed with the time of the attempt. Its ID is the event id
// (evt_…) and its Ref the PaymentIntent intentID. requestID and idemKey
// name the API request that caused it, if any.
func newEvent(typ, intentID string, obj any, created time.Time, requestID, idemKey string) *simkit.Webhook {
	ev := &simkit.Webhook{ID: newID("evt", 24), Type: typ, Ref: intentID}
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

// post signs ev with the time of the attempt and makes one attempt to POST
// it to the webhook URL: simkit's Config.Post. Any answer but 2xx is an
// error.
func (s *Simulator) post(ctx context.Context, ev *simkit.Webhook) error {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", webhookUserAgent)
	h.Set("Stripe-Signature", signature(s.cfg.WebhookSecret, s.now(), ev.Body))
	status, err := simkit.Do(ctx, s.client, s.cfg.WebhookURL, h, ev.Body)
	switch {
	case err != nil:
		return fmt.Errorf("stripesim: webhook %s: %w", ev.ID, err)
	case status < 200 || status > 299:
		return fmt.Errorf("stripesim: webhook %s: endpoint answered %d", ev.ID, status)
	}
	return nil
}
