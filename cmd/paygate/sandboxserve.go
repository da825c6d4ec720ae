package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/server"
)

// defaultSandboxAddr is where paygate sandbox serve listens by default:
// the port after serve's.
const defaultSandboxAddr = "127.0.0.1:8081"

// sandboxServe runs the providers' simulators alone, in a process of their
// own, so that a load test can measure the gateway without them: each at
// /sandbox/{provider}/ with its test helpers (package sandbox, Host). The
// gateway in sandbox mode is pointed at them with STRIPE_API_URL and
// RAPYD_API_URL and the same four provider secrets; the simulators send
// their webhooks to the gateway's /webhooks/{provider}.
func sandboxServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	var c config
	fs := newFlags("sandbox serve", stderr)
	fs.StringVar(&c.addr, "addr", envOr(getenv, "PAYGATE_SANDBOX_ADDR", defaultSandboxAddr),
		"listen address; port 0 picks a free port (env PAYGATE_SANDBOX_ADDR)")
	c.logFlag(fs, getenv)
	publicURL := fs.String("public-url", getenv("PAYGATE_SANDBOX_PUBLIC_URL"),
		"URL buyers and the gateway reach the simulators at; default http://ADDR (env PAYGATE_SANDBOX_PUBLIC_URL)")
	gatewayURL := fs.String("paygate-url", envOr(getenv, "PAYGATE_PUBLIC_URL", "http://"+envOr(getenv, "PAYGATE_ADDR", server.DefaultAddr)),
		"URL of the paygate server the webhooks go to, as its --public-url (env PAYGATE_PUBLIC_URL, else http:// and PAYGATE_ADDR)")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	var ac appConfig
	if err := ac.readSecrets(getenv); err != nil {
		io.WriteString(stderr, "paygate sandbox serve: "+err.Error()+"\n")
		return exitError
	}
	for _, s := range []struct{ name, value string }{
		{"STRIPE_SECRET_KEY", ac.stripeSecretKey}, {"STRIPE_WEBHOOK_SECRET", ac.stripeWebhookSecret},
		{"RAPYD_ACCESS_KEY", ac.rapydAccessKey}, {"RAPYD_SECRET_KEY", ac.rapydSecretKey},
	} {
		if s.value == "" {
			io.WriteString(stderr, "paygate sandbox serve: "+s.name+" is not set: the simulators and the paygate server pointed at them need the same four provider secrets (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, RAPYD_ACCESS_KEY, RAPYD_SECRET_KEY)\n")
			return exitError
		}
	}
	stderr = redact.NewWriter(stderr, redact.New(ac.secretValues()...))
	log, err := c.logger(stderr)
	if err != nil {
		io.WriteString(stderr, "paygate sandbox serve: "+err.Error()+"\n")
		return exitError
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.addr)
	if err != nil {
		log.Error().Err(err).Msg("listen")
		return exitError
	}
	base := strings.TrimSuffix(*publicURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	gateway := strings.TrimSuffix(*gatewayURL, "/")
	ss := newStripeSim(ac, base+"/sandbox/stripe", gateway, log)
	defer ss.Close()
	rs := newRapydSim(ac, base+"/sandbox/rapyd", gateway, log)
	defer rs.Close()
	srv := &http.Server{
		Handler: sandbox.Host(map[string]sandbox.Hosted{
			providers.Stripe: {Simulator: stripeSim{ss}, Secret: ac.stripeSecretKey},
			providers.Rapyd:  {Simulator: rapydSim{rs}, Secret: ac.rapydSecretKey},
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info().Str(server.FieldAddr, ln.Addr().String()).Str("stripe_api_url", base+"/sandbox/stripe").
		Str("rapyd_api_url", base+"/sandbox/rapyd").Str("webhooks_to", gateway).Msg("listening")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error().Err(err).Msg("serve")
		return exitError
	}
	<-stopped
	log.Info().Msg("stopped")
	return exitOK
}
