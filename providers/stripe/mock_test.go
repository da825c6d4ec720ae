package stripe

import (
	"context"
	"os"
	"strings"
	"testing"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// These tests send real requests to stripe-mock, Stripe's official API
// mock, which validates every request against Stripe's OpenAPI
// specification. scripts/test.sh starts it and sets STRIPE_MOCK_URL.
//
// stripe-mock is stateless and answers with fixtures: every PaymentIntent
// has status requires_payment_method, a last_payment_error, a canceled_at
// and next_action {"type":"type"}; it echoes the id of a path, the amount,
// currency and payment_method_types of a create, and the Idempotency-Key
// header. So these tests assert that Stripe accepts the requests' shape and
// what is echoed, not a lifecycle.

// stripeMock returns stripe-mock's URL, and skips the test without one,
// unless CI is set: CI must run them.
func stripeMock(t *testing.T) *Client {
	t.Helper()
	u := os.Getenv("STRIPE_MOCK_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("STRIPE_MOCK_URL is not set; in CI the stripe-mock tests must run (scripts/test.sh starts stripe-mock)")
		}
		t.Skip("STRIPE_MOCK_URL is not set; run scripts/test.sh or start stripe-mock and set it")
	}
	return newTestClient(t, u)
}

func TestStripeMockCreatePayment(t *testing.T) {
	c := stripeMock(t)
	for _, m := range []providers.Method{providers.IDEAL, providers.PayNow, providers.Boleto} {
		t.Run(string(m), func(t *testing.T) {
			req := request(m)
			got, err := c.CreatePayment(context.Background(), req)
			if err != nil {
				t.Fatalf("CreatePayment(%s) = %v", m, err)
			}
			if !strings.HasPrefix(got.Ref, "pi_") {
				t.Errorf("Ref = %q, want pi_…", got.Ref)
			}
			if got.Amount != req.Amount {
				t.Errorf("Amount = %#v, want the echoed %#v", got.Amount, req.Amount)
			}
			// The fixture's canceled_at must not make it canceled, and its
			// next_action {"type":"type"} is no action.
			if got.Status == providers.StatusCanceled || got.Status == providers.StatusSucceeded {
				t.Errorf("Status = %q from a requires_payment_method fixture", got.Status)
			}
			if got.NextAction.Type != providers.ActionNone {
				t.Errorf("NextAction = %+v, want none for the fixture's next_action", got.NextAction)
			}
		})
	}
}

func TestStripeMockIdempotencyKey(t *testing.T) {
	c := stripeMock(t)
	req := request(providers.Boleto)
	req.IdempotencyKey = "attempt:att_42:create"
	params, err := c.intentParams(req)
	if err != nil {
		t.Fatal(err)
	}
	params.Context = context.Background()
	pi, err := c.createIntent(params)
	if err != nil {
		t.Fatalf("create = %v", err)
	}
	if pi.LastResponse == nil || pi.LastResponse.IdempotencyKey != req.IdempotencyKey {
		t.Fatalf("echoed Idempotency-Key = %+v, want %q", pi.LastResponse, req.IdempotencyKey)
	}
	if got := pi.PaymentMethodTypes; len(got) != 1 || got[0] != "boleto" {
		t.Errorf("payment_method_types = %q, want [boleto]", got)
	}
	if pi.Currency != "brl" || pi.Amount != 15000 {
		t.Errorf("echoed amount = %d %s, want 15000 brl", pi.Amount, pi.Currency)
	}
}

func TestStripeMockGetPayment(t *testing.T) {
	c := stripeMock(t)
	got, err := c.GetPayment(context.Background(), "pi_3MockLookup")
	if err != nil {
		t.Fatalf("GetPayment = %v", err)
	}
	if got.Ref != "pi_3MockLookup" {
		t.Errorf("Ref = %q, want the echoed pi_3MockLookup", got.Ref)
	}
	if !got.Amount.Currency.Valid() || got.Amount.Minor <= 0 {
		t.Errorf("Amount = %#v, want the fixture's positive amount", got.Amount)
	}
}

func TestStripeMockCancelPayment(t *testing.T) {
	c := stripeMock(t)
	// The fixture's payment_method_types is [card]: not a boleto, so the
	// cancel is sent (and validated by stripe-mock).
	if err := c.CancelPayment(context.Background(), "pi_3MockCancel"); err != nil {
		t.Fatalf("CancelPayment = %v", err)
	}
}

func TestStripeMockInvalidRequest(t *testing.T) {
	c := stripeMock(t)
	params, err := c.intentParams(request(providers.IDEAL))
	if err != nil {
		t.Fatal(err)
	}
	params.Context = context.Background()
	params.AddExtra("not_a_stripe_parameter", "1")
	_, err = c.createIntent(params)
	err = apiError("create payment", err)
	wantCode(t, "create with an unknown parameter", err, paygate.EINVALID)
	if msg := paygate.ErrorMessage(err); !strings.Contains(msg, "additional properties") {
		t.Errorf("message %q does not carry stripe-mock's reason", msg)
	}
}

// TestStripeMockRefund sends the refund request Refund builds to
// stripe-mock, which checks it against Stripe's OpenAPI specification.
// Refund itself first retrieves the PaymentIntent, and stripe-mock's never
// succeeds, so the refund call is made directly.
func TestStripeMockRefund(t *testing.T) {
	c := stripeMock(t)
	req := providers.RefundRequest{
		PaymentRef:     "pi_3MockRefund",
		Amount:         paygate.New(500, paygate.EUR),
		IdempotencyKey: "refund:RF-42",
		Reason:         "item returned",
		Refund:         "RF-42",
	}
	params, err := refundParams(req)
	if err != nil {
		t.Fatal(err)
	}
	params.Context = context.Background()
	r, err := c.createRefund(params)
	if err != nil {
		t.Fatalf("create refund = %v", apiError("refund", err))
	}
	if r.LastResponse == nil || r.LastResponse.IdempotencyKey != req.IdempotencyKey {
		t.Fatalf("echoed Idempotency-Key = %+v, want %q", r.LastResponse, req.IdempotencyKey)
	}
	got, err := c.refund(context.Background(), r)
	if err != nil {
		t.Fatalf("refund mapping = %v", err)
	}
	// stripe-mock echoes the amount; its fixture's currency is usd.
	if !strings.HasPrefix(got.Ref, "re_") || got.Amount.Minor != 500 || !got.Amount.Currency.Valid() {
		t.Errorf("refund = %+v, want re_… of the echoed 500", got)
	}
	if got.Status != providers.RefundSucceeded {
		t.Errorf("status = %q, want succeeded from the fixture", got.Status)
	}

	// stripe-mock refuses what Stripe would: a reason outside its enum.
	params, _ = refundParams(req)
	params.Context = context.Background()
	params.Reason = stripego.String("finance said so")
	_, err = c.createRefund(params)
	wantCode(t, "create refund with a free-text reason", apiError("refund", err), paygate.EINVALID)

	// Refund reads stripe-mock's PaymentIntent fixture, which has not
	// succeeded: nothing to refund, and no refund is asked for.
	_, err = c.Refund(context.Background(), req)
	wantCode(t, "Refund of the fixture", err, paygate.ECONFLICT)
}
