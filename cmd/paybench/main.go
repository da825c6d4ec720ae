// Command paybench is a load tool for paygate: it drives the whole payment
// flow over HTTP against a running sandbox server and reports throughput
// and latency per step, then checks that no money went astray.
//
// Each worker carries one order at a time through every step: it creates a
// payment order, starts an attempt with one of the sandbox's methods,
// approves the payment at the simulated provider as a buyer does (the form
// POST of the hosted bank or wallet page, the boleto's "pay at a bank", the
// sandbox's bank app for PayNow QR), follows the redirect back to paygate's
// return page, waits until the signed webhooks have settled the order, then
// has the seller deliver and the buyer confirm each sales order. At the end
// it reads every order back through the API, checks the sellers' balances,
// and runs the checks of `paygate ledger verify` on the server's database: a
// fast run that lost money is a failed run.
//
//	PAYGATE_RATE_LIMIT_CHECKOUT=off paygate serve --db bench.db &
//	paybench -db bench.db -duration 30s -concurrency 32
//
// paybench loads every order's checkout return page from one address, at
// hundreds per second: far beyond the per-address limit of the checkout
// pages that protects a real server (20/s by default), so the server under
// test must run with that limit off, as above. Its API requests (about
// 2,000/s with one key) stay under the default per-key limit.
//
// Exit status: 0 when every order completed and every check passed, 1 when
// an order failed, a check found a wrong state or verify found drift, 2 when
// the run could not start (bad flags, server unreachable).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal ends the run gracefully (the orders in flight
		// finish and are checked); the next one kills the process.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
