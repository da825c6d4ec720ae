package ledger

import (
	"context"
	"strings"

	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

// BalanceMovement is the data of a balance.credited or balance.debited
// event: one entry on a user's balance.
type BalanceMovement struct {
	UserID   string `json:"user_id"`
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
	// Reason is why the balance moved, from the posting's key:
	// sales_order_refunded, sales_order_completed, dispute_resolved,
	// late_payment (paid after the order was paid, expired or canceled),
	// balance_payment, refund_to_source, refund_to_source_reversed, payout.
	Reason string `json:"reason"`
	// Source is the P- or K-number (or the refund or payout id) the money
	// came from.
	Source string `json:"source"`
	// Transaction is the ledger transaction's key.
	Transaction string `json:"transaction"`
}

// balanceEvents appends, in tx, a balance.credited or balance.debited event
// for each entry of t on a user's balance: the ledger is the one door every
// balance movement passes, so none can move without its event.
func balanceEvents(ctx context.Context, tx *storage.Tx, t Transaction) error {
	var reason, source string // read from the key once, at the first balance entry
	for _, e := range t.Entries {
		user, ok := BalanceUser(e.Account)
		if !ok {
			continue
		}
		if reason == "" {
			reason, source = movementOf(t)
		}
		typ := events.BalanceCredited
		if e.Side == Debit {
			typ = events.BalanceDebited
		}
		m := BalanceMovement{UserID: user, Currency: string(e.Amount.Currency), Amount: e.Amount.Amount(),
			Reason: reason, Source: source, Transaction: t.Key}
		if _, err := events.Append(ctx, tx, typ, user, m); err != nil {
			return err
		}
	}
	return nil
}

// movementOf reads a balance movement's reason and source from the key
// scheme of the postings that move balances.
func movementOf(t Transaction) (reason, source string) {
	parts := strings.Split(t.Key, ":")
	source = t.Source
	if source == "" && len(parts) > 1 {
		source = parts[1]
	}
	last := parts[len(parts)-1]
	switch {
	case parts[0] == "order" && last == "refunded":
		reason = "sales_order_refunded"
	case parts[0] == "order" && last == "completed":
		reason = "sales_order_completed"
	case parts[0] == "order" && last == "resolved":
		reason = "dispute_resolved"
	case parts[0] == "attempt" && last == "credited":
		reason = "late_payment"
	case parts[0] == "payment":
		reason = "balance_payment"
	case parts[0] == "refund" && last == "reversed":
		reason = "refund_to_source_reversed"
	case parts[0] == "refund":
		reason = "refund_to_source"
	case parts[0] == "payout":
		reason = "payout"
	default:
		reason = parts[0]
	}
	return reason, source
}
