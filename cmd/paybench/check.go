package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"

	"github.com/paygate/paygate"
)

// maxProblems bounds the problems a check lists.
const maxProblems = 20

// checkResult is what the final checks through the API found.
type checkResult struct {
	Orders        int64    `json:"orders"`         // completed orders of the run
	OrdersChecked int      `json:"orders_checked"` // read back (all, or a sample)
	Sellers       int      `json:"sellers"`
	Buyers        int      `json:"buyers"`
	Wrong         int      `json:"wrong"` // orders, sellers and buyers in a wrong state
	Problems      []string `json:"problems,omitempty"`
	// New failed or deferred webhook events and open finance items since
	// the run began (-1: not counted).
	NewFailedEvents int `json:"new_failed_events"`
	NewFinanceItems int `json:"new_finance_items"`
}

func (r *checkResult) problem(format string, args ...any) {
	r.Wrong++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// OK reports whether every check passed.
func (r checkResult) OK() bool { return r.Wrong == 0 }

// finance counts what finance staff would be asked to look at: webhook
// events that failed or were deferred, and open finance items (late,
// mismatched or unknown payments). A clean run adds none.
type financeCounts struct {
	failedEvents int
	openItems    int
}

// countFinance reads the counts through the finance API; maxPages bounds
// the pages of 500 it reads of each list.
func (b *bench) countFinance(ctx context.Context) (financeCounts, error) {
	var fc financeCounts
	for _, status := range []string{"failed", "deferred"} {
		n, err := b.countPages(ctx, "/v1/webhooks/events?limit=500&status="+status, "events")
		if err != nil {
			return fc, err
		}
		fc.failedEvents += n
	}
	n, err := b.countPages(ctx, "/v1/finance/items?limit=500", "items")
	if err != nil {
		return fc, err
	}
	fc.openItems = n
	return fc, nil
}

const maxPages = 200

// countPages counts the elements of a paged finance list.
func (b *bench) countPages(ctx context.Context, path, field string) (int, error) {
	total, after := 0, ""
	for range maxPages {
		u := path
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		var page map[string]any
		if _, _, err := b.client.do(ctx, request{method: http.MethodGet, url: u, key: b.cfg.financeKey, want: http.StatusOK, replayable: true}, &page); err != nil {
			return 0, err
		}
		list, _ := page[field].([]any)
		total += len(list)
		next, _ := page["next"].(string)
		if next == "" {
			return total, nil
		}
		after = next
	}
	return total, fmt.Errorf("count %s: more than %d pages", path, maxPages)
}

// checkAPI reads the run's orders (or a sample of them) and every seller's
// and buyer's balance back through the API: every order must be paid with
// every sales order completed at its amount, every seller must hold what
// its completed sales earned less the commission, and every buyer must
// hold nothing (no money of a payment went to the buyer's balance).
func (b *bench) checkAPI(ctx context.Context, before financeCounts, counted bool) checkResult {
	c := b.done
	c.mu.Lock()
	r := checkResult{Orders: c.n, OrdersChecked: len(c.sample), Sellers: len(c.credits), Buyers: len(c.buyers),
		NewFailedEvents: -1, NewFinanceItems: -1}
	sample := c.sample
	type want struct {
		user   string
		amount map[paygate.Currency]int64
	}
	sellers := make([]want, 0, len(c.credits))
	for s, m := range c.credits {
		sellers = append(sellers, want{s, m})
	}
	buyers := make([]string, 0, len(c.buyers))
	for u := range c.buyers {
		buyers = append(buyers, u)
	}
	c.mu.Unlock()
	sort.Slice(sellers, func(i, j int) bool { return sellers[i].user < sellers[j].user })
	sort.Strings(buyers)

	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		r.problem(format, args...)
	}
	jobs := make(chan func(), b.cfg.concurrency)
	var wg sync.WaitGroup
	for range b.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				job()
			}
		}()
	}
	for _, o := range sample {
		jobs <- func() { b.checkOrder(ctx, o, report) }
	}
	for _, s := range sellers {
		jobs <- func() { b.checkBalance(ctx, s.user, s.amount, report) }
	}
	for _, u := range buyers {
		jobs <- func() { b.checkBalance(ctx, u, nil, report) }
	}
	close(jobs)
	wg.Wait()

	if counted {
		after, err := b.countFinance(ctx)
		switch {
		case err != nil:
			r.problem("count failed webhook events and open finance items: %v", err)
		default:
			r.NewFailedEvents = after.failedEvents - before.failedEvents
			r.NewFinanceItems = after.openItems - before.openItems
			if r.NewFailedEvents > 0 {
				r.problem("%d webhook events failed or were deferred during the run (GET /v1/webhooks/events?status=failed|deferred)", r.NewFailedEvents)
			}
			if r.NewFinanceItems > 0 {
				r.problem("%d finance items were opened during the run (GET /v1/finance/items)", r.NewFinanceItems)
			}
		}
	}
	return r
}

// checkOrder reads one completed order back.
func (b *bench) checkOrder(ctx context.Context, o doneOrder, report func(string, ...any)) {
	var po paymentOrderJSON
	if _, _, err := b.client.do(ctx, request{method: http.MethodGet, url: "/v1/payment-orders/" + o.number, key: b.cfg.apiKey,
		want: http.StatusOK, replayable: true}, &po); err != nil {
		report("payment order %s: %v", o.number, err)
		return
	}
	cur := b.cfg.methods[o.method].Currency
	if po.Status != "paid" || po.BuyerID != o.buyer || po.Currency != string(cur) {
		report("payment order %s is %s for %s in %s, want paid for %s in %s", o.number, po.Status, po.BuyerID, po.Currency, o.buyer, cur)
	}
	status := map[string]salesOrderJSON{}
	for _, so := range po.Items {
		status[so.Number] = so
	}
	for i, k := range o.sales {
		so, ok := status[k]
		switch {
		case !ok:
			report("payment order %s has no sales order %s", o.number, k)
		case so.Status != "completed" || so.Amount != o.amounts[i].Amount():
			report("sales order %s is %s for %s, want completed for %s", k, so.Status, so.Amount, o.amounts[i].Amount())
		}
	}
}

// checkBalance reads a user's balances and compares them with want (minor
// units by currency; nil: nothing).
func (b *bench) checkBalance(ctx context.Context, user string, want map[paygate.Currency]int64, report func(string, ...any)) {
	var out struct {
		Balances []struct {
			Amount   string `json:"amount"`
			Currency string `json:"currency"`
		} `json:"balances"`
	}
	if _, _, err := b.client.do(ctx, request{method: http.MethodGet, url: "/v1/users/" + user + "/balances", key: b.cfg.apiKey,
		want: http.StatusOK, replayable: true}, &out); err != nil {
		report("balances of %s: %v", user, err)
		return
	}
	got := map[paygate.Currency]int64{}
	for _, bal := range out.Balances {
		cur, err := paygate.ParseCurrency(bal.Currency)
		if err != nil {
			report("balance of %s: %v", user, err)
			return
		}
		m, err := paygate.ParseSignedMoney(bal.Amount, cur)
		if err != nil {
			report("balance of %s: %v", user, err)
			return
		}
		got[cur] += m.Minor
	}
	for cur, w := range want {
		if got[cur] != w {
			report("%s holds %s %s, want %s %s (its completed sales less %s bps commission)", user,
				paygate.New(got[cur], cur).Amount(), cur, paygate.New(w, cur).Amount(), cur, strconv.FormatInt(b.cfg.commission, 10))
		}
	}
	for cur, g := range got {
		if _, ok := want[cur]; !ok && g != 0 {
			report("%s holds %s %s, want nothing", user, paygate.New(g, cur).Amount(), cur)
		}
	}
}
