package recon

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestCharge classifies charge lines against the attempts paygate holds:
// matched only when paygate settled the same payment for the same amount
// and currency; missing in the ledger when paygate has no such payment, or
// has not (yet) settled it; an amount mismatch otherwise.
func TestCharge(t *testing.T) {
	eur := func(minor int64) paygate.Money { return paygate.New(minor, "EUR") }
	attempts := map[string]checkout.Attempt{}
	for _, s := range []checkout.AttemptStatus{checkout.AttemptCreating, checkout.AttemptPending, checkout.AttemptProcessing,
		checkout.AttemptSucceeded, checkout.AttemptFailed, checkout.AttemptCanceled, checkout.AttemptExpired} {
		attempts["pi_"+string(s)] = checkout.Attempt{PaymentOrder: "P00000001", Amount: eur(1000), Status: s}
	}
	cases := []struct {
		ref    string
		gross  paygate.Money
		want   Status
		detail string // a piece of the detail; "" for none at all
	}{
		{"pi_succeeded", eur(1000), Matched, ""},
		{"pi_succeeded", eur(999), AmountMismatch, "the provider settled 9.99 EUR, paygate 10.00 EUR"},
		{"pi_succeeded", eur(1001), AmountMismatch, "P00000001"},
		{"pi_succeeded", paygate.New(1000, "USD"), AmountMismatch, "10.00 USD"},
		{"", eur(1000), MissingInLedger, "without a payment reference"},
		{"pi_unknown", eur(1000), MissingInLedger, "no payment of paygate's"},
		{"pi_creating", eur(1000), MissingInLedger, "holds the attempt as creating"},
		{"pi_pending", eur(1000), MissingInLedger, `settle-payment {"provider":"stripe","payment_ref":"pi_pending"}`},
		{"pi_processing", eur(1000), MissingInLedger, "as processing"},
		{"pi_failed", eur(1000), MissingInLedger, "as failed"},
		{"pi_canceled", eur(1000), MissingInLedger, "as canceled"},
		{"pi_expired", eur(999), MissingInLedger, "as expired"}, // unsettled first: its amount is not paygate's to compare
	}
	for _, c := range cases {
		got, detail := charge("stripe", providers.ReportLine{ID: "txn_1", PaymentRef: c.ref, Category: providers.ReportCharge, Gross: c.gross}, attempts)
		what := fmt.Sprintf("a charge of %s for %q", c.gross, c.ref)
		if got != c.want {
			t.Errorf("%s: %s (%s), want %s", what, got, detail, c.want)
		}
		switch {
		case c.detail == "" && detail != "":
			t.Errorf("%s: detail %q, want none", what, detail)
		case !strings.Contains(detail, c.detail):
			t.Errorf("%s: detail %q, want it to say %q", what, detail, c.detail)
		}
	}
}

// TestFeeOf reads the fee a line carries: its fee column, or, for a fee
// line without one, the line itself (its net, negative, is the fee).
func TestFeeOf(t *testing.T) {
	eur := func(minor int64) paygate.Money { return paygate.New(minor, "EUR") }
	cases := []struct {
		category   string
		gross, fee paygate.Money
		net, want  paygate.Money
	}{
		{category: providers.ReportCharge, gross: eur(1000), fee: eur(59), net: eur(941), want: eur(59)},
		{category: providers.ReportCharge, gross: eur(1000), net: eur(1000)},
		{category: providers.ReportRefund, gross: eur(-500), fee: eur(-15), net: eur(-485), want: eur(-15)},
		{category: providers.ReportFee, gross: eur(-200), net: eur(-200), want: eur(200)},
		{category: providers.ReportFee, gross: eur(50), net: eur(50), want: eur(-50)}, // a fee given back
		{category: providers.ReportFee, gross: eur(0), fee: eur(30), net: eur(-30), want: eur(30)},
		{category: providers.ReportPayout, gross: eur(-10000), net: eur(-10000)},
	}
	for _, c := range cases {
		got := feeOf(providers.ReportLine{Category: c.category, Gross: c.gross, Fee: c.fee, Net: c.net})
		if got != c.want {
			t.Errorf("a %s line (gross %s, fee %s, net %s): fee %s, want %s", c.category, c.gross, c.fee, c.net, got, c.want)
		}
	}
}

// TestClaimFees claims lines' fees on both backends: a line's fee is
// claimed once, in one call or many (a report imported again, a line
// listed twice), and what is claimed becomes one transaction per currency
// and direction, charged fees to platform:provider_fees and fees given
// back from it.
func TestClaimFees(t *testing.T) {
	eur := func(minor int64) paygate.Money { return paygate.New(minor, "EUR") }
	usd := func(minor int64) paygate.Money { return paygate.New(minor, "USD") }
	opts := storage.Options{Migrations: []storage.Migrations{events.Migrations(), ledger.Migrations(), finance.Migrations(), Migrations()}}
	// posting is what the test expects of one transaction: its direction,
	// and what it moves.
	type posting struct {
		suffix string
		amount paygate.Money
	}
	steps := []struct {
		fees    []feeLine
		claimed int
		want    []posting
	}{
		{nil, 0, nil},
		{[]feeLine{{"txn_1", eur(59)}, {"txn_2", eur(41)}, {"txn_3", eur(-10)}, {"txn_4", usd(30)}, {"txn_1", eur(59)}}, 4,
			[]posting{{":charged", eur(100)}, {":returned", eur(10)}, {":charged", usd(30)}}},
		{[]feeLine{{"txn_1", eur(59)}, {"txn_4", usd(30)}}, 0, nil},
		{[]feeLine{{"txn_2", eur(41)}, {"txn_5", eur(7)}}, 1, []posting{{":charged", eur(7)}}},
	}
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		for i, s := range steps {
			err := db.Update(ctx, func(tx *storage.Tx) error {
				ts, n, err := claimFees(ctx, tx, "stripe", s.fees)
				if err != nil {
					return err
				}
				if n != s.claimed {
					t.Errorf("step %d: %d lines claimed, want %d", i, n, s.claimed)
				}
				if len(ts) != len(s.want) {
					t.Fatalf("step %d: %d transactions, want %d: %+v", i, len(ts), len(s.want), ts)
				}
				for j, w := range s.want {
					tr := ts[j]
					debit, credit := ledger.PlatformProviderFees, ledger.ProviderClearing("stripe")
					if w.suffix == ":returned" {
						debit, credit = credit, debit
					}
					if !strings.HasPrefix(tr.Key, "recon:stripe:fees:") || !strings.HasSuffix(tr.Key, w.suffix) {
						t.Errorf("step %d: transaction %d is %q, want a stripe fee key ending %s", i, j, tr.Key, w.suffix)
					}
					if len(tr.Entries) != 2 || tr.Entries[0].Account != debit || tr.Entries[1].Account != credit ||
						tr.Entries[0].Amount != w.amount || tr.Entries[1].Amount != w.amount {
						t.Errorf("step %d: transaction %d moves %+v, want %s from %s to %s", i, j, tr.Entries, w.amount, credit, debit)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
