package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// The API's JSON, as far as the flow reads it.

type salesOrderJSON struct {
	Number   string `json:"number"`
	Status   string `json:"status"`
	SellerID string `json:"seller_id"`
	Amount   string `json:"amount"`
}

type paymentOrderJSON struct {
	Number   string           `json:"number"`
	Status   string           `json:"status"`
	BuyerID  string           `json:"buyer_id"`
	Amount   string           `json:"amount"`
	Currency string           `json:"currency"`
	Items    []salesOrderJSON `json:"items"`
}

type attemptJSON struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	ProviderRef string `json:"provider_ref"`
	NextAction  struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"next_action"`
}

// boletoPayer is the payer a Boleto needs: a valid CPF and an address in
// Brazil.
func boletoPayer() map[string]any {
	return map[string]any{
		"name": "Maria Silva", "email": "maria@example.com", "tax_id": "529.982.247-25",
		"address": map[string]any{"line1": "Av. Paulista 1000", "city": "São Paulo", "state": "SP", "postal_code": "01310-100", "country": "BR"},
	}
}

// plannedItem is one sales order of a planned order.
type plannedItem struct {
	seller int
	amount paygate.Money
}

// plan is what an order will be, drawn before it starts.
type plan struct {
	index  int64
	method int // index into config.methods
	buyer  int
	items  []plannedItem
}

// planOrder draws the order of index i: methods in turn, a buyer in turn,
// sellers and amounts at random from the run's seed.
func (b *bench) planOrder(i int64) plan {
	rng := rand.New(rand.NewPCG(b.cfg.seed, uint64(i)))
	p := plan{index: i, method: int(i % int64(len(b.cfg.methods))), buyer: int(i % int64(b.cfg.buyers))}
	cur := b.cfg.methods[p.method].Currency
	exp, _ := cur.Exponent()
	for range b.cfg.items {
		minor := 100 + rng.Int64N(19901) // 1.00 to 200.00
		if exp == 0 {
			minor *= 10 // 1,000 to 200,000 won
		}
		p.items = append(p.items, plannedItem{seller: rng.IntN(b.cfg.sellers), amount: paygate.New(minor, cur)})
	}
	return p
}

func (b *bench) sellerID(i int) string { return fmt.Sprintf("pb-%s-s%d", b.cfg.runID, i) }
func (b *bench) buyerID(i int) string  { return fmt.Sprintf("pb-%s-b%d", b.cfg.runID, i) }

// idem returns the Idempotency-Key of one request of order i.
func (b *bench) idem(i int64, what string) string {
	return fmt.Sprintf("pb-%s-%d-%s", b.cfg.runID, i, what)
}

// stepFailed is an order's failure at one step, already counted.
type stepFailed struct {
	step step
	err  error
}

func (e *stepFailed) Error() string { return e.step.String() + ": " + e.err.Error() }
func (e *stepFailed) Unwrap() error { return e.err }

// timed runs one step, records its duration or its failure, and returns
// the error as a *stepFailed.
func (b *bench) timed(p plan, st step, fn func() (int, error)) error {
	start := time.Now()
	retries, err := fn()
	if err != nil {
		b.stats.fail(p.method, st, retries, err)
		return &stepFailed{st, err}
	}
	b.stats.observe(p.method, st, time.Since(start), retries)
	return nil
}

// runOrder carries one order through every step. The order is complete
// when it returns nil.
func (b *bench) runOrder(ctx context.Context, p plan) error {
	start := time.Now()
	mi := b.cfg.methods[p.method]
	po, ks, err := b.create(ctx, p)
	if err != nil {
		return err
	}
	a, err := b.startAttempt(ctx, p, mi, po.Number)
	if err != nil {
		return err
	}
	returnURL, err := b.approve(ctx, p, mi, po.Number, a)
	if err != nil {
		return err
	}
	approved := time.Now()
	if returnURL != "" {
		err := b.timed(p, stepReturn, func() (int, error) {
			_, n, err := b.client.do(ctx, request{method: http.MethodGet, url: returnURL, want: http.StatusOK, replayable: true}, nil)
			return n, err
		})
		if err != nil {
			return err
		}
	}
	if err := b.waitPaid(ctx, p, po.Number, approved); err != nil {
		return err
	}
	for i, k := range ks {
		if err := b.act(ctx, p, k, "deliver", b.sellerID(p.items[i].seller), "waiting_confirmation"); err != nil {
			return err
		}
	}
	for _, k := range ks {
		if err := b.act(ctx, p, k, "confirm", b.buyerID(p.buyer), "completed"); err != nil {
			return err
		}
	}
	b.stats.observe(p.method, stepOrder, time.Since(start), 0)
	b.done.add(b, p, po.Number, ks)
	return nil
}

// salesOrders returns the numbers of the order's sales orders in the
// plan's order, matching each planned item to one of the answer's by
// seller and amount.
func (b *bench) salesOrders(p plan, items []salesOrderJSON) ([]string, error) {
	if len(items) != len(p.items) {
		return nil, fmt.Errorf("%d items, want %d", len(items), len(p.items))
	}
	used := make([]bool, len(items))
	ks := make([]string, len(p.items))
	for i, it := range p.items {
		for j, so := range items {
			if !used[j] && so.SellerID == b.sellerID(it.seller) && so.Amount == it.amount.Amount() {
				used[j], ks[i] = true, so.Number
				break
			}
		}
		if ks[i] == "" {
			return nil, fmt.Errorf("no item of seller %s for %s %s", b.sellerID(it.seller), it.amount.Amount(), it.amount.Currency)
		}
	}
	return ks, nil
}

// create creates the payment order, checks the answer against the plan,
// and returns the numbers of its sales orders in the plan's order.
func (b *bench) create(ctx context.Context, p plan) (paymentOrderJSON, []string, error) {
	cur := b.cfg.methods[p.method].Currency
	items := make([]map[string]string, len(p.items))
	for i, it := range p.items {
		items[i] = map[string]string{"seller_id": b.sellerID(it.seller), "amount": it.amount.Amount(), "description": fmt.Sprintf("paybench item %d", i+1)}
	}
	body := map[string]any{"buyer_id": b.buyerID(p.buyer), "currency": cur, "items": items}
	var po paymentOrderJSON
	var ks []string
	err := b.timed(p, stepCreate, func() (int, error) {
		_, n, err := b.client.do(ctx, request{method: http.MethodPost, url: "/v1/payment-orders", key: b.cfg.apiKey,
			idem: b.idem(p.index, "create"), json: body, want: http.StatusCreated, replayable: true}, &po)
		switch {
		case err != nil:
		case po.Status != "created" || po.Currency != string(cur):
			err = fmt.Errorf("payment order %s is %s in %s, want created in %s", po.Number, po.Status, po.Currency, cur)
		default:
			if ks, err = b.salesOrders(p, po.Items); err != nil {
				err = fmt.Errorf("payment order %s: %w", po.Number, err)
			}
		}
		return n, err
	})
	return po, ks, err
}

// startAttempt starts the attempt of the plan's method.
func (b *bench) startAttempt(ctx context.Context, p plan, mi providers.MethodInfo, number string) (attemptJSON, error) {
	body := map[string]any{"method": mi.Method}
	if mi.NeedsPayer {
		body["payer"] = boletoPayer()
	}
	var a attemptJSON
	err := b.timed(p, stepAttempt, func() (int, error) {
		_, n, err := b.client.do(ctx, request{method: http.MethodPost, url: "/v1/payment-orders/" + number + "/attempts", key: b.cfg.apiKey,
			idem: b.idem(p.index, "attempt"), json: body, want: http.StatusCreated, replayable: true}, &a)
		if err == nil && (a.Status != "pending" || a.NextAction.Type != string(mi.Action)) {
			err = fmt.Errorf("attempt %s of %s is %s with next action %q, want pending with %q", a.ID, number, a.Status, a.NextAction.Type, mi.Action)
		}
		return n, err
	})
	return a, err
}

// approve does what the buyer does at the provider for the attempt's next
// action, and returns where the provider sends the buyer back to ("" if
// nowhere).
//
//   - redirect (iDEAL at Stripe, KakaoPay and Samsung Pay at Rapyd): the
//     hosted page's Approve form posts to the page's URL + "/approve"
//     (iDEAL's with the bank chosen, Samsung Pay's with an optional phone
//     number); the answer is a 303 to paygate's return page.
//   - voucher (Boleto): the voucher page's "pay at a bank" form posts to
//     its URL + "/pay"; the answer is a page.
//   - qr (PayNow): a bank app scans the code. The API does not hand out the
//     simulator's bank-app page, so this is the sandbox's test helper, POST
//     /sandbox/payment-orders/{P}/approve, which approves at the simulator
//     just as that page does.
//
// No form of the simulators carries a CSRF token, so the pages are not
// fetched first: a GET of the provider's page would measure the provider.
func (b *bench) approve(ctx context.Context, p plan, mi providers.MethodInfo, number string, a attemptJSON) (string, error) {
	var r request
	switch mi.Action {
	case providers.ActionRedirect:
		action, err := formAction(a.NextAction.URL, "approve")
		if err != nil {
			b.stats.fail(p.method, stepApprove, 0, err)
			return "", &stepFailed{stepApprove, err}
		}
		r = request{method: http.MethodPost, url: action, form: url.Values{}, want: http.StatusSeeOther}
		switch mi.Method {
		case providers.IDEAL:
			r.form.Set("bank", "abn_amro") // the bank the page selects first
		case providers.SamsungPay:
			r.form.Set("phone", "010-1234-5678")
		}
	case providers.ActionVoucher:
		action, err := formAction(a.NextAction.URL, "pay")
		if err != nil {
			b.stats.fail(p.method, stepApprove, 0, err)
			return "", &stepFailed{stepApprove, err}
		}
		r = request{method: http.MethodPost, url: action, form: url.Values{}, want: http.StatusOK}
	case providers.ActionQR:
		r = request{method: http.MethodPost, url: "/sandbox/payment-orders/" + number + "/approve", key: b.cfg.apiKey,
			want: http.StatusOK, replayable: true}
	default:
		err := fmt.Errorf("method %s has next action %q, which paybench cannot approve", mi.Method, mi.Action)
		b.stats.fail(p.method, stepApprove, 0, err)
		return "", &stepFailed{stepApprove, err}
	}
	var back string
	err := b.timed(p, stepApprove, func() (int, error) {
		resp, n, err := b.client.do(ctx, r, nil)
		back = resp.location
		if err == nil && r.want == http.StatusSeeOther && back == "" {
			err = fmt.Errorf("approve %s: a 303 without a valid Location", number)
		}
		return n, err
	})
	return back, err
}

// formAction returns the action of a hosted page's form, which the
// simulators write relative to the page as "{id}/{action}": the page's URL
// with "/action" added to its path.
func formAction(page, action string) (string, error) {
	u, err := url.Parse(page)
	if err != nil || u.Path == "" || path.Base(u.Path) == "/" {
		return "", fmt.Errorf("next action URL %q is not a page", page)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + action
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// waitPaid reads the payment order until it is paid, with a short backoff:
// the sandbox's webhooks usually settle it before the approval is answered,
// and the janitor and the inbox's retries settle it later when they were
// lost or failed. The step's time counts from since, the approval's answer.
func (b *bench) waitPaid(ctx context.Context, p plan, number string, since time.Time) error {
	var po paymentOrderJSON
	start := time.Now()
	retries := 0
	wait := time.Millisecond
	for {
		b.stats.polls.Add(1)
		_, n, err := b.client.do(ctx, request{method: http.MethodGet, url: "/v1/payment-orders/" + number, key: b.cfg.apiKey,
			want: http.StatusOK, replayable: true}, &po)
		retries += n
		switch {
		case err != nil:
		case po.Status == "paid":
			if len(po.Items) != len(p.items) {
				err = fmt.Errorf("paid payment order %s has %d items, want %d", number, len(po.Items), len(p.items))
				break
			}
			b.stats.observe(p.method, stepSettle, time.Since(since), retries)
			return nil
		case po.Status != "pending":
			err = fmt.Errorf("payment order %s is %s after its approval, want paid", number, po.Status)
		case time.Since(start) > b.cfg.settleWait:
			err = fmt.Errorf("payment order %s is still %s %v after its approval", number, po.Status, b.cfg.settleWait)
		}
		if err != nil {
			b.stats.fail(p.method, stepSettle, retries, err)
			return &stepFailed{stepSettle, err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			b.stats.fail(p.method, stepSettle, retries, ctx.Err())
			return &stepFailed{stepSettle, ctx.Err()}
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// act posts a sales order action as user and checks the status it leads to.
func (b *bench) act(ctx context.Context, p plan, k, action, user, want string) error {
	st := stepDeliver
	if action == "confirm" {
		st = stepConfirm
	}
	return b.timed(p, st, func() (int, error) {
		var so salesOrderJSON
		_, n, err := b.client.do(ctx, request{method: http.MethodPost, url: "/v1/sales-orders/" + k + "/" + action, key: b.cfg.apiKey,
			idem: b.idem(p.index, action+"-"+k), json: map[string]string{"user_id": user}, want: http.StatusOK, replayable: true}, &so)
		if err == nil && so.Status != want {
			err = fmt.Errorf("sales order %s is %s after %s, want %s", k, so.Status, action, want)
		}
		return n, err
	})
}
