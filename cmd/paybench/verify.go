package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/paygate/paygate/service"
)

// verifyResult is the outcome of the ledger verify.
type verifyResult struct {
	Ran          bool     `json:"ran"`
	OK           bool     `json:"ok"`
	Error        string   `json:"error,omitempty"` // it could not run
	Accounts     int64    `json:"accounts"`
	Transactions int64    `json:"transactions"`
	Entries      int64    `json:"entries"`
	Problems     []string `json:"problems,omitempty"` // "check: problem"
	Report       string   `json:"-"`                  // as paygate ledger verify prints it
}

// verifyLedger runs what `paygate ledger verify` runs (service.Verify) on
// the server's database: the ledger's own invariants and every package's
// business checks, in one snapshot, safe beside the serving process.
func verifyLedger(ctx context.Context, dsn string) verifyResult {
	v := verifyResult{Ran: true}
	db, err := service.Open(ctx, dsn)
	if err != nil {
		v.Error = fmt.Sprintf("open the database: %v", err)
		return v
	}
	defer db.Close()
	report, err := service.Verify(ctx, db)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.OK = report.OK()
	v.Accounts, v.Transactions, v.Entries = report.Accounts, report.Transactions, report.Entries
	for _, c := range report.Checks {
		for _, p := range c.Problems {
			if len(v.Problems) < maxProblems {
				v.Problems = append(v.Problems, c.Name+": "+p)
			}
		}
	}
	var b strings.Builder
	report.WriteTo(&b)
	v.Report = b.String()
	return v
}
