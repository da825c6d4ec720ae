// Command receiver is the smallest marketplace receiver of paygate's
// webhooks: it verifies each delivery with the Standard Webhooks library
// and prints the sales orders that were paid. WEBHOOK_SECRET is the
// endpoint's whsec_… secret, ADDR where it listens (127.0.0.1:4000).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("WEBHOOK_SECRET"))
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("POST /webhooks", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var ev struct{ ID, Type, Resource string }
		if json.Unmarshal(body, &ev) == nil && ev.Type == "sales_order.paid" {
			fmt.Println(ev.Type, ev.Resource, ev.ID) // tell the seller to deliver
		}
		w.WriteHeader(http.StatusNoContent) // a 2xx within 15 s acknowledges
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:4000"
	}
	log.Fatal(http.ListenAndServe(addr, nil))
}
