package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate/server"
)

// logBuffer collects log lines; the server writes from its own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses every log line as a JSON object.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the log lines whose message is msg.
func (b *logBuffer) find(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range b.lines(t) {
		if m[zerolog.MessageFieldName] == msg {
			out = append(out, m)
		}
	}
	return out
}

// testServer is a Server behind an httptest server on loopback.
type testServer struct {
	*httptest.Server
	logs *logBuffer
}

// newTestServer starts cfg's Server on loopback, with routes registered by
// setup (if not nil) and logs captured.
func newTestServer(t *testing.T, cfg server.Config, setup func(r *mux.Router)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = zerolog.New(logs).Level(zerolog.DebugLevel)
	s := server.New(cfg)
	if setup != nil {
		setup(s.Router())
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, logs: logs}
}

// do sends a request and returns the response with its body read. A
// request with a body says Content-Type: application/json unless header
// says otherwise (an empty value: no Content-Type).
func (ts *testServer) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
		if len(v) == 0 {
			delete(req.Header, k) // a header given as empty is not sent
		}
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// apiError is the body of an error response.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeError parses an error response body strictly.
func decodeError(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name       string
		health     func(context.Context) error
		method     string
		wantStatus int
		wantBody   string
	}{
		{"no check", nil, http.MethodGet, http.StatusOK, `{"status":"ok"}` + "\n"},
		{"healthy", func(context.Context) error { return nil }, http.MethodGet, http.StatusOK, `{"status":"ok"}` + "\n"},
		{"head", func(context.Context) error { return nil }, http.MethodHead, http.StatusOK, ""},
		{
			"unhealthy",
			func(context.Context) error { return errors.New("ping db.internal:5432: connection refused") },
			http.MethodGet,
			http.StatusServiceUnavailable,
			`{"error":{"code":"unavailable","message":"service unavailable"}}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{Health: tt.health}, nil)
			resp, body := ts.do(t, tt.method, "/healthz", nil, nil)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("%s /healthz = %d %q, want %d %q", tt.method, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantStatus != http.StatusServiceUnavailable {
				return
			}
			failed := ts.logs.find(t, "request failed")
			if len(failed) != 1 {
				t.Fatalf("got %d %q log lines, want 1; logs:\n%s", len(failed), "request failed", ts.logs)
			}
			if got := failed[0]["error"]; !strings.Contains(got.(string), "connection refused") {
				t.Errorf("logged error = %q, want the cause", got)
			}
			if failed[0]["level"] != "error" {
				t.Errorf("level = %v, want error", failed[0]["level"])
			}
		})
	}
}

func TestHealthzDeadline(t *testing.T) {
	var hasDeadline bool
	ts := newTestServer(t, server.Config{Health: func(ctx context.Context) error {
		_, hasDeadline = ctx.Deadline()
		return nil
	}}, nil)
	if resp, _ := ts.do(t, http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	if !hasDeadline {
		t.Error("health check context has no deadline")
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
		wantAllow  string
	}{
		{"unknown path", http.MethodGet, "/nope", http.StatusNotFound, "not_found", ""},
		{"unknown nested path", http.MethodPost, "/v1/nope/1", http.StatusNotFound, "not_found", ""},
		{"POST healthz", http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"DELETE thing", http.MethodDelete, "/v1/things/7", http.StatusMethodNotAllowed, "method_not_allowed", "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
				ok := func(w http.ResponseWriter, r *http.Request) { server.WriteJSON(w, http.StatusOK, "ok") }
				r.HandleFunc("/v1/things/{id}", ok).Methods(http.MethodGet)
				r.HandleFunc("/v1/things/{id}", ok).Methods(http.MethodPost)
			})
			resp, body := ts.do(t, tt.method, tt.path, nil, nil)
			e := decodeError(t, body)
			if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode || e.Error.Message == "" {
				t.Errorf("%s %s = %d %q, want %d with code %q and a message",
					tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantCode)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if resp.Header.Get(server.HeaderRequestID) == "" {
				t.Error("no X-Request-Id on the response")
			}
			access := ts.logs.find(t, "request")
			if len(access) != 1 {
				t.Fatalf("got %d access log lines, want 1; logs:\n%s", len(access), ts.logs)
			}
			if got := access[0][server.FieldStatus]; got != float64(tt.wantStatus) {
				t.Errorf("logged status = %v, want %d", got, tt.wantStatus)
			}
			if _, ok := access[0][server.FieldRoute]; ok {
				t.Errorf("access log has a route for an unmatched request: %v", access[0])
			}
		})
	}
}

// runServer starts s.Run in the background and returns the bound address and
// Run's result channel.
func runServer(t *testing.T, ctx context.Context, s *server.Server) (string, <-chan error) {
	t.Helper()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	var addr string
	select {
	case a := <-addrc:
		addr = a.String()
	case err := <-errc:
		t.Fatalf("Run = %v before ready", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not call ready")
	}
	return addr, errc
}

// waitClosed waits for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// slowServer returns a Server on port 0 whose /slow handler closes started
// and then waits for release.
func slowServer(shutdownTimeout time.Duration, started, release chan struct{}) *server.Server {
	s := server.New(server.Config{Addr: "127.0.0.1:0", ShutdownTimeout: shutdownTimeout})
	s.Router().HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		server.WriteJSON(w, http.StatusOK, map[string]string{"status": "done"})
	})
	return s
}

type result struct {
	status int
	body   string
	err    error
}

// get issues GET url in the background on its own connection.
func get(url string) <-chan result {
	resc := make(chan result, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(url)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	return resc
}

// waitListenerClosed waits until addr refuses connections, which means Run has
// begun shutting down.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections", addr)
}

func TestRunGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := slowServer(5*time.Second, started, release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, errc := runServer(t, ctx, s)

	resc := get("http://" + addr + "/slow")
	waitClosed(t, started, "the slow request to reach its handler")

	cancel()
	waitListenerClosed(t, addr)
	select {
	case err := <-errc:
		t.Fatalf("Run = %v while a request was in flight", err)
	default:
	}
	close(release)

	res := <-resc
	if res.err != nil || res.status != http.StatusOK || res.body != `{"status":"done"}`+"\n" {
		t.Errorf("in-flight GET /slow = %d %q, %v; want 200 {\"status\":\"done\"}", res.status, res.body, res.err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
}

func TestRunShutdownTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := slowServer(50*time.Millisecond, started, release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, errc := runServer(t, ctx, s)

	resc := get("http://" + addr + "/slow")
	waitClosed(t, started, "the slow request to reach its handler")
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
	if res := <-resc; res.err == nil {
		t.Errorf("request outliving the shutdown timeout = %d %q, want a connection error", res.status, res.body)
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	s := server.New(server.Config{Addr: ln.Addr().String()})
	called := false
	err = s.Run(context.Background(), func(net.Addr) { called = true })
	if err == nil || !strings.HasPrefix(err.Error(), "server: listen: ") {
		t.Errorf("Run on a busy address = %v, want a server: listen error", err)
	}
	if called {
		t.Error("ready was called although Run could not listen")
	}
}
