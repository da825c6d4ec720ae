package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate/server"
)

func TestReadyzFollowsHealthCheck(t *testing.T) {
	var down atomic.Bool
	ts := newTestServer(t, server.Config{Health: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 127.0.0.1:5432: connection refused")
		}
		return nil
	}}, nil)

	for _, step := range []struct {
		down bool
		want int
	}{{false, http.StatusOK}, {true, http.StatusServiceUnavailable}, {false, http.StatusOK}} {
		down.Store(step.down)
		resp, body := ts.do(t, http.MethodGet, "/readyz", nil, nil)
		if resp.StatusCode != step.want {
			t.Fatalf("database down=%v: GET /readyz = %d %s, want %d", step.down, resp.StatusCode, body, step.want)
		}
	}
}

func TestMetricsCountRequestsByRouteAndStatus(t *testing.T) {
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
			if mux.Vars(r)["id"] == "missing" {
				http.Error(w, "no", http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusCreated)
		}).Methods(http.MethodPost)
	})

	for _, p := range []string{"/v1/things/a", "/v1/things/b", "/v1/things/missing"} {
		ts.do(t, http.MethodPost, p, nil, nil)
	}
	ts.do(t, http.MethodGet, "/no/such/path/1", nil, nil)
	ts.do(t, http.MethodGet, "/no/such/path/2", nil, nil)

	resp, body := ts.do(t, http.MethodGet, "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`paygate_http_request_duration_seconds_count{method="POST",route="/v1/things/{id}",status="201"} 2`,
		`paygate_http_request_duration_seconds_count{method="POST",route="/v1/things/{id}",status="404"} 1`,
		// Unmatched paths share one label, so probes cannot grow the series.
		`paygate_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 2`,
		`paygate_http_requests_in_flight 1`, // The /metrics request itself.
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "/no/such/path") {
		t.Error("/metrics carries a raw unmatched path as a label")
	}
}

// TestMetricsToken: with a token, /metrics answers only requests that carry
// it; without one, it stays open.
func TestMetricsToken(t *testing.T) {
	ts := newTestServer(t, server.Config{MetricsToken: "scrape-secret"}, nil)
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer scrape-secreT", http.StatusUnauthorized},
		{"prefix", "Bearer scrape", http.StatusUnauthorized},
		{"not bearer", "Basic scrape-secret", http.StatusUnauthorized},
		{"bare token", "scrape-secret", http.StatusUnauthorized},
		{"the token", "Bearer scrape-secret", http.StatusOK},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			h := http.Header{}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			resp, body := ts.do(t, method, "/metrics", nil, h)
			if resp.StatusCode != tt.want {
				t.Errorf("%s /metrics with %s = %d %s, want %d", method, tt.name, resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusOK && method == http.MethodGet && !strings.Contains(string(body), "paygate_http_requests_in_flight") {
				t.Errorf("GET /metrics with the token: no metrics in %.200s", body)
			}
			if tt.want == http.StatusUnauthorized && strings.Contains(string(body), "paygate_") {
				t.Errorf("%s /metrics with %s leaks metrics: %.200s", method, tt.name, body)
			}
		}
	}
	open := newTestServer(t, server.Config{}, nil)
	if resp, body := open.do(t, http.MethodGet, "/metrics", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics without a configured token = %d %s, want 200", resp.StatusCode, body)
	}
}
