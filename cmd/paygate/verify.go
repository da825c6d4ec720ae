package main

import (
	"context"
	"fmt"
	"io"

	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/service"
)

func verify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("ledger verify", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	anchor := fs.String("anchor", "", "prove that the journal's history up to the block with this hash (from paygate ledger anchor) is unchanged and has only grown since")
	pub := fs.String("anchor-public-key", "", "with --anchor-signature: the Ed25519 public key (base64) that signed the anchor")
	sig := fs.String("anchor-signature", "", "with --anchor: the anchor's signature (base64), checked against the block with that hash")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	if (*sig != "" || *pub != "") && (*anchor == "" || *sig == "" || *pub == "") {
		fmt.Fprintln(stderr, "paygate ledger verify: --anchor-signature and --anchor-public-key go together, with --anchor")
		return exitError
	}
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate ledger verify: %v\n", err)
		return exitError
	}
	defer db.Close()
	var report ledger.Report
	if *anchor != "" {
		report, err = service.VerifyAnchor(ctx, db, *anchor)
	} else {
		report, err = service.Verify(ctx, db)
	}
	if err != nil {
		fmt.Fprintf(stderr, "paygate ledger verify: %v\n", err)
		return exitError
	}
	report.WriteTo(stdout)
	if *sig != "" {
		b, ok, err := chain.ByHash(ctx, db, *anchor)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "paygate ledger verify: %v\n", err)
			return exitError
		case !ok:
			fmt.Fprintln(stdout, "anchor signature: no block has the anchor's hash")
			return exitDrift
		}
		if err := chain.VerifySignature(b, *pub, *sig); err != nil {
			fmt.Fprintf(stdout, "anchor signature: FAIL: %v\n", err)
			return exitDrift
		}
		fmt.Fprintf(stdout, "anchor signature: OK (block %d)\n", b.Number)
	}
	if !report.OK() {
		return exitDrift
	}
	return exitOK
}

// verifyChecks are the business invariants verify checks beside the
// ledger's own.
func verifyChecks() []ledger.Check { return service.Checks() }
