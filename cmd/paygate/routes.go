package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
)

// routeConfig is how payments are routed to providers.
type routeConfig struct {
	// routes are PAYGATE_ROUTES, parsed and checked against the configured
	// providers (default: each method at its catalog provider).
	routes routing.Routes
	// breaker is PAYGATE_BREAKER_FAILURES (outages in a row that open a
	// provider and method's breaker) and PAYGATE_BREAKER_OPEN_FOR (how
	// long it stays open before a probe); zero fields are routing's
	// defaults.
	breaker routing.Breaker
	// createTimeout is PAYGATE_PROVIDER_CREATE_TIMEOUT, how long one
	// provider may take to create a payment before the attempt fails over
	// (0 = checkout's default, 10s).
	createTimeout time.Duration
}

// routesFromEnv reads the routing configuration of serve, whose resolved
// configuration c says which providers have credentials. An error names
// the variable and what is wrong with it.
func routesFromEnv(getenv func(string) string, c *appConfig) (routeConfig, error) {
	var rc routeConfig
	rs, err := routing.Parse(getenv("PAYGATE_ROUTES"))
	if err == nil {
		err = rs.Check(c.configuredProviders())
	}
	if err != nil {
		return rc, fmt.Errorf("PAYGATE_ROUTES: %w", err)
	}
	rc.routes = rs
	if v := getenv("PAYGATE_BREAKER_FAILURES"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 || n > 1000 {
			return rc, fmt.Errorf("PAYGATE_BREAKER_FAILURES=%q is not a whole number from 1 to 1000", v)
		}
		rc.breaker.Failures = uint32(n)
	}
	if rc.breaker.OpenFor, err = positiveDuration(getenv, "PAYGATE_BREAKER_OPEN_FOR"); err != nil {
		return rc, err
	}
	if rc.createTimeout, err = positiveDuration(getenv, "PAYGATE_PROVIDER_CREATE_TIMEOUT"); err != nil {
		return rc, err
	}
	return rc, nil
}

// configuredProviders are the providers the resolved configuration has
// credentials for, as providerClients makes them.
func (c *appConfig) configuredProviders() []string {
	var out []string
	if c.stripeSecretKey != "" {
		out = append(out, providers.Stripe)
	}
	if c.rapydAccessKey != "" {
		out = append(out, providers.Rapyd)
	}
	return out
}

// newRouter makes the router of the resolved configuration c, its metrics
// registered on reg. Routes given to an app directly (tests) are checked
// against the configured providers here too.
func (c *appConfig) newRouter(reg prometheus.Registerer) (*routing.Router, error) {
	if c.routing.routes != nil {
		if err := c.routing.routes.Check(c.configuredProviders()); err != nil {
			return nil, fmt.Errorf("PAYGATE_ROUTES: %w", err)
		}
	}
	r, err := routing.New(routing.Config{Routes: c.routing.routes, Breaker: c.routing.breaker, Metrics: reg})
	if err != nil {
		return nil, fmt.Errorf("register routing metrics: %w", err)
	}
	return r, nil
}
