package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestCarefulUser: what a careful user hit (issue 16, point 6), on both
// backends: a null or non-object body is a 400 saying a JSON object is
// wanted; the Bearer scheme's name is case-insensitive; a boleto payer's
// state must be Brazilian and the CEP 8 digits; declining or expiring a
// paid order at the sandbox is a 409 that changes nothing.
func TestCarefulUser(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			for _, body := range []string{`null`, `[]`, `"x"`, `7`} {
				var e apiError
				if s := ta.callBad(t, "POST", "/v1/payment-orders", body, &e); s != 400 || !strings.Contains(e.Error.Message, "must be a JSON object") {
					t.Errorf("POST /v1/payment-orders %s = %d %+v, want 400 saying a JSON object is wanted", body, s, e.Error)
				}
			}
			for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
				req, _ := http.NewRequest("GET", ta.url+"/v1/users/U1/balances", nil)
				req.Header.Set("Authorization", scheme+" "+testAPIKey)
				resp, err := ta.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("Authorization: %s <key> = %d, want 200", scheme, resp.StatusCode)
				}
			}
			po := ta.createOrder(t, methodCase{method: "boleto", currency: "BRL", amounts: []string{"50.00"}})
			for _, c := range []struct{ state, cep, want string }{
				{"XX", "01310-100", "state"}, {"São Paulo", "01310-100", "state"}, {"SP", "1", "postal code"}, {"SP", "0131-0100x", "postal code"},
			} {
				var e apiError
				body := map[string]any{"method": "boleto", "payer": map[string]any{"name": "Maria Silva", "email": "maria@example.com", "tax_id": "529.982.247-25",
					"address": map[string]any{"line1": "Av. Paulista 1000", "city": "São Paulo", "state": c.state, "postal_code": c.cep, "country": "BR"}}}
				if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", body, &e); s != 400 || !strings.Contains(e.Error.Message, c.want) {
					t.Errorf("boleto payer state %q CEP %q = %d %+v, want 400 naming the %s", c.state, c.cep, s, e.Error, c.want)
				}
			}
			paid := paidOrder(t, ta, 1)
			for _, action := range []string{"decline", "expire"} {
				var e apiError
				if s := ta.call(t, "POST", "/sandbox/payment-orders/"+paid.Number+"/"+action, nil, &e); s != 409 {
					t.Errorf("%s of a paid order = %d %+v, want 409", action, s, e.Error)
				}
			}
			var after orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+paid.Number, nil, &after)
			if after.Status != "paid" {
				t.Errorf("the paid order is %s after the refused decline and expire", after.Status)
			}
		})
	}
}

// TestBoletoLatePaymentOffersPayout: "Refund balance to source" is not
// offered where it cannot work — a Boleto (BRL) late payment, whose method
// has no refunds — and posting it anyway is a 400 that says what to do;
// the finance pages record a manual payout instead, which debits the
// buyer's balance once and resolves the item.
func TestBoletoLatePaymentOffersPayout(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			ctx := context.Background()
			po := ta.createOrder(t, methodCase{method: "boleto", currency: "BRL", amounts: []string{"50.00"}})
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				if _, err := ta.app.refunds.Ledger.Post(ctx, tx, ledger.Transfer("test:late-boleto", "", ledger.ProviderClearing("stripe"),
					ledger.UserBalance("U1"), paygate.New(5000, paygate.BRL))); err != nil {
					return err
				}
				return finance.OpenItem(ctx, tx, finance.Item{Kind: finance.LatePayment, Reference: "att_boleto_late", PaymentOrder: po.Number,
					Provider: "stripe", Amount: paygate.New(5000, paygate.BRL), Description: "boleto paid late"})
			})
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			ta.db.View(ctx, func(tx *storage.Tx) error {
				return tx.Get(ctx, &id, `SELECT id FROM finance_items WHERE reference = 'att_boleto_late'`)
			})
			staff := staffSignedIn(t, ta)
			_, items := staff.do(http.MethodGet, "/finance/items", nil, nil)
			refund, payout := fmt.Sprintf("/finance/items/%d/refund", id), fmt.Sprintf("/finance/items/%d/payout", id)
			if strings.Contains(items, `action="`+refund+`"`) || !strings.Contains(items, `action="`+payout+`"`) {
				t.Fatalf("the boleto late payment offers refund %v, payout %v; want the payout only", strings.Contains(items, refund), strings.Contains(items, payout))
			}
			form := formFields(t, items, payout)
			form.Set("amount", "50.00")
			form.Set("reason", "buyer asked")
			if resp, body := staff.do(http.MethodPost, refund, form, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "manual payout") {
				t.Errorf("refund to source of a boleto late payment = %d, want 400 pointing to a manual payout", resp.StatusCode)
			}
			form = formFields(t, items, payout)
			form.Set("amount", "50.00")
			form.Set("beneficiary", "Maria Silva, Banco do Brasil")
			form.Set("bank_reference", "PIX-E2E-123")
			if resp, body := staff.do(http.MethodPost, payout, form, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("record a manual payout = %d:\n%s", resp.StatusCode, body)
			}
			if got := ta.balanceIn(t, "U1", "BRL"); got != "0.00" {
				t.Errorf("U1's BRL balance after the payout = %s, want 0.00", got)
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM finance_items WHERE id = ? AND status = 'resolved'`, id); n != 1 {
				t.Errorf("the item is not resolved by the payout")
			}
		})
	}
}

// staffSignedIn returns a browser of a staff member signed in to the
// finance pages.
func staffSignedIn(t *testing.T, ta *testApp) *webClient {
	t.Helper()
	staff := newWebClient(t, ta)
	_, page := staff.do(http.MethodGet, "/finance/login", nil, nil)
	if resp, body := staff.do(http.MethodPost, "/finance/login", url.Values{"csrf": formFields(t, page, "/finance/login")["csrf"],
		"key": {testFinanceKey}, "actor": {"alice"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("finance login = %d:\n%s", resp.StatusCode, body)
	}
	return staff
}

// TestFinanceFormsRefuseControlCharacters: a finance form's free text
// with NUL (a reason, a payout's beneficiary) is a 400 that changes
// nothing, on SQLite as on PostgreSQL, which cannot store NUL — as the
// API's JSON is.
func TestFinanceFormsRefuseControlCharacters(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[0])
			id := openLateItem(t, ta, po.Number, "att_ctl_late")
			staff := staffSignedIn(t, ta)
			_, items := staff.do(http.MethodGet, "/finance/items", nil, nil)
			for _, c := range []struct{ action, field, value, want string }{
				{"resolve", "reason", "checked\x00", "reason must not contain control characters"},
				{"payout", "beneficiary", "Kim\x00", "beneficiary must not contain control characters"},
				{"payout", "bank_reference", "NL\x0091", "bank_reference must not contain control characters"},
			} {
				path := fmt.Sprintf("/finance/items/%d/%s", id, c.action)
				form := formFields(t, items, path)
				form.Set("reason", "checked")
				form.Set("amount", "1.00")
				form.Set("beneficiary", "Kim")
				form.Set("bank_reference", "NL91")
				form.Set(c.field, c.value)
				if resp, body := staff.do(http.MethodPost, path, form, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
					t.Errorf("%s with %s %q = %d, want 400 saying %q", c.action, c.field, c.value, resp.StatusCode, c.want)
				}
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM finance_items WHERE id = ? AND status = 'open'`, id); n != 1 {
				t.Errorf("the item is no longer open after refused forms")
			}
			if n := countRows(t, ta, `SELECT COUNT(*) FROM audit_log`); n != 0 {
				t.Errorf("%d audit entries after refused forms, want 0", n)
			}
		})
	}
}

// openLateItem opens a late_payment finance item of 1.00 EUR on payment
// order p with reference ref, and returns its id.
func openLateItem(t *testing.T, ta *testApp, p, ref string) int64 {
	t.Helper()
	ctx := context.Background()
	err := ta.db.Update(ctx, func(tx *storage.Tx) error {
		return finance.OpenItem(ctx, tx, finance.Item{Kind: finance.LatePayment, Reference: ref, PaymentOrder: p,
			Provider: "stripe", Amount: paygate.New(100, paygate.EUR), Description: "paid late"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := ta.db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &id, `SELECT id FROM finance_items WHERE reference = ?`, ref)
	}); err != nil {
		t.Fatal(err)
	}
	return id
}
