package rapyd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

// FuzzParseWebhook checks that ParseWebhook never panics, that everything
// it refuses is an EINVALID *paygate.Error, that what it accepts is signed,
// fresh, well formed and within MaxWebhookBody, with a Verification that
// does not reveal the secret key, and that a body that is not exactly the
// signed one is refused. The seeds are the sample webhooks of testdata/rapyd and the
// corpus in testdata/fuzz/FuzzParseWebhook.
func FuzzParseWebhook(f *testing.F) {
	samples, err := filepath.Glob(filepath.Join(samplesDir, "webhook_*.json"))
	if err != nil || len(samples) == 0 {
		f.Fatalf("no sample webhooks in %s: %v", samplesDir, err)
	}
	for _, s := range samples {
		body, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, true, int64(0), false)
		f.Add(body, true, int64(301), false)
		f.Add(body, false, int64(0), false)
		f.Add(body, true, int64(0), true)
	}
	f.Add([]byte(`{"id":"wh_1","type":"PAYMENT_COMPLETED","data":{"id":"payment_1","status":"CLO","amount":1500.5,"currency_code":"KRW"}}`), true, int64(-5), false)
	f.Add([]byte(`{"id":"wh_1","type":"PAYMENT_FAILED","data":[]}`), true, int64(0), false)
	f.Add([]byte(``), true, int64(0), false)

	c := webhookClient(f)
	f.Fuzz(func(t *testing.T, body []byte, sign bool, skew int64, flip bool) {
		skew %= 1000
		w := providers.Webhook{Body: body, ReceivedAt: webhookTime}
		if sign {
			w.Header = signedHeader(testWebhookURL, testSecret, "fuzzsalt", webhookTime.Unix()+skew, body)
		}
		if flip && len(body) > 0 {
			w.Body = append([]byte(nil), body...)
			w.Body[len(body)/2] ^= 0x01
		}
		evs, err := c.ParseWebhook(context.Background(), w)
		if err != nil {
			var pe *paygate.Error
			if !errors.As(err, &pe) || pe.Code != paygate.EINVALID || pe.Message == "" {
				t.Fatalf("ParseWebhook(%q) error %v (%T), want an EINVALID *paygate.Error with a message", body, err, err)
			}
			return
		}
		if !sign || flip || skew > 300 || skew < -300 {
			t.Fatalf("ParseWebhook(%q, signed %v, skew %d s, flipped %v) = %+v, want it refused", body, sign, skew, flip, evs)
		}
		if len(evs) != 1 {
			t.Fatalf("ParseWebhook(%q) = %d events, want 1", body, len(evs))
		}
		ev := evs[0]
		if ev.ID == "" || ev.ProviderType == "" || ev.OccurredAt.IsZero() {
			t.Fatalf("ParseWebhook(%q) = %+v, want an id, a type and a time", body, ev)
		}
		if ev.Type != providers.EventOther && ev.PaymentRef == "" {
			t.Fatalf("ParseWebhook(%q) = %+v, want a payment for type %s", body, ev, ev.Type)
		}
		if ev.Amount != (paygate.Money{}) && (!ev.Amount.Currency.Valid() || ev.Amount.Minor < 0) {
			t.Fatalf("ParseWebhook(%q) amount %#v, want a non-negative amount of a known currency", body, ev.Amount)
		}
		if ev.Type == providers.EventPaymentSucceeded && ev.Amount.Currency == "" {
			t.Fatalf("ParseWebhook(%q) = %+v: a payment succeeded without an amount", body, ev)
		}
		if len(body) > rapyd.MaxWebhookBody {
			t.Fatalf("ParseWebhook accepted a body of %d bytes, over MaxWebhookBody", len(body))
		}
		if v := ev.Verification; !strings.HasPrefix(v, "rapyd-signature hmac-sha256 over ") || strings.Contains(v, testSecret) {
			t.Fatalf("ParseWebhook: Verification %q", v)
		}
	})
}
