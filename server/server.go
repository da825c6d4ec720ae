// Package server is paygate's HTTP server: it owns the listener, the router,
// the middleware every request passes through (request id, per-request
// logger, access log, panic recovery, body limit), the health check, and the
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
	DefaultMaxBodyBytes    = 1 << 20 // 1 MiB
)

// Timeouts of the underlying http.Server and of the health check. WriteTimeout
// bounds a whole handler, so it is generous enough for a provider call.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	healthTimeout     = 5 * time.Second
)

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
	https           bool // the public URL is https: send HSTS

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

	s.router.NotFoundHandler = http.HandlerFunc(s.notFound)
	s.router.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	s.router.Use(routeTag)
	s.router.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	s.router.HandleFunc("/readyz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	s.router.Handle("/metrics", s.metrics.handler()).Methods(http.MethodGet, http.MethodHead)

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
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    http.DefaultMaxHeaderBytes,
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
