package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// config is what the flags say.
type config struct {
	url         string
	apiKey      string
	financeKey  string
	orders      int64         // 0: until duration
	duration    time.Duration // 0: until orders
	concurrency int
	methods     []providers.MethodInfo
	items       int
	sellers     int
	buyers      int
	commission  int64 // basis points, as the server's PAYGATE_COMMISSION_BPS
	db          string
	noVerify    bool
	json        bool
	noProgress  bool
	timeout     time.Duration // one HTTP request
	settleWait  time.Duration // approval to paid, at most
	retries     int
	pid         int
	sampleEvery time.Duration
	checkSample int
	runID       string
	seed        uint64
}

const usageText = `paybench — drive paygate's whole payment flow over HTTP and measure it

Usage:
  paybench [flags]

Against a sandbox server (paygate serve), it creates payment orders, pays
them with the sandbox's methods at the simulated providers, waits for the
signed webhooks to settle them, delivers and confirms every sales order,
then checks every order and seller balance through the API and runs the
checks of "paygate ledger verify" on -db. It exits 0 only if every order
completed and every check passed.

Flags:
`

// parseConfig parses the flags; getenv supplies the keys' defaults.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{}
	fs := flag.NewFlagSet("paybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the paygate server")
	fs.StringVar(&c.apiKey, "api-key", envOr(getenv, "PAYGATE_API_KEY", "sandbox-marketplace-key"),
		"marketplace API key (env PAYGATE_API_KEY)")
	fs.StringVar(&c.financeKey, "finance-key", envOr(getenv, "PAYGATE_FINANCE_KEY", "sandbox-finance-key"),
		"finance API key, to count failed webhook events and open finance items (env PAYGATE_FINANCE_KEY)")
	fs.Int64Var(&c.orders, "orders", 0, "payment orders to complete (default 1000 unless -duration is set)")
	fs.DurationVar(&c.duration, "duration", 0, "start orders until this much time has passed (with -orders, whichever ends first)")
	fs.IntVar(&c.concurrency, "concurrency", 8, "workers; each carries one order at a time through every step")
	methods := fs.String("methods", "ideal,paynow,boleto,kakaopay,samsungpay", "payment methods, comma-separated; orders take them in turn")
	fs.IntVar(&c.items, "items", 1, "sales orders per payment order")
	fs.IntVar(&c.sellers, "sellers", 500, "distinct sellers of this run (items pick one at random)")
	fs.IntVar(&c.buyers, "buyers", 1000, "distinct buyers of this run")
	commission := fs.String("commission-bps", envOr(getenv, "PAYGATE_COMMISSION_BPS", "0"),
		"the server's commission in basis points, to compute the sellers' expected balances (env PAYGATE_COMMISSION_BPS)")
	fs.StringVar(&c.db, "db", "", "the server's database (a SQLite file path or a postgres:// URL, as paygate serve --db) for the final ledger verify")
	fs.BoolVar(&c.noVerify, "no-verify", false, "skip the ledger verify (then -db is not needed; the run cannot prove the money is right)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.BoolVar(&c.noProgress, "no-progress", false, "no progress bar (it is shown only when stderr is a terminal)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one HTTP request")
	fs.DurationVar(&c.settleWait, "settle-timeout", 30*time.Second, "how long an approved order may take to be paid")
	fs.IntVar(&c.retries, "retries", 3, "retries of a request the server did not process (connection errors, 429, 502, 503, 504)")
	fs.IntVar(&c.pid, "pid", 0, "the server's process id, to sample its RSS from /proc (default: process_resident_memory_bytes of /metrics)")
	fs.DurationVar(&c.sampleEvery, "sample-every", 5*time.Second, "interval of the server's memory samples")
	fs.IntVar(&c.checkSample, "check-sample", 100000, "orders read back through the API at the end (a uniform sample when the run has more)")
	fs.StringVar(&c.runID, "run-id", "", "prefix of this run's user ids and idempotency keys (default random)")
	seed := fs.String("seed", "", "seed of the amounts and sellers (default random)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.methods, err = parseMethods(*methods); err != nil {
		return c, err
	}
	if c.commission, err = strconv.ParseInt(*commission, 10, 64); err != nil || c.commission < 0 || c.commission > 10000 {
		return c, fmt.Errorf("-commission-bps %q is not 0 to 10000 basis points", *commission)
	}
	if c.runID == "" {
		c.runID = randomHex(4)
	}
	if *seed == "" {
		c.seed, _ = strconv.ParseUint(randomHex(8), 16, 64)
	} else if c.seed, err = strconv.ParseUint(*seed, 10, 64); err != nil {
		return c, fmt.Errorf("-seed %q is not an unsigned integer", *seed)
	}
	c.url = strings.TrimSuffix(c.url, "/")
	if c.orders == 0 && c.duration == 0 {
		c.orders = 1000
	}
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.orders < 0 || c.duration < 0:
		return errors.New("-orders and -duration must not be negative")
	case c.concurrency < 1:
		return errors.New("-concurrency must be at least 1")
	case c.items < 1 || c.items > 50:
		return errors.New("-items must be 1 to 50")
	case c.sellers < 1 || c.buyers < 1:
		return errors.New("-sellers and -buyers must be at least 1")
	case c.retries < 0:
		return errors.New("-retries must not be negative")
	case c.timeout <= 0 || c.settleWait <= 0 || c.sampleEvery <= 0:
		return errors.New("-timeout, -settle-timeout and -sample-every must be positive")
	case c.checkSample < 0:
		return errors.New("-check-sample must not be negative")
	case !validIDPart(c.runID) || len(c.runID) > 24:
		return fmt.Errorf("-run-id %q must be 1 to 24 characters of letters, digits, '_', '.' or '-'", c.runID)
	case c.db == "" && !c.noVerify:
		return errors.New("-db is required (the server's database, for the final ledger verify), or -no-verify")
	}
	return nil
}

// parseMethods parses a comma-separated list of the sandbox's methods.
func parseMethods(s string) ([]providers.MethodInfo, error) {
	var out []providers.MethodInfo
	seen := map[providers.Method]bool{}
	for _, name := range strings.Split(s, ",") {
		m := providers.Method(strings.TrimSpace(name))
		if m == "" || seen[m] {
			continue
		}
		mi, ok := providers.Lookup(m)
		if !ok {
			return nil, fmt.Errorf("-methods: unknown method %q", m)
		}
		seen[m] = true
		out = append(out, mi)
	}
	if len(out) == 0 {
		return nil, errors.New("-methods: no method")
	}
	return out, nil
}

// validIDPart accepts what paygate accepts in a user id: [A-Za-z0-9_.-].
func validIDPart(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never returns an error; it crashes instead.
	return hex.EncodeToString(b)
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
