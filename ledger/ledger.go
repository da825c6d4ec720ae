// Package ledger is paygate's double-entry ledger: accounts per currency,
// transactions of balanced entries posted exactly once per idempotency key,
// cached balances kept in the same database transaction (in shards for hot
// accounts, see shard.go), user balances that never go negative, statements,
// and the verify check that re-derives it all. Other packages read balances
// through the view ledger_account_totals.
//
// Posting takes the caller's *storage.Tx, so a business change and its
// posting commit together or not at all.
package ledger

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "ledger", FS: migrationFiles, Dir: "migrations"}
}

// Side is the side of an entry.
type Side string

// The two sides.
const (
	Debit  Side = "D"
	Credit Side = "C"
)

// Entry is one line of a transaction: an amount debited or credited to an
// account (named by the scheme in Classify) in the amount's currency.
type Entry struct {
	Account string
	Side    Side
	Amount  paygate.Money
}

// Transaction is a set of entries to post together. Key names the business
// event ("payment:P12345678:settled") and makes posting idempotent.
type Transaction struct {
	Key         string
	Description string
	Entries     []Entry
	// Source is the P- or K-number the money came from, for the
	// balance.credited and balance.debited events of its user balance
	// entries, when Key does not name it (see balanceEvents).
	Source string
}

// Transfer returns a two-entry transaction that debits one account and
// credits another by the same amount.
func Transfer(key, description, debit, credit string, amount paygate.Money) Transaction {
	return Transaction{Key: key, Description: description, Entries: []Entry{
		{Account: debit, Side: Debit, Amount: amount},
		{Account: credit, Side: Credit, Amount: amount},
	}}
}

// Posted is a transaction as the ledger holds it.
type Posted struct {
	ID          int64
	Key         string
	Description string
	CreatedAt   time.Time
	Entries     []Entry
}

// Status says what Post did.
type Status int

// The statuses of a successful Post.
const (
	// Created: the transaction was posted now.
	Created Status = iota + 1
	// AlreadyPosted: a transaction with the same key and the same entries
	// was posted before; nothing was posted now.
	AlreadyPosted
)

func (s Status) String() string {
	switch s {
	case Created:
		return "created"
	case AlreadyPosted:
		return "already_posted"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of a successful Post.
type Result struct {
	Status      Status
	Transaction Posted
}

// Conflict reasons: how a transaction differs from the one posted earlier
// under the same key.
const (
	DifferentEntryCount = "different_entry_count"
	DifferentAccounts   = "different_accounts"
	DifferentAmounts    = "different_amounts"
)

// ConflictError reports a key that was posted before with other entries.
// Nothing was posted. It unwraps to a paygate ECONFLICT error.
type ConflictError struct {
	Key      string
	Reason   string // one of the Different* constants
	Existing Posted
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("ledger: idempotency key %q was posted with other entries (%s)", e.Key, e.Reason)
}

// Unwrap lets paygate.ErrorCode see ECONFLICT.
func (e *ConflictError) Unwrap() error {
	return &paygate.Error{Code: paygate.ECONFLICT, Message: e.Error()}
}

// InsufficientFundsError reports a posting declined because it would take a
// no-overdraft account below zero. Nothing was posted. It unwraps to a
// paygate EINSUFFICIENT error.
type InsufficientFundsError struct {
	Account   string
	Available paygate.Money // the account's balance before the posting
	Needed    paygate.Money // the net amount the posting takes from it
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("ledger: insufficient funds in %s: available %s, needed %s", e.Account, e.Available, e.Needed)
}

// Unwrap lets paygate.ErrorCode see EINSUFFICIENT.
func (e *InsufficientFundsError) Unwrap() error {
	return &paygate.Error{Code: paygate.EINSUFFICIENT, Message: e.Error()}
}

// Ledger posts to and reads from the ledger tables of one database. It is
// safe for concurrent use.
type Ledger struct {
	db      *storage.DB
	metrics *metrics
}

// New returns the ledger of db. The database must have been opened with
// Migrations.
func New(db *storage.DB) *Ledger { return &Ledger{db: db, metrics: newMetrics()} }

type accountKey struct {
	name     string
	currency paygate.Currency
}

const (
	maxKeyLen         = 200
	maxDescriptionLen = 500
	maxEntries        = 1000
)

// prepared is a validated transaction.
type prepared struct {
	classes     map[accountKey]Class
	fingerprint string
}

func (t Transaction) validate() (prepared, error) {
	invalid := func(format string, args ...any) (prepared, error) {
		return prepared{}, paygate.Errorf(paygate.EINVALID, "ledger: "+format, args...)
	}
	switch {
	case t.Key == "":
		return invalid("transaction has no idempotency key")
	case len(t.Key) > maxKeyLen:
		return invalid("idempotency key is longer than %d bytes", maxKeyLen)
	case len(t.Description) > maxDescriptionLen:
		return invalid("description is longer than %d bytes", maxDescriptionLen)
	case len(t.Entries) < 2:
		return invalid("transaction %q has %d entries; it needs at least 2", t.Key, len(t.Entries))
	case len(t.Entries) > maxEntries:
		return invalid("transaction %q has more than %d entries", t.Key, maxEntries)
	}
	p := prepared{classes: map[accountKey]Class{}}
	type sums struct{ debits, credits int64 }
	perCurrency := map[paygate.Currency]*sums{}
	lines := make([]string, len(t.Entries))
	for i, e := range t.Entries {
		if !e.Amount.Currency.Valid() {
			return invalid("entry %d of %q: unknown currency %q", i, t.Key, e.Amount.Currency)
		}
		if e.Amount.Minor <= 0 {
			return invalid("entry %d of %q: amount %s must be positive", i, t.Key, e.Amount)
		}
		if e.Side != Debit && e.Side != Credit {
			return invalid("entry %d of %q: side %q is neither D nor C", i, t.Key, e.Side)
		}
		class, err := Classify(e.Account)
		if err != nil {
			return prepared{}, fmt.Errorf("entry %d of %q: %w", i, t.Key, err)
		}
		p.classes[accountKey{e.Account, e.Amount.Currency}] = class
		s := perCurrency[e.Amount.Currency]
		if s == nil {
			s = &sums{}
			perCurrency[e.Amount.Currency] = s
		}
		total := &s.credits
		if e.Side == Debit {
			total = &s.debits
		}
		if *total > math.MaxInt64-e.Amount.Minor {
			return invalid("transaction %q: %s amounts overflow", t.Key, e.Amount.Currency)
		}
		*total += e.Amount.Minor
		lines[i] = fmt.Sprintf("%s|%s|%s|%d", e.Account, e.Amount.Currency, e.Side, e.Amount.Minor)
	}
	for _, c := range sortedCurrencies(perCurrency) {
		s := perCurrency[c]
		if s.debits != s.credits {
			return invalid("transaction %q does not balance in %s: debits %s, credits %s",
				t.Key, c, paygate.New(s.debits, c), paygate.New(s.credits, c))
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	p.fingerprint = hex.EncodeToString(sum[:])
	return p, nil
}

func sortedCurrencies[V any](m map[paygate.Currency]V) []paygate.Currency {
	cs := make([]paygate.Currency, 0, len(m))
	for c := range m {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i] < cs[j] })
	return cs
}

func conflictReason(old, new []Entry) string {
	if len(old) != len(new) {
		return DifferentEntryCount
	}
	accounts := func(es []Entry) string {
		s := make([]string, len(es))
		for i, e := range es {
			s[i] = e.Account + "|" + string(e.Amount.Currency) + "|" + string(e.Side)
		}
		sort.Strings(s)
		return strings.Join(s, "\n")
	}
	if accounts(old) != accounts(new) {
		return DifferentAccounts
	}
	return DifferentAmounts
}

// Transaction returns the transaction posted under key, or an ENOTFOUND
// error.
func (l *Ledger) Transaction(ctx context.Context, tx *storage.Tx, key string) (Posted, error) {
	stored, err := loadTransactions(ctx, tx, []string{key})
	if err != nil {
		return Posted{}, err
	}
	if stored[key] == nil {
		return Posted{}, paygate.Errorf(paygate.ENOTFOUND, "ledger: no transaction %q", paygate.Clip(key, 80))
	}
	return stored[key].posted, nil
}
