package ledger

import (
	"strings"

	"github.com/paygate/paygate"
)

// Type is an account's type, which fixes its normal side: assets and
// expenses grow by debits; liabilities, revenue and equity by credits.
type Type string

// The account types.
const (
	Asset     Type = "asset"
	Liability Type = "liability"
	Revenue   Type = "revenue"
	Expense   Type = "expense"
	Equity    Type = "equity"
)

// DebitNormal reports whether the type grows by debits.
func (t Type) DebitNormal() bool { return t == Asset || t == Expense }

// Account names follow one scheme; the name alone fixes an account's type and
// whether it may go below zero:
//
//	provider:<provider>:clearing  asset      money a provider owes us
//	bank:<name>                   asset      payouts received from providers
//	escrow:<K-number>             liability  held for one sales order; never below zero
//	user:<user id>:balance        liability  a buyer's or seller's money; never below zero
//	platform:suspense             liability  money that arrived but is not explained
//	platform:commission           revenue    the marketplace's commission
//	platform:provider_fees        expense    fees the providers charged
//	platform:equity               equity     the platform's own capital
//
// Each account exists once per currency.
const (
	PlatformSuspense     = "platform:suspense"
	PlatformCommission   = "platform:commission"
	PlatformProviderFees = "platform:provider_fees"
	PlatformEquity       = "platform:equity"
	BankSettlement       = "bank:settlement"
)

// ProviderClearing names the clearing account of a provider ("stripe").
func ProviderClearing(provider string) string { return "provider:" + provider + ":clearing" }

// Escrow names the escrow account of a sales order ("K1234567").
func Escrow(salesOrder string) string { return "escrow:" + salesOrder }

// UserBalance names a user's balance account.
func UserBalance(userID string) string { return "user:" + userID + ":balance" }

// BalanceUser is UserBalance's inverse: the user whose balance account
// name is, or false for another account.
func BalanceUser(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "user:")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, ":balance")
}

// Class is what the name scheme says about an account.
type Class struct {
	Type Type
	// NoOverdraft accounts never go below zero on their normal side: a
	// posting that would take them there is declined. They keep their
	// cached totals in one row, which the guard checks; the other accounts
	// keep theirs in shards (see shard.go).
	NoOverdraft bool
}

// Classify returns the class of an account name, or an EINVALID error for a
// name outside the scheme.
func Classify(name string) (Class, error) {
	parts := strings.Split(name, ":")
	switch {
	case len(parts) == 3 && parts[0] == "provider" && parts[2] == "clearing" && validPart(parts[1]):
		return Class{Type: Asset}, nil
	case len(parts) == 2 && parts[0] == "bank" && validPart(parts[1]):
		return Class{Type: Asset}, nil
	case len(parts) == 2 && parts[0] == "escrow" && validPart(parts[1]):
		return Class{Type: Liability, NoOverdraft: true}, nil
	case len(parts) == 3 && parts[0] == "user" && parts[2] == "balance" && validPart(parts[1]):
		return Class{Type: Liability, NoOverdraft: true}, nil
	}
	switch name {
	case PlatformSuspense:
		return Class{Type: Liability}, nil
	case PlatformCommission:
		return Class{Type: Revenue}, nil
	case PlatformProviderFees:
		return Class{Type: Expense}, nil
	case PlatformEquity:
		return Class{Type: Equity}, nil
	}
	return Class{}, paygate.Errorf(paygate.EINVALID, "ledger: account name %q is outside the naming scheme", paygate.Clip(name, 80))
}

// validPart accepts 1 to 64 characters of [A-Za-z0-9_.-].
func validPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Balance is an account's cached totals.
type Balance struct {
	Account  string
	Currency paygate.Currency
	Type     Type
	Debits   int64
	Credits  int64
}

// Normal returns the balance on the account's normal side: debits minus
// credits for assets and expenses, credits minus debits otherwise.
func (b Balance) Normal() paygate.Money {
	return paygate.New(normal(b.Type, b.Debits, b.Credits), b.Currency)
}

func normal(t Type, debits, credits int64) int64 {
	if t.DebitNormal() {
		return debits - credits
	}
	return credits - debits
}
