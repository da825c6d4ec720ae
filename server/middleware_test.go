package server_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate/server"
)

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string // "" sends no header
		wantKept bool
	}{
		{"none", "", false},
		{"valid", "req-1.abc_DEF", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"65 chars", strings.Repeat("a", 65), false},
		{"space", "abc def", false},
		{"markup", "<script>", false},
		{"percent", "abc%0d%0a", false},
		{"non-ascii", "abcé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seenID string
			ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
				r.HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
					seenID = server.RequestID(r.Context())
					l := server.Logger(r.Context())
					l.Info().Msg("handler")
					server.WriteJSON(w, http.StatusOK, "ok")
				})
			})
			header := http.Header{}
			if tt.incoming != "" {
				header.Set(server.HeaderRequestID, tt.incoming)
			}
			resp, _ := ts.do(t, http.MethodGet, "/id", nil, header)

			got := resp.Header.Get(server.HeaderRequestID)
			switch {
			case tt.wantKept && got != tt.incoming:
				t.Errorf("X-Request-Id %q answered with %q, want it kept", tt.incoming, got)
			case !tt.wantKept && !generated.MatchString(got):
				t.Errorf("X-Request-Id %q answered with %q, want a new 32-hex-digit id", tt.incoming, got)
			}
			if seenID != got {
				t.Errorf("RequestID(ctx) = %q, want %q", seenID, got)
			}
			for _, msg := range []string{"handler", "request"} {
				lines := ts.logs.find(t, msg)
				if len(lines) != 1 || lines[0][server.FieldRequestID] != got {
					t.Errorf("%q log lines = %v, want one with %s %q", msg, lines, server.FieldRequestID, got)
				}
			}
		})
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	ts := newTestServer(t, server.Config{}, nil)
	r1, _ := ts.do(t, http.MethodGet, "/healthz", nil, nil)
	r2, _ := ts.do(t, http.MethodGet, "/healthz", nil, nil)
	if a, b := r1.Header.Get(server.HeaderRequestID), r2.Header.Get(server.HeaderRequestID); a == b {
		t.Errorf("two requests got the same id %q", a)
	}
}

func TestAccessLog(t *testing.T) {
	const secret = "sk_live_do_not_log"
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "hello")
		}).Methods(http.MethodPost)
	})
	header := http.Header{"Authorization": {"Bearer " + secret}}
	resp, _ := ts.do(t, http.MethodPost, "/v1/things/42?token="+secret,
		strings.NewReader(`{"tax_id":"`+secret+`"}`), header)

	lines := ts.logs.find(t, "request")
	if len(lines) != 1 {
		t.Fatalf("got %d access log lines, want 1; logs:\n%s", len(lines), ts.logs)
	}
	line := lines[0]
	want := map[string]any{
		"level":                  "info",
		server.FieldRequestID:    resp.Header.Get(server.HeaderRequestID),
		server.FieldMethod:       "POST",
		server.FieldPath:         "/v1/things/42",
		server.FieldRoute:        "/v1/things/{id}",
		server.FieldStatus:       float64(http.StatusCreated),
		server.FieldBytes:        float64(len("hello")),
		server.FieldRemoteAddr:   nil, // checked below
		server.FieldDurationMS:   nil, // checked below
		zerolog.MessageFieldName: "request",
	}
	for k, v := range want {
		if v != nil && line[k] != v {
			t.Errorf("access log %s = %#v, want %#v", k, line[k], v)
		}
	}
	for k := range line {
		if _, ok := want[k]; !ok {
			t.Errorf("access log has unexpected field %s = %v", k, line[k])
		}
	}
	if d, ok := line[server.FieldDurationMS].(float64); !ok || d < 0 {
		t.Errorf("access log %s = %#v, want a non-negative number", server.FieldDurationMS, line[server.FieldDurationMS])
	}
	if a, ok := line[server.FieldRemoteAddr].(string); !ok || !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("access log %s = %#v, want 127.0.0.1:port", server.FieldRemoteAddr, line[server.FieldRemoteAddr])
	}
	if strings.Contains(ts.logs.String(), secret) {
		t.Errorf("logs contain a secret from a header, the query or the body:\n%s", ts.logs)
	}
}

func TestLogger(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
			r.HandleFunc("/v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
				l := server.Logger(r.Context())
				l.Warn().Str("user", mux.Vars(r)["id"]).Msg("handler")
				w.WriteHeader(http.StatusNoContent)
			})
		})
		resp, _ := ts.do(t, http.MethodGet, "/v1/users/U42", nil, nil)
		lines := ts.logs.find(t, "handler")
		if len(lines) != 1 {
			t.Fatalf("got %d handler log lines, want 1; logs:\n%s", len(lines), ts.logs)
		}
		for k, v := range map[string]any{
			server.FieldRequestID: resp.Header.Get(server.HeaderRequestID),
			server.FieldRoute:     "/v1/users/{id}",
			"user":                "U42",
			"level":               "warn",
		} {
			if lines[0][k] != v {
				t.Errorf("handler log %s = %#v, want %#v", k, lines[0][k], v)
			}
		}
	})
	t.Run("no request", func(t *testing.T) {
		if got := server.Logger(context.Background()).GetLevel(); got != zerolog.Disabled {
			t.Errorf("Logger(context.Background()).GetLevel() = %v, want disabled", got)
		}
		if got := server.RequestID(context.Background()); got != "" {
			t.Errorf("RequestID(context.Background()) = %q, want \"\"", got)
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	const value = "boom: card 4242424242424242"
	ts := newTestServer(t, server.Config{}, func(r *mux.Router) {
		r.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000") // Must not survive into the 500.
			panic(value)
		})
		r.HandleFunc("/panic-late", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			http.NewResponseController(w).Flush()
			panic(value)
		})
	})

	t.Run("before writing", func(t *testing.T) {
		resp, body := ts.do(t, http.MethodGet, "/panic", nil, nil)
		want := `{"error":{"code":"internal","message":"internal error"}}` + "\n"
		if resp.StatusCode != http.StatusInternalServerError || string(body) != want {
			t.Errorf("GET /panic = %d %q, want 500 %q", resp.StatusCode, body, want)
		}
		for _, leak := range []string{"boom", "goroutine", ".go:"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("response body %q contains %q", body, leak)
			}
		}

		panics := ts.logs.find(t, "panic in handler")
		if len(panics) != 1 {
			t.Fatalf("got %d panic log lines, want 1; logs:\n%s", len(panics), ts.logs)
		}
		p := panics[0]
		if p["level"] != "error" || p[server.FieldPanic] != value || p[server.FieldRoute] != "/panic" ||
			p[server.FieldRequestID] != resp.Header.Get(server.HeaderRequestID) {
			t.Errorf("panic log = %v, want level error, the panic value, the route and the request id", p)
		}
		if stack, _ := p[server.FieldStack].(string); !strings.Contains(stack, "goroutine") {
			t.Errorf("panic log %s = %q, want a stack trace", server.FieldStack, stack)
		}
		if access := ts.logs.find(t, "request"); len(access) == 0 || access[len(access)-1][server.FieldStatus] != float64(500) {
			t.Errorf("access log lines = %v, want the last with status 500", access)
		}
	})

	t.Run("after writing", func(t *testing.T) {
		resp, err := ts.Client().Get(ts.URL + "/panic-late")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Error("GET /panic-late read a complete response, want the connection aborted")
		}
	})
}
