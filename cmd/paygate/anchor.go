package main

import (
	"context"
	"fmt"
	"io"

	"github.com/paygate/paygate/chain"
	"github.com/rs/zerolog"
)

// anchor prints the latest sealed block of the journal's hash chain (after
// sealing what has committed), signed when PAYGATE_ANCHOR_KEY_FILE (or
// PAYGATE_ANCHOR_KEY) holds an Ed25519 private key in PEM.
func anchor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("ledger anchor", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	if err := parse(fs, args); err != nil {
		return exitError
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "paygate ledger anchor: %v\n", err)
		return exitError
	}
	pem, err := secret(getenv, "PAYGATE_ANCHOR_KEY")
	if err != nil {
		return fail(err)
	}
	db, err := c.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	// One hasher seals at a time, so this is safe beside paygate serve.
	if _, err := (&chain.Hasher{DB: db, Logger: zerolog.Nop()}).SealAll(ctx); err != nil {
		return fail(err)
	}
	b, ok, err := chain.Latest(ctx, db)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fmt.Errorf("no block sealed yet: the journal is empty"))
	}
	fmt.Fprintf(stdout, "block %d\nhash %s\nsealed_at %s\n", b.Number, b.Hash, b.SealedAt.UTC().Format(chain.TimeFormat))
	if pem != "" {
		key, err := chain.ParsePrivateKey([]byte(pem))
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "public_key %s\nsignature %s\n", chain.PublicKey(key), chain.Sign(b, key))
	}
	return exitOK
}
