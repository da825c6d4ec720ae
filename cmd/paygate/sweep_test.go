package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestSweepCLICancelsAtProvider: `paygate sweep` beside a sandbox server
// (same provider keys, its public URL) expires a payment order and cancels
// its open attempts at the providers: the simulators then report them
// canceled.
func TestSweepCLICancelsAtProvider(t *testing.T) {
	keys := appConfig{
		stripeSecretKey: "sk_test_sweep_0123456789abcdef", stripeWebhookSecret: "whsec_sweep_0123456789abcdef",
		rapydAccessKey: "rak_sweep_0123456789", rapydSecretKey: "rsk_sweep_0123456789abcdef0123",
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			ta := startAppOn(t, dsn, keys)
			var refs []attemptJSON
			for _, c := range []methodCase{methodCases[0], methodCases[3]} { // ideal (Stripe), kakaopay (Rapyd)
				po := ta.createOrder(t, c)
				var a attemptJSON
				if s := ta.call(t, "POST", "/v1/payment-orders/"+po.Number+"/attempts", map[string]any{"method": c.method}, &a); s != 201 || a.ProviderRef == "" {
					t.Fatalf("attempt %s = %d %+v", c.method, s, a)
				}
				refs = append(refs, a)
			}
			cmd := exec.Command(binary, "sweep", "--db", dsn, "--as-of", time.Now().Add(25*time.Hour).UTC().Format(time.RFC3339))
			cmd.Env = append(os.Environ(), "PAYGATE_DB=", "PAYGATE_MODE=sandbox", "PAYGATE_PUBLIC_URL="+ta.publicURL,
				"STRIPE_SECRET_KEY="+keys.stripeSecretKey, "STRIPE_WEBHOOK_SECRET="+keys.stripeWebhookSecret,
				"RAPYD_ACCESS_KEY="+keys.rapydAccessKey, "RAPYD_SECRET_KEY="+keys.rapydSecretKey)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "2 payment order(s) expired") {
				t.Fatalf("sweep = %v\n%s", err, out)
			}
			c := keys
			c.mode = modeSandbox
			if err := c.resolve(); err != nil {
				t.Fatal(err)
			}
			clients, err := providerClients(c, ta.publicURL, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range refs {
				p, err := clients[a.Provider].GetPayment(context.Background(), a.ProviderRef)
				if err != nil || p.Status != providers.StatusCanceled {
					t.Errorf("%s payment %s after the sweep: %+v, %v; want canceled at the simulator\nsweep said:\n%s", a.Provider, a.ProviderRef, p, err, out)
				}
			}
		})
	}
}
