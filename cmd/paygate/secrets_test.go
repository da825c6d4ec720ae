package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact/redacttest"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage/storagetest"
)

// The secrets of the log tests, all listed in testdata/sensitive.txt.
const (
	logStripeKey      = "sk_test_logtest_0123456789abcdef"
	logStripeWebhook  = "whsec_logtest_0123456789abcdef"
	logRapydAccess    = "rak_logtest_0123456789"
	logRapydSecret    = "rsk_logtest_0123456789abcdef"
	logCheckoutSecret = "checkout-secret-logtest-0123456789"
)

// writeSecret writes value to a new file of mode perm and returns its path.
func writeSecret(t *testing.T, value string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(value), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestSecretFromEnvOrFile(t *testing.T) {
	const value = "s3cr3t-value-0123456789"
	good := writeSecret(t, value+"\n", 0o600)
	crlf := writeSecret(t, value+"\r\n", 0o400)
	open := writeSecret(t, value, 0o644)
	empty := writeSecret(t, "\n", 0o600)
	tests := []struct {
		name string
		env  map[string]string
		want string
		err  string // part of the error; "" = none
	}{
		{"unset", nil, "", ""},
		{"env", map[string]string{"X": value}, value, ""},
		{"file, newline trimmed", map[string]string{"X_FILE": good}, value, ""},
		{"file with CRLF, mode 0400", map[string]string{"X_FILE": crlf}, value, ""},
		{"both set", map[string]string{"X": value, "X_FILE": good}, "", "X and X_FILE are both set"},
		{"readable by others", map[string]string{"X_FILE": open}, "", "accessible by group or others (mode 0644)"},
		{"empty file", map[string]string{"X_FILE": empty}, "", "is empty"},
		{"missing file", map[string]string{"X_FILE": filepath.Join(t.TempDir(), "nope")}, "", "no such file"},
		{"a directory", map[string]string{"X_FILE": t.TempDir()}, "", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret(func(k string) string { return tt.env[k] }, "X")
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("secret = %q, %v; want %q", got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("secret = %q, %v; want an error with %q", got, err, tt.err)
			case err != nil && strings.Contains(err.Error(), value):
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// TestSecretsStayHidden tries to get the secrets out of the binary: its
// help, its refusals of a bad configuration, and /metrics.
func TestSecretsStayHidden(t *testing.T) {
	env := []string{"STRIPE_SECRET_KEY=" + logStripeKey, "STRIPE_WEBHOOK_SECRET=" + logStripeWebhook,
		"RAPYD_ACCESS_KEY=" + logRapydAccess, "RAPYD_SECRET_KEY=" + logRapydSecret,
		"PAYGATE_CHECKOUT_SECRET=" + logCheckoutSecret, "PAYGATE_API_KEY=" + testAPIKey}
	sensitive := redacttest.Sensitive(t)
	runBinary := func(extra []string, args ...string) (string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(append(os.Environ(), env...), extra...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	// No flag takes a secret, and the help shows none of the values.
	for _, args := range [][]string{{"serve", "-h"}, {"help"}, {"recon", "-h"}, {"keys", "create", "-h"}} {
		out, _ := runBinary(nil, args...)
		if hits := redacttest.Found(out, sensitive); len(hits) > 0 {
			t.Errorf("paygate %v shows %q:\n%s", args, hits, out)
		}
		if m := regexp.MustCompile(`(?im)^\s+-\S*(key|secret)\S*`).FindString(out); m != "" && args[0] != "keys" {
			t.Errorf("paygate %v has a flag for a secret: %q", args, m)
		}
	}
	// Refusals name the variable and the file, never the value.
	key := writeSecret(t, logStripeKey, 0o600)
	open := writeSecret(t, logStripeKey, 0o640)
	for _, tt := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"both set", []string{"STRIPE_SECRET_KEY_FILE=" + key}, "STRIPE_SECRET_KEY and STRIPE_SECRET_KEY_FILE are both set"},
		{"group-readable file", []string{"STRIPE_SECRET_KEY=", "STRIPE_SECRET_KEY_FILE=" + open}, "accessible by group or others"},
		{"hash beside the key", []string{"PAYGATE_API_KEY_SHA256=" + strings.Repeat("ab", 32)}, "PAYGATE_API_KEY and PAYGATE_API_KEY_SHA256 are both set"},
		{"bad hash", []string{"PAYGATE_API_KEY=", "PAYGATE_API_KEY_SHA256=" + testAPIKey}, "PAYGATE_API_KEY_SHA256 is not a SHA-256"},
	} {
		out, code := runBinary(tt.extra, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db"))
		if code != exitError || !strings.Contains(out, tt.want) {
			t.Errorf("%s: paygate serve = exit %d\n%s\nwant exit %d with %q", tt.name, code, out, exitError, tt.want)
		}
		if hits := redacttest.Found(out, sensitive); len(hits) > 0 {
			t.Errorf("%s: the refusal shows %q:\n%s", tt.name, hits, out)
		}
	}

	// Every secret from a file, the API keys too (the finance key by its
	// hash only): the server takes them, and /metrics shows none.
	fileEnv := []string{"PAYGATE_MODE=sandbox", "PAYGATE_RETURN_HOSTS=shop.example",
		"STRIPE_SECRET_KEY_FILE=" + key, "STRIPE_WEBHOOK_SECRET_FILE=" + writeSecret(t, logStripeWebhook+"\n", 0o600),
		"RAPYD_ACCESS_KEY_FILE=" + writeSecret(t, logRapydAccess, 0o600), "RAPYD_SECRET_KEY_FILE=" + writeSecret(t, logRapydSecret, 0o400),
		"PAYGATE_CHECKOUT_SECRET_FILE=" + writeSecret(t, logCheckoutSecret, 0o600),
		"PAYGATE_API_KEY_FILE=" + writeSecret(t, testAPIKey+"\n", 0o600),
		"PAYGATE_FINANCE_KEY_SHA256=" + "b0c5c1d0d0bc3d7bd1a5c83f1f5b6e6b0a0e1c1e8c1b0b3f0b1e6f7a7c0e2d3a"}
	for _, kv := range []string{"STRIPE_SECRET_KEY=", "STRIPE_WEBHOOK_SECRET=", "RAPYD_ACCESS_KEY=", "RAPYD_SECRET_KEY=", "PAYGATE_CHECKOUT_SECRET=", "PAYGATE_API_KEY=", "PAYGATE_FINANCE_KEY="} {
		fileEnv = append(fileEnv, kv) // the plain variables unset
	}
	p := startEnv(t, fileEnv, "--db", filepath.Join(t.TempDir(), "p.db"), "--log-level", "debug")
	ta := remoteApp(t, "http://"+p.addr)
	po := ta.createOrder(t, methodCase{providers.IDEAL, "EUR", []string{"5.00"}, nil})
	var a attemptJSON
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); status != 201 {
		t.Fatalf("attempt with the file's Stripe key = %d %+v", status, a)
	}
	ta.pay(t, po, a)
	ta.waitPaid(t, po.Number) // the webhook verified with the file's secret
	resp, err := ta.client.Get(ta.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if hits := redacttest.Found(string(metrics), sensitive); len(hits) > 0 || !bytes.Contains(metrics, []byte("paygate_")) {
		t.Errorf("/metrics shows %q (or is empty)", hits)
	}
	p.stop(t)
	if hits := redacttest.Found(p.log.String(), sensitive); len(hits) > 0 {
		t.Errorf("the debug log shows %q", hits)
	}
}

// TestLogsHoldNoSecrets runs the binary at debug level through a whole flow
// with a boleto payer's CPF, email and phone, known API and provider
// secrets, and the failures that tempt a log to show them: a wrong API key,
// the wrong role's key, a forged webhook carrying the payer's data, a
// provider's error that echoes the payer's email, a finance login whose
// actor is an email. Its whole stderr holds none of testdata/sensitive.txt.
func TestLogsHoldNoSecrets(t *testing.T) {
	financeKeyFile := writeSecret(t, testFinanceKey+"\n", 0o600)
	env := []string{"PAYGATE_MODE=sandbox", "PAYGATE_RETURN_HOSTS=shop.example", "PAYGATE_API_KEY=" + testAPIKey,
		"PAYGATE_FINANCE_KEY=", "PAYGATE_FINANCE_KEY_FILE=" + financeKeyFile,
		"STRIPE_SECRET_KEY=" + logStripeKey, "STRIPE_WEBHOOK_SECRET=" + logStripeWebhook,
		"RAPYD_ACCESS_KEY=" + logRapydAccess, "RAPYD_SECRET_KEY=" + logRapydSecret, "PAYGATE_CHECKOUT_SECRET=" + logCheckoutSecret}
	p := startEnv(t, env, "--db", storagetest.Backends(t)[0].DSN(t), "--log-level", "debug")
	ta := remoteApp(t, "http://"+p.addr)
	payer := map[string]any{
		"name": "Maria Silva", "email": "maria@example.com", "tax_id": "529.982.247-25", "phone": "+55 11 91234-5678",
		"address": map[string]any{"line1": "Av. Paulista 1000", "city": "São Paulo", "state": "SP", "postal_code": "01310-100", "country": "BR"},
	}

	// The happy path: boleto, then Samsung Pay with a phone at the wallet page.
	for _, c := range []methodCase{{providers.Boleto, "BRL", []string{"99.90"}, payer}, {providers.SamsungPay, "KRW", []string{"42000"}, nil}} {
		po := ta.createOrder(t, c)
		resp, err := ta.client.Get(po.CheckoutURL) // the buyer opens the link with its token
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		body := map[string]any{"method": c.method}
		if c.payer != nil {
			body["payer"] = c.payer
		}
		var a attemptJSON
		if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &a); status != 201 {
			t.Fatalf("start %s = %d %+v", c.method, status, a)
		}
		if c.method == providers.SamsungPay {
			action := formAction(t, a.NextAction.URL, regexp.MustCompile(`(?i)approve`))
			resp, err := noRedirect.PostForm(action, url.Values{"phone": {"+55 11 91234-5678"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		} else {
			ta.pay(t, po, a)
		}
		ta.waitPaid(t, po.Number)
	}

	// A provider error that echoes the payer's email (iDEAL passes the
	// email on unchecked; the simulator refuses it, naming it).
	po := ta.createOrder(t, methodCase{providers.IDEAL, "EUR", []string{"1.00"}, nil})
	var refused apiError
	if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts",
		map[string]any{"method": "ideal", "payer": map[string]any{"email": "maria@example.com."}}, &refused); status < 400 {
		t.Fatalf("attempt with an email Stripe refuses = %d, want a 4xx", status)
	}
	if strings.Contains(refused.Error.Message, "maria@example.com") {
		t.Errorf("the API answer echoes the payer's email: %q", refused.Error.Message)
	}

	// Wrong keys: unknown, the finance key on a marketplace endpoint, an
	// issued-looking key with a wrong secret.
	for _, k := range []struct {
		key  string
		want int
	}{{"test-marketplace-key-but-wrong", 401}, {testFinanceKey, 403}, {apikey.Prefix + "0123456789abcdef_" + strings.Repeat("0", 64), 401}} {
		if status := ta.callWithBad(t, k.key, "idem-wrong-key", "POST", "/v1/payment-orders", map[string]any{"buyer_id": "U1"}, nil); status != k.want {
			t.Errorf("POST with key %q = %d, want %d", k.key, status, k.want)
		}
	}

	// A forged webhook carrying the payer's data, and one with a stale
	// signature made with the wrong secret.
	forged := `{"id":"evt_forged","type":"payment_intent.succeeded","data":{"object":{"billing_details":{"email":"maria@example.com","phone":"+55 11 91234-5678"},"payment_method_details":{"boleto":{"tax_id":"52998224725"}}}}}`
	for _, sig := range []string{"t=1,v1=deadbeef", "t=" + strings.Repeat("9", 10) + ",v1=" + logStripeWebhook} {
		req, _ := http.NewRequest(http.MethodPost, ta.url+"/webhooks/stripe", strings.NewReader(forged))
		req.Header.Set("Stripe-Signature", sig)
		req.Header.Set("Content-Type", "application/json")
		resp, err := ta.client.Do(breaksContract(req)) // forged on purpose
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged webhook = %d, want 400", resp.StatusCode)
		}
	}

	// Finance staff sign in with an email as their name, and act with it.
	fc := newFinanceClient(t, ta)
	if status, _ := fc.loginAs("alice@example.com", testFinanceKey); status != http.StatusSeeOther {
		t.Fatalf("finance login = %d, want 303", status)
	}
	fc.page("/finance/items")
	req, _ := http.NewRequest(http.MethodGet, ta.url+"/v1/finance/items", nil)
	req.Header.Set("Authorization", "Bearer "+testFinanceKey)
	req.Header.Set("X-Actor", "bob@example.com")
	if resp, err := ta.client.Do(req); err == nil {
		resp.Body.Close()
	}

	p.stop(t)
	out := p.log.String()
	if !strings.Contains(out, `"level":"debug"`) {
		t.Fatalf("no debug line in the log: the test did not run at debug level\n%.2000s", out)
	}
	// The provider's echo was logged, masked.
	if !strings.Contains(out, "m***@example.com") {
		t.Errorf("the provider's refusal is not in the log, masked:\n%.4000s", out)
	}
	if hits := redacttest.Found(out, redacttest.Sensitive(t)); len(hits) > 0 {
		for _, h := range hits {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, h) {
					t.Errorf("the log shows %q: %s", h, line)
					break
				}
			}
		}
	}
}

// TestIssuedAPIKeys issues keys with the CLI, uses them against a running
// server, signs in to the finance pages with one, and revokes them: a
// running server refuses a revoked key within apikey.CacheTTL, and the
// finance session it opened ends.
func TestIssuedAPIKeys(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			cli := func(args ...string) (string, string, int) {
				t.Helper()
				cmd := exec.Command(binary, append(args, "--db", dsn)...)
				if args[1] == "revoke" {
					cmd = exec.Command(binary, "keys", "revoke", "--db", dsn, args[2])
				}
				cmd.Env = append(os.Environ(), "PAYGATE_DB=")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return stdout.String(), stderr.String(), code
			}
			// The first command makes the database (--create): only serve
			// makes one unasked.
			mk, _, code := cli("keys", "create", "--create", "--role", "marketplace", "--name", "shop-backend")
			if code != 0 {
				t.Fatalf("keys create = exit %d", code)
			}
			fk, _, _ := cli("keys", "create", "--role", "finance", "--name", "ops-laptop")
			mk, fk = strings.TrimSpace(mk), strings.TrimSpace(fk)
			keyRE := regexp.MustCompile(`^pgk_([0-9a-f]{16})_[0-9a-f]{64}$`)
			if !keyRE.MatchString(mk) || !keyRE.MatchString(fk) {
				t.Fatalf("issued keys %q, %q: want pgk_<id>_<secret>", mk, fk)
			}
			mkID, fkID := keyRE.FindStringSubmatch(mk)[1], keyRE.FindStringSubmatch(fk)[1]
			if _, errOut, code := cli("keys", "create", "--role", "admin", "--name", "x"); code != exitError || !strings.Contains(errOut, "role") {
				t.Errorf("keys create --role admin = exit %d %q, want a refusal", code, errOut)
			}

			p := startEnv(t, []string{"PAYGATE_MODE=sandbox", "PAYGATE_RETURN_HOSTS=shop.example",
				"PAYGATE_API_KEY=" + testAPIKey, "PAYGATE_FINANCE_KEY=" + testFinanceKey}, "--db", dsn)
			ta := remoteApp(t, "http://"+p.addr)
			get := func(key, path string) int { return ta.callWith(t, key, "", http.MethodGet, path, nil, nil) }
			wrongSecret := mk[:len(mk)-4] + "0000"
			if wrongSecret == mk {
				wrongSecret = mk[:len(mk)-4] + "1111"
			}
			for _, tt := range []struct {
				name, key, path string
				want            int
			}{
				{"marketplace key", mk, "/v1/users/U1/balances", 200},
				{"finance key on a finance endpoint", fk, "/v1/finance/trial-balance", 200},
				{"marketplace key on a finance endpoint", mk, "/v1/finance/trial-balance", 403},
				{"wrong secret", wrongSecret, "/v1/users/U1/balances", 401},
				{"unknown id", "pgk_ffffffffffffffff" + mk[20:], "/v1/users/U1/balances", 401},
				{"the static key still works", testAPIKey, "/v1/users/U1/balances", 200},
			} {
				if got := get(tt.key, tt.path); got != tt.want {
					t.Errorf("%s: GET %s = %d, want %d", tt.name, tt.path, got, tt.want)
				}
			}
			fc := newFinanceClient(t, ta)
			if status, _ := fc.loginAs("carol", fk); status != http.StatusSeeOther {
				t.Fatalf("finance login with the issued finance key = %d, want 303", status)
			}
			fc.page("/finance/")
			if status, _ := newFinanceClient(t, ta).loginAs("mallory", mk); status != http.StatusUnauthorized {
				t.Errorf("finance login with the marketplace key = %d, want 401", status)
			}

			list, _, _ := cli("keys", "list")
			if !strings.Contains(list, mkID) || !strings.Contains(list, "ops-laptop") || strings.Contains(list, mk[21:]) || strings.Contains(list, fk[21:]) {
				t.Errorf("keys list shows the ids and names but no secret; got\n%s", list)
			}

			// Revoke both: refused within the cache's lifetime.
			for _, id := range []string{mkID, fkID} {
				if out, errOut, code := cli("keys", "revoke", id); code != 0 || !strings.Contains(out, "revoked") {
					t.Fatalf("keys revoke %s = exit %d %q %q", id, code, out, errOut)
				}
			}
			revokedAt := time.Now()
			for _, c := range []struct {
				what    string
				refused func() bool
			}{
				{"the revoked marketplace key", func() bool { return get(mk, "/v1/users/U1/balances") == http.StatusUnauthorized }},
				{"the revoked finance key", func() bool { return get(fk, "/v1/finance/trial-balance") == http.StatusUnauthorized }},
				{"the finance session of the revoked key", func() bool { status, _, _ := fc.get("/finance/"); return status == http.StatusSeeOther }},
			} {
				for !c.refused() {
					if time.Since(revokedAt) > apikey.CacheTTL+2*time.Second {
						t.Fatalf("%s is still accepted %v after revocation", c.what, time.Since(revokedAt))
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if _, errOut, code := cli("keys", "revoke", "0000000000000000"); code != exitError || !strings.Contains(errOut, "no key") {
				t.Errorf("keys revoke of an unknown id = exit %d %q", code, errOut)
			}

			// A clean stop writes the keys' last use.
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-p.done
			list, _, _ = cli("keys", "list")
			for _, line := range strings.Split(list, "\n") {
				if strings.HasPrefix(line, mkID) && strings.Count(line, "T") < 3 {
					t.Errorf("keys list after use = %q, want created, last used and revoked times", line)
				}
			}
		})
	}
}

// TestStaticKeysHashed shows the static API keys are kept as hashes only.
func TestStaticKeysHashed(t *testing.T) {
	c := appConfig{mode: modeLive, apiKey: liveAPIKey, financeKey: liveFinanceKey}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	if c.apiKey != "" || c.financeKey != "" || !bytes.Equal(c.apiKeySHA256, server.HashKey(liveAPIKey)) || !bytes.Equal(c.financeKeySHA256, server.HashKey(liveFinanceKey)) {
		t.Errorf("after resolve: keys %q %q, hashes %x %x; want the plain text dropped and the hashes kept", c.apiKey, c.financeKey, c.apiKeySHA256, c.financeKeySHA256)
	}
	if err := c.resolve(); err != nil || c.apiKeySHA256 == nil {
		t.Errorf("resolve again = %v, hash %x; want the same hashes", err, c.apiKeySHA256)
	}
	same := appConfig{mode: modeLive, apiKey: liveAPIKey, financeKeySHA256: server.HashKey(liveAPIKey)}
	if err := same.resolve(); err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Errorf("resolve with one key for both roles = %v, want a refusal", err)
	}
	if err := (&appConfig{mode: modeLive, apiKey: liveAPIKey}).resolve(); err == nil {
		t.Error("live mode without a finance key: resolve = nil, want an error")
	}
}
