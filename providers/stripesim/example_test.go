package stripesim_test

import (
	"context"
	"net/http"
	"time"

	"github.com/paygate/paygate/providers/stripesim"
	"github.com/rs/zerolog"
	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Mounting the simulator in paygate's sandbox and pointing the production
// stripe-go client at it.
func Example() {
	const base = "http://127.0.0.1:8080/sandbox/stripe"
	sim := stripesim.New(stripesim.Config{
		BaseURL:       base,
		APIKey:        "sk_test_sandbox",
		WebhookURL:    "http://127.0.0.1:8080/webhooks/stripe",
		WebhookSecret: "whsec_sandbox",
		Logger:        zerolog.Nop(),
	})
	defer sim.Close()

	mux := http.NewServeMux()
	mux.Handle("/sandbox/stripe/", http.StripPrefix("/sandbox/stripe", sim.Handler()))

	// The production client: only the base URL differs.
	sc := &client.API{}
	sc.Init("sk_test_sandbox", stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:        stripe.String(base),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}))

	// The sandbox control endpoint: the buyer paid.
	_ = sim.Approve(context.Background(), "pi_…")
}
