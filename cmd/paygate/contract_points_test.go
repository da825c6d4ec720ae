package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestContractTransportCatches: the checker of contract_test.go reports an
// answer that is not what the document says (a wrong enum value, an
// undocumented status, a missing required field) and a request that is
// not (an unknown field), and lets a conforming exchange pass.
func TestContractTransportCatches(t *testing.T) {
	answers := map[string]struct {
		status int
		body   string
	}{
		"/healthz":                 {200, `{"status":"ok"}`},
		"/readyz":                  {200, `{"status":"fine"}`},                                     // not in the enum
		"/v1/payment-orders/P1234": {418, `{"error":{"code":"invalid","message":"x"}}`},            // undocumented status
		"/v1/users/U1/balances":    {200, `{"balances":[{"amount":"1.00","currency":"USD"}]}`},     // no user_id; USD
		"/v1/payment-orders":       {201, `{"error":{"code":"invalid","message":"not an order"}}`}, // not a PaymentOrder
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		w.Header().Set("X-Request-Id", "r1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	defer ts.Close()
	ct := &contractTransport{host: strings.TrimPrefix(ts.URL, "http://"), next: http.DefaultTransport, problems: map[string]int{}}
	client := &http.Client{Transport: ct}
	send := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "k1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	problems := func() []string {
		var out []string
		for p := range ct.problems {
			out = append(out, p)
		}
		clear(ct.problems)
		return out
	}
	send("GET", "/healthz", "")
	if p := problems(); len(p) != 0 {
		t.Errorf("a conforming exchange: %q", p)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"GET", "/readyz", "", "value is not one of the allowed values"},
		{"GET", "/v1/payment-orders/P1234", "", "status is not supported"},
		{"GET", "/v1/users/U1/balances", "", "user_id"},
		{"POST", "/v1/payment-orders", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00"}],"colour":"red"}`, `property "colour" is unsupported`},
	} {
		send(c.method, c.path, c.body)
		p := problems()
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s %s: problems %q, want one saying %q", c.method, c.path, p, c.want)
		}
	}
}

// TestContractPoints: what the independent contract check of issue 16
// found, each now as the document says.
func TestContractPoints(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	refundedBuyer(t, ta, methodCases[0]) // U1 holds 19.75 EUR

	// settle-payment: a request that names no payment, or a provider
	// paygate does not have, is 400; a well-formed one for an unknown
	// payment 404.
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{}`, 400, "provider is required"},
		{`{"payment_ref":"pi_x"}`, 400, "provider is required"},
		{`{"provider":"stripe"}`, 400, "payment_ref is required"},
		{`{"provider":"paypal","payment_ref":"pi_x"}`, 400, "provider must be stripe or rapyd"},
		{`{"provider":"stripe","payment_ref":"pi_never_made"}`, 404, ""},
	} {
		var e apiError
		if s := ta.callWithBad(t, testFinanceKey, "settle-"+c.body, "POST", "/v1/finance/settle-payment", c.body, &e); s != c.status || !strings.Contains(e.Error.Message, c.want) {
			t.Errorf("settle-payment %s = %d %+v, want %d saying %q", c.body, s, e.Error, c.status, c.want)
		}
	}

	// A refund's reason: 500 characters (not bytes) at most.
	var e apiError
	long := strings.Repeat("é", finance.MaxRefundReason+1)
	if s := ta.callWithBad(t, testFinanceKey, "reason-501", "POST", "/v1/users/U1/refunds-to-source", map[string]any{"amount": "1.00", "currency": "EUR", "reason": long}, &e); s != 400 || !strings.Contains(e.Error.Message, "reason") {
		t.Errorf("a reason of 501 characters = %d %+v, want 400 naming the reason", s, e.Error)
	}
	if s := ta.callWithBad(t, testFinanceKey, "usd", "POST", "/v1/users/U1/refunds-to-source", map[string]any{"amount": "1.00", "currency": "USD"}, &e); s != 400 {
		t.Errorf("a refund in USD = %d %+v, want 400", s, e.Error)
	}
	if got := ta.balanceIn(t, "U1", "EUR"); got != "19.75" {
		t.Errorf("after the refused refunds the balance is %s, want 19.75", got)
	}

	// JSON bodies: the Content-Type says JSON, and no key comes twice.
	orders := func() int { return countRows(t, ta, `SELECT COUNT(*) FROM payment_orders`) }
	before := orders()
	good := `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"x"}]}`
	for i, c := range []struct {
		contentType, body string
		status            int
		want              string
	}{
		{"text/plain", good, 415, "application/json"},
		{"", good, 415, "application/json"},
		{"application/x-www-form-urlencoded", good, 415, "application/json"},
		{"application/json", `{"buyer_id":"U1","buyer_id":"U2","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","description":"x"}]}`, 400, `duplicate key "buyer_id"`},
		{"application/json", `{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"1.00","amount":"900.00","description":"x"}]}`, 400, `duplicate key "items[0].amount"`},
	} {
		req, _ := http.NewRequest("POST", ta.url+"/v1/payment-orders", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		req.Header.Set("Idempotency-Key", "json-"+string(rune('a'+i)))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := ta.client.Do(breaksContract(req))
		if err != nil {
			t.Fatal(err)
		}
		var e apiError
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(e.Error.Message, c.want) {
			t.Errorf("Content-Type %q %s = %d %+v, want %d saying %q", c.contentType, c.body, resp.StatusCode, e.Error, c.status, c.want)
		}
	}
	if n := orders(); n != before {
		t.Errorf("the refused bodies made %d payment orders", n-before)
	}

	// Paths that are not clean are the JSON 404, with the usual headers.
	for _, path := range []string{"//v1/payment-orders", "/v1/%2e%2e/healthz", "/v1/./finance/items", "/sandbox/stripe/%2e%2e/%2e%2e/healthz"} {
		req, _ := http.NewRequest("GET", ta.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		resp, err := ta.noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), `"code":"not_found"`) || resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s = %d %s %v, want the JSON 404 with a request id and the security headers", path, resp.StatusCode, body, resp.Header)
		}
	}

	// The simulators' settlement reports are documented operations (the
	// client checks them against the document).
	for _, p := range []string{"stripe", "rapyd"} {
		resp, err := ta.client.Get(ta.url + "/sandbox/" + p + "/reports/settlement.csv?payout=false")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("GET /sandbox/%s/reports/settlement.csv = %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestOpenAPIExampleInDefaultSandbox: the document's example of creating a
// payment order works as published against a sandbox started without
// settings, and every currency the document lists has a payment method.
func TestOpenAPIExampleInDefaultSandbox(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := openDB(ctx, filepath.Join(t.TempDir(), "paygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := appConfig{mode: modeSandbox}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv := server.New(server.Config{Logger: log, Health: db.Ping})
	a, err := newApp(ctx, c, db, srv, apikey.New(db), "http://paygate.test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	doc := loadDoc(t)
	example, err := json.Marshal(doc.Components.Schemas["CreatePaymentOrderRequest"].Value.Example)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := newContractClient(t, ts.URL)
	req, _ := http.NewRequest("POST", ts.URL+"/v1/payment-orders", strings.NewReader(string(example)))
	req.Header.Set("Authorization", "Bearer "+sandboxMarketplaceKey)
	req.Header.Set("Idempotency-Key", "example-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("the published example %s = %d %s, want 201", example, resp.StatusCode, body)
	}

	for _, v := range doc.Components.Schemas["Currency"].Value.Enum {
		cur := paygate.Currency(v.(string))
		if len(providers.MethodsFor(cur)) == 0 {
			t.Errorf("the Currency enum lists %s, which no payment method takes", cur)
		}
	}
}

// TestAuditActionsDocumented: GET /v1/finance/audit's action enum is
// exactly finance.AuditActions, which finance.Audit enforces.
func TestAuditActionsDocumented(t *testing.T) {
	doc := loadDoc(t)
	op := doc.Paths.Value("/v1/finance/audit").Get
	schema := op.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	action := schema.Properties["entries"].Value.Items.Value.Properties["action"].Value
	var got []string
	for _, v := range action.Enum {
		got = append(got, v.(string))
	}
	want := finance.AuditActions()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the document's audit actions are %q; finance.AuditActions is %q", got, want)
	}
}
