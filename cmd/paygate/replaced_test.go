package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestAttemptCapReadsReplacedBy: each boleto that replaces the last one
// writes the replaced attempt's replaced_by column, which the API shows and
// the cap of payments that can still be paid counts, whatever the failure
// reason's text says (erased here).
func TestAttemptCapReadsReplacedBy(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[2]) // BRL
			path := "/v1/payment-orders/" + po.Number + "/attempts"
			var ids []string
			for i := 0; i < 5; i++ {
				var a attemptJSON
				if status := ta.call(t, "POST", path, map[string]any{"method": "boleto", "payer": boletoPayer}, &a); status != 201 {
					t.Fatalf("boleto %d = %d %+v", i+1, status, a)
				}
				ids = append(ids, a.ID)
			}
			ctx := context.Background()
			for i, id := range ids {
				var by string
				err := ta.db.View(ctx, func(tx *storage.Tx) error {
					return tx.Get(ctx, &by, `SELECT replaced_by FROM payment_attempts WHERE id = ?`, id)
				})
				want := ""
				if i+1 < len(ids) {
					want = ids[i+1]
				}
				if err != nil || by != want {
					t.Errorf("attempt %d replaced_by = %q, %v; want %q", i+1, by, err, want)
				}
			}
			var got struct {
				Attempts []struct {
					ID         string `json:"id"`
					ReplacedBy string `json:"replaced_by"`
				} `json:"attempts"`
			}
			ta.call(t, "GET", "/v1/payment-orders/"+po.Number, nil, &got)
			if len(got.Attempts) != 5 || got.Attempts[0].ReplacedBy != ids[1] || got.Attempts[4].ReplacedBy != "" {
				t.Errorf("the API's attempts = %+v, want replaced_by on each replaced one", got.Attempts)
			}
			// The reason is for people: erasing it lifts no cap.
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE payment_attempts SET failure_reason = 'superseded' WHERE payment_order = ? AND status = 'canceled'`, po.Number)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var e apiError
			if status := ta.call(t, "POST", path, map[string]any{"method": "boleto", "payer": boletoPayer}, &e); status != http.StatusConflict || e.Error.Code != paygate.ELIMIT {
				t.Fatalf("boleto 6 with the reasons erased = %d %+v, want 409 limit", status, e)
			}
		})
	}
}
