package main

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygate/paygate/server"
)

// Static API keys long enough for live mode.
const (
	liveAPIKey     = "live-marketplace-key-0123456789abcdef"
	liveFinanceKey = "live-finance-key-0123456789abcdef0123"
)

// liveConfig is a live configuration resolve accepts, with both providers.
func liveConfig() appConfig {
	return appConfig{
		mode: modeLive, apiKey: liveAPIKey, financeKey: liveFinanceKey,
		stripeSecretKey: "sk_live_0123456789abcdef", stripeWebhookSecret: "whsec_0123456789abcdef0123456789",
		rapydAccessKey: "rak_0123456789abcdef", rapydSecretKey: "rsk_0123456789abcdef0123456789abcdef",
	}
}

// TestLiveModeRefusals is the configuration loader's table: live mode
// refuses short and published keys and plain-http provider URLs off
// loopback; provider keys without a mode are refused.
func TestLiveModeRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *appConfig)
		err  string // part of the error; "" = accepted
	}{
		{"good", func(c *appConfig) {}, ""},
		{"keys given as hashes", func(c *appConfig) {
			c.apiKeySHA256, c.financeKeySHA256, c.apiKey, c.financeKey = server.HashKey(liveAPIKey), server.HashKey(liveFinanceKey), "", ""
		}, ""},
		{"one-character API key", func(c *appConfig) { c.apiKey = "k" }, "PAYGATE_API_KEY is 1 characters: live mode needs at least 32"},
		{"31-character finance key", func(c *appConfig) { c.financeKey = strings.Repeat("f", 31) }, "PAYGATE_FINANCE_KEY is 31 characters"},
		{"32-character finance key", func(c *appConfig) { c.financeKey = strings.Repeat("f", 32) }, ""},
		{"published marketplace key", func(c *appConfig) { c.apiKey = sandboxMarketplaceKey }, "PAYGATE_API_KEY is the published sandbox key"},
		{"published finance key", func(c *appConfig) { c.financeKey = sandboxFinanceKey }, "PAYGATE_FINANCE_KEY is the published sandbox key"},
		{"published finance key as a hash", func(c *appConfig) {
			c.financeKey, c.financeKeySHA256 = "", server.HashKey(sandboxFinanceKey)
		}, "PAYGATE_FINANCE_KEY is the published sandbox key"},
		{"published marketplace key as a hash", func(c *appConfig) {
			c.apiKey, c.apiKeySHA256 = "", server.HashKey(sandboxMarketplaceKey)
		}, "PAYGATE_API_KEY is the published sandbox key"},
		{"short checkout secret", func(c *appConfig) { c.checkoutSecret = "x" }, "PAYGATE_CHECKOUT_SECRET is 1 characters"},
		{"short Stripe webhook secret", func(c *appConfig) { c.stripeWebhookSecret = "whsec_1" }, "STRIPE_WEBHOOK_SECRET is 7 characters"},
		{"short Rapyd secret", func(c *appConfig) { c.rapydSecretKey = "r" }, "RAPYD_SECRET_KEY is 1 characters"},
		{"https provider URL", func(c *appConfig) { c.stripeAPIURL = "https://stripe-proxy.example" }, ""},
		{"plain-http Stripe URL", func(c *appConfig) { c.stripeAPIURL = "http://stripe-proxy.example" }, "STRIPE_API_URL is plain http"},
		{"plain-http Rapyd URL on a LAN address", func(c *appConfig) { c.rapydAPIURL = "http://10.0.0.7:8080" }, "RAPYD_API_URL is plain http"},
		{"plain-http on 127.0.0.1", func(c *appConfig) { c.stripeAPIURL = "http://127.0.0.1:12111" }, ""},
		{"plain-http on ::1", func(c *appConfig) { c.rapydAPIURL = "http://[::1]:9000" }, ""},
		{"plain-http on localhost", func(c *appConfig) { c.rapydAPIURL = "http://localhost:9000" }, ""},
		{"ftp provider URL", func(c *appConfig) { c.rapydAPIURL = "ftp://rapyd.example" }, `RAPYD_API_URL has scheme "ftp"`},
		{"relative provider URL", func(c *appConfig) { c.stripeAPIURL = "/stripe" }, "STRIPE_API_URL is not an absolute URL"},
		{"provider keys without a mode", func(c *appConfig) { c.mode = "" }, "STRIPE_SECRET_KEY is set but PAYGATE_MODE is not"},
		{"Rapyd keys without a mode", func(c *appConfig) {
			c.mode, c.stripeSecretKey, c.stripeWebhookSecret = "", "", ""
		}, "RAPYD_ACCESS_KEY is set but PAYGATE_MODE is not"},
		{"provider keys in an explicit sandbox", func(c *appConfig) { c.mode = modeSandbox }, ""},
		{"short keys in the sandbox", func(c *appConfig) { c.mode, c.apiKey, c.financeKey = modeSandbox, "a", "b" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := liveConfig()
			tt.edit(&c)
			err := c.resolve()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("resolve = %v, want nil", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("resolve = %v, want an error with %q", err, tt.err)
			case err != nil && (strings.Contains(err.Error(), liveAPIKey) || strings.Contains(err.Error(), "sk_live_0123456789abcdef")):
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
	// No mode and no provider keys is the sandbox, with its published keys.
	c := appConfig{}
	if err := c.resolve(); err != nil || c.mode != modeSandbox || hex.EncodeToString(c.financeKeySHA256) != hex.EncodeToString(server.HashKey(sandboxFinanceKey)) {
		t.Errorf("resolve of nothing = %v, mode %q; want the sandbox with its finance key", err, c.mode)
	}
}

// TestLiveModeRefusalsServe runs the binary: every refusal exits 2 with
// the reason before listening; a plain-http provider URL on loopback starts
// with a warning.
func TestLiveModeRefusalsServe(t *testing.T) {
	base := []string{"PAYGATE_MODE=live", "PAYGATE_API_KEY=" + liveAPIKey, "PAYGATE_FINANCE_KEY=" + liveFinanceKey,
		"STRIPE_SECRET_KEY=sk_test_0123456789abcdef", "STRIPE_WEBHOOK_SECRET=whsec_0123456789abcdef0123456789",
		"PAYGATE_PUBLIC_URL=https://pay.example", "PAYGATE_RETURN_HOSTS=shop.example",
		"RAPYD_ACCESS_KEY=", "RAPYD_SECRET_KEY=", "STRIPE_API_URL=", "RAPYD_API_URL=", "PAYGATE_CHECKOUT_SECRET="}
	for _, tt := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"one-character API key", []string{"PAYGATE_API_KEY=k"}, "PAYGATE_API_KEY is 1 characters: live mode needs at least 32"},
		{"published finance key", []string{"PAYGATE_FINANCE_KEY=" + sandboxFinanceKey}, "PAYGATE_FINANCE_KEY is the published sandbox key"},
		{"published key by its hash", []string{"PAYGATE_API_KEY=", "PAYGATE_API_KEY_SHA256=" + hex.EncodeToString(server.HashKey(sandboxMarketplaceKey))}, "PAYGATE_API_KEY is the published sandbox key"},
		{"plain-http provider URL", []string{"STRIPE_API_URL=http://stripe.internal.example"}, "STRIPE_API_URL is plain http"},
		{"provider keys without a mode", []string{"PAYGATE_MODE="}, "STRIPE_SECRET_KEY is set but PAYGATE_MODE is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db"))
			cmd.Env = append(append(os.Environ(), base...), tt.extra...)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError || !strings.Contains(string(out), tt.want) {
				t.Errorf("paygate serve = %v\n%s\nwant exit %d with %q", err, out, exitError, tt.want)
			}
			if strings.Contains(string(out), "listening") {
				t.Errorf("paygate serve listened before refusing:\n%s", out)
			}
		})
	}
	t.Run("plain http on loopback warns", func(t *testing.T) {
		p := startEnv(t, append(base, "STRIPE_API_URL=http://127.0.0.1:1"), "--db", filepath.Join(t.TempDir(), "p.db"))
		p.stop(t)
		if log := p.log.String(); !strings.Contains(log, `"level":"warn"`) || !strings.Contains(log, `"setting":"STRIPE_API_URL"`) {
			t.Errorf("no warning about STRIPE_API_URL on plain http in:\n%s", log)
		}
	})
}
