package idempotency_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// fuzzMaxMessage bounds an error message, which may quote the key.
const fuzzMaxMessage = 200

// FuzzMiddleware sends two POSTs with one Idempotency-Key, as a client on
// loopback would send them (a header value the client refuses is no
// request), to the middleware on every backend (each database opened once
// for the target). A missing, blank or over-long key, or one that is not
// UTF-8 text without control characters, is a 400 that never reaches the
// handler; any other key reaches it once: the repeat with the
// same body is the stored response, replayed, and with another body a 409.
// No key makes a 5xx, and error messages are short.
func FuzzMiddleware(f *testing.F) {
	f.Add("k1", []byte(`{"a":1}`), []byte(`{"a":1}`))
	f.Add("k1", []byte(`{"a":1}`), []byte(`{"a":2}`))
	f.Add("", []byte(`x`), []byte(`x`))
	f.Add("   ", []byte(`x`), []byte(`x`))
	f.Add(strings.Repeat("k", idempotency.MaxKeyLen), []byte(``), []byte(``))
	f.Add(strings.Repeat("k", idempotency.MaxKeyLen+1), []byte(``), []byte(``))
	f.Add("é-ключ-鍵", []byte(`x`), []byte(`y`))
	f.Add("\xff\xfe", []byte(`x`), []byte(`x`))
	f.Add(strings.Repeat("\xff", 200), []byte(`x`), []byte(`y`))
	f.Add("a\tb", []byte(`x`), []byte(`x`))

	type target struct {
		name  string
		url   string
		calls *atomic.Int64
	}
	var targets []target
	for _, b := range storagetest.Backends(f) {
		db := b.Open(f, storage.Options{Migrations: []storage.Migrations{idempotency.Migrations()}})
		calls := new(atomic.Int64)
		keys := server.Keys{Marketplace: "mk", Finance: "fk"}
		srv := server.New(server.Config{Logger: zerolog.Nop()})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			body, _ := io.ReadAll(r.Body)
			server.WriteJSON(w, http.StatusCreated, map[string]any{"call": n, "body": string(body)})
		})
		srv.Router().Handle("/things", keys.Require(server.RoleMarketplace)(idempotency.New(db).Middleware(h))).Methods("POST")
		ts := httptest.NewServer(srv.Handler())
		f.Cleanup(ts.Close)
		targets = append(targets, target{b.Name, ts.URL, calls})
	}

	var n atomic.Int64
	f.Fuzz(func(t *testing.T, key string, body1, body2 []byte) {
		for _, tg := range targets {
			// A fresh key per run and backend: the fuzzer repeats inputs.
			k := key
			if strings.TrimSpace(key) != "" {
				k = fmt.Sprintf("%d.", n.Add(1)) + key
			}
			post := func(body []byte) (int, string, http.Header, bool) {
				req, err := http.NewRequest(http.MethodPost, tg.url+"/things", strings.NewReader(string(body)))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer mk")
				req.Header[idempotency.Header] = []string{k}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					if strings.Contains(err.Error(), "invalid header field value") {
						return 0, "", nil, false
					}
					t.Fatalf("%s: POST with key %q: %v", tg.name, k, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b), resp.Header, true
			}
			calls := tg.calls.Load()
			status1, resp1, _, sent := post(body1)
			if !sent {
				return
			}
			checkMessage(t, tg.name, k, status1, resp1)
			trimmed := strings.Trim(k, " \t") // what the server reads of the header
			if trimmed == "" || len(trimmed) > idempotency.MaxKeyLen || !utf8.ValidString(trimmed) || strings.ContainsFunc(trimmed, unicode.IsControl) {
				if status1 != http.StatusBadRequest || tg.calls.Load() != calls {
					t.Fatalf("%s: POST with key %q = %d %s, want 400 without calling the handler", tg.name, k, status1, resp1)
				}
				return
			}
			if status1 != http.StatusCreated || tg.calls.Load() != calls+1 {
				t.Fatalf("%s: first POST with key %q = %d %s, want 201 from one call", tg.name, k, status1, resp1)
			}
			status2, resp2, header2, _ := post(body2)
			checkMessage(t, tg.name, k, status2, resp2)
			if tg.calls.Load() != calls+1 {
				t.Fatalf("%s: the repeat with key %q called the handler again", tg.name, k)
			}
			switch same := string(body1) == string(body2); {
			case same && (status2 != status1 || resp2 != resp1 || header2.Get("Idempotent-Replayed") != "true"):
				t.Fatalf("%s: repeat with key %q = %d %s, want the replayed %d %s", tg.name, k, status2, resp2, status1, resp1)
			case !same && status2 != http.StatusConflict:
				t.Fatalf("%s: repeat with key %q and another body = %d %s, want 409", tg.name, k, status2, resp2)
			}
		}
	})
}

// checkMessage fails on a 5xx, or an error response whose message is long.
func checkMessage(t *testing.T, backend, key string, status int, body string) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: POST with key %q = %d %s, want no 5xx", backend, key, status, body)
	}
	if status < 400 {
		return
	}
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" || len(e.Error.Message) > fuzzMaxMessage {
		t.Fatalf("%s: POST with key %q = %d %s, want an error with a message of at most %d bytes", backend, key, status, body, fuzzMaxMessage)
	}
}
