package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/webhooks"
)

// idList collects repeated --id flags.
type idList []int64

func (l *idList) String() string { return fmt.Sprint(*l) }

func (l *idList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("%q is not an inbox event id", p)
		}
		*l = append(*l, id)
	}
	return nil
}

// replay re-applies stored webhook events: by inbox id, or every event
// received since a time (optionally only failed or pending ones). It is safe
// beside a serving process and has the same exactly-once effect as a
// redelivery.
func replay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("webhooks replay", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	var ids idList
	fs.Var(&ids, "id", "inbox event id to replay (repeatable, or comma-separated)")
	since := fs.String("since", "", "replay events received since this RFC 3339 time")
	status := fs.String("status", "", "only events of this status: pending, failed or processed")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	f := webhooks.ReplayFilter{IDs: ids, Status: *status}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			fmt.Fprintf(stderr, "paygate webhooks replay: --since: %v\n", err)
			return exitError
		}
		f.Since = t
	}
	if (len(ids) == 0) == f.Since.IsZero() {
		fmt.Fprintln(stderr, "paygate webhooks replay: give --id or --since (not both)")
		fs.Usage()
		return exitError
	}
	switch f.Status {
	case "", webhooks.StatusPending, webhooks.StatusFailed, webhooks.StatusProcessed:
	default:
		fmt.Fprintf(stderr, "paygate webhooks replay: --status must be pending, failed or processed\n")
		return exitError
	}
	lease, err := webhookLease(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "paygate webhooks replay: %v\n", err)
		return exitError
	}
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate webhooks replay: %v\n", err)
		return exitError
	}
	defer db.Close()
	log := maskedLogger(stderr, c.dbSecrets()...)
	co, err := checkout.New(ctx, checkout.Config{DB: db, Ledger: ledger.New(db), Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "paygate webhooks replay: %v\n", err)
		return exitError
	}
	in := webhooks.New(webhooks.Config{DB: db, Applier: co, Logger: log, Lease: lease})
	n, err := in.Replay(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "paygate webhooks replay: %v\n", err)
		return exitError
	}
	if n == 0 && len(ids) > 0 {
		// Ids name events that should exist: saying "replayed 0" would
		// let a typo pass for a replay.
		fmt.Fprintln(stderr, "paygate webhooks replay: no stored event matches the given --id (and --status)")
		return exitNotFound
	}
	fmt.Fprintf(stdout, "replayed %d event(s)\n", n)
	return exitOK
}
