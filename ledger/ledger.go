// Package ledger is paygate's double-entry ledger: accounts per currency,
// transactions of balanced entries posted exactly once per idempotency key,
// cached balances kept in the same database transaction, user balances that
// never go negative, statements, and the verify check that re-derives it all.
//
// Posting takes the caller's *storage.Tx, so a business change and its
// posting commit together or not at all.
package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the ledger's schema, for storage.Open.
func Migrations() storage.Migrations {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return storage.Migrations{Component: "ledger", FS: sub}
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
// safe for concurrent use; make one per database.
type Ledger struct {
	db       *storage.DB
	accounts sync.Map // accountKey → account id, only for committed accounts
}

// New returns the ledger of db. The database must have been opened with
// Migrations.
func New(db *storage.DB) *Ledger { return &Ledger{db: db} }

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

// change is the net effect of one transaction on one account.
type change struct {
	key             accountKey
	class           Class
	id              int64
	debits, credits int64
	// after are the account's totals once the change is applied.
	afterDebits, afterCredits int64
}

// reduces reports whether the change takes the account's normal balance
// down, the only way a no-overdraft account can be declined.
func (c *change) reduces() bool {
	if c.class.Type.DebitNormal() {
		return c.credits > c.debits
	}
	return c.debits > c.credits
}

// Post posts t in tx: it validates t (at least two entries, positive amounts,
// known accounts and currencies, debits equal credits per currency), creates
// missing accounts, updates their cached totals and appends the entries. The
// idempotency key is the arbiter of exactly-once: if the key was posted
// before with the same entries, Post returns AlreadyPosted and the first
// transaction, and posts nothing; with other entries it returns a
// *ConflictError. A posting that would take a no-overdraft account (a user
// balance, an escrow) below zero is declined with an *InsufficientFundsError,
// atomically, also under concurrency.
//
// After an *InsufficientFundsError, a *ConflictError or an EINVALID
// validation error, tx is unchanged and may go on; after any other error the
// caller must roll tx back (its effects on tx are undefined).
func (l *Ledger) Post(ctx context.Context, tx *storage.Tx, t Transaction) (Result, error) {
	p, err := t.validate()
	if err != nil {
		return Result{}, err
	}
	changes := netChanges(t, p)
	// A savepoint lets a declined posting leave the caller's transaction as
	// it was. Only postings that take money from a no-overdraft account can
	// be declined, so only they pay for it.
	declinable := false
	for _, c := range changes {
		if c.class.NoOverdraft && c.reduces() {
			declinable = true
		}
	}
	if declinable {
		if _, err := tx.Exec(ctx, `SAVEPOINT ledger_post`); err != nil {
			return Result{}, err
		}
	}
	res, err := l.post(ctx, tx, t, p, changes)
	if declinable {
		if err != nil {
			if _, rbErr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT ledger_post`); rbErr != nil {
				return Result{}, errors.Join(err, rbErr)
			}
		}
		if _, relErr := tx.Exec(ctx, `RELEASE SAVEPOINT ledger_post`); relErr != nil {
			return Result{}, errors.Join(err, relErr)
		}
	}
	return res, err
}

func (l *Ledger) post(ctx context.Context, tx *storage.Tx, t Transaction, p prepared, changes []*change) (Result, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO ledger_transactions (idempotency_key, fingerprint, description, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		t.Key, p.fingerprint, t.Description, tx.Now()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return l.existing(ctx, tx, t, p)
	}
	if err != nil {
		return Result{}, fmt.Errorf("ledger: post %q: %w", t.Key, err)
	}
	for _, c := range changes {
		if c.id, err = l.account(ctx, tx, c.key, c.class); err != nil {
			return Result{}, err
		}
	}
	// Accounts are updated in id order, so concurrent postings lock rows in
	// one order and cannot deadlock.
	sort.Slice(changes, func(i, j int) bool { return changes[i].id < changes[j].id })
	for _, c := range changes {
		if err := l.apply(ctx, tx, c); err != nil {
			return Result{}, err
		}
	}
	if err := insertEntries(ctx, tx, id, t.Entries, changes); err != nil {
		return Result{}, fmt.Errorf("ledger: post %q: %w", t.Key, err)
	}
	// Remember the accounts once they are committed. (Not before: an account
	// created inside a savepoint that is rolled back does not exist.)
	tx.AfterCommit(func() {
		for _, c := range changes {
			l.accounts.Store(c.key, c.id)
		}
	})
	return Result{Status: Created, Transaction: Posted{
		ID: id, Key: t.Key, Description: t.Description, CreatedAt: tx.Now(), Entries: t.Entries,
	}}, nil
}

// netChanges nets the entries of t per account.
func netChanges(t Transaction, p prepared) []*change {
	byKey := make(map[accountKey]*change, len(p.classes))
	var out []*change
	for _, e := range t.Entries {
		k := accountKey{e.Account, e.Amount.Currency}
		c := byKey[k]
		if c == nil {
			c = &change{key: k, class: p.classes[k]}
			byKey[k] = c
			out = append(out, c)
		}
		if e.Side == Debit {
			c.debits += e.Amount.Minor
		} else {
			c.credits += e.Amount.Minor
		}
	}
	return out
}

// account returns the account's id, creating the account if it is new.
func (l *Ledger) account(ctx context.Context, tx *storage.Tx, k accountKey, class Class) (int64, error) {
	if v, ok := l.accounts.Load(k); ok {
		return v.(int64), nil
	}
	var id int64
	var typ Type
	var noOverdraft bool
	err := tx.QueryRow(ctx, `SELECT id, type, no_overdraft FROM ledger_accounts WHERE name = ? AND currency = ?`,
		k.name, string(k.currency)).Scan(&id, &typ, &noOverdraft)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(ctx, `INSERT INTO ledger_accounts (name, currency, type, no_overdraft, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, currency) DO NOTHING RETURNING id`,
			k.name, string(k.currency), string(class.Type), class.NoOverdraft, tx.Now()).Scan(&id)
		typ, noOverdraft = class.Type, class.NoOverdraft
		if errors.Is(err, sql.ErrNoRows) { // created concurrently
			err = tx.QueryRow(ctx, `SELECT id, type, no_overdraft FROM ledger_accounts WHERE name = ? AND currency = ?`,
				k.name, string(k.currency)).Scan(&id, &typ, &noOverdraft)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: account %s %s: %w", k.name, k.currency, err)
	}
	if typ != class.Type || noOverdraft != class.NoOverdraft {
		return 0, fmt.Errorf("ledger: account %s %s is stored as %s (no_overdraft=%t), the scheme says %s (no_overdraft=%t)",
			k.name, k.currency, typ, noOverdraft, class.Type, class.NoOverdraft)
	}
	return id, nil
}

// apply adds a change to the account's cached totals, unless that would
// overdraw a no-overdraft account or overflow. The condition is part of the
// UPDATE, so it holds under concurrency: PostgreSQL re-checks it on the
// locked row, SQLite has one writer.
func (l *Ledger) apply(ctx context.Context, tx *storage.Tx, c *change) error {
	// The name and currency are checked with the id, so a stale cached id
	// can only fail, never post to another account.
	q := `UPDATE ledger_accounts SET debits = debits + ?, credits = credits + ?
		WHERE id = ? AND name = ? AND currency = ? AND debits <= ? AND credits <= ?`
	args := []any{c.debits, c.credits, c.id, c.key.name, string(c.key.currency), math.MaxInt64 - c.debits, math.MaxInt64 - c.credits}
	if c.class.NoOverdraft {
		if c.class.Type.DebitNormal() {
			q += ` AND credits - debits <= ?`
			args = append(args, c.debits-c.credits)
		} else {
			q += ` AND debits - credits <= ?`
			args = append(args, c.credits-c.debits)
		}
	}
	err := tx.QueryRow(ctx, q+` RETURNING debits, credits`, args...).Scan(&c.afterDebits, &c.afterCredits)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("ledger: update account %s %s: %w", c.key.name, c.key.currency, err)
	}
	var debits, credits int64
	err = tx.QueryRow(ctx, `SELECT debits, credits FROM ledger_accounts WHERE id = ? AND name = ? AND currency = ?`,
		c.id, c.key.name, string(c.key.currency)).Scan(&debits, &credits)
	if errors.Is(err, sql.ErrNoRows) {
		l.accounts.Delete(c.key)
		return fmt.Errorf("ledger: account %s %s is not id %d: stale cache entry dropped; roll back and retry", c.key.name, c.key.currency, c.id)
	}
	if err != nil {
		return fmt.Errorf("ledger: read account %s %s: %w", c.key.name, c.key.currency, err)
	}
	if debits > math.MaxInt64-c.debits || credits > math.MaxInt64-c.credits {
		return paygate.Errorf(paygate.EINVALID, "ledger: account %s %s would overflow", c.key.name, c.key.currency)
	}
	t := c.class.Type
	return &InsufficientFundsError{
		Account:   c.key.name,
		Available: paygate.New(normal(t, debits, credits), c.key.currency),
		Needed:    paygate.New(-normal(t, c.debits, c.credits), c.key.currency),
	}
}

// insertEntries appends the entries with the running totals of their
// accounts, in one statement.
func insertEntries(ctx context.Context, tx *storage.Tx, txID int64, entries []Entry, changes []*change) error {
	// Running totals start from the totals before this transaction.
	type running struct{ id, debits, credits int64 }
	run := make(map[accountKey]*running, len(changes))
	for _, c := range changes {
		run[c.key] = &running{c.id, c.afterDebits - c.debits, c.afterCredits - c.credits}
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO ledger_entries (transaction_id, account_id, side, amount, account_debits, account_credits) VALUES `)
	args := make([]any, 0, 6*len(entries))
	for i, e := range entries {
		k := accountKey{e.Account, e.Amount.Currency}
		r := run[k]
		if e.Side == Debit {
			r.debits += e.Amount.Minor
		} else {
			r.credits += e.Amount.Minor
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, txID, r.id, string(e.Side), e.Amount.Minor, r.debits, r.credits)
	}
	_, err := tx.Exec(ctx, q.String(), args...)
	return err
}

// existing answers a key that was posted before: AlreadyPosted with the
// first transaction when the entries are the same, a *ConflictError
// otherwise.
func (l *Ledger) existing(ctx context.Context, tx *storage.Tx, t Transaction, p prepared) (Result, error) {
	var row struct {
		ID          int64     `db:"id"`
		Fingerprint string    `db:"fingerprint"`
		Description string    `db:"description"`
		CreatedAt   time.Time `db:"created_at"`
	}
	if err := tx.Get(ctx, &row, `SELECT id, fingerprint, description, created_at FROM ledger_transactions WHERE idempotency_key = ?`, t.Key); err != nil {
		return Result{}, fmt.Errorf("ledger: read transaction %q: %w", t.Key, err)
	}
	entries, err := transactionEntries(ctx, tx, row.ID)
	if err != nil {
		return Result{}, err
	}
	posted := Posted{ID: row.ID, Key: t.Key, Description: row.Description, CreatedAt: row.CreatedAt.UTC(), Entries: entries}
	if row.Fingerprint == p.fingerprint {
		return Result{Status: AlreadyPosted, Transaction: posted}, nil
	}
	return Result{}, &ConflictError{Key: t.Key, Reason: conflictReason(posted.Entries, t.Entries), Existing: posted}
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

func transactionEntries(ctx context.Context, tx *storage.Tx, txID int64) ([]Entry, error) {
	var rows []struct {
		Name     string `db:"name"`
		Currency string `db:"currency"`
		Side     string `db:"side"`
		Amount   int64  `db:"amount"`
	}
	if err := tx.Select(ctx, &rows, `SELECT a.name, a.currency, e.side, e.amount
		FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE e.transaction_id = ? ORDER BY e.id`, txID); err != nil {
		return nil, fmt.Errorf("ledger: entries of transaction %d: %w", txID, err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{Account: r.Name, Side: Side(r.Side), Amount: paygate.New(r.Amount, paygate.Currency(r.Currency))}
	}
	return out, nil
}

// Transaction returns the transaction posted under key, or an ENOTFOUND
// error.
func (l *Ledger) Transaction(ctx context.Context, tx *storage.Tx, key string) (Posted, error) {
	var row struct {
		ID          int64     `db:"id"`
		Description string    `db:"description"`
		CreatedAt   time.Time `db:"created_at"`
	}
	err := tx.Get(ctx, &row, `SELECT id, description, created_at FROM ledger_transactions WHERE idempotency_key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return Posted{}, paygate.Errorf(paygate.ENOTFOUND, "ledger: no transaction %q", clip(key))
	}
	if err != nil {
		return Posted{}, fmt.Errorf("ledger: read transaction %q: %w", key, err)
	}
	entries, err := transactionEntries(ctx, tx, row.ID)
	if err != nil {
		return Posted{}, err
	}
	return Posted{ID: row.ID, Key: key, Description: row.Description, CreatedAt: row.CreatedAt.UTC(), Entries: entries}, nil
}
