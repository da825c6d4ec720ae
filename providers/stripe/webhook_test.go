package stripe

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// receivedAt is the injected clock of the webhook tests: far from
// time.Now(), so that a check against the wall clock would fail them.
var receivedAt = time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)

func loadPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "stripe", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedHeader returns a Stripe-Signature header for body signed with
// secret at ts.
func signedHeader(body []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts}).Header
}

func delivery(body []byte, header string) providers.Webhook {
	h := http.Header{}
	if header != "" {
		h.Set(HeaderSignature, header)
	}
	return providers.Webhook{Header: h, Body: body, URL: "https://paygate.test/webhooks/stripe", ReceivedAt: receivedAt}
}

func TestParseWebhookEvents(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	tests := []struct {
		file string
		want providers.Event
	}{
		{"payment_intent.succeeded.json", providers.Event{
			ID: "evt_3PaYgt2eZvKYlo2C1x8kSucc", Type: providers.EventPaymentSucceeded, ProviderType: "payment_intent.succeeded",
			PaymentRef: "pi_3PaYgt2eZvKYlo2C1ideal01", PaymentOrder: "P12345678", Attempt: "att_01HZX3K5",
			Amount: paygate.New(2500, paygate.EUR), OccurredAt: time.Unix(1764108000, 0).UTC(),
		}},
		{"payment_intent.processing.json", providers.Event{
			ID: "evt_3PaYh02eZvKYlo2C0procBol", Type: providers.EventPaymentProcessing, ProviderType: "payment_intent.processing",
			PaymentRef: "pi_3PaYh02eZvKYlo2C0boleto1", PaymentOrder: "P23456789", Attempt: "att_01HZX4B0",
			Amount: paygate.New(15000, paygate.BRL), OccurredAt: time.Unix(1764194400, 0).UTC(),
		}},
		{"payment_intent.payment_failed.json", providers.Event{
			ID: "evt_3PaYhA2eZvKYlo2C1failIde", Type: providers.EventPaymentFailed, ProviderType: "payment_intent.payment_failed",
			PaymentRef: "pi_3PaYhA2eZvKYlo2C1ideal02", PaymentOrder: "P34567890", Attempt: "att_01HZX5C1",
			Amount:        paygate.New(1999, paygate.EUR),
			FailureReason: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
			OccurredAt:    time.Unix(1764108300, 0).UTC(),
		}},
		{"payment_intent.payment_failed.expired.json", providers.Event{
			ID: "evt_3PaYhK2eZvKYlo2C0expBolt", Type: providers.EventPaymentExpired, ProviderType: "payment_intent.payment_failed",
			PaymentRef: "pi_3PaYhK2eZvKYlo2C0boleto2", PaymentOrder: "P45678901", Attempt: "att_01HZX6D2",
			Amount: paygate.New(4990, paygate.BRL), FailureReason: "The payment attempt for this PaymentIntent has expired.",
			OccurredAt: time.Unix(1764464400, 0).UTC(),
		}},
		{"payment_intent.canceled.json", providers.Event{
			ID: "evt_3PaYhU2eZvKYlo2C1cancPnw", Type: providers.EventPaymentCanceled, ProviderType: "payment_intent.canceled",
			PaymentRef: "pi_3PaYhU2eZvKYlo2C1paynow1", PaymentOrder: "P56789012", Attempt: "att_01HZX7E3",
			Amount: paygate.New(8800, paygate.SGD), FailureReason: "abandoned", OccurredAt: time.Unix(1764111600, 0).UTC(),
		}},
		{"charge.succeeded.json", providers.Event{
			ID: "evt_3PaYhe2eZvKYlo2C1chrgPnw", Type: providers.EventPaymentSucceeded, ProviderType: "charge.succeeded",
			PaymentRef: "pi_3PaYhe2eZvKYlo2C1paynow2", PaymentOrder: "P67890123", Attempt: "att_01HZX8F4",
			Amount: paygate.New(12345, paygate.SGD), OccurredAt: time.Unix(1764108600, 0).UTC(),
		}},
		{"payment_intent.requires_action.json", providers.Event{
			ID: "evt_3PaYho2eZvKYlo2C1reqAPnw", Type: providers.EventOther, ProviderType: "payment_intent.requires_action",
			PaymentRef: "pi_3PaYho2eZvKYlo2C1paynow3", PaymentOrder: "P78901234", Attempt: "att_01HZX9G5",
			Amount: paygate.New(5000, paygate.SGD), OccurredAt: time.Unix(1764108001, 0).UTC(),
		}},
		{"payout.paid.json", providers.Event{
			ID: "evt_1PaYhy2eZvKYlo2CpayoutPd", Type: providers.EventOther, ProviderType: "payout.paid",
			OccurredAt: time.Unix(1764288000, 0).UTC(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := loadPayload(t, tt.file)
			got, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, testWebhookSecret, receivedAt.Add(-2*time.Second))))
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", tt.file, err)
			}
			if want := []providers.Event{tt.want}; !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseWebhook(%s) =\n%+v\nwant\n%+v", tt.file, got, want)
			}
		})
	}
}

func TestParseWebhookOtherAPIVersion(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	for _, version := range []string{"2026-08-26.dahlia", "2020-08-27", ""} {
		t.Run(version, func(t *testing.T) {
			body := bytes.Replace(loadPayload(t, "payment_intent.succeeded.json"),
				[]byte(`"api_version": "2023-10-16"`), []byte(fmt.Sprintf(`"api_version": %q`, version)), 1)
			if !bytes.Contains(body, []byte(fmt.Sprintf(`"api_version": %q`, version))) {
				t.Fatal("the sample's api_version was not replaced")
			}
			got, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, testWebhookSecret, receivedAt)))
			if err != nil {
				t.Fatalf("ParseWebhook(api_version %q) = %v, want accepted", version, err)
			}
			if len(got) != 1 || got[0].Type != providers.EventPaymentSucceeded {
				t.Fatalf("ParseWebhook(api_version %q) = %+v", version, got)
			}
		})
	}
}

func TestParseWebhookWindow(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	body := loadPayload(t, "payment_intent.succeeded.json")
	tests := []struct {
		name   string
		offset time.Duration // signed at receivedAt + offset
		ok     bool
	}{
		{"just now", 0, true},
		{"300 s old", -300 * time.Second, true},
		{"301 s old", -301 * time.Second, false},
		{"a day old", -24 * time.Hour, false},
		{"300 s ahead", 300 * time.Second, true},
		{"301 s ahead", 301 * time.Second, false},
		{"an hour ahead", time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, testWebhookSecret, receivedAt.Add(tt.offset))))
			if tt.ok {
				if err != nil {
					t.Fatalf("ParseWebhook(signed %s from receipt) = %v, want accepted", tt.offset, err)
				}
				return
			}
			wantCode(t, "ParseWebhook", err, paygate.EINVALID)
		})
	}

	t.Run("configured tolerance", func(t *testing.T) {
		c, err := New(Config{SecretKey: testKey, WebhookSecret: testWebhookSecret, WebhookTolerance: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for offset, ok := range map[time.Duration]bool{-10 * time.Second: true, -11 * time.Second: false, 10 * time.Second: true, 11 * time.Second: false} {
			_, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, testWebhookSecret, receivedAt.Add(offset))))
			if ok != (err == nil) {
				t.Errorf("ParseWebhook(signed %s from receipt, tolerance 10s) = %v", offset, err)
			}
		}
	})

	t.Run("zero ReceivedAt is now", func(t *testing.T) {
		w := delivery(body, signedHeader(body, testWebhookSecret, time.Now()))
		w.ReceivedAt = time.Time{}
		if _, err := c.ParseWebhook(context.Background(), w); err != nil {
			t.Fatalf("ParseWebhook(zero ReceivedAt) = %v", err)
		}
		w = delivery(body, signedHeader(body, testWebhookSecret, receivedAt))
		w.ReceivedAt = time.Time{}
		wantCode(t, "ParseWebhook(zero ReceivedAt, old timestamp)", mustFail(c.ParseWebhook(context.Background(), w)), paygate.EINVALID)
	})
}

func mustFail(_ []providers.Event, err error) error { return err }

func TestParseWebhookRefused(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	body := loadPayload(t, "payment_intent.succeeded.json")
	good := signedHeader(body, testWebhookSecret, receivedAt)
	ts := fmt.Sprint(receivedAt.Unix())
	sig := strings.TrimPrefix(good, "t="+ts+",v1=")

	altered := bytes.Clone(body)
	altered[bytes.IndexByte(altered, '2')] = '3' // "amount": 2500 → 3500, one byte

	signed := func(b []byte) providers.Webhook { return delivery(b, signedHeader(b, testWebhookSecret, receivedAt)) }
	tests := []struct {
		name    string
		w       providers.Webhook
		message string
	}{
		{"wrong secret", delivery(body, signedHeader(body, "whsec_someone_else", receivedAt)), "no signature matches"},
		{"body altered by one byte", delivery(altered, good), "no signature matches"},
		{"leading space in the body", delivery(append([]byte(" "), body...), good), "no signature matches"},
		{"missing header", delivery(body, ""), "missing Stripe-Signature"},
		{"space after the comma", delivery(body, "t="+ts+", v1="+sig), "whitespace"},
		{"no timestamp", delivery(body, "v1="+sig), "no timestamp"},
		{"two timestamps", delivery(body, "t="+ts+",t="+ts+",v1="+sig), "more than one timestamp"},
		{"timestamp not a number", delivery(body, "t=soon,v1="+sig), "not a number"},
		{"no v1", delivery(body, "t="+ts+",v0="+sig), "no v1 signature"},
		{"part without =", delivery(body, "t="+ts+",v1"), "not key=value"},
		{"signature not hex", delivery(body, "t="+ts+",v1=zz"+sig[2:]), "no signature matches"},
		{"signature of another time", delivery(body, "t="+fmt.Sprint(receivedAt.Unix()-1)+",v1="+sig), "no signature matches"},
		{"malformed JSON", signed([]byte(`{"id": "evt_1", "type": `)), "not a JSON event"},
		{"not an object", signed([]byte(`[]`)), "not a JSON event"},
		{"empty body", signed(nil), "not a JSON event"},
		{"no data", signed([]byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1}`)), "no id, type or data"},
		{"id with a slash", signed(bytes.Replace(body, []byte(`"id": "evt_`), []byte(`"id": "evt/`), 1)), "not an id"},
		{"no id", signed([]byte(`{"object":"event","type":"payout.paid","data":{"object":{}}}`)), "no id, type or data"},
		{"payment event holding a charge", signed(bytes.Replace(body, []byte(`"object": "payment_intent"`), []byte(`"object": "charge"`), 1)), "does not hold a payment_intent"},
		{"payment event holding only an id", signed([]byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,"data":{"object":"pi_1"}}`)), "not a JSON event"},
		{"unknown currency", signed(bytes.Replace(body, []byte(`"currency": "eur"`), []byte(`"currency": "xyz"`), 1)), "unknown currency"},
		{"charge event holding a payment intent", signed(bytes.Replace(body, []byte(`"type": "payment_intent.succeeded"`), []byte(`"type": "charge.succeeded"`), 1)), "does not hold a charge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ParseWebhook(context.Background(), tt.w)
			if got != nil {
				t.Errorf("ParseWebhook returned events %+v with an error", got)
			}
			wantCode(t, "ParseWebhook", err, paygate.EINVALID)
			if msg := paygate.ErrorMessage(err); !strings.Contains(msg, tt.message) {
				t.Errorf("ParseWebhook: message %q does not contain %q", msg, tt.message)
			}
		})
	}

	t.Run("two headers", func(t *testing.T) {
		w := delivery(body, good)
		w.Header.Add(HeaderSignature, good)
		_, err := c.ParseWebhook(context.Background(), w)
		wantCode(t, "ParseWebhook", err, paygate.EINVALID)
	})
	t.Run("nil header", func(t *testing.T) {
		w := delivery(body, good)
		w.Header = nil
		_, err := c.ParseWebhook(context.Background(), w)
		wantCode(t, "ParseWebhook", err, paygate.EINVALID)
	})
}

func TestParseWebhookSecretRotation(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	body := loadPayload(t, "payment_intent.canceled.json")
	ts := fmt.Sprint(receivedAt.Unix())
	valid := hex.EncodeToString(webhook.ComputeSignature(receivedAt, body, testWebhookSecret))
	old := hex.EncodeToString(webhook.ComputeSignature(receivedAt, body, "whsec_old_secret"))
	for name, header := range map[string]string{
		"new then old":      "t=" + ts + ",v1=" + valid + ",v1=" + old,
		"old then new":      "t=" + ts + ",v1=" + old + ",v1=" + valid,
		"with a v0 as well": "t=" + ts + ",v1=" + old + ",v0=" + old + ",v1=" + valid,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := c.ParseWebhook(context.Background(), delivery(body, header))
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", header, err)
			}
			if len(got) != 1 || got[0].Type != providers.EventPaymentCanceled {
				t.Fatalf("ParseWebhook = %+v", got)
			}
		})
	}
	t.Run("two signatures, none valid", func(t *testing.T) {
		_, err := c.ParseWebhook(context.Background(), delivery(body, "t="+ts+",v1="+old+",v1="+old))
		wantCode(t, "ParseWebhook", err, paygate.EINVALID)
	})
}

func TestParseWebhookWithoutSecret(t *testing.T) {
	c, err := New(Config{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	body := loadPayload(t, "payment_intent.succeeded.json")
	// Signed with the empty secret: it must not verify.
	_, err = c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, "", receivedAt)))
	wantCode(t, "ParseWebhook without a secret", err, paygate.EINTERNAL)
}

// FuzzParseWebhook checks that ParseWebhook never panics, that input not
// signed with the secret is always EINVALID, and that a signed input is
// either events or EINVALID.
func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{
		"payment_intent.succeeded.json", "payment_intent.payment_failed.expired.json",
		"charge.succeeded.json", "payout.paid.json",
	} {
		body := loadPayload(f, name)
		f.Add(body, signedHeader(body, testWebhookSecret, receivedAt), true)
		f.Add(body, signedHeader(body, testWebhookSecret, receivedAt), false)
	}
	f.Add([]byte(`{"id":"evt_1","type":"charge.succeeded","data":{"object":{"object":"charge","id":"ch_1","payment_intent":{"id":"pi_1"},"currency":"eur"}}}`), "t=1,v1=00", true)
	f.Add([]byte(`{"data":{"object":null},"id":"e","type":"payment_intent.canceled"}`), "t=1764158400,v1=", true)
	f.Add([]byte(`{}`), "t=-1,v1=zz,v1", false)
	f.Add([]byte(nil), "", false)

	c, err := New(Config{SecretKey: testKey, WebhookSecret: testWebhookSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = signedHeader(body, testWebhookSecret, receivedAt)
		}
		events, err := c.ParseWebhook(context.Background(), delivery(body, header))
		if err != nil {
			if code := paygate.ErrorCode(err); code != paygate.EINVALID {
				t.Fatalf("ParseWebhook(%q, %q) error code %q (%v), want invalid", body, header, code, err)
			}
			if events != nil {
				t.Fatalf("ParseWebhook returned events with an error")
			}
			return
		}
		if !hasValidSignature(body, header) {
			t.Fatalf("ParseWebhook(%q, %q) accepted a body without a valid signature", body, header)
		}
		if len(events) != 1 || events[0].ID == "" || events[0].ProviderType == "" {
			t.Fatalf("ParseWebhook = %+v, want one event with an id and a type", events)
		}
		if ev := events[0]; ev.Type != providers.EventOther && (ev.PaymentRef == "" || !ev.Amount.Currency.Valid()) {
			t.Fatalf("payment event %+v has no ref or currency", ev)
		}
	})
}

// hasValidSignature reports, independently of the code under test, whether
// header holds a t= and a v1 that signs body at that time with the test
// secret.
func hasValidSignature(body []byte, header string) bool {
	var ts int64
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			if _, err := fmt.Sscan(v, &ts); err != nil {
				return false
			}
		case "v1":
			sigs = append(sigs, v)
		}
	}
	want := hex.EncodeToString(webhook.ComputeSignature(time.Unix(ts, 0), body, testWebhookSecret))
	for _, s := range sigs {
		if s == want {
			return true
		}
	}
	return false
}
