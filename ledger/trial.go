package ledger

import (
	"context"
	"fmt"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// TrialLine is the total of one account type in one currency.
type TrialLine struct {
	Type     Type
	Currency paygate.Currency
	Accounts int64
	Debits   paygate.Money
	Credits  paygate.Money
	// Balance is debits minus credits: positive for debit-normal types.
	Balance paygate.Money
}

// TrialBalance sums every account (a sharded account: its shards) by type
// and currency. Per currency the balances sum to zero when the ledger is
// sound.
func (l *Ledger) TrialBalance(ctx context.Context, tx *storage.Tx) ([]TrialLine, error) {
	var rows []struct {
		Type     string `db:"type"`
		Currency string `db:"currency"`
		Accounts int64  `db:"accounts"`
		Debits   int64  `db:"debits"`
		Credits  int64  `db:"credits"`
	}
	if err := tx.Select(ctx, &rows, `SELECT a.type, a.currency, COUNT(*) AS accounts,
			SUM(a.debits + COALESCE(s.debits, 0)) AS debits, SUM(a.credits + COALESCE(s.credits, 0)) AS credits
		FROM ledger_accounts a LEFT JOIN (`+shardSums+`) s ON s.account_id = a.id
		GROUP BY a.type, a.currency ORDER BY a.currency, a.type`); err != nil {
		return nil, fmt.Errorf("ledger: trial balance: %w", err)
	}
	out := make([]TrialLine, len(rows))
	for i, r := range rows {
		c := paygate.Currency(r.Currency)
		out[i] = TrialLine{Type: Type(r.Type), Currency: c, Accounts: r.Accounts, Debits: paygate.New(r.Debits, c),
			Credits: paygate.New(r.Credits, c), Balance: paygate.New(r.Debits-r.Credits, c)}
	}
	return out, nil
}
