package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/storage/storagetest"
)

// TestReceiverExample runs the receiver of docs/events.md (docs/examples/receiver)
// as the marketplace would: registered as an endpoint, it verifies the
// signed deliveries of a paid order with the Standard Webhooks library and
// prints each sales_order.paid. docs/events.md shows the same program.
func TestReceiverExample(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "docs", "examples", "receiver", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	// docs/events.md shows the program from its package clause on, as an
	// indented code block.
	_, body, _ := strings.Cut(string(src), "package main\n")
	var shown strings.Builder
	for _, l := range strings.Split("package main\n"+body, "\n") {
		if l != "" {
			l = "    " + l
		}
		shown.WriteString(l + "\n")
	}
	if !strings.Contains(string(page), strings.TrimSuffix(shown.String(), "\n")) {
		t.Errorf("docs/events.md does not show docs/examples/receiver/main.go as it is (from package main on, indented 4 spaces)")
	}

	bin := filepath.Join(t.TempDir(), "receiver")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "docs", "examples", "receiver")).CombinedOutput(); err != nil {
		t.Fatalf("go build the receiver: %v\n%s", err, out)
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ta := startApp(t, b)
			// A free loopback port for the receiver, registered before it
			// starts: the secret comes with the registration.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			var e struct {
				ID     string `json:"id"`
				Secret string `json:"secret"`
			}
			if s := ta.call(t, "POST", "/v1/webhook-endpoints", map[string]any{"url": "http://" + addr + "/webhooks", "events": []string{"sales_order.*"}}, &e); s != 201 || !strings.HasPrefix(e.Secret, "whsec_") {
				t.Fatalf("register the receiver = %d %+v", s, e)
			}
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+e.Secret, "ADDR="+addr)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			})
			waitFor(t, func() bool {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err == nil
			}, "the receiver to listen on "+addr+": "+stderr.String())
			lines := make(chan string, 10)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()

			po := paidOrder(t, ta, 2)
			want := map[string]bool{}
			for _, it := range po.Items {
				want["sales_order.paid "+it.Number] = true
			}
			deadline := time.After(20 * time.Second)
			for len(want) > 0 {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("the receiver stopped; stderr:\n%s", stderr.String())
					}
					f := strings.Fields(l)
					if len(f) != 3 || !want[f[0]+" "+f[1]] || !strings.HasPrefix(f[2], "evt_") {
						t.Fatalf("the receiver printed %q, want one of %v with its event id", l, want)
					}
					delete(want, f[0]+" "+f[1])
				case <-deadline:
					t.Fatalf("the receiver did not print %v; stderr:\n%s", want, stderr.String())
				}
			}
			// A delivery it cannot verify is refused, and printed by no one.
			forged := `{"id":"evt_000000000000000000000000","type":"sales_order.paid","resource":"K0000000"}`
			resp, err := http.Post("http://"+addr+"/webhooks", "application/json", strings.NewReader(forged))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("an unsigned delivery = %d, want 400", resp.StatusCode)
			}
			select {
			case l := <-lines:
				t.Errorf("the receiver printed %q for an unsigned delivery", l)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}
