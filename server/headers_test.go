package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
)

// pageCSP is the policy of the test's HTML page, which replaces the
// default.
const pageCSP = "default-src 'self'; script-src 'none'; frame-ancestors 'none'"

// headerRoutes are handlers of every kind of response: JSON, an error, a
// panic, a handler's redirect, a page with its own policy.
func headerRoutes(r *mux.Router) {
	r.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		server.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/conflict", func(w http.ResponseWriter, r *http.Request) {
		server.WriteError(w, r, paygate.Errorf(paygate.ECONFLICT, "no"))
	}).Methods(http.MethodGet)
	r.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}).Methods(http.MethodGet)
	r.HandleFunc("/go", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusSeeOther)
	}).Methods(http.MethodGet)
	r.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><p>hello</p>"))
	}).Methods(http.MethodGet)
}

var noFollow = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	ts := newTestServer(t, server.Config{}, headerRoutes)
	ts.Client().CheckRedirect = noFollow
	tests := []struct {
		method, path string
		status       int
		csp          string
	}{
		{http.MethodGet, "/json", http.StatusOK, server.DefaultCSP},
		{http.MethodGet, "/conflict", http.StatusConflict, server.DefaultCSP},
		{http.MethodGet, "/panic", http.StatusInternalServerError, server.DefaultCSP},
		{http.MethodGet, "/go", http.StatusSeeOther, server.DefaultCSP},
		{http.MethodGet, "/page", http.StatusOK, pageCSP},
		{http.MethodGet, "/nowhere", http.StatusNotFound, server.DefaultCSP},
		{http.MethodPost, "/json", http.StatusMethodNotAllowed, server.DefaultCSP},
		{http.MethodGet, "/healthz", http.StatusOK, server.DefaultCSP},
		{http.MethodHead, "/readyz", http.StatusOK, server.DefaultCSP},
		{http.MethodGet, "/metrics", http.StatusOK, server.DefaultCSP},
		// A path that is not clean names no route: no redirect to the
		// clean path.
		{http.MethodGet, "/a/../json", http.StatusNotFound, server.DefaultCSP},
		{http.MethodGet, "//json", http.StatusNotFound, server.DefaultCSP},
		{http.MethodGet, "/a/%2e%2e/json", http.StatusNotFound, server.DefaultCSP},
		{http.MethodGet, "/./json", http.StatusNotFound, server.DefaultCSP},
	}
	for _, tt := range tests {
		resp, body := ts.do(t, tt.method, tt.path, nil, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
		if tt.status == http.StatusNotFound && (!strings.Contains(string(body), `"code":"not_found"`) || resp.Header.Get("X-Request-Id") == "") {
			t.Errorf("%s %s = %s without the JSON not_found error or a request id", tt.method, tt.path, body)
		}
		want := map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         server.DefaultReferrerPolicy,
			"Cache-Control":           server.DefaultCacheControl,
			"Content-Security-Policy": tt.csp,
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, got, v)
			}
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("%s %s over plain http with an http public URL: Strict-Transport-Security %q, want none", tt.method, tt.path, got)
		}
	}
}

func TestStrictTransportSecurity(t *testing.T) {
	hsts := func(t *testing.T, cfg server.Config, tls bool, header http.Header) string {
		t.Helper()
		s := server.New(server.Config{Logger: zerolog.Nop(), PublicURL: cfg.PublicURL})
		headerRoutes(s.Router())
		var ts *httptest.Server
		if tls {
			ts = httptest.NewTLSServer(s.Handler())
		} else {
			ts = httptest.NewServer(s.Handler())
		}
		defer ts.Close()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/nowhere", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Strict-Transport-Security")
	}
	tests := []struct {
		name      string
		publicURL string
		tls       bool
		header    http.Header
		want      string
	}{
		{"plain http", "", false, nil, ""},
		{"http public URL", "http://pay.example", false, nil, ""},
		{"https public URL behind a proxy", "https://pay.example", false, nil, server.HSTS},
		{"HTTPS public URL in capitals", "HTTPS://PAY.EXAMPLE", false, nil, server.HSTS},
		{"request over TLS", "", true, nil, server.HSTS},
		// Any client can send X-Forwarded-Proto: it proves nothing.
		{"forged X-Forwarded-Proto", "http://pay.example", false, http.Header{"X-Forwarded-Proto": {"https"}}, ""},
		{"not a URL", "https//pay.example", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hsts(t, server.Config{PublicURL: tt.publicURL}, tt.tls, tt.header); got != tt.want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultCSPForbidsInlineScriptAndFraming(t *testing.T) {
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(server.DefaultCSP, d) {
			t.Errorf("DefaultCSP %q lacks %q", server.DefaultCSP, d)
		}
	}
	if strings.Contains(server.DefaultCSP, "unsafe") {
		t.Errorf("DefaultCSP %q allows something unsafe", server.DefaultCSP)
	}
}
