package idempotency_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

type fixture struct {
	url   string
	calls atomic.Int64
	// release, when set, holds the handler until closed.
	release chan struct{}
}

func setup(t *testing.T, db *storage.DB) *fixture {
	f := &fixture{}
	store := idempotency.New(db)
	keys := server.Keys{Marketplace: "mk", Finance: "fk"}
	srv := server.New(server.Config{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.calls.Add(1)
		if f.release != nil {
			<-f.release
		}
		body, _ := io.ReadAll(r.Body)
		switch string(body) {
		case "fail":
			server.WriteError(w, r, fmt.Errorf("boom"))
		case "panic":
			panic("handler panic")
		default:
			server.WriteJSON(w, http.StatusCreated, map[string]any{"call": n, "body": string(body)})
		}
	})
	srv.Router().Handle("/things", keys.Require(server.RoleMarketplace, server.RoleFinance)(store.Middleware(h))).Methods("POST")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func post(t *testing.T, url, apiKey, idemKey, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/things", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if idemKey != "" {
		req.Header.Set(idempotency.Header, idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestReplayAndConflict(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{idempotency.Migrations()}}, func(t *testing.T, db *storage.DB) {
		f := setup(t, db)
		status, first, _ := post(t, f.url, "mk", "k1", "hello")
		if status != 201 {
			t.Fatalf("first POST = %d %s", status, first)
		}
		status, again, hdr := post(t, f.url, "mk", "k1", "hello")
		if status != 201 || again != first || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay = %d %s (replayed %q), want 201 %s", status, again, hdr.Get("Idempotent-Replayed"), first)
		}
		if f.calls.Load() != 1 {
			t.Fatalf("handler ran %d times, want 1", f.calls.Load())
		}
		if status, body, _ := post(t, f.url, "mk", "k1", "other"); status != 409 || !strings.Contains(body, "different request") {
			t.Fatalf("same key, other body = %d %s, want 409", status, body)
		}
		// Keys are per role: the finance key may use k1 for its own request.
		if status, _, _ := post(t, f.url, "fk", "k1", "other"); status != 201 {
			t.Fatalf("finance with the marketplace's key = %d, want 201", status)
		}
		if status, body, _ := post(t, f.url, "mk", "", "x"); status != 400 || !strings.Contains(body, "Idempotency-Key") {
			t.Fatalf("no key = %d %s, want 400", status, body)
		}
		if status, _, _ := post(t, f.url, "mk", strings.Repeat("k", 256), "x"); status != 400 {
			t.Fatalf("256-char key = %d, want 400", status)
		}
		// A 5xx is not stored: the same request may be retried.
		if status, _, _ := post(t, f.url, "mk", "k2", "fail"); status != 500 {
			t.Fatalf("failing handler = %d, want 500", status)
		}
		before := f.calls.Load()
		post(t, f.url, "mk", "k2", "fail")
		if f.calls.Load() != before+1 {
			t.Fatal("a request that failed with 500 was replayed instead of retried")
		}
		if status, _, _ := post(t, f.url, "mk", "k3", "panic"); status != 500 {
			t.Fatalf("panicking handler = %d, want 500", status)
		}
		before = f.calls.Load()
		post(t, f.url, "mk", "k3", "panic")
		if f.calls.Load() != before+1 {
			t.Fatal("a request that panicked was replayed instead of retried")
		}
	})
}

func TestConcurrentSameKey(t *testing.T) {
	// 50 concurrent requests with one key and body: the handler runs once;
	// the others get the stored response or a 409 "in progress".
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{idempotency.Migrations()}}, func(t *testing.T, db *storage.DB) {
		f := setup(t, db)
		f.release = make(chan struct{})
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _, _ = post(t, f.url, "mk", "same", "body")
			}()
		}
		time.Sleep(200 * time.Millisecond)
		close(f.release)
		wg.Wait()
		if f.calls.Load() != 1 {
			t.Fatalf("handler ran %d times for one key, want 1", f.calls.Load())
		}
		for i, s := range statuses {
			if s != 201 && s != 409 {
				t.Fatalf("request %d = %d, want 201 or 409", i, s)
			}
		}
		if status, _, hdr := post(t, f.url, "mk", "same", "body"); status != 201 || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("after the first finished = %d, want a 201 replay", status)
		}
	})
}

func TestCrashedFirstRequestFreesKey(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{idempotency.Migrations()}}, func(t *testing.T, db *storage.DB) {
		f := setup(t, db)
		ctx := context.Background()
		// A claim left by a process that died: locked until the past, for
		// exactly this request.
		sum := sha256.Sum256([]byte("POST /things\nbody"))
		err := db.Update(ctx, func(tx *storage.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO idempotency_requests (role, key, request_hash, created_at, locked_until)
				VALUES ('marketplace', 'dead', ?, ?, ?)`, hex.EncodeToString(sum[:]), tx.Now(), tx.Now().Add(-time.Second))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := post(t, f.url, "mk", "dead", "other"); status != 409 {
			t.Fatalf("another request on a dead claim = %d, want 409", status)
		}
		if status, _, _ := post(t, f.url, "mk", "dead", "body"); status != 201 || f.calls.Load() != 1 {
			t.Fatalf("the same request on a dead claim = %d after %d calls, want it run once (201)", status, f.calls.Load())
		}
		if status, _, hdr := post(t, f.url, "mk", "dead", "body"); status != 201 || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("then = %d, want a replay", status)
		}
	})
}
