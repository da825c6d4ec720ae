package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage/storagetest"
)

// An invalid PAYGATE_ROUTES (or breaker or timeout setting) stops paygate
// serve before it listens, with an error naming the variable and the part
// that is wrong.
func TestRoutesBadEnv(t *testing.T) {
	for _, c := range []struct{ kv, says string }{
		{"PAYGATE_ROUTES=ideal=adyen", `unknown provider "adyen"`},
		{"PAYGATE_ROUTES=paypal=stripe", `unknown payment method "paypal"`},
		{"PAYGATE_ROUTES=ideal=stripe:90,rapyd", "give a weight to every provider or to none"},
		{"PAYGATE_ROUTES=ideal=stripe;ideal=rapyd", "ideal has two routes"},
		{"PAYGATE_BREAKER_FAILURES=0", "PAYGATE_BREAKER_FAILURES"},
		{"PAYGATE_PROVIDER_CREATE_TIMEOUT=soon", "PAYGATE_PROVIDER_CREATE_TIMEOUT"},
	} {
		cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--db", t.TempDir()+"/paygate.db")
		cmd.Env = append(os.Environ(), "PAYGATE_ADDR=", "PAYGATE_DB=", c.kv)
		out, err := cmd.CombinedOutput()
		name, _, _ := strings.Cut(c.kv, "=")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError || !strings.Contains(string(out), name) || !strings.Contains(string(out), c.says) {
			t.Errorf("paygate serve with %s = %v, want exit %d naming %s and saying %q\n%s", c.kv, err, exitError, name, c.says, out)
		}
	}
}

// A route to a provider without credentials is refused by name.
func TestRoutesNeedConfiguredProviders(t *testing.T) {
	c := appConfig{stripeSecretKey: "sk_live_x"}
	env := map[string]string{"PAYGATE_ROUTES": "ideal=stripe,rapyd"}
	_, err := routesFromEnv(func(k string) string { return env[k] }, &c)
	if err == nil || !strings.Contains(err.Error(), "PAYGATE_ROUTES") || !strings.Contains(err.Error(), "provider rapyd is not configured") {
		t.Fatalf("routesFromEnv with rapyd unconfigured = %v; want rapyd named", err)
	}
	env["PAYGATE_ROUTES"] = "ideal=stripe;paynow=stripe;boleto=stripe"
	env["PAYGATE_BREAKER_FAILURES"], env["PAYGATE_BREAKER_OPEN_FOR"], env["PAYGATE_PROVIDER_CREATE_TIMEOUT"] = "3", "45s", "4s"
	c.rapydAccessKey = "rak_x"
	rc, err := routesFromEnv(func(k string) string { return env[k] }, &c)
	if err != nil || rc.breaker.Failures != 3 || rc.breaker.OpenFor.String() != "45s" || rc.createTimeout.String() != "4s" {
		t.Fatalf("routesFromEnv = %+v, %v", rc, err)
	}
	if got := rc.routes[providers.KakaoPay]; len(got) != 1 || got[0].Provider != providers.Rapyd {
		t.Fatalf("kakaopay's route = %v; want its default, rapyd", got)
	}
}

// A valid PAYGATE_ROUTES is accepted: serve listens, and its metrics show
// a breaker for every provider and method of the routes.
func TestRoutesValidServe(t *testing.T) {
	p := startEnv(t, []string{"PAYGATE_METRICS_TOKEN=" + testMetricsToken,
		"PAYGATE_ROUTES=ideal=stripe:90,rapyd:10;paynow=stripe,rapyd;boleto=stripe,rapyd;kakaopay=rapyd,stripe;samsungpay=rapyd,stripe"})
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`paygate_provider_breaker_state{method="ideal",provider="rapyd"} 0`,
		`paygate_provider_breaker_state{method="kakaopay",provider="stripe"} 0`,
		`paygate_provider_breaker_state{method="boleto",provider="stripe"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// With routes, an attempt through the API says which provider took it and
// why (checked against /openapi.json by the test client), and the finance
// dashboard shows each provider and method's health.
func TestRoutesAttemptAndDashboard(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			rs, err := routing.Parse("ideal=stripe,rapyd;kakaopay=rapyd,stripe")
			if err != nil {
				t.Fatal(err)
			}
			ta := startAppWith(t, b, appConfig{routing: routeConfig{routes: rs}})
			po := ta.createOrder(t, methodCases[0])
			var a struct {
				Provider string `json:"provider"`
				Route    struct {
					Reason, From, Cause string
				} `json:"route"`
			}
			if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); status != 201 {
				t.Fatalf("start attempt = %d", status)
			}
			if a.Provider != providers.Stripe || a.Route.Reason != "primary" || a.Route.From != "" {
				t.Fatalf("attempt = %+v; want stripe's, primary", a)
			}
			fc := newFinanceClient(t, ta)
			if status, _ := fc.login(testFinanceKey); status != http.StatusSeeOther {
				t.Fatalf("login = %d", status)
			}
			dash := fc.page("/finance/")
			for _, want := range []string{"Provider health", "Every breaker is closed",
				`<tr><td>stripe</td><td>ideal</td><td>closed</td><td class="n">1</td><td class="n">0</td><td class="n">1</td><td class="n">0</td><td>—</td></tr>`,
				`<tr><td>stripe</td><td>kakaopay</td><td>closed</td>`, `<tr><td>rapyd</td><td>ideal</td><td>closed</td>`} {
				if !strings.Contains(dash, want) {
					t.Errorf("dashboard lacks %q:\n%s", want, dash)
				}
			}
		})
	}
}
