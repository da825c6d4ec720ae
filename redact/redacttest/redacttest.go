// Package redacttest helps tests show that no secret or personal data
// reaches paygate's logs: it reads the shared list of sensitive test values
// (testdata/sensitive.txt), and keeps a copy of the logs of the paygate
// processes tests start in the directory named by PAYGATE_TEST_LOG_DIR, for
// scripts/test.sh to grep once every test has run.
package redacttest

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EnvLogDir names the environment variable with the directory that
// receives a copy of every started server's log. Unset: no copy is kept.
const EnvLogDir = "PAYGATE_TEST_LOG_DIR"

// SensitiveFile is the list of sensitive values, relative to the module
// root: one value a line; blank lines and lines starting with # are
// skipped.
const SensitiveFile = "testdata/sensitive.txt"

// Sensitive returns the values of SensitiveFile.
func Sensitive(t testing.TB) []string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("redacttest: %v", err)
	}
	f, err := os.Open(filepath.Join(root, SensitiveFile))
	if err != nil {
		t.Fatalf("redacttest: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("redacttest: read %s: %v", SensitiveFile, err)
	}
	if len(out) == 0 {
		t.Fatalf("redacttest: %s lists nothing", SensitiveFile)
	}
	return out
}

// Found returns the values of sensitive that occur in text.
func Found(text string, sensitive []string) []string {
	var hits []string
	for _, s := range sensitive {
		if strings.Contains(text, s) {
			hits = append(hits, s)
		}
	}
	return hits
}

// Tee returns a reader of r (a started server's stderr) that also appends
// what it reads to a new file in $PAYGATE_TEST_LOG_DIR named after the
// test, closed when the test ends. Without the variable it returns r.
// Call it before registering the cleanup that stops the process, so the
// file is closed after the process is stopped.
func Tee(t testing.TB, r io.Reader) io.Reader {
	t.Helper()
	dir := os.Getenv(EnvLogDir)
	if dir == "" {
		return r
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("redacttest: %s: %v", EnvLogDir, err)
	}
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, t.Name())
	f, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		t.Fatalf("redacttest: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return io.TeeReader(r, f)
}

// moduleRoot returns the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
