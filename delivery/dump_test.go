package delivery_test

import (
	"context"
	"testing"

	"github.com/paygate/paygate/storage"
)

func dump(t *testing.T, db *storage.DB) {
	var rows []map[string]any
	_ = db.View(context.Background(), func(tx *storage.Tx) error {
		r, err := tx.Query(context.Background(), `SELECT id, status, attempts, next_attempt_at, locked_until, resource, sequence FROM webhook_deliveries`)
		if err != nil {
			t.Log(err)
			return err
		}
		defer r.Close()
		for r.Next() {
			m := map[string]any{}
			r.MapScan(m)
			rows = append(rows, m)
		}
		return nil
	})
	for _, m := range rows {
		t.Logf("%v", m)
	}
	var as []map[string]any
	_ = db.View(context.Background(), func(tx *storage.Tx) error {
		r, _ := tx.Query(context.Background(), `SELECT * FROM webhook_attempts ORDER BY id DESC LIMIT 5`)
		defer r.Close()
		for r.Next() {
			m := map[string]any{}
			r.MapScan(m)
			as = append(as, m)
		}
		return nil
	})
	for _, m := range as {
		t.Logf("%v", m)
	}
}
