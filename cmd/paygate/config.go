package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/redact"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
)

// config is what the flags and environment say. Each flag's default comes
// from its environment variable, then from the built-in default.
type config struct {
	addr     string
	db       string
	logLevel string
	create   bool // --create: the command may make a new database
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("paygate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func (c *config) dbFlag(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.db, "db", envOr(getenv, "PAYGATE_DB", "paygate.db"),
		"database: a SQLite file path, or a postgres:// URL (env PAYGATE_DB)")
}

func (c *config) logFlag(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.logLevel, "log-level", envOr(getenv, "PAYGATE_LOG_LEVEL", "info"),
		"log level: debug, info, warn, error (env PAYGATE_LOG_LEVEL)")
}

// dbSecrets are the passwords in the database URL, which a command's log
// masks wherever they appear (storage's messages show the URL masked
// already: redact.DSN).
func (c *config) dbSecrets() []string { return redact.DSNSecrets(c.db) }

// parse parses args, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// logger returns the JSON logger to w at the configured level.
func (c *config) logger(w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(strings.ToLower(c.logLevel))
	if err != nil || level == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("unknown log level %q", c.logLevel)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Int(server.FieldPID, os.Getpid()).Logger(), nil
}

// maskedLogger returns the JSON logger of a command that runs beside the
// server (recon, sweep, webhooks replay): every line passes through the
// redacting writer, which also masks the given secret values.
func maskedLogger(w io.Writer, secrets ...string) zerolog.Logger {
	return zerolog.New(redact.NewWriter(w, redact.New(secrets...))).With().Timestamp().Logger()
}

// webhookLease reads PAYGATE_WEBHOOK_LEASE, how long a webhook worker holds
// the events it claims (0 when unset: the inbox's default).
func webhookLease(getenv func(string) string) (time.Duration, error) {
	v := getenv("PAYGATE_WEBHOOK_LEASE")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("PAYGATE_WEBHOOK_LEASE=%q is not a positive duration such as 30s", v)
	}
	return d, nil
}

// positiveDuration reads the environment variable name as a positive
// duration (0 when unset).
func positiveDuration(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration such as 10s", name, v)
	}
	return d, nil
}

// createFlag adds --create to a command other than serve: without it, the
// command refuses a database that does not exist (see openStore).
func (c *config) createFlag(fs *flag.FlagSet) {
	fs.BoolVar(&c.create, "create", false, "create the database if it does not exist (only serve does so by default)")
}

// openStore opens the command's database. Without --create it must exist
// and hold paygate's schema: run from the wrong folder, a command would
// otherwise report on (or post into) a new empty database.
func (c *config) openStore(ctx context.Context) (*storage.DB, error) {
	if c.create {
		return service.Open(ctx, c.db)
	}
	db, err := service.OpenExisting(ctx, c.db)
	var missing *storage.MissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("database %s does not exist or has no paygate schema: check --db (env PAYGATE_DB), start paygate serve on it first, or pass --create to make an empty one", missing.Name)
	}
	return db, err
}

// eventRetention reads PAYGATE_EVENT_RETENTION, how long events are kept
// before the janitor prunes them (events.DefaultRetention, 30 days, when
// unset; at least a day).
func eventRetention(getenv func(string) string) (time.Duration, error) {
	v := getenv("PAYGATE_EVENT_RETENTION")
	if v == "" {
		return events.DefaultRetention, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 24*time.Hour {
		return 0, fmt.Errorf("PAYGATE_EVENT_RETENTION=%q is not a duration of at least 24h, such as 2160h for 90 days", v)
	}
	return d, nil
}

// anchorKey reads the Ed25519 key that signs the journal's anchors
// (PAYGATE_ANCHOR_KEY_FILE, or PAYGATE_ANCHOR_KEY, in PEM); nil when
// neither is set.
func anchorKey(getenv func(string) string) (ed25519.PrivateKey, error) {
	pem, err := secret(getenv, "PAYGATE_ANCHOR_KEY")
	if err != nil || pem == "" {
		return nil, err
	}
	return chain.ParsePrivateKey([]byte(pem))
}

// chainInterval reads PAYGATE_CHAIN_INTERVAL, how often serve's hasher
// seals the journal (0, chain.DefaultInterval, when unset). "off" (-1) runs
// no hasher in this instance: another instance, or `paygate ledger anchor`,
// must seal, or the sealing lag grows.
func chainInterval(getenv func(string) string) (time.Duration, error) {
	if getenv("PAYGATE_CHAIN_INTERVAL") == "off" {
		return -1, nil
	}
	return positiveDuration(getenv, "PAYGATE_CHAIN_INTERVAL")
}
