package rapyd_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/rapyd"
)

const (
	testAccess     = "ACCESS_KEY_TEST"
	testSecret     = "SECRET_KEY_TEST"
	testWebhookURL = "https://paygate.example/webhooks/rapyd"
	testPaymentID  = "payment_6f1c2ab0c3d94e5f8a7b9c0d1e2f3a4b"
	samplesDir     = "../../testdata/rapyd"
)

// refSign is the Rapyd signature written out here, independently of the
// package: BASE64(hex(HMAC_SHA256(secret, concatenation of parts))).
func refSign(secret string, parts ...string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.Join(parts, "")))
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(mac.Sum(nil))))
}

// call is one request the fake Rapyd received.
type call struct {
	Method string
	URI    string // path and query below the mount
	Header http.Header
	Body   []byte
}

// fakeRapyd is a Rapyd API on loopback that checks every request the way
// Rapyd does — access key, salt, fresh timestamp, signature recomputed here
// over the exact bytes received — and answers with reply.
//
// It answers List Payment Methods by Country itself, from lists (nil:
// defaultLists), and counts those requests apart (ListCalls), so that
// the tests of other calls see only those calls.
type fakeRapyd struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	calls     []call
	listCalls []call
	reply     func(c call) (status int, body string)
	lists     func(country, currency string) string // the data array of a list ("": a 503); nil means defaultLists
}

// defaultLists is the fake's list of payment method types: KakaoPay and
// Samsung Pay refundable in KR, iDEAL in NL, PayNow in SG and a boleto
// with required fields in BR, named by the pattern.
func defaultLists(country, currency string) string {
	switch country + "/" + currency {
	case "KR/KRW":
		return `[{"type":"kr_kakaopay_ewallet","name":"KakaoPay","category":"ewallet","country":"KR","currencies":["KRW"],"is_refundable":true},` +
			`{"type":"kr_samsungpay_ewallet","name":"Samsung Pay","category":"ewallet","country":"KR","currencies":["KRW"],"is_refundable":true},` +
			`{"type":"kr_localcards_redirect_card","name":"Local cards","category":"card","country":"KR","currencies":["KRW"]}]`
	case "NL/EUR":
		return `[{"type":"nl_ideal_bank","name":"iDEAL","category":"bank_redirect","country":"NL","currencies":["EUR"],"is_refundable":true}]`
	case "SG/SGD":
		return `[{"type":"sg_paynow_bank","name":"PayNow","category":"bank_transfer","country":"SG","currencies":["SGD"],"is_refundable":true}]`
	case "BR/BRL":
		return `[{"type":"br_boleto_cash","name":"Boleto","category":"cash","country":"BR","currencies":["BRL"],"is_refundable":false,` +
			`"fields":[{"name":"name","type":"string","is_required":true},{"name":"document_id","type":"string","regex":"^[0-9A-Z]{11,14}$","is_required":true},` +
			`{"name":"email","type":"string","is_required":false}]}]`
	}
	return `[]`
}

// ListCalls returns the List Payment Methods by Country requests.
func (f *fakeRapyd) ListCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.listCalls...)
}

func newFakeRapyd(t *testing.T, reply func(c call) (int, string)) *fakeRapyd {
	t.Helper()
	return newFakeRapydAt(t, "", reply)
}

// newFakeRapydAt mounts the fake under prefix with http.StripPrefix, as the
// simulator is mounted: the signature covers the path below the prefix.
func newFakeRapydAt(t *testing.T, prefix string, reply func(c call) (int, string)) *fakeRapyd {
	t.Helper()
	f := &fakeRapyd{t: t, reply: reply}
	var h http.Handler = http.HandlerFunc(f.serve)
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRapyd) URL() string { return f.srv.URL }

// SetLists replaces the lists the fake answers.
func (f *fakeRapyd) SetLists(lists func(country, currency string) string) {
	f.mu.Lock()
	f.lists = lists
	f.mu.Unlock()
}

func (f *fakeRapyd) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeRapyd) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request body: %v", err)
	}
	c := call{Method: r.Method, URI: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
	country, isList := strings.CutPrefix(r.URL.Path, "/v1/payment_methods/countries/")
	f.mu.Lock()
	if isList {
		f.listCalls = append(f.listCalls, c)
	} else {
		f.calls = append(f.calls, c)
	}
	lists := f.lists
	f.mu.Unlock()

	if problem := checkSigned(c); problem != "" {
		f.t.Errorf("%s %s: %s", c.Method, c.URI, problem)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"status":{"error_code":"UNAUTHENTICATED_API_CALL","status":"ERROR","message":"`+problem+`"}}`)
		return
	}
	status, out := 0, ""
	if isList {
		if lists == nil {
			lists = defaultLists
		}
		status, out = http.StatusOK, `{"status":{"status":"SUCCESS"},"data":`+lists(country, r.URL.Query().Get("currency"))+`}`
		if strings.HasSuffix(out, `"data":}`) { // lists answered "": Rapyd fails
			status, out = http.StatusServiceUnavailable, `{"status":{"status":"ERROR","error_code":"SERVICE_UNAVAILABLE","message":"down"}}`
		}
	} else {
		status, out = f.reply(c)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

// checkSigned returns what is wrong with a request's authentication, or "".
func checkSigned(c call) string {
	h := c.Header
	if got := h.Get("access_key"); got != testAccess {
		return "access_key = " + strconv.Quote(got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		return "Content-Type = " + strconv.Quote(got)
	}
	salt := h.Get("salt")
	if len(salt) != 16 {
		return "salt " + strconv.Quote(salt) + " is not 16 characters"
	}
	tsText := h.Get("timestamp")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "timestamp " + strconv.Quote(tsText) + " is not Unix seconds"
	}
	if d := time.Since(time.Unix(ts, 0)); d > 10*time.Second || d < -10*time.Second {
		return "timestamp " + tsText + " is not fresh"
	}
	want := refSign(testSecret, strings.ToLower(c.Method), c.URI, salt, tsText, testAccess, testSecret, string(c.Body))
	if got := h.Get("signature"); got != want {
		return "signature " + strconv.Quote(got) + ", want " + strconv.Quote(want)
	}
	return ""
}

func newClient(t testing.TB, cfg rapyd.Config) *rapyd.Client {
	t.Helper()
	if cfg.AccessKey == "" {
		cfg.AccessKey, cfg.SecretKey = testAccess, testSecret
	}
	c, err := rapyd.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// wantCode fails the test unless err is a *paygate.Error with code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pe *paygate.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %v (%T), want a *paygate.Error with code %s", what, err, err, code)
	}
	if pe.Code != code {
		t.Fatalf("%s: error code %s (%v), want %s", what, pe.Code, err, code)
	}
}
