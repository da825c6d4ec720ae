package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
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
