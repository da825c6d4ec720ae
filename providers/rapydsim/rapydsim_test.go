package rapydsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/providers/rapydsim"
)

const (
	testAccess = "sim_access_key"
	testSecret = "sim_secret_key"
	mount      = "/sandbox/rapyd"
	returnURL  = "https://shop.example/checkout/P12345678/return?t=tok&m=wallet"
)

// delivery is one webhook the receiver got, as verified by the real rapyd
// client.
type delivery struct {
	Header http.Header
	Body   []byte
	Events []providers.Event
	Err    error
}

// receiver is our webhook endpoint: it verifies each delivery with the real
// rapyd client and answers 2xx, 400 on a bad webhook, or 500 while it is
// told to fail.
type receiver struct {
	mu         sync.Mutex
	client     *rapyd.Client
	deliveries []delivery
	fail       map[string]int // webhook type → deliveries still to fail
	failAll    bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	client := rc.client
	rc.mu.Unlock()
	evs, err := client.ParseWebhook(r.Context(), providers.Webhook{
		Header: r.Header.Clone(), Body: body, URL: "http://" + r.Host + r.URL.RequestURI(), ReceivedAt: time.Now(),
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.deliveries = append(rc.deliveries, delivery{Header: r.Header.Clone(), Body: body, Events: evs, Err: err})
	switch {
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
	case rc.failAll || rc.fail[evs[0].ProviderType] > 0:
		if !rc.failAll {
			rc.fail[evs[0].ProviderType]--
		}
		w.WriteHeader(http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// ofType returns the deliveries of one webhook type.
func (rc *receiver) ofType(typ string) []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []delivery
	for _, d := range rc.deliveries {
		if d.Err == nil && d.Events[0].ProviderType == typ {
			out = append(out, d)
		}
	}
	return out
}

func (rc *receiver) errors() []error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []error
	for _, d := range rc.deliveries {
		if d.Err != nil {
			out = append(out, d.Err)
		}
	}
	return out
}

// env is a simulator mounted under /sandbox/rapyd on loopback, the real
// rapyd client pointed at it, and a webhook receiver.
type env struct {
	sim    *rapydsim.Simulator
	base   string // the mount's URL
	client *rapyd.Client
	recv   *receiver
}

type options struct {
	backoff time.Duration
	fail    map[string]int
	failAll bool
	seed    uint64
	limits  rapydsim.Limits
	// simTypes and unavailable configure the simulator's methods;
	// clientTypes the client's.
	simTypes    map[providers.Method]string
	unavailable []providers.Method
	clientTypes map[providers.Method]string
}

func newEnv(t *testing.T, o options) *env {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t))
	recv := &receiver{fail: o.fail, failAll: o.failAll}
	if recv.fail == nil {
		recv.fail = map[string]int{}
	}
	hooks := httptest.NewServer(recv)
	t.Cleanup(hooks.Close)
	webhookURL := hooks.URL + "/webhooks/rapyd"

	api := httptest.NewUnstartedServer(nil)
	base := "http://" + api.Listener.Addr().String() + mount
	sim := rapydsim.New(rapydsim.Config{
		BaseURL:      base,
		AccessKey:    testAccess,
		SecretKey:    testSecret,
		WebhookURL:   webhookURL,
		Logger:       log,
		RetryBackoff: o.backoff,
		Seed:         o.seed,
		Limits:       o.limits,
		MethodTypes:  o.simTypes,
		Unavailable:  o.unavailable,
	})
	mux := http.NewServeMux()
	mux.Handle(mount+"/", http.StripPrefix(mount, sim.Handler()))
	api.Config.Handler = mux
	api.Start()
	t.Cleanup(api.Close)
	t.Cleanup(sim.Close) // runs first: stops retries before the servers close

	client, err := rapyd.New(rapyd.Config{
		AccessKey: testAccess, SecretKey: testSecret, BaseURL: base, WebhookURL: webhookURL, Logger: log,
		MethodTypes: o.clientTypes,
	})
	if err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	recv.client = client
	recv.mu.Unlock()
	t.Cleanup(func() {
		for _, err := range recv.errors() {
			t.Errorf("a webhook failed verification: %v", err)
		}
	})
	return &env{sim: sim, base: base, client: client, recv: recv}
}

func request(m providers.Method, attempt string, won int64) providers.PaymentRequest {
	return providers.PaymentRequest{
		Method:         m,
		Amount:         paygate.New(won, paygate.KRW),
		PaymentOrder:   "P12345678",
		Attempt:        attempt,
		IdempotencyKey: "attempt:" + attempt,
		ReturnURL:      returnURL,
		Description:    "Game items <x3> & more",
	}
}

func (e *env) create(t *testing.T, m providers.Method, attempt string) providers.Payment {
	t.Helper()
	p, err := e.client.CreatePayment(context.Background(), request(m, attempt, 15000))
	if err != nil {
		t.Fatalf("CreatePayment(%s): %v", m, err)
	}
	return p
}

// idle waits until the simulator sends and retries nothing in the
// background: every webhook handed to delivery so far has been posted for
// the last time.
func (e *env) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !e.sim.WebhooksIdle(ctx) {
		t.Fatal("the simulator still sends webhooks in the background after 5 s")
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pe *paygate.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: error %v, want a *paygate.Error with code %s", what, err, code)
	}
}

func TestCreateGetCancel(t *testing.T) {
	for _, m := range []providers.Method{providers.KakaoPay, providers.SamsungPay} {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, options{})
			ctx := context.Background()
			p := e.create(t, m, "A-"+string(m))
			if !strings.HasPrefix(p.Ref, "payment_") || p.Status != providers.StatusPending ||
				p.Amount != paygate.New(15000, paygate.KRW) ||
				p.NextAction != (providers.NextAction{Type: providers.ActionRedirect, URL: e.base + "/pay/" + p.Ref}) {
				t.Fatalf("CreatePayment = %+v, want a pending payment_… of 15000 KRW redirecting to %s/pay/…", p, e.base)
			}
			got, err := e.client.GetPayment(ctx, p.Ref)
			if err != nil || got != p {
				t.Fatalf("GetPayment = %+v, %v, want %+v", got, err, p)
			}

			// Rapyd says PAYMENT_SUCCEEDED at creation: not a payment.
			waitFor(t, "PAYMENT_SUCCEEDED", func() bool { return len(e.recv.ofType("PAYMENT_SUCCEEDED")) == 1 })
			ev := e.recv.ofType("PAYMENT_SUCCEEDED")[0].Events[0]
			if ev.Type != providers.EventOther || ev.PaymentRef != p.Ref {
				t.Fatalf("PAYMENT_SUCCEEDED event %+v, want EventOther for %s", ev, p.Ref)
			}

			if err := e.client.CancelPayment(ctx, p.Ref); err != nil {
				t.Fatalf("CancelPayment: %v", err)
			}
			got, err = e.client.GetPayment(ctx, p.Ref)
			if err != nil || got.Status != providers.StatusCanceled {
				t.Fatalf("GetPayment after cancel = %+v, %v, want canceled", got, err)
			}
			// Canceling again: Rapyd refuses, the client sees CAN.
			if err := e.client.CancelPayment(ctx, p.Ref); err != nil {
				t.Fatalf("CancelPayment again = %v, want nil", err)
			}
			waitFor(t, "PAYMENT_CANCELED", func() bool { return len(e.recv.ofType("PAYMENT_CANCELED")) == 1 })
			ev = e.recv.ofType("PAYMENT_CANCELED")[0].Events[0]
			if ev.Type != providers.EventPaymentCanceled || ev.PaymentRef != p.Ref || ev.PaymentOrder != "P12345678" {
				t.Fatalf("PAYMENT_CANCELED event %+v", ev)
			}

			_, err = e.client.GetPayment(ctx, "payment_unknown")
			wantCode(t, "GetPayment(unknown)", err, paygate.ENOTFOUND)
		})
	}
}

func TestCancelPaid(t *testing.T) {
	e := newEnv(t, options{})
	p := e.create(t, providers.KakaoPay, "A-1")
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CancelPayment(paid)", e.client.CancelPayment(context.Background(), p.Ref), paygate.ECONFLICT)
}

func TestIdempotentReplay(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	first := e.create(t, providers.KakaoPay, "A-1")
	again := e.create(t, providers.KakaoPay, "A-1")
	if again != first {
		t.Fatalf("CreatePayment with the same key = %+v, want the first %+v", again, first)
	}
	other := e.create(t, providers.KakaoPay, "A-2")
	if other.Ref == first.Ref {
		t.Fatalf("CreatePayment with another key returned the same payment %s", first.Ref)
	}
	// Rapyd's default check compares the key and the amount only.
	req := request(providers.KakaoPay, "A-1", 20000)
	bigger, err := e.client.CreatePayment(ctx, req)
	if err != nil || bigger.Ref == first.Ref || bigger.Amount != req.Amount {
		t.Fatalf("CreatePayment(same key, 20000) = %+v, %v, want a new payment of 20000 KRW", bigger, err)
	}
	// Rapyd replays a key and an amount whatever the method: the client
	// refuses a replay of another method's payment.
	_, err = e.client.CreatePayment(ctx, request(providers.SamsungPay, "A-1", 15000))
	wantCode(t, "CreatePayment(same key and amount, other method)", err, paygate.ECONFLICT)
	// The replay is the first response, even after the payment changed.
	if err := e.sim.Approve(ctx, first.Ref); err != nil {
		t.Fatal(err)
	}
	if replayed := e.create(t, providers.KakaoPay, "A-1"); replayed != first {
		t.Fatalf("replay after approval = %+v, want the first response %+v", replayed, first)
	}
	if got, _ := e.client.GetPayment(ctx, first.Ref); got.Status != providers.StatusSucceeded {
		t.Fatalf("GetPayment = %+v, want succeeded", got)
	}
}

func TestMethodTypes(t *testing.T) {
	e := newEnv(t, options{})
	if err := e.client.CheckMethodTypes(context.Background()); err != nil {
		t.Fatalf("CheckMethodTypes = %v, want nil", err)
	}
}

func TestWrongSignature(t *testing.T) {
	e := newEnv(t, options{})
	for _, tc := range []struct{ name, access, secret string }{
		{"wrong secret key", testAccess, "not_the_secret"},
		{"wrong access key", "not_the_access_key", testSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rapyd.New(rapyd.Config{AccessKey: tc.access, SecretKey: tc.secret, BaseURL: e.base})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreatePayment(context.Background(), request(providers.KakaoPay, "A-1", 15000))
			wantCode(t, "CreatePayment", err, paygate.EUNAVAILABLE)
			if !strings.Contains(err.Error(), "UNAUTHENTICATED_API_CALL") {
				t.Fatalf("CreatePayment error %q, want Rapyd's UNAUTHENTICATED_API_CALL", err)
			}
		})
	}

	body := []byte(`{"amount":15000,"currency":"KRW","payment_method":{"type":"kr_kakaopay_ewallet"},"complete_payment_url":"https://a.example/","error_payment_url":"https://a.example/"}`)
	now := time.Now().Unix()
	for _, tc := range []struct {
		name     string
		ts       int64
		signPath string
		sendBody []byte
		header   func(h http.Header)
	}{
		{name: "stale timestamp", ts: now - 120},
		{name: "future timestamp", ts: now + 120},
		{name: "signed over the mount's path", signPath: mount + "/v1/payments"},
		{name: "body altered after signing", sendBody: bytes.Replace(body, []byte("15000"), []byte("1500"), 1)},
		{name: "whitespace added after signing", sendBody: bytes.ReplaceAll(body, []byte(","), []byte(", "))},
		{name: "no signature", header: func(h http.Header) { h.Del("signature") }},
		{name: "timestamp not a number", header: func(h http.Header) { h.Set("timestamp", "now") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := tc.ts
			if ts == 0 {
				ts = now
			}
			path := tc.signPath
			if path == "" {
				path = "/v1/payments"
			}
			h := signedHeader(http.MethodPost, path, ts, body)
			if tc.header != nil {
				tc.header(h)
			}
			send := body
			if tc.sendBody != nil {
				send = tc.sendBody
			}
			status, out := do(t, http.MethodPost, e.base+"/v1/payments", h, send)
			if status != http.StatusUnauthorized || out.Status.Status != "ERROR" || out.Status.ErrorCode != "UNAUTHENTICATED_API_CALL" {
				t.Fatalf("POST = %d %+v, want 401 UNAUTHENTICATED_API_CALL", status, out.Status)
			}
		})
	}
}

// signedHeader signs a request with the test keys.
func signedHeader(method, path string, ts int64, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("access_key", testAccess)
	h.Set("salt", "0123456789abcdef")
	h.Set("timestamp", strconv.FormatInt(ts, 10))
	h.Set("signature", rapyd.Signature(method, path, "0123456789abcdef", ts, testAccess, testSecret, body))
	return h
}

type apiResponse struct {
	Status struct {
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	} `json:"status"`
	Data json.RawMessage `json:"data"`
}

func do(t *testing.T, method, u string, h http.Header, body []byte) (int, apiResponse) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: response is not Rapyd JSON: %v", method, u, err)
	}
	return resp.StatusCode, out
}

func TestCreateRefused(t *testing.T) {
	e := newEnv(t, options{})
	valid := map[string]string{
		"amount":         `15000`,
		"currency":       `"KRW"`,
		"payment_method": `{"type":"kr_samsungpay_ewallet"}`,
		"complete_url":   `"https://a.example/ok"`,
		"error_url":      `"https://a.example/err"`,
		"reference":      `"A-1"`,
	}
	build := func(change map[string]string) []byte {
		v := map[string]string{}
		for k, x := range valid {
			v[k] = x
		}
		for k, x := range change {
			v[k] = x
		}
		var parts []string
		for _, k := range []struct{ key, name string }{
			{"amount", "amount"}, {"currency", "currency"}, {"payment_method", "payment_method"},
			{"complete_url", "complete_payment_url"}, {"error_url", "error_payment_url"}, {"reference", "merchant_reference_id"},
		} {
			if v[k.key] != "" {
				parts = append(parts, `"`+k.name+`":`+v[k.key])
			}
		}
		return []byte("{" + strings.Join(parts, ",") + "}")
	}
	post := func(body []byte) (int, apiResponse) {
		return do(t, http.MethodPost, e.base+"/v1/payments", signedHeader(http.MethodPost, "/v1/payments", time.Now().Unix(), body), body)
	}
	if status, out := post(build(nil)); status != http.StatusOK || out.Status.Status != "SUCCESS" {
		t.Fatalf("valid create = %d %+v, want 200 SUCCESS", status, out.Status)
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
	}{
		{"fractional KRW", map[string]string{"amount": `1500.5`}},
		{"fractional KRW as a string", map[string]string{"amount": `"1500.5"`}},
		{"zero", map[string]string{"amount": `0`}},
		{"negative", map[string]string{"amount": `-15000`}},
		{"exponent", map[string]string{"amount": `1.5e4`}},
		{"no amount", map[string]string{"amount": ``}},
		{"euro", map[string]string{"currency": `"EUR"`}},
		{"unknown method type", map[string]string{"payment_method": `{"type":"kr_unknown_ewallet"}`}},
		{"no complete_payment_url", map[string]string{"complete_url": ``}},
		{"no error_payment_url", map[string]string{"error_url": ``}},
		{"relative complete_payment_url", map[string]string{"complete_url": `"/return"`}},
		{"merchant_reference_id over 45", map[string]string{"reference": `"` + strings.Repeat("r", 46) + `"`}},
		{"not an object", map[string]string{"amount": `15000}{`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(build(tc.change))
			if status != http.StatusBadRequest || out.Status.Status != "ERROR" || out.Status.Message == "" {
				t.Fatalf("create = %d %+v, want 400 ERROR with a message", status, out.Status)
			}
		})
	}
}

func TestSettleWebhooks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		act       func(s *rapydsim.Simulator, ctx context.Context, ref string) error
		typ       string
		event     providers.EventType
		status    providers.Status
		hasReason bool
	}{
		{"approve", (*rapydsim.Simulator).Approve, "PAYMENT_COMPLETED", providers.EventPaymentSucceeded, providers.StatusSucceeded, false},
		{"decline", (*rapydsim.Simulator).Decline, "PAYMENT_FAILED", providers.EventPaymentFailed, providers.StatusFailed, true},
		{"expire", (*rapydsim.Simulator).Expire, "PAYMENT_EXPIRED", providers.EventPaymentExpired, providers.StatusExpired, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{})
			ctx := context.Background()
			p := e.create(t, providers.SamsungPay, "A-7")
			if err := tc.act(e.sim, ctx, p.Ref); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			// Delivered before the call returned.
			got := e.recv.ofType(tc.typ)
			if len(got) != 1 {
				t.Fatalf("%s delivered %d %s webhooks before returning, want 1", tc.name, len(got), tc.typ)
			}
			ev := got[0].Events[0]
			if ev.Type != tc.event || ev.PaymentRef != p.Ref || ev.PaymentOrder != "P12345678" || ev.Attempt != "A-7" ||
				ev.Amount != paygate.New(15000, paygate.KRW) || !strings.HasPrefix(ev.ID, "wh_") || (ev.FailureReason != "") != tc.hasReason {
				t.Fatalf("%s event %+v", tc.typ, ev)
			}
			if d := time.Since(ev.OccurredAt); d < 0 || d > time.Minute {
				t.Fatalf("%s event occurred at %v, want about now", tc.typ, ev.OccurredAt)
			}
			var envelope struct {
				Status            string `json:"status"`
				TriggerOperation  string `json:"trigger_operation_id"`
				ExtendedTimestamp int64  `json:"extended_timestamp"`
			}
			if err := json.Unmarshal(got[0].Body, &envelope); err != nil || envelope.Status != "NEW" ||
				envelope.TriggerOperation == "" || envelope.ExtendedTimestamp == 0 {
				t.Fatalf("webhook envelope %s, want status NEW, a trigger_operation_id and an extended_timestamp", got[0].Body)
			}
			pay, err := e.client.GetPayment(ctx, p.Ref)
			if err != nil || pay.Status != tc.status {
				t.Fatalf("GetPayment = %+v, %v, want %s", pay, err, tc.status)
			}
		})
	}
}

func TestLatePayment(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	p := e.create(t, providers.KakaoPay, "A-1")
	if err := e.sim.Expire(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Approve(ctx, p.Ref); err != nil {
		t.Fatal(err)
	}
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 1 || got[0].Events[0].Type != providers.EventPaymentSucceeded {
		t.Fatalf("PAYMENT_COMPLETED deliveries %+v, want one that pays", got)
	}
	if pay, _ := e.client.GetPayment(ctx, p.Ref); pay.Status != providers.StatusSucceeded {
		t.Fatalf("GetPayment = %+v, want succeeded", pay)
	}
}

func TestUnknownPayment(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	for name, act := range map[string]func(context.Context, string) error{
		"Approve": e.sim.Approve, "Decline": e.sim.Decline, "Expire": e.sim.Expire,
	} {
		wantCode(t, name+"(unknown)", act(ctx, "payment_nope"), paygate.ENOTFOUND)
	}
}

func TestRetryAfterFailures(t *testing.T) {
	e := newEnv(t, options{backoff: 10 * time.Millisecond, fail: map[string]int{"PAYMENT_COMPLETED": 2}})
	p := e.create(t, providers.KakaoPay, "A-1")
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatalf("Approve with a failing receiver = %v, want nil (it retries)", err)
	}
	waitFor(t, "the third delivery", func() bool { return len(e.recv.ofType("PAYMENT_COMPLETED")) == 3 })
	got := e.recv.ofType("PAYMENT_COMPLETED")
	salts := map[string]bool{}
	for i, d := range got {
		if d.Events[0].ID != got[0].Events[0].ID || !bytes.Equal(d.Body, got[0].Body) {
			t.Fatalf("delivery %d is webhook %s, want the same webhook %s with the same body", i+1, d.Events[0].ID, got[0].Events[0].ID)
		}
		salts[d.Header.Get("salt")] = true
	}
	if len(salts) != 3 {
		t.Fatalf("the 3 deliveries used %d salts, want each signed afresh", len(salts))
	}
	e.idle(t)
	if n := len(e.recv.ofType("PAYMENT_COMPLETED")); n != 3 {
		t.Fatalf("%d deliveries after the success, want 3", n)
	}
}

func TestRetryGivesUp(t *testing.T) {
	e := newEnv(t, options{backoff: time.Millisecond, failAll: true})
	p := e.create(t, providers.KakaoPay, "A-1")
	if err := e.sim.Decline(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "8 deliveries", func() bool { return len(e.recv.ofType("PAYMENT_FAILED")) == rapydsim.MaxDeliveryAttempts })
	e.idle(t)
	if n := len(e.recv.ofType("PAYMENT_FAILED")); n != rapydsim.MaxDeliveryAttempts {
		t.Fatalf("%d deliveries, want %d", n, rapydsim.MaxDeliveryAttempts)
	}
}

func TestCloseStopsRetries(t *testing.T) {
	e := newEnv(t, options{backoff: time.Hour, failAll: true})
	p := e.create(t, providers.KakaoPay, "A-1")
	if err := e.sim.Approve(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.sim.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a retry waited")
	}
	if n := len(e.recv.ofType("PAYMENT_COMPLETED")); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	// After Close, the state still changes and one delivery is made.
	if err := e.sim.Expire(context.Background(), p.Ref); err != nil {
		t.Fatal(err)
	}
	if n := len(e.recv.ofType("PAYMENT_EXPIRED")); n != 1 {
		t.Fatalf("%d PAYMENT_EXPIRED deliveries after Close, want 1", n)
	}
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)

// browser does not follow redirects, so that the test sees the 303.
var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q, want HTML", u, ct)
	}
	return resp.StatusCode, string(b)
}

// actions returns the absolute URLs of a page's forms: approve, decline.
func actions(t *testing.T, pageURL, page string) (approve, decline string) {
	t.Helper()
	m := formAction.FindAllStringSubmatch(page, -1)
	if len(m) != 2 {
		t.Fatalf("page has %d forms, want 2 (approve, decline):\n%s", len(m), page)
	}
	base, _ := url.Parse(pageURL)
	abs := func(a string) string { u, _ := base.Parse(a); return u.String() }
	return abs(m[0][1]), abs(m[1][1])
}

func postForm(t *testing.T, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := browser.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHostedPageKakaoPay(t *testing.T) {
	e := newEnv(t, options{})
	p := e.create(t, providers.KakaoPay, "A-1")
	status, page := getPage(t, p.NextAction.URL)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d", p.NextAction.URL, status)
	}
	for _, want := range []string{"Rapyd sandbox", "kakao", "₩15,000", "Game items &lt;x3&gt; &amp; more", `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("KakaoPay page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") {
		t.Fatalf("the page uses JavaScript")
	}
	approve, _ := actions(t, p.NextAction.URL, page)
	if approve != e.base+"/pay/"+p.Ref+"/approve" {
		t.Fatalf("approve form posts to %s, want %s/pay/%s/approve", approve, e.base, p.Ref)
	}
	resp := postForm(t, approve, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != returnURL {
		t.Fatalf("POST approve = %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), returnURL)
	}
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 1 || got[0].Events[0].PaymentRef != p.Ref {
		t.Fatalf("PAYMENT_COMPLETED deliveries %+v, want one for %s", got, p.Ref)
	}
	if pay, _ := e.client.GetPayment(context.Background(), p.Ref); pay.Status != providers.StatusSucceeded {
		t.Fatalf("GetPayment = %+v, want succeeded", pay)
	}
	// The page of a paid payment says so.
	if _, page := getPage(t, p.NextAction.URL); !strings.Contains(page, "already paid") {
		t.Fatalf("page of a paid payment does not say it is paid:\n%s", page)
	}
}

func TestHostedPageSamsungPay(t *testing.T) {
	e := newEnv(t, options{})
	p := e.create(t, providers.SamsungPay, "A-1")
	status, page := getPage(t, p.NextAction.URL)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d", p.NextAction.URL, status)
	}
	for _, want := range []string{"Rapyd sandbox", "Samsung Pay", "₩15,000", `name="phone"`, `src="data:image/png;base64,`, p.NextAction.URL} {
		if !strings.Contains(page, want) {
			t.Fatalf("Samsung Pay page lacks %q:\n%s", want, page)
		}
	}
	approve, decline := actions(t, p.NextAction.URL, page)

	resp := postForm(t, approve, url.Values{"phone": {"12ab"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST approve with a bad phone = %d, want 400", resp.StatusCode)
	}
	if n := len(e.recv.ofType("PAYMENT_COMPLETED")); n != 0 {
		t.Fatalf("a bad phone number approved the payment")
	}
	resp = postForm(t, decline, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != returnURL {
		t.Fatalf("POST decline = %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), returnURL)
	}
	if got := e.recv.ofType("PAYMENT_FAILED"); len(got) != 1 || got[0].Events[0].Type != providers.EventPaymentFailed {
		t.Fatalf("PAYMENT_FAILED deliveries %+v, want one", got)
	}
	// A late approval with a phone number.
	resp = postForm(t, approve, url.Values{"phone": {"010-1234-5678"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != returnURL {
		t.Fatalf("POST approve = %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), returnURL)
	}
	if got := e.recv.ofType("PAYMENT_COMPLETED"); len(got) != 1 {
		t.Fatalf("PAYMENT_COMPLETED deliveries %d, want 1", len(got))
	}
}

func TestHostedPageUnknown(t *testing.T) {
	e := newEnv(t, options{})
	if status, _ := getPage(t, e.base+"/pay/payment_nope"); status != http.StatusNotFound {
		t.Fatalf("GET unknown page = %d, want 404", status)
	}
	resp := postForm(t, e.base+"/pay/payment_nope/approve", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST approve of unknown = %d, want 404", resp.StatusCode)
	}
}
