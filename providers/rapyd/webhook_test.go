package rapyd_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

var update = flag.Bool("update", false, "rewrite the .headers files of the sample webhooks in testdata/rapyd and the .golden.json files of the sample reports in testdata/rapyd/reports")

// webhookTime is when the test webhooks are signed and received.
var webhookTime = time.Unix(1700000400, 0)

// signedHeader signs body as Rapyd does, computed here independently of the
// package.
func signedHeader(url, secret, salt string, ts int64, body []byte) http.Header {
	tsText := strconv.FormatInt(ts, 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("salt", salt)
	h.Set("timestamp", tsText)
	h.Set("signature", refSign(secret, url, salt, tsText, testAccess, secret, string(body)))
	return h
}

func signed(body []byte) providers.Webhook {
	return providers.Webhook{
		Header:     signedHeader(testWebhookURL, testSecret, "q1w2e3r4t5y6u7i8", webhookTime.Unix(), body),
		Body:       body,
		URL:        "http://10.0.0.7:8080/webhooks/rapyd", // as seen behind the proxy: not what Rapyd signs
		ReceivedAt: webhookTime,
	}
}

// signedVerification is the Verification of a webhook made by signed.
const signedVerification = `rapyd-signature hmac-sha256 over url+salt+timestamp+access_key+secret_key+body, url https://paygate.example/webhooks/rapyd, access key ACCESS_…, salt "q1w2e3r4t5y6u7i8", timestamp 1700000400`

func webhookClient(t testing.TB) *rapyd.Client {
	return newClient(t, rapyd.Config{WebhookURL: testWebhookURL})
}

func webhookBody(typ, data string) []byte {
	return []byte(`{"id":"wh_0001","type":"` + typ + `","data":` + data +
		`,"trigger_operation_id":"op-1","status":"NEW","created_at":1700000399,"extended_timestamp":1700000399123}`)
}

func paymentData(status, extra string) string {
	return `{"id":"` + testPaymentID + `","amount":15000,"currency_code":"KRW","status":"` + status +
		`","merchant_reference_id":"A-1","metadata":{"payment_order":"P12345678","attempt":"A-1"}` + extra + `}`
}

func TestParseWebhookTypes(t *testing.T) {
	c := webhookClient(t)
	base := providers.Event{
		ID:           "wh_0001",
		PaymentRef:   testPaymentID,
		PaymentOrder: "P12345678",
		Attempt:      "A-1",
		Amount:       paygate.New(15000, paygate.KRW),
		OccurredAt:   time.Unix(1700000399, 0).UTC(),
		Verification: signedVerification,
	}
	for _, tc := range []struct {
		rapydType, data string
		want            providers.EventType
		failure         string
	}{
		// The order is paid on PAYMENT_COMPLETED only.
		{"PAYMENT_COMPLETED", paymentData("CLO", ""), providers.EventPaymentSucceeded, ""},
		// Sent at creation (ACT): the buyer has not paid; stored, not acted on.
		{"PAYMENT_SUCCEEDED", paymentData("ACT", ""), providers.EventOther, ""},
		{"PAYMENT_FAILED", paymentData("ERR", `,"failure_code":"E1","failure_message":"declined"`), providers.EventPaymentFailed, "declined"},
		{"PAYMENT_EXPIRED", paymentData("EXP", ""), providers.EventPaymentExpired, ""},
		{"PAYMENT_CANCELED", paymentData("CAN", `,"cancel_reason":"merchant"`), providers.EventPaymentCanceled, "merchant"},
		{"PAYMENT_CANCELLED", paymentData("CAN", ""), providers.EventPaymentCanceled, ""},
		{"PAYMENT_REVERSED", paymentData("REV", ""), providers.EventOther, ""},
		{"PAYMENT_UPDATED", paymentData("ACT", ""), providers.EventOther, ""},
		{"PAYMENT_CAPTURED", paymentData("CLO", ""), providers.EventOther, ""},
		// A completed webhook that contradicts itself pays nothing.
		{"PAYMENT_COMPLETED", paymentData("ACT", ""), providers.EventOther, ""},
	} {
		t.Run(tc.rapydType+"/"+tc.data[len(tc.data)-20:], func(t *testing.T) {
			evs, err := c.ParseWebhook(context.Background(), signed(webhookBody(tc.rapydType, tc.data)))
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", tc.rapydType, err)
			}
			want := base
			want.Type, want.ProviderType, want.FailureReason = tc.want, tc.rapydType, tc.failure
			if len(evs) != 1 || evs[0] != want {
				t.Fatalf("ParseWebhook(%s) = %+v, want [%+v]", tc.rapydType, evs, want)
			}
		})
	}
}

func TestParseWebhookFields(t *testing.T) {
	c := webhookClient(t)
	for _, tc := range []struct {
		name, body string
		want       providers.Event
	}{
		{"attempt from merchant_reference_id",
			`{"id":"wh_2","type":"PAYMENT_EXPIRED","created_at":1700000000,"data":{"id":"payment_2","amount":"5000","currency_code":"KRW","status":"EXP","merchant_reference_id":"A-2","metadata":{"payment_order":7}}}`,
			providers.Event{ID: "wh_2", Type: providers.EventPaymentExpired, ProviderType: "PAYMENT_EXPIRED", PaymentRef: "payment_2",
				Attempt: "A-2", Amount: paygate.New(5000, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"time from extended_timestamp, no amount",
			`{"id":"wh_3","type":"PAYMENT_FAILED","extended_timestamp":1700000000250,"data":{"id":"payment_3","status":"ERR"}}`,
			providers.Event{ID: "wh_3", Type: providers.EventPaymentFailed, ProviderType: "PAYMENT_FAILED", PaymentRef: "payment_3",
				OccurredAt: time.UnixMilli(1700000000250).UTC()}},
		{"time from the signed timestamp; whole amount written 15000.0",
			`{"id":"wh_4","type":"PAYMENT_COMPLETED","data":{"id":"payment_4","status":"CLO","amount":15000.0,"currency_code":"KRW"}}`,
			providers.Event{ID: "wh_4", Type: providers.EventPaymentSucceeded, ProviderType: "PAYMENT_COMPLETED", PaymentRef: "payment_4",
				Amount: paygate.New(15000, paygate.KRW), OccurredAt: webhookTime.UTC()}},
		{"refund: the payment is data.payment",
			`{"id":"wh_5","type":"REFUND_COMPLETED","created_at":1700000000,"data":{"id":"refund_1","payment":"payment_5","amount":100,"currency":"KRW","status":"Completed"}}`,
			providers.Event{ID: "wh_5", Type: providers.EventRefunded, ProviderType: "REFUND_COMPLETED", PaymentRef: "payment_5", Amount: paygate.New(100, paygate.KRW),
				OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund: our refund id is merchant_reference_id, not an attempt",
			`{"id":"wh_7","type":"REFUND_COMPLETED","created_at":1700000000,"data":{"id":"refund_1","payment":"payment_5","amount":100,"currency":"KRW","status":"Completed","merchant_reference_id":"RF-7","metadata":{"refund":"RF-other"}}}`,
			providers.Event{ID: "wh_7", Type: providers.EventRefunded, ProviderType: "REFUND_COMPLETED", PaymentRef: "payment_5", Refund: "RF-7",
				Amount: paygate.New(100, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund: our refund id from the metadata",
			`{"id":"wh_8","type":"REFUND_COMPLETED","created_at":1700000000,"data":{"id":"refund_1","payment":"payment_5","amount":100,"currency":"KRW","status":"Completed","metadata":{"refund":"RF-8","attempt":"A-8"}}}`,
			providers.Event{ID: "wh_8", Type: providers.EventRefunded, ProviderType: "REFUND_COMPLETED", PaymentRef: "payment_5", Refund: "RF-8", Attempt: "A-8",
				Amount: paygate.New(100, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund failed: the payment is not closed",
			`{"id":"wh_9","type":"PAYMENT_REFUND_FAILED","created_at":1700000000,"data":{"id":"refund_2","payment":"payment_9","amount":100,"currency":"KRW","status":"Error","merchant_reference_id":"RF-9","failure_reason":"The payment is not closed."}}`,
			providers.Event{ID: "wh_9", Type: providers.EventRefundFailed, ProviderType: "PAYMENT_REFUND_FAILED", PaymentRef: "payment_9", Refund: "RF-9",
				FailureReason: "The payment is not closed.", Amount: paygate.New(100, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund rejected without a reason",
			`{"id":"wh_10","type":"PAYMENT_REFUND_REJECTED","created_at":1700000000,"data":{"id":"refund_3","payment":"payment_10","amount":100,"currency":"KRW","status":"Rejected","merchant_reference_id":"RF-10"}}`,
			providers.Event{ID: "wh_10", Type: providers.EventRefundFailed, ProviderType: "PAYMENT_REFUND_REJECTED", PaymentRef: "payment_10", Refund: "RF-10",
				FailureReason: "refund_rejected at Rapyd", Amount: paygate.New(100, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund rejected with an unreadable amount",
			`{"id":"wh_11","type":"PAYMENT_REFUND_REJECTED","created_at":1700000000,"data":{"id":"refund_3","payment":"payment_10","amount":100.5,"currency":"KRW","status":"Rejected","merchant_reference_id":"RF-11","failure_message":"declined"}}`,
			providers.Event{ID: "wh_11", Type: providers.EventRefundFailed, ProviderType: "PAYMENT_REFUND_REJECTED", PaymentRef: "payment_10", Refund: "RF-11",
				FailureReason: "declined", OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"refund updated is stored",
			`{"id":"wh_12","type":"REFUND_UPDATED","created_at":1700000000,"data":{"id":"refund_4","payment":"payment_12","amount":100,"currency":"KRW","status":"Pending","merchant_reference_id":"RF-12"}}`,
			providers.Event{ID: "wh_12", Type: providers.EventOther, ProviderType: "REFUND_UPDATED", PaymentRef: "payment_12", Refund: "RF-12",
				Amount: paygate.New(100, paygate.KRW), OccurredAt: time.Unix(1700000000, 0).UTC()}},
		{"other type with odd data is stored",
			`{"id":"wh_6","type":"CHECKOUT_COMPLETED","created_at":1700000000,"data":{"id":7,"status":{"x":1}}}`,
			providers.Event{ID: "wh_6", Type: providers.EventOther, ProviderType: "CHECKOUT_COMPLETED", OccurredAt: time.Unix(1700000000, 0).UTC()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := c.ParseWebhook(context.Background(), signed([]byte(tc.body)))
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", tc.body, err)
			}
			tc.want.Verification = signedVerification
			if len(evs) != 1 || evs[0] != tc.want {
				t.Fatalf("ParseWebhook(%s) = %+v, want [%+v]", tc.body, evs, tc.want)
			}
		})
	}
}

func TestParseWebhookRefused(t *testing.T) {
	c := webhookClient(t)
	body := webhookBody("PAYMENT_COMPLETED", paymentData("CLO", ""))
	valid := signed(body)
	if _, err := c.ParseWebhook(context.Background(), valid); err != nil {
		t.Fatalf("ParseWebhook(valid) = %v", err)
	}
	ts := webhookTime.Unix()
	withHeader := func(name, value string) providers.Webhook {
		w := signed(body)
		w.Header = w.Header.Clone()
		if value == "" {
			w.Header.Del(name)
		} else {
			w.Header.Set(name, value)
		}
		return w
	}
	altered := bytes.Clone(body)
	altered[bytes.Index(altered, []byte("15000"))] = '2' // 25000
	signedAt := func(at int64, b []byte) providers.Webhook {
		w := signed(b)
		w.Header = signedHeader(testWebhookURL, testSecret, "q1w2e3r4t5y6u7i8", at, b)
		return w
	}

	for _, tc := range []struct {
		name    string
		w       providers.Webhook
		message string
	}{
		{"wrong secret key", providers.Webhook{Header: signedHeader(testWebhookURL, "OTHER_SECRET", "s", ts, body), Body: body, ReceivedAt: webhookTime}, "signature does not match"},
		// Rapyd's webhooks name no account and no environment: another
		// merchant's webhook, or a sandbox one reaching a client with
		// production keys, is told apart by its keys, which are per account
		// and per environment, and enter the signature.
		{"another Rapyd account", providers.Webhook{Header: func() http.Header {
			h := signedHeader(testWebhookURL, "rsk_other_merchant_secret", "s", ts, body)
			h.Set("signature", refSign("rsk_other_merchant_secret", testWebhookURL, "s", strconv.FormatInt(ts, 10), "rak_other_merchant", "rsk_other_merchant_secret", string(body)))
			return h
		}(), Body: body, ReceivedAt: webhookTime}, "signature does not match"},
		{"wrong access key", providers.Webhook{Header: func() http.Header {
			h := signedHeader(testWebhookURL, testSecret, "s", ts, body)
			h.Set("signature", refSign(testSecret, testWebhookURL, "s", strconv.FormatInt(ts, 10), "OTHER_ACCESS", testSecret, string(body)))
			return h
		}(), Body: body, ReceivedAt: webhookTime}, "signature does not match"},
		{"altered body byte", providers.Webhook{Header: valid.Header, Body: altered, ReceivedAt: webhookTime}, "signature does not match"},
		{"signed over another URL", providers.Webhook{Header: signedHeader("https://evil.example/webhooks/rapyd", testSecret, "s", ts, body), Body: body, ReceivedAt: webhookTime}, "signature does not match"},
		{"signed over the internal URL", providers.Webhook{Header: signedHeader(valid.URL, testSecret, "s", ts, body), Body: body, URL: valid.URL, ReceivedAt: webhookTime}, "signature does not match"},
		{"other salt", withHeader("salt", "another-salt"), "signature does not match"},
		{"signature of the hex", withHeader("signature", strings.Repeat("a", 64)), "signature does not match"},
		{"no salt", withHeader("salt", ""), "no salt header"},
		{"no timestamp", withHeader("timestamp", ""), "no timestamp header"},
		{"no signature", withHeader("signature", ""), "no signature header"},
		{"timestamp not a number", withHeader("timestamp", "2023-11-14T22:13:20Z"), "not Unix seconds"},
		{"stale by 301 s", signedAt(ts-301, body), "5m1s away"},
		{"future by 301 s", signedAt(ts+301, body), "5m1s away"},
		{"no body", providers.Webhook{Header: valid.Header, ReceivedAt: webhookTime}, "no body"},
		{"body over the limit, signed", signed(append(bytes.Clone(body), bytes.Repeat([]byte(" "), rapyd.MaxWebhookBody+1-len(body))...)), "over the 262144-byte limit"},
		{"body over the limit, unsigned", providers.Webhook{Header: valid.Header, Body: make([]byte, 1<<20), ReceivedAt: webhookTime}, "over the 262144-byte limit"},
		{"not JSON", signed([]byte("id=wh_1&type=PAYMENT_COMPLETED")), "not a Rapyd webhook"},
		{"JSON with trailing data", signed(append(bytes.Clone(body), []byte(`{}`)...)), "not a Rapyd webhook"},
		{"no id", signed([]byte(`{"type":"PAYMENT_COMPLETED","data":` + paymentData("CLO", "") + `}`)), "no id"},
		{"no type", signed([]byte(`{"id":"wh_1","data":` + paymentData("CLO", "") + `}`)), "no type"},
		{"completed without payment id", signed(webhookBody("PAYMENT_COMPLETED", `{"status":"CLO","amount":1,"currency_code":"KRW"}`)), "no payment"},
		{"completed with data null", signed(webhookBody("PAYMENT_COMPLETED", `null`)), "no payment"},
		{"failed with data a string", signed(webhookBody("PAYMENT_FAILED", `"payment_1"`)), "no payment"},
		{"completed without amount", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO"}`)), "no amount"},
		{"fractional KRW", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO","amount":1500.5,"currency_code":"KRW"}`)), "KRW has no minor unit"},
		{"fractional KRW as a string", signed(webhookBody("PAYMENT_FAILED", `{"id":"payment_1","status":"ERR","amount":"1500.5","currency_code":"KRW"}`)), "KRW has no minor unit"},
		{"KRW with an exponent", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO","amount":1.5e3,"currency_code":"KRW"}`)), "not a decimal number"},
		{"negative amount", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO","amount":-15000,"currency_code":"KRW"}`)), "negative"},
		{"amount without currency", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO","amount":15000}`)), "unknown currency"},
		{"unknown currency", signed(webhookBody("PAYMENT_COMPLETED", `{"id":"payment_1","status":"CLO","amount":15000,"currency_code":"XXX"}`)), "unknown currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := c.ParseWebhook(context.Background(), tc.w)
			if err == nil {
				t.Fatalf("ParseWebhook = %+v, want an error", evs)
			}
			wantCode(t, "ParseWebhook", err, paygate.EINVALID)
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("ParseWebhook error %q, want it to contain %q", err, tc.message)
			}
		})
	}
}

func TestParseWebhookWindow(t *testing.T) {
	body := webhookBody("PAYMENT_EXPIRED", paymentData("EXP", ""))
	ts := webhookTime.Unix()
	for _, tc := range []struct {
		name      string
		tolerance time.Duration
		skew      int64 // seconds the timestamp is after the reception
		ok        bool
	}{
		{"on time", 0, 0, true},
		{"300 s old", 0, -300, true},
		{"300 s ahead", 0, 300, true},
		{"301 s old", 0, -301, false},
		{"301 s ahead", 0, 301, false},
		{"configured 60 s, 61 s old", time.Minute, -61, false},
		{"configured 60 s, 60 s ahead", time.Minute, 60, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, rapyd.Config{WebhookURL: testWebhookURL, WebhookTolerance: tc.tolerance})
			w := providers.Webhook{Header: signedHeader(testWebhookURL, testSecret, "s", ts+tc.skew, body), Body: body, ReceivedAt: webhookTime}
			_, err := c.ParseWebhook(context.Background(), w)
			if tc.ok && err != nil {
				t.Fatalf("ParseWebhook(skew %d s) = %v, want events", tc.skew, err)
			}
			if !tc.ok {
				wantCode(t, fmt.Sprintf("ParseWebhook(skew %d s)", tc.skew), err, paygate.EINVALID)
			}
		})
	}

	t.Run("no ReceivedAt: now", func(t *testing.T) {
		now := webhookTime.Add(10 * time.Minute)
		c := newClient(t, rapyd.Config{WebhookURL: testWebhookURL, Now: func() time.Time { return now }})
		w := providers.Webhook{Header: signedHeader(testWebhookURL, testSecret, "s", ts, body), Body: body}
		wantCode(t, "ParseWebhook(10 min before now)", func() error { _, err := c.ParseWebhook(context.Background(), w); return err }(), paygate.EINVALID)
		now = webhookTime
		if _, err := c.ParseWebhook(context.Background(), w); err != nil {
			t.Fatalf("ParseWebhook(now) = %v", err)
		}
	})
}

func TestParseWebhookURL(t *testing.T) {
	body := webhookBody("PAYMENT_EXPIRED", paymentData("EXP", ""))
	const seen = "https://paygate.example:8443/webhooks/rapyd"
	w := providers.Webhook{Header: signedHeader(seen, testSecret, "s", webhookTime.Unix(), body), Body: body, URL: seen, ReceivedAt: webhookTime}

	// Without a configured URL, the webhook's own URL is signed.
	c := newClient(t, rapyd.Config{})
	if _, err := c.ParseWebhook(context.Background(), w); err != nil {
		t.Fatalf("ParseWebhook with Webhook.URL = %v", err)
	}
	// With one, the configured URL wins.
	c = newClient(t, rapyd.Config{WebhookURL: testWebhookURL})
	wantCode(t, "ParseWebhook signed over Webhook.URL", func() error { _, err := c.ParseWebhook(context.Background(), w); return err }(), paygate.EINVALID)
	// With neither, nothing can be verified.
	c = newClient(t, rapyd.Config{})
	w.URL = ""
	wantCode(t, "ParseWebhook without URL", func() error { _, err := c.ParseWebhook(context.Background(), w); return err }(), paygate.EINVALID)
}

// sampleHeaders reads a .headers file: "Name: value" lines.
func sampleHeaders(t *testing.T, path string) http.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	h := http.Header{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("%s: line %q is not \"Name: value\"", path, sc.Text())
		}
		h.Set(name, value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSampleWebhooks verifies the signed sample webhooks of testdata/rapyd,
// which other packages use as fixtures. -update re-signs them.
func TestSampleWebhooks(t *testing.T) {
	c := webhookClient(t)
	for _, tc := range []struct {
		file string
		want providers.EventType
		ok   bool
	}{
		{"webhook_payment_succeeded.json", providers.EventOther, true},
		{"webhook_payment_completed.json", providers.EventPaymentSucceeded, true},
		{"webhook_payment_failed.json", providers.EventPaymentFailed, true},
		{"webhook_payment_expired.json", providers.EventPaymentExpired, true},
		{"webhook_payment_canceled.json", providers.EventPaymentCanceled, true},
		{"webhook_refund_completed.json", providers.EventRefunded, true},
		{"webhook_refund_rejected.json", providers.EventRefundFailed, true},
		{"webhook_payment_completed_fractional_krw.json", "", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(samplesDir, tc.file)
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			headersPath := strings.TrimSuffix(path, ".json") + ".headers"
			var ts int64
			fmt.Sscanf(string(body[bytes.LastIndex(body, []byte(`"created_at":`))+len(`"created_at":`):]), "%d", &ts)
			if *update {
				sig := rapyd.WebhookSignature(testWebhookURL, "sample0123456789", ts, testAccess, testSecret, body)
				out := fmt.Sprintf("Content-Type: application/json\nSalt: sample0123456789\nTimestamp: %d\nSignature: %s\n", ts, sig)
				if err := os.WriteFile(headersPath, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h := sampleHeaders(t, headersPath)
			ts, _ = strconv.ParseInt(h.Get("timestamp"), 10, 64)
			evs, err := c.ParseWebhook(context.Background(), providers.Webhook{Header: h, Body: body, ReceivedAt: time.Unix(ts, 0)})
			if !tc.ok {
				wantCode(t, "ParseWebhook("+tc.file+")", err, paygate.EINVALID)
				return
			}
			if err != nil {
				t.Fatalf("ParseWebhook(%s) = %v", tc.file, err)
			}
			if evs[0].Type != tc.want || !strings.HasPrefix(evs[0].ID, "wh_") || evs[0].PaymentRef != testPaymentID {
				t.Fatalf("ParseWebhook(%s) = %+v, want type %s, a wh_ id and payment %s", tc.file, evs[0], tc.want, testPaymentID)
			}
			// A refund's metadata is the refund's own: it names no payment
			// order, and its merchant_reference_id is our refund id.
			switch ev := evs[0]; tc.want {
			case providers.EventOther:
			case providers.EventRefunded:
				if ev.Refund != "R-1" || ev.Attempt != "" || ev.Amount != paygate.New(15000, paygate.KRW) {
					t.Fatalf("ParseWebhook(%s) = %+v, want refund R-1 of 15000 KRW and no attempt", tc.file, ev)
				}
			case providers.EventRefundFailed:
				if ev.Refund != "R-2" || ev.Attempt != "" || ev.Amount != paygate.New(5000, paygate.KRW) || ev.FailureReason != "The wallet provider refused the refund." {
					t.Fatalf("ParseWebhook(%s) = %+v, want refund R-2 of 5000 KRW refused, and no attempt", tc.file, ev)
				}
			default:
				if ev.PaymentOrder != "P12345678" || ev.Amount != paygate.New(15000, paygate.KRW) {
					t.Fatalf("ParseWebhook(%s) = %+v, want P12345678 and 15000 KRW", tc.file, ev)
				}
			}
		})
	}
}

// TestParseWebhookBodyLimit checks that a webhook of exactly MaxWebhookBody
// bytes is taken (the refusals above cover one byte more).
func TestParseWebhookBodyLimit(t *testing.T) {
	c := webhookClient(t)
	body := webhookBody("PAYMENT_COMPLETED", paymentData("CLO", ""))
	// JSON allows trailing whitespace: the padded webhook is still the webhook.
	body = append(body, bytes.Repeat([]byte(" "), rapyd.MaxWebhookBody-len(body))...)
	evs, err := c.ParseWebhook(context.Background(), signed(body))
	if err != nil || len(evs) != 1 || evs[0].Type != providers.EventPaymentSucceeded {
		t.Fatalf("ParseWebhook(%d bytes) = %+v, %v, want one payment.succeeded", len(body), evs, err)
	}
}

// TestParseWebhookVerification checks the audit trail of a verified
// webhook: the scheme, the URL signed over, the access key's prefix and
// last 4 characters, the salt and the timestamp, and never the secret key
// or the whole access key.
func TestParseWebhookVerification(t *testing.T) {
	body := webhookBody("PAYMENT_COMPLETED", paymentData("CLO", ""))
	ts := webhookTime.Unix()
	for _, tc := range []struct {
		name, access, secret, salt, url string
		cfgURL                          bool
		want                            string
	}{
		{"production-style keys", "rak_35151028166B9A9DDEFE", "rsk_4c1a8f0e2b7d9c3a5e6f",
			"6b2f9a1c", testWebhookURL, true,
			`rapyd-signature hmac-sha256 over url+salt+timestamp+access_key+secret_key+body, url https://paygate.example/webhooks/rapyd, access key rak_…DEFE, salt "6b2f9a1c", timestamp 1700000400`},
		{"short access key shows no characters", testAccess, testSecret, "q1w2e3r4t5y6u7i8", testWebhookURL, true, signedVerification},
		{"URL of the webhook when none is configured", "rak_35151028166B9A9DDEFE", "rsk_4c1a8f0e2b7d9c3a5e6f",
			"salt\"quoted", "https://paygate.example:8443/webhooks/rapyd", false,
			`rapyd-signature hmac-sha256 over url+salt+timestamp+access_key+secret_key+body, url https://paygate.example:8443/webhooks/rapyd, access key rak_…DEFE, salt "salt\"quoted", timestamp 1700000400`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rapyd.Config{AccessKey: tc.access, SecretKey: tc.secret}
			if tc.cfgURL {
				cfg.WebhookURL = tc.url
			}
			c := newClient(t, cfg)
			h := http.Header{}
			h.Set("salt", tc.salt)
			h.Set("timestamp", strconv.FormatInt(ts, 10))
			h.Set("signature", refSign(tc.secret, tc.url, tc.salt, strconv.FormatInt(ts, 10), tc.access, tc.secret, string(body)))
			evs, err := c.ParseWebhook(context.Background(), providers.Webhook{Header: h, Body: body, URL: tc.url, ReceivedAt: webhookTime})
			if err != nil || len(evs) != 1 {
				t.Fatalf("ParseWebhook = %+v, %v", evs, err)
			}
			if got := evs[0].Verification; got != tc.want {
				t.Errorf("Verification = %q, want %q", got, tc.want)
			}
			if v := evs[0].Verification; strings.Contains(v, tc.secret) || strings.Contains(v, tc.access) {
				t.Errorf("Verification %q reveals a key", v)
			}
		})
	}
}
