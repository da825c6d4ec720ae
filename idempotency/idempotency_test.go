package idempotency_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paygate/paygate"
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
	// lost counts the requests whose first write lost a race (body
	// "race"), for the retry test.
	lost atomic.Int64
	// arrived counts the requests the server has begun to serve.
	arrived atomic.Int64
}

// modes are the middleware's two ways to run a request.
var modes = []struct {
	name   string
	oneTx  bool
	commit string // how the request commits
}{
	{"claim-finish", false, "claim, handler's transactions, stored response"},
	{"one-tx", true, "one transaction"},
}

// things is the table the fixture's handler writes to: a row per request
// that reached its change.
var things = storage.Migrations{Component: "things", FS: fstest.MapFS{
	"0001_things.sql": &fstest.MapFile{Data: []byte(`CREATE TABLE things (call BIGINT NOT NULL, body TEXT NOT NULL);`)},
}}

var opts = storage.Options{Migrations: []storage.Migrations{idempotency.Migrations(), things}}

// setup serves POST /things under the middleware; oneTx runs every request
// as one transaction. The handler writes a row of things (in an Update of
// its own, as the service's handlers do) and answers by the body: "fail"
// a 500 after writing, "panic" a panic after writing, "refuse" a 409
// after writing, "race" a first write that loses a race, anything else a
// 201.
func setup(t *testing.T, db *storage.DB, oneTx bool) *fixture {
	f := &fixture{}
	store := idempotency.New(db)
	if oneTx {
		store.OneTransaction = func(*http.Request) bool { return true }
	}
	keys := server.Keys{Marketplace: "mk", Finance: "fk"}
	srv := server.New(server.Config{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.calls.Add(1)
		if f.release != nil {
			<-f.release
		}
		body, _ := io.ReadAll(r.Body)
		err := db.Update(r.Context(), func(tx *storage.Tx) error {
			if string(body) == "race" && f.lost.Add(1) == 1 {
				return storage.Retryable(errors.New("lost a race"))
			}
			_, err := tx.Exec(r.Context(), `INSERT INTO things (call, body) VALUES (?, ?)`, n, string(body))
			return err
		})
		if err != nil {
			server.WriteError(w, r, err)
			return
		}
		switch string(body) {
		case "fail":
			server.WriteError(w, r, fmt.Errorf("boom"))
		case "panic":
			panic("handler panic")
		case "refuse":
			server.WriteError(w, r, paygate.Errorf(paygate.ECONFLICT, "refused"))
		default:
			server.WriteJSON(w, http.StatusCreated, map[string]any{"call": n, "body": string(body)})
		}
	})
	srv.Router().Handle("/things", keys.Require(server.RoleMarketplace, server.RoleFinance)(store.Middleware(h))).Methods("POST")
	served := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.arrived.Add(1)
		served.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// runModes runs fn on every backend in both modes of the middleware.
func runModes(t *testing.T, fn func(t *testing.T, db *storage.DB, oneTx bool)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) { fn(t, db, m.oneTx) })
		})
	}
}

// rows counts the things written with body.
func rows(t *testing.T, db *storage.DB, body string) int {
	t.Helper()
	ctx := context.Background()
	var n int
	if err := db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &n, `SELECT COUNT(*) FROM things WHERE body = ?`, body)
	}); err != nil {
		t.Fatal(err)
	}
	return n
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
	runModes(t, func(t *testing.T, db *storage.DB, oneTx bool) {
		f := setup(t, db, oneTx)
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
	// the others get the stored response or a 409 "in progress" — in one
	// transaction, always the stored response: they wait for the first's
	// commit (on its claim's row on PostgreSQL, for the one writer on
	// SQLite). One more, with another body, is a 409 either way.
	runModes(t, func(t *testing.T, db *storage.DB, oneTx bool) {
		f := setup(t, db, oneTx)
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
		// One request holds the key, in the handler; then the one with
		// another body comes, and the handler is let go once all have
		// reached the server.
		waitFor(t, "a request in the handler", func() bool { return f.calls.Load() == 1 })
		var other int
		var otherBody string
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, otherBody, _ = post(t, f.url, "mk", "same", "another body")
		}()
		waitFor(t, "every request at the server", func() bool { return f.arrived.Load() == int64(len(statuses)+1) })
		close(f.release)
		wg.Wait()
		if f.calls.Load() != 1 {
			t.Fatalf("handler ran %d times for one key, want 1", f.calls.Load())
		}
		for i, s := range statuses {
			if s != 201 && (s != 409 || oneTx) {
				t.Fatalf("request %d = %d, want 201 (or 409 with a claim of its own)", i, s)
			}
		}
		if other != 409 || (oneTx && !strings.Contains(otherBody, "different request")) {
			t.Fatalf("same key, another body, concurrently = %d %s, want 409", other, otherBody)
		}
		if n := rows(t, db, "body"); n != 1 {
			t.Fatalf("%d changes for one key, want 1", n)
		}
		if status, _, hdr := post(t, f.url, "mk", "same", "body"); status != 201 || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("after the first finished = %d, want a 201 replay", status)
		}
	})
}

func TestCrashedFirstRequestFreesKey(t *testing.T) {
	runModes(t, func(t *testing.T, db *storage.DB, oneTx bool) {
		f := setup(t, db, oneTx)
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

// TestOneTransactionOutcomes: a request run as one transaction commits its
// change, its claim and its response in one commit; a refusal (4xx) is
// stored and replayed with its change undone; a 5xx or a panic leaves
// nothing, and the key free; a lost race in the handler's transaction reruns
// the whole request, which reads its body again.
func TestOneTransactionOutcomes(t *testing.T) {
	storagetest.Run(t, opts, func(t *testing.T, db *storage.DB) {
		f := setup(t, db, true)
		before := db.Stats()
		if status, body, _ := post(t, f.url, "mk", "ok", "ok"); status != 201 {
			t.Fatalf("POST = %d %s, want 201", status, body)
		}
		after := db.Stats()
		if u, c := after.Updates-before.Updates, after.Commits-before.Commits; u != 1 || c != 1 {
			t.Errorf("one request: %d updates in %d commits, want 1 in 1", u, c)
		}
		if n := rows(t, db, "ok"); n != 1 {
			t.Errorf("%d changes of a 201, want 1", n)
		}

		status, first, _ := post(t, f.url, "mk", "refuse", "refuse")
		again, second, hdr := post(t, f.url, "mk", "refuse", "refuse")
		if status != 409 || again != 409 || second != first || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("refusal then its replay = %d %s, %d %s (replayed %q)", status, first, again, second, hdr.Get("Idempotent-Replayed"))
		}
		if n := rows(t, db, "refuse"); n != 0 {
			t.Errorf("a 409 kept %d changes its handler made before refusing, want 0", n)
		}

		for _, body := range []string{"fail", "panic"} {
			calls := f.calls.Load()
			for range 2 {
				if status, _, _ := post(t, f.url, "mk", body, body); status != 500 {
					t.Fatalf("%s = %d, want 500", body, status)
				}
			}
			if n := f.calls.Load() - calls; n != 2 {
				t.Errorf("%s twice ran the handler %d times, want 2 (a 5xx is not stored)", body, n)
			}
			if n := rows(t, db, body); n != 0 {
				t.Errorf("%s kept %d changes, want 0", body, n)
			}
		}

		calls := f.calls.Load()
		status, body, _ := post(t, f.url, "mk", "race", "race")
		if status != 201 || !strings.Contains(body, `"body":"race"`) {
			t.Fatalf("a request whose write lost a race = %d %s, want 201 from its rerun", status, body)
		}
		if n := f.calls.Load() - calls; n != 2 {
			t.Errorf("the handler ran %d times, want 2 (the rerun)", n)
		}
		if n := rows(t, db, "race"); n != 1 {
			t.Errorf("%d changes of the rerun request, want 1", n)
		}
	})
}
