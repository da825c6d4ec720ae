package stripesim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/rs/zerolog"
	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

func TestSettleSendsEvents(t *testing.T) {
	tests := []struct {
		name       string
		settle     func(s *Simulator, ctx context.Context, ref string) error
		wantTypes  []stripe.EventType
		wantStatus stripe.PaymentIntentStatus
		wantCode   stripe.ErrorCode
	}{
		{
			name:       "approve",
			settle:     (*Simulator).Approve,
			wantTypes:  []stripe.EventType{"payment_intent.succeeded", "charge.succeeded"},
			wantStatus: stripe.PaymentIntentStatusSucceeded,
		},
		{
			name:       "decline",
			settle:     (*Simulator).Decline,
			wantTypes:  []stripe.EventType{"payment_intent.payment_failed"},
			wantStatus: stripe.PaymentIntentStatusRequiresPaymentMethod,
			wantCode:   stripe.ErrorCodePaymentMethodProviderDecline,
		},
		{
			name:       "expire",
			settle:     (*Simulator).Expire,
			wantTypes:  []stripe.EventType{"payment_intent.payment_failed"},
			wantStatus: stripe.PaymentIntentStatusRequiresPaymentMethod,
			wantCode:   stripe.ErrorCodePaymentIntentPaymentAttemptExpired,
		},
	}
	for _, mc := range methodCases() {
		for _, tc := range tests {
			t.Run(mc.method+"/"+tc.name, func(t *testing.T) {
				env := newEnv(t, 0)
				pi, err := env.client.PaymentIntents.New(mc.params())
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.settle(env.sim, t.Context(), pi.ID); err != nil {
					t.Fatalf("settle: %v", err)
				}
				// Delivered before the call returned.
				evs := env.hooks.received()
				if len(evs) != len(tc.wantTypes) {
					t.Fatalf("received %d events, want %d", len(evs), len(tc.wantTypes))
				}
				for i, ev := range evs {
					if ev.Type != tc.wantTypes[i] {
						t.Errorf("event %d type = %s, want %s", i, ev.Type, tc.wantTypes[i])
					}
					if ev.APIVersion != "2023-10-16" || ev.Livemode || ev.Object != "event" || ev.PendingWebhooks != 1 || ev.Created == 0 {
						t.Errorf("event %d envelope = %+v", i, ev)
					}
				}
				var got stripe.PaymentIntent
				decodeObject(t, evs[0], &got)
				if got.ID != pi.ID || got.Status != tc.wantStatus || got.Metadata["payment_order"] != "P12345678" {
					t.Errorf("data.object = %s %s %v, want %s %s", got.ID, got.Status, got.Metadata, pi.ID, tc.wantStatus)
				}
				if tc.wantCode == "" {
					if got.AmountReceived != mc.amount || got.LatestCharge == nil || got.LastPaymentError != nil {
						t.Errorf("succeeded object: received %d charge %v error %v", got.AmountReceived, got.LatestCharge, got.LastPaymentError)
					}
					var ch stripe.Charge
					decodeObject(t, evs[1], &ch)
					if ch.Object != "charge" || ch.ID != got.LatestCharge.ID || ch.PaymentIntent.ID != pi.ID ||
						ch.Amount != mc.amount || !ch.Paid || ch.Status != stripe.ChargeStatusSucceeded ||
						string(ch.PaymentMethodDetails.Type) != mc.method {
						t.Errorf("charge = %+v", ch)
					}
				} else {
					if got.LastPaymentError == nil || got.LastPaymentError.Code != tc.wantCode || got.LastPaymentError.Msg == "" {
						t.Errorf("last_payment_error = %+v, want code %s", got.LastPaymentError, tc.wantCode)
					}
					if got.NextAction != nil || got.AmountReceived != 0 {
						t.Errorf("failed object: next_action %v received %d", got.NextAction, got.AmountReceived)
					}
				}
				// The API agrees with the event.
				now, err := env.client.PaymentIntents.Get(pi.ID, nil)
				if err != nil {
					t.Fatal(err)
				}
				if now.Status != tc.wantStatus {
					t.Errorf("GET status = %s, want %s", now.Status, tc.wantStatus)
				}
			})
		}
	}
}

func TestSettleWhateverTheState(t *testing.T) {
	env := newEnv(t, 0)
	ctx := t.Context()
	pi, err := env.client.PaymentIntents.New(boletoParams())
	if err != nil {
		t.Fatal(err)
	}
	// Expired, then paid late: it succeeds.
	if err := env.sim.Expire(ctx, pi.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Approve(ctx, pi.ID); err != nil {
		t.Fatal(err)
	}
	got, err := env.client.PaymentIntents.Get(pi.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != stripe.PaymentIntentStatusSucceeded || got.AmountReceived != 12345 {
		t.Errorf("after late approve = %s %d, want succeeded 12345", got.Status, got.AmountReceived)
	}

	// Canceled, then paid late: it succeeds.
	pi2, err := env.client.PaymentIntents.New(methodCases()[1].params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.PaymentIntents.Cancel(pi2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Approve(ctx, pi2.ID); err != nil {
		t.Fatal(err)
	}
	got, err = env.client.PaymentIntents.Get(pi2.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != stripe.PaymentIntentStatusSucceeded || got.CanceledAt != 0 {
		t.Errorf("after approving a canceled intent = %s canceled_at %d, want succeeded", got.Status, got.CanceledAt)
	}

	// A failure after success: the event is sent, the intent stays succeeded.
	before := len(env.hooks.wait(6, 5*time.Second)) // expire, approve×2, canceled, approve×2
	if err := env.sim.Decline(ctx, pi2.ID); err != nil {
		t.Fatal(err)
	}
	evs := env.hooks.received()
	if len(evs) != before+1 || evs[len(evs)-1].Type != "payment_intent.payment_failed" {
		t.Fatalf("decline after success: events %d (last %s), want %d ending in payment_failed", len(evs), evs[len(evs)-1].Type, before+1)
	}
	var obj stripe.PaymentIntent
	decodeObject(t, evs[len(evs)-1], &obj)
	if obj.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || obj.LastPaymentError == nil {
		t.Errorf("late failure object = %s %v", obj.Status, obj.LastPaymentError)
	}
	got, err = env.client.PaymentIntents.Get(pi2.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Errorf("after decline of a succeeded intent = %s, want succeeded", got.Status)
	}
}

func TestSettleUnknown(t *testing.T) {
	env := newEnv(t, 0)
	tests := []struct {
		name   string
		settle func(s *Simulator, ctx context.Context, ref string) error
	}{
		{"approve", (*Simulator).Approve},
		{"decline", (*Simulator).Decline},
		{"expire", (*Simulator).Expire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.settle(env.sim, t.Context(), "pi_nope")
			if paygate.ErrorCode(err) != paygate.ENOTFOUND {
				t.Errorf("%s(pi_nope) = %v, want ENOTFOUND", tc.name, err)
			}
		})
	}
	if evs := env.hooks.received(); len(evs) != 0 {
		t.Errorf("unknown refs sent %d events", len(evs))
	}
}

func TestWebhookRetry(t *testing.T) {
	env := newEnv(t, 2) // the endpoint fails each event's first 2 deliveries
	pi, err := env.client.PaymentIntents.New(methodCases()[1].params())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.sim.Approve(t.Context(), pi.ID); err != nil {
		t.Fatalf("Approve = %v, want nil despite the failed delivery", err)
	}
	evs := env.hooks.wait(2, 10*time.Second)
	types := map[stripe.EventType]bool{}
	for _, ev := range evs {
		types[ev.Type] = true
	}
	if !types["payment_intent.succeeded"] || !types["charge.succeeded"] {
		t.Errorf("retried events = %v", types)
	}
	env.hooks.mu.Lock()
	defer env.hooks.mu.Unlock()
	for id, n := range env.hooks.attempts {
		if n != 3 {
			t.Errorf("event %s delivered in %d attempts, want 3", id, n)
		}
	}
}

func TestCloseStopsRetries(t *testing.T) {
	var hits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	sim := New(Config{
		BaseURL: "http://127.0.0.1/sandbox/stripe", APIKey: testKey, WebhookURL: down.URL, WebhookSecret: testSecret,
		Logger: zerolog.Nop(), RetryBackoff: time.Hour,
	})
	srv := httptest.NewServer(http.StripPrefix(mount, sim.Handler()))
	defer srv.Close()
	pi, err := stripeClient(srv, testKey).PaymentIntents.New(methodCases()[1].params())
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Approve(t.Context(), pi.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sim.Close() // the retries wait an hour; Close must not
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("deliveries = %d, want 2 (one per event, no retry yet)", n)
	}
	// After Close, settling still works and makes one attempt.
	if err := sim.Decline(t.Context(), pi.ID); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("deliveries after Close = %d, want 3", n)
	}
}

func TestSignatureMatchesStripeGo(t *testing.T) {
	body := []byte(`{"id":"evt_1","object":"event"}`)
	at := time.Unix(1795640965, 0)
	want := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_x", Timestamp: at}).Header
	if got := signature("whsec_x", at, body); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
}
