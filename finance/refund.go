package finance

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
)

// PaidAttempt is a payment a buyer made through a provider.
type PaidAttempt struct {
	Attempt    string
	Method     providers.Method
	Provider   string
	PaymentRef string
	Amount     paygate.Money
	PaidAt     time.Time
}

// RefundStatus is a source refund's state. It is a string (an alias), as
// SourceRefund.Status and the API have it.
type RefundStatus = string

// Refund statuses of a source refund.
const (
	RefundRequested RefundStatus = "requested" // debited from the balance; the provider not asked yet (or did not answer)
	RefundPending   RefundStatus = "pending"   // the provider accepted it; its webhook confirms
	RefundSucceeded RefundStatus = "succeeded"
	RefundFailed    RefundStatus = "failed" // the provider refused it; the debit was reversed
)

// refundMoves are the moves a source refund's status may make: forward
// only, and a final refund never changes. Source refunds have no events.
var refundMoves = map[RefundStatus][]RefundStatus{
	RefundRequested: {RefundPending, RefundSucceeded, RefundFailed},
	RefundPending:   {RefundSucceeded, RefundFailed},
	RefundSucceeded: nil,
	RefundFailed:    nil,
}

// refundStatuses are the source refund statuses, in their order of
// definition.
var refundStatuses = []RefundStatus{RefundRequested, RefundPending, RefundSucceeded, RefundFailed}

// refundCanMove reports whether a source refund may move from status from
// to status to.
func refundCanMove(from, to RefundStatus) bool { return slices.Contains(refundMoves[from], to) }

// SourceRefund is part of a buyer's balance sent back to one of their
// payments.
type SourceRefund struct {
	ID             string    `json:"id" db:"id"`
	UserID         string    `json:"user_id" db:"user_id"`
	Attempt        string    `json:"attempt" db:"attempt"`
	Provider       string    `json:"provider" db:"provider"`
	PaymentRef     string    `json:"payment_ref" db:"payment_ref"`
	Minor          int64     `json:"-" db:"amount"`
	Currency       string    `json:"currency" db:"currency"`
	Amount         string    `json:"amount" db:"-"`
	Status         string    `json:"status" db:"status"`
	ProviderRefund string    `json:"provider_refund,omitempty" db:"provider_refund"`
	FailureReason  string    `json:"failure_reason,omitempty" db:"failure_reason"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	// Reason is the reason sent to the provider (asked again, the same).
	Reason string `json:"-" db:"reason"`
}

// Refunds sends buyers' balances back to their payment methods.
type Refunds struct {
	DB        *storage.DB
	Ledger    *ledger.Ledger
	Providers map[string]providers.Provider
	// Payments lists a buyer's payments in a currency, newest first.
	Payments func(ctx context.Context, buyerID string, c paygate.Currency) ([]PaidAttempt, error)
	Rand     io.Reader // nil = crypto/rand
	Logger   zerolog.Logger
	// CallTimeout bounds one provider call (0 = RefundCallTimeout).
	CallTimeout time.Duration
}

// callContext returns the context of one provider call for a request's
// ctx: it keeps ctx's values (logger, request id) but not its
// cancellation, so a client that hangs up or times out does not cut the
// call short once the balance is debited; it ends after CallTimeout.
func (r *Refunds) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := r.CallTimeout
	if d <= 0 {
		d = RefundCallTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// Refundable reports whether a paid attempt can be refunded to its
// source: the provider that took its money (never the one its method
// maps to today: a method can have several) is configured and refunds
// the method's payments (Provider.Refundable).
func (r *Refunds) Refundable(p PaidAttempt) bool {
	prov := r.Providers[p.Provider]
	return prov != nil && prov.Refundable(p.Method)
}

// CanRefund reports whether some payment of buyer userID in currency c
// can be refunded to its source (Refundable), so that ToSource can send
// their balance back.
func (r *Refunds) CanRefund(ctx context.Context, userID string, c paygate.Currency) (bool, error) {
	payments, err := r.Payments(ctx, userID, c)
	if err != nil {
		return false, err
	}
	for _, p := range payments {
		if r.Refundable(p) {
			return true, nil
		}
	}
	return false, nil
}

func (r *Refunds) newID(prefix string) (string, error) {
	rnd := r.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	b := make([]byte, 12)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// MaxRefundReason is the most characters (Unicode code points, as JSON
// Schema's maxLength counts them) a refund's reason may have; ToSource
// refuses a longer one as invalid rather than cutting it.
const MaxRefundReason = 500

// ToSource refunds amount of a buyer's balance to the methods they paid
// with, newest payments first, never more of a payment than it collected
// (less what was refunded of it before), and only through methods that
// have refunds. The balance is debited at once, in one transaction with the
// refund records (a balance that does not cover it is refused whole); each
// provider is then asked, and a refusal reverses its part of the debit. The
// provider's refund webhook confirms the rest (ApplyRefundEvent).
//
// The provider calls do not depend on ctx's lifetime (see callContext): a
// caller that goes away leaves them running. A refund whose provider did
// not answer, or that is still pending, is driven to a final state by
// Drive. Concurrent refunds of one user take their turns (the user's row of
// refund_locks), so they never refund more of a payment than it collected.
//
// requestKey, if not "", identifies the request (idempotency.RequestKey,
// or a finance form's key): it is recorded with the refunds, in their
// transaction, and a request with the same key (a retry after a crash
// before its response was stored, a double submit) gets those refunds as
// they are now, and moves no money.
func (r *Refunds) ToSource(ctx context.Context, requestKey, userID string, amount paygate.Money, reason string) ([]SourceRefund, error) {
	if amount.Minor <= 0 {
		return nil, paygate.Errorf(paygate.EINVALID, "amount must be more than zero")
	}
	if n := utf8.RuneCountInString(reason); n > MaxRefundReason {
		return nil, paygate.Errorf(paygate.EINVALID, "reason is %d characters long; at most %d are taken", n, MaxRefundReason)
	}
	payments, err := r.Payments(ctx, userID, amount.Currency)
	if err != nil {
		return nil, err
	}
	// Whether each payment's provider refunds its method is asked before
	// the transaction: a provider may look it up over the network (Rapyd's
	// list of payment methods), which must not happen while the
	// transaction holds the writer.
	refundable := make(map[string]bool, len(payments))
	for _, p := range payments {
		refundable[p.Attempt] = r.Refundable(p)
	}
	var created []SourceRefund
	replayed := false
	err = r.DB.Update(ctx, func(tx *storage.Tx) error {
		created, replayed = nil, false
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if requestKey != "" {
			done, ok, err := idempotency.Effect(ctx, tx, requestKey)
			if err != nil {
				return err
			}
			if ok {
				replayed = true
				created, err = refundsByID(ctx, tx, strings.Split(done, ","))
				return err
			}
		}
		created, err = r.debitRefunds(ctx, tx, userID, payments, refundable, amount, reason)
		if err != nil {
			return err
		}
		return recordRefundRequest(ctx, tx, requestKey, userID, created, amount.Currency, reason)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return created, nil // asked already; Drive finishes what did not
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	for i := range created {
		created[i] = r.ask(cctx, created[i])
	}
	return created, nil
}

// debitRefunds spreads amount over userID's payments, newest first, never
// more of a payment than it collected less what was refunded of it, and
// only through methods that have refunds (refundable, by attempt), and
// records each part in tx (debitRefund). If the payments cannot take all
// of amount, it is an ECONFLICT error naming the methods that have no
// refunds.
func (r *Refunds) debitRefunds(ctx context.Context, tx *storage.Tx, userID string, payments []PaidAttempt, refundable map[string]bool, amount paygate.Money, reason string) ([]SourceRefund, error) {
	refunded, err := refundedByAttempt(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	var created []SourceRefund
	left := amount.Minor
	var unrefundable []string
	for _, p := range payments {
		if left == 0 {
			break
		}
		if !refundable[p.Attempt] {
			unrefundable = append(unrefundable, string(p.Method))
			continue
		}
		room := p.Amount.Minor - refunded[p.Attempt]
		if room <= 0 {
			continue
		}
		part := min(room, left)
		c, err := r.debitRefund(ctx, tx, userID, p, paygate.New(part, amount.Currency), amount, reason)
		if err != nil {
			return nil, err
		}
		created = append(created, c)
		left -= part
	}
	if left > 0 {
		msg := fmt.Sprintf("only %s of %s's payments can be refunded to their methods", paygate.New(amount.Minor-left, amount.Currency), userID)
		if len(unrefundable) > 0 {
			msg += fmt.Sprintf(" (%s has no refunds: record a manual bank payout instead)", strings.Join(unique(unrefundable), ", "))
		}
		return nil, paygate.Errorf(paygate.ECONFLICT, "%s", msg)
	}
	return created, nil
}

// debitRefund records in tx a requested refund of part of payment p and
// debits userID's balance by it. A balance that does not cover it is an
// EINSUFFICIENT error naming total, the whole amount asked for.
func (r *Refunds) debitRefund(ctx context.Context, tx *storage.Tx, userID string, p PaidAttempt, part, total paygate.Money, reason string) (SourceRefund, error) {
	id, err := r.newID("ref_")
	if err != nil {
		return SourceRefund{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO source_refunds (id, user_id, attempt, provider, payment_ref, amount, currency, status, reason,
		created_at, updated_at, next_check_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, userID, p.Attempt, p.Provider, p.PaymentRef, part.Minor, string(part.Currency),
		RefundRequested, reason, tx.Now(), tx.Now(), tx.Now().Add(RefundRetryAfter)); err != nil {
		return SourceRefund{}, fmt.Errorf("finance: record refund: %w", err)
	}
	_, err = r.Ledger.Post(ctx, tx, ledger.Transfer("refund:"+id+":debited",
		fmt.Sprintf("balance of %s refunded to %s payment %s", userID, p.Method, p.PaymentRef),
		ledger.UserBalance(userID), ledger.ProviderClearing(p.Provider), part))
	if err != nil {
		var short *ledger.InsufficientFundsError
		if errors.As(err, &short) {
			return SourceRefund{}, paygate.Errorf(paygate.EINSUFFICIENT, "the balance of %s (%s) does not cover %s", userID, short.Available, total)
		}
		return SourceRefund{}, err
	}
	return SourceRefund{ID: id, UserID: userID, Attempt: p.Attempt, Provider: p.Provider,
		PaymentRef: p.PaymentRef, Minor: part.Minor, Currency: string(part.Currency), Status: RefundRequested, Reason: reason, CreatedAt: tx.Now()}, nil
}

// recordRefundRequest records in tx the refunds created for requestKey (its
// idempotent effect, when requestKey is not "") and their audit entry.
func recordRefundRequest(ctx context.Context, tx *storage.Tx, requestKey, userID string, created []SourceRefund, currency paygate.Currency, reason string) error {
	ids := make([]string, len(created))
	for i, c := range created {
		ids[i] = c.ID
	}
	if err := idempotency.RecordEffect(ctx, tx, requestKey, strings.Join(ids, ",")); err != nil {
		return err
	}
	parts := make([]string, len(created))
	for i, c := range created {
		parts[i] = fmt.Sprintf("%s %s to %s", c.ID, paygate.New(c.Minor, currency), c.PaymentRef)
	}
	return Audit(ctx, tx, ActionRefundToSource, userID, "", strings.Join(parts, "; "), reason)
}

// lockUser takes the user's row of refund_locks for the rest of tx: a
// concurrent refund of the same user waits for tx to end (on PostgreSQL;
// SQLite has one writer at a time anyway), and then sees its refunds.
func lockUser(ctx context.Context, tx *storage.Tx, userID string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO refund_locks (user_id, locked_at) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET locked_at = excluded.locked_at`, userID, tx.Now()); err != nil {
		return fmt.Errorf("finance: lock the refunds of %s: %w", userID, err)
	}
	return nil
}

func unique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// refundedByAttempt sums the refunds of a user's payments that did not fail.
func refundedByAttempt(ctx context.Context, tx *storage.Tx, userID string) (map[string]int64, error) {
	var rows []struct {
		Attempt string `db:"attempt"`
		Sum     int64  `db:"total"`
	}
	if err := tx.Select(ctx, &rows, `SELECT attempt, SUM(amount) AS total FROM source_refunds
		WHERE user_id = ? AND status <> ? GROUP BY attempt`, userID, RefundFailed); err != nil {
		return nil, fmt.Errorf("finance: refunded so far: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Attempt] = r.Sum
	}
	return out, nil
}

// ask asks the provider for one refund and records its answer: accepted
// (pending or succeeded), or refused (failed, and the debit reversed). A
// provider that cannot be reached leaves it requested, for Drive to ask
// again with the same idempotency key and the same request.
func (r *Refunds) ask(ctx context.Context, sr SourceRefund) SourceRefund {
	prov := r.Providers[sr.Provider]
	if prov == nil {
		r.Logger.Error().Str("refund", sr.ID).Str("provider", sr.Provider).Msg("no client for the refund's provider; it stays requested")
		return sr
	}
	ref, err := prov.Refund(ctx, providers.RefundRequest{
		PaymentRef: sr.PaymentRef, Amount: paygate.New(sr.Minor, paygate.Currency(sr.Currency)),
		IdempotencyKey: "refund:" + sr.ID, Reason: sr.Reason, Refund: sr.ID,
	})
	log := r.Logger.With().Str("refund", sr.ID).Str("payment_ref", sr.PaymentRef).Logger()
	switch {
	case err == nil:
		status := RefundPending
		switch ref.Status {
		case providers.RefundSucceeded:
			status = RefundSucceeded
		case providers.RefundFailed:
			status = RefundFailed
		}
		if uerr := r.settle(ctx, sr.ID, status, ref.Ref, ref.FailureReason); uerr != nil {
			log.Error().Err(uerr).Msg("record provider refund")
		}
		sr.Status, sr.ProviderRefund, sr.FailureReason = status, ref.Ref, ref.FailureReason
	case paygate.ErrorCode(err) == paygate.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		log.Warn().Err(err).Msg("provider unavailable; the refund stays requested")
	default:
		reason := paygate.ErrorMessage(err)
		if uerr := r.settle(ctx, sr.ID, RefundFailed, "", reason); uerr != nil {
			log.Error().Err(uerr).Msg("reverse refused refund")
		}
		sr.Status, sr.FailureReason = RefundFailed, reason
		log.Warn().Err(err).Msg("provider refused the refund; debit reversed")
	}
	return sr
}

// settle records a refund's new status in its own transaction, whether or
// not ctx is still live: the provider has answered. A refund that moved on
// meanwhile (its webhook came first) is left as it is.
func (r *Refunds) settle(ctx context.Context, id string, status RefundStatus, providerRef, failure string) error {
	ctx = context.WithoutCancel(ctx)
	return r.DB.Update(ctx, func(tx *storage.Tx) error {
		err := moveRefund(ctx, tx, r.Ledger, id, status, providerRef, failure)
		if errors.Is(err, errRefused) {
			return nil
		}
		return err
	})
}

// moveRefund is the one door of a source refund's status: it moves refund
// id to status to if its status allows it (refundCanMove), recording the
// provider's refund reference (if not "") and the failure reason, in one
// statement that also checks the status and returns what the reversal
// needs; a refund that failed has its balance debit reversed. A refund
// that becomes pending is next polled by Drive after RefundPollEvery; a
// final one no more. A move its status does not allow (a repeat, or a
// refund final already) changes nothing and is ECONFLICT (its cause
// errRefused); ENOTFOUND if there is no refund id.
func moveRefund(ctx context.Context, tx *storage.Tx, l *ledger.Ledger, id string, to RefundStatus, providerRef, failure string) error {
	var from []any
	for _, st := range refundStatuses {
		if refundCanMove(st, to) {
			from = append(from, st)
		}
	}
	if len(from) > 0 {
		var next any // NULL: final
		if to == RefundPending {
			next = tx.Now().Add(RefundPollEvery)
		}
		var cur struct {
			UserID   string `db:"user_id"`
			Provider string `db:"provider"`
			Amount   int64  `db:"amount"`
			Currency string `db:"currency"`
		}
		err := tx.Get(ctx, &cur, `UPDATE source_refunds SET status = ?, provider_refund = CASE WHEN ? <> '' THEN ? ELSE provider_refund END,
			failure_reason = ?, updated_at = ?, next_check_at = ? WHERE id = ? AND status IN (`+storage.Params(len(from))+`)
			RETURNING user_id, provider, amount, currency`,
			append([]any{to, providerRef, providerRef, paygate.Cut(failure, 500), tx.Now(), next, id}, from...)...)
		switch {
		case err == nil && to == RefundFailed:
			_, err := l.Post(ctx, tx, ledger.Transfer("refund:"+id+":reversed", "refund "+id+" failed: the balance is given back",
				ledger.ProviderClearing(cur.Provider), ledger.UserBalance(cur.UserID), paygate.New(cur.Amount, paygate.Currency(cur.Currency))))
			if err != nil {
				return fmt.Errorf("finance: reverse refund %s: %w", id, err)
			}
			return nil
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("finance: refund %s → %s: %w", id, to, err)
		}
	}
	var st string
	err := tx.Get(ctx, &st, `SELECT status FROM source_refunds WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return paygate.Errorf(paygate.ENOTFOUND, "refund %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("finance: refund %s: %w", id, err)
	}
	return &paygate.Error{Code: paygate.ECONFLICT, Message: fmt.Sprintf("refund %s is %s: it cannot become %s", id, st, to), Err: errRefused}
}

// errRefused is the cause of moveRefund's ECONFLICT for a move its table
// does not allow (errors.Is), which tells it from any conflict of the
// writes that go with a move.
var errRefused = errors.New("finance: move not allowed")

// RefundPayment is the payment a provider's refund event is about, as
// paygate knows it: the provider that sent (and signed) the event, the
// provider's payment reference, and paygate's payment order and attempt of
// that payment.
type RefundPayment struct {
	Provider     string
	PaymentRef   string
	PaymentOrder string
	Attempt      string
}

// RefundEventResult says what ApplyRefundEvent made of an event.
type RefundEventResult int

// The results of ApplyRefundEvent.
const (
	// RefundEventNotOurs: the event names no refund of paygate's.
	RefundEventNotOurs RefundEventResult = iota
	// RefundEventApplied: the event was applied to the refund it names
	// (or changed nothing: a repeat, or a refund already final).
	RefundEventApplied
	// RefundEventMismatch: the event names a refund of paygate's, but its
	// provider, payment, amount or currency is not the refund's. Nothing
	// changed; a MismatchedRefund item was opened.
	RefundEventMismatch
)

// ApplyRefundEvent applies a provider's refund webhook about one of
// paygate's refunds (Event.Refund set) in tx: succeeded, or failed with the
// debit reversed. The refund id in the event's metadata is not enough: the
// event must come from the refund's provider and be about the refund's
// payment, for the refund's amount and currency (an event whose amount
// could not be read does not match). An event that names a refund but
// disagrees with it changes neither the refund nor the ledger; it opens a
// MismatchedRefund item (once per event) and reports
// RefundEventMismatch. An event about no refund of paygate's is
// RefundEventNotOurs.
func ApplyRefundEvent(ctx context.Context, tx *storage.Tx, l *ledger.Ledger, p RefundPayment, ev providers.Event) (RefundEventResult, error) {
	if ev.Refund == "" {
		return RefundEventNotOurs, nil
	}
	var cur SourceRefund
	err := tx.Get(ctx, &cur, `SELECT id, user_id, attempt, provider, payment_ref, amount, currency, status
		FROM source_refunds WHERE id = ?`+tx.ForUpdate(), ev.Refund)
	if errors.Is(err, sql.ErrNoRows) {
		return RefundEventNotOurs, nil
	}
	if err != nil {
		return RefundEventNotOurs, fmt.Errorf("finance: refund %s: %w", ev.Refund, err)
	}
	own := paygate.New(cur.Minor, paygate.Currency(cur.Currency))
	var diffs []string
	if p.Provider != cur.Provider {
		diffs = append(diffs, fmt.Sprintf("it comes from %s, the refund went through %s", p.Provider, cur.Provider))
	}
	if p.PaymentRef != cur.PaymentRef {
		diffs = append(diffs, fmt.Sprintf("it is about payment %q, the refund is of payment %q", p.PaymentRef, cur.PaymentRef))
	}
	if ev.Amount != own {
		diffs = append(diffs, fmt.Sprintf("it reports %s, the refund is %s", moneyText(ev.Amount), own))
	}
	if len(diffs) == 0 {
		status := RefundSucceeded
		if ev.Type == providers.EventRefundFailed {
			status = RefundFailed
		}
		err := moveRefund(ctx, tx, l, ev.Refund, status, "", ev.FailureReason)
		if errors.Is(err, errRefused) {
			err = nil // a repeat, or a refund final already
		}
		return RefundEventApplied, err
	}
	what := "refunded"
	if ev.Type == providers.EventRefundFailed {
		what = "refund failed"
	}
	err = OpenItem(ctx, tx, Item{
		Kind: MismatchedRefund, Reference: p.Provider + ":" + ev.ID, PaymentOrder: p.PaymentOrder, Attempt: p.Attempt,
		Provider: p.Provider, Amount: ev.Amount,
		Description: fmt.Sprintf("%s event %s (%s, %s) names refund %s (%s, %s), but %s; the refund and the ledger are unchanged",
			p.Provider, ev.ID, ev.ProviderType, what, cur.ID, cur.Status, cur.UserID, strings.Join(diffs, "; ")),
	})
	return RefundEventMismatch, err
}

// moneyText shows an amount of an outside event, which may have none.
func moneyText(m paygate.Money) string {
	if m.Currency == "" {
		return "no amount"
	}
	return m.String()
}

// refundsByID returns refunds in the order of ids.
func refundsByID(ctx context.Context, tx *storage.Tx, ids []string) ([]SourceRefund, error) {
	out := make([]SourceRefund, 0, len(ids))
	for _, id := range ids {
		var sr SourceRefund
		if err := tx.Get(ctx, &sr, `SELECT id, user_id, attempt, provider, payment_ref, amount, currency, status, provider_refund, failure_reason, reason, created_at
			FROM source_refunds WHERE id = ?`, id); err != nil {
			return nil, fmt.Errorf("finance: refund %s: %w", id, err)
		}
		sr.Amount = paygate.New(sr.Minor, paygate.Currency(sr.Currency)).Amount()
		sr.CreatedAt = sr.CreatedAt.UTC()
		out = append(out, sr)
	}
	return out, nil
}

// SourceRefunds lists a user's refunds to source, newest first.
func SourceRefunds(ctx context.Context, tx *storage.Tx, userID string) ([]SourceRefund, error) {
	var out []SourceRefund
	if err := tx.Select(ctx, &out, `SELECT id, user_id, attempt, provider, payment_ref, amount, currency, status, provider_refund, failure_reason, created_at
		FROM source_refunds WHERE user_id = ? ORDER BY created_at DESC, id`, userID); err != nil {
		return nil, fmt.Errorf("finance: refunds of %s: %w", userID, err)
	}
	for i := range out {
		out[i].Amount = paygate.New(out[i].Minor, paygate.Currency(out[i].Currency)).Amount()
		out[i].CreatedAt = out[i].CreatedAt.UTC()
	}
	return out, nil
}

// Payout is a manual bank payout of a user's balance. A payout is no
// state machine: it has no status and is recorded once, done (finance
// paid it by hand before recording it); a second request with its key
// changes nothing. So it has no door of its own, unlike a SourceRefund.
type Payout struct {
	ID            string    `json:"id"`
	UserID        string    `json:"user_id"`
	Amount        string    `json:"amount"`
	Currency      string    `json:"currency"`
	Beneficiary   string    `json:"beneficiary"`
	BankReference string    `json:"bank_reference"`
	CreatedAt     time.Time `json:"created_at"`
}

// ManualPayout records that finance paid part of a user's balance to their
// bank by hand (for a method without refunds): the balance is debited to
// bank:settlement at once, where reconciliation finds it. requestKey, if
// not "", is recorded with the payout as ToSource records it: a request
// with the same key gets the same payout and debits nothing more.
func (r *Refunds) ManualPayout(ctx context.Context, requestKey, userID string, amount paygate.Money, beneficiary, bankRef string) (Payout, error) {
	beneficiary, bankRef = strings.TrimSpace(beneficiary), strings.TrimSpace(bankRef)
	switch {
	case amount.Minor <= 0:
		return Payout{}, paygate.Errorf(paygate.EINVALID, "amount must be more than zero")
	case beneficiary == "" || len(beneficiary) > 200:
		return Payout{}, paygate.Errorf(paygate.EINVALID, "beneficiary is required (at most 200 characters)")
	case bankRef == "" || len(bankRef) > 100:
		return Payout{}, paygate.Errorf(paygate.EINVALID, "bank_reference is required (at most 100 characters)")
	}
	// The API's JSON decoding refuses these already; the finance pages'
	// form reaches here directly.
	if err := paygate.CheckText("beneficiary", beneficiary); err != nil {
		return Payout{}, err
	}
	if err := paygate.CheckText("bank_reference", bankRef); err != nil {
		return Payout{}, err
	}
	id, err := r.newID("pay_")
	if err != nil {
		return Payout{}, err
	}
	var p Payout
	err = r.DB.Update(ctx, func(tx *storage.Tx) error {
		if requestKey != "" {
			done, ok, err := idempotency.Effect(ctx, tx, requestKey)
			if err != nil {
				return err
			}
			if ok {
				p, err = payoutByID(ctx, tx, done)
				return err
			}
		}
		if err := idempotency.RecordEffect(ctx, tx, requestKey, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO manual_payouts (id, user_id, amount, currency, beneficiary, bank_reference, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, userID, amount.Minor, string(amount.Currency), beneficiary, bankRef, tx.Now()); err != nil {
			return err
		}
		_, err := r.Ledger.Post(ctx, tx, ledger.Transfer("payout:"+id, "manual bank payout "+bankRef+" to "+beneficiary,
			ledger.UserBalance(userID), ledger.BankSettlement, amount))
		var short *ledger.InsufficientFundsError
		if errors.As(err, &short) {
			return paygate.Errorf(paygate.EINSUFFICIENT, "the balance of %s (%s) does not cover %s", userID, short.Available, amount)
		}
		if err != nil {
			return err
		}
		p = Payout{ID: id, UserID: userID, Amount: amount.Amount(), Currency: string(amount.Currency),
			Beneficiary: beneficiary, BankReference: bankRef, CreatedAt: tx.Now()}
		return Audit(ctx, tx, ActionManualPayout, userID, "", fmt.Sprintf("%s %s to %s (%s)", id, amount, beneficiary, bankRef), "")
	})
	return p, err
}

// payoutByID returns a recorded payout.
func payoutByID(ctx context.Context, tx *storage.Tx, id string) (Payout, error) {
	var row struct {
		ID            string    `db:"id"`
		UserID        string    `db:"user_id"`
		Amount        int64     `db:"amount"`
		Currency      string    `db:"currency"`
		Beneficiary   string    `db:"beneficiary"`
		BankReference string    `db:"bank_reference"`
		CreatedAt     time.Time `db:"created_at"`
	}
	if err := tx.Get(ctx, &row, `SELECT id, user_id, amount, currency, beneficiary, bank_reference, created_at FROM manual_payouts WHERE id = ?`, id); err != nil {
		return Payout{}, fmt.Errorf("finance: payout %s: %w", id, err)
	}
	return Payout{ID: row.ID, UserID: row.UserID, Amount: paygate.New(row.Amount, paygate.Currency(row.Currency)).Amount(), Currency: row.Currency,
		Beneficiary: row.Beneficiary, BankReference: row.BankReference, CreatedAt: row.CreatedAt.UTC()}, nil
}

// Explained reports whether paygate's own refunds of a payment that did not
// fail add up to at least amount. It is only for an event whose amount is
// everything refunded of the payment so far (Stripe's charge.refunded,
// providers.Event.RefundedTotal): such an event is about paygate's refunds
// when they explain it. An event about one refund that names none of
// paygate's is a refund paygate did not make, whatever its size.
func Explained(ctx context.Context, tx *storage.Tx, provider, paymentRef string, amount paygate.Money) (bool, error) {
	var sum int64
	if err := tx.Get(ctx, &sum, `SELECT COALESCE(SUM(amount), 0) FROM source_refunds
		WHERE provider = ? AND payment_ref = ? AND currency = ? AND status <> ?`,
		provider, paymentRef, string(amount.Currency), RefundFailed); err != nil {
		return false, fmt.Errorf("finance: refunds of %s: %w", paymentRef, err)
	}
	return sum > 0 && sum >= amount.Minor, nil
}
