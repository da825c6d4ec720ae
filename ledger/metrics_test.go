package ledger_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func TestMetricsCountPostingsByResult(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		l := ledger.New(db)
		reg := prometheus.NewRegistry()
		if err := l.RegisterMetrics(reg); err != nil {
			t.Fatal(err)
		}
		pay := ledger.Transfer("payment:P10000003:settled", "settle", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000003"), eur(700))
		mustPost(t, db, l, pay)
		mustPost(t, db, l, pay)
		attempts := []ledger.Transaction{
			ledger.Transfer(pay.Key, "", ledger.ProviderClearing("stripe"), ledger.Escrow("K1000003"), eur(701)),            // conflict
			ledger.Transfer("release:K1000003", "", ledger.Escrow("K1000003"), ledger.ProviderClearing("stripe"), eur(800)), // declined
			{Key: "one-sided", Entries: pay.Entries[:1]},                                                                    // invalid
		}
		for _, tr := range attempts {
			if _, err := post(t, db, l, tr); err == nil {
				t.Fatalf("Post(%q) succeeded, want a refusal", tr.Key)
			}
		}
		want := `
# HELP paygate_ledger_transactions_total Ledger transactions submitted, by result: created, already_posted (idempotent repeat), declined (insufficient funds), conflict (key reused with other entries), invalid, error (the database transaction failed). Counted when submitted; a created one is durable only if its database transaction commits.
# TYPE paygate_ledger_transactions_total counter
paygate_ledger_transactions_total{result="already_posted"} 1
paygate_ledger_transactions_total{result="conflict"} 1
paygate_ledger_transactions_total{result="created"} 1
paygate_ledger_transactions_total{result="declined"} 1
paygate_ledger_transactions_total{result="invalid"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "paygate_ledger_transactions_total"); err != nil {
			t.Error(err)
		}
		if n, err := testutil.GatherAndCount(reg, "paygate_ledger_post_duration_seconds"); err != nil || n != 1 {
			t.Errorf("post duration series = %d, %v; want 1", n, err)
		}
		families, _ := reg.Gather()
		for _, f := range families {
			if f.GetName() == "paygate_ledger_post_duration_seconds" {
				if got := f.GetMetric()[0].GetHistogram().GetSampleCount(); got != 5 {
					t.Errorf("post duration samples = %d, want 5 (one per Post)", got)
				}
			}
		}
	})
}
