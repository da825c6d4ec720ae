package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/paygate/paygate/server"
)

// Live mode refuses a configuration that would be easy to attack (docs/configuration.md,
// "Live mode"):
//
//   - a static API key (PAYGATE_API_KEY, PAYGATE_FINANCE_KEY) or checkout
//     secret shorter than minKeyLength characters (`openssl rand -hex 32`
//     makes one of 64), or a webhook-verifying provider secret
//     (STRIPE_WEBHOOK_SECRET, RAPYD_SECRET_KEY) shorter than
//     minProviderSecretLength;
//   - a published key: the sandbox's keys, given as keys or as hashes;
//   - a provider API URL that is not https, except on a loopback address
//     (a local proxy or mock), which is logged as a warning.

// minKeyLength is the shortest static API key or checkout secret live mode
// accepts.
const minKeyLength = 32

// minProviderSecretLength is the shortest webhook-verifying provider secret
// live mode accepts: the providers issue longer ones, so a shorter one was
// cut or made up.
const minProviderSecretLength = 16

// publishedKeys are API keys anyone can read in the README.
func publishedKeys() []string { return []string{sandboxMarketplaceKey, sandboxFinanceKey} }

// checkLive refuses short and published secrets and plain-http provider
// URLs (see above). It runs before resolve hashes the keys, and again after
// (then on the hashes only).
func (c *appConfig) checkLive() error {
	for _, k := range []struct {
		name  string
		plain string
		hash  []byte
	}{
		{"PAYGATE_API_KEY", c.apiKey, c.apiKeySHA256},
		{"PAYGATE_FINANCE_KEY", c.financeKey, c.financeKeySHA256},
	} {
		for _, pub := range publishedKeys() {
			if k.plain == pub || k.hash != nil && bytes.Equal(k.hash, server.HashKey(pub)) {
				return fmt.Errorf("%s is the published sandbox key %q: live mode needs a secret key of at least %d characters (openssl rand -hex 32)", k.name, pub, minKeyLength)
			}
		}
		if k.plain != "" && len(k.plain) < minKeyLength {
			return fmt.Errorf("%s is %d characters: live mode needs at least %d (openssl rand -hex 32)", k.name, len(k.plain), minKeyLength)
		}
	}
	if c.checkoutSecret != "" && len(c.checkoutSecret) < minKeyLength {
		return fmt.Errorf("PAYGATE_CHECKOUT_SECRET is %d characters: live mode needs at least %d (or leave it unset)", len(c.checkoutSecret), minKeyLength)
	}
	for _, s := range []struct{ name, value string }{
		{"STRIPE_WEBHOOK_SECRET", c.stripeWebhookSecret}, {"RAPYD_SECRET_KEY", c.rapydSecretKey},
	} {
		if s.value != "" && len(s.value) < minProviderSecretLength {
			return fmt.Errorf("%s is %d characters: live mode needs the provider's secret as issued (at least %d)", s.name, len(s.value), minProviderSecretLength)
		}
	}
	for _, u := range []struct{ name, value string }{
		{"STRIPE_API_URL", c.stripeAPIURL}, {"RAPYD_API_URL", c.rapydAPIURL},
	} {
		if _, err := plainLoopback(u.name, u.value); err != nil {
			return err
		}
	}
	return nil
}

// plainLoopback checks a provider API URL of live mode: "" (the provider's
// own) and https are fine; http is refused unless its host is a loopback
// address, which it reports (the caller logs a warning).
func plainLoopback(name, raw string) (bool, error) {
	if raw == "" {
		return false, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false, fmt.Errorf("%s is not an absolute URL", name)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return false, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return true, nil
		}
		return false, fmt.Errorf("%s is plain http (%s): live mode sends provider credentials over https only (http is allowed on a loopback address)", name, u.Host)
	default:
		return false, fmt.Errorf("%s has scheme %q: live mode needs https", name, u.Scheme)
	}
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainHTTPURLs returns the names of the provider API URLs that live mode
// accepted as plain http on loopback, for a warning.
func (c *appConfig) plainHTTPURLs() []string {
	if c.mode != modeLive {
		return nil
	}
	var out []string
	for _, u := range []struct{ name, value string }{
		{"STRIPE_API_URL", c.stripeAPIURL}, {"RAPYD_API_URL", c.rapydAPIURL},
	} {
		if plain, err := plainLoopback(u.name, u.value); plain && err == nil {
			out = append(out, u.name)
		}
	}
	return out
}

// providerSecretSet names the first provider credential that is set, or
// returns "".
func (c *appConfig) providerSecretSet() string {
	for _, s := range []struct{ name, value string }{
		{"STRIPE_SECRET_KEY", c.stripeSecretKey}, {"STRIPE_WEBHOOK_SECRET", c.stripeWebhookSecret},
		{"RAPYD_ACCESS_KEY", c.rapydAccessKey}, {"RAPYD_SECRET_KEY", c.rapydSecretKey},
	} {
		if s.value != "" {
			return s.name
		}
	}
	return ""
}

// readEnv reads what every command that calls the providers shares: the
// provider API URLs, the return hosts and the secrets. The mode and the
// public URL are serve's flags, the other commands' environment.
func (c *appConfig) readEnv(getenv func(string) string) error {
	c.returnHosts, c.stripeAPIURL, c.rapydAPIURL = getenv("PAYGATE_RETURN_HOSTS"), getenv("STRIPE_API_URL"), getenv("RAPYD_API_URL")
	return c.readSecrets(getenv)
}

// besideConfig reads the configuration of a command that runs beside a
// serving process and calls the providers as it does (sweep, recon): the
// mode (PAYGATE_MODE), the provider URLs and secrets, resolved by serve's
// rules, and the public URL the serving process is reached at
// (PAYGATE_PUBLIC_URL, default http:// and PAYGATE_ADDR or serve's default
// address), under which the sandbox's simulators are. The sandbox's
// simulators take only the serving process's provider keys: without them in
// the environment (keys generated per process) the calls are refused.
func besideConfig(getenv func(string) string) (appConfig, string, error) {
	c := appConfig{mode: getenv("PAYGATE_MODE")}
	if err := c.readEnv(getenv); err != nil {
		return c, "", err
	}
	if err := c.resolve(); err != nil {
		return c, "", err
	}
	publicURL := strings.TrimSuffix(getenv("PAYGATE_PUBLIC_URL"), "/")
	if publicURL == "" {
		publicURL = "http://" + envOr(getenv, "PAYGATE_ADDR", server.DefaultAddr)
	}
	return c, publicURL, nil
}
