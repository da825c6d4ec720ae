package main

import (
	"context"
	"io"
	"net"
	"strings"

	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/server"
	"github.com/rs/zerolog"
)

// serve runs "paygate serve": it reads the flags and the environment,
// opens the database, listens, wires the app and serves until ctx ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	var c config
	fs := newFlags("serve", stderr)
	fs.StringVar(&c.addr, "addr", envOr(getenv, "PAYGATE_ADDR", server.DefaultAddr),
		"listen address; port 0 picks a free port (env PAYGATE_ADDR)")
	c.dbFlag(fs, getenv)
	c.logFlag(fs, getenv)
	metricsToken := getenv("PAYGATE_METRICS_TOKEN")
	var ac appConfig
	fs.StringVar(&ac.mode, "mode", getenv("PAYGATE_MODE"),
		"sandbox (built-in provider simulators) or live (real providers); unset is sandbox, refused when provider keys are set (env PAYGATE_MODE)")
	fs.StringVar(&ac.publicURL, "public-url", getenv("PAYGATE_PUBLIC_URL"),
		"URL buyers and providers reach this service at; default http://ADDR (env PAYGATE_PUBLIC_URL)")
	ac.webhookAllowHosts = getenv("PAYGATE_WEBHOOK_ALLOW_HOSTS")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	if err := ac.readEnv(getenv); err != nil {
		io.WriteString(stderr, "paygate serve: "+err.Error()+"\n")
		return exitError
	}
	// The sandbox's generated secrets are known from here on, so the log
	// masks them too.
	if err := ac.resolve(); err != nil {
		io.WriteString(stderr, "paygate serve: "+err.Error()+"\n")
		return exitError
	}
	stderr = redact.NewWriter(stderr, redact.New(append(ac.secretValues(), c.dbSecrets()...)...))
	lim, err := ac.serveSettings(getenv)
	if err != nil {
		io.WriteString(stderr, "paygate serve: "+err.Error()+"\n")
		return exitError
	}
	log, err := c.logger(stderr)
	if err != nil {
		io.WriteString(stderr, "paygate serve: "+err.Error()+"\n")
		return exitError
	}
	stopProfile, err := profileCPU(getenv("PAYGATE_CPU_PROFILE"), log)
	if err != nil {
		log.Error().Err(err).Msg("start the CPU profile")
		return exitError
	}
	defer stopProfile()
	db, err := openDB(ctx, c.db)
	if err != nil {
		log.Error().Err(err).Msg("open database")
		return exitError
	}
	defer db.Close()
	issued := apikey.New(db)
	srv := server.New(lim.serverConfig(server.Config{Addr: c.addr, Logger: log, Health: db.Ping, MetricsToken: metricsToken, PublicURL: ac.publicURL}, ac.keys(issued)))
	ln, err := srv.Listen(ctx)
	if err != nil {
		log.Error().Err(err).Msg("listen")
		return exitError
	}
	publicURL := publicURLOf(ac.publicURL, ln.Addr())
	a, err := newApp(ctx, ac, db, srv, issued, publicURL, log)
	if err != nil {
		ln.Close()
		log.Error().Err(err).Msg("configure")
		return exitError
	}
	defer a.close()
	if err := startDebug(ctx, getenv("PAYGATE_DEBUG_ADDR"), log); err != nil {
		ln.Close()
		log.Error().Err(err).Msg("listen for the profiler")
		return exitError
	}
	a.start(ctx)
	log.Info().Str(server.FieldAddr, ln.Addr().String()).Str("public_url", publicURL).Str("mode", ac.mode).
		Str(server.FieldDBBackend, string(db.Dialect())).Msg("listening")
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error().Err(err).Msg("serve")
		return exitError
	}
	log.Info().Msg("stopped")
	return exitOK
}

// publicURLOf is the URL buyers and providers reach serve at: the
// configured one without its trailing slash, or http:// and the address it
// listens on.
func publicURLOf(configured string, addr net.Addr) string {
	if u := strings.TrimSuffix(configured, "/"); u != "" {
		return u
	}
	return "http://" + addr.String()
}

// startDebug starts the profiler's listener on addr (PAYGATE_DEBUG_ADDR),
// if addr is not "".
func startDebug(ctx context.Context, addr string, log zerolog.Logger) error {
	if addr == "" {
		return nil
	}
	_, err := serveDebug(ctx, addr, log)
	return err
}

// serveSettings reads from the environment the settings of serve that are
// not flags: webhook leases and timeouts, event retention, the anchor key,
// the chain interval, the sales order rules, the abuse limits (returned)
// and the routing rules.
func (ac *appConfig) serveSettings(getenv func(string) string) (limits, error) {
	var err error
	if ac.webhookLease, err = webhookLease(getenv); err != nil {
		return limits{}, err
	}
	if ac.eventRetention, err = eventRetention(getenv); err != nil {
		return limits{}, err
	}
	if ac.sendTimeout, err = positiveDuration(getenv, "PAYGATE_WEBHOOK_SEND_TIMEOUT"); err != nil {
		return limits{}, err
	}
	if ac.sendLease, err = positiveDuration(getenv, "PAYGATE_WEBHOOK_SEND_LEASE"); err != nil {
		return limits{}, err
	}
	if ac.anchorKey, err = anchorKey(getenv); err != nil {
		return limits{}, err
	}
	if ac.chainInterval, err = chainInterval(getenv); err != nil {
		return limits{}, err
	}
	if ac.rules, err = rulesFromEnv(getenv); err != nil {
		return limits{}, err
	}
	lim, err := limitsFromEnv(getenv)
	if err != nil {
		return limits{}, err
	}
	ac.maxLiveAttempts, ac.maxAttempts = lim.maxLiveAttempts, lim.maxAttempts
	if ac.routing, err = routesFromEnv(getenv, ac); err != nil {
		return limits{}, err
	}
	return lim, nil
}
