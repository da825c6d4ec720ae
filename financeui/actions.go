package financeui

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// The open items' forms' fields, and the cookie that carries an action's
// result to the page it redirects to.
const (
	fieldItemReason  = "reason"
	fieldAmount      = "amount"
	fieldSalesOrder  = "sales_order"
	fieldPaymentRef  = "payment_ref"
	fieldFormKey     = "form_key"
	fieldBeneficiary = "beneficiary"
	fieldBankRef     = "bank_reference"
	flashCookie      = "paygate_finance_flash"
	itemsPath        = "/finance/items"
)

// itemView is an open item with its payment order's audit trail and what
// its actions need.
type itemView struct {
	finance.Item
	Audit []finance.AuditEntry
	// Disputed are the item's payment order's sales orders in dispute,
	// each with a Resolve form.
	Disputed []orders.SalesOrder
	// SettleRef is an unknown payment's provider reference (the item's
	// payment_ref column), for "Settle from provider"; "" for other items.
	SettleRef string
	// Refundable: a late payment, credited to the buyer's balance, whose
	// buyer has a payment in its currency that the provider that took it
	// can refund to source (UI.refundable): not a Stripe Boleto, whose
	// money goes back by manual payout.
	Refundable bool
	// PayableOut: a late payment, which finance staff may send back by a
	// manual bank payout they record here.
	PayableOut bool
}

// latePayment reports whether it is a late payment of a known payment
// order: money on its buyer's balance that a refund or payout sends back.
func latePayment(it finance.Item) bool {
	return it.Kind == finance.LatePayment && it.PaymentOrder != ""
}

// refundable reports whether the buyer of late payment it has a payment
// in its currency that can be refunded to its source: one whose provider,
// the one that took the money, refunds its method (finance
// Refunds.CanRefund). Not a Stripe Boleto: its money goes back by manual
// payout.
func (u *UI) refundable(ctx context.Context, it finance.Item) (bool, error) {
	if !latePayment(it) {
		return false, nil
	}
	po, err := u.Checkout.Get(ctx, paygate.PaymentOrderNumber(it.PaymentOrder))
	if err != nil {
		return false, err
	}
	return u.Refunds.CanRefund(ctx, po.BuyerID, it.Amount.Currency)
}

func (u *UI) handleItems(w http.ResponseWriter, r *http.Request, csrf string) {
	msg := ""
	if c, err := r.Cookie(flashCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			msg = string(b)
		}
		http.SetCookie(w, u.cookie(flashCookie, "", -1, http.SameSiteStrictMode))
	}
	u.itemsPage(w, r, http.StatusOK, csrf, msg, "")
}

// itemsPage shows the open items with a message or an error.
func (u *UI) itemsPage(w http.ResponseWriter, r *http.Request, status int, csrf, msg, errMsg string) {
	out, err := u.openItems(r.Context())
	if err != nil {
		u.failed(w, r, err)
		return
	}
	u.render(w, r, status, "items", view{Title: "Open items", Nav: "items", CSRF: csrf, Data: out, Message: msg, Error: errMsg})
}

func (u *UI) openItems(ctx context.Context) ([]itemView, error) {
	var out []itemView
	err := u.DB.View(ctx, func(tx *storage.Tx) error {
		out = nil
		items, err := finance.Items(ctx, tx, finance.Open, 0, maxItems)
		if err != nil {
			return err
		}
		trails := map[string][]finance.AuditEntry{}
		disputed := map[string][]orders.SalesOrder{}
		for _, it := range items {
			late := latePayment(it)
			v := itemView{Item: it, PayableOut: late, SettleRef: settleRef(it)}
			if it.PaymentOrder != "" {
				a, ok := trails[it.PaymentOrder]
				if !ok {
					if a, err = finance.AuditLog(ctx, tx, it.PaymentOrder, 0, maxAudit); err != nil {
						return err
					}
					trails[it.PaymentOrder] = a
					sos, err := orders.OfPaymentOrder(ctx, tx, paygate.PaymentOrderNumber(it.PaymentOrder))
					if err != nil {
						return err
					}
					for _, so := range sos {
						if so.Status == orders.Disputed {
							disputed[it.PaymentOrder] = append(disputed[it.PaymentOrder], so)
						}
					}
				}
				v.Audit, v.Disputed = a, disputed[it.PaymentOrder]
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Outside the view: each reads in its own transaction.
	for i := range out {
		if out[i].Refundable, err = u.refundable(ctx, out[i].Item); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// settleRef returns the provider payment an unknown payment's item is
// about, which "Settle from provider" polls, or "" for any other item.
func settleRef(it finance.Item) string {
	if it.Kind != finance.UnknownPayment || it.Provider == "" {
		return ""
	}
	return it.PaymentRef
}

// itemAction does one action on an open item with the posted form and
// returns the message to show. Its context names the staff member. key,
// if not "", is the form's key: the action records its message under it
// (idempotency.RecordEffect) in the transaction that ends it, and gives
// key-derived request keys to the money it moves, so that the form
// submitted again moves nothing more.
type itemAction func(ctx context.Context, it finance.Item, form url.Values, key string) (string, error)

// formKeyPattern is what nonce makes.
var formKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// action checks an item form's origin and CSRF field, runs f, and
// redirects (303) to the items page with f's message, or shows the page
// with f's error: a 4xx for what the staff member can fix, a 5xx otherwise.
//
// Each form carries a key made when the page was rendered (form_key). A
// form submitted again with its key (a double click, a retry after a
// crash) gets the first submit's message, and moves no money twice: what
// the first submit did is found by the key.
func (u *UI) action(f itemAction) func(w http.ResponseWriter, r *http.Request, csrf string) {
	return func(w http.ResponseWriter, r *http.Request, csrf string) {
		ctx := r.Context()
		l := server.Logger(ctx)
		err := r.ParseForm()
		if field := r.PostForm.Get(fieldCSRF); err != nil || !u.sameOrigin(r) || field == "" ||
			subtle.ConstantTimeCompare([]byte(field), []byte(csrf)) != 1 {
			l.Warn().Str(fieldReason, "csrf").Msg("finance action refused")
			u.itemsPage(w, r, http.StatusForbidden, csrf, "", "The form expired or came from another site. Nothing was changed.")
			return
		}
		key := ""
		if fk := r.PostForm.Get(fieldFormKey); fk != "" {
			if !formKeyPattern.MatchString(fk) {
				u.itemsPage(w, r, http.StatusBadRequest, csrf, "", "The form is damaged (its key). Reload the page. Nothing was changed.")
				return
			}
			key = "financeui:" + fk
		}
		if msg, ok := u.done(ctx, key); ok {
			u.succeeded(w, r, msg)
			return
		}
		id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
		var it finance.Item
		if err != nil {
			err = paygate.Errorf(paygate.ENOTFOUND, "no such item")
		} else {
			err = u.DB.View(ctx, func(tx *storage.Tx) error {
				it, err = finance.GetItem(ctx, tx, id)
				return err
			})
		}
		if err == nil && it.Status != finance.Open {
			err = paygate.Errorf(paygate.ECONFLICT, "item #%d is already %s", it.ID, it.Status)
		}
		var msg string
		if err == nil {
			msg, err = f(ctx, it, r.PostForm, key)
		}
		if err != nil {
			// The same form submitted at once: the other submit did it.
			if done, ok := u.done(ctx, key); ok {
				u.succeeded(w, r, done)
				return
			}
			status := server.ErrorStatus(err)
			if status >= http.StatusInternalServerError {
				u.failed(w, r, err)
				return
			}
			u.itemsPage(w, r, status, csrf, "", paygate.ErrorMessage(err))
			return
		}
		u.succeeded(w, r, msg)
	}
}

// succeeded redirects (303) to the items page, which shows msg.
func (u *UI) succeeded(w http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(w, u.cookie(flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60, http.SameSiteStrictMode))
	u.headers(w)
	http.Redirect(w, r, itemsPath, http.StatusSeeOther)
}

// done returns the message of the form submitted with key before, if any.
func (u *UI) done(ctx context.Context, key string) (string, bool) {
	if key == "" {
		return "", false
	}
	var msg string
	var ok bool
	err := u.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		msg, ok, err = idempotency.Effect(ctx, tx, key)
		return err
	})
	if err != nil {
		l := server.Logger(ctx)
		l.Error().Err(err).Msg("read a form's effect")
	}
	return msg, ok && err == nil
}

// record records, in tx, msg as the effect of the form submitted with key.
func record(ctx context.Context, tx *storage.Tx, key, msg string) error {
	return idempotency.RecordEffect(ctx, tx, key, msg)
}

// subKey is the request key of one money move of the form with key.
func subKey(key, move string) string {
	if key == "" {
		return ""
	}
	return key + ":" + move
}

// reason is the form's reason, required.
func reason(form url.Values) (string, error) {
	s := strings.TrimSpace(form.Get(fieldItemReason))
	if s == "" {
		return "", paygate.Errorf(paygate.EINVALID, "please give a reason")
	}
	// As the API refuses control characters in JSON, the pages refuse them
	// in a reason: PostgreSQL cannot store NUL.
	return s, paygate.CheckText("reason", s)
}

// resolve marks it resolved in its own transaction, with msg as the
// effect of the form of key.
func (u *UI) resolve(ctx context.Context, it finance.Item, why, key, msg string) error {
	return u.DB.Update(ctx, func(tx *storage.Tx) error {
		if err := finance.ResolveItem(ctx, tx, it.ID, why); err != nil {
			return err
		}
		return record(ctx, tx, key, msg)
	})
}

// markResolved closes an item with a reason and nothing else.
func (u *UI) markResolved(ctx context.Context, it finance.Item, form url.Values, key string) (string, error) {
	why, err := reason(form)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Item #%d marked resolved.", it.ID)
	if err := u.resolve(ctx, it, why, key, msg); err != nil {
		return "", err
	}
	return msg, nil
}

// resolveDispute splits a disputed sales order of the item's payment order
// (orders Resolve) and closes the item when none of them is disputed any
// more.
func (u *UI) resolveDispute(ctx context.Context, it finance.Item, form url.Values, key string) (string, error) {
	why, err := reason(form)
	if err != nil {
		return "", err
	}
	k := paygate.SalesOrderNumber(form.Get(fieldSalesOrder))
	var so orders.SalesOrder
	err = u.DB.View(ctx, func(tx *storage.Tx) error {
		so, err = orders.Get(ctx, tx, k)
		return err
	})
	if err != nil {
		return "", err
	}
	if it.PaymentOrder == "" || string(so.PaymentOrder) != it.PaymentOrder {
		return "", paygate.Errorf(paygate.EINVALID, "sales order %s is not of item #%d's payment order", k, it.ID)
	}
	refund, err := paygate.ParseMoney(strings.TrimSpace(form.Get(fieldAmount)), so.Amount.Currency)
	if err != nil {
		return "", paygate.Errorf(paygate.EINVALID, "refund amount: %s", paygate.ErrorMessage(err))
	}
	out, err := u.Lifecycle.Act(ctx, k, orders.Request{Action: orders.Resolve, Actor: orders.ActorFinance, RefundAmount: refund, Description: why,
		RequestKey: subKey(key, "resolve")})
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Sales order %s resolved: %s refunded to the buyer, now %s.", k, refund, out.Status)
	var left int
	err = u.DB.View(ctx, func(tx *storage.Tx) error {
		sos, err := orders.OfPaymentOrder(ctx, tx, so.PaymentOrder)
		for _, s := range sos {
			if s.Status == orders.Disputed {
				left++
			}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if left == 0 {
		msg += fmt.Sprintf(" Item #%d resolved.", it.ID)
		if err := u.resolve(ctx, it, fmt.Sprintf("dispute of %s resolved (%s refunded): %s", k, refund, why), key, msg); err != nil {
			return "", err
		}
		return msg, nil
	}
	if err := u.DB.Update(ctx, func(tx *storage.Tx) error { return record(ctx, tx, key, msg) }); err != nil {
		return "", err
	}
	return msg, nil
}

// settle is recon's settle-payment from the page: the attempt of the
// item's payment reference is settled from its provider's own status; the
// item closes when its payment order is paid. The form's payment_ref must
// be the item's own: an item is never closed on another payment's status.
func (u *UI) settle(ctx context.Context, it finance.Item, form url.Values, key string) (string, error) {
	ref := settleRef(it)
	if ref == "" {
		return "", paygate.Errorf(paygate.EINVALID, "item #%d names no provider payment to settle", it.ID)
	}
	if got := strings.TrimSpace(form.Get(fieldPaymentRef)); got != ref {
		return "", paygate.Errorf(paygate.EINVALID, "the form names another payment than item #%d's (%s)", it.ID, ref)
	}
	var att checkout.Attempt
	err := u.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		att, err = u.Checkout.AttemptByRef(ctx, tx, it.Provider, ref)
		return err
	})
	if err != nil {
		return "", err
	}
	// The audit entry, the item's resolution and the form's message
	// commit with what the provider's status changed (alone when it
	// changed nothing).
	var po checkout.PaymentOrder
	var msg string
	audited, alone := false, false
	audit := func(ctx context.Context, tx *storage.Tx) error {
		var err error
		if po, err = u.Checkout.OrderIn(ctx, tx, att.PaymentOrder); err != nil {
			return err
		}
		audited = true
		after := fmt.Sprintf("%s (from %s's status of %s)", po.Status, it.Provider, ref)
		if err := finance.Audit(ctx, tx, finance.ActionSettlePayment, string(po.Number), string(att.Status), after, ""); err != nil {
			return err
		}
		msg = fmt.Sprintf("Settled from %s: payment order %s is %s. Item #%d resolved.", it.Provider, po.Number, po.Status, it.ID)
		if po.Status != checkout.Paid {
			msg = fmt.Sprintf("Asked %s: payment order %s is %s (changed: %t); item #%d stays open.", it.Provider, po.Number, po.Status, !alone, it.ID)
		} else if err := finance.ResolveItem(ctx, tx, it.ID, "settled from provider: payment order "+string(po.Number)+" "+after); err != nil {
			return err
		}
		return record(ctx, tx, key, msg)
	}
	_, err = u.Settler.PollThen(ctx, att, audit)
	if err == nil && !audited {
		alone = true
		err = u.DB.Update(ctx, func(tx *storage.Tx) error { return audit(ctx, tx) })
	}
	if err != nil {
		return "", err
	}
	return msg, nil
}

// refund sends part of the late payment's buyer's balance back to their
// payment methods (finance Refunds.ToSource) and closes the item.
func (u *UI) refund(ctx context.Context, it finance.Item, form url.Values, key string) (string, error) {
	if !latePayment(it) {
		return "", paygate.Errorf(paygate.EINVALID, "item #%d is not a late payment", it.ID)
	}
	if ok, err := u.refundable(ctx, it); err != nil {
		return "", err
	} else if !ok {
		return "", paygate.Errorf(paygate.EINVALID, "no %s payment can be refunded to its source: record a manual payout instead", it.Amount.Currency)
	}
	why, err := reason(form)
	if err != nil {
		return "", err
	}
	amount, err := paygate.ParseMoney(strings.TrimSpace(form.Get(fieldAmount)), it.Amount.Currency)
	if err != nil {
		return "", paygate.Errorf(paygate.EINVALID, "amount: %s", paygate.ErrorMessage(err))
	}
	po, err := u.Checkout.Get(ctx, paygate.PaymentOrderNumber(it.PaymentOrder))
	if err != nil {
		return "", err
	}
	refunds, err := u.Refunds.ToSource(ctx, subKey(key, "refund"), po.BuyerID, amount, why)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(refunds))
	for i, r := range refunds {
		ids[i] = r.ID + " " + r.Status
	}
	msg := fmt.Sprintf("Refunded %s of %s's balance to source (%s). Item #%d resolved.", amount, po.BuyerID, strings.Join(ids, ", "), it.ID)
	if err := u.resolve(ctx, it, fmt.Sprintf("%s of %s's balance refunded to source (%s): %s", amount, po.BuyerID, strings.Join(ids, ", "), why), key, msg); err != nil {
		return "", err
	}
	return msg, nil
}

// payout records a manual bank payout of a late payment's buyer's balance
// (finance Refunds.ManualPayout: the balance is debited, the bank transfer
// is finance staff's) and closes the item. For Boleto, whose payments
// cannot be refunded to source, it is the way the money goes back.
func (u *UI) payout(ctx context.Context, it finance.Item, form url.Values, key string) (string, error) {
	if !latePayment(it) {
		return "", paygate.Errorf(paygate.EINVALID, "item #%d is not a late payment", it.ID)
	}
	amount, err := paygate.ParseMoney(strings.TrimSpace(form.Get(fieldAmount)), it.Amount.Currency)
	if err != nil {
		return "", paygate.Errorf(paygate.EINVALID, "amount: %s", paygate.ErrorMessage(err))
	}
	beneficiary, bankRef := form.Get(fieldBeneficiary), form.Get(fieldBankRef)
	po, err := u.Checkout.Get(ctx, paygate.PaymentOrderNumber(it.PaymentOrder))
	if err != nil {
		return "", err
	}
	p, err := u.Refunds.ManualPayout(ctx, subKey(key, "payout"), po.BuyerID, amount, beneficiary, bankRef)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Recorded payout %s of %s from %s's balance to %s (%s). Item #%d resolved.", p.ID, amount, po.BuyerID, strings.TrimSpace(beneficiary), strings.TrimSpace(bankRef), it.ID)
	if err := u.resolve(ctx, it, fmt.Sprintf("manual payout %s of %s to %s (%s)", p.ID, amount, strings.TrimSpace(beneficiary), strings.TrimSpace(bankRef)), key, msg); err != nil {
		return "", err
	}
	return msg, nil
}
