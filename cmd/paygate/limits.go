package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/paygate/paygate/server"
)

// limits are the settings against abuse: the rate limits, the request
// header size and the slow-client timeouts of the server, and the caps on a
// payment order's attempts. Zero sizes, timeouts and caps take the server's
// and checkout's defaults.
type limits struct {
	rate              server.RateLimits
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxLiveAttempts   int
	maxAttempts       int
}

// limitsFromEnv reads the limits from the environment; unset variables keep
// the defaults (server.DefaultRateLimits and the Default* constants of
// server and checkout). Every value is parsed strictly: a typo is an error,
// never a limit silently off.
func limitsFromEnv(getenv func(string) string) (limits, error) {
	l := limits{rate: server.DefaultRateLimits()}
	for _, r := range []struct {
		env string
		dst *server.Rate
	}{
		{"PAYGATE_RATE_LIMIT_KEY", &l.rate.Key}, {"PAYGATE_RATE_LIMIT_API_IP", &l.rate.APIIP},
		{"PAYGATE_RATE_LIMIT_CHECKOUT", &l.rate.Checkout}, {"PAYGATE_RATE_LIMIT_LOGIN", &l.rate.Login},
		{"PAYGATE_RATE_LIMIT_WEBHOOK", &l.rate.Webhook},
	} {
		if v := getenv(r.env); v != "" {
			rate, err := server.ParseRate(v)
			if err != nil {
				return l, fmt.Errorf("%s: %w", r.env, err)
			}
			*r.dst = rate
		}
	}
	var err error
	if l.rate.TrustedProxies, err = server.ParseTrustedProxies(getenv("PAYGATE_TRUSTED_PROXIES")); err != nil {
		return l, fmt.Errorf("PAYGATE_TRUSTED_PROXIES: %w", err)
	}
	for _, n := range []struct {
		env string
		dst *int
	}{
		{"PAYGATE_RATE_LIMIT_CLIENTS", &l.rate.MaxClients}, {"PAYGATE_MAX_HEADER_BYTES", &l.maxHeaderBytes},
		{"PAYGATE_MAX_LIVE_ATTEMPTS", &l.maxLiveAttempts}, {"PAYGATE_MAX_ATTEMPTS", &l.maxAttempts},
	} {
		if v := getenv(n.env); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 1 {
				return l, fmt.Errorf("%s=%q is not a positive whole number", n.env, v)
			}
			*n.dst = i
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{
		{"PAYGATE_READ_HEADER_TIMEOUT", &l.readHeaderTimeout}, {"PAYGATE_READ_TIMEOUT", &l.readTimeout},
		{"PAYGATE_WRITE_TIMEOUT", &l.writeTimeout}, {"PAYGATE_IDLE_TIMEOUT", &l.idleTimeout},
	} {
		if v := getenv(d.env); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return l, fmt.Errorf("%s=%q is not a positive duration such as 30s", d.env, v)
			}
			*d.dst = dur
		}
	}
	return l, nil
}

// serverConfig returns the server's configuration with the limits and the
// API keys (which the rate limiter tells from guesses) filled in.
func (l limits) serverConfig(cfg server.Config, keys server.Keys) server.Config {
	rate := l.rate
	cfg.Keys, cfg.RateLimits = keys, &rate
	cfg.MaxHeaderBytes = l.maxHeaderBytes
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout = l.readHeaderTimeout, l.readTimeout, l.writeTimeout, l.idleTimeout
	return cfg
}
