package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// auditEntry is an entry of GET /v1/finance/audit.
type auditEntry struct {
	ID      int64  `json:"id"`
	Actor   string `json:"actor"`
	KeyID   string `json:"key_id"`
	KeyName string `json:"key_name"`
	Action  string `json:"action"`
	Subject string `json:"subject"`
	After   string `json:"after"`
}

// auditLog reads the whole audit log with the static finance key.
func (ta *testApp) auditLog(t *testing.T) []auditEntry {
	t.Helper()
	var log struct {
		Entries []auditEntry `json:"entries"`
	}
	if s := ta.callWith(t, testFinanceKey, "", http.MethodGet, "/v1/finance/audit?limit=500", nil, &log); s != http.StatusOK {
		t.Fatalf("GET /v1/finance/audit = %d", s)
	}
	return log.Entries
}

// refuseInserts makes the database refuse every new row of table, as a full
// disk or a lost connection would fail the statement.
func refuseInserts(t *testing.T, db *storage.DB, table string) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{`CREATE TRIGGER test_refuse_` + table + ` BEFORE INSERT ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'test: refused'); END`}
	if db.Dialect() == storage.Postgres {
		stmts = []string{
			`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'test: refused'; END $$`,
			`CREATE TRIGGER test_refuse_` + table + ` BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION test_refuse()`,
		}
	}
	err := db.Update(ctx, func(tx *storage.Tx) error {
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditNamesTheKey: every audit entry names the API key the action was
// authenticated with (its id and name), beside the X-Actor label the caller
// asserts: a refund to source and a settlement from the provider's status
// through the API, a reconciliation run and its postings, an item resolved on the finance
// pages after a login with the key. An entry commits with its action: a
// reconciliation whose run cannot be saved leaves no entry.
func TestAuditNamesTheKey(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			ctx := context.Background()
			fk, key, err := ta.app.apiKeys.Create(ctx, server.RoleFinance, "ops-laptop")
			if err != nil {
				t.Fatal(err)
			}
			paid := refundedBuyer(t, ta, methodCases[0]) // U1 holds 19.75 EUR
			var got struct {
				Attempts []struct {
					ProviderRef string `json:"provider_ref"`
				} `json:"attempts"`
			}
			if ta.call(t, http.MethodGet, "/v1/payment-orders/"+paid.Number, nil, &got); len(got.Attempts) != 1 {
				t.Fatalf("payment order %s has %d attempts", paid.Number, len(got.Attempts))
			}
			post := func(path string, body any, actor string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, ta.url+path, strings.NewReader(mustJSON(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+fk)
				req.Header.Set("Idempotency-Key", fmt.Sprintf("audit-%d", ta.key.Add(1)))
				req.Header.Set("X-Actor", actor)
				resp, err := ta.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if s := post("/v1/users/U1/refunds-to-source", map[string]any{"amount": "5.00", "currency": "EUR", "reason": "asked by phone"}, "alice@example.com"); s != http.StatusCreated {
				t.Fatalf("refund to source = %d", s)
			}
			// A refused action writes nothing.
			if s := post("/v1/users/U1/refunds-to-source", map[string]any{"amount": "500.00", "currency": "EUR", "reason": "too much"}, "mallory"); s/100 != 4 {
				t.Fatalf("refund of more than the balance = %d, want 4xx", s)
			}
			now := time.Now().UTC().Format("2006-01-02 15:04:05")
			report := "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id\r\n" +
				fmt.Sprintf("txn_x,%s,charge,5.00,0.30,4.70,eur,pi_not_ours\r\n", now) +
				fmt.Sprintf("txn_p,%s,payout,-25.00,0.00,-25.00,eur,\r\n", now)
			recon := func() int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, ta.url+"/v1/reconciliations?provider=stripe", strings.NewReader(report))
				req.Header.Set("Authorization", "Bearer "+fk)
				req.Header.Set("Idempotency-Key", fmt.Sprintf("audit-%d", ta.key.Add(1)))
				req.Header.Set("X-Actor", "bob")
				req.Header.Set("Content-Type", "text/csv")
				resp, err := ta.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if s := recon(); s != http.StatusOK {
				t.Fatalf("reconciliation = %d", s)
			}

			// Settling from the provider's status (already paid: nothing moves).
			if s := post("/v1/finance/settle-payment", map[string]any{"provider": "stripe", "payment_ref": got.Attempts[0].ProviderRef}, "dave"); s != http.StatusOK {
				t.Fatalf("settle-payment = %d", s)
			}

			// The unmatched line is an open item: carol resolves it on the
			// finance pages, signed in with the same key.
			var items []finance.Item
			ta.db.View(ctx, func(tx *storage.Tx) error {
				items, err = finance.Items(ctx, tx, finance.Open, 0, 100)
				return err
			})
			if len(items) == 0 {
				t.Fatal("the unmatched line opened no item")
			}
			fc := newFinanceClient(t, ta)
			if status, _ := fc.loginAs("carol", fk); status != http.StatusSeeOther {
				t.Fatalf("finance login = %d", status)
			}
			page := fc.page("/finance/items")
			if status, _, _ := fc.post(fmt.Sprintf("/finance/items/%d/resolve", items[0].ID),
				url.Values{"csrf": {fc.csrf(page)}, "reason": {"not ours"}}); status != http.StatusSeeOther {
				t.Fatalf("resolve on the finance pages = %d", status)
			}

			want := map[string]string{ // action: actor
				"refund_to_source": "finance:alice@example.com",
				"reconcile_post":   "finance:bob",
				"reconcile":        "finance:bob",
				"settle_payment":   "finance:dave",
				"resolve_item":     "finance:carol (key ops-laptop)",
			}
			log := ta.auditLog(t)
			seen := map[string]int{}
			for _, e := range log {
				seen[e.Action]++
				if e.KeyID != key.ID || e.KeyName != "ops-laptop" || e.Actor != want[e.Action] {
					t.Errorf("audit entry %+v: want key %s ops-laptop and actor %q", e, key.ID, want[e.Action])
				}
			}
			for action := range want {
				if seen[action] != 1 {
					t.Errorf("%d %s entries, want 1; log %+v", seen[action], action, log)
				}
			}

			// A run that fails to commit leaves no entry.
			refuseInserts(t, ta.db, "recon_runs")
			if s := recon(); s < 500 {
				t.Fatalf("reconciliation that cannot be saved = %d, want 5xx", s)
			}
			if after := ta.auditLog(t); len(after) != len(log) {
				t.Fatalf("a failed reconciliation wrote audit entries: %+v", after[len(log):])
			}
		})
	}
}
