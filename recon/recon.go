// Package recon reconciles a provider's settlement report with the ledger:
// each charge line is matched to paygate's payments by the provider's
// reference, each refund line to paygate's refunds to source (provider,
// payment, amount, currency and status; finance.MatchRefundLine);
// fees and payouts are posted (clearing → provider fees, clearing → bank),
// once however often a report is imported; and what does not match is
// listed for finance.
package recon

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// Status is how a report line compares with the ledger.
type Status string

// The statuses.
const (
	Matched           Status = "matched"             // a charge paygate settled, for the same amount
	MissingInLedger   Status = "missing_in_ledger"   // settled at the provider, not in paygate (a lost webhook?)
	MissingAtProvider Status = "missing_at_provider" // settled in paygate, absent from the report
	AmountMismatch    Status = "amount_mismatch"     // the same payment, another amount or currency
	Refund            Status = "refund"              // a refund line that is one of paygate's refunds, as paygate holds it
	RefundMismatch    Status = "refund_mismatch"     // a refund line paygate did not make, or that disagrees with its refund
	Fee               Status = "fee"                 // a fee line (posted)
	Payout            Status = "payout"              // a payout to the bank (posted)
	Other             Status = "other"               // disputes, adjustments, unknown categories
	Invalid           Status = "invalid"             // a line that could not be read
)

// Line is one report line and what reconciliation made of it.
type Line struct {
	providers.ReportLine
	Status Status
	Detail string
}

// Total sums lines of one status and currency.
type Total struct {
	Status   Status
	Currency paygate.Currency
	Lines    int
	Gross    paygate.Money
	Fee      paygate.Money
	Net      paygate.Money
}

// Report is the outcome of one reconciliation.
type Report struct {
	Provider  string
	Lines     int
	Totals    []Total
	Unmatched []Line // every line that is not matched (and not a posted fee or payout)
	Posted    int    // lines whose fee or payout this run posted to the ledger; 0 on a re-import
}

// Reconciler reconciles reports.
type Reconciler struct {
	DB        *storage.DB
	Ledger    *ledger.Ledger
	Checkout  *checkout.Service
	Providers map[string]providers.Provider
	Logger    zerolog.Logger
	// AnchorKey, if set, signs the journal's anchor that a saved run
	// records (PAYGATE_ANCHOR_KEY_FILE).
	AnchorKey ed25519.PrivateKey
}

const chunk = 500 // lines per database transaction

// Run reconciles one report of a provider, streaming it: lines are matched
// and their fees and payouts posted chunk by chunk, so memory does not grow
// with the report (beyond the set of payment references seen, to find the
// payments missing from it).
func (r *Reconciler) Run(ctx context.Context, provider string, report io.Reader) (Report, error) {
	prov := r.Providers[provider]
	if prov == nil {
		return Report{}, paygate.Errorf(paygate.EINVALID, "unknown provider %q", provider)
	}
	tl := newTally(provider)
	seen := map[string]bool{} // the charges' payment references: the one thing Run holds per line
	var first, last time.Time
	var pending []providers.ReportLine
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		lines, posted, err := r.match(ctx, provider, pending)
		if err != nil {
			return err
		}
		tl.rep.Posted += posted
		for _, l := range lines {
			tl.add(l)
		}
		pending = pending[:0]
		return nil
	}
	err := prov.ParseSettlementReport(ctx, report, func(rl providers.ReportLine) error {
		if rl.Err != nil {
			tl.add(Line{ReportLine: rl, Status: Invalid, Detail: paygate.ErrorMessage(rl.Err)})
			return nil
		}
		if rl.PaymentRef != "" && rl.Category == providers.ReportCharge {
			seen[rl.PaymentRef] = true
		}
		if !rl.CreatedAt.IsZero() && (first.IsZero() || rl.CreatedAt.Before(first)) {
			first = rl.CreatedAt
		}
		if rl.CreatedAt.After(last) {
			last = rl.CreatedAt
		}
		pending = append(pending, rl)
		if len(pending) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return Report{}, err
	}
	if !first.IsZero() {
		missing, err := r.missingFromReport(ctx, provider, seen, first, last)
		if err != nil {
			return Report{}, err
		}
		for _, l := range missing {
			tl.add(l)
		}
	}
	return tl.report(), nil
}

// tally gathers the lines of a run into its report: their count, their
// totals by status and currency, and the lines left unmatched.
type tally struct {
	rep    Report
	totals map[[2]string]*Total
}

// newTally returns an empty tally of a run of provider's report.
func newTally(provider string) *tally {
	return &tally{rep: Report{Provider: provider}, totals: map[[2]string]*Total{}}
}

// add counts line l.
func (tl *tally) add(l Line) {
	tl.rep.Lines++
	k := [2]string{string(l.Status), string(l.Gross.Currency)}
	t := tl.totals[k]
	if t == nil {
		c := l.Gross.Currency
		t = &Total{Status: l.Status, Currency: c, Gross: paygate.New(0, c), Fee: paygate.New(0, c), Net: paygate.New(0, c)}
		tl.totals[k] = t
	}
	t.Lines++
	t.Gross.Minor += l.Gross.Minor
	t.Fee.Minor += l.Fee.Minor
	t.Net.Minor += l.Net.Minor
	switch l.Status {
	case Matched, Fee, Payout, Refund:
	default:
		tl.rep.Unmatched = append(tl.rep.Unmatched, l)
	}
}

// report returns the report of the lines added, its totals ordered by
// currency, then status.
func (tl *tally) report() Report {
	rep := tl.rep
	for _, t := range tl.totals {
		rep.Totals = append(rep.Totals, *t)
	}
	sort.Slice(rep.Totals, func(i, j int) bool {
		if rep.Totals[i].Currency != rep.Totals[j].Currency {
			return rep.Totals[i].Currency < rep.Totals[j].Currency
		}
		return rep.Totals[i].Status < rep.Totals[j].Status
	})
	return rep
}

// missingFromReport returns, ordered by payment reference, a
// MissingAtProvider line for each payment through provider settled in
// paygate within the report's period whose reference is not in seen. The
// period is the whole UTC days the report's lines fall on, first to last:
// a report's times have second precision and come from the provider's
// clock, and paygate hears of a payment a little after it settles.
func (r *Reconciler) missingFromReport(ctx context.Context, provider string, seen map[string]bool, first, last time.Time) ([]Line, error) {
	from, to := first.UTC().Truncate(24*time.Hour), last.UTC().Truncate(24*time.Hour).Add(24*time.Hour-time.Microsecond)
	var missing []Line
	err := r.DB.View(ctx, func(tx *storage.Tx) error {
		return r.Checkout.EachSucceededBetween(ctx, tx, provider, from, to, func(ref string, m paygate.Money) error {
			if !seen[ref] {
				missing = append(missing, Line{ReportLine: providers.ReportLine{PaymentRef: ref, Category: providers.ReportCharge,
					Gross: m, Fee: paygate.New(0, m.Currency), Net: m}, Status: MissingAtProvider,
					Detail: "settled in paygate but not in the provider's report for this period"})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].PaymentRef < missing[j].PaymentRef })
	return missing, nil
}

// match classifies a chunk of lines and posts their fees and payouts, in
// one transaction. Postings are keyed by the provider's line id, so a report
// imported twice posts once.
func (r *Reconciler) match(ctx context.Context, provider string, chunk []providers.ReportLine) ([]Line, int, error) {
	var out []Line
	posted := 0
	err := r.DB.Update(ctx, func(tx *storage.Tx) error {
		var refs []string
		for _, rl := range chunk {
			if rl.Category == providers.ReportCharge && rl.PaymentRef != "" {
				refs = append(refs, rl.PaymentRef)
			}
		}
		attempts, err := r.Checkout.AttemptsByRefs(ctx, tx, provider, refs)
		if err != nil {
			return err
		}
		refunds, err := matchRefunds(ctx, tx, provider, chunk)
		if err != nil {
			return err
		}
		var postings []ledger.Transaction
		var fees []feeLine
		out, postings, fees = classify(provider, chunk, attempts, refunds)
		posted, err = r.postChunk(ctx, tx, provider, chunk, postings, fees)
		return err
	})
	return out, posted, err
}

// matchRefunds matches the refund lines of chunk against paygate's refunds,
// by their index in chunk: those giving money back first, so that a failed
// refund and its failure in one chunk match together.
func matchRefunds(ctx context.Context, tx *storage.Tx, provider string, chunk []providers.ReportLine) (map[int]finance.RefundLineMatch, error) {
	refunds := map[int]finance.RefundLineMatch{}
	for _, back := range []bool{true, false} {
		for i, rl := range chunk {
			if rl.Category != providers.ReportRefund || (rl.Gross.Minor > 0) != back {
				continue
			}
			m, err := finance.MatchRefundLine(ctx, tx, provider, rl)
			if err != nil {
				return nil, err
			}
			refunds[i] = m
		}
	}
	return refunds, nil
}

// classify gives each line of chunk its status, and returns the lines, the
// payout transfers to post and the fees to claim.
func classify(provider string, chunk []providers.ReportLine, attempts map[string]checkout.Attempt, refunds map[int]finance.RefundLineMatch) ([]Line, []ledger.Transaction, []feeLine) {
	clearing := ledger.ProviderClearing(provider)
	var out []Line
	var postings []ledger.Transaction
	var fees []feeLine
	for i, rl := range chunk {
		l := Line{ReportLine: rl}
		switch rl.Category {
		case providers.ReportCharge:
			l.Status, l.Detail = charge(provider, rl, attempts)
		case providers.ReportRefund:
			l.Status = Refund
			if m := refunds[i]; !m.Matched {
				l.Status, l.Detail = RefundMismatch, m.Detail
			}
		case providers.ReportFee:
			l.Status = Fee
		case providers.ReportPayout:
			l.Status = Payout
		default:
			l.Status, l.Detail = Other, "a "+rl.ProviderCategory+" line: for finance"
		}
		// The provider's fee on any line is claimed here and posted
		// below, summed per chunk and currency.
		if fee := feeOf(rl); fee.Minor != 0 {
			fees = append(fees, feeLine{id: rl.ID, fee: fee})
		}
		// A payout moves the net from the provider to the bank.
		if rl.Category == providers.ReportPayout && rl.Net.Minor != 0 {
			t := ledger.Transfer("recon:"+provider+":"+rl.ID+":payout", fmt.Sprintf("%s payout %s", provider, rl.ID),
				ledger.BankSettlement, clearing, abs(rl.Net))
			if rl.Net.Minor > 0 { // money coming back from the bank
				t = ledger.Transfer(t.Key, t.Description, clearing, ledger.BankSettlement, abs(rl.Net))
			}
			postings = append(postings, t)
		}
		out = append(out, l)
	}
	return out, postings, fees
}

// postChunk claims the fees of chunk and posts them with its payouts in
// tx, and audits what it posted. It returns the number of ledger
// transactions it created.
func (r *Reconciler) postChunk(ctx context.Context, tx *storage.Tx, provider string, chunk []providers.ReportLine, postings []ledger.Transaction, fees []feeLine) (int, error) {
	feePostings, posted, err := claimFees(ctx, tx, provider, fees)
	if err != nil {
		return 0, err
	}
	postings = append(postings, feePostings...)
	if len(postings) == 0 {
		return posted, nil
	}
	rs, err := r.Ledger.PostBatch(ctx, tx, postings)
	if err != nil {
		return 0, err
	}
	for i, res := range rs {
		if res.Err != nil {
			return 0, fmt.Errorf("recon: post %s: %w", postings[i].Key, res.Err)
		}
		if res.Status == ledger.Created && strings.HasSuffix(postings[i].Key, ":payout") {
			posted++
		}
	}
	if posted == 0 {
		return 0, nil
	}
	// What this chunk posted is audited in its own transaction: a run
	// that fails later keeps its postings, and their entry.
	return posted, finance.Audit(ctx, tx, finance.ActionReconcilePost, provider+" report", "",
		fmt.Sprintf("%d ledger transactions posted for report lines %s to %s", posted, chunk[0].ID, chunk[len(chunk)-1].ID), "")
}

// feeOf is the fee a line carries: the Fee column, or the whole line for a
// fee line (whose gross is the fee, as a negative amount).
func feeOf(rl providers.ReportLine) paygate.Money {
	if rl.Category == providers.ReportFee && rl.Fee.IsZero() {
		return paygate.New(-rl.Net.Minor, rl.Net.Currency)
	}
	return rl.Fee
}

func abs(m paygate.Money) paygate.Money {
	if m.Minor < 0 {
		return m.Neg()
	}
	return m
}

// charge matches a charge line with paygate's attempt of its payment.
func charge(provider string, rl providers.ReportLine, attempts map[string]checkout.Attempt) (Status, string) {
	if rl.PaymentRef == "" {
		return MissingInLedger, "a charge without a payment reference"
	}
	a, ok := attempts[rl.PaymentRef]
	if !ok {
		return MissingInLedger, "no payment of paygate's has this reference"
	}
	if a.Status != checkout.AttemptSucceeded {
		return MissingInLedger, fmt.Sprintf("payment order %s: paygate holds the attempt as %s (a lost webhook?); settle it with POST /v1/finance/settle-payment {\"provider\":%q,\"payment_ref\":%q}",
			a.PaymentOrder, a.Status, provider, rl.PaymentRef)
	}
	if rl.Gross != a.Amount {
		return AmountMismatch, fmt.Sprintf("payment order %s: the provider settled %s, paygate %s", a.PaymentOrder, rl.Gross, a.Amount)
	}
	return Matched, ""
}

// feeLine is a line's fee to post.
type feeLine struct {
	id  string
	fee paygate.Money
}

// claimFees records the lines whose fee is posted now — those not claimed
// before, in any report — and returns one ledger transaction per currency
// and direction for their sum, keyed by the claimed lines (a claim and its
// posting commit together). It returns how many lines it claimed.
func claimFees(ctx context.Context, tx *storage.Tx, provider string, fees []feeLine) ([]ledger.Transaction, int, error) {
	if len(fees) == 0 {
		return nil, 0, nil
	}
	args := make([]any, 0, 4*len(fees))
	for _, f := range fees {
		args = append(args, provider, f.id, f.fee.Minor, string(f.fee.Currency))
	}
	rows, err := tx.Query(ctx, `INSERT INTO recon_fees (provider, line_id, amount, currency) VALUES `+
		storage.Rows(len(fees), 4)+
		` ON CONFLICT (provider, line_id) DO NOTHING RETURNING line_id`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("recon: claim fees: %w", err)
	}
	claimed := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, 0, err
		}
		claimed[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	type sum struct {
		charged, returned int64
		ids               []string
	}
	sums := map[paygate.Currency]*sum{}
	var order []paygate.Currency
	for _, f := range fees {
		if !claimed[f.id] {
			continue
		}
		delete(claimed, f.id) // a line listed twice in one chunk counts once
		s := sums[f.fee.Currency]
		if s == nil {
			s = &sum{}
			sums[f.fee.Currency] = s
			order = append(order, f.fee.Currency)
		}
		if f.fee.Minor > 0 {
			s.charged += f.fee.Minor
		} else {
			s.returned -= f.fee.Minor
		}
		s.ids = append(s.ids, f.id)
	}
	var out []ledger.Transaction
	n := 0
	clearing := ledger.ProviderClearing(provider)
	for _, c := range order {
		s := sums[c]
		n += len(s.ids)
		h := sha256.Sum256([]byte(strings.Join(s.ids, "\n")))
		key := "recon:" + provider + ":fees:" + hex.EncodeToString(h[:12])
		desc := fmt.Sprintf("%s fees of %d report lines (%s … %s)", provider, len(s.ids), s.ids[0], s.ids[len(s.ids)-1])
		if s.charged > 0 {
			out = append(out, ledger.Transfer(key+":charged", desc, ledger.PlatformProviderFees, clearing, paygate.New(s.charged, c)))
		}
		if s.returned > 0 {
			out = append(out, ledger.Transfer(key+":returned", desc, clearing, ledger.PlatformProviderFees, paygate.New(s.returned, c)))
		}
	}
	return out, n, nil
}
