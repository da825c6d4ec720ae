// Command paygate is the payment gateway orchestration service: it serves
// the HTTP API, the checkout page and the provider webhooks, and checks the
// ledger. It only parses flags and environment and wires packages together.
//
//	paygate serve            [--addr 127.0.0.1:8080] [--db paygate.db]
//	paygate ledger verify    [--db paygate.db] [--create] [--anchor HASH [--anchor-signature SIG --anchor-public-key KEY]]
//	paygate ledger anchor    [--db paygate.db] [--create]
//	paygate webhooks replay  [--db paygate.db] [--create] --id N | --since TIME
//	paygate sweep            [--db paygate.db] [--create] [--as-of RFC3339]
//	paygate recon            [--db paygate.db] [--create] --provider stripe|rapyd --report FILE [--format table|csv|json]
//	paygate keys             create --role marketplace|finance --name NAME | list | revoke ID
//	paygate events tail      [--type T[,T…]] [--resource R] [--forward-to URL] [--url SERVER] [--after CURSOR]
//	paygate sandbox serve    [--addr 127.0.0.1:8081] [--paygate-url http://127.0.0.1:8080]
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK       = 0
	exitDrift    = 1 // ledger verify found drift
	exitNotFound = 1 // webhooks replay --id matched no stored event
	exitError    = 2 // bad usage or a failure (a missing database too)
)

const usage = `paygate — payment gateway orchestration service

Usage:
  paygate serve [flags]           run the HTTP server
  paygate ledger verify [flags]   re-derive the ledger and its hash chain; exit 1 on any drift (--anchor HASH)
  paygate ledger anchor [flags]   seal the journal and print its latest block (number, hash, time; signed with PAYGATE_ANCHOR_KEY_FILE)
  paygate webhooks replay [flags] re-apply stored webhook events (--id N | --since TIME)
  paygate sweep [--as-of TIME]    apply every due timer (expiry, delivery, confirmation, refund windows)
  paygate recon [flags]           reconcile a settlement report (--provider stripe|rapyd --report FILE --format table|csv|json)
  paygate keys create|list|revoke issue (--role marketplace|finance --name NAME), list or revoke (ID) API keys
  paygate events tail [flags]     print each new event of a server (--url) as a JSON line; --forward-to URL posts it signed
  paygate sandbox serve [flags]   run only the provider simulators, for a sandbox server pointed at them (STRIPE_API_URL, RAPYD_API_URL)

Only serve creates a missing database; every other command refuses one
(exit 2) unless given --create. Run "paygate COMMAND -h" for the flags of a command. Every flag has an
environment variable (PAYGATE_ADDR, PAYGATE_DB, PAYGATE_LOG_LEVEL). Secrets
come only from the environment, or from a file named by NAME_FILE.
`

// run runs one command and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, usage)
		return exitError
	}
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "serve":
		return serve(ctx, rest, getenv, stderr)
	case cmd == "ledger" && len(rest) > 0 && rest[0] == "verify":
		return verify(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "ledger" && len(rest) > 0 && rest[0] == "anchor":
		return anchor(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "recon":
		return reconcile(ctx, rest, getenv, stdout, stderr)
	case cmd == "sweep":
		return sweep(ctx, rest, getenv, stdout, stderr)
	case cmd == "keys":
		return keys(ctx, rest, getenv, stdout, stderr)
	case cmd == "events" && len(rest) > 0 && rest[0] == "tail":
		return tail(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "sandbox" && len(rest) > 0 && rest[0] == "serve":
		return sandboxServe(ctx, rest[1:], getenv, stderr)
	case cmd == "webhooks" && len(rest) > 0 && rest[0] == "replay":
		return replay(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		io.WriteString(stdout, usage)
		return exitOK
	default:
		io.WriteString(stderr, "paygate: unknown command "+quote(args)+"\n\n"+usage)
		return exitError
	}
}

func quote(args []string) string {
	s := args[0]
	if len(args) > 1 && (args[0] == "ledger" || args[0] == "webhooks" || args[0] == "events" || args[0] == "sandbox") {
		s += " " + args[1]
	}
	return `"` + s + `"`
}
