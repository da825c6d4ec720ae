package janitor

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts the janitor's passes and polls. A nil *Metrics records
// nothing.
type Metrics struct {
	passes prometheus.Counter
	polls  *prometheus.CounterVec
}

// NewMetrics returns the janitor's metrics, registered on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "janitor",
			Name:      "passes_total",
			Help:      "Janitor passes over the attempts whose webhook is overdue.",
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paygate",
			Subsystem: "janitor",
			Name:      "polls_total",
			Help:      "Provider status polls of overdue attempts, by result: applied (the status moved the attempt on), unchanged (still pending, or already known), error (the call failed; retried next pass).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.passes, m.polls} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pass records one pass.
func (m *Metrics) pass(res Result) {
	if m == nil {
		return
	}
	m.passes.Inc()
	m.polls.WithLabelValues("applied").Add(float64(res.Applied))
	m.polls.WithLabelValues("error").Add(float64(res.Errors))
	m.polls.WithLabelValues("unchanged").Add(float64(res.Polled - res.Applied - res.Errors))
}
