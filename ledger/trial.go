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

// TrialBalance sums every account by type and currency. Per currency the
// balances sum to zero when the ledger is sound.
func (l *Ledger) TrialBalance(ctx context.Context, tx *storage.Tx) ([]TrialLine, error) {
	var rows []struct {
		Type     string `db:"type"`
		Currency string `db:"currency"`
		Accounts int64  `db:"accounts"`
		Debits   int64  `db:"debits"`
		Credits  int64  `db:"credits"`
	}
	if err := tx.Select(ctx, &rows, `SELECT type, currency, COUNT(*) AS accounts, SUM(debits) AS debits, SUM(credits) AS credits
		FROM ledger_accounts GROUP BY type, currency ORDER BY currency, type`); err != nil {
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
