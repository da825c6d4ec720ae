package server_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"invalid", paygate.Errorf(paygate.EINVALID, "bad amount"), 400, "invalid", "bad amount"},
		{"unauthorized", paygate.Errorf(paygate.EUNAUTHORIZED, "missing API key"), 401, "unauthorized", "missing API key"},
		{"forbidden", paygate.Errorf(paygate.EFORBIDDEN, "finance key required"), 403, "forbidden", "finance key required"},
		{"not found", paygate.Errorf(paygate.ENOTFOUND, "payment order P12345678 not found"), 404, "not_found", "payment order P12345678 not found"},
		{"conflict", paygate.Errorf(paygate.ECONFLICT, "idempotency key reused"), 409, "conflict", "idempotency key reused"},
		{"too large", paygate.Errorf(paygate.ETOOLARGE, "body too large"), 413, "too_large", "body too large"},
		{"insufficient", paygate.Errorf(paygate.EINSUFFICIENT, "balance too low"), 422, "insufficient", "balance too low"},
		{"unavailable", &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "try again", Err: errors.New("db: dial 10.0.0.5")}, 503, "unavailable", "try again"},
		{"internal", &paygate.Error{Code: paygate.EINTERNAL, Message: "ledger drift in U42", Err: errors.New("sum != 0")}, 500, "internal", "internal error"},
		{"plain error", errors.New("sql: connection reset"), 500, "internal", "internal error"},
		{"wrapped", fmt.Errorf("checkout: %w", paygate.Errorf(paygate.ENOTFOUND, "no such order")), 404, "not_found", "no such order"},
		{"empty message", &paygate.Error{Code: paygate.ENOTFOUND}, 404, "not_found", "not found"},
		{"unknown code", paygate.Errorf("teapot", "short and stout"), 500, "internal", "internal error"},
		{"nil", nil, 500, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
				r.HandleFunc("/err", func(w http.ResponseWriter, r *http.Request) { server.WriteError(w, r, tt.err) })
			})
			resp, body := ts.do(t, http.MethodGet, "/err", nil, nil)
			e := decodeError(t, body)
			if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode || e.Error.Message != tt.wantMessage {
				t.Errorf("WriteError(%v) = %d %q/%q, want %d %q/%q", tt.err,
					resp.StatusCode, e.Error.Code, e.Error.Message, tt.wantStatus, tt.wantCode, tt.wantMessage)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}

			failed := ts.logs.find(t, "request failed")
			if tt.wantStatus < 500 {
				if len(failed) != 0 {
					t.Errorf("a %d was logged as failed: %v", tt.wantStatus, failed)
				}
				return
			}
			if len(failed) != 1 {
				t.Fatalf("got %d %q log lines for a %d, want 1; logs:\n%s", len(failed), "request failed", tt.wantStatus, ts.logs)
			}
			if tt.err != nil && failed[0]["error"] != tt.err.Error() {
				t.Errorf("logged error = %q, want the full cause %q", failed[0]["error"], tt.err.Error())
			}
			if failed[0]["level"] != "error" || failed[0][server.FieldRoute] != "/err" {
				t.Errorf("failure log = %v, want level error with the route", failed[0])
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		v          any
		wantStatus int
		wantBody   string
	}{
		{"object", http.StatusCreated, map[string]string{"number": "P12345678"}, 201, `{"number":"P12345678"}` + "\n"},
		{"list", http.StatusOK, []int{1, 2}, 200, "[1,2]\n"},
		{"unencodable", http.StatusOK, make(chan int), 500, `{"error":{"code":"internal","message":"internal error"}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
				r.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) { server.WriteJSON(w, tt.status, tt.v) })
			})
			resp, body := ts.do(t, http.MethodGet, "/json", nil, nil)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("WriteJSON(%d, %v) = %d %q, want %d %q", tt.status, tt.v, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			for k, v := range map[string]string{
				"Content-Type":           "application/json",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	const limit = 64
	type item struct {
		Name   string `json:"name"`
		Amount int64  `json:"amount"`
	}
	tests := []struct {
		name        string
		body        string
		wantStatus  int
		wantCode    string
		wantMessage string // a prefix of the error message, or the echoed item
	}{
		{"valid", `{"name":"sword","amount":1250}`, 200, "", `{"name":"sword","amount":1250}`},
		{"surrounding whitespace", " \n{\"name\":\"sword\"}\n\t ", 200, "", `{"name":"sword","amount":0}`},
		{"unknown field", `{"name":"sword","foo":1}`, 400, "invalid", `invalid JSON: unknown field "foo"`},
		{"malformed", `{"name" "sword"}`, 400, "invalid", "invalid JSON: invalid character"},
		{"truncated", `{"name":"sw`, 400, "invalid", "invalid JSON: unexpected end of input"},
		{"wrong type", `{"amount":"12.50"}`, 400, "invalid", `invalid JSON: wrong type for field "amount": got string`},
		{"trailing garbage", `{"name":"sword"} x`, 400, "invalid", "invalid JSON: unexpected data after the top-level value"},
		{"second object", `{"name":"sword"}{"name":"shield"}`, 400, "invalid", "invalid JSON: unexpected data after the top-level value"},
		{"empty", ``, 400, "invalid", "invalid JSON: empty request body"},
		{"whitespace only", "  \n ", 400, "invalid", "invalid JSON: empty request body"},
		{"null", `null`, 400, "invalid", "invalid JSON: the body must be a JSON object"},
		{"an array", ` [{"name":"sword"}]`, 400, "invalid", "invalid JSON: the body must be a JSON object"},
		{"a string", `"sword"`, 400, "invalid", "invalid JSON: the body must be a JSON object"},
		{"a number", `12`, 400, "invalid", "invalid JSON: the body must be a JSON object"},
		{"oversized", `{"name":"` + strings.Repeat("a", 2*limit) + `"}`, 413, "too_large", "request body larger than 64 bytes"},
		{"oversized after the value", `{"name":"sword"}` + strings.Repeat(" ", 2*limit), 413, "too_large", "request body larger than 64 bytes"},
		{"duplicate key", `{"amount":1,"name":"a","amount":2}`, 400, "invalid", `invalid JSON: duplicate key "amount"`},
		{"duplicate key in another case", `{"amount":1,"AMOUNT":2}`, 400, "invalid", `invalid JSON: duplicate key "AMOUNT" (also given as "amount")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{MaxBodyBytes: limit}, func(r *mux.Router) {
				r.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
					var v item
					if err := server.DecodeJSON(r, &v); err != nil {
						server.WriteError(w, r, err)
						return
					}
					server.WriteJSON(w, http.StatusOK, v)
				})
			})
			resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(tt.body), nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("DecodeJSON(%q): status %d %q, want %d", tt.body, resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK {
				if got := strings.TrimSpace(string(body)); got != tt.wantMessage {
					t.Errorf("DecodeJSON(%q) = %s, want %s", tt.body, got, tt.wantMessage)
				}
				return
			}
			e := decodeError(t, body)
			if e.Error.Code != tt.wantCode || !strings.HasPrefix(e.Error.Message, tt.wantMessage) {
				t.Errorf("DecodeJSON(%q) = %q/%q, want %q/%q…", tt.body, e.Error.Code, e.Error.Message, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

// TestDecodeJSONRefusesControlCharacters: a control character in any string
// of the body, however deep, is a 400 naming the field by its JSON path;
// PostgreSQL cannot store NUL, and both backends must answer alike.
func TestDecodeJSONRefusesControlCharacters(t *testing.T) {
	type line struct {
		Description string `json:"description"`
	}
	type meta struct {
		Note string `json:"note,omitempty"`
	}
	type order struct {
		meta
		Buyer *string           `json:"buyer_id"`
		Items []line            `json:"items"`
		Tags  map[string]string `json:"tags"`
	}
	tests := []struct{ body, want string }{
		{`{"buyer_id":"U\u00001"}`, "buyer_id must not contain control characters (found U+0000)"},
		{`{"items":[{"description":"ok"},{"description":"sword\u0000"}]}`, "items[1].description must not contain control characters (found U+0000)"},
		{`{"items":[{"description":"two\nlines"}]}`, "items[0].description must not contain control characters (found U+000A)"},
		{`{"note":"bell\u0007"}`, "note must not contain control characters (found U+0007)"},
		{`{"tags":{"k":"\u009b"}}`, `tags["k"] must not contain control characters (found U+009B)`},
		{`{"tags":{"\u0000":"v"}}`, `tags["\x00"] must not contain control characters (found U+0000)`},
	}
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
			var v order
			if err := server.DecodeJSON(r, &v); err != nil {
				server.WriteError(w, r, err)
				return
			}
			server.WriteJSON(w, http.StatusOK, v)
		})
	})
	for _, tt := range tests {
		resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(tt.body), nil)
		e := decodeError(t, body)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Message != tt.want {
			t.Errorf("DecodeJSON(%s) = %d %q, want 400 %q", tt.body, resp.StatusCode, e.Error.Message, tt.want)
		}
	}
	// Text outside the control ranges passes: accents, CJK, emoji, U+00A0.
	resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(`{"buyer_id":"é","items":[{"description":"검  🗡"}],"tags":{"k":"v"}}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("printable text = %d %s, want 200", resp.StatusCode, body)
	}
}

// amount is a field type whose UnmarshalJSON fails with a *paygate.Error.
type amount struct{}

func (*amount) UnmarshalJSON([]byte) error {
	return paygate.Errorf(paygate.EINVALID, `invalid amount "1.2.3"`)
}

// opaque is a field type whose UnmarshalJSON fails with a plain error.
type opaque struct{}

func (*opaque) UnmarshalJSON([]byte) error { return errors.New("opaque: internal detail") }

func TestDecodeJSONUnmarshalerErrors(t *testing.T) {
	tests := []struct {
		name        string
		dst         any
		wantMessage string
	}{
		{"paygate error kept", &struct {
			Amount amount `json:"amount"`
		}{}, `invalid amount "1.2.3"`},
		{"plain error hidden", &struct {
			Amount opaque `json:"amount"`
		}{}, "invalid JSON: invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
				r.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
					server.WriteError(w, r, server.DecodeJSON(r, tt.dst))
				})
			})
			resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(`{"amount":"1.2.3"}`), nil)
			e := decodeError(t, body)
			if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Message != tt.wantMessage {
				t.Errorf("DecodeJSON into %T = %d %q/%q, want 400 invalid/%q",
					tt.dst, resp.StatusCode, e.Error.Code, e.Error.Message, tt.wantMessage)
			}
		})
	}
}

// TestDecodeJSONContentType: a JSON body must say so; text/plain, a form or
// no Content-Type at all is 415 unsupported_media_type and the handler
// takes nothing.
func TestDecodeJSONContentType(t *testing.T) {
	var accepted int
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
			var v map[string]any
			if err := server.DecodeJSON(r, &v); err != nil {
				server.WriteError(w, r, err)
				return
			}
			accepted++
			server.WriteJSON(w, http.StatusOK, v)
		})
	})
	for _, tt := range []struct {
		contentType string
		want        int
	}{
		{"application/json", http.StatusOK},
		{"application/json; charset=utf-8", http.StatusOK},
		{"Application/JSON; charset=UTF-8", http.StatusOK},
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"text/plain; charset=utf-8", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"application/json; charset=latin1", http.StatusUnsupportedMediaType},
		{"application/json; foo=bar", http.StatusUnsupportedMediaType},
		{"application/jsonx", http.StatusUnsupportedMediaType},
	} {
		before := accepted
		resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(`{"name":"sword"}`), http.Header{"Content-Type": nilIfEmpty(tt.contentType)})
		if resp.StatusCode != tt.want {
			t.Errorf("Content-Type %q = %d %s, want %d", tt.contentType, resp.StatusCode, body, tt.want)
			continue
		}
		if tt.want == http.StatusOK {
			continue
		}
		if accepted != before {
			t.Errorf("Content-Type %q: the handler took the body", tt.contentType)
		}
		if e := decodeError(t, body); e.Error.Code != "unsupported_media_type" || !strings.Contains(e.Error.Message, "application/json") {
			t.Errorf("Content-Type %q = %s, want code unsupported_media_type naming application/json", tt.contentType, body)
		}
	}
}

func nilIfEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// TestDecodeJSONDuplicateKeys: a key named twice in any object of the body,
// however deep, is a 400 naming it by its path; the same key in different
// objects is fine.
func TestDecodeJSONDuplicateKeys(t *testing.T) {
	type line struct {
		Description string `json:"description"`
	}
	type order struct {
		Buyer string            `json:"buyer_id"`
		Items []line            `json:"items"`
		Tags  map[string]string `json:"tags"`
	}
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
			var v order
			if err := server.DecodeJSON(r, &v); err != nil {
				server.WriteError(w, r, err)
				return
			}
			server.WriteJSON(w, http.StatusOK, v)
		})
	})
	for _, tt := range []struct{ body, want string }{
		{`{"buyer_id":"U1","buyer_id":"U2"}`, `invalid JSON: duplicate key "buyer_id"`},
		{`{"items":[{"description":"a"},{"description":"b","description":"c"}]}`, `invalid JSON: duplicate key "items[1].description"`},
		{`{"tags":{"k":"1","k":"2"}}`, `invalid JSON: duplicate key "tags.k"`},
		{`{"items":[],"tags":{},"items":[]}`, `invalid JSON: duplicate key "items"`},
		{`{"buyer_id":"U1","Buyer_ID":"U2"}`, `invalid JSON: duplicate key "Buyer_ID" (also given as "buyer_id")`},
		{`{"buyer_id":"U1","ok":true,"buyer_id":"U2"}`, `invalid JSON: unknown field "ok"`}, // the decoding speaks first
	} {
		resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(tt.body), nil)
		e := decodeError(t, body)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Message != tt.want {
			t.Errorf("DecodeJSON(%s) = %d %q, want 400 %q", tt.body, resp.StatusCode, e.Error.Message, tt.want)
		}
	}
	for _, ok := range []string{
		`{"buyer_id":"U1","items":[{"description":"a"},{"description":"a"}],"tags":{"description":"x","buyer_id":"y"}}`,
		`{"items":[{"description":"[{\"a\":1,\"a\":2}]"}]}`,
	} {
		if resp, body := ts.do(t, http.MethodPost, "/decode", strings.NewReader(ok), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("DecodeJSON(%s) = %d %s, want 200", ok, resp.StatusCode, body)
		}
	}
}
