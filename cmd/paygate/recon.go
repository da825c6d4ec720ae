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
	run, err := runRecon(ctx, &c, getenv, *provider, *file, stderr)
	if err == nil {
		err = writeRun(stdout, *format, run)
	}
	if err != nil {
		fmt.Fprintf(stderr, "paygate recon: %v\n", err)
		return exitError
	}
	return exitOK
}

// runRecon reconciles report file of provider with the ledger of the
// database c names, and saves the run, as one made through the API is:
// finance reads it again at /v1/reconciliations/{id}, and its unmatched
// lines are items. Warnings are logged to stderr, secrets masked.
func runRecon(ctx context.Context, c *config, getenv func(string) string, provider, file string, stderr io.Writer) (recon.ReportJSON, error) {
	f, err := os.Open(file)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	defer f.Close()
	db, err := c.openStore(ctx)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	defer db.Close()
	// Parsing a report calls no provider: the clients need only their
	// configuration (sandbox mode makes placeholder keys).
	ac, publicURL, err := besideConfig(getenv)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	log := maskedLogger(stderr, append(ac.secretValues(), c.dbSecrets()...)...).Level(zerolog.WarnLevel)
	provs, err := providerClients(ac, publicURL, log)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	l := ledger.New(db)
	co, err := checkout.New(ctx, checkout.Config{DB: db, Ledger: l, Logger: log})
	if err != nil {
		return recon.ReportJSON{}, err
	}
	// No API key runs this command: the audit log names the command.
	ctx = server.WithCaller(ctx, server.Caller{Role: server.RoleFinance, KeyName: "paygate recon (command line)"})
	rep, err := (&recon.Reconciler{DB: db, Ledger: l, Checkout: co, Providers: provs, Logger: log}).Run(ctx, provider, f)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	key, err := anchorKey(getenv)
	if err != nil {
		return recon.ReportJSON{}, err
	}
	return (&recon.Reconciler{DB: db, AnchorKey: key}).Save(ctx, rep)
}

// writeRun writes run to w in format: csv, json, html, or else a table.
func writeRun(w io.Writer, format string, run recon.ReportJSON) error {
	switch format {
	case "csv":
		return recon.WriteRunCSV(w, run)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(run)
	case "html":
		return recon.WriteHTML(w, run)
	default:
		return recon.WriteRunTable(w, run)
	}
}
