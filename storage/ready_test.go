package storage_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// cutProxy forwards loopback TCP connections to a target until cut, which
// closes the listener and every open connection: the database becomes
// unreachable the way it does when its host goes away.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startCutProxy(t *testing.T, addr, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReadyzFailsWhilePostgresUnreachable serves GET /readyz with the
// database's Ping as the health check, as paygate serve does, and cuts the
// connection to PostgreSQL under it.
func TestReadyzFailsWhilePostgresUnreachable(t *testing.T) {
	dsn := os.Getenv(storagetest.EnvPostgres)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is empty", storagetest.EnvPostgres)
		}
		t.Skipf("%s is not set", storagetest.EnvPostgres)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := startCutProxy(t, "127.0.0.1:0", target)
	proxyAddr := proxy.ln.Addr().String()
	u.Host = proxyAddr

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, u.String(), storage.Options{})
	if err != nil {
		t.Fatalf("open through proxy: %v", err)
	}
	defer db.Close()

	srv := httptest.NewServer(server.New(server.Config{Health: db.Ping}).Handler())
	defer srv.Close()
	readyz := func() int {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := readyz(); got != http.StatusOK {
		t.Fatalf("database reachable: /readyz = %d, want 200", got)
	}

	proxy.cut()
	if got := readyz(); got != http.StatusServiceUnavailable {
		t.Fatalf("database unreachable: /readyz = %d, want 503", got)
	}
	if err := db.Ping(ctx); paygate.ErrorCode(err) != paygate.EUNAVAILABLE {
		t.Fatalf("Ping while unreachable = %v, want code %s", err, paygate.EUNAVAILABLE)
	}

	// The database comes back on the same address: the pool reconnects.
	startCutProxy(t, proxyAddr, target)
	if got := readyz(); got != http.StatusOK {
		t.Fatalf("database back: /readyz = %d, want 200", got)
	}
}
