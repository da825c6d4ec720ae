package rapydsim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/providers/simkit"
)

// maxBackoff caps the wait between two deliveries of a webhook (simkit's
// Config.MaxBackoff).
const maxBackoff = time.Hour

// webhookEnvelope is the body of a webhook, as Rapyd sends it.
type webhookEnvelope struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Data               any    `json:"data"` // a paymentObject, or a refundObject for a refund's webhooks
	TriggerOperationID string `json:"trigger_operation_id"`
	Status             string `json:"status"` // of the webhook: NEW
	CreatedAt          int64  `json:"created_at"`
	ExtendedTimestamp  int64  `json:"extended_timestamp"`
}

// newDelivery builds the webhook of an event on p, encoded once: each
// attempt signs it afresh (new salt and timestamp), so that a late retry is
// still within the receiver's time window. Its ID is the webhook id (wh_…)
// and its Ref the payment's id. Call it with s.mu held.
func (s *Simulator) newDelivery(typ string, p *payment, now time.Time) *simkit.Webhook {
	return s.delivery(typ, p.id, s.object(p), now)
}

// newRefundDelivery builds the webhook of an event on refund r of p, whose
// data is the refund, as newDelivery does. Call it with s.mu held.
func (s *Simulator) newRefundDelivery(typ string, p *payment, r *refund, now time.Time) *simkit.Webhook {
	return s.delivery(typ, p.id, r.object(p), now)
}

func (s *Simulator) delivery(typ, paymentID string, data any, now time.Time) *simkit.Webhook {
	d := &simkit.Webhook{ID: newID("wh_"), Type: typ, Ref: paymentID}
	body, err := encodeJSON(webhookEnvelope{
		ID:                 d.ID,
		Type:               typ,
		Data:               data,
		TriggerOperationID: newID("op_"),
		Status:             "NEW",
		CreatedAt:          now.Unix(),
		ExtendedTimestamp:  now.UnixMilli(),
	})
	if err != nil {
		// The simulator's own types always encode; this is a bug. A nil
		// Body is never sent.
		s.log.Error().Err(err).Str(fieldWebhookType, typ).Msg("rapydsim: encode webhook")
	}
	d.Body = body
	return d
}

// post signs d afresh, with a new salt and timestamp over Config.WebhookURL,
// and makes one delivery attempt: simkit's Config.Post. A response other
// than 2xx is a failure.
func (s *Simulator) post(ctx context.Context, d *simkit.Webhook) error {
	salt := salt()
	ts := s.now().Unix()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("salt", salt)
	h.Set("timestamp", strconv.FormatInt(ts, 10))
	h.Set("signature", rapyd.WebhookSignature(s.cfg.WebhookURL, salt, ts, s.cfg.AccessKey, s.cfg.SecretKey, d.Body))
	status, err := simkit.Do(ctx, s.http, s.cfg.WebhookURL, h, d.Body)
	if err != nil {
		return fmt.Errorf("rapydsim: webhook %s: %w", d.ID, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("rapydsim: webhook %s: HTTP %d", d.ID, status)
	}
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
