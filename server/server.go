// Package server is paygate's HTTP server: it owns the listener, the router,
// the middleware every request passes through (request id, per-request
// logger, access log, rate limits, panic recovery, body limit), its limits
// on slow and oversized requests, the health check, and the
// JSON helpers that handlers in other packages use to read requests and write
// responses and errors.
//
// Other packages register their handlers on Router before Run is called.
package server

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxBodyBytes    = 1 << 20  // 1 MiB
	DefaultMaxHeaderBytes  = 64 << 10 // 64 KiB

	// DefaultReadHeaderTimeout bounds how long a client may take to send a
	// request's headers, so that a slowloris cannot hold connections open.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a whole handler and its response, so it is
	// generous enough for a provider call.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 120 * time.Second
)

// healthTimeout bounds the health check.
const healthTimeout = 5 * time.Second

// Config configures a Server. Zero values take the defaults noted on each
// field.
type Config struct {
	// Addr is the TCP address to listen on, such as "127.0.0.1:8080";
	// port 0 picks a free port, which Run reports to its ready callback.
	// Empty means DefaultAddr.
	Addr string

	// Logger receives the access log, panics and the causes of 5xx
	// responses. The zero Logger discards everything.
	Logger zerolog.Logger

	// Health reports whether the service can serve requests, for example
	// by pinging the database. GET /healthz answers 503 when it returns an
	// error. Nil means always healthy.
	Health func(ctx context.Context) error

	// ShutdownTimeout bounds how long Run waits for in-flight requests
	// after its context is canceled. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// MaxBodyBytes limits the size of every request body; reading past it
	// fails, and DecodeJSON reports a too_large error. Zero or negative
	// means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// MetricsToken, if not empty, is the bearer token GET /metrics takes:
	// without it (Authorization: Bearer <token>) /metrics answers 401.
	// Empty leaves /metrics open, for a scraper on a private network.
	MetricsToken string

	// MaxHeaderBytes limits the size of a request's request line and
	// header lines; a larger request is answered 431 headers_too_large
	// (JSON, with the request id and security headers) before any handler
	// runs. net/http itself refuses, with its own plain-text 431, only
	// requests over twice the limit (hardHeaderLimit). Zero or negative
	// means DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's timeouts against slow clients: a client that has not
	// sent its headers (or its whole request) in time is disconnected; a
	// response not written in time is cut off; an idle keep-alive
	// connection is closed. Zero or negative means the Default* constant of
	// each.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// Keys are the API's bearer keys. The rate limiter counts a request
	// with one of them against the key (known to it only by its hash) and
	// any other API request against the client's address.
	Keys Keys

	// RateLimits are the per-client rate limits (see RateLimits). Nil
	// means none: `paygate serve` always sets them, by default to
	// DefaultRateLimits.
	RateLimits *RateLimits

	// PublicURL is the URL clients reach the service at. When it is https
	// (TLS ends at a proxy in front), every response carries
	// Strict-Transport-Security; requests that arrive over TLS get it
	// whatever PublicURL says. Empty means plain http.
	PublicURL string
}

// Server is paygate's HTTP server. Create one with New, register routes on
// Router, then call Run once. Its methods are safe to call concurrently with
// request handling, but routes must all be registered before Run.
type Server struct {
	addr            string
	log             zerolog.Logger
	health          func(ctx context.Context) error
	shutdownTimeout time.Duration
	maxBodyBytes    int64
	maxHeaderBytes  int
	timeouts        [4]time.Duration // read header, read, write, idle
	limiter         *limiter         // nil: no rate limits
	https           bool             // the public URL is https: send HSTS

	metrics *metrics
	router  *mux.Router
	handler http.Handler
}

// New returns a Server configured by cfg, with GET /healthz and /readyz (both
// run the health check, so a load balancer takes an instance out while its
// database is unreachable), GET /metrics (Prometheus, the server's own
// registry) and JSON 404 and 405 responses. Every response carries the
// security headers of headers.go. It does not listen until Run is called.
func New(cfg Config) *Server {
	s := &Server{
		addr:            cfg.Addr,
		log:             cfg.Logger,
		health:          cfg.Health,
		shutdownTimeout: cfg.ShutdownTimeout,
		maxBodyBytes:    cfg.MaxBodyBytes,
		maxHeaderBytes:  cfg.MaxHeaderBytes,
		timeouts:        [4]time.Duration{cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout},
		https:           isHTTPS(cfg.PublicURL),
		metrics:         newMetrics(),
		router:          mux.NewRouter(),
	}
	if s.addr == "" {
		s.addr = DefaultAddr
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	if s.maxHeaderBytes <= 0 {
		s.maxHeaderBytes = DefaultMaxHeaderBytes
	}
	for i, def := range [4]time.Duration{DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultWriteTimeout, DefaultIdleTimeout} {
		if s.timeouts[i] <= 0 {
			s.timeouts[i] = def
		}
	}
	if cfg.RateLimits != nil {
		s.limiter = newLimiter(*cfg.RateLimits, cfg.Keys, s.metrics.limited)
	}

	// Without SkipClean the router answers a path it would clean (//v1/…,
	// /v1/./…, an encoded ../) with a bare 301 to the cleaned path; such a
	// path names no route, and is the JSON 404 of every other one.
	s.router.SkipClean(true)
	s.router.NotFoundHandler = http.HandlerFunc(s.notFound)
	s.router.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	s.router.Use(routeTag)
	s.router.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	s.router.HandleFunc("/readyz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	s.router.Handle("/metrics", requireToken(cfg.MetricsToken, s.metrics.handler())).Methods(http.MethodGet, http.MethodHead)

	s.handler = s.securityHeaders(s.middleware(s.router))
	return s
}

// Router returns the router on which other packages register their handlers.
// Routes must be registered before Run is called. Every route gets the
// server's middleware.
func (s *Server) Router() *mux.Router { return s.router }

// Handler returns the server's root handler: the router wrapped in the
// middleware. Run serves it; tests may serve it with httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the configured address, calls ready (if not nil) with the
// bound address, and serves until ctx is canceled. It then stops accepting
// connections and waits up to the shutdown timeout for in-flight requests to
// finish. Request contexts are not canceled by ctx, so in-flight work
// completes normally.
//
// Run returns nil after a clean shutdown; an error if it cannot listen, if
// serving fails, or if in-flight requests outlast the shutdown timeout (their
// connections are then closed). Run must be called at most once.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(ctx, ln)
}

// Listen opens the configured address, for callers that need the bound
// address (port 0) before they serve, e.g. to build public URLs.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	return ln, nil
}

// Serve serves on ln as Run does, and closes it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.timeouts[0],
		ReadTimeout:       s.timeouts[1],
		WriteTimeout:      s.timeouts[2],
		IdleTimeout:       s.timeouts[3],
		MaxHeaderBytes:    hardHeaderLimit(s.maxHeaderBytes),
		ErrorLog:          log.New(errorLogWriter{s.log}, "", 0),
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve returns only on failure until Shutdown is called.
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // Force the remaining connections closed; err says why.
		<-served
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: serve: %w", err)
	}
	return nil
}

// hardHeaderLimit is the http.Server's MaxHeaderBytes for a header limit
// of limit: twice it, so that net/http lets through, to refuseMalformed and
// its JSON 431, every request up to well over the limit (net/http adds
// 4 KiB of slack of its own, so at exactly the limit it would let some
// oversized requests through and answer a little larger ones itself).
func hardHeaderLimit(limit int) int { return 2 * limit }

// healthz answers GET /healthz: 200 {"status":"ok"} when the health check
// passes, 503 unavailable (with the cause logged, not shown) when it fails.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.health(ctx); err != nil {
			WriteError(w, r, &paygate.Error{
				Code:    paygate.EUNAVAILABLE,
				Message: "service unavailable",
				Err:     fmt.Errorf("server: health check: %w", err),
			})
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// notFound answers requests that match no route.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "not found"))
}

// methodNotAllowed answers requests whose path matches a route but whose
// method does not. It lists the methods that would match in Allow, as HTTP
// requires. 405 has no paygate error code, so its code is
// "method_not_allowed".
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	} {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if s.router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	writeErrorBody(w, http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"method "+r.Method+" not allowed")
}

// errorLogWriter routes the http.Server's own error messages (TLS handshake
// failures, broken connections) to the server's logger.
type errorLogWriter struct{ log zerolog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
