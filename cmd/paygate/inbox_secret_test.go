package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/webhooks"
)

// clientSecretRE finds a Stripe client secret's secret part.
var clientSecretRE = regexp.MustCompile(`pi_[A-Za-z0-9]+_secret_([A-Za-z0-9]+)`)

// TestInboxMasksClientSecret pays with iDEAL through the Stripe simulator,
// whose signed payment_intent events carry the intent's client_secret: the
// webhook is verified (the order is paid), the inbox keeps the body with
// the secret masked, and replaying the stored event still works.
func TestInboxMasksClientSecret(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			po := ta.createOrder(t, methodCases[0])
			var a attemptJSON
			if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": "ideal"}, &a); s != 201 {
				t.Fatalf("attempt = %d", s)
			}
			ta.pay(t, po, a)
			ta.waitPaid(t, po.Number)
			var rows []struct {
				ID   int64  `db:"id"`
				Body []byte `db:"body"`
			}
			err := ta.db.View(context.Background(), func(tx *storage.Tx) error {
				return tx.Select(context.Background(), &rows, `SELECT id, body FROM webhook_events WHERE provider = 'stripe' AND payment_ref = ? ORDER BY id`, a.ProviderRef)
			})
			if err != nil || len(rows) == 0 {
				t.Fatalf("inbox rows of %s: %d, %v", a.ProviderRef, len(rows), err)
			}
			masked := 0
			var ids []int64
			for _, r := range rows {
				ids = append(ids, r.ID)
				for _, m := range clientSecretRE.FindAllStringSubmatch(string(r.Body), -1) {
					if m[1] != "REDACTED" {
						t.Errorf("inbox row %d keeps a client secret %q:\n%s", r.ID, m[0], r.Body)
					}
					masked++
				}
			}
			if masked == 0 || !strings.Contains(string(rows[0].Body), `"client_secret"`) {
				t.Fatalf("no client_secret in the stored bodies (the simulator sends one): %s", rows[0].Body)
			}
			n, err := ta.app.inbox.Replay(context.Background(), webhooks.ReplayFilter{IDs: ids})
			if err != nil || n != len(ids) {
				t.Fatalf("replay of the masked events = %d, %v; want %d", n, err, len(ids))
			}
			ta.waitPaid(t, po.Number)
		})
	}
}
