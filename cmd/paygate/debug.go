package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	runtimepprof "runtime/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/server"
)

// serveDebug serves Go's profiler (net/http/pprof) on addr until ctx is
// done: PAYGATE_DEBUG_ADDR, off by default. It is a listener of its own,
// without authentication, so bind it to loopback or an operator network.
func serveDebug(ctx context.Context, addr string, log zerolog.Logger) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("debug server")
		}
	}()
	log.Info().Str(server.FieldAddr, ln.Addr().String()).Msg("profiler listening")
	return ln.Addr(), nil
}

// startCPUProfile writes the process's CPU profile to path from now until
// the returned stop is called: PAYGATE_CPU_PROFILE, off by default, for a
// profile of a whole load test (scripts/cpu-per-order.sh with PROFILE set)
// that the profiler's listener, which profiles a fixed number of seconds,
// cannot give.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := runtimepprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		runtimepprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// profileCPU starts serve's CPU profile into path (PAYGATE_CPU_PROFILE) and
// returns what stops it and logs a failure to write it; with path "" it
// profiles nothing and stop does nothing.
func profileCPU(path string, log zerolog.Logger) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	end, err := startCPUProfile(path)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := end(); err != nil {
			log.Error().Err(err).Msg("write the CPU profile")
		}
	}, nil
}
