package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/storage/storagetest"
)

type eventJSON struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Resource  string          `json:"resource"`
	Sequence  int64           `json:"sequence"`
	Data      json.RawMessage `json:"data"`
}

// events pages through GET /v1/events with key, limit at a time, and
// returns every event.
func (ta *testApp) events(t *testing.T, key string, limit int, query string) []eventJSON {
	t.Helper()
	var all []eventJSON
	after := ""
	for {
		var page struct {
			Events  []eventJSON `json:"events"`
			Next    string      `json:"next"`
			HasMore bool        `json:"has_more"`
		}
		path := fmt.Sprintf("/v1/events?limit=%d%s", limit, query)
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		if s := ta.callWith(t, key, "", "GET", path, nil, &page); s != 200 {
			t.Fatalf("GET %s = %d", path, s)
		}
		all = append(all, page.Events...)
		if len(page.Events) == 0 {
			return all
		}
		after = page.Next
	}
}

// TestEventsOfTheLifecycle: the whole life of orders (every action and
// every timer, a declined attempt, an expiry) yields the listed events, in
// the transaction of each change, with gapless sequences per resource;
// each event's data is the resource as its GET showed it; pages of any
// size give the same events; finance events reach the finance key only.
func TestEventsOfTheLifecycle(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			ta := startAppClock(t, b.DSN(t), appConfig{rules: orders.Rules{CommissionBasisPoints: 250}}, clk.Now)
			ctx := context.Background()
			po := paidOrder(t, ta, 6)
			k := func(i int) string { return po.Items[i].Number }
			seller := func(i int) string { return fmt.Sprintf("S%d", i+1) }

			ta.mustAct(t, k(0), "deliver", map[string]any{"user_id": seller(0)}, "waiting_confirmation")
			ta.mustAct(t, k(0), "confirm", map[string]any{"user_id": "U1"}, "completed")
			ta.mustAct(t, k(1), "refund", map[string]any{"user_id": seller(1), "reason": "out_of_stock"}, "refunded")
			ta.mustAct(t, k(2), "request-refund", map[string]any{"user_id": "U1", "reason": "not_received"}, "refunding")
			ta.mustAct(t, k(2), "agree-refund", map[string]any{"user_id": seller(2)}, "refunded")
			ta.mustAct(t, k(3), "deliver", map[string]any{"user_id": seller(3)}, "waiting_confirmation")
			ta.mustAct(t, k(3), "request-refund", map[string]any{"user_id": "U1", "reason": "not_as_described"}, "refunding")
			ta.mustAct(t, k(3), "refuse-refund", map[string]any{"user_id": seller(3), "reason": "delivered_with_proof"}, "refund_refused")
			ta.mustAct(t, k(3), "dispute", map[string]any{"user_id": "U1"}, "disputed")
			ta.mustAct(t, k(3), "resolve", map[string]any{"refund_amount": "4.00"}, "completed")
			ta.mustAct(t, k(5), "deliver", map[string]any{"user_id": seller(5)}, "waiting_confirmation")
			// A second order: its attempt is declined, then it expires.
			other := ta.createOrder(t, methodCase{method: "paynow", currency: "SGD", amounts: []string{"5.00"}})
			var a attemptJSON
			ta.call(t, "POST", "/v1/payment-orders/"+other.Number+"/attempts", map[string]any{"method": "paynow"}, &a)
			if s := ta.call(t, "POST", "/sandbox/payment-orders/"+other.Number+"/decline", nil, nil); s != 200 {
				t.Fatalf("decline = %d", s)
			}
			ta.waitStatus(t, other.Number, "failed")
			// Timers: k4 not delivered (refunded), k5 not confirmed
			// (completed), the second order expired.
			clk.Advance(73 * time.Hour)
			if _, err := ta.app.sweeper.once(ctx, clk.Now()); err != nil {
				t.Fatal(err)
			}

			got := ta.events(t, testAPIKey, 100, "")
			byResource := map[string][]string{}
			last := map[string]eventJSON{}
			for _, ev := range got {
				byResource[ev.Resource] = append(byResource[ev.Resource], ev.Type)
				if want := int64(len(byResource[ev.Resource])); ev.Sequence != want {
					t.Errorf("%s %s has sequence %d, want %d (gapless, in order)", ev.Resource, ev.Type, ev.Sequence, want)
				}
				if ev.Type == "finance_item.opened" || ev.Type == "reconciliation.completed" {
					t.Errorf("the marketplace key listed %s", ev.Type)
				}
				last[ev.Resource] = ev
			}
			want := map[string][]string{
				po.Number:    {"payment_order.paid"},
				k(0):         {"sales_order.paid", "sales_order.delivered", "sales_order.completed"},
				k(1):         {"sales_order.paid", "sales_order.refunded"},
				k(2):         {"sales_order.paid", "sales_order.refund_requested", "sales_order.refunded"},
				k(3):         {"sales_order.paid", "sales_order.delivered", "sales_order.refund_requested", "sales_order.refund_refused", "sales_order.disputed", "sales_order.resolved"},
				k(4):         {"sales_order.paid", "sales_order.refunded"},
				k(5):         {"sales_order.paid", "sales_order.delivered", "sales_order.completed"},
				other.Number: {"payment_order.failed", "payment_order.expired"},
				// Refunds of k1, k2, k3 (4.00) and k4 to the buyer; the
				// completions of k0, k3 (the rest), k5 to their sellers.
				"U1":      {"balance.credited", "balance.credited", "balance.credited", "balance.credited"},
				seller(0): {"balance.credited"},
				seller(3): {"balance.credited"},
				seller(5): {"balance.credited"},
			}
			for res, types := range want {
				if !reflect.DeepEqual(byResource[res], types) {
					t.Errorf("events of %s = %v, want %v", res, byResource[res], types)
				}
			}
			if len(byResource) != len(want) {
				t.Errorf("events of %d resources, want %d: %v", len(byResource), len(want), byResource)
			}
			// The last event of each sales order carries the order as its GET
			// shows it now; the timer's completion says it was the timer.
			for i := range po.Items {
				var so, data salesOrderJSON
				ta.call(t, "GET", "/v1/sales-orders/"+k(i), nil, &so)
				if err := json.Unmarshal(last[k(i)].Data, &data); err != nil || !reflect.DeepEqual(so, data) {
					t.Errorf("last event of %s carries %+v (%v), GET shows %+v", k(i), data, err, so)
				}
			}
			var k5 salesOrderJSON
			json.Unmarshal(last[k(5)].Data, &k5)
			if h := k5.History[len(k5.History)-1]; h.Action != "timer" || h.Actor != "system" {
				t.Errorf("k5's completion event says %+v, want the timer", h)
			}
			var credit struct{ UserID, Currency, Amount, Reason, Source string }
			for _, ev := range got {
				if ev.Resource == "U1" {
					json.Unmarshal(ev.Data, &credit) // the last: k4's refund by the timer
				}
			}
			if credit.Amount != "10.00" || credit.Currency != "SGD" || credit.Reason != "sales_order_refunded" || credit.Source != k(4) {
				t.Errorf("U1's last balance event = %+v", credit)
			}
			var pay struct {
				Status      string `json:"status"`
				CheckoutURL string `json:"checkout_url"`
			}
			json.Unmarshal(last[other.Number].Data, &pay)
			if pay.Status != "expired" || pay.CheckoutURL != "" {
				t.Errorf("payment_order.expired data = %+v, want expired without the checkout link", pay)
			}
			// No finance event yet: the marketplace listed every event written.
			checkMetrics(t, ta.url, map[string]string{
				"paygate_events_scrape_ok":                                   "1",
				"paygate_events_unsequenced":                                 "0",
				"paygate_events_written_total":                               fmt.Sprint(len(got)),
				`paygate_events_by_type_total{type="payment_order.expired"}`: "1", // the sweep
			})
			// Any page size gives the same events; filters by type and resource.
			if small := ta.events(t, testAPIKey, 3, ""); !reflect.DeepEqual(small, got) {
				t.Errorf("pages of 3 gave %d events, pages of 100 %d", len(small), len(got))
			}
			if only := ta.events(t, testAPIKey, 100, "&type=sales_order.completed,payment_order.expired"); len(only) != 3 {
				t.Errorf("type filter gave %d events, want 3 (k0, k5 completed; the other order expired)", len(only))
			}
			if one := ta.events(t, testAPIKey, 100, "&resource="+k(3)); len(one) != 6 {
				t.Errorf("resource filter gave %d events, want 6", len(one))
			}
			var ev eventJSON
			if s := ta.call(t, "GET", "/v1/events/"+got[0].ID, nil, &ev); s != 200 || ev.ID != got[0].ID || ev.Sequence != got[0].Sequence {
				t.Errorf("GET /v1/events/%s = %d %+v", got[0].ID, s, ev)
			}
			// Finance sees a reconciliation and the items it opened.
			ta.payAndReconcile(t)
			fin := ta.events(t, testFinanceKey, 100, "&type=reconciliation.completed,finance_item.opened")
			kinds := map[string]int{}
			for _, ev := range fin {
				kinds[ev.Type]++
			}
			if kinds["reconciliation.completed"] != 1 || kinds["finance_item.opened"] < 1 {
				t.Errorf("finance events = %v, want a reconciliation and its items", kinds)
			}
			if s := ta.callWith(t, testAPIKey, "", "GET", "/v1/events?type=finance_item.opened", nil, nil); s != 403 {
				t.Errorf("the marketplace asking for finance_item.opened = %d, want 403", s)
			}
		})
	}
}
