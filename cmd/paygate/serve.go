package main

import (
	"context"
	"io"
	"net"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// migrations are every package's schema, in dependency order.
func migrations() []storage.Migrations {
	return []storage.Migrations{ledger.Migrations()}
}

func openDB(ctx context.Context, dsn string) (*storage.DB, error) {
	return storage.Open(ctx, dsn, storage.Options{Migrations: migrations()})
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	var c config
	fs := newFlags("serve", stderr)
	fs.StringVar(&c.addr, "addr", envOr(getenv, "PAYGATE_ADDR", server.DefaultAddr),
		"listen address; port 0 picks a free port (env PAYGATE_ADDR)")
	c.dbFlag(fs, getenv)
	c.logFlag(fs, getenv)
	if err := parse(fs, args); err != nil {
		return exitError
	}
	log, err := c.logger(stderr)
	if err != nil {
		io.WriteString(stderr, "paygate serve: "+err.Error()+"\n")
		return exitError
	}
	db, err := openDB(ctx, c.db)
	if err != nil {
		log.Error().Err(err).Msg("open database")
		return exitError
	}
	defer db.Close()

	srv := server.New(server.Config{Addr: c.addr, Logger: log, Health: db.Ping})
	err = srv.Run(ctx, func(addr net.Addr) {
		log.Info().Str(server.FieldAddr, addr.String()).Str(server.FieldDBBackend, string(db.Dialect())).Msg("listening")
	})
	if err != nil {
		log.Error().Err(err).Msg("serve")
		return exitError
	}
	log.Info().Msg("stopped")
	return exitOK
}
