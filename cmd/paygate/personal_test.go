package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// The payer's data the test sends, and the forms in which none of it may be
// stored.
var (
	storedPayer = map[string]any{
		"name": "Joao Pereira Storetest", "email": "joao.silva@example.com.br", "tax_id": "529.982.247-25",
		"phone":   "+55 11 91234-5678",
		"address": map[string]any{"line1": "Rua Augusta 500", "city": "São Paulo", "state": "SP", "postal_code": "01305-000", "country": "BR"},
	}
	storedForbidden = []string{
		"529.982.247-25", "52998224725", "joao.silva@example.com.br", "JOAO.SILVA@EXAMPLE.COM.BR",
		"+55 11 91234-5678", "5511912345678", "91234-5678", "912345678", "01012345678", "Joao Pereira Storetest",
	}
)

// TestNoPersonalDataStored pays by boleto (and by iDEAL and Samsung Pay with
// the payer's name, email and phone) through the real flow, with a refused
// attempt whose provider error echoes the payer's email, then scans every
// column of every table for the payer's CPF, email, phone and name: paygate
// keeps none of them (the voucher is the provider's).
func TestNoPersonalDataStored(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			// A provider refusal that echoes a payer's field: iDEAL takes the
			// payer's email unchecked, and the simulator, as Stripe does,
			// names the invalid email in its error, which becomes the
			// attempt's failure reason.
			po := ta.createOrder(t, methodCase{providers.IDEAL, "EUR", []string{"10.00"}, nil})
			var refused apiError
			status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal",
				"payer": map[string]any{"name": "Joao Pereira Storetest", "email": "joao.silva@example.com.br."}}, &refused)
			var failed orderJSON
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &failed)
			if status < 400 || len(failed.Attempts) != 1 || failed.Attempts[0].Status != "failed" {
				t.Fatalf("attempt with an email the provider refuses = %d %+v, then %+v; want a failed attempt", status, refused, failed)
			}

			for _, c := range []methodCase{
				{providers.Boleto, "BRL", []string{"99.90", "0.10"}, storedPayer},
				{providers.IDEAL, "EUR", []string{"12.50"}, storedPayer},
				{providers.SamsungPay, "KRW", []string{"42000"}, storedPayer},
			} {
				po := ta.createOrder(t, c)
				var a attemptJSON
				if status := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": c.method, "payer": c.payer}, &a); status != 201 {
					t.Fatalf("start %s attempt = %d %+v", c.method, status, a)
				}
				ta.pay(t, po, a)
				var got orderJSON
				ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
				if got.Status != "paid" {
					t.Fatalf("%s order is %s after paying, want paid", c.method, got.Status)
				}
			}
			// Every webhook applied, and the janitor's first pass (the
			// next is a minute away) done.
			ta.quiet(t)
			waitFor(t, func() bool {
				n, _ := strconv.Atoi(scrapeMetrics(t, ta.url)["paygate_janitor_passes_total"])
				return n >= 1
			}, "the janitor's first pass")
			for _, hit := range scanTables(t, ta.db, storedForbidden) {
				t.Errorf("stored personal data: %s", hit)
			}
		})
	}
}

// scanTables returns "table.column holds VALUE" for every value of
// forbidden found in any column of any table of db.
func scanTables(t *testing.T, db *storage.DB, forbidden []string) []string {
	t.Helper()
	var hits []string
	for table, tr := range readTables(t, db) {
		for _, row := range tr.rows {
			for i, v := range row {
				for _, f := range forbidden {
					if strings.Contains(v, f) {
						hits = append(hits, fmt.Sprintf("%s.%s holds %q: %.300s", table, tr.cols[i], f, v))
					}
				}
			}
		}
	}
	return hits
}
