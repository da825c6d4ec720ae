package stripesim

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// DefaultFeeBasisPoints is the percentage fee of ReportOptions when
// FeeBasisPoints is zero: 150 basis points, 1.5 %.
const DefaultFeeBasisPoints = 150

// fixedFee is the fixed fee per charge of the sandbox, in minor units of
// each currency, added to the percentage fee. Stripe's real prices differ
// per method and account; these are made up.
func fixedFee(c paygate.Currency) int64 {
	switch c {
	case paygate.EUR:
		return 25 // 0.25 EUR
	case paygate.SGD:
		return 50 // 0.50 SGD
	case paygate.BRL:
		return 100 // 1.00 BRL
	case paygate.KRW:
		return 300 // 300 KRW (zero-decimal)
	}
	return 0
}

// ReportOptions say what SettlementReport writes (simkit.ReportOptions).
// Omit lists payment intents ("pi_…"); the fixed fee per charge is 0.25
// EUR, 0.50 SGD, 1.00 BRL or 300 KRW.
type ReportOptions = simkit.ReportOptions

// ExtraLine is a line SettlementReport writes as given
// (simkit.ExtraLine): its ID is a balance transaction ("txn_…"), its
// Category a reporting_category (empty is "charge"), and PaymentRef,
// PaymentOrder and Attempt fill payment_intent_id and the payment's
// metadata.
type ExtraLine = simkit.ExtraLine

// reportTime is the layout of created_utc.
const reportTime = "2006-01-02 15:04:05"

// report is the format of Stripe's itemized balance change report: the
// columns stripe.ReportColumns names, in Stripe's order.
var report = simkit.ReportFormat{
	Name: "stripesim", IDPrefix: "txn_", ExtraCategory: "charge", PayoutCategory: "payout",
	Header: []string{"balance_transaction_id", "created_utc", "reporting_category", "gross", "fee", "net",
		"currency", "payment_intent_id", "payment_metadata[payment_order]", "payment_metadata[attempt]"},
	Row: func(l simkit.ReportLine) []string {
		return []string{
			l.ID, l.Created.UTC().Format(reportTime), l.Category,
			paygate.New(l.Gross, l.Currency).Amount(), paygate.New(l.Fee, l.Currency).Amount(),
			paygate.New(l.Gross-l.Fee, l.Currency).Amount(),
			strings.ToLower(string(l.Currency)), l.Payment, l.Order, l.Attempt,
		}
	},
	Filename: "stripe-settlement.csv",
}

// SettlementReport writes to w, as CSV, the itemized balance change report
// of what the simulator settled, in exactly the format
// stripe.Client.ParseSettlementReport reads (stripe.ReportColumns): one
// charge line per succeeded PaymentIntent (gross its amount, fee as
// opts says, net = gross - fee), one refund line per refund (negative
// gross, no fee), and for a refund that failed a refund_failure line that
// gives the money back; then opts.Extra, then the payouts if opts.Payout.
// It covers the latest Limits.ReportLines balance changes, of intents
// forgotten or not. Amounts are in major units, times in UTC ("2006-01-02
// 15:04:05"), currencies in lower case as Stripe writes them. Lines are
// ordered by time, then id; the same state and options write the same
// bytes.
//
// An Extra line with an unsupported currency, or a fee of another
// currency, is an EINVALID error and nothing is written. Otherwise it
// returns w's error. It is safe to call concurrently with everything else.
func (s *Simulator) SettlementReport(w io.Writer, opts ReportOptions) error {
	return report.Write(w, opts, s.reportLines(opts), s.now())
}

// reportLines collects the charge and refund lines opts covers.
func (s *Simulator) reportLines(opts ReportOptions) []simkit.ReportLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []simkit.ReportLine
	for txn, c := range s.ledger.All() {
		created := time.Unix(c.created, 0).UTC()
		if !opts.Covers(created, c.payment) {
			continue
		}
		l := simkit.ReportLine{
			ID: txn, Created: created, Rank: int(c.kind), Gross: c.gross, Currency: c.currency,
			Payment: c.payment, Order: c.order, Attempt: c.attempt,
		}
		switch c.kind {
		case balanceCharge:
			l.Category, l.Fee = "charge", opts.Fee(c.gross, DefaultFeeBasisPoints, fixedFee(c.currency))
		case balanceRefund:
			l.Category = "refund"
		case balanceRefundFailure:
			l.Category = "refund_failure"
		}
		lines = append(lines, l)
	}
	return lines
}

// serveReport serves GET /reports/settlement.csv (simkit.ReportFormat.Serve).
func (s *Simulator) serveReport(w http.ResponseWriter, r *http.Request) {
	report.Serve(w, r, s.SettlementReport)
}
