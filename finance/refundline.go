package finance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// RefundLineMatch is what MatchRefundLine made of a settlement report's
// refund line.
type RefundLineMatch struct {
	// Matched: the line is one of paygate's refunds, as paygate holds it.
	Matched bool
	// Refund is paygate's refund the line was matched (or compared) with;
	// "" when none fits it at all.
	Refund string
	// Detail says why a line does not match, for finance.
	Detail string
}

// MatchRefundLine checks a refund line of provider's settlement report
// against paygate's refunds to source, in tx, and claims the refund it
// matches for the line (source_refunds.report_line or return_line), so
// that each refund accounts for one line only: a line listed twice, in one
// report or in two, matches once, and the same report imported again
// matches the same refunds.
//
// A line that paid money out (a negative gross) matches a refund of the
// same provider, payment, amount and currency that paygate holds as
// requested, pending or succeeded (each has debited the buyer's balance to
// the provider's clearing account, so the ledger agrees), or one paygate
// holds as failed whose return line was seen (the refund and its failure
// cancel out). A failed refund without its return line is a mismatch: the
// provider paid it out, but paygate gave the buyer's balance back. A line
// that gave money back (a positive gross: Stripe's refund_failure) matches
// a refund paygate holds as failed. Any other refund line — of a payment,
// amount or currency no refund of paygate's has, a refund paygate did not
// make — does not match. Lines are to be given positive ones first within
// a batch, so that a failure and its refund in one report match together.
func MatchRefundLine(ctx context.Context, tx *storage.Tx, provider string, l providers.ReportLine) (RefundLineMatch, error) {
	switch {
	case l.PaymentRef == "":
		return RefundLineMatch{Detail: "a refund line without a payment reference"}, nil
	case l.Gross.Minor == 0:
		return RefundLineMatch{Detail: "a refund line of no amount"}, nil
	}
	back := l.Gross.Minor > 0
	amount := l.Gross
	if !back {
		amount = amount.Neg()
	}
	column, where := "report_line", ""
	if back {
		column, where = "return_line", " AND status = '"+RefundFailed+"'"
	}
	var cur struct {
		ID         string `db:"id"`
		Status     string `db:"status"`
		Line       string `db:"line"`
		ReturnLine string `db:"return_line"`
	}
	// The refund this line claimed before first, then one that reached the
	// provider, oldest first.
	err := tx.Get(ctx, &cur, `SELECT id, status, `+column+` AS line, return_line FROM source_refunds
		WHERE provider = ? AND payment_ref = ? AND amount = ? AND currency = ? AND `+column+` IN ('', ?)`+where+`
		ORDER BY CASE WHEN `+column+` = ? THEN 0 ELSE 1 END, CASE WHEN status = ? THEN 1 ELSE 0 END, created_at, id
		LIMIT 1`+tx.ForUpdate(),
		provider, l.PaymentRef, amount.Minor, string(amount.Currency), l.ID, l.ID, RefundFailed)
	if errors.Is(err, sql.ErrNoRows) {
		detail, err := noRefund(ctx, tx, provider, l.PaymentRef, amount, back)
		return RefundLineMatch{Detail: detail}, err
	}
	if err != nil {
		return RefundLineMatch{}, fmt.Errorf("finance: match refund line %s: %w", l.ID, err)
	}
	if cur.Line == "" {
		if _, err := tx.Exec(ctx, `UPDATE source_refunds SET `+column+` = ? WHERE id = ?`, l.ID, cur.ID); err != nil {
			return RefundLineMatch{}, fmt.Errorf("finance: claim refund %s for line %s: %w", cur.ID, l.ID, err)
		}
	}
	if !back && cur.Status == RefundFailed && cur.ReturnLine == "" {
		return RefundLineMatch{Refund: cur.ID, Detail: fmt.Sprintf("%s paid out refund %s of %s, which paygate holds as failed "+
			"and whose amount it gave back to the buyer's balance (no line of %s giving it back has been seen)", provider, cur.ID, amount, provider)}, nil
	}
	return RefundLineMatch{Matched: true, Refund: cur.ID}, nil
}

// noRefund says why no refund of paygate's fits a refund line.
func noRefund(ctx context.Context, tx *storage.Tx, provider, paymentRef string, amount paygate.Money, back bool) (string, error) {
	var n int
	if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM source_refunds WHERE provider = ? AND payment_ref = ?`, provider, paymentRef); err != nil {
		return "", fmt.Errorf("finance: refunds of %s: %w", paymentRef, err)
	}
	switch {
	case n == 0:
		return fmt.Sprintf("paygate made no refund of payment %s: a refund of %s it did not make", paymentRef, amount), nil
	case back:
		return fmt.Sprintf("%s gave back %s of payment %s, but paygate holds no failed refund of that amount not already given back", provider, amount, paymentRef), nil
	}
	return fmt.Sprintf("no refund of paygate's of payment %s is of %s (or each is another line's already)", paymentRef, amount), nil
}
