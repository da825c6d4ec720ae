package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/redact/redacttest"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// binary is the paygate binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paygate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "paygate")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running paygate serve.
type process struct {
	cmd   *exec.Cmd
	addr  string
	lines chan map[string]any // the JSON log lines after "listening"
	done  chan error
	log   lockedBuffer // all of its stderr
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs "paygate serve" on a free port and waits until it listens.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with env ("NAME=value") added to the environment.
func startEnv(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, env, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
}

// startCommand runs the paygate binary with args and env added to the
// environment, and waits until its log says it is listening.
func startCommand(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "PAYGATE_ADDR=", "PAYGATE_DB="), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	listening := make(chan string, 1)
	logs := io.TeeReader(redacttest.Tee(t, stderr), &p.log)
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			if line["message"] == "listening" {
				listening <- line["addr"].(string)
				continue
			}
			select {
			case p.lines <- line:
			default:
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case p.addr = <-listening:
	case err := <-p.done:
		t.Fatalf("paygate %s exited before listening: %v", args[0], err)
	case <-time.After(30 * time.Second):
		t.Fatalf("paygate %s did not listen within 30s", args[0])
	}
	return p
}

func (p *process) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", path, err)
	}
	return resp.StatusCode, body
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) []map[string]any {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for line := range p.lines {
		lines = append(lines, line)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("paygate serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("paygate serve did not stop within 15s of SIGTERM")
	}
	return lines
}

func TestServe(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			p := start(t, "--db", b.DSN(t))
			if status, body := p.get(t, "/healthz"); status != 200 || body["status"] != "ok" {
				t.Fatalf("GET /healthz = %d %v, want 200 ok", status, body)
			}
			status, body := p.get(t, "/v1/nothing-here")
			errBody, _ := body["error"].(map[string]any)
			if status != 404 || errBody["code"] != paygate.ENOTFOUND {
				t.Fatalf("GET /v1/nothing-here = %d %v, want a 404 JSON error", status, body)
			}
			lines := p.stop(t)
			var access map[string]any
			for _, l := range lines {
				if l["path"] == "/healthz" {
					access = l
				}
			}
			if access == nil {
				t.Fatalf("no access log line for /healthz in %v", lines)
			}
			for _, field := range []string{"request_id", "http_method", "path", "http_status", "duration_ms", "time", "level"} {
				if _, ok := access[field]; !ok {
					t.Errorf("access log line %v lacks %q", access, field)
				}
			}
			if last := lines[len(lines)-1]; last["message"] != "stopped" {
				t.Errorf("last log line = %v, want stopped", last)
			}
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--log-level", "loud"},
		{"serve", "extra"},
		{"serve", "--db", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"},
		{"frobnicate"},
		{"ledger"},
		{},
	} {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError {
			t.Errorf("paygate %v = %v, want exit %d\n%s", args, err, exitError, out)
		}
	}
}

func TestLedgerVerify(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			db, err := storage.Open(ctx, dsn, storage.Options{Migrations: migrations()})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			l := ledger.New(db)
			err = db.Update(ctx, func(tx *storage.Tx) error {
				_, err := l.Post(ctx, tx, ledger.Transfer("payment:P10000001:settled", "", ledger.ProviderClearing("stripe"),
					ledger.Escrow("K1000001"), paygate.New(1250, paygate.EUR)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			out, code := runVerify(t, dsn)
			if code != exitOK || !strings.Contains(out, "ledger verify: OK") || !strings.Contains(out, "1 transactions, 2 entries") {
				t.Fatalf("verify of a clean ledger = exit %d\n%s", code, out)
			}
			// Corrupt a cached balance behind the ledger's back.
			err = db.Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE ledger_accounts SET credits = credits + 100 WHERE name = 'escrow:K1000001'`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			out, code = runVerify(t, dsn)
			if code != exitDrift || !strings.Contains(out, "DRIFT FOUND") || !strings.Contains(out, "escrow:K1000001 EUR") {
				t.Fatalf("verify of a corrupted ledger = exit %d, want %d naming the account\n%s", code, exitDrift, out)
			}
		})
	}
}

func runVerify(t *testing.T, dsn string) (string, int) {
	t.Helper()
	return runCLI(t, "ledger", "verify", "--db", dsn)
}

// runCLI runs the paygate binary with args (PAYGATE_DB cleared) and returns
// its stdout and stderr together, and its exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "PAYGATE_DB=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestCommandsRefuseMissingDatabase: every command but serve, run on a
// database that does not exist (a SQLite path in the wrong folder, a
// PostgreSQL schema paygate never made), exits 2 naming it and creates
// nothing; --create makes one; replay --id of no stored event exits 1.
func TestCommandsRefuseMissingDatabase(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(report, []byte("id,type,amount\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			name := dsn
			if b.Name == "postgres" {
				name = "postgres://" // the URL, masked; its schema is in the query
			}
			commands := [][]string{
				{"ledger", "verify"},
				{"recon", "--provider", "stripe", "--report", report},
				{"sweep"},
				{"webhooks", "replay", "--id", "1"},
				{"keys", "list"},
			}
			for _, args := range commands {
				out, code := runCLI(t, append(args, "--db", dsn)...)
				if code != 2 || !strings.Contains(out, "does not exist or has no paygate schema") || !strings.Contains(out, name) || !strings.Contains(out, "--create") {
					t.Errorf("%v on a missing database = exit %d, %q; want exit 2 naming the database and --create", args, code, out)
				}
			}
			if b.Name == "sqlite" {
				if _, err := os.Stat(dsn); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a refused command left a file at %s: %v", dsn, err)
				}
			} else {
				out, code := runCLI(t, "ledger", "verify", "--db", dsn)
				if code != 2 {
					t.Fatalf("second verify on the untouched schema = exit %d (%s): an earlier command created tables", code, out)
				}
			}
			if out, code := runCLI(t, "ledger", "verify", "--create", "--db", dsn); code != 0 {
				t.Fatalf("verify --create = exit %d: %s", code, out)
			}
			if out, code := runCLI(t, "ledger", "verify", "--db", dsn); code != 0 {
				t.Fatalf("verify on the created database = exit %d: %s", code, out)
			}
			out, code := runCLI(t, "webhooks", "replay", "--id", "999999", "--db", dsn)
			if code != 1 || !strings.Contains(out, "no stored event matches") {
				t.Fatalf("replay --id 999999 = exit %d, %q; want exit 1 saying nothing matched", code, out)
			}
		})
	}
}
