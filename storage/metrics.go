package storage

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics registers the write counters on reg: Update calls
// committed and the commits that held them (on SQLite, their ratio is the
// group commit's average size).
func (db *DB) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "paygate", Subsystem: "db", Name: "updates_total",
			Help: "Write transactions (Update calls) committed.",
		}, func() float64 { return float64(db.Stats().Updates) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "paygate", Subsystem: "db", Name: "commits_total",
			Help: "Durable database commits; fewer than updates when concurrent updates share a commit (SQLite group commit).",
		}, func() float64 { return float64(db.Stats().Commits) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
