package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
)

// sweeper applies the due timers: expired payment orders, then the sales
// orders' timers.
type sweeper struct {
	checkout  *checkout.Service
	lifecycle *orders.Lifecycle
	log       zerolog.Logger
	applied   *prometheus.CounterVec // nil when not serving
}

// expiryTimer labels the payment orders expired in the applied counter.
const expiryTimer = "payment_order_unpaid"

// newTimersApplied returns the counter of timers applied, registered on reg.
func newTimersApplied(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "paygate",
		Subsystem: "order",
		Name:      "timers_applied_total",
		Help:      "Timers applied by the sweep, by the status that ran out (payment_order_unpaid: a payment order expired unpaid).",
	}, []string{"status"})
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// sweepResult counts what one sweep did.
type sweepResult struct {
	Expired int
	Orders  orders.SweepResult
}

func (s *sweeper) once(ctx context.Context, asOf time.Time) (sweepResult, error) {
	var res sweepResult
	var err error
	if res.Expired, err = s.checkout.ExpireDue(ctx, asOf); err != nil {
		return res, err
	}
	res.Orders, err = s.lifecycle.Sweep(ctx, asOf)
	if s.applied != nil {
		s.applied.WithLabelValues(expiryTimer).Add(float64(res.Expired))
		for status, n := range res.Orders {
			s.applied.WithLabelValues(string(status)).Add(float64(n))
		}
	}
	return res, err
}

// run sweeps every interval until ctx is done.
func (s *sweeper) run(ctx context.Context, now func() time.Time, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.once(ctx, now()); err != nil && ctx.Err() == nil {
			s.log.Error().Err(err).Msg("sweep")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep applies every timer due as of a time (default now), then exits:
// payment orders not paid by their expiry, deliveries, confirmations,
// refund requests and refusals past their windows. Safe beside a serving
// process.
func sweep(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	fs := newFlags("sweep", stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	asOf := fs.String("as-of", "", "apply the timers due at this RFC 3339 time (default: now)")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	when := time.Now().UTC()
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339, *asOf)
		if err != nil {
			fmt.Fprintf(stderr, "paygate sweep: --as-of: %v\n", err)
			return exitError
		}
		when = t.UTC()
	}
	// Expired attempts are canceled at their providers, which are
	// configured as serve's are.
	ac, publicURL, err := besideConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	defer db.Close()
	log := maskedLogger(stderr, append(ac.secretValues(), c.dbSecrets()...)...)
	provs, err := providerClients(ac, publicURL, log)
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	l := ledger.New(db)
	co, err := checkout.New(ctx, checkout.Config{DB: db, Ledger: l, Providers: provs, PublicURL: publicURL, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	rules, err := rulesFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	sw := sweeper{checkout: co, lifecycle: &orders.Lifecycle{DB: db, Ledger: l, Rules: rules, Logger: log}, log: log}
	res, err := sw.once(ctx, when)
	if err != nil {
		fmt.Fprintf(stderr, "paygate sweep: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "sweep as of %s: %d payment order(s) expired; %d not delivered (refunded), %d not confirmed (completed), %d refund requests unanswered (refunded), %d refusals not disputed (completed)\n",
		when.Format(time.RFC3339), res.Expired, res.Orders[orders.WaitingDelivery], res.Orders[orders.WaitingConfirmation],
		res.Orders[orders.Refunding], res.Orders[orders.RefundRefused])
	return exitOK
}

// rulesFromEnv reads the marketplace's durations and commission:
// PAYGATE_DELIVERY_WINDOW, PAYGATE_CONFIRM_WINDOW, PAYGATE_REFUSE_WINDOW,
// PAYGATE_DISPUTE_WINDOW (Go durations such as 72h) and
// PAYGATE_COMMISSION_BPS (basis points).
func rulesFromEnv(getenv func(string) string) (orders.Rules, error) {
	var r orders.Rules
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{
		{"PAYGATE_DELIVERY_WINDOW", &r.DeliveryWindow}, {"PAYGATE_CONFIRM_WINDOW", &r.ConfirmWindow},
		{"PAYGATE_REFUSE_WINDOW", &r.RefuseWindow}, {"PAYGATE_DISPUTE_WINDOW", &r.DisputeWindow},
	} {
		if v := getenv(d.env); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return r, fmt.Errorf("%s=%q is not a positive duration such as 72h", d.env, v)
			}
			*d.dst = dur
		}
	}
	if v := getenv("PAYGATE_COMMISSION_BPS"); v != "" {
		var bps int64
		if _, err := fmt.Sscan(v, &bps); err != nil || bps < 0 || bps > 10000 {
			return r, fmt.Errorf("PAYGATE_COMMISSION_BPS=%q is not 0 to 10000 basis points", v)
		}
		r.CommissionBasisPoints = bps
	}
	return r.WithDefaults(), nil
}
