package simkit

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

// ReportOptions say what a simulator's settlement report writes. The zero
// value is every balance change the simulator keeps (the latest
// Limits.ReportLines), with the default fees and no payout.
type ReportOptions struct {
	// From and To bound the report to the balance changes created in
	// [From, To); a zero From or To leaves that side open.
	From, To time.Time
	// FeeBasisPoints is each charge's percentage fee, in hundredths of a
	// percent of its gross (rounded half up to the minor unit); the
	// simulator's fixed fee per charge is added. Zero is the simulator's
	// default; a negative value charges no fee at all, not even the fixed
	// one.
	FeeBasisPoints int64
	// Payout adds, after the other lines, one payout line per currency
	// whose lines' nets do not sum to zero, moving that sum to the bank:
	// its gross and net are minus the sum of the nets of every line
	// written (Extra lines included, Omit-ted ones not), its fee is zero.
	Payout bool
	// Omit lists payments (by the provider's id) whose lines the report
	// leaves out, charge and refunds alike, as if it had lost them.
	Omit []string
	// Extra lines are written after the simulator's own (and before the
	// payouts), for payments it never made or with other amounts: the
	// discrepancies a reconciliation must find. They are not bound by
	// From and To.
	Extra []ExtraLine
}

// ExtraLine is a line of a settlement report written as given
// (ReportOptions.Extra). Its net is Gross - Fee.
type ExtraLine struct {
	// ID is the balance transaction's id; empty is an id derived from the
	// line's other fields and its place in Extra, the same on every call.
	ID string
	// Created is when the balance changed; zero is the report's end: To,
	// or when To is zero the time of the simulator's latest line (now if
	// it wrote none).
	Created time.Time
	// Category is the line's type; empty is the report format's
	// ExtraCategory (a charge).
	Category string
	// PaymentRef, PaymentOrder and Attempt fill the payment's id and
	// paygate's metadata; all may be empty.
	PaymentRef, PaymentOrder, Attempt string
	// Gross is the line's amount and currency, signed as the balance
	// moved (a refund is negative); its currency must be one paygate
	// supports.
	Gross paygate.Money
	// Fee is in Gross's currency; the zero Money is no fee.
	Fee paygate.Money
}

// Covers reports whether a balance change of payment at t belongs in the
// report: inside [From, To) and not omitted.
func (o ReportOptions) Covers(t time.Time, payment string) bool {
	return (o.From.IsZero() || !t.Before(o.From)) && (o.To.IsZero() || t.Before(o.To)) && !slices.Contains(o.Omit, payment)
}

// Fee is the fee of a charge of gross minor units: o.FeeBasisPoints (def
// when zero), rounded half up, plus fixed; none for negative basis points.
func (o ReportOptions) Fee(gross, def, fixed int64) int64 {
	bps := cmp.Or(o.FeeBasisPoints, def)
	if bps < 0 {
		return 0
	}
	return (gross*bps+5000)/10000 + fixed
}

// ReportLine is one line of a settlement report, in minor units.
type ReportLine struct {
	ID       string
	Created  time.Time
	Rank     int // orders lines of the same second: the simulator's kinds, then extra lines (3), then payouts (4)
	Category string
	Gross    int64
	Fee      int64
	Currency paygate.Currency
	// Payment, Order and Attempt are the provider's payment id and
	// paygate's payment order and attempt.
	Payment, Order, Attempt string
}

// Ranks of the lines the report adds to a simulator's own.
const (
	rankExtra  = 3
	rankPayout = 4
)

// ReportFormat is what differs between the providers' reports.
type ReportFormat struct {
	Name           string   // the simulator, in error messages: "stripesim"
	IDPrefix       string   // of derived ids: "txn_"
	ExtraCategory  string   // the category of an Extra line without one
	PayoutCategory string   // the category of a payout line
	Header         []string // the CSV header
	Row            func(l ReportLine) []string
	Filename       string // of the served report: "stripe-settlement.csv"
}

// Write writes to w, as CSV in format f, the simulator's own lines (those
// opts covers, collected by the simulator) ordered by time, rank, then id,
// then opts.Extra, then the payouts if opts.Payout. now is the report's
// end when To is zero and there are no lines. The same lines and options
// write the same bytes.
//
// An Extra line with an unsupported currency, or a fee of another
// currency, is an EINVALID error and nothing is written. Otherwise it
// returns w's error.
func (f ReportFormat) Write(w io.Writer, opts ReportOptions, lines []ReportLine, now time.Time) error {
	for i, x := range opts.Extra {
		if !x.Gross.Currency.Valid() {
			return paygate.Errorf(paygate.EINVALID, "%s: report extra line %d: unsupported currency %q", f.Name, i+1, x.Gross.Currency)
		}
		if x.Fee.Currency != "" && x.Fee.Currency != x.Gross.Currency {
			return paygate.Errorf(paygate.EINVALID, "%s: report extra line %d: fee in %s, gross in %s", f.Name, i+1, x.Fee.Currency, x.Gross.Currency)
		}
	}
	slices.SortFunc(lines, func(a, b ReportLine) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Rank, b.Rank), strings.Compare(a.ID, b.ID))
	})
	end := opts.To
	if end.IsZero() {
		end = now
		if len(lines) > 0 {
			end = lines[len(lines)-1].Created
		}
	}
	for i, x := range opts.Extra {
		l := ReportLine{
			ID: x.ID, Created: x.Created, Rank: rankExtra, Category: cmp.Or(x.Category, f.ExtraCategory),
			Gross: x.Gross.Minor, Fee: x.Fee.Minor, Currency: x.Gross.Currency,
			Payment: x.PaymentRef, Order: x.PaymentOrder, Attempt: x.Attempt,
		}
		if l.Created.IsZero() {
			l.Created = end
		}
		if l.ID == "" {
			l.ID = f.DerivedID("extra", strconv.Itoa(i), l.Category, l.Payment, strconv.FormatInt(l.Gross, 10),
				strconv.FormatInt(l.Fee, 10), string(l.Currency), strconv.FormatInt(l.Created.Unix(), 10))
		}
		lines = append(lines, l)
	}
	if opts.Payout {
		lines = append(lines, f.payouts(lines, end)...)
	}

	cw := csv.NewWriter(w)
	_ = cw.Write(f.Header)
	for _, l := range lines {
		_ = cw.Write(f.Row(l))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s: write report: %w", f.Name, err)
	}
	return nil
}

// payouts returns one payout line per currency of lines whose nets do not
// sum to zero, dated at, in the order of paygate.Currencies.
func (f ReportFormat) payouts(lines []ReportLine, at time.Time) []ReportLine {
	net := map[paygate.Currency]int64{}
	ids := map[paygate.Currency][]string{}
	for _, l := range lines {
		net[l.Currency] += l.Gross - l.Fee
		ids[l.Currency] = append(ids[l.Currency], l.ID)
	}
	var out []ReportLine
	for _, c := range paygate.Currencies() {
		if net[c] == 0 {
			continue
		}
		out = append(out, ReportLine{
			ID: f.DerivedID("payout", append(ids[c], string(c))...), Created: at, Rank: rankPayout,
			Category: f.PayoutCategory, Gross: -net[c], Currency: c,
		})
	}
	return out
}

// DerivedID is a balance transaction id that depends only on parts, so the
// same report has the same ids each time it is written.
func (f ReportFormat) DerivedID(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + strings.Join(parts, "\x00")))
	return f.IDPrefix + hex.EncodeToString(h[:12])
}

// Serve serves GET /reports/settlement.csv: write's report with the
// default fees and payouts, bounded by the query's from and to (RFC 3339,
// both optional); payout=false leaves the payouts out. It is sandbox data
// and needs no credentials.
func (f ReportFormat) Serve(w http.ResponseWriter, r *http.Request, write func(io.Writer, ReportOptions) error) {
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
			http.Error(w, f.Name+": "+p.name+" must be an RFC 3339 time, such as 2024-03-01T00:00:00Z", http.StatusBadRequest)
			return
		}
		*p.t = t
	}
	if v := q.Get("payout"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			http.Error(w, f.Name+": payout must be true or false", http.StatusBadRequest)
			return
		}
		opts.Payout = b
	}
	var b strings.Builder
	if err := write(&b, opts); err != nil {
		http.Error(w, f.Name+": "+paygate.ErrorMessage(err), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+f.Filename+`"`)
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, b.String())
}
