package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // an order failed, a check found a wrong state, or verify found drift
	exitError  = 2 // bad usage, or the run could not start
)

// run runs paybench and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "paybench: %v\n", err)
		return exitError
	}
	b := newBench(cfg)
	defer b.client.close()
	if err := b.preflight(ctx); err != nil {
		fmt.Fprintf(stderr, "paybench: %v\n", err)
		return exitError
	}
	before, err := b.countFinance(ctx)
	counted := err == nil
	if err != nil {
		fmt.Fprintf(stderr, "paybench: not counting failed webhook events and finance items (finance key?): %v\n", err)
	}

	var progress io.Writer
	if !cfg.noProgress && isTerminal(stderr) {
		progress = stderr
	}
	sampleCtx, stopSampling := context.WithCancel(context.WithoutCancel(ctx))
	memory := make(chan *memoryResult, 1)
	go func() { memory <- b.sampleMemory(sampleCtx) }()
	started := time.Now()
	elapsed := b.load(ctx, progress)
	stopSampling()

	// The checks run even after an interrupt: the orders in flight have
	// finished, and a run that was stopped is checked all the same.
	checkCtx := context.WithoutCancel(ctx)
	res := b.result(started, elapsed)
	res.Memory = <-memory
	res.Check = b.checkAPI(checkCtx, before, counted)
	if cfg.noVerify {
		res.Verify = verifyResult{}
	} else {
		res.Verify = verifyLedger(checkCtx, cfg.db)
	}
	res.Interrupted = ctx.Err() != nil
	res.OK = res.Orders.Failed == 0 && res.Errors == 0 && res.Check.OK() && (cfg.noVerify || res.Verify.OK) &&
		res.Orders.Completed > 0
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "paybench: %v\n", err)
			return exitError
		}
	} else {
		res.write(stdout)
	}
	if !res.OK {
		return exitFailed
	}
	return exitOK
}

// preflight checks that the server answers and takes the API key.
func (b *bench) preflight(ctx context.Context) error {
	if _, _, err := b.client.do(ctx, request{method: http.MethodGet, url: "/readyz", want: http.StatusOK, replayable: true}, nil); err != nil {
		return fmt.Errorf("the server at %s is not ready: %w", b.cfg.url, err)
	}
	// A payment order that does not exist: 404 with a good key, 401 without.
	if _, _, err := b.client.do(ctx, request{method: http.MethodGet, url: "/v1/payment-orders/P00000000", key: b.cfg.apiKey,
		want: http.StatusNotFound, replayable: true}, nil); err != nil {
		return fmt.Errorf("the API key is not accepted: %w", err)
	}
	return nil
}
