package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/server"
)

// serveLimits runs a Server configured by cfg on loopback through Serve (so
// with its own http.Server, timeouts and header limit) until the test ends.
// Its /ok answers at once; its /json decodes a JSON body and counts the
// bodies it accepted; its /read reads the whole body and sends what reading
// returned on bodyErr.
func serveLimits(t *testing.T, cfg server.Config) (addr string, accepted *atomic.Int64, bodyErr chan error) {
	t.Helper()
	s := server.New(cfg)
	accepted = &atomic.Int64{}
	bodyErr = make(chan error, 10)
	r := s.Router()
	r.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		server.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := server.DecodeJSON(r, &v); err != nil {
			server.WriteError(w, r, err)
			return
		}
		accepted.Add(1)
		server.WriteJSON(w, http.StatusOK, v)
	}).Methods(http.MethodPost)
	r.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
		if err != nil {
			return
		}
		server.WriteJSON(w, http.StatusOK, map[string]string{"status": "read"})
	}).Methods(http.MethodPost)

	ctx, cancel := context.WithCancel(context.Background())
	ln, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String(), accepted, bodyErr
}

// rawRequest sends a request with one extra header of n bytes over a fresh
// connection and returns the status.
func rawRequest(t *testing.T, addr string, headerBytes int) int {
	t.Helper()
	resp, _ := rawRequestBody(t, addr, headerBytes)
	return resp.StatusCode
}

// rawRequestOverhead is the size of rawRequest's request line and headers
// without the padding's value.
const rawRequestOverhead = len("GET /ok HTTP/1.1\r\nHost: paygate\r\nX-Padding: \r\nConnection: close\r\n\r\n")

// rawRequestBody is rawRequest returning the response and its body.
func rawRequestBody(t *testing.T, addr string, headerBytes int) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ok HTTP/1.1\r\nHost: paygate\r\nX-Padding: %s\r\nConnection: close\r\n\r\n", strings.Repeat("a", headerBytes))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a request with a %d-byte header: %v", headerBytes, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// Oversized headers are refused with 431 before any handler runs, at the
// default limit and at a configured one: from the first byte over the
// limit, as paygate's JSON error with the request id and the security
// headers.
func TestHeaderSizeLimit(t *testing.T) {
	for _, limit := range []int{server.DefaultMaxHeaderBytes, 4 << 10} {
		addr, _, _ := serveLimits(t, server.Config{Addr: "127.0.0.1:0", MaxHeaderBytes: limit})
		if got := rawRequest(t, addr, limit-rawRequestOverhead); got != http.StatusOK {
			t.Errorf("limit %d: a request of exactly the limit = %d, want 200", limit, got)
		}
		for _, over := range []int{1, 100, 4 << 10, limit / 2} {
			resp, body := rawRequestBody(t, addr, limit-rawRequestOverhead+over)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || json.Unmarshal(body, &e) != nil || e.Error.Code != "headers_too_large" {
				t.Errorf("limit %d: %d bytes over = %d %q, want 431 headers_too_large", limit, over, resp.StatusCode, body)
				continue
			}
			if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("limit %d: the 431 lacks the request id, security headers or JSON type: %v", limit, resp.Header)
			}
		}
		// Far beyond, net/http refuses before reading it all.
		if got := rawRequest(t, addr, 3*limit); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("limit %d: a header of three times the limit = %d, want 431", limit, got)
		}
	}
}

// An oversized JSON body is refused with 413 too_large through the real
// server, and the handler accepts nothing.
func TestBodySizeLimitThroughServe(t *testing.T) {
	addr, accepted, _ := serveLimits(t, server.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 1 << 10})
	body := `{"description":"` + strings.Repeat("x", 4<<10) + `"}`
	resp, err := http.Post("http://"+addr+"/json", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"code":"too_large"`) {
		t.Errorf("a 4 KiB body over a 1 KiB limit = %d %s, want 413 too_large", resp.StatusCode, b)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the handler accepted %d oversized bodies", n)
	}
}

// A slowloris (headers trickled in) is disconnected once the read-header
// timeout is up, and a slow body once the read timeout is up, while a normal
// request on another connection is served meanwhile.
func TestSlowClientsAreDisconnected(t *testing.T) {
	const (
		headerTimeout = 300 * time.Millisecond
		readTimeout   = 900 * time.Millisecond
	)
	addr, _, bodyErr := serveLimits(t, server.Config{Addr: "127.0.0.1:0", ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout})

	// trickle writes first, then one line of more every 50 ms until the
	// server hangs up, and returns how long after the start that was. It
	// sends on begun once first is written.
	begun := make(chan struct{}, 2)
	trickle := func(first, more string) (time.Duration, error) {
		// The clock starts before the dial: the server's deadline starts
		// when it accepts, which may be before Dial returns here.
		start := time.Now()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		closed := make(chan time.Duration, 1)
		go func() {
			// The server may answer (a handler's error) before it hangs
			// up; read until it does.
			_, _ = io.Copy(io.Discard, conn)
			closed <- time.Since(start)
		}()
		if _, err := io.WriteString(conn, first); err != nil {
			return 0, err
		}
		begun <- struct{}{}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case d := <-closed:
				return d, nil
			case <-deadline:
				return 0, errors.New("the server never hung up")
			case <-tick.C:
				_, _ = io.WriteString(conn, more) // fails once the server has hung up
			}
		}
	}

	type result struct {
		took time.Duration
		err  error
	}
	loris, slowBody := make(chan result, 1), make(chan result, 1)
	go func() {
		d, err := trickle("GET /ok HTTP/1.1\r\nHost: paygate\r\n", "X-Trickle: a\r\n")
		loris <- result{d, err}
	}()
	go func() {
		d, err := trickle("POST /read HTTP/1.1\r\nHost: paygate\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", " ")
		slowBody <- result{d, err}
	}()

	// Meanwhile another client is served at once.
	for range 2 {
		select {
		case <-begun:
		case r := <-loris:
			t.Fatalf("slowloris ended before it began: %v", r.err)
		case r := <-slowBody:
			t.Fatalf("the slow body ended before it began: %v", r.err)
		}
	}
	start := time.Now()
	resp, err := http.Get("http://" + addr + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || time.Since(start) > headerTimeout {
		t.Errorf("a normal request beside the slow clients = %d after %v, want 200 at once", resp.StatusCode, time.Since(start))
	}

	r := <-loris
	if r.err != nil || r.took < headerTimeout || r.took > headerTimeout+time.Second {
		t.Errorf("slowloris hung up after %v (%v), want about the read-header timeout %v", r.took, r.err, headerTimeout)
	}
	r = <-slowBody
	if r.err != nil || r.took < readTimeout || r.took > readTimeout+time.Second {
		t.Errorf("slow body hung up after %v (%v), want about the read timeout %v", r.took, r.err, readTimeout)
	}
	select {
	case err := <-bodyErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("reading the slow body failed with %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the slow body's handler never finished reading")
	}
}
