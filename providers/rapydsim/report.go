package rapydsim

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
)

// DefaultFeeBasisPoints is the percentage fee of ReportOptions when
// FeeBasisPoints is zero: 150 basis points, 1.5 %.
const DefaultFeeBasisPoints = 150

// fixedFee is the fixed fee per charge of the sandbox, in minor units of
// each currency, added to the percentage fee. Rapyd's real prices differ
// per method and contract; these are made up.
func fixedFee(c paygate.Currency) int64 {
	switch c {
	case paygate.KRW:
		return 100 // 100 won
	case paygate.EUR, paygate.SGD:
		return 25 // 0.25
	case paygate.BRL:
		return 50 // 0.50
	}
	return 0
}

// ReportOptions say what SettlementReport writes (simkit.ReportOptions).
// Omit lists payments ("payment_…"); the fixed fee is 100 won, 0.25 EUR or
// SGD and 0.50 BRL per charge.
type ReportOptions = simkit.ReportOptions

// ExtraLine is a line SettlementReport writes as given
// (simkit.ExtraLine): its ID is a transaction id ("tx_…"), its Category a
// transaction_type (empty is "PAYMENT"), and PaymentRef, PaymentOrder and
// Attempt fill payment_id, metadata_payment_order and
// merchant_reference_id.
type ExtraLine = simkit.ExtraLine

// reportTime is the layout of created_at.
const reportTime = "2006-01-02 15:04:05"

// report is the format of Rapyd's daily reconciliation report: the columns
// of rapyd.DefaultReportColumns (whose names are invented: Rapyd does not
// publish its report's columns).
var report = simkit.ReportFormat{
	Name: "rapydsim", IDPrefix: "tx_", ExtraCategory: "PAYMENT", PayoutCategory: "PAYOUT",
	Header: []string{"transaction_id", "created_at", "transaction_type", "payment_id", "merchant_reference_id",
		"metadata_payment_order", "gross_amount", "fee_amount", "net_amount", "currency"},
	Row: func(l simkit.ReportLine) []string {
		return []string{
			l.ID, l.Created.UTC().Format(reportTime), l.Category, l.Payment, l.Attempt, l.Order,
			paygate.New(l.Gross, l.Currency).Amount(), paygate.New(l.Fee, l.Currency).Amount(),
			paygate.New(l.Gross-l.Fee, l.Currency).Amount(), string(l.Currency),
		}
	},
	Filename: "rapyd-settlement.csv",
}

// SettlementReport writes to w, as CSV, the daily reconciliation report of
// what the simulator settled, in exactly the format
// rapyd.Client.ParseSettlementReport reads with rapyd.DefaultReportColumns:
// one PAYMENT line per closed (CLO) payment, dated when it was paid (gross
// its amount, fee as opts says, net = gross - fee), one REFUND line per
// completed refund (negative gross, no fee; a rejected refund moved no
// money and has none); then opts.Extra, then the PAYOUT lines if
// opts.Payout. It covers the latest Limits.ReportLines balance changes, of
// payments forgotten or not. Amounts are in major units of each line's
// currency (KRW: whole won; EUR, SGD and BRL: two decimals),
// times in UTC ("2006-01-02 15:04:05"). Lines are ordered by time, then
// id; the same state and options write the same bytes.
//
// An Extra line with an unsupported currency, or a fee of another
// currency, is an EINVALID error and nothing is written. Otherwise it
// returns w's error. It is safe to call concurrently with everything else.
func (s *Simulator) SettlementReport(w io.Writer, opts ReportOptions) error {
	return report.Write(w, opts, s.reportLines(opts), s.now())
}

// reportLines collects the payment and refund lines opts covers.
func (s *Simulator) reportLines(opts ReportOptions) []simkit.ReportLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []simkit.ReportLine
	for id, c := range s.ledger.All() {
		created := time.Unix(0, c.created)
		if !opts.Covers(created, c.payment) {
			continue
		}
		l := simkit.ReportLine{
			ID: id, Created: created.UTC().Truncate(time.Second), Rank: int(c.kind), Gross: c.gross, Currency: c.currency,
			Payment: c.payment, Order: c.order, Attempt: c.attempt,
		}
		switch c.kind {
		case balancePayment:
			l.Category, l.Fee = "PAYMENT", opts.Fee(c.gross, DefaultFeeBasisPoints, fixedFee(c.currency))
		case balanceRefund:
			l.Category = "REFUND"
		}
		lines = append(lines, l)
	}
	return lines
}

// paymentOrder reads paygate's P-number from a payment's metadata, as the
// rapyd client writes it; "" if there is none.
func paymentOrder(raw json.RawMessage) string {
	var md struct {
		PaymentOrder any `json:"payment_order"`
	}
	_ = json.Unmarshal(raw, &md)
	s, _ := md.PaymentOrder.(string)
	return s
}

// serveReport serves GET /reports/settlement.csv (simkit.ReportFormat.Serve).
func (s *Simulator) serveReport(w http.ResponseWriter, r *http.Request) {
	report.Serve(w, r, s.SettlementReport)
}
