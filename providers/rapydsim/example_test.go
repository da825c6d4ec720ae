package rapydsim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/providers/rapydsim"
)

// The sandbox wiring of `paygate serve`: the simulator mounted under
// /sandbox/rapyd of our own server, and the real rapyd client pointed at it.
// Only BaseURL differs from production.
func Example() {
	srv := httptest.NewUnstartedServer(nil) // stands for paygate's own server
	public := "http://" + srv.Listener.Addr().String()

	sim := rapydsim.New(rapydsim.Config{
		BaseURL:    public + "/sandbox/rapyd",
		AccessKey:  "sandbox_access", // any pair: the client and simulator share it
		SecretKey:  "sandbox_secret",
		WebhookURL: public + "/webhooks/rapyd",
	})
	defer sim.Close()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/rapyd/", http.StripPrefix("/sandbox/rapyd", sim.Handler()))
	mux.HandleFunc("POST /webhooks/rapyd", func(w http.ResponseWriter, r *http.Request) {
		// paygate's webhook endpoint: verify with client.ParseWebhook, store, 2xx.
	})
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	client, err := rapyd.New(rapyd.Config{
		AccessKey:  "sandbox_access",
		SecretKey:  "sandbox_secret",
		BaseURL:    public + "/sandbox/rapyd",
		WebhookURL: public + "/webhooks/rapyd",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	p, err := client.CreatePayment(ctx, providers.PaymentRequest{
		Method:         providers.KakaoPay,
		Amount:         paygate.New(15000, paygate.KRW),
		PaymentOrder:   "P12345678",
		Attempt:        "A-1",
		IdempotencyKey: "attempt:A-1",
		ReturnURL:      "https://shop.example/return",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Status, p.NextAction.Type, p.Amount)

	// The buyer presses Approve on the hosted page (or the sandbox control
	// endpoint calls Approve): PAYMENT_COMPLETED is posted to /webhooks/rapyd.
	if err := sim.Approve(ctx, p.Ref); err != nil {
		fmt.Println(err)
		return
	}
	p, _ = client.GetPayment(ctx, p.Ref)
	fmt.Println(p.Status)
	// Output:
	// pending redirect 15000 KRW
	// succeeded
}
