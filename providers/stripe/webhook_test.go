package stripe

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
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
		{"charge.refunded.json", providers.Event{
			ID: "evt_3PaYi82eZvKYlo2C1refIde1", Type: providers.EventRefunded, ProviderType: "charge.refunded",
			PaymentRef: "pi_3PaYgt2eZvKYlo2C1ideal01", PaymentOrder: "P12345678", Attempt: "att_01HZX3K5",
			Amount: paygate.New(1000, paygate.EUR), RefundedTotal: true, OccurredAt: time.Unix(1764195000, 0).UTC(),
		}},
		{"charge.dispute.created.json", providers.Event{
			ID: "evt_3PaYiI2eZvKYlo2C1dispIde", Type: providers.EventDisputed, ProviderType: "charge.dispute.created",
			PaymentRef: "pi_3PaYgt2eZvKYlo2C1ideal01", Amount: paygate.New(2500, paygate.EUR), OccurredAt: time.Unix(1764281400, 0).UTC(),
		}},
		{"refund.updated.json", providers.Event{
			ID: "evt_3PaYiS2eZvKYlo2C1refUpdS", Type: providers.EventRefunded, ProviderType: "refund.updated",
			PaymentRef: "pi_3PaYgt2eZvKYlo2C1ideal01", Refund: "RF-01HZXA1B2C",
			Amount: paygate.New(1000, paygate.EUR), OccurredAt: time.Unix(1764195060, 0).UTC(),
		}},
		{"refund.updated.failed.json", providers.Event{
			ID: "evt_3PaYic2eZvKYlo2C0refFail", Type: providers.EventRefundFailed, ProviderType: "refund.updated",
			PaymentRef: "pi_3PaYhe2eZvKYlo2C1paynow2", Refund: "RF-01HZXB3D4E", FailureReason: "unknown",
			Amount: paygate.New(12345, paygate.SGD), OccurredAt: time.Unix(1764367800, 0).UTC(),
		}},
		{"charge.refund.updated.canceled.json", providers.Event{
			ID: "evt_3PaYim2eZvKYlo2C1refCanc", Type: providers.EventRefundFailed, ProviderType: "charge.refund.updated",
			PaymentRef: "pi_3PaYgt2eZvKYlo2C1ideal01", Refund: "RF-01HZXC5F6G", FailureReason: "canceled",
			Amount: paygate.New(500, paygate.EUR), OccurredAt: time.Unix(1764368400, 0).UTC(),
		}},
		// Pending is not final: stored, not acted on, but it names the
		// payment and the refund.
		{"refund.created.pending.json", providers.Event{
			ID: "evt_3PaYiw2eZvKYlo2C1refCrPn", Type: providers.EventOther, ProviderType: "refund.created",
			PaymentRef: "pi_3PaYhe2eZvKYlo2C1paynow2", Refund: "RF-01HZXB3D4E",
			Amount: paygate.New(12345, paygate.SGD), OccurredAt: time.Unix(1764195600, 0).UTC(),
		}},
		{"payout.paid.json", providers.Event{
			ID: "evt_1PaYhy2eZvKYlo2CpayoutPd", Type: providers.EventOther, ProviderType: "payout.paid",
			OccurredAt: time.Unix(1764288000, 0).UTC(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := loadPayload(t, tt.file)
			signed := receivedAt.Add(-2 * time.Second)
			got, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, testWebhookSecret, signed)))
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", tt.file, err)
			}
			tt.want.Verification = fmt.Sprintf("stripe-signature v1 hmac-sha256, secret whsec_…cret, t=%d", signed.Unix())
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

// TestParseWebhookRefunds covers the refund objects' edge cases: every
// status, an expanded payment_intent, a refund of a charge without a
// PaymentIntent, a refund made at the dashboard (no metadata), and
// malformed ones.
func TestParseWebhookRefunds(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	event := func(typ, object string) []byte {
		return []byte(`{"id":"evt_1Refund","object":"event","api_version":"2023-10-16","created":1764195000,"livemode":false,` +
			`"type":"` + typ + `","data":{"object":` + object + `}}`)
	}
	refund := func(fields string) string {
		return `{"id":"re_1","object":"refund","amount":700,"currency":"eur","payment_intent":"pi_1","metadata":{"refund":"RF-1"}` + fields + `}`
	}
	tests := []struct {
		name    string
		body    []byte
		want    providers.Event // ID, ProviderType and OccurredAt are filled in
		message string          // an EINVALID error's message, instead
	}{
		{"succeeded", event("refund.updated", refund(`,"status":"succeeded"`)),
			providers.Event{Type: providers.EventRefunded, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"created succeeded at once", event("refund.created", refund(`,"status":"succeeded"`)),
			providers.Event{Type: providers.EventRefunded, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"failed without a reason", event("charge.refund.updated", refund(`,"status":"failed"`)),
			providers.Event{Type: providers.EventRefundFailed, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR), FailureReason: "unknown"}, ""},
		{"failed, lost card", event("refund.updated", refund(`,"status":"failed","failure_reason":"lost_or_stolen_card"`)),
			providers.Event{Type: providers.EventRefundFailed, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR), FailureReason: "lost_or_stolen_card"}, ""},
		{"requires action", event("refund.updated", refund(`,"status":"requires_action"`)),
			providers.Event{Type: providers.EventOther, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"unknown status", event("refund.updated", refund(`,"status":"reticulating"`)),
			providers.Event{Type: providers.EventOther, PaymentRef: "pi_1", Refund: "RF-1", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"expanded payment_intent", event("refund.updated",
			`{"id":"re_1","object":"refund","amount":700,"currency":"eur","status":"succeeded","payment_intent":{"id":"pi_2","object":"payment_intent"},"metadata":{}}`),
			providers.Event{Type: providers.EventRefunded, PaymentRef: "pi_2", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"dashboard refund: no metadata", event("refund.updated",
			`{"id":"re_1","object":"refund","amount":700,"currency":"eur","status":"succeeded","payment_intent":"pi_1"}`),
			providers.Event{Type: providers.EventRefunded, PaymentRef: "pi_1", Amount: paygate.New(700, paygate.EUR)}, ""},
		{"refund of a bare charge", event("refund.updated",
			`{"id":"re_1","object":"refund","amount":700,"currency":"eur","status":"succeeded","charge":"ch_1","payment_intent":null}`),
			providers.Event{Type: providers.EventOther}, ""},
		{"not a refund", event("refund.updated", `{"id":"ch_1","object":"charge","amount":700,"currency":"eur","payment_intent":"pi_1"}`),
			providers.Event{}, "does not hold a refund"},
		{"refund without id", event("refund.updated", `{"object":"refund","amount":700,"currency":"eur","payment_intent":"pi_1"}`),
			providers.Event{}, "does not hold a refund"},
		{"unknown currency", event("refund.updated", `{"id":"re_1","object":"refund","amount":700,"currency":"zzz","status":"succeeded","payment_intent":"pi_1"}`),
			providers.Event{}, "unknown currency"},
		{"negative amount", event("refund.updated", `{"id":"re_1","object":"refund","amount":-700,"currency":"eur","status":"succeeded","payment_intent":"pi_1"}`),
			providers.Event{}, "negative amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ParseWebhook(context.Background(), delivery(tt.body, signedHeader(tt.body, testWebhookSecret, receivedAt)))
			if tt.message != "" {
				wantCode(t, "ParseWebhook("+tt.name+")", err, paygate.EINVALID)
				if msg := paygate.ErrorMessage(err); !strings.Contains(msg, tt.message) {
					t.Fatalf("ParseWebhook(%s): message %q does not contain %q", tt.name, msg, tt.message)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("ParseWebhook(%s) = %+v, %v", tt.name, got, err)
			}
			want := tt.want
			want.ID, want.OccurredAt = "evt_1Refund", time.Unix(1764195000, 0).UTC()
			var typ struct{ Type string }
			json.Unmarshal(tt.body, &typ)
			want.ProviderType = typ.Type
			want.Verification = got[0].Verification
			if got[0] != want {
				t.Fatalf("ParseWebhook(%s) =\n%+v\nwant\n%+v", tt.name, got[0], want)
			}
		})
	}
}

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
// either events or EINVALID; what it accepts is within MaxWebhookBody, a
// test-mode event of no connected account (the key is a test key), and
// carries a Verification that does not reveal the secret. The seeds are
// below and in testdata/fuzz/FuzzParseWebhook.
func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{
		"payment_intent.succeeded.json", "payment_intent.payment_failed.expired.json",
		"charge.succeeded.json", "payout.paid.json", "refund.updated.json", "refund.updated.failed.json",
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
		if len(body) > MaxWebhookBody {
			t.Fatalf("ParseWebhook accepted a body of %d bytes, over MaxWebhookBody", len(body))
		}
		var top struct {
			Account  string `json:"account"`
			Livemode *bool  `json:"livemode"`
		}
		if err := json.Unmarshal(body, &top); err != nil || top.Account != "" || top.Livemode == nil || *top.Livemode {
			t.Fatalf("ParseWebhook(%q) accepted an event of account %q, livemode %v (%v), want a test-mode event of no connected account", body, top.Account, top.Livemode, err)
		}
		if v := events[0].Verification; !strings.HasPrefix(v, "stripe-signature v1 hmac-sha256, secret whsec_…") || strings.Contains(v, testWebhookSecret) {
			t.Fatalf("ParseWebhook: Verification %q", v)
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
	want := webhook.ComputeSignature(time.Unix(ts, 0), body, testWebhookSecret)
	for _, s := range sigs {
		// A v1 signature is the MAC in hex; like stripe-go, the parser
		// decodes it, so "AB" and "ab" are the same signature (the
		// uppercase-hex-signature seed: the MAC's bytes, not a forgery).
		if got, err := hex.DecodeString(s); err == nil && bytes.Equal(got, want) {
			return true
		}
	}
	return false
}

// TestParseWebhookAccount checks that a correctly signed event of another
// account or of the other mode than the key's is refused.
func TestParseWebhookAccount(t *testing.T) {
	body := loadPayload(t, "payment_intent.succeeded.json")
	const testMode = `"livemode": false,
  "pending_webhooks"`
	if !bytes.Contains(body, []byte(testMode)) {
		t.Fatal("the sample's top-level livemode was not found")
	}
	withTop := func(field string) []byte {
		return bytes.Replace(body, []byte(testMode), []byte(field+`
  "pending_webhooks"`), 1)
	}
	live := withTop(`"livemode": true,`)
	connect := withTop(`"livemode": false, "account": "acct_1PaYgtOtherAcct1",`)
	noMode := withTop(``)
	nullMode := withTop(`"livemode": null,`)

	tests := []struct {
		name    string
		key     string
		body    []byte
		message string // "" when accepted
	}{
		{"test key, test event", "sk_test_51PaygateSecret4242", body, ""},
		{"restricted test key, test event", "rk_test_51PaygateSecret4242", body, ""},
		{"live key, live event", "sk_live_51PaygateSecret4242", live, ""},
		{"restricted live key, live event", "rk_live_51PaygateSecret4242", live, ""},
		{"test key, live event", "sk_test_51PaygateSecret4242", live, "a live-mode event but the secret key is a test-mode key"},
		{"live key, test event", "sk_live_51PaygateSecret4242", body, "a test-mode event but the secret key is a live-mode key"},
		{"restricted live key, test event", "rk_live_51PaygateSecret4242", body, "a test-mode event but the secret key is a live-mode key"},
		{"no livemode", "sk_test_51PaygateSecret4242", noMode, "has no livemode"},
		{"livemode null", "sk_test_51PaygateSecret4242", nullMode, "has no livemode"},
		{"connected account", "sk_test_51PaygateSecret4242", connect, `connected account "acct_1PaYgtOtherAcct1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{SecretKey: tt.key, WebhookSecret: testWebhookSecret})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ParseWebhook(context.Background(), delivery(tt.body, signedHeader(tt.body, testWebhookSecret, receivedAt)))
			if tt.message == "" {
				if err != nil || len(got) != 1 || got[0].Type != providers.EventPaymentSucceeded {
					t.Fatalf("ParseWebhook(%s) = %+v, %v, want one payment.succeeded", tt.name, got, err)
				}
				return
			}
			if got != nil {
				t.Errorf("ParseWebhook(%s) returned events %+v with an error", tt.name, got)
			}
			wantCode(t, "ParseWebhook("+tt.name+")", err, paygate.EINVALID)
			if msg := paygate.ErrorMessage(err); !strings.Contains(msg, tt.message) {
				t.Errorf("ParseWebhook(%s): message %q does not contain %q", tt.name, msg, tt.message)
			}
		})
	}
}

// TestParseWebhookBodyLimit checks that the client itself refuses a body
// over MaxWebhookBody, signed or not, and takes one of exactly that size.
func TestParseWebhookBodyLimit(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	body := loadPayload(t, "payment_intent.succeeded.json")
	// JSON allows trailing whitespace: the padded event is still the event.
	pad := func(n int) []byte { return append(bytes.Clone(body), bytes.Repeat([]byte(" "), n-len(body))...) }
	tests := []struct {
		name string
		body []byte
		ok   bool
	}{
		{"exactly the limit", pad(MaxWebhookBody), true},
		{"one byte over", pad(MaxWebhookBody + 1), false},
		{"a megabyte", pad(1 << 20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ParseWebhook(context.Background(), delivery(tt.body, signedHeader(tt.body, testWebhookSecret, receivedAt)))
			if tt.ok {
				if err != nil || len(got) != 1 {
					t.Fatalf("ParseWebhook(%d bytes) = %+v, %v, want one event", len(tt.body), got, err)
				}
				return
			}
			wantCode(t, fmt.Sprintf("ParseWebhook(%d bytes)", len(tt.body)), err, paygate.EINVALID)
			if msg := paygate.ErrorMessage(err); !strings.Contains(msg, "over the 262144-byte limit") {
				t.Errorf("ParseWebhook(%d bytes): message %q, want it to name the limit", len(tt.body), msg)
			}
		})
	}
	t.Run("refused before the signature is checked", func(t *testing.T) {
		big := pad(MaxWebhookBody + 1)
		_, err := c.ParseWebhook(context.Background(), delivery(big, "t=1,v1=00"))
		if msg := paygate.ErrorMessage(err); !strings.Contains(msg, "byte limit") {
			t.Fatalf("ParseWebhook(unsigned, too large) = %v, want the size refused first", err)
		}
	})
}

// TestParseWebhookVerification checks the audit trail of a verified event:
// the scheme, the secret's prefix and last 4 characters, the signed time,
// and never the secret itself.
func TestParseWebhookVerification(t *testing.T) {
	body := loadPayload(t, "charge.succeeded.json")
	tests := []struct {
		secret string
		want   string
	}{
		{"whsec_5hG2q9LmX0rTzA8vB3nC7dE1fK4pW6yQ", "stripe-signature v1 hmac-sha256, secret whsec_…W6yQ, t=1764158400"},
		{testWebhookSecret, "stripe-signature v1 hmac-sha256, secret whsec_…cret, t=1764158400"},
		// Too short to show any of it.
		{"whsec_short", "stripe-signature v1 hmac-sha256, secret whsec_…, t=1764158400"},
		// No whsec_ prefix.
		{"0123456789abcdefXYZW", "stripe-signature v1 hmac-sha256, secret …XYZW, t=1764158400"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, err := New(Config{SecretKey: testKey, WebhookSecret: tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ParseWebhook(context.Background(), delivery(body, signedHeader(body, tt.secret, receivedAt)))
			if err != nil || len(got) != 1 {
				t.Fatalf("ParseWebhook = %+v, %v", got, err)
			}
			if got[0].Verification != tt.want {
				t.Errorf("Verification = %q, want %q", got[0].Verification, tt.want)
			}
			if strings.Contains(got[0].Verification, tt.secret) || strings.Contains(got[0].Verification, testKey) {
				t.Errorf("Verification %q reveals a secret", got[0].Verification)
			}
		})
	}
}
