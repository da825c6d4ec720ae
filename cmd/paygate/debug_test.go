package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProfilerOnItsOwnListener: PAYGATE_DEBUG_ADDR serves pprof on a
// listener of its own; the API's port does not serve it.
func TestProfilerOnItsOwnListener(t *testing.T) {
	t.Setenv("PAYGATE_DEBUG_ADDR", "127.0.0.1:0")
	p := start(t, "--db", t.TempDir()+"/paygate.db")
	var debugAddr string
	timeout := time.After(10 * time.Second)
	for debugAddr == "" {
		select {
		case line := <-p.lines:
			if line["message"] == "profiler listening" {
				debugAddr = line["addr"].(string)
			}
		case <-timeout:
			t.Fatal("no \"profiler listening\" log line")
		}
	}
	get := func(url string) (int, []byte) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if status, body := get("http://" + debugAddr + "/debug/pprof/profile?seconds=1"); status != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile = %d, %d bytes; want 200 and a gzipped profile", status, len(body))
	}
	if status, _ := get("http://" + debugAddr + "/debug/pprof/heap"); status != http.StatusOK {
		t.Fatalf("heap profile = %d, want 200", status)
	}
	if status, _ := get("http://" + p.addr + "/debug/pprof/"); status != http.StatusNotFound {
		t.Fatalf("the API port serves /debug/pprof/ with %d, want 404", status)
	}
	p.stop(t)
}

// TestCPUProfileOfTheWholeRun: PAYGATE_CPU_PROFILE profiles serve from
// start to a clean stop and writes a gzipped profile whose mappings name
// the binary.
func TestCPUProfileOfTheWholeRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	p := startEnv(t, []string{"PAYGATE_CPU_PROFILE=" + path}, "--db", t.TempDir()+"/paygate.db")
	for range 50 {
		if status, _ := p.get(t, "/healthz"); status != http.StatusOK {
			t.Fatalf("GET /healthz = %d", status)
		}
	}
	p.stop(t)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile of %d bytes is not gzipped", len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("CPU profile: %v", err)
	}
	if !bytes.Contains(raw, []byte(binary)) {
		t.Fatalf("CPU profile of %d bytes does not name the binary %s", len(raw), binary)
	}
}
