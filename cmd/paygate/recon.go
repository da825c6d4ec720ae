package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/recon"
	"github.com/paygate/paygate/server"
)

// reconMemoryLimit is paygate recon's soft memory limit (see BENCHMARKS.md:
// a 1,000,000-line report in under 300 MB).
const reconMemoryLimit = 150 << 20

// reconcile reconciles one settlement report file with the ledger, keeps
// the run and prints it: paygate recon --provider stripe|rapyd --report FILE
// [--format table|csv|json|html]. Fees and payouts are posted once however often
// the report is imported. Safe beside a serving process.
func reconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("recon", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	provider := fs.String("provider", "", "stripe or rapyd")
	file := fs.String("report", "", "the settlement report (CSV)")
	format := fs.String("format", "table", "table, csv, json or html")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	if *provider == "" || *file == "" || (*format != "table" && *format != "csv" && *format != "json" && *format != "html") {
		fmt.Fprintln(stderr, "paygate recon: give --provider stripe|rapyd, --report FILE and --format table|csv|json|html")
		return exitError
	}
	// A report may be large: the run streams it, and a soft memory limit
	// keeps the garbage collector from letting the heap grow to twice what
	// is live (GOMEMLIMIT in the environment overrides it).
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(reconMemoryLimit)
	}
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	defer f.Close()
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	defer db.Close()
	// Parsing a report calls no provider: the clients need only their
	// configuration (sandbox mode makes placeholder keys).
	ac, publicURL, err := besideConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	log := maskedLogger(stderr, append(ac.secretValues(), c.dbSecrets()...)...).Level(zerolog.WarnLevel)
	provs, err := providerClients(ac, publicURL, log)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	l := ledger.New(db)
	co, err := checkout.New(ctx, checkout.Config{DB: db, Ledger: l, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	// No API key runs this command: the audit log names the command.
	ctx = server.WithCaller(ctx, server.Caller{Role: server.RoleFinance, KeyName: "paygate recon (command line)"})
	rep, err := (&recon.Reconciler{DB: db, Ledger: l, Checkout: co, Providers: provs, Logger: log}).Run(ctx, *provider, f)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	// The run is kept, as one made through the API is: finance reads it
	// again at /v1/reconciliations/{id}, and its unmatched lines are items.
	key, err := anchorKey(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	run, err := (&recon.Reconciler{DB: db, AnchorKey: key}).Save(ctx, rep)
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	switch *format {
	case "csv":
		err = recon.WriteRunCSV(stdout, run)
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(run)
	case "html":
		err = recon.WriteHTML(stdout, run)
	default:
		err = recon.WriteRunTable(stdout, run)
	}
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	return exitOK
}
