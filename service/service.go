// Package service is what the paygate binary assembles from the other
// packages and what tools beside it need too: the schema of every package,
// in dependency order, and the integrity checks that `paygate ledger verify`
// runs over it. Tools that check a paygate database (cmd/paybench) call
// Open and Verify here, so they check exactly what the binary checks.
package service

import (
	"context"

	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/financeui"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/recon"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/webhooks"
)

// Migrations are every package's schema, in dependency order.
func Migrations() []storage.Migrations {
	return []storage.Migrations{
		events.Migrations(), ledger.Migrations(), orders.Migrations(), checkout.Migrations(),
		idempotency.Migrations(), webhooks.Migrations(), finance.Migrations(), recon.Migrations(),
		apikey.Migrations(), financeui.Migrations(), delivery.Migrations(), chain.Migrations(),
	}
}

// Open opens the database named by dsn (a SQLite file path or a
// postgres:// URL) with every package's schema applied, as paygate serve
// opens it.
func Open(ctx context.Context, dsn string) (*storage.DB, error) {
	return storage.Open(ctx, dsn, storage.Options{Migrations: Migrations()})
}

// OpenExisting opens a database that paygate has made before, applying any
// pending migrations, and answers a *storage.MissingError instead of
// creating one: every command but serve (and --create) opens this way, so a
// command run from the wrong folder does not report on a new empty database.
func OpenExisting(ctx context.Context, dsn string) (*storage.DB, error) {
	return storage.Open(ctx, dsn, storage.Options{Migrations: Migrations(), MustExist: true})
}

// Checks are the business invariants verify checks beside the ledger's own,
// and the journal's hash chain (chain.Check).
func Checks() []ledger.Check {
	return append(append(orders.Checks(), checkout.Checks()...), chain.Check())
}

// Verify runs the ledger's checks and Checks over db in one snapshot, as
// `paygate ledger verify` does. Drift is in the report; an error means a
// check could not run (its message starts with "ledger: verify").
func Verify(ctx context.Context, db *storage.DB) (ledger.Report, error) {
	return ledger.New(db).Verify(ctx, Checks()...)
}

// VerifyAnchor is Verify that also proves anchor, the hash of a block that
// `paygate ledger anchor` printed: the history up to that block is
// unchanged and has only grown since (chain.AnchorCheck).
func VerifyAnchor(ctx context.Context, db *storage.DB, anchor string) (ledger.Report, error) {
	checks := append(append(orders.Checks(), checkout.Checks()...), chain.AnchorCheck(anchor))
	return ledger.New(db).Verify(ctx, checks...)
}
