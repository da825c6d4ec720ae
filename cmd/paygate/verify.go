package main

import (
	"context"
	"fmt"
	"io"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/service"
)

func verify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("ledger verify", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	if err := parse(fs, args); err != nil {
		return exitError
	}
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate ledger verify: %v\n", err)
		return exitError
	}
	defer db.Close()
	report, err := service.Verify(ctx, db)
	if err != nil {
		fmt.Fprintf(stderr, "paygate ledger verify: %v\n", err)
		return exitError
	}
	report.WriteTo(stdout)
	if !report.OK() {
		return exitDrift
	}
	return exitOK
}

// verifyChecks are the business invariants verify checks beside the
// ledger's own.
func verifyChecks() []ledger.Check { return service.Checks() }
