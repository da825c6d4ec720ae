package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paygate/paygate/storage/storagetest"
)

// signedReceiver is a marketplace's receiver on loopback: it verifies each
// request with the Standard Webhooks library and keeps the verified bodies.
type signedReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	verified map[string][]byte // by webhook-id
	refused  []string
}

func newSignedReceiver(t *testing.T, secret string) *signedReceiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &signedReceiver{verified: map[string][]byte{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := wh.Verify(body, r.Header); err != nil {
			rc.refused = append(rc.refused, err.Error())
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		rc.verified[r.Header.Get("webhook-id")] = body
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// TestEventsTail runs "paygate events tail --forward-to" against a server:
// it prints, as JSON lines, exactly the events of the listed types written
// after it started, posts each to a receiver that verifies its Standard
// Webhooks signature, and stops cleanly on SIGINT.
func TestEventsTail(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			before := paidOrder(t, ta, 1) // its events are older than the tail

			const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			rc := newSignedReceiver(t, secret)
			cmd := exec.Command(binary, "events", "tail", "--url", ta.url, "--forward-to", rc.URL, "--secret", secret,
				"--interval", "100ms", "--type", "payment_order.paid,sales_order.paid")
			cmd.Env = append(os.Environ(), "PAYGATE_API_KEY="+testAPIKey, "PAYGATE_API_KEY_FILE=", "PAYGATE_FINANCE_KEY=", "PAYGATE_URL=")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			lines := make(chan []byte, 100)
			go func() {
				sc := bufio.NewScanner(stdout)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					lines <- bytes.Clone(sc.Bytes())
				}
				close(lines)
			}()
			waitFor(t, func() bool { return strings.Contains(stderr.String(), "following ") }, "tail to start: "+stderr.String())

			po := paidOrder(t, ta, 2)
			// Not among the types: the tail skips it.
			ta.mustAct(t, po.Items[0].Number, "deliver", map[string]any{"user_id": "S1"}, "waiting_confirmation")
			last := paidOrder(t, ta, 1)

			want := []string{
				"payment_order.paid " + po.Number,
				"sales_order.paid " + po.Items[0].Number,
				"sales_order.paid " + po.Items[1].Number,
				"payment_order.paid " + last.Number,
				"sales_order.paid " + last.Items[0].Number,
			}
			var got []string
			var ids []string
			printed := map[string][]byte{}
			deadline := time.After(20 * time.Second)
			for len(got) < len(want) {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("events tail ended early; printed %q; stderr:\n%s", got, stderr.String())
					}
					var ev eventJSON
					if err := json.Unmarshal(line, &ev); err != nil || ev.ID == "" {
						t.Fatalf("events tail printed %q, not an event as a JSON line (%v)", line, err)
					}
					got = append(got, ev.Type+" "+ev.Resource)
					ids = append(ids, ev.ID)
					printed[ev.ID] = line
				case <-deadline:
					t.Fatalf("events tail printed %q, want %q; stderr:\n%s", got, want, stderr.String())
				}
			}
			// The types arrive in order per resource; across resources, in
			// commit order (sales orders are paid with their payment order).
			gotSet := strings.Join(slices.Sorted(slices.Values(got)), "\n")
			if wantSet := strings.Join(slices.Sorted(slices.Values(want)), "\n"); gotSet != wantSet {
				t.Fatalf("events tail printed\n%s\nwant\n%s", gotSet, wantSet)
			}
			for _, g := range got {
				if strings.Contains(g, before.Number) || strings.Contains(g, before.Items[0].Number) {
					t.Errorf("events tail printed %s, written before it started", g)
				}
			}
			// Each printed event reached the receiver, its signature
			// verified, with the same body.
			waitFor(t, func() bool {
				rc.mu.Lock()
				defer rc.mu.Unlock()
				return len(rc.verified) >= len(ids) || len(rc.refused) > 0
			}, "the receiver to verify every forwarded event")
			rc.mu.Lock()
			if len(rc.refused) > 0 {
				t.Errorf("the receiver refused forwarded events: %q", rc.refused)
			}
			for _, id := range ids {
				if body, ok := rc.verified[id]; !ok {
					t.Errorf("event %s was printed but not forwarded with a valid signature", id)
				} else if !bytes.Equal(body, printed[id]) {
					t.Errorf("forwarded %s as %s, printed %s", id, body, printed[id])
				}
			}
			rc.mu.Unlock()

			// Ctrl-C stops it with exit status 0, printing nothing more.
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			for line := range lines {
				t.Errorf("events tail printed %s after the last event", line)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("events tail after SIGINT: %v; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("events tail did not stop within 5s of SIGINT; stderr:\n%s", stderr.String())
			}
			if s := stderr.String(); strings.Contains(s, testAPIKey) {
				t.Errorf("events tail wrote its API key to stderr:\n%s", s)
			}
		})
	}
}

// TestEventsTailUsage: events tail refuses to start without a key, with a
// bad URL or a bad secret, and with a key the server refuses.
func TestEventsTailUsage(t *testing.T) {
	ta := startApp(t, storagetest.Backends(t)[0])
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"no key", []string{"--url", ta.url}, env(), "set PAYGATE_API_KEY"},
		{"bad url", []string{"--url", "ftp://x"}, env("PAYGATE_API_KEY", testAPIKey), "--url"},
		{"bad secret", []string{"--url", ta.url, "--forward-to", "http://127.0.0.1:1/", "--secret", "nope"}, env("PAYGATE_API_KEY", testAPIKey), "--secret"},
		{"secret alone", []string{"--url", ta.url, "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, env("PAYGATE_API_KEY", testAPIKey), "--forward-to"},
		{"refused key", []string{"--url", ta.url}, env("PAYGATE_API_KEY", "not-a-key"), "401"},
		{"unknown type", []string{"--url", ta.url, "--type", "order.shipped"}, env("PAYGATE_API_KEY", testAPIKey), "unknown event type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			code := run(ctx, append([]string{"events", "tail"}, c.args...), c.getenv, &out, &errb)
			if code != exitError || !strings.Contains(errb.String(), c.want) {
				t.Errorf("events tail %q = %d, stderr %q; want %d mentioning %q", c.args, code, errb.String(), exitError, c.want)
			}
			if out.Len() > 0 {
				t.Errorf("events tail %q printed %q", c.args, out.String())
			}
		})
	}
}
