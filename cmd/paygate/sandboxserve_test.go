package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage/storagetest"
)

// The provider secrets both processes of TestSandboxServe are given.
const (
	remoteStripeKey     = "sk_test_remote_sandbox"
	remoteStripeWebhook = "whsec_remote_sandbox_0123456789abcdef"
	remoteRapydAccess   = "rak_remote_sandbox"
	remoteRapydSecret   = "rsk_remote_sandbox_0123456789abcdef"
)

// freeAddr returns a loopback address with a port free a moment ago: the
// simulators must know the gateway's address before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSandboxServe is issue 15's "server measured alone": `paygate sandbox
// serve` runs the simulators in a process of their own, and `paygate
// serve` in sandbox mode is pointed at them (STRIPE_API_URL,
// RAPYD_API_URL, the same secrets). An order of every method is paid end
// to end through the two processes — the buyer on the remote simulators'
// pages, the QR code through the gateway's sandbox control API, which
// approves at the remote simulator — and each webhook comes back signed to
// the gateway. The gateway mounts no simulator of its own, the remote test
// helpers refuse a wrong secret, and the ledger verifies.
func TestSandboxServe(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			gateway := freeAddr(t)
			secrets := []string{"PAYGATE_MODE=sandbox",
				"STRIPE_SECRET_KEY=" + remoteStripeKey, "STRIPE_WEBHOOK_SECRET=" + remoteStripeWebhook,
				"RAPYD_ACCESS_KEY=" + remoteRapydAccess, "RAPYD_SECRET_KEY=" + remoteRapydSecret}
			sims := startCommand(t, append(secrets, "PAYGATE_PUBLIC_URL=http://"+gateway, "PAYGATE_SANDBOX_ADDR="),
				"sandbox", "serve", "--addr", "127.0.0.1:0")
			simURL := "http://" + sims.addr
			p := startEnv(t, append(secrets,
				"STRIPE_API_URL="+simURL+"/sandbox/stripe", "RAPYD_API_URL="+simURL+"/sandbox/rapyd",
				"PAYGATE_API_KEY="+testAPIKey, "PAYGATE_FINANCE_KEY="+testFinanceKey, "PAYGATE_RETURN_HOSTS=shop.example",
			), "--addr", gateway, "--db", dsn)
			ta := remoteApp(t, "http://"+p.addr)

			for _, c := range methodCases {
				po := ta.createOrder(t, c)
				body := map[string]any{"method": c.method}
				if c.payer != nil {
					body["payer"] = c.payer
				}
				var a attemptJSON
				if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &a); status != 201 {
					t.Fatalf("%s: start attempt = %d %+v", c.method, status, a)
				}
				mi, _ := providers.Lookup(c.method)
				if a.NextAction.URL != "" && !strings.HasPrefix(a.NextAction.URL, simURL+"/sandbox/"+mi.Provider+"/") {
					t.Fatalf("%s: next action at %s, want the remote simulator %s", c.method, a.NextAction.URL, simURL)
				}
				ta.pay(t, po, a)
				var got orderJSON
				ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
				if got.Status != "paid" || got.Attempts[0].Status != "succeeded" {
					t.Fatalf("%s: after paying, order %s and attempt %s; want paid and succeeded", c.method, got.Status, got.Attempts[0].Status)
				}
			}

			// The control API's errors are the remote simulator's: approving
			// a payment that is already paid is fine, declining it conflicts
			// (checked by the gateway), and an unknown payment at the remote
			// is not found.
			po := ta.createOrder(t, methodCases[1])
			var a attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": methodCases[1].method}, &a)
			var e apiError
			if status := ta.call(t, "POST", "/sandbox/payment-orders/"+po.Number+"/expire", nil, &e); status != 200 {
				t.Fatalf("sandbox expire at the remote simulator = %d %+v", status, e)
			}
			var expired orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &expired)
			if expired.Attempts[0].Status == "pending" || expired.Status == "paid" {
				t.Fatalf("after expire: order %s, attempt %s; want the attempt ended unpaid", expired.Status, expired.Attempts[0].Status)
			}
			status, _, text := send(t, "POST", simURL+"/sandbox/stripe/test_helpers/payments/pi_nothing/approve", nil, "Authorization: Bearer "+remoteStripeKey)
			if status != http.StatusNotFound || !strings.Contains(text, paygate.ENOTFOUND) {
				t.Errorf("approve an unknown payment at the remote = %d %s, want 404 not_found", status, text)
			}
			for _, auth := range [][]string{nil, {"Authorization: Bearer " + remoteRapydSecret}} {
				status, _, text := send(t, "POST", simURL+"/sandbox/stripe/test_helpers/payments/"+a.ProviderRef+"/approve", nil, auth...)
				if status != http.StatusUnauthorized {
					t.Errorf("remote test helper with %q = %d %s, want 401", auth, status, text)
				}
			}

			// The simulators are the remote's only: the gateway serves none,
			// and the remote's settlement report holds the payments.
			if status, _, _ := send(t, "GET", ta.url+"/sandbox/stripe/reports/settlement.csv", nil); status != http.StatusNotFound {
				t.Errorf("the gateway's own Stripe simulator answered %d, want 404 (none mounted)", status)
			}
			status, _, report := send(t, "GET", simURL+"/sandbox/stripe/reports/settlement.csv", nil)
			if status != 200 || strings.Count(report, "\n") < 4 {
				t.Errorf("remote Stripe settlement report = %d:\n%s\nwant the 3 payments", status, report)
			}

			if out, code := runVerify(t, dsn); code != exitOK {
				t.Fatalf("ledger verify = exit %d\n%s", code, out)
			}
		})
	}
}

// TestSandboxServeNeedsTheSecrets: the simulators alone, and a sandbox
// server pointed at them, refuse to start without the provider secrets
// they must share (generated ones could not match).
func TestSandboxServeNeedsTheSecrets(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	var out, errOut strings.Builder
	code := run(context.Background(), []string{"sandbox", "serve", "--addr", "127.0.0.1:0"},
		env("STRIPE_SECRET_KEY", remoteStripeKey, "STRIPE_WEBHOOK_SECRET", remoteStripeWebhook, "RAPYD_ACCESS_KEY", remoteRapydAccess), &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "RAPYD_SECRET_KEY is not set") {
		t.Errorf("sandbox serve without RAPYD_SECRET_KEY = exit %d, %q; want %d naming it", code, errOut.String(), exitError)
	}
	for _, tc := range []struct {
		c    appConfig
		want string
	}{
		{appConfig{mode: modeSandbox, stripeAPIURL: "http://127.0.0.1:8081/sandbox/stripe", stripeSecretKey: remoteStripeKey}, "STRIPE_WEBHOOK_SECRET"},
		{appConfig{mode: modeSandbox, rapydAPIURL: "http://127.0.0.1:8081/sandbox/rapyd", rapydSecretKey: remoteRapydSecret}, "RAPYD_ACCESS_KEY"},
	} {
		if err := tc.c.resolve(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolve(%+v) = %v, want an error naming %s", tc.c, err, tc.want)
		}
	}
	c := appConfig{mode: modeSandbox, stripeAPIURL: "http://127.0.0.1:8081/sandbox/stripe", stripeSecretKey: remoteStripeKey, stripeWebhookSecret: remoteStripeWebhook}
	if err := c.resolve(); err != nil {
		t.Fatalf("resolve with the remote Stripe simulator's secrets: %v", err)
	}
	if s, r := c.providerURLs("http://127.0.0.1:8080"); s != c.stripeAPIURL || r != "http://127.0.0.1:8080/sandbox/rapyd" {
		t.Errorf("providerURLs = %s, %s; want the remote Stripe simulator and the in-process Rapyd one", s, r)
	}
}
