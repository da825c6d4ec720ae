package stripesim

import (
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
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
	}
	return 0
}

// reportHeader is the header of the report: the columns
// stripe.ReportColumns names, in the order of Stripe's itemized balance
// change report.
var reportHeader = []string{"balance_transaction_id", "created_utc", "reporting_category", "gross", "fee", "net",
	"currency", "payment_intent_id", "payment_metadata[payment_order]", "payment_metadata[attempt]"}

// reportTime is the layout of created_utc.
const reportTime = "2006-01-02 15:04:05"

// ReportOptions says what SettlementReport writes. The zero value is every
// balance change the simulator keeps (the latest Limits.ReportLines), with
// the default fees and no payout.
type ReportOptions struct {
	// From and To bound the report to the balance changes created in
	// [From, To); a zero From or To leaves that side open.
	From, To time.Time
	// FeeBasisPoints is each charge's percentage fee, in hundredths of a
	// percent of its gross (rounded half up to the minor unit); a fixed
	// fee per charge is added (0.25 EUR, 0.50 SGD, 1.00 BRL). Zero is
	// DefaultFeeBasisPoints; a negative value charges no fee at all, not
	// even the fixed one.
	FeeBasisPoints int64
	// Payout adds, after the other lines, one payout line per currency
	// whose lines' nets do not sum to zero, moving that sum to the bank:
	// its gross and net are minus the sum of the nets of every line
	// written (Extra lines included, Omit-ted ones not), its fee is zero.
	Payout bool
	// Omit lists payment intents ("pi_…") whose lines the report leaves
	// out, charge and refunds alike, as if it had lost them.
	Omit []string
	// Extra lines are written after the simulator's own (and before the
	// payouts), for payments it never made or with other amounts: the
	// discrepancies a reconciliation must find. They are not bound by
	// From and To.
	Extra []ExtraLine
}

// ExtraLine is a line of a settlement report that SettlementReport writes
// as given (ReportOptions.Extra). Its net is Gross - Fee.
type ExtraLine struct {
	// ID is the balance transaction ("txn_…"); empty is an id derived from
	// the line's other fields and its place in Extra, the same on every
	// call.
	ID string
	// Created is when the balance changed; zero is the report's end: To,
	// or when To is zero the time of the simulator's latest line (now if
	// it wrote none).
	Created time.Time
	// Category is the reporting_category; empty is "charge".
	Category string
	// PaymentRef, PaymentOrder and Attempt fill payment_intent_id and the
	// payment's metadata; all may be empty.
	PaymentRef, PaymentOrder, Attempt string
	// Gross is the line's amount and currency, signed as the balance
	// moved (a refund is negative). Its currency must be one paygate
	// supports.
	Gross paygate.Money
	// Fee is in Gross's currency; the zero Money is no fee.
	Fee paygate.Money
}

// reportLine is one line of the report, in minor units.
type reportLine struct {
	id                      string
	created                 time.Time
	rank                    int // orders lines of the same second: charges, refunds, failures
	category                string
	gross, fee              int64
	currency                paygate.Currency
	payment, order, attempt string
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
	for i, x := range opts.Extra {
		if !x.Gross.Currency.Valid() {
			return paygate.Errorf(paygate.EINVALID, "stripesim: report extra line %d: unsupported currency %q", i+1, x.Gross.Currency)
		}
		if x.Fee.Currency != "" && x.Fee.Currency != x.Gross.Currency {
			return paygate.Errorf(paygate.EINVALID, "stripesim: report extra line %d: fee in %s, gross in %s", i+1, x.Fee.Currency, x.Gross.Currency)
		}
	}
	lines := s.reportLines(opts)
	slices.SortFunc(lines, func(a, b reportLine) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.rank, b.rank), strings.Compare(a.id, b.id))
	})
	end := opts.To
	if end.IsZero() {
		end = s.now()
		if len(lines) > 0 {
			end = lines[len(lines)-1].created
		}
	}
	for i, x := range opts.Extra {
		l := reportLine{
			id: x.ID, created: x.Created, rank: 3, category: cmp.Or(x.Category, "charge"),
			gross: x.Gross.Minor, fee: x.Fee.Minor, currency: x.Gross.Currency,
			payment: x.PaymentRef, order: x.PaymentOrder, attempt: x.Attempt,
		}
		if l.created.IsZero() {
			l.created = end
		}
		if l.id == "" {
			l.id = derivedID("extra", strconv.Itoa(i), l.category, l.payment, strconv.FormatInt(l.gross, 10),
				strconv.FormatInt(l.fee, 10), string(l.currency), strconv.FormatInt(l.created.Unix(), 10))
		}
		lines = append(lines, l)
	}
	if opts.Payout {
		lines = append(lines, payouts(lines, end)...)
	}

	cw := csv.NewWriter(w)
	_ = cw.Write(reportHeader)
	for _, l := range lines {
		_ = cw.Write([]string{
			l.id, l.created.UTC().Format(reportTime), l.category,
			paygate.New(l.gross, l.currency).Amount(), paygate.New(l.fee, l.currency).Amount(),
			paygate.New(l.gross-l.fee, l.currency).Amount(),
			strings.ToLower(string(l.currency)), l.payment, l.order, l.attempt,
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("stripesim: write report: %w", err)
	}
	return nil
}

// reportLines collects the charge and refund lines of opts' window.
func (s *Simulator) reportLines(opts ReportOptions) []reportLine {
	in := func(t time.Time) bool {
		return (opts.From.IsZero() || !t.Before(opts.From)) && (opts.To.IsZero() || t.Before(opts.To))
	}
	bps := opts.FeeBasisPoints
	if bps == 0 {
		bps = DefaultFeeBasisPoints
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []reportLine
	for txn, c := range s.ledger.All() {
		created := time.Unix(c.created, 0).UTC()
		if !in(created) || slices.Contains(opts.Omit, c.payment) {
			continue
		}
		l := reportLine{
			id: txn, created: created, rank: int(c.kind), gross: c.gross, currency: c.currency,
			payment: c.payment, order: c.order, attempt: c.attempt,
		}
		switch c.kind {
		case balanceCharge:
			l.category, l.fee = "charge", fee(c.gross, c.currency, bps)
		case balanceRefund:
			l.category = "refund"
		case balanceRefundFailure:
			l.category = "refund_failure"
		}
		lines = append(lines, l)
	}
	return lines
}

// fee is the fee of a charge of gross minor units: bps basis points,
// rounded half up, plus the currency's fixed fee; none for bps < 0.
func fee(gross int64, c paygate.Currency, bps int64) int64 {
	if bps < 0 {
		return 0
	}
	return (gross*bps+5000)/10000 + fixedFee(c)
}

// payouts returns one payout line per currency of lines whose nets do not
// sum to zero, dated at, in the order of paygate.Currencies.
func payouts(lines []reportLine, at time.Time) []reportLine {
	net := map[paygate.Currency]int64{}
	ids := map[paygate.Currency][]string{}
	for _, l := range lines {
		net[l.currency] += l.gross - l.fee
		ids[l.currency] = append(ids[l.currency], l.id)
	}
	var out []reportLine
	for _, c := range paygate.Currencies() {
		if net[c] == 0 {
			continue
		}
		out = append(out, reportLine{
			id: derivedID("payout", append(ids[c], string(c))...), created: at, rank: 4, category: "payout",
			gross: -net[c], currency: c,
		})
	}
	return out
}

// derivedID is a balance transaction id that depends only on parts, so the
// same report has the same ids each time it is written.
func derivedID(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + strings.Join(parts, "\x00")))
	return "txn_" + hex.EncodeToString(h[:12])
}

// serveReport serves GET /reports/settlement.csv: SettlementReport with
// the default fees and payouts, bounded by the query's from and to (RFC
// 3339, both optional); payout=false leaves the payouts out. It is sandbox
// data and needs no API key.
func (s *Simulator) serveReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := ReportOptions{Payout: true}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &opts.From}, {"to", &opts.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "stripesim: "+p.name+" must be an RFC 3339 time, such as 2024-03-01T00:00:00Z", http.StatusBadRequest)
			return
		}
		*p.t = t
	}
	if v := q.Get("payout"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			http.Error(w, "stripesim: payout must be true or false", http.StatusBadRequest)
			return
		}
		opts.Payout = b
	}
	var b strings.Builder
	if err := s.SettlementReport(&b, opts); err != nil {
		http.Error(w, "stripesim: "+paygate.ErrorMessage(err), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="stripe-settlement.csv"`)
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, b.String())
}
