package simkit

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestPagePolicy(t *testing.T) {
	css := "\n  body { color: #000; }\n"
	sum := sha256.Sum256([]byte(css))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	fsys := fstest.MapFS{
		"ok.html":       {Data: []byte(`{{define "head"}}<html><head><style>` + css + `</style></head>{{end}}`)},
		"none.html":     {Data: []byte(`<html><head></head></html>`)},
		"dynamic.html":  {Data: []byte(`<style>body { color: {{.Color}}; }</style>`)},
		"unclosed.html": {Data: []byte(`<style>body {}`)},
	}
	p, err := PagePolicy(fsys, "ok.html", "data:")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"style-src " + hash, "img-src 'self' data:", "script-src 'none'", "default-src 'none'",
		"frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"} {
		if !strings.Contains(p, want) {
			t.Errorf("PagePolicy = %q, want it to contain %q", p, want)
		}
	}
	if strings.Contains(p, "unsafe") {
		t.Errorf("PagePolicy = %q allows something unsafe", p)
	}
	for _, bad := range []string{"none.html", "dynamic.html", "unclosed.html", "missing.html"} {
		if p, err := PagePolicy(fsys, bad); err == nil {
			t.Errorf("PagePolicy(%s) = %q, want an error", bad, p)
		}
	}
}

func TestCrossSite(t *testing.T) {
	const base = "http://127.0.0.1:8080/sandbox/stripe"
	tests := []struct {
		name   string
		header http.Header
		refuse bool
	}{
		{"no browser headers", nil, false},
		{"same origin", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://127.0.0.1:8080"}}, false},
		{"typed by the user", http.Header{"Sec-Fetch-Site": {"none"}}, false},
		{"no-referrer page", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"null"}}, false},
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, true},
		{"same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}, true},
		{"no-referrer attacker", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"null"}}, true},
		{"other origin", http.Header{"Origin": {"https://evil.example"}}, true},
		{"other port", http.Header{"Origin": {"http://127.0.0.1:8081"}}, true},
		{"other scheme", http.Header{"Origin": {"https://127.0.0.1:8080"}}, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, base+"/ideal/pi_1/approve", nil)
		for k, v := range tt.header {
			r.Header[k] = v
		}
		if got := CrossSite(r, base); (got != "") != tt.refuse {
			t.Errorf("%s: CrossSite = %q, want refused %t", tt.name, got, tt.refuse)
		}
	}
}

func TestWon(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "₩0"},
		{999, "₩999"},
		{15000, "₩15,000"},
		{1234567, "₩1,234,567"},
		{-15000, "-₩15,000"},
	}
	for _, tc := range tests {
		if got := Won(tc.in); got != tc.want {
			t.Errorf("Won(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
