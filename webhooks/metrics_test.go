package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// metricValue returns the value of the metric name whose labels include labels,
// from a fresh scrape of reg; -1 if there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

func TestMetricsFollowTheInbox(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		in, _ := newInbox(t, db, 2, 10)
		reg := prometheus.NewRegistry()
		if err := in.RegisterMetrics(reg); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		get := func(name string, labels map[string]string) float64 { return metricValue(t, reg, name, labels) }

		if got := get("paygate_webhook_inbox_events", map[string]string{"status": "pending"}); got != 0 {
			t.Fatalf("empty inbox: pending = %v, want 0", got)
		}
		// The first application fails at intake: the event waits in the inbox.
		if _, err := in.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{event("evt_m1")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the oldest pending event's age, read with the real clock, must pass 10 ms
		if got := get("paygate_webhook_inbox_events", map[string]string{"status": "pending"}); got != 1 {
			t.Errorf("after a failed intake: pending = %v, want 1", got)
		}
		if got := get("paygate_webhook_inbox_oldest_pending_seconds", nil); got < 0.01 {
			t.Errorf("oldest pending age = %v s, want ≥ 0.01", got)
		}
		if got := get("paygate_webhook_apply_failures_total", nil); got != 1 {
			t.Errorf("failures = %v, want 1", got)
		}
		// The worker fails once more, then applies it.
		deadline := time.Now().Add(10 * time.Second)
		for status(t, in, "evt_m1").Status != webhooks.StatusProcessed {
			if time.Now().After(deadline) {
				t.Fatalf("event not processed: %+v", status(t, in, "evt_m1"))
			}
			if _, err := in.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			if status(t, in, "evt_m1").Status == webhooks.StatusPending {
				if got := get("paygate_webhook_inbox_retries", nil); got != 1 {
					t.Errorf("after the worker's failure: retries = %v, want 1", got)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		// A second event is applied at intake.
		in2, _ := newInbox(t, db, 0, 10)
		reg2 := prometheus.NewRegistry()
		if err := in2.RegisterMetrics(reg2); err != nil {
			t.Fatal(err)
		}
		if _, err := in2.Receive(ctx, "stripe", []byte(`{}`), []providers.Event{event("evt_m2")}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			reg    *prometheus.Registry
			name   string
			labels map[string]string
			want   float64
		}{
			{reg, "paygate_webhook_apply_failures_total", nil, 2},
			{reg, "paygate_webhook_events_applied_total", map[string]string{"outcome": "paid"}, 1},
			{reg, "paygate_webhook_settlement_lag_seconds", nil, 1},
			{reg, "paygate_webhook_inbox_events", map[string]string{"status": "pending"}, 0},
			{reg, "paygate_webhook_inbox_retries", nil, 0},
			{reg, "paygate_webhook_inbox_oldest_pending_seconds", nil, 0},
			{reg, "paygate_webhook_inbox_scrape_ok", nil, 1},
			{reg2, "paygate_webhook_apply_failures_total", nil, 0},
			{reg2, "paygate_webhook_events_applied_total", map[string]string{"outcome": "paid"}, 1},
			{reg2, "paygate_webhook_settlement_lag_seconds", nil, 1},
		} {
			if got := metricValue(t, c.reg, c.name, c.labels); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
}
