package delivery_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// apiServer serves the delivery API (and the events API) on db.
func apiServer(t *testing.T, db *storage.DB, s *delivery.Service) *httptest.Server {
	r := mux.NewRouter()
	keys := server.Keys{Marketplace: "mk", Finance: "fk"}
	(&delivery.API{Service: s, Keys: keys, Idempotency: idempotency.New(db).Middleware}).Routes(r)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return ts
}

var idem int

func call(t *testing.T, ts *httptest.Server, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, ts.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		idem++
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k%d", idem))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// TestEndpointsAPIByRole: each role manages only its own endpoints; the
// secret is shown only at creation and rotation; bad input is a 400 that
// changes nothing.
func TestEndpointsAPIByRole(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{events.Migrations(), delivery.Migrations(), idempotency.Migrations()}},
		func(t *testing.T, db *storage.DB) {
			s := newService(db, nil)
			ts := apiServer(t, db, s)
			status, e := call(t, ts, "POST", "/v1/webhook-endpoints", "mk", `{"url":"http://127.0.0.1:9/hooks","events":["sales_order.*","balance.credited"],"description":"shop"}`)
			if status != 201 || !strings.HasPrefix(e["secret"].(string), "whsec_") || e["disabled"] != false || e["url"] != "http://127.0.0.1:9/hooks" {
				t.Fatalf("create = %d %v", status, e)
			}
			id := e["id"].(string)
			for _, bad := range []string{
				`{"url":"http://127.0.0.1:9/","events":["finance_item.*"]}`,
				`{"url":"http://127.0.0.1:9/","events":["sales_order.shipped"]}`,
				`{"url":"http://127.0.0.1:9/","events":[]}`,
				`{"url":"mailto:a@b.example","events":["*"]}`,
				`{"url":"http://127.0.0.1:9/","events":["*"],"secret":"whsec_mine"}`,
			} {
				if status, out := call(t, ts, "POST", "/v1/webhook-endpoints", "mk", bad); status != 400 {
					t.Errorf("create %s = %d %v, want 400", bad, status, out)
				}
			}
			if status, out := call(t, ts, "GET", "/v1/webhook-endpoints/"+id, "mk", ""); status != 200 || out["secret"] != nil || out["id"] != id {
				t.Errorf("get = %d %v (no secret)", status, out)
			}
			// Finance sees none of the marketplace's, and may not touch it.
			if status, out := call(t, ts, "GET", "/v1/webhook-endpoints", "fk", ""); status != 200 || len(out["endpoints"].([]any)) != 0 {
				t.Errorf("finance list = %d %v", status, out)
			}
			for _, c := range []struct{ method, path, body string }{
				{"GET", "/v1/webhook-endpoints/" + id, ""},
				{"PATCH", "/v1/webhook-endpoints/" + id, `{"disabled":true}`},
				{"DELETE", "/v1/webhook-endpoints/" + id, ""},
				{"POST", "/v1/webhook-endpoints/" + id + "/rotate-secret", ""},
				{"GET", "/v1/webhook-endpoints/" + id + "/deliveries", ""},
			} {
				if status, out := call(t, ts, c.method, c.path, "fk", c.body); status != 404 {
					t.Errorf("finance %s %s = %d %v, want 404", c.method, c.path, status, out)
				}
			}
			status, f := call(t, ts, "POST", "/v1/webhook-endpoints", "fk", `{"url":"http://127.0.0.1:9/fin","events":["finance_item.*","reconciliation.completed"]}`)
			if status != 201 {
				t.Fatalf("finance create = %d %v", status, f)
			}
			if status, out := call(t, ts, "GET", "/v1/webhook-endpoints", "mk", ""); status != 200 || len(out["endpoints"].([]any)) != 1 {
				t.Errorf("marketplace list = %d %v", status, out)
			}
			// PATCH, with a bad field changing nothing.
			if status, out := call(t, ts, "PATCH", "/v1/webhook-endpoints/"+id, "mk", `{"events":["payment_order.paid"],"url":"ftp://x"}`); status != 400 {
				t.Errorf("bad patch = %d %v", status, out)
			}
			status, p := call(t, ts, "PATCH", "/v1/webhook-endpoints/"+id, "mk", `{"events":["payment_order.paid"],"disabled":true}`)
			if status != 200 || p["disabled"] != true || fmt.Sprint(p["events"]) != "[payment_order.paid]" {
				t.Errorf("patch = %d %v", status, p)
			}
			status, r := call(t, ts, "POST", "/v1/webhook-endpoints/"+id+"/rotate-secret", "mk", "")
			if status != 200 || r["secret"] == e["secret"] || r["previous_secret_expires_at"] == nil {
				t.Errorf("rotate = %d %v", status, r)
			}
			if status, out := call(t, ts, "GET", "/v1/webhook-endpoints/"+id+"/deliveries?limit=500", "mk", ""); status != 400 {
				t.Errorf("deliveries limit 500 = %d %v", status, out)
			}
			if status, out := call(t, ts, "GET", "/v1/webhook-endpoints/"+id+"/deliveries", "mk", ""); status != 200 || len(out["deliveries"].([]any)) != 0 {
				t.Errorf("deliveries = %d %v", status, out)
			}
			// Redelivery: by role, and for one endpoint that must take the type.
			ev := appendEvent(t, db, events.FinanceItemOpened, "fi_1")
			if status, out := call(t, ts, "POST", "/v1/events/"+ev.ID+"/redeliver", "mk", ""); status != 404 {
				t.Errorf("marketplace redeliver of a finance event = %d %v", status, out)
			}
			if status, out := call(t, ts, "POST", "/v1/events/"+ev.ID+"/redeliver", "fk", ""); status != 202 || fmt.Sprint(out["endpoints"]) != fmt.Sprintf("[%s]", f["id"]) {
				t.Errorf("finance redeliver = %d %v", status, out)
			}
			if status, out := call(t, ts, "POST", "/v1/events/"+ev.ID+"/redeliver", "fk", `{"endpoint_id":"`+id+`"}`); status != 404 {
				t.Errorf("finance redeliver to the marketplace's endpoint = %d %v", status, out)
			}
			if status, out := call(t, ts, "DELETE", "/v1/webhook-endpoints/"+id, "mk", ""); status != 204 {
				t.Errorf("delete = %d %v", status, out)
			}
			if status, _ := call(t, ts, "GET", "/v1/webhook-endpoints/"+id, "mk", ""); status != 404 {
				t.Errorf("get after delete = %d", status)
			}
		})
}
