package orders

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
)

// Actors that are not users.
const (
	ActorSystem  = "system"  // a timer, or the payment
	ActorFinance = "finance" // finance staff
)

// Action is what a user (or a timer) does to a sales order.
type Action string

// The actions.
const (
	Deliver       Action = "deliver"        // seller: waiting_delivery → waiting_confirmation
	Confirm       Action = "confirm"        // buyer: waiting_confirmation → completed
	Refund        Action = "refund"         // seller "Refund to Buyer": waiting_delivery|waiting_confirmation → refunded
	RequestRefund Action = "request-refund" // buyer: waiting_delivery|waiting_confirmation → refunding
	AgreeRefund   Action = "agree-refund"   // seller: refunding → refunded
	RefuseRefund  Action = "refuse-refund"  // seller, within the refusal window: refunding → refund_refused
	OpenDispute   Action = "dispute"        // buyer, within the dispute window: refund_refused → disputed
	Resolve       Action = "resolve"        // finance: disputed → refunded | completed (split)
)

// Reasons, from fixed lists.
var (
	sellerRefundReasons = []string{"out_of_stock", "listing_error", "buyer_request", "cannot_deliver", "other"}
	buyerRefundReasons  = []string{"not_received", "not_as_described", "changed_mind", "other"}
	refusalReasons      = []string{"delivered_with_proof", "other"}
)

// Rules are the marketplace's durations and commission.
type Rules struct {
	DeliveryWindow time.Duration // no delivery within it → refunded (default 72 h)
	ConfirmWindow  time.Duration // no confirmation within it after delivery → completed (72 h)
	RefuseWindow   time.Duration // a refund request not answered within it → refunded (24 h)
	DisputeWindow  time.Duration // a refusal not disputed within it → completed (72 h)
	// CommissionBasisPoints is the platform's commission on a completed
	// order, in hundredths of a percent (250 = 2.5 %), rounded down.
	CommissionBasisPoints int64
}

// WithDefaults fills the zero durations with the seed's defaults.
func (r Rules) WithDefaults() Rules {
	if r.DeliveryWindow == 0 {
		r.DeliveryWindow = 72 * time.Hour
	}
	if r.ConfirmWindow == 0 {
		r.ConfirmWindow = 72 * time.Hour
	}
	if r.RefuseWindow == 0 {
		r.RefuseWindow = 24 * time.Hour
	}
	if r.DisputeWindow == 0 {
		r.DisputeWindow = 72 * time.Hour
	}
	return r
}

// Lifecycle moves sales orders through their states with their postings.
type Lifecycle struct {
	DB     *storage.DB
	Ledger *ledger.Ledger
	Rules  Rules
	Logger zerolog.Logger
}

// Request is one action on a sales order.
type Request struct {
	Action      Action
	Actor       string // the acting user's id; ActorFinance for Resolve
	Reason      string
	Description string
	// RefundAmount is, for Resolve, how much goes back to the buyer (0 to
	// the order's amount); the rest goes to the seller.
	RefundAmount paygate.Money
	// RequestKey, if not "", identifies the request (idempotency.RequestKey,
	// or a finance form's key). It is recorded in the action's transaction;
	// a request with the same key (a retry after a crash before its
	// response was stored, a double submit) gets the order as it is now
	// and changes nothing.
	RequestKey string
}

const maxDescriptionLen = 1000

// Act applies one action in one database transaction with its ledger
// posting and history entry. The actor must be the order's buyer or seller
// as the action requires (EFORBIDDEN otherwise); a reason outside the
// action's list is EINVALID; an order in a state that does not allow the
// action, or past the action's window, is ECONFLICT.
func (l *Lifecycle) Act(ctx context.Context, k paygate.SalesOrderNumber, req Request) (SalesOrder, error) {
	var out SalesOrder
	err := l.DB.Update(ctx, func(tx *storage.Tx) error {
		so, err := get(ctx, tx, k, true)
		if err != nil {
			return err
		}
		if req.RequestKey != "" {
			done, ok, err := idempotency.Effect(ctx, tx, req.RequestKey)
			if err != nil {
				return err
			}
			if ok {
				if done != string(k)+" "+string(req.Action) {
					return paygate.Errorf(paygate.ECONFLICT, "the request's key was used for another action (%s)", done)
				}
				out, err = Get(ctx, tx, k)
				return err
			}
		}
		if err := l.check(so, req, tx.Now()); err != nil {
			return err
		}
		if err := l.apply(ctx, tx, so, req); err != nil {
			return err
		}
		if err := idempotency.RecordEffect(ctx, tx, req.RequestKey, string(k)+" "+string(req.Action)); err != nil {
			return err
		}
		out, err = Get(ctx, tx, k)
		if err != nil || req.Action != Resolve {
			return err
		}
		return finance.Audit(ctx, tx, finance.ActionResolveDispute, string(k), string(so.Status),
			fmt.Sprintf("%s; %s refunded to %s, the rest to %s", out.Status, req.RefundAmount, so.BuyerID, so.SellerID), req.Description)
	})
	if err == nil {
		l.Logger.Info().Str("sales_order", string(k)).Str("action", string(req.Action)).Str("status", string(out.Status)).Msg("sales order moved")
	}
	return out, err
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// check says whether req may be applied to so at now.
func (l *Lifecycle) check(so SalesOrder, req Request, now time.Time) error {
	rules := l.Rules.WithDefaults()
	if len(req.Description) > maxDescriptionLen {
		return paygate.Errorf(paygate.EINVALID, "description is longer than %d characters", maxDescriptionLen)
	}
	var who string // "buyer", "seller" or "finance"
	var from []Status
	var reasons []string
	switch req.Action {
	case Deliver:
		who, from = "seller", []Status{WaitingDelivery}
	case Confirm:
		who, from = "buyer", []Status{WaitingConfirmation}
	case Refund:
		who, from, reasons = "seller", []Status{WaitingDelivery, WaitingConfirmation}, sellerRefundReasons
	case RequestRefund:
		who, from, reasons = "buyer", []Status{WaitingDelivery, WaitingConfirmation}, buyerRefundReasons
	case AgreeRefund:
		who, from = "seller", []Status{Refunding}
	case RefuseRefund:
		who, from, reasons = "seller", []Status{Refunding}, refusalReasons
	case OpenDispute:
		who, from = "buyer", []Status{RefundRefused}
	case Resolve:
		who, from = "finance", []Status{Disputed}
	default:
		return paygate.Errorf(paygate.EINVALID, "unknown action %q", req.Action)
	}
	switch {
	case who == "buyer" && req.Actor != so.BuyerID,
		who == "seller" && req.Actor != so.SellerID,
		who == "finance" && req.Actor != ActorFinance:
		return paygate.Errorf(paygate.EFORBIDDEN, "only the %s of sales order %s may %s it", who, so.Number, req.Action)
	}
	if reasons != nil && !oneOf(req.Reason, reasons) {
		return paygate.Errorf(paygate.EINVALID, "reason %q is not one of %s", paygate.Clip(req.Reason, 60), strings.Join(reasons, ", "))
	}
	allowed := false
	for _, f := range from {
		allowed = allowed || so.Status == f
	}
	if !allowed {
		return paygate.Errorf(paygate.ECONFLICT, "sales order %s is %s: it cannot be %s", so.Number, so.Status, pastTense(req.Action))
	}
	switch {
	case req.Action == RefuseRefund && !now.Before(so.StatusAt.Add(rules.RefuseWindow)):
		return paygate.Errorf(paygate.ECONFLICT, "the refund request of %s can no longer be refused: the %s window closed", so.Number, rules.RefuseWindow)
	case req.Action == OpenDispute && !now.Before(so.StatusAt.Add(rules.DisputeWindow)):
		return paygate.Errorf(paygate.ECONFLICT, "the refusal of %s can no longer be disputed: the %s window closed", so.Number, rules.DisputeWindow)
	case req.Action == Resolve:
		if req.RefundAmount.Currency != so.Amount.Currency || req.RefundAmount.Minor < 0 || req.RefundAmount.Minor > so.Amount.Minor {
			return paygate.Errorf(paygate.EINVALID, "refund_amount must be 0 to %s", so.Amount)
		}
	}
	return nil
}

func pastTense(a Action) string {
	switch a {
	case Deliver:
		return "delivered"
	case Confirm:
		return "confirmed"
	case Refund, AgreeRefund:
		return "refunded"
	case RequestRefund:
		return "asked for a refund"
	case RefuseRefund:
		return "refused a refund"
	case OpenDispute:
		return "disputed"
	case Resolve:
		return "resolved"
	}
	return string(a)
}

// apply moves the order and posts what the move means for the money.
func (l *Lifecycle) apply(ctx context.Context, tx *storage.Tx, so SalesOrder, req Request) error {
	st := step{action: string(req.Action), actor: req.Actor, reason: req.Reason, description: req.Description}
	switch req.Action {
	case Deliver:
		return moveOne(ctx, tx, so, WaitingConfirmation, st)
	case RequestRefund:
		return moveOne(ctx, tx, so, Refunding, st)
	case RefuseRefund:
		return moveOne(ctx, tx, so, RefundRefused, st)
	case OpenDispute:
		return moveOne(ctx, tx, so, Disputed, st)
	case Refund, AgreeRefund:
		return l.settle(ctx, tx, so, so.Amount, st)
	case Confirm:
		return l.settle(ctx, tx, so, paygate.New(0, so.Amount.Currency), st)
	case Resolve:
		return l.settle(ctx, tx, so, req.RefundAmount, st)
	}
	return fmt.Errorf("orders: no transition for %s", req.Action)
}

// settle empties the order's escrow: refund to the buyer's balance, the
// rest to the seller's less the commission; the order ends refunded if the
// buyer got it all, completed otherwise.
func (l *Lifecycle) settle(ctx context.Context, tx *storage.Tx, so SalesOrder, refund paygate.Money, st step) error {
	escrow := ledger.Escrow(string(so.Number))
	toSeller := so.Amount.Minor - refund.Minor
	commission := toSeller * l.Rules.CommissionBasisPoints / 10000
	cur := so.Amount.Currency
	t := ledger.Transaction{
		Entries: []ledger.Entry{{Account: escrow, Side: ledger.Debit, Amount: so.Amount}},
	}
	if refund.Minor > 0 {
		t.Entries = append(t.Entries, ledger.Entry{Account: ledger.UserBalance(so.BuyerID), Side: ledger.Credit, Amount: refund})
	}
	if toSeller-commission > 0 {
		t.Entries = append(t.Entries, ledger.Entry{Account: ledger.UserBalance(so.SellerID), Side: ledger.Credit, Amount: paygate.New(toSeller-commission, cur)})
	}
	if commission > 0 {
		t.Entries = append(t.Entries, ledger.Entry{Account: ledger.PlatformCommission, Side: ledger.Credit, Amount: paygate.New(commission, cur)})
	}
	to := Completed
	switch {
	case refund.Minor == so.Amount.Minor:
		to = Refunded
		t.Key, t.Description = "order:"+string(so.Number)+":refunded", fmt.Sprintf("sales order %s refunded (%s)", so.Number, st.action)
	case refund.Minor > 0:
		t.Key, t.Description = "order:"+string(so.Number)+":resolved", fmt.Sprintf("sales order %s resolved: %s to the buyer", so.Number, refund)
	default:
		t.Key, t.Description = "order:"+string(so.Number)+":completed", fmt.Sprintf("sales order %s completed (%s)", so.Number, st.action)
	}
	if _, err := l.Ledger.Post(ctx, tx, t); err != nil {
		return fmt.Errorf("orders: post %s: %w", t.Key, err)
	}
	st.refunded = &refund.Minor
	return moveOne(ctx, tx, so, to, st)
}

// moveOne moves one sales order through transition.
func moveOne(ctx context.Context, tx *storage.Tx, so SalesOrder, to Status, st step) error {
	_, err := transition(ctx, tx, []SalesOrder{so}, to, st)
	return err
}
