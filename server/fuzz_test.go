package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
)

// fuzzBody is a request body of the shape the API's bodies have: strings,
// numbers, a list of objects, an optional object and a map.
type fuzzBody struct {
	BuyerID  string            `json:"buyer_id"`
	Currency string            `json:"currency"`
	Count    int64             `json:"count"`
	Flag     *bool             `json:"flag"`
	Items    []fuzzItem        `json:"items"`
	Payer    *fuzzItem         `json:"payer"`
	Meta     map[string]string `json:"meta"`
}

type fuzzItem struct {
	SellerID string `json:"seller_id"`
	Amount   string `json:"amount"`
}

// fuzzBodyLimit is the body limit of the fuzzed server: small, so that the
// fuzzer reaches it.
const fuzzBodyLimit = 512

// maxErrorMessage bounds the message of an error response: it may quote the
// input, but never at length.
const maxErrorMessage = 200

// FuzzDecodeJSON sends any body through the server's middleware (its body
// limit included) to a handler that decodes it with DecodeJSON, and checks
// DecodeJSON against encoding/json used strictly: it accepts exactly the
// bodies of at most the limit that hold one JSON value (whitespace aside)
// that decodes without unknown fields, decodes them to what json.Unmarshal
// gives, and refuses the rest with a 400 EINVALID, or a 413 ETOOLARGE for a
// body over the limit, whose message is short.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"buyer_id":"U1","currency":"EUR","items":[{"seller_id":"S1","amount":"12.50"}]}`,
		`{"buyer_id":"U1","payer":{"seller_id":"x"},"meta":{"a":"b"},"flag":true,"count":3}`,
		` {"count": 1} `, `{"count":1}{"count":2}`, `{"count":1} x`, `{"count":"1"}`, `{"count":1e400}`,
		`{"count":9223372036854775808}`, `{"unknown":1}`, `{"BUYER_ID":"U1"}`, `{"buyer_id":"\ud800"}`,
		`[]`, `null`, `"s"`, `{"buyer_id":"U\u0000"}`, `{"meta":{"\n":"b"}}`, `{"buyer_id":"\u0085"}`, ``, ` `, `{`, `{"items":[{"amount":12.5}]}`, `{"count":1}` + strings.Repeat(" ", fuzzBodyLimit),
		`{"` + strings.Repeat("x", 300) + `":1}`, `{"count":` + strings.Repeat("9", 300) + `}`,
		`{"count":1,"count":2}`, `{"meta":{"a":"1","A":"2"}}`, `{"items":[{"amount":"1"},{"amount":"1","Amount":"2"}]}`,
	} {
		f.Add([]byte(s))
	}
	var (
		got    fuzzBody
		gotErr error
	)
	srv := server.New(server.Config{MaxBodyBytes: fuzzBodyLimit, Logger: zerolog.Nop()})
	srv.Router().HandleFunc("/decode", func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = fuzzBody{}, nil
		if gotErr = server.DecodeJSON(r, &got); gotErr != nil {
			server.WriteError(w, r, gotErr)
			return
		}
		server.WriteJSON(w, http.StatusOK, got)
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)

		var want fuzzBody
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		ok := len(body) <= fuzzBodyLimit && json.Valid(body) && dec.Decode(&want) == nil &&
			bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) && !controlText(body) && !duplicateKeys(body)
		if ok != (gotErr == nil) {
			t.Fatalf("DecodeJSON(%q) error %v, want accepted %v", body, gotErr, ok)
		}
		if ok {
			if rec.Code != http.StatusOK || !reflect.DeepEqual(got, want) {
				t.Fatalf("DecodeJSON(%q) = %d %+v, want 200 %+v", body, rec.Code, got, want)
			}
			return
		}
		var pe *paygate.Error
		if !errors.As(gotErr, &pe) {
			t.Fatalf("DecodeJSON(%q) error %v (%T), want a *paygate.Error", body, gotErr, gotErr)
		}
		switch {
		case pe.Code == paygate.ETOOLARGE && len(body) > fuzzBodyLimit && rec.Code == http.StatusRequestEntityTooLarge:
		case pe.Code == paygate.EINVALID && rec.Code == http.StatusBadRequest:
		default:
			t.Fatalf("DecodeJSON(%q) (%d bytes) = %d %v (code %s), want 400 invalid or, over %d bytes, 413 too_large",
				body, len(body), rec.Code, gotErr, pe.Code, fuzzBodyLimit)
		}
		var resp struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Error.Code != pe.Code || resp.Error.Message == "" {
			t.Fatalf("DecodeJSON(%q): response %q, want an error body with code %s", body, rec.Body, pe.Code)
		}
		if len(resp.Error.Message) > maxErrorMessage {
			t.Fatalf("DecodeJSON(%q): error message of %d bytes, want at most %d: %q", body, len(resp.Error.Message), maxErrorMessage, resp.Error.Message)
		}
	})
}

// duplicateKeys reports whether an object of a JSON value names a key
// twice, or two keys equal but for case (which encoding/json takes for the
// same field): the fuzz target's own reading of DecodeJSON's rule, by
// recursion over raw values.
func duplicateKeys(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.Token() // {
		seen := map[string]bool{}
		for dec.More() {
			k, _ := dec.Token()
			key := strings.ToLower(k.(string))
			if seen[key] {
				return true
			}
			seen[key] = true
			var v json.RawMessage
			if dec.Decode(&v) != nil {
				return false
			}
			if duplicateKeys(v) {
				return true
			}
		}
	case len(raw) > 0 && raw[0] == '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return false
		}
		for _, v := range arr {
			if duplicateKeys(v) {
				return true
			}
		}
	}
	return false
}

// controlText reports whether a JSON value holds a control character in a
// string or an object key, the fuzz target's own reading of the rule that
// DecodeJSON enforces (paygate.CheckText).
func controlText(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return strings.IndexFunc(x, unicode.IsControl) >= 0
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for k, e := range x {
				if walk(k) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// requestIDRule is the rule of an X-Request-Id that is kept, written
// independently of the server's check.
var requestIDRule = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// FuzzRequestID checks that the server keeps an incoming X-Request-Id
// exactly when requestIDRule allows it and otherwise answers with a new
// 32-hex-digit id, and that the handler's RequestID is the answered id.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "req-1.abc_DEF", strings.Repeat("a", 64), strings.Repeat("a", 65), "abc def",
		"<script>", "abc%0d%0a", "abcé", "a\x00b", "a\nb", "..", "-"} {
		f.Add(s)
	}
	var seen string
	srv := server.New(server.Config{Logger: zerolog.Nop()})
	srv.Router().HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
		seen = server.RequestID(r.Context())
		server.WriteJSON(w, http.StatusOK, "ok")
	})
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	f.Fuzz(func(t *testing.T, id string) {
		seen = ""
		req := httptest.NewRequest(http.MethodGet, "/id", nil)
		req.Header[server.HeaderRequestID] = []string{id}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		got := rec.Header().Get(server.HeaderRequestID)
		switch kept := requestIDRule.MatchString(id); {
		case kept && got != id:
			t.Fatalf("X-Request-Id %q answered with %q, want it kept", id, got)
		case !kept && !generated.MatchString(got):
			t.Fatalf("X-Request-Id %q answered with %q, want a new 32-hex-digit id", id, got)
		}
		if seen != got {
			t.Fatalf("RequestID(ctx) = %q, want %q", seen, got)
		}
	})
}
